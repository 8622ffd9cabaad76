/* The growable array: doubling from `first`, the cap at `max`, overflow
 * checks, and on every failure the array and capacity exactly as before. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/vec.h"

struct rec {
  uint64_t a, b;
};

Test(vec, doubles_from_first)
{
  struct rec *v = NULL;
  size_t n = 0, cap = 0;
  size_t seen[8], k = 0;
  for (; n < 100; n++) {
    size_t before = cap;
    cr_assert_eq(sh_vec_reserve(v, cap, n + 1, 4, SIZE_MAX), 0);
    if (cap != before && k < 8)
      seen[k++] = cap;
    v[n] = (struct rec){n, ~n};
  }
  /* 4, 8, 16, 32, 64, 128: six allocations for 100 appends */
  cr_assert_eq(k, 6);
  for (size_t i = 0; i < k; i++)
    cr_expect_eq(seen[i], (size_t)4 << i);
  for (size_t i = 0; i < n; i++)
    cr_assert(v[i].a == i && v[i].b == ~i, "element %zu moved intact", i);
  free(v);
}

Test(vec, room_already_there_is_a_no_op)
{
  int *v = NULL;
  size_t cap = 0;
  cr_assert_eq(sh_vec_reserve(v, cap, 10, 16, SIZE_MAX), 0);
  int *was = v;
  cr_expect_eq(cap, 16);
  cr_assert_eq(sh_vec_reserve(v, cap, 16, 16, SIZE_MAX), 0);
  cr_expect_eq(v, was);
  cr_expect_eq(cap, 16);
  free(v);
}

Test(vec, jumps_straight_to_a_large_need)
{
  char *v = NULL;
  size_t cap = 0;
  cr_assert_eq(sh_vec_reserve(v, cap, 1000, 64, SIZE_MAX), 0);
  cr_expect_eq(cap, 1024, "64 doubled until it holds 1000");
  v[999] = 1;
  free(v);
}

Test(vec, capped_at_max)
{
  int *v = NULL;
  size_t cap = 0;
  cr_assert_eq(sh_vec_reserve(v, cap, 65, 64, 100), 0);
  cr_expect_eq(cap, 100, "128 would pass max");
  cr_assert_eq(sh_vec_reserve(v, cap, 100, 64, 100), 0);
  int *was = v;
  cr_expect_eq(sh_vec_reserve(v, cap, 101, 64, 100), -ENOMEM);
  cr_expect_eq(v, was, "the array is untouched");
  cr_expect_eq(cap, 100);
  /* a first capacity above max is cut to max */
  long *w = NULL;
  size_t wc = 0;
  cr_assert_eq(sh_vec_reserve(w, wc, 1, 64, 10), 0);
  cr_expect_eq(wc, 10);
  free(v);
  free(w);
}

Test(vec, overflowing_sizes_fail_and_leave_the_array)
{
  struct rec *v = NULL;
  size_t cap = 0;
  cr_assert_eq(sh_vec_reserve(v, cap, 3, 2, SIZE_MAX), 0);
  v[0].a = 42;
  struct rec *was = v;
  /* SIZE_MAX / 8 elements of 16 bytes is more bytes than size_t holds */
  cr_expect_eq(sh_vec_reserve(v, cap, SIZE_MAX / 8, 2, SIZE_MAX), -ENOMEM);
  cr_expect_eq(v, was);
  cr_expect_eq(cap, 4);
  cr_expect_eq(v[0].a, 42);
  /* doubling past SIZE_MAX / 2 stops at max instead of wrapping to 0, and
   * max elements of 2 bytes are refused before any allocation is tried */
  cr_expect_eq(sh_vec_grow(&v, &cap, SIZE_MAX / 2 + 2, 2, 2, SIZE_MAX), -ENOMEM);
  cr_expect_eq(v, was);
  cr_expect_eq(cap, 4);
  free(v);
}

Test(vec, u32_capacity)
{
  struct rec *v = NULL;
  uint32_t n = 0, cap = 0;
  for (; n < 10; n++) {
    cr_assert_eq(sh_vec_reserve(v, cap, (size_t)n + 1, 4, UINT32_MAX), 0);
    v[n].a = n;
  }
  cr_expect_eq(cap, 16);
  /* more than a 32-bit capacity can say fails, whatever max says */
  cr_expect_eq(sh_vec_reserve(v, cap, (size_t)UINT32_MAX + 1, 4, SIZE_MAX), -ENOMEM);
  cr_expect_eq(cap, 16);
  cr_expect_eq(v[9].a, 9);
  free(v);
}

Test(vec, records_sized_at_run_time)
{
  uint8_t *rec = NULL;
  uint32_t cap = 0;
  size_t rlen = 24;
  cr_assert_eq(sh_vec_reserve_u32(&rec, &cap, 3, rlen, 2, UINT32_MAX), 0);
  cr_expect_eq(cap, 4);
  for (size_t i = 0; i < 4 * rlen; i++)
    rec[i] = (uint8_t)i; /* all 96 bytes are ours (ASan would say otherwise) */
  free(rec);
}
