/* Multi-buffer SHA-1: the API, padding and run-time dispatch; the block
 * functions are in sha1_mb_shani.c and sha1_mb_avx.c.
 *
 * Measured on the reference machine (2-core Xeon VM with SHA-NI, AVX2,
 * AVX-512; shoal-sha1-speed, 1 MiB messages fed in 64 KiB steps, GB/s with
 * 1 / 2 threads):
 *   openssl (1 stream, SHA-NI)   2.20 /  4.37
 *   shani   (2 streams)          2.20 /  4.43
 *   shani4  (4 streams)          1.88 /  3.77   (spills: 16 xmm registers)
 *   avx2    (8 lanes)            3.35 /  6.32
 *   avx512  (16 lanes)           6.58 / 13.16
 * Interleaving SHA-NI streams gains nothing here: sha1rnds4 is limited by
 * its throughput on this core, not its latency, so one stream already
 * saturates it. AVX-512 does 16 rounds per ~8 vector instructions and wins
 * by 3x. The dispatcher's order follows these figures: AVX-512, AVX2, then
 * SHA-NI (as fast as OpenSSL, but without its per-call overhead).
 *
 * Users: the checker and torrent creation, which have many pieces at hand.
 * The leecher's hash-then-write (disk/io.c) was tried batched (every piece
 * queued, a worker hashing whatever was queued together): over a 1 GiB
 * loopback transfer 97 % of pieces were alone in the queue, because a free
 * pool thread takes each piece as soon as it completes, and leech CPU did
 * not drop (1.27-1.30 s before, 1.30-1.35 s after), so it hashes one piece
 * per job with OpenSSL. */
#include "base/sha1_mb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/sha1.h"
#include "base/sha1_mb_impl.h"

#ifdef SH_SHA1_MB_X86
#include <cpuid.h>

static int cpu_has_sha(void)
{
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
    return 0;
  return (b >> 29) & 1; /* CPUID.(EAX=7,ECX=0):EBX.SHA[bit 29] */
}
#endif

int sh_sha1_mb_available(int impl)
{
  switch (impl) {
  case SH_SHA1_MB_AUTO:
  case SH_SHA1_MB_OPENSSL:
    return 1;
#ifdef SH_SHA1_MB_X86
  case SH_SHA1_MB_SHANI:
  case SH_SHA1_MB_SHANI4:
    return cpu_has_sha() && __builtin_cpu_supports("sse4.1");
  case SH_SHA1_MB_AVX2:
    return __builtin_cpu_supports("avx2");
  case SH_SHA1_MB_AVX512:
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx2");
#endif
  default:
    return 0;
  }
}

const char *sh_sha1_mb_name(int impl)
{
  static const char *const names[SH_SHA1_MB_NIMPL] = {"auto", "openssl", "shani", "shani4",
                                                      "avx2", "avx512"};
  return impl >= 0 && impl < SH_SHA1_MB_NIMPL ? names[impl] : "?";
}

static int best = -1; /* a benign race: every thread computes the same */

static int detect(void)
{
  static const int order[] = {SH_SHA1_MB_AVX512, SH_SHA1_MB_AVX2, SH_SHA1_MB_SHANI};
  const char *env = getenv("SHOAL_SHA1_MB");
  if (env && *env) {
    for (int i = SH_SHA1_MB_OPENSSL; i < SH_SHA1_MB_NIMPL; i++)
      if (!strcmp(env, sh_sha1_mb_name(i)) && sh_sha1_mb_available(i))
        return i;
  }
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
    if (sh_sha1_mb_available(order[i]))
      return order[i];
  return SH_SHA1_MB_OPENSSL;
}

int sh_sha1_mb_best(void)
{
  int b = __atomic_load_n(&best, __ATOMIC_RELAXED);
  if (b < 0) {
    b = detect();
    __atomic_store_n(&best, b, __ATOMIC_RELAXED);
  }
  return b;
}

int sh_sha1_mb_set_best(int impl)
{
  if (impl < SH_SHA1_MB_AUTO || impl >= SH_SHA1_MB_NIMPL)
    return -EINVAL;
  if (!sh_sha1_mb_available(impl))
    return -ENOTSUP;
  __atomic_store_n(&best, impl == SH_SHA1_MB_AUTO ? detect() : impl, __ATOMIC_RELAXED);
  return 0;
}

uint32_t sh_sha1_mb_slice_len(unsigned lanes)
{
  uint32_t c = 256u << 10;
  while (c > (16u << 10) && (uint64_t)c * lanes > (1u << 20))
    c >>= 1;
  return c;
}

unsigned sh_sha1_mb_lanes(int impl)
{
  switch (impl == SH_SHA1_MB_AUTO ? sh_sha1_mb_best() : impl) {
  case SH_SHA1_MB_SHANI:
    return 2;
  case SH_SHA1_MB_SHANI4:
    return 4;
  case SH_SHA1_MB_AVX2:
    return 8;
  case SH_SHA1_MB_AVX512:
    return 16;
  default:
    return 1;
  }
}

static sh_sha1_mb_blocks_fn *blocks_fn(int impl)
{
  switch (impl) {
#ifdef SH_SHA1_MB_X86
  case SH_SHA1_MB_SHANI:
    return sh_sha1_mb_blocks_shani;
  case SH_SHA1_MB_SHANI4:
    return sh_sha1_mb_blocks_shani4;
  case SH_SHA1_MB_AVX2:
    return sh_sha1_mb_blocks_avx2;
  case SH_SHA1_MB_AVX512:
    return sh_sha1_mb_blocks_avx512;
#endif
  default:
    return NULL;
  }
}

static void reset(struct sh_sha1_mb *c)
{
  static const uint32_t iv[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
  for (unsigned i = 0; i < c->n; i++) {
    memcpy(c->h[i], iv, sizeof iv);
    c->len[i] = 0;
  }
}

int sh_sha1_mb_init(struct sh_sha1_mb *c, int impl, unsigned n)
{
  memset(c, 0, sizeof *c);
  if (impl == SH_SHA1_MB_AUTO)
    impl = sh_sha1_mb_best();
  if (n < 1 || n > SH_SHA1_MB_MAX || impl <= SH_SHA1_MB_AUTO || impl >= SH_SHA1_MB_NIMPL)
    return -EINVAL;
  if (!sh_sha1_mb_available(impl))
    return -ENOTSUP;
  c->impl = impl;
  c->n = n;
  if (impl == SH_SHA1_MB_OPENSSL) {
    for (unsigned i = 0; i < n; i++)
      if (!(c->ossl[i] = sh_sha1_new())) {
        sh_sha1_mb_free(c);
        return -ENOMEM;
      }
  }
  reset(c);
  return 0;
}

void sh_sha1_mb_free(struct sh_sha1_mb *c)
{
  for (unsigned i = 0; i < SH_SHA1_MB_MAX; i++) {
    sh_sha1_free(c->ossl[i]);
    c->ossl[i] = NULL;
  }
}

void sh_sha1_mb_update(struct sh_sha1_mb *c, const uint8_t *const *p, size_t len)
{
  if (!len)
    return;
  for (unsigned i = 0; i < c->n; i++)
    if (p[i]) {
      c->len[i] += len;
      if (c->impl == SH_SHA1_MB_OPENSSL)
        sh_sha1_update(c->ossl[i], p[i], len);
    }
  if (c->impl != SH_SHA1_MB_OPENSSL)
    blocks_fn(c->impl)(c->h, p, c->n, len / 64);
}

static void put32(uint8_t *o, uint32_t v)
{
  o[0] = (uint8_t)(v >> 24);
  o[1] = (uint8_t)(v >> 16);
  o[2] = (uint8_t)(v >> 8);
  o[3] = (uint8_t)v;
}

void sh_sha1_mb_final(struct sh_sha1_mb *c, const uint8_t *const *tail, const size_t *tail_len,
                      uint8_t (*out)[20])
{
  unsigned n = c->n;
  if (c->impl == SH_SHA1_MB_OPENSSL) {
    for (unsigned i = 0; i < n; i++) {
      if (tail && tail_len && tail_len[i])
        sh_sha1_update(c->ossl[i], tail[i], tail_len[i]);
      sh_sha1_final(c->ossl[i], out[i]);
    }
    reset(c);
    return;
  }
  sh_sha1_mb_blocks_fn *fn = blocks_fn(c->impl);
  const uint8_t *q[SH_SHA1_MB_MAX] = {0}, *act[SH_SHA1_MB_MAX] = {0};
  size_t rem[SH_SHA1_MB_MAX];
  for (unsigned i = 0; i < n; i++) {
    rem[i] = tail && tail_len ? tail_len[i] : 0;
    q[i] = rem[i] ? tail[i] : NULL;
    c->len[i] += rem[i];
  }
  /* whole blocks of the tails: all lanes that have some, as many blocks as
   * the shortest of them has, until none is left (equal tails: one pass) */
  for (;;) {
    size_t m = 0;
    for (unsigned i = 0; i < n; i++)
      if (rem[i] >= 64 && (!m || rem[i] / 64 < m))
        m = rem[i] / 64;
    if (!m)
      break;
    for (unsigned i = 0; i < n; i++)
      act[i] = rem[i] >= 64 ? q[i] : NULL;
    fn(c->h, act, n, m);
    for (unsigned i = 0; i < n; i++)
      if (act[i]) {
        q[i] += m * 64;
        rem[i] -= m * 64;
      }
  }
  /* padding (FIPS 180-4 §5.1.1): 0x80, zeros, the bit length in the last 8
   * bytes; one block if the rest and 9 bytes fit in 64, else two */
  uint8_t pad[SH_SHA1_MB_MAX][128];
  int two = 0;
  for (unsigned i = 0; i < n; i++) {
    size_t nb = rem[i] + 9 <= 64 ? 64 : 128;
    memset(pad[i], 0, nb);
    if (rem[i])
      memcpy(pad[i], q[i], rem[i]);
    pad[i][rem[i]] = 0x80;
    uint64_t bits = c->len[i] * 8;
    put32(pad[i] + nb - 8, (uint32_t)(bits >> 32));
    put32(pad[i] + nb - 4, (uint32_t)bits);
    act[i] = pad[i];
    two |= nb == 128;
  }
  fn(c->h, act, n, 1);
  if (two) {
    for (unsigned i = 0; i < n; i++)
      act[i] = rem[i] + 9 <= 64 ? NULL : pad[i] + 64;
    fn(c->h, act, n, 1);
  }
  for (unsigned i = 0; i < n; i++)
    for (int k = 0; k < 5; k++)
      put32(out[i] + 4 * k, c->h[i][k]);
  reset(c);
}

int sh_sha1_mb_with(int impl, const uint8_t *const *msgs, const size_t *lens, size_t n,
                    uint8_t (*out)[20])
{
  if (impl == SH_SHA1_MB_AUTO)
    impl = sh_sha1_mb_best();
  if (impl == SH_SHA1_MB_OPENSSL) {
    for (size_t i = 0; i < n; i++)
      sh_sha1(msgs[i], lens[i], out[i]);
    return 0;
  }
  unsigned w = sh_sha1_mb_lanes(impl);
  struct sh_sha1_mb c;
  for (size_t i = 0; i < n; i += w) {
    unsigned k = n - i < w ? (unsigned)(n - i) : w;
    int rc = sh_sha1_mb_init(&c, impl, k);
    if (rc)
      return rc;
    sh_sha1_mb_final(&c, msgs + i, lens + i, out + i);
  }
  return 0;
}

void sh_sha1_mb(const uint8_t *const *msgs, const size_t *lens, size_t n, uint8_t (*out)[20])
{
  sh_sha1_mb_with(SH_SHA1_MB_AUTO, msgs, lens, n, out); /* AUTO cannot fail */
}
