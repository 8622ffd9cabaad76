/* One growable array for every "n used of cap allocated" in the library.
 *
 * The array stays the caller's plain pointer and counters (no wrapper
 * struct), so each module keeps its own layout: `struct foo *v; size_t n,
 * cap;` or 32-bit counters where a record is kept small. Before appending,
 *
 *   if (sh_vec_reserve(l->e, l->cap, l->n + 1, 64, SH_PEERS_MAX) < 0)
 *     return -ENOMEM;
 *   l->e[l->n++] = x;
 *
 * Capacity doubles from `first` (amortised O(1) appends) and is capped at
 * `max` elements (SIZE_MAX: no cap of its own). Sizes are checked for
 * overflow. On failure the array and its capacity are left exactly as they
 * were, still valid and still owned by the caller, who frees it with free().
 * Pure: no state of its own, usable from any thread on arrays it owns. */
#ifndef SHOAL_VEC_H
#define SHOAL_VEC_H

#include <stddef.h>
#include <stdint.h>

/* Makes room for at least `need` elements of `elem` bytes in the array at
 * *arrp (the address of the caller's T* array, NULL when empty), whose
 * capacity is *cap. Returns 0, or -ENOMEM when out of memory, when `need`
 * exceeds `max`, or when the size in bytes would overflow. */
int sh_vec_grow(void *arrp, size_t *cap, size_t need, size_t elem, size_t first, size_t max);

static inline int sh_vec_reserve_sz(void *arrp, size_t *cap, size_t need, size_t elem,
                                    size_t first, size_t max)
{
  return need <= *cap ? 0 : sh_vec_grow(arrp, cap, need, elem, first, max);
}

/* The same for a 32-bit capacity; never grows past UINT32_MAX elements. */
static inline int sh_vec_reserve_u32(void *arrp, uint32_t *cap, size_t need, size_t elem,
                                     size_t first, size_t max)
{
  if (need <= *cap)
    return 0;
  size_t c = *cap;
  int rc = sh_vec_grow(arrp, &c, need, elem, first, max < UINT32_MAX ? max : UINT32_MAX);
  if (rc == 0)
    *cap = (uint32_t)c;
  return rc;
}

/* sh_vec_reserve(arr, cap, need, first, max): arr is a T* lvalue, cap a
 * size_t or uint32_t lvalue; the element size is sizeof *arr. arr and cap
 * are evaluated once. Arrays of records whose size is only known at run
 * time call sh_vec_reserve_sz/_u32 with it directly. */
#if SIZE_MAX > UINT32_MAX
#define sh_vec_reserve(arr, cap, need, first, max)                                        \
  _Generic((cap), size_t: sh_vec_reserve_sz, uint32_t: sh_vec_reserve_u32)(             \
      &(arr), &(cap), (need), sizeof *(arr), (first), (max))
#else
#define sh_vec_reserve(arr, cap, need, first, max) \
  sh_vec_reserve_sz(&(arr), &(cap), (need), sizeof *(arr), (first), (max))
#endif

#endif
