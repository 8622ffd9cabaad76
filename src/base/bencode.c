#include "base/bencode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/vec.h"

static int fail(struct be_doc *d, size_t off, const char *why)
{
  d->err = why;
  d->err_off = off;
  return SH_EBENCODE;
}

static int push(struct be_doc *d, uint32_t max_tokens)
{
  if (d->ntok >= max_tokens)
    return -1;
  if (sh_vec_reserve(d->tok, d->cap, (size_t)d->ntok + 1, 32, max_tokens) < 0)
    return -ENOMEM;
  memset(&d->tok[d->ntok], 0, sizeof d->tok[0]);
  return (int)d->ntok++;
}

/* Compares two strings as raw bytes, shorter first on a common prefix. */
static int keycmp(const uint8_t *a, uint32_t al, const uint8_t *b, uint32_t bl)
{
  int c = memcmp(a, b, al < bl ? al : bl);
  if (c)
    return c;
  return al < bl ? -1 : al > bl;
}

/* Parses a run of decimal digits as an unsigned value no larger than limit.
 * Returns the index after the digits, or 0 when there are none, there is a
 * leading zero, or the value overflows (*why says which). */
static size_t digits(const uint8_t *p, size_t i, size_t len, uint64_t limit,
                     uint64_t *out, const char **why)
{
  size_t s = i;
  uint64_t v = 0;
  while (i < len && p[i] >= '0' && p[i] <= '9') {
    unsigned dg = (unsigned)(p[i] - '0');
    if (v > (limit - dg) / 10) {
      *why = "number too large";
      return 0;
    }
    v = v * 10 + dg;
    i++;
  }
  if (i == s) {
    *why = "expected a digit";
    return 0;
  }
  if (p[s] == '0' && i - s > 1) {
    *why = "leading zero";
    return 0;
  }
  *out = v;
  return i;
}

int be_parse(struct be_doc *d, const void *buf, size_t len, const struct be_opts *opts)
{
  struct be_opts def = {BE_DEFAULT_MAX_DEPTH, BE_DEFAULT_MAX_TOKENS, 1, 0};
  const struct be_opts *o = opts ? opts : &def;
  int max_depth = o->max_depth > 0 ? o->max_depth : BE_DEFAULT_MAX_DEPTH;
  if (max_depth > BE_MAX_DEPTH_CAP)
    max_depth = BE_MAX_DEPTH_CAP;
  uint32_t max_tokens = o->max_tokens ? o->max_tokens : BE_DEFAULT_MAX_TOKENS;

  memset(d, 0, sizeof *d);
  d->buf = buf;
  d->len = len;
  const uint8_t *p = buf;
  if (len >= UINT32_MAX)
    return fail(d, 0, "input larger than 4 GiB");
  if (len == 0)
    return fail(d, 0, "empty input");

  uint32_t stack[BE_MAX_DEPTH_CAP]; /* token index of each open container */
  int prevkey[BE_MAX_DEPTH_CAP];    /* last key token of each open dict */
  int depth = 0;
  size_t i = 0;

  for (;;) {
    if (i >= len)
      return fail(d, i, depth ? "unterminated list or dictionary" : "unexpected end of input");
    uint8_t c = p[i];

    if (depth && c == 'e') {
      struct be_tok *t = &d->tok[stack[depth - 1]];
      if (t->type == BE_DICT && (t->v.n & 1))
        return fail(d, i, "dictionary key without a value");
      t->end = (uint32_t)(i + 1);
      t->next = d->ntok;
      depth--;
      i++;
      if (depth == 0)
        break;
      continue;
    }

    /* A new value. Inside a dict, even positions are keys. */
    struct be_tok *parent = depth ? &d->tok[stack[depth - 1]] : NULL;
    int is_key = parent && parent->type == BE_DICT && !(parent->v.n & 1);
    if (is_key && !(c >= '0' && c <= '9'))
      return fail(d, i, "dictionary key is not a string");

    int r = push(d, max_tokens);
    if (r == -ENOMEM)
      return r;
    if (r < 0)
      return fail(d, i, "too many values");
    if (parent) /* push() may have moved the array: index, don't reuse */
      d->tok[stack[depth - 1]].v.n++;
    struct be_tok *t = &d->tok[r];
    t->start = (uint32_t)i;

    if (c == 'i') {
      const char *why = NULL;
      size_t j = i + 1;
      int neg = 0;
      if (j < len && p[j] == '-') {
        neg = 1;
        j++;
      }
      uint64_t v;
      size_t k = digits(p, j, len, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &v, &why);
      if (!k)
        return fail(d, j, why);
      if (neg && v == 0)
        return fail(d, i, "negative zero");
      if (k >= len || p[k] != 'e')
        return fail(d, k, "integer not terminated by 'e'");
      t->type = BE_INT;
      t->v.i = neg ? (int64_t)(0 - v) : (int64_t)v;
      t->end = (uint32_t)(k + 1);
      t->next = d->ntok;
      i = k + 1;
    } else if (c >= '0' && c <= '9') {
      const char *why = NULL;
      uint64_t n;
      size_t k = digits(p, i, len, UINT32_MAX, &n, &why);
      if (!k)
        return fail(d, i, why);
      if (k >= len || p[k] != ':')
        return fail(d, k, "string length not followed by ':'");
      if (n > len - k - 1)
        return fail(d, i, "string runs past the end of input");
      t->type = BE_STR;
      t->v.s.off = (uint32_t)(k + 1);
      t->v.s.len = (uint32_t)n;
      t->end = (uint32_t)(k + 1 + n);
      t->next = d->ntok;
      if (is_key && o->strict && prevkey[depth - 1] >= 0) {
        const struct be_tok *pk = &d->tok[prevkey[depth - 1]];
        int cmp = keycmp(p + pk->v.s.off, pk->v.s.len, p + t->v.s.off, t->v.s.len);
        if (cmp == 0)
          return fail(d, i, "duplicate dictionary key");
        if (cmp > 0)
          return fail(d, i, "dictionary keys not sorted");
      }
      if (is_key)
        prevkey[depth - 1] = r;
      i = t->end;
    } else if (c == 'l' || c == 'd') {
      if (depth >= max_depth)
        return fail(d, i, "nested too deeply");
      t->type = c == 'l' ? BE_LIST : BE_DICT;
      stack[depth] = (uint32_t)r;
      prevkey[depth] = -1;
      depth++;
      i++;
      continue;
    } else {
      return fail(d, i, "unexpected character");
    }
    if (depth == 0)
      break;
  }

  d->used = i;
  if (i != len && !o->allow_trailing)
    return fail(d, i, "trailing bytes after the value");
  return 0;
}

void be_free(struct be_doc *d)
{
  free(d->tok);
  d->tok = NULL;
  d->ntok = d->cap = 0;
}

int be_str_eq(const struct be_doc *d, int idx, const char *s)
{
  size_t n;
  const uint8_t *p = be_str(d, idx, &n);
  return p && n == strlen(s) && memcmp(p, s, n) == 0;
}

int be_dict_get(const struct be_doc *d, int dict, const char *key)
{
  if (dict < 0 || (uint32_t)dict >= d->ntok || d->tok[dict].type != BE_DICT)
    return -1;
  uint32_t n = d->tok[dict].v.n;
  int k = dict + 1;
  for (uint32_t j = 0; j < n; j += 2) {
    int v = (int)d->tok[k].next;
    if (be_str_eq(d, k, key))
      return v;
    k = (int)d->tok[v].next;
  }
  return -1;
}

int be_dict_get_type(const struct be_doc *d, int dict, const char *key, enum be_type t)
{
  int v = be_dict_get(d, dict, key);
  return v >= 0 && d->tok[v].type == t ? v : -1;
}

const uint8_t *be_str(const struct be_doc *d, int idx, size_t *len)
{
  if (idx < 0 || (uint32_t)idx >= d->ntok || d->tok[idx].type != BE_STR)
    return NULL;
  if (len)
    *len = d->tok[idx].v.s.len;
  return d->buf + d->tok[idx].v.s.off;
}

int be_int(const struct be_doc *d, int idx, int64_t *out)
{
  if (idx < 0 || (uint32_t)idx >= d->ntok || d->tok[idx].type != BE_INT)
    return -1;
  *out = d->tok[idx].v.i;
  return 0;
}

void be_put_int(struct sh_buf *b, int64_t v) { sh_buf_printf(b, "i%llde", (long long)v); }

void be_put_str(struct sh_buf *b, const void *p, size_t n)
{
  sh_buf_printf(b, "%zu:", n);
  sh_buf_append(b, p, n);
}

void be_put_cstr(struct sh_buf *b, const char *s) { be_put_str(b, s, strlen(s)); }
void be_put_list(struct sh_buf *b) { sh_buf_putc(b, 'l'); }
void be_put_dict(struct sh_buf *b) { sh_buf_putc(b, 'd'); }
void be_put_end(struct sh_buf *b) { sh_buf_putc(b, 'e'); }

static int be_str_eq_tok(const struct be_doc *d, int a, int b)
{
  const struct be_tok *x = &d->tok[a], *y = &d->tok[b];
  return x->v.s.len == y->v.s.len && !memcmp(d->buf + x->v.s.off, d->buf + y->v.s.off, x->v.s.len);
}

struct keyref {
  const struct be_doc *d;
  int key;
};

static int keyref_cmp(const void *a, const void *b)
{
  const struct keyref *x = a, *y = b;
  const struct be_tok *kx = &x->d->tok[x->key], *ky = &y->d->tok[y->key];
  int c = keycmp(x->d->buf + kx->v.s.off, kx->v.s.len, y->d->buf + ky->v.s.off, ky->v.s.len);
  /* equal keys keep input order, so the first one wins as in be_dict_get */
  return c ? c : (x->key > y->key) - (x->key < y->key);
}

static int encode(struct sh_buf *b, const struct be_doc *d, int idx, int depth)
{
  const struct be_tok *t = &d->tok[idx];
  switch (t->type) {
  case BE_INT:
    be_put_int(b, t->v.i);
    return 0;
  case BE_STR:
    be_put_str(b, d->buf + t->v.s.off, t->v.s.len);
    return 0;
  case BE_LIST:
    be_put_list(b);
    for (int c = be_child(d, idx), k = 0; (uint32_t)k < t->v.n; k++, c = (int)d->tok[c].next)
      if (encode(b, d, c, depth + 1))
        return -ENOMEM;
    be_put_end(b);
    return 0;
  case BE_DICT: {
    uint32_t pairs = t->v.n / 2;
    struct keyref *keys = pairs ? malloc(pairs * sizeof *keys) : NULL;
    if (pairs && !keys)
      return -ENOMEM;
    int c = be_child(d, idx);
    for (uint32_t k = 0; k < pairs; k++) {
      keys[k].d = d;
      keys[k].key = c;
      c = (int)d->tok[d->tok[c].next].next;
    }
    if (pairs)
      qsort(keys, pairs, sizeof *keys, keyref_cmp);
    be_put_dict(b);
    int rc = 0;
    for (uint32_t k = 0; k < pairs && !rc; k++) {
      /* a lax parse may have accepted duplicates: canonical form has one */
      if (k &&
          be_str_eq_tok(d, keys[k - 1].key, keys[k].key))
        continue;
      encode(b, d, keys[k].key, depth + 1);
      rc = encode(b, d, (int)d->tok[keys[k].key].next, depth + 1);
    }
    free(keys);
    be_put_end(b);
    return rc;
  }
  }
  return 0;
}

int be_encode_canonical(struct sh_buf *b, const struct be_doc *d, int idx)
{
  int rc = encode(b, d, idx, 0);
  return rc ? rc : (b->oom ? -ENOMEM : 0);
}
