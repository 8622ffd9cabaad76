/* libFuzzer target: everything a tracker sends us. The first byte picks the
 * parser, the rest is the tracker's bytes:
 *   0  HTTP announce reply (ann_http_parse)
 *   1  HTTP scrape reply (ann_http_parse_scrape)
 *   2  UDP reply over IPv4, checked against each action with the tid it
 *      carries, then decoded
 *   3  the same over IPv6
 *   4  a tracker URL from a .torrent: udp:// split, BEP 48 scrape URL and
 *      the announce URL built on it (with itself as tracker id)
 * Invariants checked: peers hold no port 0 and never exceed ANN_MAX_PEERS;
 * messages are printable and NUL-terminated. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "announce/ann_http.h"
#include "announce/ann_udp.h"
#include "announce/announce.h"

static void check_printable(const char *s)
{
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
      abort();
}

static void check_reply(const struct ann_reply *r)
{
  if (r->npeers > ANN_MAX_PEERS)
    abort();
  for (size_t i = 0; i < r->npeers; i++) {
    const struct sockaddr_storage *a = &r->peers[i];
    uint16_t port = a->ss_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port
                                            : ((const struct sockaddr_in6 *)a)->sin6_port;
    if ((a->ss_family != AF_INET && a->ss_family != AF_INET6) || port == 0)
      abort();
  }
  if (r->warning)
    check_printable(r->warning);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  uint8_t mode = data[0] % 5;
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  char err[256];
  static const uint8_t ih[20] = "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a"
                                "\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14";
  if (mode == 0) {
    struct ann_reply r;
    err[0] = 0;
    int rc = ann_http_parse(p, n, &r, err, sizeof err);
    check_reply(&r);
    if (rc < 0)
      check_printable(err);
    ann_reply_free(&r);
  } else if (mode == 1) {
    struct sh_scrape_info s;
    err[0] = 0;
    if (ann_http_parse_scrape(p, n, ih, &s, err, sizeof err) < 0)
      check_printable(err);
  } else if (mode == 2 || mode == 3) {
    uint32_t tid = n >= 8 ? sh_rd32(p + 4) : 0;
    for (int act = 0; act <= 3; act++) {
      int rc = ann_udp_check(p, n, tid, (enum ann_udp_action)act, err, sizeof err);
      if (rc < 0) {
        check_printable(err);
        continue;
      }
      if (rc == 1)
        continue;
      if (act == ANN_UDP_CONNECT) {
        (void)ann_udp_connect_id(p);
      } else if (act == ANN_UDP_ANNOUNCE) {
        struct ann_reply r;
        if (ann_udp_announce_reply(p, n, mode == 3, &r) == 0)
          check_reply(&r);
        ann_reply_free(&r);
      } else if (act == ANN_UDP_SCRAPE) {
        struct sh_scrape_info s[4];
        size_t k = ann_udp_scrape_reply(p, n, s, 4);
        if (k != (n - 8) / 12)
          abort();
      }
    }
  } else {
    char *url = malloc(n + 1);
    if (!url)
      return 0;
    memcpy(url, p, n);
    url[n] = 0;
    char host[256];
    uint16_t port;
    const char *pq;
    if (ann_udp_parse_url(url, host, sizeof host, &port, &pq) == 0) {
      if (port == 0 || !host[0] || pq < url || pq > url + n)
        abort();
      uint8_t pkt[ANN_UDP_MAX_REQ];
      struct ann_req q;
      memset(&q, 0, sizeof q);
      if (ann_udp_announce_req(pkt, 1, 2, &q, pq) > ANN_UDP_MAX_REQ)
        abort();
    }
    struct sh_buf b = SH_BUF_INIT;
    ann_http_scrape_url(&b, url, ih);
    sh_buf_reset(&b);
    struct ann_req q;
    memset(&q, 0, sizeof q);
    q.trackerid = url;
    ann_http_announce_url(&b, url, &q);
    sh_buf_free(&b);
    free(url);
  }
  return 0;
}
