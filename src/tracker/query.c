/* Announce and scrape query parsing; see query.h for the rules. */
#include "base/sha1.h"
#include "tracker/query.h"

#include <string.h>

#include "net/url.h"

enum {
  SEEN_INFO_HASH = 1 << 0, SEEN_PEER_ID = 1 << 1, SEEN_PORT = 1 << 2, SEEN_UPLOADED = 1 << 3,
  SEEN_DOWNLOADED = 1 << 4, SEEN_LEFT = 1 << 5, SEEN_EVENT = 1 << 6, SEEN_NUMWANT = 1 << 7,
  SEEN_COMPACT = 1 << 8, SEEN_NO_PEER_ID = 1 << 9, SEEN_KEY = 1 << 10, SEEN_IP = 1 << 11,
  SEEN_TRACKERID = 1 << 12,
};

/* Decimal, no sign, no spaces, at most 2^63 - 1: every counter in BEP 3 fits. */
static int parse_u63(const uint8_t *s, long n, uint64_t *out)
{
  if (n <= 0 || n > 19)
    return -1;
  uint64_t v = 0;
  for (long i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = v;
  return 0;
}

static int parse_i63(const uint8_t *s, long n, int64_t *out)
{
  uint64_t v;
  if (n > 0 && s[0] == '-') {
    if (parse_u63(s + 1, n - 1, &v) < 0)
      return -1;
    *out = -(int64_t)v;
    return 0;
  }
  if (parse_u63(s, n, &v) < 0)
    return -1;
  *out = (int64_t)v;
  return 0;
}

#define FAIL(msg)                                                             \
  do {                                                                        \
    *why = (msg);                                                             \
    return -1;                                                                \
  } while (0)

int query_parse_announce(const char *q, size_t n, struct query_announce *a, const char **why)
{
  memset(a, 0, sizeof *a);
  a->numwant = -1;
  a->compact = -1;
  unsigned seen = 0;
  size_t pos = 0;
  struct url_kv kv;
  uint8_t v[128];
  if (!q)
    FAIL("missing info_hash");
  while (url_query_next(q, n, &pos, &kv)) {
    unsigned bit;
    if (url_key_is(&kv, "info_hash"))
      bit = SEEN_INFO_HASH;
    else if (url_key_is(&kv, "peer_id"))
      bit = SEEN_PEER_ID;
    else if (url_key_is(&kv, "port"))
      bit = SEEN_PORT;
    else if (url_key_is(&kv, "uploaded"))
      bit = SEEN_UPLOADED;
    else if (url_key_is(&kv, "downloaded"))
      bit = SEEN_DOWNLOADED;
    else if (url_key_is(&kv, "left"))
      bit = SEEN_LEFT;
    else if (url_key_is(&kv, "event"))
      bit = SEEN_EVENT;
    else if (url_key_is(&kv, "numwant"))
      bit = SEEN_NUMWANT;
    else if (url_key_is(&kv, "compact"))
      bit = SEEN_COMPACT;
    else if (url_key_is(&kv, "no_peer_id"))
      bit = SEEN_NO_PEER_ID;
    else if (url_key_is(&kv, "key"))
      bit = SEEN_KEY;
    else if (url_key_is(&kv, "ip"))
      bit = SEEN_IP;
    else if (url_key_is(&kv, "trackerid"))
      bit = SEEN_TRACKERID;
    else
      continue;
    if (seen & bit) {
      /* A repeated parameter is ambiguous; name it. */
      static const char *const rep[] = {
          "repeated parameter info_hash", "repeated parameter peer_id",
          "repeated parameter port", "repeated parameter uploaded",
          "repeated parameter downloaded", "repeated parameter left",
          "repeated parameter event", "repeated parameter numwant",
          "repeated parameter compact", "repeated parameter no_peer_id",
          "repeated parameter key", "repeated parameter ip",
          "repeated parameter trackerid"};
      FAIL(rep[__builtin_ctz(bit)]);
    }
    seen |= bit;
    long dl = url_decode(kv.val, kv.vlen, v, sizeof v, 1);
    if (dl < 0) {
      /* '%' without two hex digits after it (a trailing '%', "%4"), or a
       * value longer than any the parameter may have */
      static const char *const bad[] = {
          "info_hash: bad %-escape, or too long", "peer_id: bad %-escape, or too long",
          "port: bad %-escape, or too long", "uploaded: bad %-escape, or too long",
          "downloaded: bad %-escape, or too long", "left: bad %-escape, or too long",
          "event: bad %-escape, or too long", "numwant: bad %-escape, or too long",
          "compact: bad %-escape, or too long", "no_peer_id: bad %-escape, or too long",
          "key: bad %-escape, or too long", "ip: bad %-escape, or too long",
          "trackerid: bad %-escape, or too long"};
      FAIL(bad[__builtin_ctz(bit)]);
    }
    switch (bit) {
    case SEEN_INFO_HASH:
      if (dl != 20)
        FAIL("info_hash is not 20 bytes");
      memcpy(a->info_hash, v, 20);
      break;
    case SEEN_PEER_ID:
      if (dl != 20)
        FAIL("peer_id is not 20 bytes");
      memcpy(a->peer_id, v, 20);
      break;
    case SEEN_PORT: {
      uint64_t p;
      if (parse_u63(v, dl, &p) < 0 || p == 0 || p > 65535)
        FAIL("port is not a number from 1 to 65535");
      a->port = (uint16_t)p;
      break;
    }
    case SEEN_UPLOADED:
      if (parse_u63(v, dl, &a->uploaded) < 0)
        FAIL("uploaded is not a non-negative number");
      break;
    case SEEN_DOWNLOADED:
      if (parse_u63(v, dl, &a->downloaded) < 0)
        FAIL("downloaded is not a non-negative number");
      break;
    case SEEN_LEFT:
      if (parse_u63(v, dl, &a->left) < 0)
        FAIL("left is not a non-negative number");
      break;
    case SEEN_EVENT:
      if (dl == 0 || (dl == 5 && !memcmp(v, "empty", 5)))
        a->event = STORE_EV_NONE;
      else if (dl == 7 && !memcmp(v, "started", 7))
        a->event = STORE_EV_STARTED;
      else if (dl == 9 && !memcmp(v, "completed", 9))
        a->event = STORE_EV_COMPLETED;
      else if (dl == 7 && !memcmp(v, "stopped", 7))
        a->event = STORE_EV_STOPPED;
      else
        FAIL("event is not one of started, completed, stopped, empty");
      break;
    case SEEN_NUMWANT:
      if (parse_i63(v, dl, &a->numwant) < 0) {
        /* a billion or more digits than fit: treat as "as many as allowed" */
        uint64_t dummy;
        int digits = dl > 0;
        for (long i = 0; i < dl; i++)
          digits &= v[i] >= '0' && v[i] <= '9';
        if (!digits || (dl <= 19 && parse_u63(v, dl, &dummy) == 0))
          FAIL("numwant is not a number");
        a->numwant = INT64_MAX;
      }
      break;
    case SEEN_COMPACT:
      if (dl != 1 || (v[0] != '0' && v[0] != '1'))
        FAIL("compact is not 0 or 1");
      a->compact = v[0] - '0';
      break;
    case SEEN_NO_PEER_ID:
      a->no_peer_id = dl == 1 && v[0] == '1';
      break;
    case SEEN_KEY: {
      /* Clients send the key as 8 hex digits (libtorrent, Transmission) or
       * as a decimal number; either way only equality matters. */
      if (dl <= 0)
        break;
      uint32_t k = 0;
      for (long i = 0; i < dl; i++) {
        int h = sh_hexval(v[i]);
        k = k * 16 + (uint32_t)(h < 0 ? v[i] : h);
      }
      a->key = k;
      a->has_key = 1;
      break;
    }
    case SEEN_IP:
      if (dl < 0 || dl >= (long)sizeof a->ip)
        FAIL("ip is too long");
      memcpy(a->ip, v, (size_t)dl);
      a->ip[dl] = 0;
      break;
    case SEEN_TRACKERID:
      if (dl < 0 || dl > (long)sizeof a->trackerid)
        FAIL("trackerid is too long");
      memcpy(a->trackerid, v, (size_t)dl);
      a->trackerid_len = (size_t)dl;
      break;
    }
  }
  if (!(seen & SEEN_INFO_HASH))
    FAIL("missing info_hash");
  if (!(seen & SEEN_PEER_ID))
    FAIL("missing peer_id");
  if (!(seen & SEEN_PORT))
    FAIL("missing port");
  if (!(seen & SEEN_LEFT))
    FAIL("missing left");
  return 0;
}

int query_parse_scrape(const char *q, size_t n, uint8_t (*out)[20], uint32_t cap, uint32_t *count,
                       const char **why)
{
  size_t pos = 0;
  struct url_kv kv;
  uint8_t v[64];
  *count = 0;
  if (!q)
    return 0;
  while (url_query_next(q, n, &pos, &kv)) {
    if (!url_key_is(&kv, "info_hash"))
      continue;
    long dl = url_decode(kv.val, kv.vlen, v, sizeof v, 1);
    if (dl < 0)
      FAIL("info_hash: bad %-escape, or too long");
    if (dl != 20)
      FAIL("info_hash is not 20 bytes");
    if (*count >= cap)
      FAIL("too many info_hash parameters in one scrape");
    /* The same hash twice would be one dictionary key twice: keep one. */
    int dup = 0;
    for (uint32_t i = 0; i < *count && !dup; i++)
      dup = !memcmp(out[i], v, 20);
    if (!dup)
      memcpy(out[(*count)++], v, 20);
  }
  return 0;
}
