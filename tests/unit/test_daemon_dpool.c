/* The daemon records' memory (src/daemon/dpool.c): zeroed slots of each
 * size class, reused once freed, strings copied whole, sizes past the
 * largest class served too. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "daemon/dpool.h"

Test(daemon_dpool, zeroed_aligned_and_writable)
{
  size_t sizes[] = {1, 15, 16, 17, 48, 100, 240, 496, 497, 4000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    uint8_t *p = sh_dp_alloc(sizes[i]);
    cr_assert_not_null(p, "size %zu", sizes[i]);
    cr_assert_eq((uintptr_t)p % 16, 0, "16-byte aligned (size %zu)", sizes[i]);
    for (size_t k = 0; k < sizes[i]; k++)
      cr_assert_eq(p[k], 0, "zeroed (size %zu, byte %zu)", sizes[i], k);
    memset(p, 0xab, sizes[i]);
    sh_dp_free(p);
  }
  sh_dp_free(NULL);
}

Test(daemon_dpool, freed_slots_come_back_zeroed)
{
  char *a = sh_dp_alloc(40);
  memset(a, 'x', 40);
  sh_dp_free(a);
  char *b = sh_dp_alloc(40);
  for (int k = 0; k < 40; k++)
    cr_assert_eq(b[k], 0);
  sh_dp_free(b);
}

Test(daemon_dpool, many_records_stay_apart)
{
  enum { N = 5000 };
  static char *p[N];
  for (int i = 0; i < N; i++) {
    p[i] = sh_dp_alloc(464);
    cr_assert_not_null(p[i]);
    memset(p[i], i & 0xff, 464);
  }
  for (int i = 0; i < N; i++)
    for (int k = 0; k < 464; k += 57)
      cr_assert_eq((uint8_t)p[i][k], (uint8_t)(i & 0xff), "record %d overwritten", i);
  for (int i = 0; i < N; i++)
    sh_dp_free(p[i]);
}

Test(daemon_dpool, strdup)
{
  cr_assert_null(sh_dp_strdup(NULL));
  char *e = sh_dp_strdup("");
  cr_assert_str_eq(e, "");
  char name[300];
  memset(name, 'n', sizeof name - 1);
  name[sizeof name - 1] = 0;
  char *s = sh_dp_strdup(name);
  cr_assert_str_eq(s, name, "longer than the largest class");
  sh_dp_free(e);
  sh_dp_free(s);
}
