/* multipart/form-data (RFC 7578) splitting, for the upload form: just enough
 * to find each part's name, filename and bytes. Pure and zero-copy: parts
 * point into the caller's body. */
#ifndef SHOAL_TRACKER_MULTIPART_H
#define SHOAL_TRACKER_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

struct multipart_part {
  const char *name;      /* the form field's name (not NUL-terminated) */
  size_t name_len;
  const char *filename;  /* NULL when the part is not a file */
  size_t filename_len;
  const uint8_t *data;
  size_t len;
};

/* Copies the boundary parameter of a Content-Type header into out (RFC 2046:
 * at most 70 characters). Returns its length, or -1 when the header is not
 * multipart/form-data with a usable boundary. */
int multipart_boundary(const char *content_type, char *out, size_t cap);

/* Splits body into at most max parts. Returns the count, or -1 with *why set
 * when the body is not well-formed (no opening boundary, unterminated part,
 * part without headers end, too many parts). */
int multipart_parse(const uint8_t *body, size_t len, const char *boundary,
                    struct multipart_part *parts, int max, const char **why);

/* The part named name, or NULL. */
const struct multipart_part *multipart_find(const struct multipart_part *parts, int n,
                                            const char *name);

#endif
