/* RC4, the stream cipher of Message Stream Encryption (peer/mse_hs.h).
 *
 * Two implementations behind one type. OpenSSL's, from its legacy provider
 * (Debian 12 ships it in libssl3, as ossl-modules/legacy.so), loaded once
 * into a library context of our own so the application's default context
 * is left as it was; it runs at about 0.91 GB per CPU second on the
 * reference machine. When that provider cannot be loaded (an OpenSSL built
 * without it, a FIPS-only system), a plain C loop takes over: the same
 * bytes at about 0.55 GB per CPU second. docs/ARCHITECTURE.md has the
 * measurement.
 *
 * Ownership: the caller embeds a struct sh_rc4, sets it up with
 * sh_rc4_init and releases it with sh_rc4_free (also after a failed init,
 * and on a zeroed struct). One stream per struct, one thread at a time. */
#ifndef SHOAL_BASE_RC4_H
#define SHOAL_BASE_RC4_H

#include <stddef.h>
#include <stdint.h>

struct sh_rc4 {
  void *evp;        /* OpenSSL's cipher context, or NULL: the C state below */
  uint8_t s[256];
  uint8_t i, j;
};

/* Keys the stream (1 to 256 bytes). Returns 0 or -ENOMEM. */
int sh_rc4_init(struct sh_rc4 *r, const uint8_t *key, size_t len);
/* out = in XOR the next n bytes of key stream; out may be in. */
void sh_rc4_crypt(struct sh_rc4 *r, uint8_t *out, const uint8_t *in, size_t n);
/* Advances the stream by n bytes (MSE throws away the first 1024). */
void sh_rc4_skip(struct sh_rc4 *r, size_t n);
void sh_rc4_free(struct sh_rc4 *r);

/* "openssl" or "c": what sh_rc4_init uses from now on. */
const char *sh_rc4_impl(void);
/* Tests: 1 makes later inits use the C loop, 0 goes back. */
void sh_rc4_force_c(int on);

#endif
