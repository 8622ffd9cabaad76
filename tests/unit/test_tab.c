/* The hash table: puts, lookups with and without a match function, keys
 * shared by several entries, and deletion by backward shift checked
 * against a plain array after every step of a long random sequence. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#include "base/tab.h"

static int is(const void *val, const void *ctx) { return val == ctx; }

Test(tab, put_get_del)
{
  struct sh_tab t = {0};
  int v[100];
  for (int i = 0; i < 100; i++)
    cr_assert_eq(sh_tab_put(&t, (uint64_t)i + 1, &v[i]), 0);
  cr_expect_eq(t.n, 100);
  cr_expect_leq(t.n * 2, t.cap, "at most half full");
  for (int i = 0; i < 100; i++)
    cr_expect_eq(sh_tab_get(&t, (uint64_t)i + 1, NULL, NULL), &v[i]);
  cr_expect_null(sh_tab_get(&t, 1000, NULL, NULL));
  cr_expect_eq(sh_tab_del(&t, 50, &v[49]), 0);
  cr_expect_eq(sh_tab_del(&t, 50, &v[49]), -ENOENT);
  cr_expect_null(sh_tab_get(&t, 50, NULL, NULL));
  cr_expect_eq(sh_tab_get(&t, 51, NULL, NULL), &v[50]);
  sh_tab_free(&t);
}

Test(tab, shared_keys_need_the_match)
{
  struct sh_tab t = {0};
  int a, b, c;
  sh_tab_put(&t, 7, &a);
  sh_tab_put(&t, 7, &b);
  sh_tab_put(&t, 7, &c);
  cr_expect_eq(sh_tab_get(&t, 7, is, &b), &b);
  cr_expect_eq(sh_tab_get(&t, 7, is, &c), &c);
  sh_tab_del(&t, 7, &a);
  cr_expect_null(sh_tab_get(&t, 7, is, &a));
  cr_expect_eq(sh_tab_get(&t, 7, is, &c), &c, "found after the entry before it went");
  sh_tab_free(&t);
}

Test(tab, random_churn_matches_an_array)
{
  struct sh_tab t = {0};
  enum { N = 2000 };
  static int vals[N];
  static int in[N];
  uint64_t rng = 12345;
  for (int step = 0; step < 50000; step++) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    int i = (int)((rng >> 33) % N);
    /* few distinct keys, so runs are long and shifts are exercised */
    uint64_t key = (uint64_t)(i % 97);
    if (in[i]) {
      cr_assert_eq(sh_tab_del(&t, key, &vals[i]), 0);
      in[i] = 0;
    } else {
      cr_assert_eq(sh_tab_put(&t, key, &vals[i]), 0);
      in[i] = 1;
    }
    if (step % 997 == 0)
      for (int k = 0; k < N; k++)
        cr_assert_eq(sh_tab_get(&t, (uint64_t)(k % 97), is, &vals[k]) != NULL, in[k],
                     "entry %d at step %d", k, step);
  }
  sh_tab_free(&t);
}
