/* The uTP transport on real UDP sockets over loopback: two endpoints, one
 * dials, the other accepts; bytes both ways through the transport
 * operations (alloc/on_read, writev/poll_writable) arrive whole and in
 * order; closing ends the other side's stream after its data; everything
 * is freed with the endpoints. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <uv.h>

#include "base/error.h"
#include "net/udp.h"
#include "peer/utp.h"

static uv_loop_t loop;
static struct sh_udp *udp[2];
static struct sh_utp_ep *ep[2];
static struct sh_addr addr[2];

struct side {
  struct sh_transport *tr;
  uint8_t rbuf[256 * 1024];
  uint64_t got, sent, to_send;
  int stream, connected, closed_cb, err, wrong, reads;
  int want_close_after; /* close once everything is sent */
};
static struct side side[2];

static uint8_t pattern(int stream, uint64_t off) { return (uint8_t)(off * 31 + stream * 7 + (off >> 12)); }

static void s_alloc(void *ud, uint8_t **buf, size_t *len)
{
  struct side *s = ud;
  *buf = s->rbuf;
  *len = sizeof s->rbuf;
}

static void s_on_read(void *ud, ssize_t n)
{
  struct side *s = ud;
  if (n < 0) {
    s->err = (int)n;
    return;
  }
  s->reads++;
  int other = s == &side[0] ? 2 : 1;
  for (ssize_t i = 0; i < n; i++)
    if (s->rbuf[i] != pattern(other, s->got + (uint64_t)i))
      s->wrong++;
  s->got += (uint64_t)n;
}

static void s_pump(struct side *s)
{
  static uint8_t chunk[64 * 1024];
  while (s->tr && s->sent < s->to_send) {
    size_t n = s->to_send - s->sent < sizeof chunk ? (size_t)(s->to_send - s->sent) : sizeof chunk;
    for (size_t i = 0; i < n; i++)
      chunk[i] = pattern(s->stream, s->sent + i);
    struct iovec iov[3] = {{chunk, 13}, {chunk + 13, n / 2 - 13}, {chunk + n / 2, n - n / 2}};
    ssize_t w = s->tr->ops->writev(s->tr, iov, 3, 0);
    if (w == -EAGAIN) {
      s->tr->ops->poll_writable(s->tr, 1);
      return;
    }
    cr_assert_gt(w, 0, "writev: %zd", w);
    s->sent += (uint64_t)w;
  }
  if (s->tr && s->sent == s->to_send && s->want_close_after) {
    s->tr->ops->close(s->tr);
    s->tr = NULL;
  }
}

static void s_on_writable(void *ud) { s_pump(ud); }

static void s_on_connect(void *ud, int status)
{
  struct side *s = ud;
  cr_assert_eq(status, 0, "connect: %d", status);
  s->connected = 1;
  s->tr->ops->read_start(s->tr);
  s_pump(s);
}

static void s_on_closed(void *ud) { ((struct side *)ud)->closed_cb++; }

static const struct sh_transport_cb side_cb = {s_alloc, s_on_read, s_on_writable, s_on_connect,
                                               s_on_closed};

static int refuse;
static int side0_ended(void);

static void on_accept(void *ud, struct sh_transport *tr)
{
  struct side *s = &side[1];
  if (refuse) {
    tr->cb = &side_cb;
    tr->ud = s;
    tr->ops->close(tr);
    return;
  }
  cr_assert_null(s->tr);
  s->tr = tr;
  tr->cb = &side_cb;
  tr->ud = s;
  s->connected = 1;
  cr_assert_eq(tr->ops->read_start(tr), 0);
  cr_assert_null(tr->ops->sendfile, "uTP has no sendfile");
  s_pump(s);
}

static void setup(void)
{
  memset(side, 0, sizeof side);
  refuse = 0;
  side[0].stream = 1;
  side[1].stream = 2;
  cr_assert_eq(uv_loop_init(&loop), 0);
  for (int i = 0; i < 2; i++) {
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    cr_assert_eq(sh_udp_open(&loop, (struct sockaddr *)&a, &udp[i]), 0);
    struct sockaddr_storage ss;
    sh_udp_local(udp[i], &ss);
    sh_addr_from_sockaddr(&addr[i], (struct sockaddr *)&ss);
    cr_assert_eq(sh_utp_ep_open(&loop, udp[i], NULL, on_accept, NULL, &ep[i]), 0);
  }
}

static int done_count;
static void on_done(void *ud) { done_count++; }

static void teardown(void)
{
  for (int i = 0; i < 2; i++)
    if (side[i].tr)
      side[i].tr->ops->close(side[i].tr);
  uv_run(&loop, UV_RUN_NOWAIT);
  done_count = 0;
  for (int i = 0; i < 2; i++) {
    sh_utp_ep_close(ep[i], on_done, NULL);
    sh_udp_close(udp[i], NULL, NULL);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_expect_eq(done_count, 2);
  cr_expect_eq(uv_loop_close(&loop), 0, "handles left open");
}

TestSuite(utp_transport, .init = setup, .fini = teardown);

static void run_until(int (*cond)(void), double seconds)
{
  uint64_t end = uv_hrtime() + (uint64_t)(seconds * 1e9);
  while (!cond() && uv_hrtime() < end)
    uv_run(&loop, UV_RUN_ONCE);
}

static int both_got_all(void)
{
  return side[0].got >= side[1].to_send && side[1].got >= side[0].to_send;
}

Test(utp_transport, both_ways_over_loopback)
{
  side[0].to_send = 24u << 20;
  side[1].to_send = 4u << 20;
  cr_assert_eq(sh_utp_ep_dial(ep[0], &addr[1], &side_cb, &side[0], &side[0].tr), 0);
  uint64_t t0 = uv_hrtime();
  run_until(both_got_all, 60);
  double secs = (double)(uv_hrtime() - t0) / 1e9;
  cr_assert_eq(side[1].got, side[0].to_send);
  cr_assert_eq(side[0].got, side[1].to_send);
  cr_assert_eq(side[0].wrong + side[1].wrong, 0);
  cr_log_info("28 MiB in %.2f s (%.0f MB/s), %d and %d reads", secs, 28 * 1.048576 / secs,
              side[0].reads, side[1].reads);
  /* reads come a batch at a time, not a packet at a time */
  cr_expect_lt(side[1].reads, (int)(side[0].to_send / 1400 / 4));
  struct sh_utp_stats st;
  sh_utp_ep_stats(ep[0], &st);
  cr_expect_eq(st.conns, 1);
}

static int side1_ended(void) { return side[1].err != 0; }
static int side0_ended(void) { return side[0].err != 0; }

Test(utp_transport, close_ends_the_stream_after_its_data)
{
  side[0].to_send = 3u << 20;
  side[0].want_close_after = 1;
  cr_assert_eq(sh_utp_ep_dial(ep[0], &addr[1], &side_cb, &side[0], &side[0].tr), 0);
  run_until(side1_ended, 30);
  cr_assert_eq(side[1].err, SH_ECLOSED);
  cr_assert_eq(side[1].got, side[0].to_send);
  cr_assert_eq(side[1].wrong, 0);
  cr_assert_eq(side[0].closed_cb, 1, "on_closed once, from the loop");
  side[1].tr->ops->close(side[1].tr);
  side[1].tr = NULL;
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_assert_eq(side[1].closed_cb, 1);
}


Test(utp_transport, refused_by_the_other_side)
{
  refuse = 1;
  side[0].to_send = 100000;
  cr_assert_eq(sh_utp_ep_dial(ep[0], &addr[1], &side_cb, &side[0], &side[0].tr), 0);
  run_until(side0_ended, 20);
  cr_assert(side[0].connected);
  cr_assert_eq(side[0].err, SH_ECLOSED, "err %d", side[0].err);
  cr_assert_eq(side[1].closed_cb, 1);
}
