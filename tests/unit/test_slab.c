/* base/slab: fixed buffers from one huge-page mapping. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "base/slab.h"

Test(slab, slots_are_aligned_distinct_and_counted)
{
  struct sh_slab s;
  /* 1 MiB + 1 rounds up to a whole number of 4 KiB blocks */
  cr_assert_eq(sh_slab_init(&s, (1u << 20) + 1, 4096, 5), 0);
  cr_expect_eq(s.slot_len, (1u << 20) + 4096);
  cr_expect_eq((uintptr_t)s.base % (2u << 20), 0, "slots start on a 2 MiB boundary");
  uint8_t *p[5];
  for (int i = 0; i < 5; i++) {
    p[i] = sh_slab_get(&s);
    cr_assert_not_null(p[i]);
    cr_expect_eq((uintptr_t)p[i] % 4096, 0);
    cr_expect(sh_slab_owns(&s, p[i]));
    memset(p[i], i + 1, s.slot_len); /* whole slot writable */
  }
  cr_expect_eq(p[0], s.base, "lowest address first");
  cr_expect_null(sh_slab_get(&s), "five slots, no sixth");
  for (int i = 0; i < 5; i++)
    cr_expect_eq(p[i][0], i + 1, "slot %d kept its bytes: slots do not overlap", i);
  cr_expect(!sh_slab_owns(&s, p[1] + 1), "inside a slot is not a slot");
  cr_expect(!sh_slab_owns(&s, s.base + 5 * s.slot_len), "past the last slot");
  sh_slab_put(&s, p[3]);
  cr_expect_eq(sh_slab_get(&s), p[3], "the last slot given back is the next handed out");
  for (int i = 0; i < 5; i++)
    sh_slab_put(&s, p[i]);
  cr_expect_eq(s.nfree, 5);
  sh_slab_free(&s);
  cr_expect_null(s.base);
}

Test(slab, empty_and_bad_arguments)
{
  struct sh_slab s;
  cr_assert_eq(sh_slab_init(&s, 4096, 4096, 0), 0);
  cr_expect_null(sh_slab_get(&s));
  cr_expect(!sh_slab_owns(&s, (uint8_t *)&s));
  sh_slab_free(&s);
  cr_expect_eq(sh_slab_init(&s, 4096, 3000, 1), -EINVAL, "alignment not a power of two");
  cr_expect_eq(sh_slab_init(&s, 4096, 4u << 20, 1), -EINVAL, "alignment above 2 MiB");
  cr_expect_eq(sh_slab_init(&s, 0, 4096, 1), -EINVAL);
  cr_expect_eq(sh_slab_init(&s, SIZE_MAX - 100, 4096, 2), -ENOMEM, "size overflow");
  sh_slab_free(&s); /* harmless after a failed init */
}

Test(slab, double_put_aborts, .signal = SIGABRT)
{
  struct sh_slab s;
  cr_assert_eq(sh_slab_init(&s, 4096, 4096, 3), 0);
  uint8_t *p = sh_slab_get(&s);
  cr_assert_not_null(sh_slab_get(&s)); /* another one out: the count alone cannot tell */
  sh_slab_put(&s, p);
  sh_slab_put(&s, p);
}
