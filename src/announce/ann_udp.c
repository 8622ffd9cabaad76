#include "announce/ann_udp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "announce/announce.h"
#include "base/buf.h"
#include "base/error.h"

int ann_udp_parse_url(const char *url, char *host, size_t hostlen, uint16_t *port,
                      const char **path_query)
{
  if (strncasecmp(url, "udp://", 6) != 0)
    return SH_EURL;
  const char *h = url + 6, *he;
  if (*h == '[') {
    he = strchr(h, ']');
    if (!he || he[1] != ':')
      return SH_EURL;
    h++;
  } else {
    he = h + strcspn(h, ":/?#");
    if (*he != ':')
      return SH_EURL;
  }
  size_t hl = (size_t)(he - h);
  if (hl == 0 || hl >= hostlen)
    return SH_EURL;
  for (size_t i = 0; i < hl; i++)
    if ((unsigned char)h[i] <= 0x20 || (unsigned char)h[i] >= 0x7f)
      return SH_EURL;
  memcpy(host, h, hl);
  host[hl] = 0;
  const char *p = strchr(he, ':') + 1;
  unsigned long v = 0;
  size_t nd = 0;
  for (; p[nd] >= '0' && p[nd] <= '9'; nd++) {
    v = v * 10 + (unsigned long)(p[nd] - '0');
    if (v > 65535)
      return SH_EURL;
  }
  if (nd == 0 || v == 0 || (p[nd] && p[nd] != '/' && p[nd] != '?' && p[nd] != '#'))
    return SH_EURL;
  *port = (uint16_t)v;
  /* a fragment is never sent: it leaves an empty path (pointing at the end
   * of url, so the result always lies inside the caller's string) */
  *path_query = p[nd] == '#' ? p + nd + strlen(p + nd) : p + nd;
  return 0;
}

size_t ann_udp_connect_req(uint8_t *out, uint32_t tid)
{
  sh_wr64(out, ANN_UDP_PROTOCOL_ID);
  sh_wr32(out + 8, ANN_UDP_CONNECT);
  sh_wr32(out + 12, tid);
  return ANN_UDP_CONNECT_LEN;
}

size_t ann_udp_announce_req(uint8_t *out, uint64_t conn_id, uint32_t tid,
                            const struct ann_req *q, const char *path_query)
{
  sh_wr64(out, conn_id);
  sh_wr32(out + 8, ANN_UDP_ANNOUNCE);
  sh_wr32(out + 12, tid);
  memcpy(out + 16, q->info_hash, 20);
  memcpy(out + 36, q->peer_id, 20);
  sh_wr64(out + 56, q->downloaded);
  sh_wr64(out + 64, q->left);
  sh_wr64(out + 72, q->uploaded);
  sh_wr32(out + 80, (uint32_t)q->event);
  sh_wr32(out + 84, 0); /* IP address: 0 = the packet's source (BEP 15) */
  sh_wr32(out + 88, q->key);
  sh_wr32(out + 92, (uint32_t)q->numwant);
  sh_wr16(out + 96, q->port);
  size_t len = ANN_UDP_ANNOUNCE_LEN;
  size_t pl = path_query ? strlen(path_query) : 0;
  if (pl > 1024)
    pl = 1024;
  /* BEP 41 option 2 (URLData): the path and query in chunks of at most 255
   * bytes, concatenated by the tracker in order */
  for (size_t off = 0; off < pl;) {
    size_t c = pl - off > 255 ? 255 : pl - off;
    out[len++] = 2;
    out[len++] = (uint8_t)c;
    memcpy(out + len, path_query + off, c);
    len += c;
    off += c;
  }
  return len;
}

size_t ann_udp_scrape_req(uint8_t *out, uint64_t conn_id, uint32_t tid,
                          const uint8_t (*hashes)[20], size_t n)
{
  if (n > ANN_UDP_MAX_SCRAPE)
    n = ANN_UDP_MAX_SCRAPE;
  sh_wr64(out, conn_id);
  sh_wr32(out + 8, ANN_UDP_SCRAPE);
  sh_wr32(out + 12, tid);
  for (size_t i = 0; i < n; i++)
    memcpy(out + 16 + 20 * i, hashes[i], 20);
  return 16 + 20 * n;
}

static const char *action_name(uint32_t a)
{
  switch (a) {
  case ANN_UDP_CONNECT: return "connect";
  case ANN_UDP_ANNOUNCE: return "announce";
  case ANN_UDP_SCRAPE: return "scrape";
  case ANN_UDP_ERROR: return "error";
  default: return "unknown";
  }
}

int ann_udp_check(const uint8_t *p, size_t n, uint32_t tid, enum ann_udp_action want,
                  char *msg, size_t msglen)
{
  if (n < 8 || sh_rd32(p + 4) != tid)
    return 1;
  uint32_t action = sh_rd32(p);
  if (action == ANN_UDP_ERROR) {
    char *txt = ann_sanitize(p + 8, n - 8);
    snprintf(msg, msglen, "%s", txt && txt[0] ? txt : "(error without a message)");
    free(txt);
    return SH_ETRACKER;
  }
  if (action != (uint32_t)want) {
    snprintf(msg, msglen, "%s reply (action %u) to a %s request", action_name(action),
             (unsigned)action, action_name(want));
    return SH_EPROTO;
  }
  /* minimum lengths from BEP 15: connect 16, announce 20, scrape 8 */
  size_t min = want == ANN_UDP_CONNECT ? 16 : want == ANN_UDP_ANNOUNCE ? 20 : 8;
  if (n < min) {
    snprintf(msg, msglen, "%s reply of %zu bytes, at least %zu expected", action_name(want), n,
             min);
    return SH_EPROTO;
  }
  return 0;
}

uint64_t ann_udp_connect_id(const uint8_t *p) { return sh_rd64(p + 8); }

int ann_udp_announce_reply(const uint8_t *p, size_t n, int ipv6, struct ann_reply *r)
{
  ann_reply_init(r);
  r->interval = sh_rd32(p + 8);
  r->incomplete = sh_rd32(p + 12);
  r->complete = sh_rd32(p + 16);
  /* n >= 20: ann_udp_check saw to it. BEP 15: the entries' size follows
   * the transport the request went over. */
  return ann_reply_add_compact(r, p + 20, n - 20, ipv6 ? 6 : 4);
}

size_t ann_udp_scrape_reply(const uint8_t *p, size_t n, struct sh_scrape_info *s, size_t max)
{
  size_t k = 0;
  for (size_t i = 8; i + 12 <= n; i += 12, k++) {
    if (k < max) {
      s[k].seeders = sh_rd32(p + i);
      s[k].completed = sh_rd32(p + i + 4);
      s[k].leechers = sh_rd32(p + i + 8);
    }
  }
  return k;
}
