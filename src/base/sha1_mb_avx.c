/* SHA-1 across SIMD lanes: message i of the group lives in dword lane i of
 * every vector, so one vector instruction does the same step for 8 (AVX2)
 * or 16 (AVX-512) messages. A round is
 *   T = rol5(A) + f(B,C,D) + E + K + W[t]; E=D; D=C; C=rol30(B); B=A; A=T
 * (FIPS 180-4 §6.1.2) and the schedule W[t] = rol1(W[t-3]^W[t-8]^W[t-14]^
 * W[t-16]) is computed in a ring of 16 vectors. AVX-512 makes both cheap:
 * vprold rotates in one instruction (AVX2 needs shift, shift, or) and
 * vpternlogd computes any of the three f functions, or the three-way xor of
 * the schedule, in one.
 *
 * Loading: the 64-byte block of each lane is one row; the rounds want
 * columns (word t of every lane), so each block is transposed with 8x8
 * dword transposes (unpack 32, unpack 64, 128-bit lane permute) and
 * byte-swapped to big-endian. Lanes whose pointer is NULL compute on a copy
 * of an active lane's data and their result is dropped. */
#include "base/sha1_mb_impl.h"

#ifdef SH_SHA1_MB_X86
#include <immintrin.h>
#include <string.h>

#define K0 0x5a827999
#define K1 0x6ed9eba1
#define K2 0x8f1bbcdc
#define K3 0xca62c1d6

/* Transposes the 8x8 dwords r[0..7] (row i = 8 words of lane i) into
 * columns c[0..7] (column j = word j of lanes 0..7). */
#define TRANSPOSE8(r, c)                                                                     \
  do {                                                                                       \
    __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);  \
    __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);  \
    __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);  \
    __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);  \
    __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);          \
    __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);          \
    __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);          \
    __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);          \
    c[0] = _mm256_permute2x128_si256(u0, u4, 0x20);                                          \
    c[4] = _mm256_permute2x128_si256(u0, u4, 0x31);                                          \
    c[1] = _mm256_permute2x128_si256(u1, u5, 0x20);                                          \
    c[5] = _mm256_permute2x128_si256(u1, u5, 0x31);                                          \
    c[2] = _mm256_permute2x128_si256(u2, u6, 0x20);                                          \
    c[6] = _mm256_permute2x128_si256(u2, u6, 0x31);                                          \
    c[3] = _mm256_permute2x128_si256(u3, u7, 0x20);                                          \
    c[7] = _mm256_permute2x128_si256(u3, u7, 0x31);                                          \
  } while (0)

/* Fills q[0..L) from p[0..n), replacing NULL (and lanes >= n) with the first
 * active pointer; returns 0 if no lane is active. */
static int lanes(const uint8_t **q, const uint8_t *const *p, unsigned n, unsigned L)
{
  const uint8_t *any = NULL;
  for (unsigned i = 0; i < n && !any; i++)
    any = p[i];
  if (!any)
    return 0;
  for (unsigned i = 0; i < L; i++)
    q[i] = i < n && p[i] ? p[i] : any;
  return 1;
}

/* ---- AVX2, 8 lanes ---- */

#define AVX2_TARGET __attribute__((target("avx2")))
#define ROL8(x, k) _mm256_or_si256(_mm256_slli_epi32(x, k), _mm256_srli_epi32(x, 32 - (k)))

static AVX2_TARGET void avx2_8(uint32_t (*h)[5], const uint8_t *const *p, unsigned n, size_t nblocks)
{
  const uint8_t *q[8];
  if (!lanes(q, p, n, 8))
    return;
  const __m256i bswap = _mm256_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL,
                                          0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
  uint32_t st[5][8];
  for (unsigned i = 0; i < 8; i++)
    for (int k = 0; k < 5; k++)
      st[k][i] = i < n ? h[i][k] : 0;
  __m256i a = _mm256_loadu_si256((const __m256i *)(void *)st[0]);
  __m256i b = _mm256_loadu_si256((const __m256i *)(void *)st[1]);
  __m256i c = _mm256_loadu_si256((const __m256i *)(void *)st[2]);
  __m256i d = _mm256_loadu_si256((const __m256i *)(void *)st[3]);
  __m256i e = _mm256_loadu_si256((const __m256i *)(void *)st[4]);
  for (size_t blk = 0; blk < nblocks; blk++) {
    __m256i w[16], r[8];
    for (int half = 0; half < 2; half++) {
      for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_si256((const __m256i *)(void *)(q[i] + 64 * blk + 32 * half));
      TRANSPOSE8(r, (w + 8 * half));
    }
    for (int t = 0; t < 16; t++)
      w[t] = _mm256_shuffle_epi8(w[t], bswap);
    __m256i a0 = a, b0 = b, c0 = c, d0 = d, e0 = e;
#pragma GCC unroll 80
    for (int t = 0; t < 80; t++) {
      __m256i wt;
      if (t < 16) {
        wt = w[t];
      } else {
        __m256i x = _mm256_xor_si256(_mm256_xor_si256(w[(t - 3) & 15], w[(t - 8) & 15]),
                                     _mm256_xor_si256(w[(t - 14) & 15], w[t & 15]));
        wt = w[t & 15] = ROL8(x, 1);
      }
      __m256i f, k;
      if (t < 20) {
        f = _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d)));
        k = _mm256_set1_epi32(K0);
      } else if (t < 40) {
        f = _mm256_xor_si256(_mm256_xor_si256(b, c), d);
        k = _mm256_set1_epi32(K1);
      } else if (t < 60) {
        f = _mm256_or_si256(_mm256_and_si256(b, c), _mm256_and_si256(d, _mm256_or_si256(b, c)));
        k = _mm256_set1_epi32((int)K2);
      } else {
        f = _mm256_xor_si256(_mm256_xor_si256(b, c), d);
        k = _mm256_set1_epi32((int)K3);
      }
      __m256i tmp = _mm256_add_epi32(_mm256_add_epi32(ROL8(a, 5), f),
                                     _mm256_add_epi32(_mm256_add_epi32(e, k), wt));
      e = d;
      d = c;
      c = ROL8(b, 30);
      b = a;
      a = tmp;
    }
    a = _mm256_add_epi32(a, a0);
    b = _mm256_add_epi32(b, b0);
    c = _mm256_add_epi32(c, c0);
    d = _mm256_add_epi32(d, d0);
    e = _mm256_add_epi32(e, e0);
  }
  _mm256_storeu_si256((__m256i *)(void *)st[0], a);
  _mm256_storeu_si256((__m256i *)(void *)st[1], b);
  _mm256_storeu_si256((__m256i *)(void *)st[2], c);
  _mm256_storeu_si256((__m256i *)(void *)st[3], d);
  _mm256_storeu_si256((__m256i *)(void *)st[4], e);
  for (unsigned i = 0; i < n && i < 8; i++)
    if (p[i])
      for (int k = 0; k < 5; k++)
        h[i][k] = st[k][i];
}

void sh_sha1_mb_blocks_avx2(uint32_t (*h)[5], const uint8_t *const *p, unsigned n, size_t nblocks)
{
  for (unsigned i = 0; i < n; i += 8)
    avx2_8(h + i, p + i, n - i < 8 ? n - i : 8, nblocks);
}

/* ---- AVX-512, 16 lanes ---- */

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx2")))

static AVX512_TARGET void avx512_16(uint32_t (*h)[5], const uint8_t *const *p, unsigned n,
                                    size_t nblocks)
{
  const uint8_t *q[16];
  if (!lanes(q, p, n, 16))
    return;
  const __m512i bswap = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
  uint32_t st[5][16];
  for (unsigned i = 0; i < 16; i++)
    for (int k = 0; k < 5; k++)
      st[k][i] = i < n ? h[i][k] : 0;
  __m512i a = _mm512_loadu_si512(st[0]), b = _mm512_loadu_si512(st[1]);
  __m512i c = _mm512_loadu_si512(st[2]), d = _mm512_loadu_si512(st[3]);
  __m512i e = _mm512_loadu_si512(st[4]);
  const __m512i k0 = _mm512_set1_epi32(K0), k1 = _mm512_set1_epi32(K1);
  const __m512i k2 = _mm512_set1_epi32((int)K2), k3 = _mm512_set1_epi32((int)K3);
  for (size_t blk = 0; blk < nblocks; blk++) {
    __m512i w[16];
    /* words 0-7 then 8-15, lanes 0-7 into the low halves, 8-15 the high */
    for (int half = 0; half < 2; half++) {
      __m256i r[8], lo[8], hi[8];
      for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_si256((const __m256i *)(void *)(q[i] + 64 * blk + 32 * half));
      TRANSPOSE8(r, lo);
      for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_si256((const __m256i *)(void *)(q[8 + i] + 64 * blk + 32 * half));
      TRANSPOSE8(r, hi);
      for (int j = 0; j < 8; j++)
        w[8 * half + j] = _mm512_shuffle_epi8(
            _mm512_inserti64x4(_mm512_castsi256_si512(lo[j]), hi[j], 1), bswap);
    }
    __m512i a0 = a, b0 = b, c0 = c, d0 = d, e0 = e;
#pragma GCC unroll 80
    for (int t = 0; t < 80; t++) {
      __m512i wt;
      if (t < 16) {
        wt = w[t];
      } else {
        /* three-way xor in one vpternlogd (0x96), then the fourth */
        __m512i x = _mm512_ternarylogic_epi32(w[(t - 3) & 15], w[(t - 8) & 15],
                                              w[(t - 14) & 15], 0x96);
        wt = w[t & 15] = _mm512_rol_epi32(_mm512_xor_si512(x, w[t & 15]), 1);
      }
      __m512i f, k;
      if (t < 20) {
        f = _mm512_ternarylogic_epi32(b, c, d, 0xca); /* b ? c : d */
        k = k0;
      } else if (t < 40) {
        f = _mm512_ternarylogic_epi32(b, c, d, 0x96); /* b ^ c ^ d */
        k = k1;
      } else if (t < 60) {
        f = _mm512_ternarylogic_epi32(b, c, d, 0xe8); /* majority */
        k = k2;
      } else {
        f = _mm512_ternarylogic_epi32(b, c, d, 0x96);
        k = k3;
      }
      __m512i tmp = _mm512_add_epi32(_mm512_add_epi32(_mm512_rol_epi32(a, 5), f),
                                     _mm512_add_epi32(_mm512_add_epi32(e, k), wt));
      e = d;
      d = c;
      c = _mm512_rol_epi32(b, 30);
      b = a;
      a = tmp;
    }
    a = _mm512_add_epi32(a, a0);
    b = _mm512_add_epi32(b, b0);
    c = _mm512_add_epi32(c, c0);
    d = _mm512_add_epi32(d, d0);
    e = _mm512_add_epi32(e, e0);
  }
  _mm512_storeu_si512(st[0], a);
  _mm512_storeu_si512(st[1], b);
  _mm512_storeu_si512(st[2], c);
  _mm512_storeu_si512(st[3], d);
  _mm512_storeu_si512(st[4], e);
  for (unsigned i = 0; i < n && i < 16; i++)
    if (p[i])
      for (int k = 0; k < 5; k++)
        h[i][k] = st[k][i];
}

void sh_sha1_mb_blocks_avx512(uint32_t (*h)[5], const uint8_t *const *p, unsigned n, size_t nblocks)
{
  for (unsigned i = 0; i < n; i += 16)
    avx512_16(h + i, p + i, n - i < 16 ? n - i : 16, nblocks);
}
#endif
