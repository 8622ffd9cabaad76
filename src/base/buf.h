/* A growable byte buffer. The owner embeds a struct sh_buf (zeroed, or via
 * SH_BUF_INIT) and frees it with sh_buf_free(). On allocation failure the
 * buffer keeps its old contents and sets `oom`; appends after that are
 * ignored, so a caller can build a whole message and check `oom` once. */
#ifndef SHOAL_BUF_H
#define SHOAL_BUF_H

#include <stddef.h>
#include <stdint.h>

struct sh_buf {
  uint8_t *data;
  size_t len;
  size_t cap;
  int oom;
};

#define SH_BUF_INIT {0, 0, 0, 0}

int sh_buf_reserve(struct sh_buf *b, size_t extra);
void sh_buf_append(struct sh_buf *b, const void *p, size_t n);
void sh_buf_putc(struct sh_buf *b, uint8_t c);
void sh_buf_puts(struct sh_buf *b, const char *s);
void sh_buf_printf(struct sh_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sh_buf_consume(struct sh_buf *b, size_t n); /* drop n bytes from the front */
void sh_buf_reset(struct sh_buf *b);             /* len = 0, keeps memory */
void sh_buf_free(struct sh_buf *b);
/* Takes ownership of the bytes: returns data (NUL-terminated) and empties b. */
char *sh_buf_steal(struct sh_buf *b, size_t *len);

/* Big-endian helpers for wire formats. */
static inline uint16_t sh_rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t sh_rd32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t sh_rd64(const uint8_t *p) { return (uint64_t)sh_rd32(p) << 32 | sh_rd32(p + 4); }
static inline void sh_wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void sh_wr32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void sh_wr64(uint8_t *p, uint64_t v) { sh_wr32(p, (uint32_t)(v >> 32)); sh_wr32(p + 4, (uint32_t)v); }

#endif
