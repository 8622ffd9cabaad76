/* URL helpers: percent-decoding, percent-encoding and query-string splitting
 * (RFC 3986 section 2.1; BEP 3 sends the 20-byte info_hash and peer_id
 * percent-encoded as raw bytes, so decoding must be binary-safe).
 *
 * Pure functions over caller buffers: nothing here allocates except
 * url_encode(), which appends to a caller-owned sh_buf. */
#ifndef SHOAL_URL_H
#define SHOAL_URL_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Decodes in[0..n) ('%XX' escapes, and '+' as a space when plus_is_space)
 * into out, which holds cap bytes. Returns the decoded length, or -1 when an
 * escape is malformed ('%' not followed by two hex digits) or the result
 * would not fit. out may alias in (decoding never grows). */
long url_decode(const char *in, size_t n, uint8_t *out, size_t cap, int plus_is_space);

/* Appends p[0..n) percent-encoded: unreserved characters (ALPHA DIGIT - . _ ~)
 * stay, every other byte becomes %XX (upper-case hex). */
void url_encode(struct sh_buf *b, const void *p, size_t n);

/* One key=value pair of a query string, as raw (still encoded) slices of the
 * caller's string. val is empty (vlen 0) for "key" and "key=". */
struct url_kv {
  const char *key;
  size_t klen;
  const char *val;
  size_t vlen;
};

/* Iterates the pairs of a query string ("a=1&b=2", without the '?'). *pos
 * starts at 0. Returns 1 with kv filled, or 0 when no pair is left. Empty
 * pairs ("a=1&&b=2") are skipped. */
int url_query_next(const char *q, size_t qlen, size_t *pos, struct url_kv *kv);

/* Splits a request target "/path?query#frag" into path and query slices
 * (the fragment is dropped). query is NULL with qlen 0 when there is no '?'. */
void url_split_target(const char *target, size_t n, const char **path, size_t *plen,
                      const char **query, size_t *qlen);

/* 1 when the raw key slice equals the NUL-terminated name. */
int url_key_is(const struct url_kv *kv, const char *name);

#endif
