#include "base/sha1.h"

#include <openssl/evp.h>
#include <stdlib.h>

struct sh_sha1_ctx {
  EVP_MD_CTX *md;
};

void sh_sha1(const void *p, size_t n, uint8_t out[SH_SHA1_LEN])
{
  unsigned int len = SH_SHA1_LEN;
  EVP_Digest(p, n, out, &len, EVP_sha1(), NULL);
}

struct sh_sha1_ctx *sh_sha1_new(void)
{
  struct sh_sha1_ctx *c = malloc(sizeof *c);
  if (!c)
    return NULL;
  c->md = EVP_MD_CTX_new();
  if (!c->md || !EVP_DigestInit_ex(c->md, EVP_sha1(), NULL)) {
    EVP_MD_CTX_free(c->md);
    free(c);
    return NULL;
  }
  return c;
}

void sh_sha1_update(struct sh_sha1_ctx *c, const void *p, size_t n) { EVP_DigestUpdate(c->md, p, n); }

void sh_sha1_final(struct sh_sha1_ctx *c, uint8_t out[SH_SHA1_LEN])
{
  unsigned int len = SH_SHA1_LEN;
  EVP_DigestFinal_ex(c->md, out, &len);
  EVP_DigestInit_ex(c->md, EVP_sha1(), NULL);
}

void sh_sha1_free(struct sh_sha1_ctx *c)
{
  if (!c)
    return;
  EVP_MD_CTX_free(c->md);
  free(c);
}

void sh_hex(const uint8_t *p, size_t n, char *out)
{
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = 0;
}

int sh_hexval(int c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int sh_unhex(const char *hex, uint8_t *out, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    int a = sh_hexval(hex[2 * i]);
    int b = a < 0 ? -1 : sh_hexval(hex[2 * i + 1]);
    if (a < 0 || b < 0)
      return -1;
    out[i] = (uint8_t)(a << 4 | b);
  }
  return hex[2 * n] == 0 ? 0 : -1;
}
