/* Bencode (BEP 3): a strict decoder into a flat token array, and writers.
 *
 * The decoder never copies strings: a string token holds the offset and
 * length of its bytes inside the caller's buffer, which must outlive the
 * document. Containers are followed by their children in order; `next` is
 * the index just past a value's whole subtree, so skipping a value is O(1).
 *
 * It never allocates an amount read from the input: the token array grows
 * by doubling, and every token consumes at least two input bytes, so memory
 * is bounded by the input's length and by `max_tokens`. */
#ifndef SHOAL_BENCODE_H
#define SHOAL_BENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

enum be_type { BE_INT = 1, BE_STR, BE_LIST, BE_DICT };

struct be_tok {
  uint8_t type;
  uint32_t start; /* offset of the value's first byte in the input */
  uint32_t end;   /* offset one past its last byte */
  uint32_t next;  /* token index after this value and all its children */
  union {
    int64_t i;                          /* BE_INT */
    struct { uint32_t off, len; } s;    /* BE_STR: bytes at buf + off */
    uint32_t n;                         /* BE_LIST/BE_DICT: direct children
                                           (a dict counts keys and values) */
  } v;
};

#define BE_DEFAULT_MAX_DEPTH 100
#define BE_MAX_DEPTH_CAP 1024
#define BE_DEFAULT_MAX_TOKENS (1u << 21)

struct be_opts {
  int max_depth;        /* nesting deeper than this is refused (<= 1024) */
  uint32_t max_tokens;  /* more values than this are refused */
  int strict;           /* dict keys must be sorted and unique */
  int allow_trailing;   /* stop after the root value; `used` says where */
};

/* Owned by the caller (usually on its stack); be_free() releases the tokens. */
struct be_doc {
  const uint8_t *buf;
  size_t len;
  struct be_tok *tok;
  uint32_t ntok, cap;
  size_t used;          /* bytes consumed by the root value */
  size_t err_off;       /* on failure: byte offset of the problem */
  const char *err;      /* on failure: static reason */
};

/* Decodes buf[0..len). opts NULL means: depth 100, 2M tokens, strict, no
 * trailing bytes. Returns 0, or SH_EBENCODE with err/err_off set, or -ENOMEM.
 * The document's tokens are valid until be_free(), even after a failure. */
int be_parse(struct be_doc *d, const void *buf, size_t len, const struct be_opts *opts);
void be_free(struct be_doc *d);

/* Lookups; every index argument must be a valid token index. They return -1
 * (or NULL) when the value is absent or of another type. */
int be_dict_get(const struct be_doc *d, int dict, const char *key);
int be_dict_get_type(const struct be_doc *d, int dict, const char *key, enum be_type t);
const uint8_t *be_str(const struct be_doc *d, int idx, size_t *len);
int be_int(const struct be_doc *d, int idx, int64_t *out);
int be_str_eq(const struct be_doc *d, int idx, const char *s);
/* First child of a list or dict, or -1 when empty; siblings via tok[i].next. */
static inline int be_child(const struct be_doc *d, int idx)
{
  return d->tok[idx].v.n ? idx + 1 : -1;
}

/* Writers: append bencode to b. Keys of a dict must be written sorted. */
void be_put_int(struct sh_buf *b, int64_t v);
void be_put_str(struct sh_buf *b, const void *p, size_t n);
void be_put_cstr(struct sh_buf *b, const char *s);
void be_put_list(struct sh_buf *b);
void be_put_dict(struct sh_buf *b);
void be_put_end(struct sh_buf *b);

/* Re-encodes the value at idx canonically (dict keys sorted), e.g. to
 * normalise input. Returns 0 or -ENOMEM. */
int be_encode_canonical(struct sh_buf *b, const struct be_doc *d, int idx);

#endif
