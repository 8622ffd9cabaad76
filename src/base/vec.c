/* Growable arrays; see vec.h. */
#include "base/vec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int sh_vec_grow(void *arrp, size_t *cap, size_t need, size_t elem, size_t first, size_t max)
{
  if (need <= *cap)
    return 0;
  if (need > max || elem == 0)
    return -ENOMEM;
  size_t nc = *cap ? *cap : (first ? first : 1);
  while (nc < need)
    nc = nc > max / 2 ? max : nc * 2;
  if (nc > max)
    nc = max;
  if (nc > SIZE_MAX / elem)
    return -ENOMEM;
  /* the caller's T* is read and written as bytes: a void * has the same
   * representation, and nothing here is typed as T */
  void *old, *p;
  memcpy(&old, arrp, sizeof old);
  p = realloc(old, nc * elem);
  if (!p)
    return -ENOMEM;
  memcpy(arrp, &p, sizeof p);
  *cap = nc;
  return 0;
}
