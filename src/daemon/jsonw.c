/* JSON text into a buffer; see jsonw.h. */
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
  sh_buf_putc(b, '"');
  while (*p) {
    const unsigned char *run = p;
    while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
      p++;
    sh_buf_append(b, run, (size_t)(p - run));
    if (!*p)
      break;
    if (*p == '"' || *p == '\\') {
      sh_buf_putc(b, '\\');
      sh_buf_putc(b, *p++);
    } else if (*p < 0x20) {
      sh_buf_printf(b, "\\u%04x", *p++);
    } else {
      int n = utf8_len(p);
      if (n) {
        sh_buf_append(b, p, (size_t)n);
        p += n;
      } else {
        sh_buf_puts(b, "\\ufffd");
        p++;
      }
    }
  }
  sh_buf_putc(b, '"');
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
  sh_buf_append(b, tmp + k, sizeof tmp - (size_t)k);
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

void sh_jw_bool(struct sh_buf *b, int v) { sh_buf_puts(b, v ? "true" : "false"); }
