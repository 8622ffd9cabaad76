/* The hash table (see tab.h). */
#include "base/tab.h"

#include <errno.h>
#include <stdlib.h>

/* splitmix64's finaliser: every key bit reaches every slot bit */
static uint64_t mix(uint64_t k)
{
  k ^= k >> 30;
  k *= 0xbf58476d1ce4e5b9ull;
  k ^= k >> 27;
  k *= 0x94d049bb133111ebull;
  return k ^ (k >> 31);
}

static int grow(struct sh_tab *t)
{
  size_t cap = t->cap ? t->cap * 2 : 16;
  struct sh_tab_slot *s = calloc(cap, sizeof *s);
  if (!s)
    return -ENOMEM;
  for (size_t i = 0; i < t->cap; i++) {
    if (!t->s[i].val)
      continue;
    size_t j = mix(t->s[i].key) & (cap - 1);
    while (s[j].val)
      j = (j + 1) & (cap - 1);
    s[j] = t->s[i];
  }
  free(t->s);
  t->s = s;
  t->cap = cap;
  return 0;
}

int sh_tab_put(struct sh_tab *t, uint64_t key, void *val)
{
  if ((t->n + 1) * 2 > t->cap && grow(t) < 0)
    return -ENOMEM;
  size_t j = mix(key) & (t->cap - 1);
  while (t->s[j].val)
    j = (j + 1) & (t->cap - 1);
  t->s[j] = (struct sh_tab_slot){key, val};
  t->n++;
  return 0;
}

void *sh_tab_get(const struct sh_tab *t, uint64_t key, int (*match)(const void *val, const void *ctx),
                 const void *ctx)
{
  if (!t->cap)
    return NULL;
  for (size_t j = mix(key) & (t->cap - 1); t->s[j].val; j = (j + 1) & (t->cap - 1))
    if (t->s[j].key == key && (!match || match(t->s[j].val, ctx)))
      return t->s[j].val;
  return NULL;
}

int sh_tab_del(struct sh_tab *t, uint64_t key, const void *val)
{
  if (!t->cap)
    return -ENOENT;
  size_t mask = t->cap - 1, j = mix(key) & mask;
  while (t->s[j].val && !(t->s[j].key == key && t->s[j].val == val))
    j = (j + 1) & mask;
  if (!t->s[j].val)
    return -ENOENT;
  /* backward shift: move later entries of the run into the hole when
   * their home slot does not lie between the hole and them */
  size_t hole = j;
  for (size_t k = (j + 1) & mask; t->s[k].val; k = (k + 1) & mask) {
    size_t home = mix(t->s[k].key) & mask;
    if (((k - home) & mask) >= ((k - hole) & mask)) {
      t->s[hole] = t->s[k];
      hole = k;
    }
  }
  t->s[hole] = (struct sh_tab_slot){0, NULL};
  t->n--;
  return 0;
}

void sh_tab_free(struct sh_tab *t)
{
  free(t->s);
  t->s = NULL;
  t->cap = t->n = 0;
}
