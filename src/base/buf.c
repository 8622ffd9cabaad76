#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sh_buf_reserve(struct sh_buf *b, size_t extra)
{
  if (b->oom)
    return -1;
  if (extra > SIZE_MAX / 2 - b->len) {
    b->oom = 1;
    return -1;
  }
  size_t need = b->len + extra + 1; /* +1 keeps room for a terminating NUL */
  if (need <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need)
    cap *= 2;
  uint8_t *p = realloc(b->data, cap);
  if (!p) {
    b->oom = 1;
    return -1;
  }
  b->data = p;
  b->cap = cap;
  return 0;
}

void sh_buf_append(struct sh_buf *b, const void *p, size_t n)
{
  if (sh_buf_reserve(b, n))
    return;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = 0;
}

void sh_buf_putc(struct sh_buf *b, uint8_t c) { sh_buf_append(b, &c, 1); }

void sh_buf_puts(struct sh_buf *b, const char *s) { sh_buf_append(b, s, strlen(s)); }

void sh_buf_printf(struct sh_buf *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || sh_buf_reserve(b, (size_t)n))
    return;
  va_start(ap, fmt);
  vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void sh_buf_consume(struct sh_buf *b, size_t n)
{
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

void sh_buf_reset(struct sh_buf *b)
{
  b->len = 0;
  b->oom = 0;
}

void sh_buf_free(struct sh_buf *b)
{
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->oom = 0;
}

char *sh_buf_steal(struct sh_buf *b, size_t *len)
{
  if (sh_buf_reserve(b, 0)) {
    if (len)
      *len = 0;
    return NULL;
  }
  b->data[b->len] = 0;
  char *p = (char *)b->data;
  if (len)
    *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}
