/* The shared UDP socket on loopback: binding (IPv6 beside IPv4 on one
 * port), batched reading and the consumers it feeds, truncation, sends,
 * corked sends leaving together, and the counters. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "net/udp.h"

static uv_loop_t loop;
static struct sh_udp *u;
static int peer = -1;               /* a plain socket on 127.0.0.1 */
static struct sockaddr_storage uaddr, paddr;

static struct {
  int dht, tracker;
  size_t last_n;
  struct sockaddr_storage from;
} got;

static void on_dht(void *ud, const uint8_t *p, size_t n, const struct sockaddr *from)
{
  got.dht++;
  got.last_n = n;
  memcpy(&got.from, from, sizeof(struct sockaddr_in));
}

static void on_trk(void *ud, const uint8_t *p, size_t n, const struct sockaddr *from)
{
  got.tracker++;
}

static void setup(void)
{
  memset(&got, 0, sizeof got);
  cr_assert_eq(uv_loop_init(&loop), 0);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  cr_assert_eq(sh_udp_open(&loop, (struct sockaddr *)&a, &u), 0);
  sh_udp_local(u, &uaddr);
  cr_assert_neq(((struct sockaddr_in *)&uaddr)->sin_port, 0);
  cr_expect_eq(sh_udp_family(u), AF_INET);
  peer = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  cr_assert_eq(bind(peer, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t len = sizeof paddr;
  getsockname(peer, (struct sockaddr *)&paddr, &len);
  sh_udp_set_consumer(u, SH_UDP_DHT, on_dht, NULL);
}

static int closed;
static void on_closed(void *ud) { closed++; }

static void teardown(void)
{
  sh_udp_close(u, on_closed, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_expect_eq(closed, 1);
  cr_expect_eq(uv_loop_close(&loop), 0, "handles left open");
  close(peer);
  closed = 0;
}

static void peer_send(const void *p, size_t n)
{
  cr_assert_eq(sendto(peer, p, n, 0, (struct sockaddr *)&uaddr, sizeof(struct sockaddr_in)),
               (ssize_t)n);
}

/* Runs the loop until *v reaches want (at most 2 s). */
static void run_until(int *v, int want)
{
  uint64_t end = uv_hrtime() + 2000000000ull;
  while (*v < want && uv_hrtime() < end)
    uv_run(&loop, UV_RUN_NOWAIT);
  cr_assert_geq(*v, want, "only %d of %d", *v, want);
}

static int peer_count(void)
{
  char b[2048];
  int n = 0;
  while (recv(peer, b, sizeof b, MSG_DONTWAIT) >= 0)
    n++;
  return n;
}

static const char PING[] = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";

Test(udp_socket, delivers_by_shape_and_counts, .init = setup, .fini = teardown)
{
  peer_send(PING, sizeof PING - 1);
  peer_send("\x41\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20); /* uTP SYN: no consumer */
  peer_send("hello", 5);
  peer_send("\0\0\0\0abcd\0\0\0\0\0\0\0\1", 16); /* connect reply nobody waits for */
  cr_assert_eq(sh_udp_expect(u, (struct sockaddr *)&paddr, 0x61626365, on_trk, NULL), 0);
  peer_send("\0\0\0\0abce\0\0\0\0\0\0\0\1", 16); /* one somebody waits for */
  run_until(&got.tracker, 1);
  cr_expect_eq(got.dht, 1);
  cr_expect_eq(got.last_n, sizeof PING - 1);
  cr_expect_eq(((struct sockaddr_in *)&got.from)->sin_port,
               ((struct sockaddr_in *)&paddr)->sin_port, "the sender's address");
  struct sh_udp_stats st;
  sh_udp_stats(u, &st);
  cr_expect_eq(st.in[SH_UDP_DHT], 1);
  cr_expect_eq(st.in[SH_UDP_TRACKER], 1);
  cr_expect_eq(st.dropped_in, 2, "uTP without a consumer, the stray reply");
  cr_expect_eq(st.unclassified, 1);
}

Test(udp_socket, reads_many_batches, .init = setup, .fini = teardown)
{
  /* more than READS_PER_WAKE * SH_UDP_RECV_BATCH (128), all queued before
   * the loop runs: later turns read the rest */
  int n = 200;
  int rcvbuf = 1 << 20;
  setsockopt(peer, SOL_SOCKET, SO_SNDBUF, &rcvbuf, sizeof rcvbuf);
  for (int i = 0; i < n; i++)
    peer_send(PING, sizeof PING - 1);
  run_until(&got.dht, n);
  struct sh_udp_stats st;
  sh_udp_stats(u, &st);
  cr_expect_eq(st.in[SH_UDP_DHT], (uint64_t)n);
}

Test(udp_socket, longer_than_a_slot_is_truncated, .init = setup, .fini = teardown)
{
  static char big[SH_UDP_RECV_SLOT + 100];
  memset(big, 'x', sizeof big);
  big[0] = 'd';
  big[sizeof big - 1] = 'e';
  peer_send(big, sizeof big);
  peer_send(PING, sizeof PING - 1);
  run_until(&got.dht, 1);
  struct sh_udp_stats st;
  sh_udp_stats(u, &st);
  cr_expect_eq(st.truncated, 1);
  cr_expect_eq(got.last_n, sizeof PING - 1, "the big one was not delivered");
}

Test(udp_socket, sends_at_once_unless_corked, .init = setup, .fini = teardown)
{
  const struct sockaddr *to = (const struct sockaddr *)&paddr;
  cr_expect_eq(sh_udp_send(u, SH_UDP_DHT, PING, sizeof PING - 1, to), 0);
  cr_expect_eq(peer_count(), 1);
  sh_udp_cork(u);
  sh_udp_cork(u);
  for (int i = 0; i < 40; i++)
    cr_expect_eq(sh_udp_send(u, SH_UDP_TRACKER, "abcdefgh", 8, to), 0);
  /* the 33rd flushed a full batch of 32; 8 still wait */
  cr_expect_eq(peer_count(), 32);
  sh_udp_uncork(u);
  cr_expect_eq(peer_count(), 0, "still corked once");
  sh_udp_uncork(u);
  cr_expect_eq(peer_count(), 8);
  struct sh_udp_stats st;
  sh_udp_stats(u, &st);
  cr_expect_eq(st.out[SH_UDP_DHT], 1);
  cr_expect_eq(st.out[SH_UDP_TRACKER], 40);
  cr_expect_eq(st.dropped_out, 0);
  /* the wrong family is refused and counted */
  struct sockaddr_in6 v6;
  uv_ip6_addr("::1", 9, &v6);
  cr_expect_eq(sh_udp_send(u, SH_UDP_DHT, "x", 1, (struct sockaddr *)&v6), -EAFNOSUPPORT);
  sh_udp_stats(u, &st);
  cr_expect_eq(st.dropped_out, 1);
}

/* Sends never block: each is sent or dropped, and counted either way (on
 * loopback the receiver's full buffer drops silently, so most count as
 * sent). */
Test(udp_socket, every_send_is_counted_once, .init = setup, .fini = teardown)
{
  /* a peer that never reads, with a tiny buffer */
  int small = 1024;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  bind(fd, (struct sockaddr *)&a, sizeof a);
  struct sockaddr_storage to;
  socklen_t len = sizeof to;
  getsockname(fd, (struct sockaddr *)&to, &len);
  static char blob[1400];
  int refused = 0;
  for (int i = 0; i < 5000; i++)
    refused += sh_udp_send(u, SH_UDP_UTP, blob, sizeof blob, (struct sockaddr *)&to) < 0;
  struct sh_udp_stats st;
  sh_udp_stats(u, &st);
  cr_expect_eq(st.out[SH_UDP_UTP] + st.dropped_out, 5000);
  cr_expect_eq(st.dropped_out, (uint64_t)refused);
  close(fd);
}

/* ---- bulk: GSO sends, GRO reads, the batch-end hook ---- */

static struct {
  int n, batches;
  size_t bytes, first_len;
  int bad;
} bulk;

static void on_utp(void *ud, const uint8_t *p, size_t n, const struct sockaddr *from)
{
  /* each datagram: a uTP DATA header, then its index and a fill */
  if (!bulk.n)
    bulk.first_len = n;
  if (n < 22 || p[0] != 0x01 || p[20] != (uint8_t)bulk.n)
    bulk.bad++;
  bulk.n++;
  bulk.bytes += n;
}

static void on_utp_batch(void *ud) { bulk.batches++; }

/* 40 datagrams of 1400 bytes and a short last one in one buffer */
static size_t make_segments(uint8_t *buf, size_t seg, int count, size_t last)
{
  size_t off = 0;
  for (int i = 0; i < count; i++) {
    size_t n = i == count - 1 ? last : seg;
    memset(buf + off, 0, 20);
    buf[off] = 0x01; /* DATA, version 1 */
    memset(buf + off + 20, i, n - 20);
    off += n;
  }
  return off;
}

Test(udp_socket, send_many_arrives_as_datagrams, .init = setup, .fini = teardown)
{
  static uint8_t buf[65000];
  make_segments(buf, 1400, 41, 300);
  struct iovec pkt[41];
  for (int i = 0; i < 41; i++)
    pkt[i] = (struct iovec){buf + 1400 * i, i == 40 ? 300 : 1400};
  cr_assert_eq(sh_udp_send_many(u, SH_UDP_UTP, pkt, 41, (struct sockaddr *)&paddr), 0);
  uint8_t b[2048];
  int n = 0;
  ssize_t r;
  while ((r = recv(peer, b, sizeof b, MSG_DONTWAIT)) >= 0) {
    cr_expect_eq(r, n == 40 ? 300 : 1400, "datagram %d: %zd bytes", n, r);
    cr_expect_eq(b[20], (uint8_t)n);
    n++;
  }
  cr_expect_eq(n, 41);
  struct sh_udp_stats st;
  sh_udp_stats(u, &st);
  cr_expect_eq(st.out[SH_UDP_UTP], 41);
}

Test(udp_socket, gro_reads_are_split_for_consumers, .init = setup, .fini = teardown)
{
  memset(&bulk, 0, sizeof bulk);
  cr_assert_eq(sh_udp_set_gro(u), 0);
  cr_assert_eq(sh_udp_set_dont_fragment(u), 0);
  sh_udp_set_consumer(u, SH_UDP_UTP, on_utp, NULL);
  sh_udp_set_batch_end(u, SH_UDP_UTP, on_utp_batch, NULL);
  /* the peer sends one GSO buffer: with GRO it arrives as one read */
  static uint8_t buf[65000];
  size_t len = make_segments(buf, 1400, 41, 300);
  char ctl[CMSG_SPACE(sizeof(uint16_t))] = {0};
  struct iovec iov = {buf, len};
  struct msghdr mh = {.msg_name = &uaddr, .msg_namelen = sizeof(struct sockaddr_in),
                      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                      .msg_controllen = sizeof ctl};
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = 103; /* UDP_SEGMENT */
  c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  uint16_t seg = 1400;
  memcpy(CMSG_DATA(c), &seg, sizeof seg);
  cr_assert_eq(sendmsg(peer, &mh, 0), (ssize_t)len);
  run_until(&bulk.n, 41);
  cr_expect_eq(bulk.bad, 0);
  cr_expect_eq(bulk.first_len, 1400);
  cr_expect_eq(bulk.bytes, len);
  cr_expect_geq(bulk.batches, 1);
  struct sh_udp_stats st;
  sh_udp_stats(u, &st);
  cr_expect_eq(st.in[SH_UDP_UTP], 41);
  cr_expect_eq(st.truncated, 0);
}

Test(udp_socket, ipv6_beside_ipv4_on_one_port)
{
  cr_assert_eq(uv_loop_init(&loop), 0);
  struct sockaddr_in a4;
  uv_ip4_addr("0.0.0.0", 0, &a4);
  struct sh_udp *s4, *s6;
  cr_assert_eq(sh_udp_open(&loop, (struct sockaddr *)&a4, &s4), 0);
  struct sockaddr_storage l4;
  sh_udp_local(s4, &l4);
  struct sockaddr_in6 a6;
  uv_ip6_addr("::", ntohs(((struct sockaddr_in *)&l4)->sin_port), &a6);
  int rc = sh_udp_open(&loop, (struct sockaddr *)&a6, &s6);
  if (rc == -EAFNOSUPPORT || rc == -EADDRNOTAVAIL) {
    sh_udp_close(s4, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    cr_skip_test("no IPv6 here");
  }
  cr_expect_eq(rc, 0, "IPV6_V6ONLY lets :: share the IPv4 socket's port: %s", strerror(-rc));
  /* and a second IPv4 socket on the port is refused */
  struct sh_udp *dup;
  uv_ip4_addr("0.0.0.0", ntohs(((struct sockaddr_in *)&l4)->sin_port), &a4);
  cr_expect_eq(sh_udp_open(&loop, (struct sockaddr *)&a4, &dup), -EADDRINUSE);
  sh_udp_close(s4, NULL, NULL);
  if (rc == 0)
    sh_udp_close(s6, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_expect_eq(uv_loop_close(&loop), 0);
}

/* ---- ICMP errors ---- */

static struct {
  int n, err;
  struct sockaddr_in to;
  uint8_t first;
} icmp;

static void on_icmp(void *ud, const struct sockaddr *to, int err, const uint8_t *p, size_t n)
{
  icmp.n++;
  icmp.err = err;
  memcpy(&icmp.to, to, sizeof icmp.to);
  icmp.first = n ? p[0] : 0;
}

/* A datagram to a port nobody listens on comes back as "port unreachable":
 * the consumer that asked hears of it with the address it was sent to, the
 * socket goes on reading, and the next send (elsewhere) is not lost to the
 * error the kernel kept. */
Test(udp_socket, icmp_port_unreachable_reaches_the_error_consumer, .init = setup,
     .fini = teardown)
{
  memset(&icmp, 0, sizeof icmp);
  sh_udp_set_error_consumer(u, SH_UDP_TRACKER, on_icmp, NULL);
  int gone = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a, dead;
  uv_ip4_addr("127.0.0.1", 0, &a);
  cr_assert_eq(bind(gone, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t len = sizeof dead;
  getsockname(gone, (struct sockaddr *)&dead, &len);
  close(gone);
  const uint8_t req[16] = {0x7e, 1, 2, 3};
  cr_assert_eq(sh_udp_send(u, SH_UDP_TRACKER, req, sizeof req, (struct sockaddr *)&dead), 0);
  run_until(&icmp.n, 1);
  cr_expect_eq(icmp.err, -ECONNREFUSED);
  cr_expect_eq(icmp.to.sin_port, dead.sin_port, "the address it was sent to");
  cr_expect_eq(icmp.first, 0x7e, "the bounced datagram's bytes");
  struct sh_udp_stats st;
  sh_udp_stats(u, &st);
  cr_expect_eq(st.icmp_errors, 1);
  /* the socket still reads, and sends elsewhere go out */
  peer_send("d1:ai1ee", 8);
  run_until(&got.dht, 1);
  cr_expect_eq(sh_udp_send(u, SH_UDP_DHT, "d1:bi2ee", 8, (struct sockaddr *)&paddr), 0);
  sh_udp_stats(u, &st);
  cr_expect_eq(st.dropped_out, 0);
  /* a second bounce, then a send before the loop reads it: not dropped */
  cr_assert_eq(sh_udp_send(u, SH_UDP_TRACKER, req, sizeof req, (struct sockaddr *)&dead), 0);
  usleep(20000);
  cr_expect_eq(sh_udp_send(u, SH_UDP_DHT, "d1:ci3ee", 8, (struct sockaddr *)&paddr), 0);
  sh_udp_stats(u, &st);
  cr_expect_eq(st.dropped_out, 0, "a kept ICMP error does not eat an unrelated send");
  char buf[16];
  int got_n = 0;
  for (int i = 0; i < 100 && got_n < 2; i++) {
    if (recv(peer, buf, sizeof buf, 0) == 8)
      got_n++;
    else
      usleep(10000);
  }
  cr_expect_eq(got_n, 2);
  run_until(&icmp.n, 2);
  sh_udp_set_error_consumer(u, SH_UDP_TRACKER, NULL, NULL);
}
