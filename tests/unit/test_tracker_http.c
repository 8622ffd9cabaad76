/* HTTP tracker protocol: the announce query rules, the reply models of
 * BEP 3 (dictionary), BEP 23 (compact) and BEP 7 (peers6), and BEP 48 scrape
 * replies, all checked byte for byte. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "base/bencode.h"
#include "tracker/query.h"
#include "tracker/tracker.h"

/* "%01%02..." : the info-hash 01 02 03 00 .. 00 percent-encoded */
#define IH "%01%02%03%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00"
#define PID "-SH0001-abcdefghijkl"
#define BASE "info_hash=" IH "&peer_id=" PID "&uploaded=0&downloaded=0"

static struct tracker T;
static struct tracker_addr A1 = {STORE_V4, {127, 0, 0, 1}};
static struct tracker_addr A2 = {STORE_V4, {127, 0, 0, 2}};
static struct tracker_addr A6 = {STORE_V6, {0x20, 0x01, 0x0d, 0xb8, [15] = 7}};

static void setup(void)
{
  struct tracker_config c;
  tracker_config_defaults(&c);
  c.interval = 60;
  c.min_interval = 30;
  cr_assert_eq(tracker_init(&T, &c), 0);
}
static void teardown(void) { tracker_destroy(&T); }

static char *announce(const char *q, const struct tracker_addr *a, struct sh_buf *b)
{
  sh_buf_reset(b);
  tracker_http_announce(&T, q, strlen(q), a, 1000, 0, b);
  sh_buf_putc(b, 0);
  return (char *)b->data;
}

static void expect_failure(const char *q, const char *why)
{
  struct sh_buf b = SH_BUF_INIT;
  char want[256];
  snprintf(want, sizeof want, "d14:failure reason%zu:%se", strlen(why), why);
  cr_expect_str_eq(announce(q, &A1, &b), want, "query '%s'", q);
  sh_buf_free(&b);
}

TestSuite(tracker_http, .init = setup, .fini = teardown);

Test(tracker_http, parse_all_fields)
{
  struct query_announce q;
  const char *why = NULL;
  const char *s = BASE "&port=6881&left=123&event=started&numwant=20&compact=1&no_peer_id=1"
                       "&key=DEADBEEF&trackerid=abc&supportcrypto=1";
  cr_assert_eq(query_parse_announce(s, strlen(s), &q, &why), 0, "%s", why);
  uint8_t ih[20] = {1, 2, 3};
  cr_expect(memcmp(q.info_hash, ih, 20) == 0);
  cr_expect(memcmp(q.peer_id, PID, 20) == 0);
  cr_expect_eq(q.port, 6881);
  cr_expect_eq(q.left, 123);
  cr_expect_eq(q.event, STORE_EV_STARTED);
  cr_expect_eq(q.numwant, 20);
  cr_expect_eq(q.compact, 1);
  cr_expect_eq(q.no_peer_id, 1);
  cr_expect_eq(q.has_key, 1);
  cr_expect_eq(q.key, 0xDEADBEEF);
  cr_expect_eq(q.trackerid_len, 3);
}

Test(tracker_http, bad_queries_get_named_failures)
{
  expect_failure("", "missing info_hash");
  expect_failure("info_hash=abc&peer_id=" PID "&port=1&left=0", "info_hash is not 20 bytes");
  expect_failure("info_hash=" IH "&port=1&left=0", "missing peer_id");
  expect_failure("info_hash=" IH "&peer_id=short&port=1&left=0", "peer_id is not 20 bytes");
  expect_failure(BASE "&left=0", "missing port");
  expect_failure(BASE "&port=0&left=0", "port is not a number from 1 to 65535");
  expect_failure(BASE "&port=65536&left=0", "port is not a number from 1 to 65535");
  expect_failure(BASE "&port=12x&left=0", "port is not a number from 1 to 65535");
  expect_failure(BASE "&port=1", "missing left");
  expect_failure(BASE "&port=1&left=-5", "left is not a non-negative number");
  expect_failure(BASE "&port=1&left=0&event=paused", "event is not one of started, completed, stopped, empty");
  expect_failure(BASE "&port=1&left=0&port=2", "repeated parameter port");
  expect_failure(BASE "&port=1&left=0&info_hash=" IH, "repeated parameter info_hash");
  expect_failure(BASE "&port=1&left=0&compact=2", "compact is not 0 or 1");
  expect_failure(BASE "&port=1&left=0&numwant=ten", "numwant is not a number");
  /* a bad %-escape is a failure whatever the parameter (docs/tracker.md),
   * named: a trailing '%' or "%4" was once taken as text */
  expect_failure("info_hash=%zz" IH "&peer_id=" PID "&port=1&left=0",
                 "info_hash: bad %-escape, or too long");
  expect_failure(BASE "&port=1&left=0&key=12%", "key: bad %-escape, or too long");
  expect_failure(BASE "&port=1&left=0&key=12%4", "key: bad %-escape, or too long");
  expect_failure(BASE "&port=1&left=0&no_peer_id=%", "no_peer_id: bad %-escape, or too long");
  expect_failure(BASE "&port=1&left=0&trackerid=x%4", "trackerid: bad %-escape, or too long");
  expect_failure(BASE "&port=1%&left=0", "port: bad %-escape, or too long");
}

Test(tracker_http, compact_reply_bytes)
{
  struct sh_buf b = SH_BUF_INIT;
  cr_expect_str_eq(announce(BASE "&port=6881&left=10&event=started", &A1, &b),
                   "d8:completei0e10:incompletei1e8:intervali60e12:min intervali30e5:peers0:e");
  /* second peer: gets the first one as 6 bytes 127.0.0.1:6881 (0x1ae1) */
  announce(BASE "&port=6882&left=0", &A2, &b);
  const char want[] = "d8:completei1e10:incompletei1e8:intervali60e12:min intervali30e"
                      "5:peers6:\x7f\x00\x00\x01\x1a\xe1" "e";
  cr_expect_eq(b.len - 1, sizeof want - 1);
  cr_expect(memcmp(b.data, want, sizeof want - 1) == 0);
  sh_buf_free(&b);
}

Test(tracker_http, dictionary_model_when_compact_0)
{
  struct sh_buf b = SH_BUF_INIT;
  announce(BASE "&port=6881&left=10", &A1, &b);
  cr_expect_str_eq(announce(BASE "&port=7000&left=10&compact=0", &A2, &b),
                   "d8:completei0e10:incompletei2e8:intervali60e12:min intervali30e"
                   "5:peersld2:ip9:127.0.0.14:porti6881eeee");
  sh_buf_free(&b);
}

Test(tracker_http, numwant_zero_and_a_billion)
{
  struct sh_buf b = SH_BUF_INIT;
  announce(BASE "&port=6881&left=10", &A1, &b);
  cr_expect_str_eq(announce(BASE "&port=7000&left=10&numwant=0", &A2, &b),
                   "d8:completei0e10:incompletei2e8:intervali60e12:min intervali30e5:peers0:e");
  announce(BASE "&port=7000&left=10&numwant=1000000000", &A2, &b);
  cr_expect(strstr((char *)b.data, "5:peers6:") != NULL, "a billion is clipped, not refused");
  const char *w = "15:warning message25:numwant is limited to 200e";
  cr_expect(b.len > strlen(w) + 1 && memcmp(b.data + b.len - 1 - strlen(w), w, strlen(w)) == 0,
            "and the client is told, in the last key");
  announce(BASE "&port=7000&left=10&numwant=200", &A2, &b);
  cr_expect(memmem(b.data, b.len, "warning", 7) == NULL, "no warning at the limit");
  announce(BASE "&port=7000&left=10&numwant=99999999999999999999999", &A2, &b);
  cr_expect(strstr((char *)b.data, "5:peers6:") != NULL);
  sh_buf_free(&b);
}

Test(tracker_http, ipv6_peers_go_in_peers6)
{
  struct sh_buf b = SH_BUF_INIT;
  announce(BASE "&port=6881&left=10", &A6, &b);
  announce(BASE "&port=6882&left=10", &A1, &b);
  const char want[] = "d8:completei0e10:incompletei2e8:intervali60e12:min intervali30e"
                      "5:peers0:6:peers618:\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x07\x1a\xe1" "e";
  cr_expect_eq(b.len - 1, sizeof want - 1);
  cr_expect(memcmp(b.data, want, sizeof want - 1) == 0);
  sh_buf_free(&b);
}

Test(tracker_http, ip_parameter_only_when_trusted)
{
  struct sh_buf b = SH_BUF_INIT;
  announce(BASE "&port=6881&left=10&ip=10.1.2.3", &A1, &b);
  announce(BASE "&port=6882&left=10", &A2, &b);
  cr_expect(memmem(b.data, b.len, "\x7f\x00\x00\x01\x1a\xe1", 6) != NULL, "ip ignored by default");
  T.cfg.trust_ip_param = 1;
  announce(BASE "&port=6883&left=10&ip=10.1.2.3", &A1, &b);
  announce(BASE "&port=6884&left=10", &A2, &b);
  cr_expect(memmem(b.data, b.len, "\x0a\x01\x02\x03\x1a\xe3", 6) != NULL, "trusted ip used");
  sh_buf_free(&b);
}

Test(tracker_http, hosted_mode_and_blocklist)
{
  uint8_t h[20] = {1, 2, 3};
  T.cfg.hosted_only = 1;
  expect_failure(BASE "&port=1&left=0", "torrent is not hosted on this tracker");
  policy_add_hosted(T.policy, h);
  struct sh_buf b = SH_BUF_INIT;
  cr_expect(strncmp(announce(BASE "&port=1&left=0", &A1, &b), "d8:complete", 11) == 0);
  policy_set_blocked(T.policy, (const uint8_t(*)[20])h, 1);
  expect_failure(BASE "&port=1&left=0", "torrent is blocked on this tracker");
  sh_buf_free(&b);
}

static char *scrape(const char *q, struct sh_buf *b)
{
  sh_buf_reset(b);
  tracker_http_scrape(&T, q, q ? strlen(q) : 0, b);
  sh_buf_putc(b, 0);
  return (char *)b->data;
}

Test(tracker_http, bep48_scrape_bytes)
{
  struct sh_buf b = SH_BUF_INIT;
  announce(BASE "&port=6881&left=10", &A1, &b);
  announce(BASE "&port=6882&left=0&event=completed", &A2, &b);
  const char want[] = "d5:filesd20:\x01\x02\x03\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                      "d8:completei1e10:downloadedi1e10:incompletei1eeee";
  scrape("info_hash=" IH, &b);
  cr_expect_eq(b.len - 1, sizeof want - 1);
  cr_expect(memcmp(b.data, want, sizeof want - 1) == 0);
  /* full scrape: same single torrent */
  scrape(NULL, &b);
  cr_expect(memcmp(b.data, want, sizeof want - 1) == 0);
  /* an unknown hash is left out (BEP 48), the known one stays */
  scrape("info_hash=" IH "&info_hash=%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff",
         &b);
  cr_expect_eq(b.len - 1, sizeof want - 1);
  cr_expect(memcmp(b.data, want, sizeof want - 1) == 0);
  cr_expect_str_eq(scrape("info_hash=%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff%ff", &b),
                   "d5:filesdee");
  sh_buf_free(&b);
}

Test(tracker_http, scrape_limits)
{
  struct sh_buf b = SH_BUF_INIT;
  cr_expect_str_eq(scrape("info_hash=abc", &b), "d14:failure reason25:info_hash is not 20 bytese");
  T.cfg.full_scrape = 0;
  cr_expect_str_eq(scrape("", &b), "d14:failure reason58:full scrape is disabled on this "
                                   "tracker; name an info_hash" "e");
  /* 10,000 hashes are refused with a reason, not served */
  struct sh_buf q = SH_BUF_INIT;
  for (int i = 0; i < 10000; i++)
    sh_buf_printf(&q, "%sinfo_hash=%%%02x%%%02x" "%%00%%00%%00%%00%%00%%00%%00%%00%%00%%00"
                      "%%00%%00%%00%%00%%00%%00%%00%%00", i ? "&" : "", i & 255, i >> 8);
  sh_buf_putc(&q, 0);
  cr_expect_str_eq(scrape((char *)q.data, &b),
                   "d14:failure reason43:too many info_hash parameters in one scrapee");
  sh_buf_free(&q);
  sh_buf_free(&b);
}

Test(tracker_http, stopped_removes_peer)
{
  struct sh_buf b = SH_BUF_INIT;
  announce(BASE "&port=6881&left=10", &A1, &b);
  cr_expect_str_eq(announce(BASE "&port=6881&left=10&event=stopped", &A1, &b),
                   "d8:completei0e10:incompletei0e8:intervali60e12:min intervali30e5:peers0:e");
  sh_buf_free(&b);
}

Test(tracker_http, plus_is_a_space_in_queries)
{
  /* the hash 20 00 .. 00 written with '+' (form encoding) and with %20 */
  struct sh_buf b = SH_BUF_INIT;
  const char *plus = "info_hash=+%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00"
                     "&peer_id=" PID "&port=1&left=0";
  announce(plus, &A1, &b);
  scrape("info_hash=%20%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00", &b);
  const char want[] = "d5:filesd20:\x20\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                      "d8:completei1e10:downloadedi0e10:incompletei0eeee";
  cr_expect_eq(b.len - 1, sizeof want - 1);
  cr_expect(memcmp(b.data, want, sizeof want - 1) == 0, "'+' decoded as a space");
  sh_buf_free(&b);
}
