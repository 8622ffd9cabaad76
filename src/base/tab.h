/* A hash table from 64-bit keys to pointers: open addressing with linear
 * probing, at most half full, deletion by backward shift (no tombstones,
 * so lookups stay short however many entries come and go).
 *
 * Keys need not be unique: lookups take a match function that tells the
 * entry wanted from others with the same key (an info-hash table keys by
 * its first 8 bytes and compares all 20). Keys are mixed before use, so
 * sequential ids spread as well as hashes do.
 *
 * The caller embeds the struct (zeroed is empty) and frees it with
 * sh_tab_free; values are borrowed. Loop thread only, like its users. */
#ifndef SHOAL_BASE_TAB_H
#define SHOAL_BASE_TAB_H

#include <stddef.h>
#include <stdint.h>

struct sh_tab_slot {
  uint64_t key;
  void *val; /* NULL: empty */
};

struct sh_tab {
  struct sh_tab_slot *s;
  size_t cap; /* a power of two, or 0 */
  size_t n;
};

/* Adds key -> val (val non-NULL). Returns 0 or -ENOMEM (then unchanged). */
int sh_tab_put(struct sh_tab *t, uint64_t key, void *val);
/* The first entry under key that match accepts (match NULL: any). */
void *sh_tab_get(const struct sh_tab *t, uint64_t key, int (*match)(const void *val, const void *ctx),
                 const void *ctx);
/* Removes the entry key -> val. Returns 0, or -ENOENT. */
int sh_tab_del(struct sh_tab *t, uint64_t key, const void *val);
void sh_tab_free(struct sh_tab *t);

/* The key of a 20- or 32-byte hash: its first 8 bytes. */
static inline uint64_t sh_tab_hash_key(const uint8_t *h)
{
  uint64_t k = 0;
  for (int i = 0; i < 8; i++)
    k = k << 8 | h[i];
  return k;
}

#endif
