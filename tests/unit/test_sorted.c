/* Binary search over sorted records: a key at an offset inside each record,
 * any stride, the match or the insertion point, an empty (NULL) array. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/sorted.h"

struct rec {
  uint32_t before; /* something ahead of the key, so off != 0 */
  uint8_t hash[SH_IHASH_LEN];
  uint64_t after;
};

static int cmp_rec(const void *a, const void *b)
{
  return memcmp(((const struct rec *)a)->hash, ((const struct rec *)b)->hash, SH_IHASH_LEN);
}

static long find(const struct rec *v, size_t n, const uint8_t *h)
{
  return sh_sorted_find(v, n, sizeof *v, offsetof(struct rec, hash), h, SH_IHASH_LEN);
}

Test(sorted, empty_array_gives_insertion_point_zero)
{
  uint8_t h[SH_IHASH_LEN] = {1};
  cr_expect_eq(find(NULL, 0, h), -1);
}

Test(sorted, finds_every_key_and_every_gap)
{
  /* keys 2, 4, ..., 200 in the first byte: odd keys fall in the gaps */
  enum { N = 100 };
  struct rec v[N];
  memset(v, 0xee, sizeof v);
  for (int i = 0; i < N; i++) {
    memset(v[i].hash, 0, SH_IHASH_LEN);
    v[i].hash[0] = (uint8_t)(2 * (i + 1));
  }
  uint8_t h[SH_IHASH_LEN] = {0};
  for (int k = 0; k <= 201; k++) {
    h[0] = (uint8_t)k;
    long r = find(v, N, h);
    if (k >= 2 && k <= 200 && k % 2 == 0) {
      cr_assert_eq(r, k / 2 - 1, "key %d", k);
    } else {
      long ins = k < 2 ? 0 : (k > 200 ? N : (k - 1) / 2);
      cr_assert_eq(r, -ins - 1, "key %d: insertion point %ld, got %ld", k, ins, r);
    }
  }
  /* the last byte counts too */
  h[0] = 4;
  h[19] = 1;
  cr_expect_eq(find(v, N, h), -2 - 1, "just after key 4, before key 6");
}

Test(sorted, agrees_with_a_linear_scan)
{
  enum { N = 1000 };
  struct rec *v = calloc(N, sizeof *v);
  srand(7);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < SH_IHASH_LEN; j++)
      v[i].hash[j] = (uint8_t)(rand() % 4); /* small alphabet: long shared prefixes */
  qsort(v, N, sizeof *v, cmp_rec);
  for (int t = 0; t < 5000; t++) {
    uint8_t h[SH_IHASH_LEN];
    memcpy(h, v[rand() % N].hash, SH_IHASH_LEN);
    if (t % 2)
      h[rand() % SH_IHASH_LEN] = (uint8_t)(rand() % 5);
    long r = find(v, N, h);
    size_t lo = 0;
    while (lo < N && memcmp(v[lo].hash, h, SH_IHASH_LEN) < 0)
      lo++;
    int present = lo < N && memcmp(v[lo].hash, h, SH_IHASH_LEN) == 0;
    if (present)
      cr_assert(r >= 0 && !memcmp(v[r].hash, h, SH_IHASH_LEN), "found a matching record");
    else
      cr_assert_eq(r, -(long)lo - 1);
  }
  free(v);
}

Test(sorted, raw_records_with_a_short_key)
{
  /* the tracker's IPv4 peers: 12-byte records led by a 6-byte address */
  uint8_t rec[3 * 12] = {0};
  const uint8_t a[6] = {10, 0, 0, 1, 0x1a, 0xe1}, b[6] = {10, 0, 0, 2, 0, 80},
                c[6] = {10, 0, 0, 2, 0x1a, 0xe1};
  memcpy(rec, a, 6);
  memcpy(rec + 12, b, 6);
  memcpy(rec + 24, c, 6);
  rec[6] = rec[18] = rec[30] = 0xff; /* the flags after the key never count */
  cr_expect_eq(sh_sorted_find(rec, 3, 12, 0, b, 6), 1);
  cr_expect_eq(sh_sorted_find(rec, 3, 12, 0, c, 6), 2);
  const uint8_t d[6] = {10, 0, 0, 1, 0xff, 0xff};
  cr_expect_eq(sh_sorted_find(rec, 3, 12, 0, d, 6), -1 - 1);
}
