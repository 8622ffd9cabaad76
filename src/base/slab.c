#include "base/slab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_LEN ((size_t)2 << 20)

int sh_slab_init(struct sh_slab *s, size_t len, size_t align, size_t nslots)
{
  memset(s, 0, sizeof *s);
  if (!nslots)
    return 0;
  if (!align || (align & (align - 1)) || align > HUGE_LEN || !len || nslots > UINT32_MAX)
    return -EINVAL;
  size_t slot = (len + align - 1) & ~(align - 1);
  if (slot < len || nslots > (SIZE_MAX - 2 * HUGE_LEN) / slot)
    return -ENOMEM;
  size_t want = (slot * nslots + HUGE_LEN - 1) & ~(HUGE_LEN - 1);
  /* Over-reserve one huge page so the slots can start on a 2 MiB boundary;
   * NORESERVE: untouched slots cost nothing. */
  size_t map_len = want + HUGE_LEN;
  void *m = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (m == MAP_FAILED)
    return -ENOMEM;
  uint32_t *fr = malloc(nslots * sizeof *fr);
  uint8_t *out = calloc(nslots, 1);
  if (!fr || !out) {
    free(fr);
    free(out);
    munmap(m, map_len);
    return -ENOMEM;
  }
  uint8_t *base = (uint8_t *)(((uintptr_t)m + HUGE_LEN - 1) & ~(uintptr_t)(HUGE_LEN - 1));
#ifdef MADV_HUGEPAGE
  madvise(base, want, MADV_HUGEPAGE); /* advice only: 4 KiB pages work too */
#endif
  for (size_t i = 0; i < nslots; i++)
    fr[i] = (uint32_t)(nslots - 1 - i); /* slot 0 on top */
  s->map = m;
  s->map_len = map_len;
  s->base = base;
  s->slot_len = slot;
  s->nslots = nslots;
  s->nfree = nslots;
  s->free = fr;
  s->out = out;
  return 0;
}

uint8_t *sh_slab_get(struct sh_slab *s)
{
  if (!s->nfree)
    return NULL;
  uint32_t i = s->free[--s->nfree];
  s->out[i] = 1;
  return s->base + (size_t)i * s->slot_len;
}

int sh_slab_owns(const struct sh_slab *s, const uint8_t *p)
{
  if (!s->base || p < s->base || p >= s->base + s->slot_len * s->nslots)
    return 0;
  return (size_t)(p - s->base) % s->slot_len == 0;
}

void sh_slab_put(struct sh_slab *s, uint8_t *p)
{
  /* not ours, or given back twice: memory is already being misused */
  if (!sh_slab_owns(s, p))
    abort();
  size_t i = (size_t)(p - s->base) / s->slot_len;
  if (!s->out[i])
    abort();
  s->out[i] = 0;
  s->free[s->nfree++] = (uint32_t)i;
}

void sh_slab_free(struct sh_slab *s)
{
  if (s->map)
    munmap(s->map, s->map_len);
  free(s->free);
  free(s->out);
  memset(s, 0, sizeof *s);
}
