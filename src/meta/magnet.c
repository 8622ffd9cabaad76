/* Magnet links: parsing (BEP 9, BEP 53), formatting, and the .torrent of
 * fetched metadata. See magnet.h. */
#include "meta/magnet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/bencode.h"
#include "base/error.h"
#include "base/sha1.h"
#include "net/url.h"

void sh_magnet_free(struct sh_magnet *m)
{
  if (!m)
    return;
  free(m->name);
  for (size_t i = 0; i < m->num_trackers; i++)
    free(m->trackers[i]);
  for (size_t i = 0; i < m->num_web_seeds; i++)
    free(m->web_seeds[i]);
  for (size_t i = 0; i < m->num_peers; i++)
    free(m->peers[i]);
  free(m->trackers);
  free(m->web_seeds);
  free(m->peers);
  free(m->select);
  free(m);
}

/* ---- the info-hash ---- */

/* RFC 4648 base32 (A-Z, 2-7; lower case accepted): 32 characters carry
 * exactly 160 bits. Returns 0 or -1. */
static int base32_decode(const char *s, uint8_t out[20])
{
  uint64_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (int i = 0; i < 32; i++) {
    int c = s[i], v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a';
    else if (c >= '2' && c <= '7')
      v = c - '2' + 26;
    else
      return -1;
    acc = acc << 5 | (uint64_t)v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  return o == 20 ? 0 : -1;
}

/* urn:btih:<hash> into ih. */
static int parse_btih(const char *v, size_t n, uint8_t ih[20], char *err, size_t errlen)
{
  if (n == 40) {
    for (int i = 0; i < 20; i++) {
      int hi = sh_hexval((unsigned char)v[2 * i]), lo = sh_hexval((unsigned char)v[2 * i + 1]);
      if (hi < 0 || lo < 0)
        return sh_errf(err, errlen, SH_EURL, "the info-hash is not 40 hex digits");
      ih[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
  }
  if (n == 32) {
    if (base32_decode(v, ih) < 0)
      return sh_errf(err, errlen, SH_EURL, "the info-hash is not 32 base32 characters");
    return 0;
  }
  return sh_errf(err, errlen, SH_EURL,
                 "the info-hash has %zu characters: it must be 40 hex digits or 32 base32 "
                 "characters",
                 n);
}

/* ---- lists ---- */

static int push_str(char ***arr, size_t *n, size_t max, const char *s, size_t len, size_t *dropped)
{
  for (size_t i = 0; i < *n; i++)
    if (strlen((*arr)[i]) == len && !memcmp((*arr)[i], s, len))
      return 0; /* a duplicate */
  if (*n >= max) {
    (*dropped)++;
    return 0;
  }
  char **na = realloc(*arr, (*n + 1) * sizeof *na);
  if (!na)
    return -ENOMEM;
  *arr = na;
  if (!(na[*n] = strndup(s, len)))
    return -ENOMEM;
  (*n)++;
  return 0;
}

/* x.pe: HOST:PORT, IPv4:PORT or [IPv6]:PORT with a port 1..65535. */
static int peer_ok(const char *s, size_t n)
{
  const char *colon = memrchr(s, ':', n);
  if (!colon || colon == s || (size_t)(s + n - colon) < 2 || (size_t)(s + n - colon) > 6)
    return 0;
  unsigned long port = 0;
  for (const char *p = colon + 1; p < s + n; p++) {
    if (*p < '0' || *p > '9')
      return 0;
    port = port * 10 + (unsigned long)(*p - '0');
  }
  if (port < 1 || port > 65535)
    return 0;
  size_t hl = (size_t)(colon - s);
  if (s[0] == '[')
    return hl > 2 && s[hl - 1] == ']' && !memchr(s + 1, ']', hl - 2);
  /* a host name or IPv4 literal: no second colon, no spaces or controls */
  for (size_t i = 0; i < hl; i++)
    if (s[i] == ':' || (unsigned char)s[i] <= ' ' || s[i] == 0x7f)
      return 0;
  return 1;
}

/* so: "0,2,4,6-8". Returns 0, or SH_EURL with err. */
static int parse_select(struct sh_magnet *m, const char *v, size_t n, char *err, size_t errlen)
{
  size_t i = 0;
  while (i < n) {
    uint64_t a = 0, b;
    size_t start = i;
    while (i < n && v[i] >= '0' && v[i] <= '9' && a <= SH_MAGNET_MAX_INDEX)
      a = a * 10 + (uint64_t)(v[i++] - '0');
    if (i == start)
      goto bad;
    b = a;
    if (i < n && v[i] == '-') {
      b = 0;
      start = ++i;
      while (i < n && v[i] >= '0' && v[i] <= '9' && b <= SH_MAGNET_MAX_INDEX)
        b = b * 10 + (uint64_t)(v[i++] - '0');
      if (i == start)
        goto bad;
    }
    if (a > SH_MAGNET_MAX_INDEX || b > SH_MAGNET_MAX_INDEX)
      return sh_errf(err, errlen, SH_EURL, "so: file index over %u", SH_MAGNET_MAX_INDEX);
    if (b < a)
      return sh_errf(err, errlen, SH_EURL, "so: range %llu-%llu runs backwards",
                     (unsigned long long)a, (unsigned long long)b);
    if (i < n && v[i] != ',')
      goto bad;
    i += i < n;
    if (m->num_select >= SH_MAGNET_MAX_RANGES) {
      m->dropped++;
      continue;
    }
    struct sh_magnet_range *r = realloc(m->select, (m->num_select + 1) * sizeof *r);
    if (!r)
      return -ENOMEM;
    m->select = r;
    r[m->num_select++] = (struct sh_magnet_range){(uint32_t)a, (uint32_t)b};
  }
  return 0;
bad:
  return sh_errf(err, errlen, SH_EURL, "so: expected file indices like 0,2,4-6");
}

/* ---- the link ---- */

/* "xt", "xt.1", "xt.2"...: the magnet URI scheme numbers repeated keys. */
static int key_is(const struct url_kv *kv, const char *name)
{
  size_t n = strlen(name);
  if (kv->klen < n || memcmp(kv->key, name, n))
    return 0;
  if (kv->klen == n)
    return 1;
  if (kv->key[n] != '.' || kv->klen == n + 1)
    return 0;
  for (size_t i = n + 1; i < kv->klen; i++)
    if (kv->key[i] < '0' || kv->key[i] > '9')
      return 0;
  return 1;
}

struct topics {
  int btih, btmh, other;
  char other_urn[24];
};

/* One xt value (decoded). */
static int parse_xt(struct sh_magnet *m, struct topics *tp, const char *v, size_t n, char *err,
                    size_t errlen)
{
  if (n >= 9 && !strncasecmp(v, "urn:btih:", 9)) {
    uint8_t ih[20];
    int rc = parse_btih(v + 9, n - 9, ih, err, errlen);
    if (rc < 0)
      return rc;
    if (tp->btih && memcmp(ih, m->info_hash, 20))
      return sh_errf(err, errlen, SH_EURL, "the link names two different info-hashes");
    memcpy(m->info_hash, ih, 20);
    tp->btih = 1;
    return 0;
  }
  if (n >= 9 && !strncasecmp(v, "urn:btmh:", 9)) {
    tp->btmh = 1;
    return 0;
  }
  if (!tp->other) {
    size_t k = 0;
    while (k < n && k < sizeof tp->other_urn - 1 && (unsigned char)v[k] > ' ' && v[k] != 0x7f)
      k++;
    memcpy(tp->other_urn, v, k);
    tp->other_urn[k] = 0;
  }
  tp->other = 1;
  return 0;
}

/* One key=value pair; the value still %-escaped. */
static int parse_pair(struct sh_magnet *m, struct topics *tp, const struct url_kv *kv,
                      uint8_t *tmp, char *err, size_t errlen)
{
  int is_dn = key_is(kv, "dn");
  if (!key_is(kv, "xt") && !is_dn && !key_is(kv, "tr") && !key_is(kv, "ws") &&
      !key_is(kv, "x.pe") && !key_is(kv, "so"))
    return 0; /* xl, kt, as, xs...: not for us */
  /* dn uses '+' for spaces as web forms do; a '+' in a URL is a '+' */
  long n = url_decode(kv->val, kv->vlen, tmp, SH_MAGNET_MAX_LEN, is_dn);
  if (n < 0)
    return sh_errf(err, errlen, SH_EURL, "%.*s: a malformed %%-escape", (int)kv->klen, kv->key);
  const char *v = (const char *)tmp;
  size_t len = (size_t)n;
  if (memchr(v, 0, len))
    return sh_errf(err, errlen, SH_EURL, "%.*s: contains a NUL byte", (int)kv->klen, kv->key);
  if (key_is(kv, "xt"))
    return parse_xt(m, tp, v, len, err, errlen);
  if (is_dn) {
    if (!m->name && len && !(m->name = strndup(v, len < 255 ? len : 255)))
      return -ENOMEM;
    return 0;
  }
  if (key_is(kv, "so"))
    return parse_select(m, v, len, err, errlen);
  if (!len)
    return 0;
  if (key_is(kv, "x.pe")) {
    if (!peer_ok(v, len))
      return sh_errf(err, errlen, SH_EURL, "x.pe '%.*s': expected HOST:PORT or [IPv6]:PORT",
                     (int)(len < 80 ? len : 80), v);
    return push_str(&m->peers, &m->num_peers, SH_MAGNET_MAX_PEERS, v, len, &m->dropped);
  }
  if (key_is(kv, "tr"))
    return push_str(&m->trackers, &m->num_trackers, SH_MAGNET_MAX_URLS, v, len, &m->dropped);
  return push_str(&m->web_seeds, &m->num_web_seeds, SH_MAGNET_MAX_URLS, v, len, &m->dropped);
}

static int check_topics(const struct topics *tp, char *err, size_t errlen)
{
  if (tp->btih)
    return 0;
  if (tp->btmh)
    return sh_errf(err, errlen, -ENOTSUP,
                   "a BitTorrent v2 link (urn:btmh) without a v1 info-hash (urn:btih): "
                   "v2 torrents are not supported yet");
  if (tp->other)
    return sh_errf(err, errlen, SH_EURL,
                   "not a BitTorrent magnet link: its topic is %s..., not urn:btih",
                   tp->other_urn);
  return sh_errf(err, errlen, SH_EURL, "not a BitTorrent magnet link: no xt=urn:btih:");
}

int sh_magnet_parse(const char *uri, struct sh_magnet **out, char *err, size_t errlen)
{
  *out = NULL;
  size_t len = strnlen(uri, SH_MAGNET_MAX_LEN + 1);
  if (len > SH_MAGNET_MAX_LEN)
    return sh_errf(err, errlen, SH_EURL, "a magnet link longer than %u bytes",
                   SH_MAGNET_MAX_LEN);
  if (len < 8 || strncasecmp(uri, "magnet:?", 8))
    return sh_errf(err, errlen, SH_EURL, "not a magnet link: it must start with 'magnet:?'");
  struct sh_magnet *m = calloc(1, sizeof *m);
  uint8_t *tmp = malloc(SH_MAGNET_MAX_LEN);
  if (!m || !tmp) {
    free(m);
    free(tmp);
    return sh_errf(err, errlen, -ENOMEM, "out of memory");
  }
  struct topics tp = {0};
  const char *q = uri + 8;
  size_t qlen = len - 8, pos = 0;
  /* a fragment is not part of the query (RFC 3986) */
  const char *hash = memchr(q, '#', qlen);
  if (hash)
    qlen = (size_t)(hash - q);
  struct url_kv kv;
  int rc = 0;
  while (rc == 0 && url_query_next(q, qlen, &pos, &kv))
    rc = parse_pair(m, &tp, &kv, tmp, err, errlen);
  free(tmp);
  if (rc == 0)
    rc = check_topics(&tp, err, errlen);
  if (rc < 0) {
    if (rc == -ENOMEM)
      sh_errf(err, errlen, rc, "out of memory");
    sh_magnet_free(m);
    return rc;
  }
  m->has_v2 = tp.btmh;
  sh_hex(m->info_hash, 20, m->info_hash_hex);
  *out = m;
  return 0;
}

/* ---- out ---- */

static void put_param(struct sh_buf *b, const char *key, const char *val)
{
  sh_buf_puts(b, "&");
  sh_buf_puts(b, key);
  sh_buf_puts(b, "=");
  url_encode(b, val, strlen(val));
}

void sh_magnet_format(struct sh_buf *b, const uint8_t info_hash[20], const char *name,
                      const struct sh_tier *tiers, size_t ntiers, char *const *web_seeds,
                      size_t nweb)
{
  char hex[41];
  sh_hex(info_hash, 20, hex);
  sh_buf_puts(b, "magnet:?xt=urn:btih:");
  sh_buf_puts(b, hex);
  if (name && *name)
    put_param(b, "dn", name);
  for (size_t t = 0; t < ntiers; t++)
    for (size_t u = 0; u < tiers[t].n; u++)
      put_param(b, "tr", tiers[t].urls[u]);
  for (size_t i = 0; i < nweb; i++)
    put_param(b, "ws", web_seeds[i]);
}

void sh_magnet_format_select(struct sh_buf *b, const struct sh_magnet_range *r, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    sh_buf_puts(b, i ? "," : "&so=");
    if (r[i].first == r[i].last)
      sh_buf_printf(b, "%u", r[i].first);
    else
      sh_buf_printf(b, "%u-%u", r[i].first, r[i].last);
  }
}

void sh_magnet_torrent(struct sh_buf *b, const uint8_t *info, size_t info_len,
                       const char *const *trackers, size_t ntrackers,
                       const char *const *web_seeds, size_t nweb)
{
  /* keys in sorted order: announce, announce-list, info, url-list */
  be_put_dict(b);
  if (ntrackers) {
    be_put_cstr(b, "announce");
    be_put_cstr(b, trackers[0]);
    be_put_cstr(b, "announce-list");
    be_put_list(b);
    for (size_t i = 0; i < ntrackers; i++) {
      be_put_list(b);
      be_put_cstr(b, trackers[i]);
      be_put_end(b);
    }
    be_put_end(b);
  }
  be_put_cstr(b, "info");
  sh_buf_append(b, info, info_len);
  if (nweb) {
    be_put_cstr(b, "url-list");
    be_put_list(b);
    for (size_t i = 0; i < nweb; i++)
      be_put_cstr(b, web_seeds[i]);
    be_put_end(b);
  }
  be_put_end(b);
}

size_t sh_magnet_select(const struct sh_magnet_range *r, size_t n, size_t nfiles,
                        uint8_t *wanted)
{
  memset(wanted, 0, nfiles);
  for (size_t i = 0; i < n; i++)
    for (uint64_t f = r[i].first; f <= r[i].last && f < nfiles; f++)
      wanted[f] = 1;
  size_t count = 0;
  for (size_t f = 0; f < nfiles; f++)
    count += wanted[f];
  return count;
}
