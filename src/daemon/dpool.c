/* The daemon's records and their strings, apart from the heap: see
 * dpool.h. Size classes of 32 to 512 bytes, each slot headed by its
 * class; 64 KiB chunks from mmap, never returned (the records they hold
 * live as long as the daemon); a free list per class. Under
 * AddressSanitizer, plain malloc and free, so its checks see the
 * records. Loop thread only. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "daemon/dpool.h"

#if defined(__SANITIZE_ADDRESS__)
#define DP_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DP_MALLOC 1
#endif
#endif

#ifdef DP_MALLOC

void *sh_dp_alloc(size_t n) { return calloc(1, n ? n : 1); }
void sh_dp_free(void *p) { free(p); }

#else

#define DP_CLASSES 5          /* 32, 64, 128, 256, 512 */
#define DP_HEAD 16            /* keeps slots 16-byte aligned */
#define DP_CHUNK (64u << 10)

struct slot {
  union {
    struct slot *next;        /* free: the next free slot of its class */
    uint64_t cls;             /* in use: its class */
  };
};

static struct slot *free_list[DP_CLASSES];
static uint8_t *chunk, *chunk_end; /* where the next new slot is cut */

static int class_of(size_t n)
{
  for (int c = 0; c < DP_CLASSES; c++)
    if (n + DP_HEAD <= (size_t)32 << c)
      return c;
  return -1;
}

void *sh_dp_alloc(size_t n)
{
  int c = class_of(n);
  if (c < 0) {
    uint8_t *p = calloc(1, n + DP_HEAD); /* bigger than a class: the heap */
    if (!p)
      return NULL;
    ((struct slot *)p)->cls = DP_CLASSES;
    return p + DP_HEAD;
  }
  size_t size = (size_t)32 << c;
  struct slot *s = free_list[c];
  if (s) {
    free_list[c] = s->next;
  } else {
    if (!chunk || (size_t)(chunk_end - chunk) < size) {
      void *m = mmap(NULL, DP_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED)
        return NULL; /* the rest of the old chunk is left: under 512 bytes */
      chunk = m;
      chunk_end = chunk + DP_CHUNK;
    }
    s = (struct slot *)chunk;
    chunk += size;
  }
  memset(s, 0, size);
  s->cls = (uint64_t)c;
  return (uint8_t *)s + DP_HEAD;
}

void sh_dp_free(void *p)
{
  if (!p)
    return;
  struct slot *s = (struct slot *)((uint8_t *)p - DP_HEAD);
  if (s->cls >= DP_CLASSES) {
    free(s);
    return;
  }
  int c = (int)s->cls;
  s->next = free_list[c];
  free_list[c] = s;
}

#endif

char *sh_dp_strdup(const char *s)
{
  if (!s)
    return NULL;
  size_t n = strlen(s) + 1;
  char *d = sh_dp_alloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}
