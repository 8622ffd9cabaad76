/* Base64; see b64.h. */
#include "daemon/b64.h"

#include <stdlib.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int value(int c)
{
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

uint8_t *sh_b64_decode(const char *s, size_t *len)
{
  size_t n = 0;
  while (s[n])
    n++;
  uint8_t *out = malloc(n / 4 * 3 + 4);
  if (!out)
    return NULL;
  size_t k = 0;
  unsigned acc = 0;
  int bits = 0;
  for (; *s; s++) {
    if (*s == '=' || *s == '\n' || *s == '\r' || *s == ' ')
      continue;
    int v = value((unsigned char)*s);
    if (v < 0) {
      free(out);
      return NULL;
    }
    acc = acc << 6 | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[k++] = (uint8_t)(acc >> bits);
    }
  }
  out[k] = 0;
  *len = k;
  return out;
}

char *sh_b64_encode(const uint8_t *p, size_t n)
{
  char *s = malloc((n + 2) / 3 * 4 + 1);
  if (!s)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                 (i + 2 < n ? p[i + 2] : 0);
    s[k++] = alphabet[v >> 18 & 63];
    s[k++] = alphabet[v >> 12 & 63];
    s[k++] = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
    s[k++] = i + 2 < n ? alphabet[v & 63] : '=';
  }
  s[k] = 0;
  return s;
}
