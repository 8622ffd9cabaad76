/* URL helpers; see url.h. */
#include "base/sha1.h"
#include "net/url.h"

#include <string.h>

long url_decode(const char *in, size_t n, uint8_t *out, size_t cap, int plus_is_space)
{
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)in[i];
    if (c == '%') {
      if (n - i < 3)
        return -1;
      int hi = sh_hexval((unsigned char)in[i + 1]), lo = sh_hexval((unsigned char)in[i + 2]);
      if (hi < 0 || lo < 0)
        return -1;
      c = (unsigned char)(hi << 4 | lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (o >= cap)
      return -1;
    out[o++] = c;
  }
  return (long)o;
}

void url_encode(struct sh_buf *b, const void *p, size_t n)
{
  static const char hex[] = "0123456789ABCDEF";
  const uint8_t *s = p;
  if (sh_buf_reserve(b, n * 3) < 0)
    return;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = s[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
        c == '-' || c == '.' || c == '_' || c == '~') {
      b->data[b->len++] = c;
    } else {
      b->data[b->len++] = '%';
      b->data[b->len++] = (uint8_t)hex[c >> 4];
      b->data[b->len++] = (uint8_t)hex[c & 15];
    }
  }
}

int url_query_next(const char *q, size_t qlen, size_t *pos, struct url_kv *kv)
{
  while (*pos < qlen) {
    size_t start = *pos, end = start;
    while (end < qlen && q[end] != '&')
      end++;
    *pos = end < qlen ? end + 1 : end;
    if (end == start)
      continue; /* "&&" */
    const char *eq = memchr(q + start, '=', end - start);
    kv->key = q + start;
    if (eq) {
      kv->klen = (size_t)(eq - (q + start));
      kv->val = eq + 1;
      kv->vlen = (size_t)(q + end - (eq + 1));
    } else {
      kv->klen = end - start;
      kv->val = q + end;
      kv->vlen = 0;
    }
    return 1;
  }
  return 0;
}

void url_split_target(const char *target, size_t n, const char **path, size_t *plen,
                      const char **query, size_t *qlen)
{
  const char *hash = memchr(target, '#', n);
  if (hash)
    n = (size_t)(hash - target);
  const char *qm = memchr(target, '?', n);
  *path = target;
  if (qm) {
    *plen = (size_t)(qm - target);
    *query = qm + 1;
    *qlen = n - *plen - 1;
  } else {
    *plen = n;
    *query = NULL;
    *qlen = 0;
  }
}

int url_key_is(const struct url_kv *kv, const char *name)
{
  size_t n = strlen(name);
  return kv->klen == n && !memcmp(kv->key, name, n);
}
