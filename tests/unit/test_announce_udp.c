/* UDP tracker protocol (BEP 15) packets byte for byte, reply validation,
 * the BEP 41 URLData option and udp:// URL splitting. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "announce/ann_udp.h"
#include "announce/announce.h"
#include "base/error.h"

static void expect_bytes(const uint8_t *got, size_t n, const char *hex)
{
  size_t want = strlen(hex) / 2;
  cr_assert_eq(n, want, "length %zu, expected %zu", n, want);
  for (size_t i = 0; i < n; i++) {
    unsigned b;
    sscanf(hex + 2 * i, "%2x", &b);
    cr_expect_eq(got[i], b, "byte %zu: %02x, expected %02x", i, got[i], b);
  }
}

Test(announce_udp, connect_request)
{
  uint8_t p[ANN_UDP_MAX_REQ];
  size_t n = ann_udp_connect_req(p, 0x01020304);
  expect_bytes(p, n, "0000041727101980" "00000000" "01020304");
}

static struct ann_req req(void)
{
  struct ann_req q;
  memset(&q, 0, sizeof q);
  memset(q.info_hash, 0xaa, 20);
  memset(q.peer_id, 0xbb, 20);
  q.downloaded = 0x1122334455667788ULL;
  q.left = 5;
  q.uploaded = 0x100000000ULL;
  q.event = ANN_EV_STARTED;
  q.key = 0xcafebabe;
  q.numwant = -1;
  q.port = 6881;
  return q;
}

Test(announce_udp, announce_request)
{
  uint8_t p[ANN_UDP_MAX_REQ];
  struct ann_req q = req();
  size_t n = ann_udp_announce_req(p, 0x8877665544332211ULL, 0xdeadbeef, &q, NULL);
  expect_bytes(p, n,
               "8877665544332211" "00000001" "deadbeef"
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
               "1122334455667788" "0000000000000005" "0000000100000000"
               "00000002" "00000000" "cafebabe" "ffffffff" "1ae1");
}

Test(announce_udp, announce_request_with_bep41_url_data)
{
  uint8_t p[ANN_UDP_MAX_REQ];
  struct ann_req q = req();
  size_t n = ann_udp_announce_req(p, 1, 2, &q, "/announce?x=1");
  cr_assert_eq(n, 98 + 2 + 13);
  cr_expect_eq(p[98], 2);
  cr_expect_eq(p[99], 13);
  cr_expect(memcmp(p + 100, "/announce?x=1", 13) == 0);

  char path[600];
  memset(path, 'a', sizeof path);
  path[0] = '/';
  path[599] = 0;
  n = ann_udp_announce_req(p, 1, 2, &q, path);
  /* 599 bytes: chunks of 255, 255 and 89, each with a 2-byte header */
  cr_assert_eq(n, 98 + 599 + 6);
  cr_expect(p[98] == 2 && p[99] == 255 && p[98 + 257] == 2 && p[98 + 258] == 255);
  cr_expect(p[98 + 514] == 2 && p[98 + 515] == 89);

  char huge[3000];
  memset(huge, 'b', sizeof huge);
  huge[2999] = 0;
  n = ann_udp_announce_req(p, 1, 2, &q, huge);
  cr_expect(n <= ANN_UDP_MAX_REQ, "%zu", n);
  cr_expect_eq(n, 98 + 1024 + 10);
}

Test(announce_udp, scrape_request)
{
  uint8_t p[ANN_UDP_MAX_REQ];
  uint8_t h[2][20];
  memset(h[0], 0x11, 20);
  memset(h[1], 0x22, 20);
  size_t n = ann_udp_scrape_req(p, 0x0102030405060708ULL, 7, (const uint8_t(*)[20])h, 2);
  expect_bytes(p, n, "0102030405060708" "00000002" "00000007"
                     "1111111111111111111111111111111111111111"
                     "2222222222222222222222222222222222222222");
}

static size_t hexpkt(uint8_t *p, const char *hex)
{
  size_t n = strlen(hex) / 2;
  for (size_t i = 0; i < n; i++) {
    unsigned b;
    sscanf(hex + 2 * i, "%2x", &b);
    p[i] = (uint8_t)b;
  }
  return n;
}

Test(announce_udp, connect_reply)
{
  uint8_t p[64];
  char msg[256];
  size_t n = hexpkt(p, "00000000" "01020304" "a1a2a3a4a5a6a7a8");
  cr_assert_eq(ann_udp_check(p, n, 0x01020304, ANN_UDP_CONNECT, msg, sizeof msg), 0);
  cr_expect_eq(ann_udp_connect_id(p), 0xa1a2a3a4a5a6a7a8ULL);
  /* another transaction: not ours */
  cr_expect_eq(ann_udp_check(p, n, 0x01020305, ANN_UDP_CONNECT, msg, sizeof msg), 1);
  /* too short to hold a transaction id: not ours either */
  cr_expect_eq(ann_udp_check(p, 7, 0x01020304, ANN_UDP_CONNECT, msg, sizeof msg), 1);
  /* ours but truncated */
  cr_expect_eq(ann_udp_check(p, 15, 0x01020304, ANN_UDP_CONNECT, msg, sizeof msg), SH_EPROTO);
  cr_expect(strstr(msg, "15 bytes") != NULL, "%s", msg);
  /* ours but the wrong action */
  cr_expect_eq(ann_udp_check(p, n, 0x01020304, ANN_UDP_ANNOUNCE, msg, sizeof msg), SH_EPROTO);
  cr_expect_str_eq(msg, "connect reply (action 0) to a announce request");
}

Test(announce_udp, announce_reply_ipv4)
{
  uint8_t p[64];
  char msg[256];
  size_t n = hexpkt(p, "00000001" "00000009" "00000708" "00000003" "00000004"
                       "7f0000011ae1" "0a0000020000" "01020304"); /* port 0, then partial */
  cr_assert_eq(ann_udp_check(p, n, 9, ANN_UDP_ANNOUNCE, msg, sizeof msg), 0);
  struct ann_reply r;
  cr_assert_eq(ann_udp_announce_reply(p, n, 0, &r), 0);
  cr_expect_eq(r.interval, 1800);
  cr_expect_eq(r.incomplete, 3);
  cr_expect_eq(r.complete, 4);
  cr_assert_eq(r.npeers, 1);
  const struct sockaddr_in *a = (const struct sockaddr_in *)&r.peers[0];
  cr_expect_eq(a->sin_family, AF_INET);
  cr_expect_eq(ntohl(a->sin_addr.s_addr), 0x7f000001);
  cr_expect_eq(ntohs(a->sin_port), 6881);
  cr_expect_eq(r.partial, 1);
  cr_expect_eq(r.dropped, 2);
  ann_reply_free(&r);
  /* 19 bytes: shorter than the 20 BEP 15 promises */
  cr_expect_eq(ann_udp_check(p, 19, 9, ANN_UDP_ANNOUNCE, msg, sizeof msg), SH_EPROTO);
}

Test(announce_udp, announce_reply_ipv6)
{
  uint8_t p[64];
  size_t n = hexpkt(p, "00000001" "00000009" "0000003c" "00000000" "00000001"
                       "20010db8000000000000000000000001" "1ae1");
  struct ann_reply r;
  cr_assert_eq(ann_udp_announce_reply(p, n, 1, &r), 0);
  cr_assert_eq(r.npeers, 1);
  const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&r.peers[0];
  cr_expect_eq(a->sin6_family, AF_INET6);
  char s[64];
  inet_ntop(AF_INET6, &a->sin6_addr, s, sizeof s);
  cr_expect_str_eq(s, "2001:db8::1");
  cr_expect_eq(ntohs(a->sin6_port), 6881);
  cr_expect_eq(r.partial, 0);
  ann_reply_free(&r);
  /* the same 18 bytes read as IPv4 are three 6-byte entries, two of them
   * with port 0: the family of the socket decides the stride (BEP 15) */
  cr_assert_eq(ann_udp_announce_reply(p, n, 0, &r), 0);
  cr_expect_eq(r.npeers, 1);
  cr_expect_eq(r.dropped, 2);
  cr_expect_eq(r.partial, 0);
  ann_reply_free(&r);
}

Test(announce_udp, scrape_reply)
{
  uint8_t p[64];
  char msg[256];
  size_t n = hexpkt(p, "00000002" "00000005" "0000000a" "00000014" "0000001e" "0000");
  cr_assert_eq(ann_udp_check(p, n, 5, ANN_UDP_SCRAPE, msg, sizeof msg), 0);
  struct sh_scrape_info s[2];
  cr_expect_eq(ann_udp_scrape_reply(p, n, s, 2), 1);
  cr_expect_eq(s[0].seeders, 10);
  cr_expect_eq(s[0].completed, 20);
  cr_expect_eq(s[0].leechers, 30);
  cr_expect_eq(ann_udp_scrape_reply(p, 8, s, 2), 0);
}

Test(announce_udp, error_reply)
{
  uint8_t p[64];
  char msg[256];
  size_t n = hexpkt(p, "00000003" "00000005");
  memcpy(p + n, "bad \x01info_hash", 14);
  n += 14;
  cr_expect_eq(ann_udp_check(p, n, 5, ANN_UDP_ANNOUNCE, msg, sizeof msg), SH_ETRACKER);
  cr_expect_str_eq(msg, "bad ?info_hash");
  cr_expect_eq(ann_udp_check(p, 8, 5, ANN_UDP_CONNECT, msg, sizeof msg), SH_ETRACKER);
  cr_expect_str_eq(msg, "(error without a message)");
  cr_expect_eq(ann_udp_check(p, n, 6, ANN_UDP_CONNECT, msg, sizeof msg), 1);
}

Test(announce_udp, url_split)
{
  char host[256];
  uint16_t port = 0;
  const char *pq = NULL;
  cr_assert_eq(ann_udp_parse_url("udp://tracker.example:6969/announce?k=v", host, sizeof host,
                                 &port, &pq), 0);
  cr_expect_str_eq(host, "tracker.example");
  cr_expect_eq(port, 6969);
  cr_expect_str_eq(pq, "/announce?k=v");
  cr_assert_eq(ann_udp_parse_url("UDP://[::1]:80", host, sizeof host, &port, &pq), 0);
  cr_expect_str_eq(host, "::1");
  cr_expect_eq(port, 80);
  cr_expect_str_eq(pq, "");
  const char *bad[] = {"udp://host/announce", "udp://host:0/", "udp://host:65536",
                       "udp://:80", "udp://[::1]/x", "udp://host:8x0", "http://host:80",
                       "udp://[::1:80"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    cr_expect_eq(ann_udp_parse_url(bad[i], host, sizeof host, &port, &pq), SH_EURL, "%s", bad[i]);
  /* found by fuzz_announce: a control byte in the host and a fragment */
  cr_expect_eq(ann_udp_parse_url("udp://t\004:6969#6/on", host, sizeof host, &port, &pq),
               SH_EURL);
  const char *frag = "udp://t:6969#6/on";
  cr_assert_eq(ann_udp_parse_url(frag, host, sizeof host, &port, &pq), 0);
  cr_expect_str_eq(pq, "");
  cr_expect(pq > frag && pq <= frag + strlen(frag), "path points into the URL");
  char tiny[4];
  cr_expect_eq(ann_udp_parse_url("udp://longhost:1", tiny, sizeof tiny, &port, &pq), SH_EURL);
}
