/* Multi-buffer SHA-1 (FIPS 180-4): hashes several independent messages at
 * once. One SHA-1 stream is a chain of dependent rounds, so a core running a
 * single stream waits on instruction latency most of the time; independent
 * streams fill those gaps. Implementations, picked at run time from what the
 * CPU has (no -m flags needed anywhere else in the build):
 *
 *   SH_SHA1_MB_SHANI   the SHA extensions, 2 streams interleaved per thread
 *   SH_SHA1_MB_SHANI4  the SHA extensions, 4 streams interleaved
 *   SH_SHA1_MB_AVX512  16 messages in the 16 dword lanes of a zmm register
 *   SH_SHA1_MB_AVX2    8 messages in the 8 dword lanes of a ymm register
 *   SH_SHA1_MB_OPENSSL one message at a time through OpenSSL (portable)
 *
 * sha1_mb.c's header comment has the measured speeds and why the dispatcher
 * prefers what it prefers.
 *
 * Usage: a context over n lanes (1..SH_SHA1_MB_MAX) is fed with
 * sh_sha1_mb_update(), which hashes the same number of bytes (a multiple of
 * 64) from every lane whose pointer is not NULL; lanes given NULL stay as they
 * are, so lanes of different lengths work. sh_sha1_mb_final() takes each
 * lane's tail (any length, lanes may differ) and writes the digests. The
 * context is plain memory owned by the caller; sh_sha1_mb_free() releases
 * what the OpenSSL implementation allocates. */
#ifndef SHOAL_SHA1_MB_H
#define SHOAL_SHA1_MB_H

#include <stddef.h>
#include <stdint.h>

#define SH_SHA1_MB_MAX 16

enum sh_sha1_mb_impl {
  SH_SHA1_MB_AUTO = 0, /* the fastest this CPU has (sh_sha1_mb_best) */
  SH_SHA1_MB_OPENSSL,
  SH_SHA1_MB_SHANI,
  SH_SHA1_MB_SHANI4,
  SH_SHA1_MB_AVX2,
  SH_SHA1_MB_AVX512,
  SH_SHA1_MB_NIMPL
};

struct sh_sha1_ctx;

struct sh_sha1_mb {
  int impl;   /* never SH_SHA1_MB_AUTO once initialised */
  unsigned n; /* lanes */
  uint32_t h[SH_SHA1_MB_MAX][5];
  uint64_t len[SH_SHA1_MB_MAX];                /* bytes hashed per lane */
  struct sh_sha1_ctx *ossl[SH_SHA1_MB_MAX];    /* SH_SHA1_MB_OPENSSL only */
};

/* 1 if this CPU can run impl (OpenSSL always can), else 0. */
int sh_sha1_mb_available(int impl);
/* Short name ("shani", "avx512", ...), or "?" for an unknown value. */
const char *sh_sha1_mb_name(int impl);
/* The implementation SH_SHA1_MB_AUTO stands for on this CPU. */
int sh_sha1_mb_best(void);
/* Overrides what SH_SHA1_MB_AUTO stands for, process-wide (tests, and
 * comparisons of the users with each implementation); SH_SHA1_MB_AUTO
 * restores detection. Returns 0, -EINVAL or -ENOTSUP. Call it while no
 * other thread hashes. The environment variable SHOAL_SHA1_MB (a name from
 * sh_sha1_mb_name) does the same at the first use. */
int sh_sha1_mb_set_best(int impl);
/* How many lanes impl wants per call to run at full speed (16 for AVX-512,
 * 8 for AVX2, 2 or 4 for SHA-NI, 1 for OpenSSL); callers group that many
 * messages. SH_SHA1_MB_AUTO gives the best implementation's figure. */
unsigned sh_sha1_mb_lanes(int impl);

/* Slice length for hashing files in groups of `lanes` pieces read slice by
 * slice (the checker, torrent creation): 1 MiB of slices per thread in all,
 * so a group's slices are still in L2 when the hash reads them back, each
 * slice a power of two between 16 KiB and 256 KiB (a multiple of 64). */
uint32_t sh_sha1_mb_slice_len(unsigned lanes);
/* Starts n lanes (1..SH_SHA1_MB_MAX) on impl. Returns 0, -EINVAL for a bad
 * n or impl, -ENOTSUP if the CPU lacks impl, -ENOMEM. */
int sh_sha1_mb_init(struct sh_sha1_mb *c, int impl, unsigned n);
/* Hashes len bytes (a multiple of 64) from p[i] for every lane i < n whose
 * p[i] is not NULL. */
void sh_sha1_mb_update(struct sh_sha1_mb *c, const uint8_t *const *p, size_t len);
/* Hashes each lane's tail (tail[i], tail_len[i] bytes, any length; tail and
 * tail_len may be NULL for no tails) and writes lane i's digest to out[i].
 * The context is then ready for n new messages, like after init. */
void sh_sha1_mb_final(struct sh_sha1_mb *c, const uint8_t *const *tail, const size_t *tail_len,
                      uint8_t (*out)[20]);
/* Releases the context's allocations (safe on a zeroed or freed context). */
void sh_sha1_mb_free(struct sh_sha1_mb *c);

/* One shot: digests of n messages of any lengths with the best
 * implementation, in groups of sh_sha1_mb_lanes() messages. */
void sh_sha1_mb(const uint8_t *const *msgs, const size_t *lens, size_t n, uint8_t (*out)[20]);
/* The same with a chosen implementation; returns 0 or init's error. */
int sh_sha1_mb_with(int impl, const uint8_t *const *msgs, const size_t *lens, size_t n,
                    uint8_t (*out)[20]);

#endif
