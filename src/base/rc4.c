/* RC4 (see rc4.h for the choice between OpenSSL and the C loop). */
#include "base/rc4.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <pthread.h>
#include <string.h>

/* The legacy provider lives in a library context of our own: loading it
 * into the default one would change what the application's own OpenSSL
 * calls may fetch. Both stay loaded for the life of the process. */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *cipher; /* NULL: no provider offers RC4 here */
static int force_c;

static void load(void)
{
  OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
  if (!ctx)
    return;
  if (!OSSL_PROVIDER_load(ctx, "legacy")) {
    OSSL_LIB_CTX_free(ctx);
    return;
  }
  cipher = EVP_CIPHER_fetch(ctx, "RC4", NULL);
}

static EVP_CIPHER *openssl_rc4(void)
{
  pthread_once(&once, load);
  return force_c ? NULL : cipher;
}

const char *sh_rc4_impl(void) { return openssl_rc4() ? "openssl" : "c"; }

void sh_rc4_force_c(int on) { force_c = on; }

static int init_evp(struct sh_rc4 *r, EVP_CIPHER *c, const uint8_t *key, size_t len)
{
  EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
  if (!x)
    return -ENOMEM;
  /* RC4's key length is variable: set it before the key goes in */
  if (!EVP_EncryptInit_ex2(x, c, NULL, NULL, NULL) ||
      !EVP_CIPHER_CTX_set_key_length(x, (int)len) ||
      !EVP_EncryptInit_ex2(x, NULL, key, NULL, NULL)) {
    EVP_CIPHER_CTX_free(x);
    return -ENOMEM;
  }
  r->evp = x;
  return 0;
}

int sh_rc4_init(struct sh_rc4 *r, const uint8_t *key, size_t len)
{
  memset(r, 0, sizeof *r);
  if (!len || len > 256)
    return -EINVAL;
  EVP_CIPHER *c = openssl_rc4();
  if (c)
    return init_evp(r, c, key, len);
  for (int i = 0; i < 256; i++)
    r->s[i] = (uint8_t)i;
  uint8_t j = 0;
  for (int i = 0; i < 256; i++) {
    uint8_t t = r->s[i];
    j = (uint8_t)(j + t + key[(size_t)i % len]);
    r->s[i] = r->s[j];
    r->s[j] = t;
  }
  return 0;
}

void sh_rc4_crypt(struct sh_rc4 *r, uint8_t *out, const uint8_t *in, size_t n)
{
  if (r->evp) {
    while (n) {
      int step = n > INT_MAX / 2 ? INT_MAX / 2 : (int)n, got;
      EVP_EncryptUpdate(r->evp, out, &got, in, step);
      out += step;
      in += step;
      n -= (size_t)step;
    }
    return;
  }
  uint8_t i = r->i, j = r->j, *s = r->s;
  for (size_t k = 0; k < n; k++) {
    uint8_t a = s[++i];
    j = (uint8_t)(j + a);
    uint8_t b = s[j];
    s[i] = b;
    s[j] = a;
    out[k] = in[k] ^ s[(uint8_t)(a + b)];
  }
  r->i = i;
  r->j = j;
}

void sh_rc4_skip(struct sh_rc4 *r, size_t n)
{
  uint8_t junk[256];
  memset(junk, 0, sizeof junk);
  while (n) {
    size_t k = n < sizeof junk ? n : sizeof junk;
    sh_rc4_crypt(r, junk, junk, k);
    n -= k;
  }
}

void sh_rc4_free(struct sh_rc4 *r)
{
  EVP_CIPHER_CTX_free(r->evp);
  r->evp = NULL;
}
