/* JSON text into a buffer; see jsonw.h. Each call makes room once for
 * the most it can write and then writes through a pointer: torrent-get
 * of 10,000 torrents writes 300,000 values, and a reserve per byte was
 * most of its time. */
#include "daemon/jsonw.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0. */
static int utf8_len(const unsigned char *s)
{
  unsigned c = s[0];
  int n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
  if (!n || (n == 2 && c < 0xc2))
    return n == 1 ? 1 : 0;
  uint32_t cp = c & (0x7f >> n);
  for (int i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  /* overlong forms, surrogates and past U+10FFFF are not UTF-8 */
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

void sh_jw_str(struct sh_buf *b, const char *s)
{
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  size_t n = strlen((const char *)p);
  /* at most 6 bytes out per byte in (\u00XX, or \ufffd for one bad byte) */
  if (sh_jw_room(b, 6 * n + 2) < 0)
    return;
  static const char hex[] = "0123456789abcdef";
  uint8_t *o = b->data + b->len;
  *o++ = '"';
  while (*p) {
    unsigned char c = *p;
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      *o++ = c;
      p++;
    } else if (c == '"' || c == '\\') {
      *o++ = '\\';
      *o++ = c;
      p++;
    } else if (c < 0x20) {
      memcpy(o, "\\u00", 4);
      o[4] = (uint8_t)hex[c >> 4];
      o[5] = (uint8_t)hex[c & 15];
      o += 6;
      p++;
    } else {
      int k = utf8_len(p);
      if (k) {
        memcpy(o, p, (size_t)k);
        o += k;
        p += k;
      } else {
        memcpy(o, "\\ufffd", 6);
        o += 6;
        p++;
      }
    }
  }
  *o++ = '"';
  b->len = (size_t)(o - b->data);
  b->data[b->len] = 0;
}

void sh_jw_int(struct sh_buf *b, int64_t v)
{
  char tmp[24];
  int k = (int)sizeof tmp;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    tmp[--k] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0)
    tmp[--k] = '-';
  sh_jw_raw(b, tmp + k, sizeof tmp - (size_t)k);
}

void sh_jw_real(struct sh_buf *b, double v)
{
  if (!isfinite(v))
    v = 0;
  if (fabs(v - (double)(int64_t)v) < 0.00001 && fabs(v) < 9e15)
    sh_jw_int(b, (int64_t)llround(v));
  else
    sh_buf_printf(b, "%.4f", v);
}

void sh_jw_bool(struct sh_buf *b, int v)
{
  if (v)
    sh_jw_raw(b, "true", 4);
  else
    sh_jw_raw(b, "false", 5);
}
