/* The sanitiser for text from others; see text.h. */
#include "base/text.h"

#include <stdint.h>
#include <string.h>

#include "shoal.h"

/* The code point of the well-formed UTF-8 sequence at s (at most n bytes)
 * and its length in *len; 0 in *len when the bytes are not one (RFC 3629:
 * no overlongs, no surrogates, nothing above U+10FFFF). */
static uint32_t utf8_next(const uint8_t *s, size_t n, size_t *len)
{
  uint32_t c = s[0], min;
  size_t k;
  *len = 0;
  if (c < 0x80) {
    *len = 1;
    return c;
  }
  if (c >= 0xc2 && c <= 0xdf)
    k = 2, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef)
    k = 3, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4)
    k = 4, min = 0x10000;
  else
    return 0;
  if (n < k)
    return 0;
  uint32_t cp = c & (0x7fu >> k);
  for (size_t i = 1; i < k; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = cp << 6 | (s[i] & 0x3fu);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  *len = k;
  return cp;
}

/* Code points a terminal acts on or that change how a line reads. */
static int unsafe(uint32_t cp)
{
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t sh_text_safe(char *dst, size_t cap, const char *src, size_t n)
{
  const uint8_t *s = (const uint8_t *)src;
  size_t i = 0, o = 0;
  if (!cap)
    return 0;
  while (i < n) {
    size_t len;
    uint32_t cp = utf8_next(s + i, n - i, &len);
    int bad = !len || unsafe(cp);
    size_t out = bad ? 1 : len;
    if (o + out >= cap)
      break;
    if (bad)
      dst[o] = '?';
    else
      memmove(dst + o, s + i, len);
    o += out;
    i += len ? len : 1;
  }
  dst[o] = 0;
  return o;
}

size_t shoal_text_safe(char *dst, size_t cap, const char *src)
{
  return sh_text_safe(dst, cap, src, strlen(src));
}
