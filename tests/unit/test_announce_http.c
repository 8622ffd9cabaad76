/* HTTP tracker protocol: announce URLs byte for byte (BEP 3), replies in the
 * compact (BEP 23), dictionary (BEP 3) and IPv6 (BEP 7) models, failures,
 * warnings and garbage, and BEP 48 scrape URLs and replies. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "announce/ann_http.h"
#include "announce/announce.h"
#include "base/error.h"

static struct ann_req sample_req(void)
{
  struct ann_req q;
  memset(&q, 0, sizeof q);
  for (int i = 0; i < 20; i++)
    q.info_hash[i] = (uint8_t)(i * 13 + 0x7a); /* spans raw and escaped bytes */
  memcpy(q.peer_id, "-SH0010-abc.~_XYZ 12", 20);
  q.port = 6881;
  q.uploaded = 1;
  q.downloaded = 2;
  q.left = 12345678901ULL;
  q.key = 0xdeadbeef;
  q.numwant = 80;
  return q;
}

static char *url_of(const char *base, const struct ann_req *q)
{
  struct sh_buf b = SH_BUF_INIT;
  ann_http_announce_url(&b, base, q);
  cr_assert(!b.oom);
  return sh_buf_steal(&b, NULL);
}

Test(announce_http, escape_every_byte)
{
  uint8_t all[256];
  for (int i = 0; i < 256; i++)
    all[i] = (uint8_t)i;
  struct sh_buf b = SH_BUF_INIT;
  ann_http_escape(&b, all, 256);
  /* 66 unreserved bytes stay raw, the other 190 take 3 bytes each */
  cr_expect_eq(b.len, 66 + 190 * 3);
  sh_buf_reset(&b);
  ann_http_escape(&b, (const uint8_t *)"\x00\xff a-Z._~/%", 11);
  cr_expect(b.len == 21 && memcmp(b.data, "%00%FF%20a-Z._~%2F%25", 21) == 0, "%.*s", (int)b.len,
            b.data);
  sh_buf_free(&b);
}

Test(announce_http, url_started_byte_for_byte)
{
  struct ann_req q = sample_req();
  q.event = ANN_EV_STARTED;
  char *u = url_of("http://t.example:8080/announce", &q);
  cr_expect_str_eq(u, "http://t.example:8080/announce?info_hash=z%87%94%A1%AE%BB%C8%D5%E2%EF%FC"
                      "%09%16%230%3DJWdq&peer_id=-SH0010-abc.~_XYZ%2012&port=6881&uploaded=1"
                      "&downloaded=2&left=12345678901&compact=1&numwant=80&key=deadbeef"
                      "&event=started");
  free(u);
}

Test(announce_http, regular_announce_has_no_event_and_echoes_trackerid)
{
  struct ann_req q = sample_req();
  q.trackerid = "id 7&x";
  char *u = url_of("http://t/ann?passkey=abc", &q);
  cr_expect(strstr(u, "http://t/ann?passkey=abc&info_hash=") == u, "%s", u);
  cr_expect(strstr(u, "event=") == NULL);
  const char *tail = "&trackerid=id%207%26x";
  cr_expect_str_eq(u + strlen(u) - strlen(tail), tail);
  free(u);
}

Test(announce_http, fragment_is_cut_before_the_parameters)
{
  struct ann_req q = sample_req();
  char *u = url_of("http://t/announce#frag?x", &q);
  cr_expect(strncmp(u, "http://t/announce?info_hash=", 28) == 0, "%s", u);
  cr_expect(strchr(u, '#') == NULL, "%s", u);
  free(u);
  u = url_of("http://t/a?k=1#f", &q);
  cr_expect(strncmp(u, "http://t/a?k=1&info_hash=", 25) == 0, "%s", u);
  free(u);
}

Test(announce_http, query_ending_in_ampersand_gets_no_extra_separator)
{
  struct ann_req q = sample_req();
  q.event = ANN_EV_STOPPED;
  q.numwant = 0;
  char *u = url_of("http://t/a?x=1&", &q);
  cr_expect(strncmp(u, "http://t/a?x=1&info_hash=", 25) == 0, "%s", u);
  cr_expect(strstr(u, "&numwant=0&") != NULL);
  cr_expect(strstr(u, "&event=stopped") != NULL);
  free(u);
}

static int parse(const char *body, size_t len, struct ann_reply *r, char *err)
{
  return ann_http_parse((const uint8_t *)body, len, r, err, 256);
}
#define PARSE(lit, r, err) parse(lit, sizeof(lit) - 1, r, err)

static void expect_v4(const struct ann_reply *r, size_t i, const char *ip, uint16_t port)
{
  cr_assert(i < r->npeers);
  const struct sockaddr_in *a = (const struct sockaddr_in *)&r->peers[i];
  char s[INET_ADDRSTRLEN];
  cr_assert_eq(a->sin_family, AF_INET);
  inet_ntop(AF_INET, &a->sin_addr, s, sizeof s);
  cr_expect_str_eq(s, ip);
  cr_expect_eq(ntohs(a->sin_port), port);
}

static void expect_v6(const struct ann_reply *r, size_t i, const char *ip, uint16_t port)
{
  cr_assert(i < r->npeers);
  const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&r->peers[i];
  char s[INET6_ADDRSTRLEN];
  cr_assert_eq(a->sin6_family, AF_INET6);
  inet_ntop(AF_INET6, &a->sin6_addr, s, sizeof s);
  cr_expect_str_eq(s, ip);
  cr_expect_eq(ntohs(a->sin6_port), port);
}

Test(announce_http, compact_reply)
{
  struct ann_reply r;
  char err[256];
  int rc = PARSE("d8:completei5e10:incompletei3e8:intervali1800e12:min intervali60e"
                 "5:peers12:\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x50" "e",
                 &r, err);
  cr_assert_eq(rc, 0, "%s", err);
  cr_expect_eq(r.interval, 1800);
  cr_expect_eq(r.min_interval, 60);
  cr_expect_eq(r.complete, 5);
  cr_expect_eq(r.incomplete, 3);
  cr_assert_eq(r.npeers, 2);
  expect_v4(&r, 0, "127.0.0.1", 6881);
  expect_v4(&r, 1, "10.0.0.2", 80);
  cr_expect_eq(r.partial, 0);
  cr_expect_null(r.warning);
  ann_reply_free(&r);
}

Test(announce_http, trailing_partial_entry_is_dropped_with_flag)
{
  struct ann_reply r;
  char err[256];
  int rc = PARSE("d8:intervali900e5:peers10:\x01\x02\x03\x04\x00\x01\x05\x06\x07\x08" "e", &r, err);
  cr_assert_eq(rc, 0, "%s", err);
  cr_expect_eq(r.npeers, 1);
  expect_v4(&r, 0, "1.2.3.4", 1);
  cr_expect_eq(r.partial, 1);
  cr_expect_eq(r.dropped, 1);
  ann_reply_free(&r);
}

Test(announce_http, port_zero_peers_are_dropped)
{
  struct ann_reply r;
  char err[256];
  cr_assert_eq(PARSE("d5:peers12:\x01\x02\x03\x04\x00\x00\x05\x06\x07\x08\x00\x02" "e", &r, err), 0);
  cr_expect_eq(r.npeers, 1);
  expect_v4(&r, 0, "5.6.7.8", 2);
  cr_expect_eq(r.dropped, 1);
  ann_reply_free(&r);
}

Test(announce_http, dictionary_model_literals_only)
{
  struct ann_reply r;
  char err[256];
  int rc = PARSE("d8:intervali60e5:peersl"
                 "d2:ip9:127.0.0.17:peer id20:AAAAAAAAAAAAAAAAAAAA4:porti51413ee"
                 "d2:ip3:::14:porti7000ee"
                 "d2:ip11:example.org4:porti80ee"      /* hostname: never resolved */
                 "d2:ip7:1.2.3.44:porti0ee"            /* port 0 */
                 "d2:ip7:1.2.3.44:porti65536ee"        /* port out of range */
                 "d4:porti80ee"                        /* no ip */
                 "i5e"                                 /* not a dict */
                 "ee",
                 &r, err);
  cr_assert_eq(rc, 0, "%s", err);
  cr_assert_eq(r.npeers, 2);
  expect_v4(&r, 0, "127.0.0.1", 51413);
  expect_v6(&r, 1, "::1", 7000);
  cr_expect_eq(r.dropped, 5);
  ann_reply_free(&r);
}

Test(announce_http, peers6_and_partial)
{
  struct ann_reply r;
  char err[256];
  char body[128];
  uint8_t e[18] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x1a, 0xe1};
  e[15] = 1;
  int n = snprintf(body, sizeof body, "d5:peers0:6:peers621:");
  memcpy(body + n, e, 18);
  memcpy(body + n + 18, "\x01\x02\x03" "e", 4);
  cr_assert_eq(parse(body, (size_t)n + 22, &r, err), 0, "%s", err);
  cr_assert_eq(r.npeers, 1);
  expect_v6(&r, 0, "2001:db8::1", 6881);
  cr_expect_eq(r.partial, 1);
  ann_reply_free(&r);
}

Test(announce_http, failure_reason_wins)
{
  struct ann_reply r;
  char err[256];
  int rc = PARSE("d14:failure reason17:torrent not found8:intervali60e5:peers6:\x01\x02\x03\x04\x00\x01" "e",
                 &r, err);
  cr_expect_eq(rc, SH_ETRACKER);
  cr_expect_str_eq(err, "torrent not found");
  cr_expect_eq(r.npeers, 0);
  ann_reply_free(&r);
}

Test(announce_http, failure_reason_control_bytes_are_neutralised)
{
  struct ann_reply r;
  char err[256];
  cr_expect_eq(PARSE("d14:failure reason5:a\x1b[2Je", &r, err), SH_ETRACKER);
  cr_expect_str_eq(err, "a?[2J");
  ann_reply_free(&r);
}

Test(announce_http, warning_and_tracker_id)
{
  struct ann_reply r;
  char err[256];
  cr_assert_eq(PARSE("d8:intervali60e5:peers0:10:tracker id3:x y15:warning message4:slowe", &r,
                     err),
               0, "%s", err);
  cr_expect_str_eq(r.warning, "slow");
  cr_expect_str_eq(r.tracker_id, "x y");
  ann_reply_free(&r);
}

Test(announce_http, unsorted_keys_and_trailing_newline_are_tolerated)
{
  struct ann_reply r;
  char err[256];
  cr_assert_eq(PARSE("d8:intervali120e5:peers0:8:completei1ee\r\n", &r, err), 0, "%s", err);
  cr_expect_eq(r.interval, 120);
  cr_expect_eq(r.complete, 1);
  ann_reply_free(&r);
}

Test(announce_http, negative_and_huge_numbers)
{
  struct ann_reply r;
  char err[256];
  cr_assert_eq(PARSE("d8:completei-5e8:intervali99999999999e12:min intervali-1ee", &r, err), 0);
  cr_expect_eq(r.complete, -1);
  cr_expect_eq(r.interval, UINT32_MAX);
  cr_expect_eq(r.min_interval, 0);
  ann_reply_free(&r);
}

static void garbage(const char *body, size_t len, int code, const char *msg_part)
{
  struct ann_reply r;
  char err[256] = "";
  int rc = parse(body, len, &r, err);
  cr_expect_eq(rc, code, "'%.*s': rc %d", (int)len, body, rc);
  cr_expect(strstr(err, msg_part) != NULL, "'%.*s': message '%s'", (int)len, body, err);
  cr_expect_eq(r.npeers, 0);
  ann_reply_free(&r);
}
#define GARBAGE(lit, code, part) garbage(lit, sizeof(lit) - 1, code, part)

Test(announce_http, garbage_gets_a_clear_error)
{
  GARBAGE("", SH_EPROTO, "empty");
  GARBAGE("<html><body>502 Bad Gateway</body></html>", SH_EBENCODE, "HTML");
  GARBAGE("li1ee", SH_EPROTO, "not a bencoded dictionary");
  GARBAGE("d8:intervali60e", SH_EBENCODE, "not bencode");
  GARBAGE("d5:peersi5ee", SH_EPROTO, "\"peers\"");
  GARBAGE("de junk", SH_EBENCODE, "junk");
  GARBAGE("d5:peers99999999999:e", SH_EBENCODE, "not bencode");
}

Test(announce_http, peer_cap_bounds_memory)
{
  size_t n = ANN_MAX_PEERS + 10;
  size_t len = n * 6;
  char *body = malloc(len + 32);
  int h = sprintf(body, "d5:peers%zu:", len);
  for (size_t i = 0; i < n; i++)
    memcpy(body + h + 6 * i, "\x01\x02\x03\x04\x00\x07", 6);
  body[h + len] = 'e';
  struct ann_reply r;
  char err[256];
  cr_assert_eq(parse(body, (size_t)h + len + 1, &r, err), 0, "%s", err);
  cr_expect_eq(r.npeers, ANN_MAX_PEERS);
  cr_expect_eq(r.dropped, 10);
  ann_reply_free(&r);
  free(body);
}

static const uint8_t IH[20] = "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14";

static void scrape_url(const char *ann, const char *want)
{
  struct sh_buf b = SH_BUF_INIT;
  int rc = ann_http_scrape_url(&b, ann, IH);
  if (!want) {
    cr_expect_eq(rc, SH_EURL, "%s should not be scrapable", ann);
  } else {
    cr_assert_eq(rc, 0, "%s", ann);
    sh_buf_putc(&b, 0);
    cr_expect_str_eq((char *)b.data, want);
  }
  sh_buf_free(&b);
}

Test(announce_http, scrape_url_bep48_examples)
{
  const char *q = "info_hash=%01%02%03%04%05%06%07%08%09%0A%0B%0C%0D%0E%0F%10%11%12%13%14";
  char w[256];
  snprintf(w, sizeof w, "http://example.com/scrape?%s", q);
  scrape_url("http://example.com/announce", w);
  snprintf(w, sizeof w, "http://example.com/x/scrape?%s", q);
  scrape_url("http://example.com/x/announce", w);
  snprintf(w, sizeof w, "http://example.com/scrape.php?%s", q);
  scrape_url("http://example.com/announce.php", w);
  snprintf(w, sizeof w, "http://example.com/scrape?x2%%0644&%s", q);
  scrape_url("http://example.com/announce?x2%0644", w);
  scrape_url("http://example.com/a", NULL);
  /* BEP 48 looks for "announce" in the path only, so a '/' in the query
   * does not matter (the older wiki rule said otherwise) */
  snprintf(w, sizeof w, "http://example.com/scrape?x=2/4&%s", q);
  scrape_url("http://example.com/announce?x=2/4", w);
  scrape_url("http://example.com/x%064announce", NULL);
  scrape_url("http://example.com/x/announce/", NULL);
  scrape_url("http://announce.example.com", NULL);
  scrape_url("http://example.com", NULL);
}

Test(announce_http, scrape_reply_picks_our_torrent)
{
  char body[200];
  int n = sprintf(body, "d5:filesd20:");
  memcpy(body + n, "AAAAAAAAAAAAAAAAAAAA", 20);
  n += 20;
  n += sprintf(body + n, "d8:completei9ee20:");
  memcpy(body + n, IH, 20);
  n += 20;
  n += sprintf(body + n, "d8:completei5e10:downloadedi50e10:incompletei10eeee");
  struct sh_scrape_info s;
  char err[256];
  cr_assert_eq(ann_http_parse_scrape((uint8_t *)body, (size_t)n, IH, &s, err, sizeof err), 0,
               "%s", err);
  cr_expect_eq(s.seeders, 5);
  cr_expect_eq(s.completed, 50);
  cr_expect_eq(s.leechers, 10);
  cr_expect_eq(ann_http_parse_scrape((uint8_t *)"d5:filesdee", 11, IH, &s, err, sizeof err),
               SH_ETRACKER);
  cr_expect_eq(ann_http_parse_scrape((uint8_t *)"de", 2, IH, &s, err, sizeof err), SH_EPROTO);
  cr_expect_eq(ann_http_parse_scrape((uint8_t *)"d14:failure reason4:nopee", 25, IH, &s, err,
                                     sizeof err),
               SH_ETRACKER);
  cr_expect_str_eq(err, "nope");
}
