/* Swarm store: peers as flat compact records, seeders get no seeders, the
 * announcing peer never sees itself, stopped removes, completed counts once,
 * expiry drops stale peers and empty torrents, buckets keep hashes sorted. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "tracker/store.h"

static uint8_t H1[20] = {1, 2, 3};
static uint8_t H2[20] = {0xff, 0xfe};

static void addr4(uint8_t out[6], uint8_t last, uint16_t port)
{
  out[0] = 10; out[1] = 0; out[2] = 0; out[3] = last;
  out[4] = (uint8_t)(port >> 8); out[5] = (uint8_t)port;
}

static struct store_reply announce(struct store *s, const uint8_t *h, const uint8_t *addr, int seeder,
                                   enum store_event ev, uint32_t now, uint8_t *out, uint32_t max)
{
  struct store_announce a = {
      .info_hash = h, .family = STORE_V4, .addr = addr, .event = ev, .seeder = seeder,
      .now = now, .timeout = 100, .rnd = 7, .create = 1, .out4 = out, .out6 = NULL, .max4 = max};
  struct store_reply r;
  cr_assert_eq(store_announce(s, &a, &r), 0);
  return r;
}

Test(tracker_store, first_peer_gets_nobody_and_counts)
{
  struct store *s = store_new();
  uint8_t a[6], out[600];
  addr4(a, 1, 6881);
  struct store_reply r = announce(s, H1, a, 0, STORE_EV_STARTED, 10, out, 50);
  cr_expect_eq(r.n4, 0);
  cr_expect_eq(r.counts.incomplete, 1);
  cr_expect_eq(r.counts.complete, 0);
  store_free(s);
}

Test(tracker_store, peers_in_compact_form_never_self)
{
  struct store *s = store_new();
  uint8_t a[6], b[6], c[6], out[600];
  addr4(a, 1, 6881);
  addr4(b, 2, 6882);
  addr4(c, 3, 6883);
  announce(s, H1, a, 0, STORE_EV_STARTED, 10, out, 50);
  announce(s, H1, b, 0, STORE_EV_STARTED, 10, out, 50);
  struct store_reply r = announce(s, H1, c, 0, STORE_EV_STARTED, 10, out, 50);
  cr_assert_eq(r.n4, 2);
  /* records are sorted by address: a then b, each exactly its 6 wire bytes */
  cr_expect(memcmp(out, a, 6) == 0);
  cr_expect(memcmp(out + 6, b, 6) == 0);
  cr_expect_eq(r.counts.incomplete, 3);
  /* the same peer again is an update, not a new peer */
  r = announce(s, H1, c, 0, STORE_EV_NONE, 11, out, 50);
  cr_expect_eq(r.counts.incomplete, 3);
  cr_expect_eq(r.n4, 2);
  for (uint32_t i = 0; i < r.n4; i++)
    cr_expect(memcmp(out + 6 * i, c, 6) != 0, "peer handed itself");
  store_free(s);
}

Test(tracker_store, seeders_get_no_seeders)
{
  struct store *s = store_new();
  uint8_t a[6], b[6], c[6], out[600];
  addr4(a, 1, 1);
  addr4(b, 2, 2);
  addr4(c, 3, 3);
  announce(s, H1, a, 1, STORE_EV_STARTED, 10, out, 50);  /* seeder */
  announce(s, H1, b, 0, STORE_EV_STARTED, 10, out, 50);  /* leecher */
  struct store_reply r = announce(s, H1, c, 1, STORE_EV_STARTED, 10, out, 50);
  cr_assert_eq(r.n4, 1);
  cr_expect(memcmp(out, b, 6) == 0, "a seeder must only see the leecher");
  cr_expect_eq(r.counts.complete, 2);
  cr_expect_eq(r.counts.incomplete, 1);
  store_free(s);
}

Test(tracker_store, stopped_removes_and_completed_counts_once)
{
  struct store *s = store_new();
  uint8_t a[6], b[6], out[600];
  addr4(a, 1, 1);
  addr4(b, 2, 2);
  announce(s, H1, a, 0, STORE_EV_STARTED, 10, out, 50);
  announce(s, H1, b, 0, STORE_EV_STARTED, 10, out, 50);
  struct store_reply r = announce(s, H1, a, 1, STORE_EV_COMPLETED, 11, out, 50);
  cr_expect_eq(r.counts.downloaded, 1);
  cr_expect_eq(r.counts.complete, 1);
  cr_expect_eq(r.counts.incomplete, 1);
  r = announce(s, H1, a, 1, STORE_EV_COMPLETED, 12, out, 50); /* a retry */
  cr_expect_eq(r.counts.downloaded, 1);
  r = announce(s, H1, b, 0, STORE_EV_STOPPED, 13, out, 50);
  cr_expect_eq(r.n4, 0, "stopped hands out nobody");
  cr_expect_eq(r.counts.incomplete, 0);
  struct store_counts c;
  cr_expect_eq(store_scrape(s, H1, &c), 1);
  cr_expect_eq(c.complete, 1);
  cr_expect_eq(c.downloaded, 1);
  store_free(s);
}

Test(tracker_store, numwant_caps_the_reply_and_rotates)
{
  struct store *s = store_new();
  uint8_t a[6], out[6 * 300];
  for (int i = 0; i < 100; i++) {
    addr4(a, (uint8_t)i, 1000);
    announce(s, H1, a, 0, STORE_EV_STARTED, 10, out, 0);
  }
  addr4(a, 200, 1);
  struct store_announce q = {.info_hash = H1, .family = STORE_V4, .addr = a, .now = 10,
                             .timeout = 100, .rnd = 0, .create = 1, .out4 = out, .max4 = 10};
  struct store_reply r;
  cr_assert_eq(store_announce(s, &q, &r), 0);
  cr_expect_eq(r.n4, 10);
  uint8_t first[6];
  memcpy(first, out, 6);
  q.rnd = 55;
  cr_assert_eq(store_announce(s, &q, &r), 0);
  cr_expect_eq(r.n4, 10);
  cr_expect(memcmp(first, out, 6) != 0, "another random start hands out other peers");
  store_free(s);
}

Test(tracker_store, expiry_drops_stale_peers_and_empty_torrents)
{
  struct store *s = store_new();
  uint8_t a[6], b[6], out[600];
  addr4(a, 1, 1);
  addr4(b, 2, 2);
  announce(s, H1, a, 0, STORE_EV_STARTED, 10, out, 50);
  announce(s, H2, b, 1, STORE_EV_STARTED, 100, out, 50);
  /* not handed out once stale, even before a sweep */
  addr4(a, 9, 9);
  struct store_reply r = announce(s, H1, a, 0, STORE_EV_STARTED, 200, out, 50);
  cr_expect_eq(r.n4, 0);
  cr_expect_eq(store_expire(s, 200, 100), 1); /* 10.0.0.1 of H1 */
  struct store_totals t;
  store_totals(s, &t);
  cr_expect_eq(t.torrents, 2);
  cr_expect_eq(t.peers, 2);
  cr_expect_eq(store_expire(s, 1000, 100), 2);
  store_totals(s, &t);
  cr_expect_eq(t.torrents, 0);
  cr_expect_eq(t.peers, 0);
  cr_expect_eq(t.seeders, 0);
  store_free(s);
}

Test(tracker_store, hosted_mode_refuses_unknown_torrents)
{
  struct store *s = store_new();
  uint8_t a[6], out[60];
  addr4(a, 1, 1);
  struct store_announce q = {.info_hash = H1, .family = STORE_V4, .addr = a, .now = 1,
                             .timeout = 100, .create = 0, .out4 = out, .max4 = 10};
  struct store_reply r;
  cr_expect_eq(store_announce(s, &q, &r), -ENOENT);
  struct store_counts c;
  cr_expect_eq(store_scrape(s, H1, &c), 0);
  store_free(s);
}

Test(tracker_store, ipv6_records_and_family_split)
{
  struct store *s = store_new();
  uint8_t v6[18] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1, [16] = 0x1a, [17] = 0xe1};
  uint8_t v4[6], o4[60], o6[180];
  addr4(v4, 1, 1);
  struct store_announce q = {.info_hash = H1, .family = STORE_V6, .addr = v6, .now = 1,
                             .timeout = 100, .create = 1, .out4 = o4, .out6 = o6, .max4 = 10,
                             .max6 = 10};
  struct store_reply r;
  cr_assert_eq(store_announce(s, &q, &r), 0);
  q.family = STORE_V4;
  q.addr = v4;
  cr_assert_eq(store_announce(s, &q, &r), 0);
  cr_expect_eq(r.n6, 1);
  cr_expect_eq(r.n4, 0);
  cr_expect(memcmp(o6, v6, 18) == 0);
  struct store_totals t;
  store_totals(s, &t);
  cr_expect_eq(t.peers, 2);
  cr_expect_eq(t.peers6, 1);
  store_free(s);
}

static int visit(void *ud, const uint8_t h[20], const struct store_counts *c)
{
  uint8_t (*prev)[20] = ud;
  cr_expect(memcmp(*prev, h, 20) < 0, "foreach yields sorted hashes");
  memcpy(*prev, h, 20);
  return 0;
}

Test(tracker_store, foreach_is_sorted_across_buckets)
{
  struct store *s = store_new();
  uint8_t a[6], out[60], h[20];
  addr4(a, 1, 1);
  for (int i = 0; i < 500; i++) {
    memset(h, 0, 20);
    h[0] = (uint8_t)(i * 37);
    h[1] = (uint8_t)(i * 91);
    h[18] = (uint8_t)(i >> 8);
    h[19] = (uint8_t)(i + 1); /* distinct, never all zeros: visit() starts at zero */
    announce(s, h, a, 0, STORE_EV_STARTED, 1, out, 0);
  }
  uint8_t prev[20] = {0};
  store_foreach(s, visit, &prev);
  struct store_totals t;
  store_totals(s, &t);
  cr_expect_eq(t.torrents, 500);
  cr_expect_eq(t.peers, 500);
  store_free(s);
}
