/* SHA-1 through OpenSSL's EVP interface, which uses the CPU's SHA extensions
 * (about 1.9 GB/s per core on the reference machine). */
#ifndef SHOAL_SHA1_H
#define SHOAL_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SH_SHA1_LEN 20

/* One-shot digest of p[0..n). */
void sh_sha1(const void *p, size_t n, uint8_t out[SH_SHA1_LEN]);

/* Incremental hashing; a context is owned by the caller and must be freed. */
struct sh_sha1_ctx;
struct sh_sha1_ctx *sh_sha1_new(void);
void sh_sha1_update(struct sh_sha1_ctx *c, const void *p, size_t n);
void sh_sha1_final(struct sh_sha1_ctx *c, uint8_t out[SH_SHA1_LEN]); /* also resets */
void sh_sha1_free(struct sh_sha1_ctx *c);

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void sh_hex(const uint8_t *p, size_t n, char *out);
/* Value of one hex digit (either case), or -1. */
int sh_hexval(int c);
/* Parses 2n hex digits into n bytes; returns 0 or -1. */
int sh_unhex(const char *hex, uint8_t *out, size_t n);

#endif
