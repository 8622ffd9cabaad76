/* The shared UDP socket's demultiplexer as plain data: each packet shape
 * from BEP 15 (tracker replies), BEP 29 (uTP headers) and BEP 5 (KRPC
 * dictionaries), short and garbage datagrams, the transaction-id table,
 * and the counters. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <uv.h>

#include "net/udp_demux.h"

#define C(p, n) sh_udp_classify((const uint8_t *)(p), (n))
#define S(lit) sh_udp_classify((const uint8_t *)(lit), sizeof(lit) - 1)

/* ---- BEP 15 ---- */

Test(udp_demux, tracker_replies_of_every_action)
{
  /* connect: action 0, tid, connection id */
  cr_expect_eq(S("\0\0\0\0" "\x12\x34\x56\x78" "\x11\x22\x33\x44\x55\x66\x77\x88"),
               SH_UDP_TRACKER);
  /* announce: action 1, tid, interval, leechers, seeders, one peer */
  cr_expect_eq(S("\0\0\0\1" "abcd" "\0\0\x07\x08" "\0\0\0\1" "\0\0\0\2" "\x0a\0\0\1\x1a\xe1"),
               SH_UDP_TRACKER);
  /* scrape: action 2, tid, one (seeders, completed, leechers) */
  cr_expect_eq(S("\0\0\0\2" "abcd" "\0\0\0\1" "\0\0\0\2" "\0\0\0\3"), SH_UDP_TRACKER);
  /* error: action 3, tid, message */
  cr_expect_eq(S("\0\0\0\3" "abcd" "no such torrent"), SH_UDP_TRACKER);
  /* the shortest: an empty scrape or a message-less error, 8 bytes */
  cr_expect_eq(S("\0\0\0\3" "abcd"), SH_UDP_TRACKER);
}

Test(udp_demux, tracker_shapes_that_are_not_replies)
{
  cr_expect_eq(S("\0\0\0\3" "abc"), SH_UDP_NONE, "7 bytes: no room for a transaction id");
  cr_expect_eq(S("\0\0\0\4" "abcd"), SH_UDP_NONE, "action 4 does not exist");
  cr_expect_eq(S("\0\0\1\1" "abcd"), SH_UDP_NONE, "action 257");
  cr_expect_eq(S("\0\x01\0\0" "abcd"), SH_UDP_NONE);
  /* a request (connect's protocol id first) is not a reply */
  cr_expect_eq(S("\0\0\x04\x17\x27\x10\x19\x80" "\0\0\0\0" "abcd"), SH_UDP_NONE);
}

/* ---- BEP 29 ---- */

static size_t utp(uint8_t *p, int type, int version)
{
  memset(p, 0, 20);
  p[0] = (uint8_t)(type << 4 | version);
  p[2] = 0x12; /* connection id */
  return 20;
}

Test(udp_demux, utp_every_type)
{
  uint8_t p[64];
  const char *names[] = {"ST_DATA", "ST_FIN", "ST_STATE", "ST_RESET", "ST_SYN"};
  for (int t = 0; t <= 4; t++) {
    size_t n = utp(p, t, 1);
    cr_expect_eq(C(p, n), SH_UDP_UTP, "%s", names[t]);
    cr_expect_eq(C(p, n + 40), SH_UDP_UTP, "%s with payload", names[t]);
    cr_expect_eq(C(p, n - 1), SH_UDP_NONE, "%s: 19 bytes is shorter than the header",
                 names[t]);
  }
}

Test(udp_demux, utp_bad_version_or_type)
{
  uint8_t p[20];
  cr_expect_eq(C(p, utp(p, 5, 1)), SH_UDP_NONE, "type 5");
  cr_expect_eq(C(p, utp(p, 15, 1)), SH_UDP_NONE, "type 15");
  cr_expect_eq(C(p, utp(p, 0, 0)), SH_UDP_NONE, "version 0 (the old uTP)");
  cr_expect_eq(C(p, utp(p, 4, 2)), SH_UDP_NONE, "version 2");
}

/* ---- BEP 5 ---- */

Test(udp_demux, krpc_messages)
{
  cr_expect_eq(S("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"), SH_UDP_DHT,
               "ping query");
  cr_expect_eq(S("d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re"), SH_UDP_DHT,
               "ping response");
  cr_expect_eq(S("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e"
                 "1:q9:get_peers1:t2:aa1:y1:qe"),
               SH_UDP_DHT, "get_peers");
  cr_expect_eq(S("d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee"), SH_UDP_DHT, "error");
  cr_expect_eq(S("de"), SH_UDP_DHT, "the empty dictionary has the shape");
}

Test(udp_demux, not_krpc)
{
  cr_expect_eq(S("d"), SH_UDP_NONE);
  cr_expect_eq(S("d1:y1:q"), SH_UDP_NONE, "cut before its end");
  cr_expect_eq(S("li1ee"), SH_UDP_NONE, "a list");
  cr_expect_eq(S("i42e"), SH_UDP_NONE);
}

Test(udp_demux, garbage)
{
  cr_expect_eq(C("", 0), SH_UDP_NONE);
  cr_expect_eq(S("\0"), SH_UDP_NONE);
  cr_expect_eq(S("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
               SH_UDP_NONE);
  cr_expect_eq(S("GET / HTTP/1.1\r\n\r\n"), SH_UDP_NONE);
  cr_expect_eq(S("\x13" "BitTorrent protocol"), SH_UDP_NONE);
}

/* ---- dispatch ---- */

static struct {
  int calls;
  void *ud;
  size_t n;
  int unexpect_self;
  struct sh_udp_demux *d;
} got;

static void rec(void *ud, const uint8_t *p, size_t n, const struct sockaddr *from)
{
  got.calls++;
  got.ud = ud;
  got.n = n;
  if (got.unexpect_self)
    cr_expect_eq(sh_udp_demux_unexpect(got.d, from, 0x61626364), 0);
}

static struct sockaddr_storage v4(const char *ip, uint16_t port)
{
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  uv_ip4_addr(ip, port, (struct sockaddr_in *)&ss);
  return ss;
}

static struct sockaddr_storage v6(const char *ip, uint16_t port)
{
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&ss);
  return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))
static const uint8_t REPLY[] = "\0\0\0\0" "abcd" "\x11\x22\x33\x44\x55\x66\x77\x88";

Test(udp_demux, tracker_reply_needs_its_tid_and_address)
{
  struct sh_udp_demux d;
  sh_udp_demux_init(&d);
  memset(&got, 0, sizeof got);
  struct sockaddr_storage trk = v4("192.0.2.1", 6969), other = v4("192.0.2.2", 6969),
                          port = v4("192.0.2.1", 6970);
  int tag;
  cr_assert_eq(sh_udp_demux_expect(&d, SA(trk), 0x61626364, rec, &tag), 0);
  cr_expect_eq(sh_udp_demux_expect(&d, SA(trk), 0x61626364, rec, NULL), -EEXIST);

  cr_expect_eq(sh_udp_demux_input(&d, REPLY, 16, SA(other)), SH_UDP_NONE, "another host");
  cr_expect_eq(sh_udp_demux_input(&d, REPLY, 16, SA(port)), SH_UDP_NONE, "another port");
  uint8_t wrong[16];
  memcpy(wrong, REPLY, 16);
  wrong[7] ^= 1;
  cr_expect_eq(sh_udp_demux_input(&d, wrong, 16, SA(trk)), SH_UDP_NONE, "another tid");
  cr_expect_eq(got.calls, 0);
  cr_expect_eq(d.st.dropped_in, 3);

  cr_expect_eq(sh_udp_demux_input(&d, REPLY, 16, SA(trk)), SH_UDP_TRACKER);
  cr_expect_eq(got.calls, 1);
  cr_expect_eq(got.ud, &tag);
  cr_expect_eq(got.n, 16);
  cr_expect_eq(d.st.in[SH_UDP_TRACKER], 1);

  /* unregistered: a late duplicate is dropped */
  cr_expect_eq(sh_udp_demux_unexpect(&d, SA(trk), 0x61626364), 0);
  cr_expect_eq(sh_udp_demux_unexpect(&d, SA(trk), 0x61626364), -ENOENT);
  cr_expect_eq(sh_udp_demux_input(&d, REPLY, 16, SA(trk)), SH_UDP_NONE);
  cr_expect_eq(got.calls, 1);
  cr_expect_eq(d.st.dropped_in, 4);
  sh_udp_demux_free(&d);
}

Test(udp_demux, callback_may_unregister_its_own_tid)
{
  struct sh_udp_demux d;
  sh_udp_demux_init(&d);
  memset(&got, 0, sizeof got);
  got.unexpect_self = 1;
  got.d = &d;
  struct sockaddr_storage trk = v6("2001:db8::1", 6969);
  cr_assert_eq(sh_udp_demux_expect(&d, SA(trk), 0x61626364, rec, NULL), 0);
  cr_expect_eq(sh_udp_demux_input(&d, REPLY, 16, SA(trk)), SH_UDP_TRACKER);
  cr_expect_eq(sh_udp_demux_input(&d, REPLY, 16, SA(trk)), SH_UDP_NONE);
  cr_expect_eq(got.calls, 1);
  cr_expect_eq(d.ntids, 0);
  sh_udp_demux_free(&d);
}

Test(udp_demux, v4_and_v6_keys_differ)
{
  struct sh_udp_demux d;
  sh_udp_demux_init(&d);
  struct sockaddr_storage a4 = v4("0.0.0.0", 1), a6 = v6("::", 1);
  cr_expect_eq(sh_udp_demux_expect(&d, SA(a4), 7, rec, NULL), 0);
  cr_expect_eq(sh_udp_demux_expect(&d, SA(a6), 7, rec, NULL), 0);
  struct sockaddr un = {.sa_family = AF_UNIX};
  cr_expect_eq(sh_udp_demux_expect(&d, &un, 7, rec, NULL), -EAFNOSUPPORT);
  sh_udp_demux_free(&d);
}

Test(udp_demux, consumers_and_counters)
{
  struct sh_udp_demux d;
  sh_udp_demux_init(&d);
  memset(&got, 0, sizeof got);
  struct sockaddr_storage peer = v4("198.51.100.7", 6881);
  static const char ping[] = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
  uint8_t syn[20];
  utp(syn, 4, 1);
  /* no DHT or uTP yet: dropped and counted */
  cr_expect_eq(sh_udp_demux_input(&d, (const uint8_t *)ping, sizeof ping - 1, SA(peer)),
               SH_UDP_NONE);
  cr_expect_eq(sh_udp_demux_input(&d, syn, 20, SA(peer)), SH_UDP_NONE);
  cr_expect_eq(d.st.dropped_in, 2);
  int dht, u;
  sh_udp_demux_set(&d, SH_UDP_DHT, rec, &dht);
  sh_udp_demux_set(&d, SH_UDP_UTP, rec, &u);
  cr_expect_eq(sh_udp_demux_input(&d, (const uint8_t *)ping, sizeof ping - 1, SA(peer)),
               SH_UDP_DHT);
  cr_expect_eq(got.ud, &dht);
  cr_expect_eq(sh_udp_demux_input(&d, syn, 20, SA(peer)), SH_UDP_UTP);
  cr_expect_eq(got.ud, &u);
  cr_expect_eq(sh_udp_demux_input(&d, (const uint8_t *)"hello", 5, SA(peer)), SH_UDP_NONE);
  cr_expect_eq(d.st.in[SH_UDP_DHT], 1);
  cr_expect_eq(d.st.in[SH_UDP_UTP], 1);
  cr_expect_eq(d.st.unclassified, 1);
  cr_expect_eq(d.st.dropped_in, 2);
  sh_udp_demux_set(&d, SH_UDP_DHT, NULL, NULL);
  cr_expect_eq(sh_udp_demux_input(&d, (const uint8_t *)ping, sizeof ping - 1, SA(peer)),
               SH_UDP_NONE);
  cr_expect_eq(d.st.dropped_in, 3);
  sh_udp_demux_free(&d);
}

/* Thousands of outstanding transactions (one per torrent), removed in a
 * scrambled order: every key stays findable until it is removed, and
 * never after (backward-shift deletion leaves no hole in a probe run). */
Test(udp_demux, tid_table_under_churn)
{
  struct sh_udp_demux d;
  sh_udp_demux_init(&d);
  enum { N = 5000 };
  static struct sockaddr_storage addr[N];
  static uint32_t tid[N];
  static int present[N];
  uint64_t r = 88172645463325252ull;
  for (int i = 0; i < N; i++) {
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    char ip[32];
    /* few addresses, so keys collide on everything but the tid */
    snprintf(ip, sizeof ip, "10.0.0.%d", (int)(r % 3));
    addr[i] = v4(ip, 6969);
    tid[i] = (uint32_t)(r >> 20) & 0xfff; /* small ids: crowded probe runs */
    present[i] = sh_udp_demux_expect(&d, SA(addr[i]), tid[i], rec, NULL) == 0;
  }
  size_t n = 0;
  for (int i = 0; i < N; i++)
    n += (size_t)present[i];
  cr_assert_eq(d.ntids, n);
  for (int round = 0; round < N; round++) {
    int i = (int)((uint64_t)round * 2654435761u % N);
    if (present[i]) {
      cr_assert_eq(sh_udp_demux_unexpect(&d, SA(addr[i]), tid[i]), 0, "key %d lost", i);
      present[i] = 0;
    }
    if (round % 500 == 0) {
      for (int k = 0; k < N; k++) {
        if (!present[k])
          continue;
        cr_assert_eq(sh_udp_demux_expect(&d, SA(addr[k]), tid[k], rec, NULL), -EEXIST,
                     "key %d missing after %d removals", k, round);
      }
    }
  }
  cr_expect_eq(d.ntids, 0);
  sh_udp_demux_free(&d);
}
