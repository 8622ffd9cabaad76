/* SHA-1 with the x86 SHA extensions, several independent streams
 * interleaved in one thread.
 *
 * sha1rnds4 does four rounds but its result feeds the next sha1rnds4
 * directly, so one stream runs at the instruction's latency, not its
 * throughput; OpenSSL's single stream gets ~2.1 GB/s on the reference
 * machine. Two streams interleaved fill the gaps (sha1_mb.c has the figures).
 * The SHA instructions exist only in legacy SSE encoding, i.e. 16 xmm
 * registers: two streams need ~18 live values (state, saved state, four
 * schedule words each) and fit with little spilling, four spill more.
 *
 * Register layout (the instructions' convention): A..D in one xmm with A in
 * the highest dword, E in the highest dword of another; message words
 * byte-swapped to big-endian with W[t] in the highest dword of its group. */
#include "base/sha1_mb_impl.h"

#ifdef SH_SHA1_MB_X86
#include <immintrin.h>

#define SHANI_TARGET __attribute__((target("sha,sse4.1")))

/* One group g (rounds 4g..4g+3) for stream s. W[g] for g >= 4 follows the
 * schedule W[t] = rol1(W[t-3] ^ W[t-8] ^ W[t-14] ^ W[t-16]): sha1msg1 does
 * the W[t-16] ^ W[t-14] part, the xor adds W[t-8], sha1msg2 finishes with
 * W[t-3] and the rotation. The E input is E + W[0] for the first group and
 * rol30(A of two groups back) + W[g] (sha1nexte) after. */
#define GRP(s, g, f)                                                                          \
  do {                                                                                        \
    if ((g) < 4) {                                                                            \
      w[s][(g) & 3] = _mm_shuffle_epi8(                                                       \
          _mm_loadu_si128((const __m128i *)(void *)(q[s] + 16 * (g))), bswap);                \
    } else {                                                                                  \
      w[s][(g) & 3] = _mm_sha1msg2_epu32(                                                     \
          _mm_xor_si128(_mm_sha1msg1_epu32(w[s][(g) & 3], w[s][((g) + 1) & 3]),               \
                        w[s][((g) + 2) & 3]),                                                 \
          w[s][((g) + 3) & 3]);                                                               \
    }                                                                                         \
    __m128i ein = (g) == 0 ? _mm_add_epi32(e[s], w[s][0])                                     \
                           : _mm_sha1nexte_epu32(prev[s], w[s][(g) & 3]);                     \
    prev[s] = abcd[s];                                                                        \
    abcd[s] = _mm_sha1rnds4_epu32(abcd[s], ein, f);                                           \
  } while (0)

#define ALL(g, f)                                                                             \
  do {                                                                                        \
    for (int s = 0; s < S; s++)                                                               \
      GRP(s, g, f);                                                                           \
  } while (0)

/* S streams at once; S is a constant at each call site so the loops over s
 * unroll and every value stays in a register (or a predictable spill). */
static inline __attribute__((always_inline)) SHANI_TARGET void
shani_run(uint32_t (*const *hp), const uint8_t *const *p, size_t nblocks, const int S)
{
  const __m128i bswap = _mm_set_epi64x(0x0001020304050607LL, 0x08090a0b0c0d0e0fLL);
  __m128i abcd[4], e[4], prev[4], w[4][4], sa[4], se[4];
  const uint8_t *q[4];
  for (int s = 0; s < S; s++) {
    abcd[s] = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(void *)hp[s]), 0x1b);
    e[s] = _mm_set_epi32((int)hp[s][4], 0, 0, 0);
    q[s] = p[s];
  }
  for (size_t b = 0; b < nblocks; b++) {
    for (int s = 0; s < S; s++) {
      sa[s] = abcd[s];
      se[s] = e[s];
    }
    ALL(0, 0); ALL(1, 0); ALL(2, 0); ALL(3, 0); ALL(4, 0);
    ALL(5, 1); ALL(6, 1); ALL(7, 1); ALL(8, 1); ALL(9, 1);
    ALL(10, 2); ALL(11, 2); ALL(12, 2); ALL(13, 2); ALL(14, 2);
    ALL(15, 3); ALL(16, 3); ALL(17, 3); ALL(18, 3); ALL(19, 3);
    for (int s = 0; s < S; s++) {
      e[s] = _mm_sha1nexte_epu32(prev[s], se[s]);
      abcd[s] = _mm_add_epi32(abcd[s], sa[s]);
      q[s] += 64;
    }
  }
  for (int s = 0; s < S; s++) {
    _mm_storeu_si128((__m128i *)(void *)hp[s], _mm_shuffle_epi32(abcd[s], 0x1b));
    hp[s][4] = (uint32_t)_mm_extract_epi32(e[s], 3);
  }
}

static SHANI_TARGET void shani_1(uint32_t *const *hp, const uint8_t *const *p, size_t nb)
{
  shani_run(hp, p, nb, 1);
}

static SHANI_TARGET void shani_2(uint32_t *const *hp, const uint8_t *const *p, size_t nb)
{
  shani_run(hp, p, nb, 2);
}

static SHANI_TARGET void shani_4(uint32_t *const *hp, const uint8_t *const *p, size_t nb)
{
  shani_run(hp, p, nb, 4);
}

/* Collects the active lanes and runs them `width` at a time, the rest in
 * smaller groups. */
static void shani_blocks(uint32_t (*h)[5], const uint8_t *const *p, unsigned n, size_t nblocks,
                         unsigned width)
{
  uint32_t *hp[16];
  const uint8_t *pp[16];
  unsigned k = 0;
  for (unsigned i = 0; i < n && i < 16; i++)
    if (p[i]) {
      hp[k] = h[i];
      pp[k++] = p[i];
    }
  unsigned i = 0;
  if (width >= 4)
    for (; i + 4 <= k; i += 4)
      shani_4(hp + i, pp + i, nblocks);
  for (; i + 2 <= k; i += 2)
    shani_2(hp + i, pp + i, nblocks);
  for (; i < k; i++)
    shani_1(hp + i, pp + i, nblocks);
}

void sh_sha1_mb_blocks_shani(uint32_t (*h)[5], const uint8_t *const *p, unsigned n, size_t nblocks)
{
  shani_blocks(h, p, n, nblocks, 2);
}

void sh_sha1_mb_blocks_shani4(uint32_t (*h)[5], const uint8_t *const *p, unsigned n, size_t nblocks)
{
  shani_blocks(h, p, n, nblocks, 4);
}
#endif
