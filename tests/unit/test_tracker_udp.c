/* BEP 15, every message byte for byte: connect, announce (IPv4 and IPv6
 * reply formats), scrape, error; and the refusals: short datagrams, wrong
 * magic, unknown actions, forged and expired connection IDs, and replies
 * that would be larger than an unauthenticated request. */
#include <criterion/criterion.h>
#include <string.h>

#include "base/buf.h"
#include "tracker/udp_proto.h"

static struct tracker T;
static const struct tracker_addr A1 = {STORE_V4, {127, 0, 0, 1}};
static const struct tracker_addr A2 = {STORE_V4, {127, 0, 0, 2}};
static const struct tracker_addr A6 = {STORE_V6, {0x20, 0x01, 0x0d, 0xb8, [15] = 9}};
static const struct tracker_addr A7 = {STORE_V6, {0x20, 0x01, 0x0d, 0xb8, [15] = 10}};
static uint8_t out[UDP_PROTO_MAX_REPLY];
#define NOW 100000u

static void setup(void)
{
  struct tracker_config c;
  tracker_config_defaults(&c);
  c.interval = 1800;
  cr_assert_eq(tracker_init(&T, &c), 0);
  memcpy(T.udp_secret, "0123456789abcdef", 16);
}
static void teardown(void) { tracker_destroy(&T); }
TestSuite(tracker_udp, .init = setup, .fini = teardown);

static uint64_t do_connect(const struct tracker_addr *a, uint32_t now)
{
  uint8_t req[16];
  sh_wr64(req, UDP_PROTO_MAGIC);
  sh_wr32(req + 8, 0);
  sh_wr32(req + 12, 0xcafebabe);
  size_t n = udp_proto_handle(&T, req, 16, a, now, 0, out);
  cr_assert_eq(n, 16);
  cr_assert_eq(sh_rd32(out), 0);           /* action connect */
  cr_assert_eq(sh_rd32(out + 4), 0xcafebabe); /* transaction id echoed */
  return sh_rd64(out + 8);
}

static size_t build_announce(uint8_t *p, uint64_t cid, uint32_t tid, uint8_t hfill, uint64_t left,
                             uint32_t event, int32_t numwant, uint16_t port)
{
  memset(p, 0, 98);
  sh_wr64(p, cid);
  sh_wr32(p + 8, 1);
  sh_wr32(p + 12, tid);
  memset(p + 16, hfill, 20);         /* info_hash */
  memcpy(p + 36, "-SH0001-abcdefghijkl", 20);
  sh_wr64(p + 56, 0);                /* downloaded */
  sh_wr64(p + 64, left);
  sh_wr64(p + 72, 0);                /* uploaded */
  sh_wr32(p + 80, event);
  sh_wr32(p + 84, 0);                /* IP: default */
  sh_wr32(p + 88, 0x12345678);       /* key */
  sh_wr32(p + 92, (uint32_t)numwant);
  sh_wr16(p + 96, port);
  return 98;
}

Test(tracker_udp, connect_reply)
{
  uint64_t id = do_connect(&A1, NOW);
  cr_expect_eq(id, udp_proto_conn_id(&T, &A1, NOW));
  cr_expect_neq(id, udp_proto_conn_id(&T, &A2, NOW), "the ID depends on the address");
  cr_expect_neq(id, udp_proto_conn_id(&T, &A1, NOW + 2 * UDP_PROTO_WINDOW), "and on the window");
  T.udp_secret[0] ^= 1;
  cr_expect_neq(id, udp_proto_conn_id(&T, &A1, NOW), "and on the secret");
}

Test(tracker_udp, connect_refusals)
{
  uint8_t req[16];
  sh_wr64(req, 0x41727101981ULL); /* wrong magic */
  sh_wr32(req + 8, 0);
  sh_wr32(req + 12, 1);
  cr_expect_eq(udp_proto_handle(&T, req, 16, &A1, NOW, 0, out), 0, "wrong magic is dropped");
  sh_wr64(req, UDP_PROTO_MAGIC);
  for (size_t n = 0; n < 16; n++)
    cr_expect_eq(udp_proto_handle(&T, req, n, &A1, NOW, 0, out), 0, "%zu bytes dropped", n);
}

Test(tracker_udp, announce_ipv4_reply)
{
  uint8_t req[98];
  uint64_t c1 = do_connect(&A1, NOW), c2 = do_connect(&A2, NOW);
  build_announce(req, c1, 77, 0xab, 1000, 2 /* started */, -1, 6881);
  size_t n = udp_proto_handle(&T, req, 98, &A1, NOW, 0, out);
  const uint8_t want1[20] = {0, 0, 0, 1, 0, 0, 0, 77, 0, 0, 0x07, 0x08, 0, 0, 0, 1, 0, 0, 0, 0};
  cr_assert_eq(n, 20);
  cr_expect(memcmp(out, want1, 20) == 0, "action, tid, interval 1800, leechers 1, seeders 0");
  build_announce(req, c2, 78, 0xab, 0, 1 /* completed */, 50, 6882);
  n = udp_proto_handle(&T, req, 98, &A2, NOW, 0, out);
  const uint8_t want2[26] = {0, 0, 0, 1, 0, 0, 0, 78, 0, 0, 0x07, 0x08, 0, 0, 0, 1, 0, 0, 0, 1,
                             127, 0, 0, 1, 0x1a, 0xe1};
  cr_assert_eq(n, 26);
  cr_expect(memcmp(out, want2, 26) == 0, "the other peer as 6 bytes");
  /* extensions after 98 bytes (BEP 41) do not matter */
  uint8_t longer[120];
  memcpy(longer, req, 98);
  memset(longer + 98, 2, 22);
  cr_expect_eq(udp_proto_handle(&T, longer, 120, &A2, NOW, 0, out), 26);
}

Test(tracker_udp, announce_ipv6_reply)
{
  uint8_t req[98];
  uint64_t c6 = do_connect(&A6, NOW), c7 = do_connect(&A7, NOW);
  build_announce(req, c6, 5, 0x11, 10, 2, -1, 6881);
  cr_assert_eq(udp_proto_handle(&T, req, 98, &A6, NOW, 0, out), 20);
  build_announce(req, c7, 6, 0x11, 10, 2, -1, 6882);
  size_t n = udp_proto_handle(&T, req, 98, &A7, NOW, 0, out);
  cr_assert_eq(n, 20 + 18, "IPv6 peers are 18 bytes each");
  const uint8_t peer[18] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0x1a, 0xe1};
  cr_expect(memcmp(out + 20, peer, 18) == 0);
  cr_expect_eq(sh_rd32(out + 12), 2); /* leechers */
}

Test(tracker_udp, announce_stopped_and_numwant)
{
  uint8_t req[98];
  uint64_t c1 = do_connect(&A1, NOW), c2 = do_connect(&A2, NOW);
  build_announce(req, c1, 1, 0x22, 5, 2, -1, 1000);
  udp_proto_handle(&T, req, 98, &A1, NOW, 0, out);
  build_announce(req, c2, 2, 0x22, 5, 2, 0, 1001);
  cr_expect_eq(udp_proto_handle(&T, req, 98, &A2, NOW, 0, out), 20, "num_want 0: no peers");
  build_announce(req, c2, 3, 0x22, 5, 3 /* stopped */, -1, 1001);
  cr_expect_eq(udp_proto_handle(&T, req, 98, &A2, NOW, 0, out), 20);
  cr_expect_eq(sh_rd32(out + 12), 1, "only the first peer is left");
}

Test(tracker_udp, scrape_reply)
{
  uint8_t req[98], s[16 + 40];
  uint64_t c1 = do_connect(&A1, NOW), c2 = do_connect(&A2, NOW);
  build_announce(req, c1, 1, 0x33, 0, 1, -1, 1000);
  udp_proto_handle(&T, req, 98, &A1, NOW, 0, out);
  build_announce(req, c2, 2, 0x33, 9, 2, -1, 1001);
  udp_proto_handle(&T, req, 98, &A2, NOW, 0, out);
  sh_wr64(s, c1);
  sh_wr32(s + 8, 2);
  sh_wr32(s + 12, 0x99);
  memset(s + 16, 0x33, 20);
  memset(s + 36, 0x44, 20); /* unknown: zeros */
  size_t n = udp_proto_handle(&T, s, sizeof s, &A1, NOW, 0, out);
  const uint8_t want[8 + 24] = {0, 0, 0, 2, 0, 0, 0, 0x99, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1};
  cr_assert_eq(n, sizeof want);
  cr_expect(memcmp(out, want, sizeof want) == 0, "seeders 1, completed 1, leechers 1; then zeros");
}

Test(tracker_udp, scrape_of_many_is_capped_at_74)
{
  uint8_t s[16 + 20 * 100];
  uint64_t c1 = do_connect(&A1, NOW);
  memset(s, 0x55, sizeof s);
  sh_wr64(s, c1);
  sh_wr32(s + 8, 2);
  size_t n = udp_proto_handle(&T, s, sizeof s, &A1, NOW, 0, out);
  cr_expect_eq(n, 8 + 12 * 74);
  cr_expect_leq(n, sizeof s);
}

static void expect_error(size_t n, uint32_t tid, const char *msg, size_t reqlen)
{
  cr_assert_geq(n, 8);
  cr_expect_eq(sh_rd32(out), 3, "action error");
  cr_expect_eq(sh_rd32(out + 4), tid);
  cr_expect_leq(n, reqlen, "an unauthenticated reply is never larger than the request");
  size_t ml = strlen(msg);
  if (ml > reqlen - 8)
    ml = reqlen - 8;
  cr_expect_eq(n, 8 + ml);
  cr_expect(memcmp(out + 8, msg, ml) == 0, "message '%.*s'", (int)(n - 8), out + 8);
}

Test(tracker_udp, forged_and_expired_ids_are_refused)
{
  uint8_t req[98];
  uint64_t c1 = do_connect(&A1, NOW);
  build_announce(req, c1 ^ 1, 42, 0x66, 5, 2, -1, 1000);
  expect_error(udp_proto_handle(&T, req, 98, &A1, NOW, 0, out), 42,
               "bad or expired connection id", 98);
  /* another address cannot use A1's ID */
  build_announce(req, c1, 43, 0x66, 5, 2, -1, 1000);
  expect_error(udp_proto_handle(&T, req, 98, &A2, NOW, 0, out), 43,
               "bad or expired connection id", 98);
  /* valid for at least 2 minutes, refused after 4 */
  cr_expect_eq(udp_proto_handle(&T, req, 98, &A1, NOW + UDP_PROTO_WINDOW, 0, out), 20);
  expect_error(udp_proto_handle(&T, req, 98, &A1, NOW + 2 * UDP_PROTO_WINDOW, 0, out), 43,
               "bad or expired connection id", 98);
}

Test(tracker_udp, short_requests_get_truncated_errors)
{
  uint8_t s[16];
  sh_wr64(s, 1234);
  sh_wr32(s + 8, 2); /* scrape with a forged id and no hash: 16 bytes */
  sh_wr32(s + 12, 9);
  expect_error(udp_proto_handle(&T, s, 16, &A1, NOW, 0, out), 9, "bad or expired connection id", 16);
  sh_wr32(s + 8, 7); /* unknown action */
  expect_error(udp_proto_handle(&T, s, 16, &A1, NOW, 0, out), 9, "unknown action", 16);
  /* an authenticated announce that is too short gets the full reason */
  uint8_t a[60];
  memset(a, 0, sizeof a);
  sh_wr64(a, do_connect(&A1, NOW));
  sh_wr32(a + 8, 1);
  sh_wr32(a + 12, 10);
  size_t n = udp_proto_handle(&T, a, sizeof a, &A1, NOW, 0, out);
  cr_expect_eq(sh_rd32(out), 3);
  cr_expect(n > 8 && memcmp(out + 8, "announce is shorter than 98 bytes", n - 8) == 0);
}

Test(tracker_udp, port_zero_and_bad_event)
{
  uint8_t req[98];
  uint64_t c1 = do_connect(&A1, NOW);
  build_announce(req, c1, 1, 0x77, 5, 2, -1, 0);
  expect_error(udp_proto_handle(&T, req, 98, &A1, NOW, 0, out), 1, "port is 0", 98);
  build_announce(req, c1, 2, 0x77, 5, 9, -1, 1);
  expect_error(udp_proto_handle(&T, req, 98, &A1, NOW, 0, out), 2, "unknown event", 98);
}

Test(tracker_udp, hosted_mode_refuses_unknown)
{
  uint8_t req[98];
  T.cfg.hosted_only = 1;
  uint64_t c1 = do_connect(&A1, NOW);
  build_announce(req, c1, 1, 0x88, 5, 2, -1, 1);
  expect_error(udp_proto_handle(&T, req, 98, &A1, NOW, 0, out), 1,
               "torrent is not hosted on this tracker", 98);
}
