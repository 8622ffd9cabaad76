/* Multi-buffer SHA-1: every implementation this CPU has, called directly,
 * against the FIPS 180 / RFC 3174 vectors and against OpenSSL's digest of
 * the same bytes (sh_sha1), for every lane count, lengths 0..200 and around
 * block boundaries, uneven lanes, NULL (idle) lanes and random lengths. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/sha1.h"
#include "base/sha1_mb.h"
#include "disk/check.h"
#include "disk/storage.h"
#include "meta/create.h"
#include "meta/metainfo.h"

static void hex(const uint8_t *md, char *out) { sh_hex(md, 20, out); }

/* Deterministic filler so failures reproduce. */
static void fill(uint8_t *p, size_t n, uint32_t seed)
{
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (uint8_t)x;
  }
}

static int impls(int *out)
{
  int k = 0;
  for (int i = SH_SHA1_MB_OPENSSL; i < SH_SHA1_MB_NIMPL; i++)
    if (sh_sha1_mb_available(i))
      out[k++] = i;
  return k;
}

Test(sha1_mb, known_vectors_every_impl_every_lane_count)
{
  static const char *msg[3] = {"abc", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                               NULL};
  static const char *want[3] = {"a9993e364706816aba3e25717850c26c9cd0d89d",
                                "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
                                "34aa973cd4c4daa4f61eeb2bdbad27316534016f"};
  uint8_t *million = malloc(1000000);
  cr_assert(million);
  memset(million, 'a', 1000000);
  const uint8_t *m[3] = {(const uint8_t *)msg[0], (const uint8_t *)msg[1], million};
  size_t len[3] = {3, 56, 1000000};
  int v[SH_SHA1_MB_NIMPL];
  int nv = impls(v);
  cr_assert_geq(nv, 1);
  for (int k = 0; k < nv; k++)
    for (unsigned n = 1; n <= SH_SHA1_MB_MAX; n++) {
      const uint8_t *msgs[SH_SHA1_MB_MAX];
      size_t lens[SH_SHA1_MB_MAX];
      uint8_t out[SH_SHA1_MB_MAX][20];
      for (unsigned i = 0; i < n; i++) {
        msgs[i] = m[(i + n) % 3];
        lens[i] = len[(i + n) % 3];
      }
      /* the one-shot goes through init + final with whole messages as tails */
      struct sh_sha1_mb c;
      cr_assert_eq(sh_sha1_mb_init(&c, v[k], n), 0);
      sh_sha1_mb_final(&c, msgs, lens, out);
      sh_sha1_mb_free(&c);
      for (unsigned i = 0; i < n; i++) {
        char h[41];
        hex(out[i], h);
        cr_assert_str_eq(h, want[(i + n) % 3], "%s, %u lanes, lane %u", sh_sha1_mb_name(v[k]), n, i);
      }
    }
  free(million);
}

/* Lanes of lengths 0..200 (each lane a different length), every lane count. */
Test(sha1_mb, short_lengths_against_openssl)
{
  uint8_t data[SH_SHA1_MB_MAX][256];
  for (int i = 0; i < SH_SHA1_MB_MAX; i++)
    fill(data[i], sizeof data[i], (uint32_t)i + 7);
  int v[SH_SHA1_MB_NIMPL];
  int nv = impls(v);
  for (int k = 0; k < nv; k++)
    for (unsigned n = 1; n <= SH_SHA1_MB_MAX; n++)
      for (size_t base = 0; base <= 200; base++) {
        const uint8_t *msgs[SH_SHA1_MB_MAX];
        size_t lens[SH_SHA1_MB_MAX];
        uint8_t out[SH_SHA1_MB_MAX][20], ref[20];
        for (unsigned i = 0; i < n; i++) {
          msgs[i] = data[i];
          lens[i] = (base + 13 * i) % 201; /* lane 0 walks 0..200 */
        }
        cr_assert_eq(sh_sha1_mb_with(v[k], msgs, lens, n, out), 0);
        for (unsigned i = 0; i < n; i++) {
          sh_sha1(msgs[i], lens[i], ref);
          cr_assert_arr_eq(out[i], ref, 20, "%s, %u lanes, lane %u, %zu bytes",
                           sh_sha1_mb_name(v[k]), n, i, lens[i]);
        }
      }
}

/* Every lane the same length, around the 64-byte block and the 55/56-byte
 * padding boundaries (one or two padding blocks). */
Test(sha1_mb, equal_lengths_around_block_boundaries)
{
  static const size_t lens_at[] = {0,   1,   54,  55,  56,  57,  63,  64,  65,  119, 120,
                                   127, 128, 129, 183, 184, 191, 192, 193, 1023, 1024, 1025};
  uint8_t *buf = malloc(SH_SHA1_MB_MAX * 1100);
  cr_assert(buf);
  fill(buf, SH_SHA1_MB_MAX * 1100, 99);
  int v[SH_SHA1_MB_NIMPL];
  int nv = impls(v);
  for (int k = 0; k < nv; k++)
    for (size_t j = 0; j < sizeof lens_at / sizeof lens_at[0]; j++)
      for (unsigned n = 1; n <= SH_SHA1_MB_MAX; n++) {
        const uint8_t *msgs[SH_SHA1_MB_MAX];
        size_t lens[SH_SHA1_MB_MAX];
        uint8_t out[SH_SHA1_MB_MAX][20], ref[20];
        for (unsigned i = 0; i < n; i++) {
          msgs[i] = buf + 1100 * i + (i & 3); /* unaligned too */
          lens[i] = lens_at[j];
        }
        cr_assert_eq(sh_sha1_mb_with(v[k], msgs, lens, n, out), 0);
        for (unsigned i = 0; i < n; i++) {
          sh_sha1(msgs[i], lens[i], ref);
          cr_assert_arr_eq(out[i], ref, 20, "%s, %u lanes, %zu bytes", sh_sha1_mb_name(v[k]), n,
                           lens[i]);
        }
      }
  free(buf);
}

/* The incremental API as the checker uses it: equal updates, some lanes idle
 * (NULL) for some updates because their message is shorter, then tails. */
Test(sha1_mb, incremental_with_idle_lanes)
{
  enum { LEN = 5000 };
  uint8_t *buf = malloc(SH_SHA1_MB_MAX * LEN);
  cr_assert(buf);
  fill(buf, SH_SHA1_MB_MAX * LEN, 3);
  int v[SH_SHA1_MB_NIMPL];
  int nv = impls(v);
  for (int k = 0; k < nv; k++)
    for (unsigned n = 1; n <= SH_SHA1_MB_MAX; n++) {
      struct sh_sha1_mb c;
      cr_assert_eq(sh_sha1_mb_init(&c, v[k], n), 0);
      for (int round = 0; round < 2; round++) { /* final resets: use it twice */
        size_t want[SH_SHA1_MB_MAX], done[SH_SHA1_MB_MAX];
        for (unsigned i = 0; i < n; i++) {
          want[i] = (LEN - 1 - 311 * i - 97 * (size_t)round) % LEN;
          done[i] = 0;
        }
        const uint8_t *p[SH_SHA1_MB_MAX];
        for (size_t step = 640; step >= 64; step -= 192) {
          for (unsigned i = 0; i < n; i++)
            p[i] = want[i] - done[i] >= step ? buf + LEN * i + done[i] : NULL;
          sh_sha1_mb_update(&c, p, step);
          for (unsigned i = 0; i < n; i++)
            if (p[i])
              done[i] += step;
          if (step == 64)
            break;
        }
        size_t tl[SH_SHA1_MB_MAX];
        uint8_t out[SH_SHA1_MB_MAX][20], ref[20];
        for (unsigned i = 0; i < n; i++) {
          p[i] = buf + LEN * i + done[i];
          tl[i] = want[i] - done[i];
        }
        sh_sha1_mb_final(&c, p, tl, out);
        for (unsigned i = 0; i < n; i++) {
          sh_sha1(buf + LEN * i, want[i], ref);
          cr_assert_arr_eq(out[i], ref, 20, "%s, %u lanes, lane %u, %zu bytes",
                           sh_sha1_mb_name(v[k]), n, i, want[i]);
        }
      }
      sh_sha1_mb_free(&c);
    }
  free(buf);
}

Test(sha1_mb, random_lengths_one_shot)
{
  enum { N = 37, MAXLEN = 70000 };
  uint8_t *buf = malloc(MAXLEN + 64);
  cr_assert(buf);
  fill(buf, MAXLEN + 64, 11);
  srand(1234);
  const uint8_t *msgs[N];
  size_t lens[N];
  uint8_t out[N][20], ref[20];
  int v[SH_SHA1_MB_NIMPL];
  int nv = impls(v);
  for (int trial = 0; trial < 20; trial++) {
    for (int i = 0; i < N; i++) {
      msgs[i] = buf + rand() % 64;
      lens[i] = (size_t)rand() % MAXLEN;
    }
    for (int k = 0; k <= nv; k++) {
      if (k < nv)
        cr_assert_eq(sh_sha1_mb_with(v[k], msgs, lens, N, out), 0);
      else
        sh_sha1_mb(msgs, lens, N, out); /* the dispatched one */
      for (int i = 0; i < N; i++) {
        sh_sha1(msgs[i], lens[i], ref);
        cr_assert_arr_eq(out[i], ref, 20, "%s, message %d, %zu bytes",
                         k < nv ? sh_sha1_mb_name(v[k]) : "auto", i, lens[i]);
      }
    }
  }
  free(buf);
}

Test(sha1_mb, dispatch_and_bad_arguments)
{
  int best = sh_sha1_mb_best();
  cr_assert(best > SH_SHA1_MB_AUTO && best < SH_SHA1_MB_NIMPL);
  cr_assert(sh_sha1_mb_available(best));
  cr_assert_geq(sh_sha1_mb_lanes(SH_SHA1_MB_AUTO), 1);
  cr_assert_leq(sh_sha1_mb_lanes(SH_SHA1_MB_AUTO), SH_SHA1_MB_MAX);
  cr_assert_eq(sh_sha1_mb_lanes(SH_SHA1_MB_AUTO), sh_sha1_mb_lanes(best));
  struct sh_sha1_mb c;
  cr_assert_eq(sh_sha1_mb_init(&c, SH_SHA1_MB_OPENSSL, 0), -EINVAL);
  cr_assert_eq(sh_sha1_mb_init(&c, SH_SHA1_MB_OPENSSL, SH_SHA1_MB_MAX + 1), -EINVAL);
  cr_assert_eq(sh_sha1_mb_init(&c, SH_SHA1_MB_NIMPL, 1), -EINVAL);
  cr_assert_eq(sh_sha1_mb_init(&c, -3, 1), -EINVAL);
  cr_assert_str_eq(sh_sha1_mb_name(SH_SHA1_MB_AVX512), "avx512");
  cr_assert_str_eq(sh_sha1_mb_name(99), "?");
  for (int i = SH_SHA1_MB_OPENSSL; i < SH_SHA1_MB_NIMPL; i++)
    if (!sh_sha1_mb_available(i))
      cr_assert_eq(sh_sha1_mb_init(&c, i, 1), -ENOTSUP);
  /* a zero-length message in an otherwise empty final */
  cr_assert_eq(sh_sha1_mb_init(&c, best, 3), 0);
  uint8_t out[3][20];
  sh_sha1_mb_final(&c, NULL, NULL, out);
  char h[41];
  for (int i = 0; i < 3; i++) {
    hex(out[i], h);
    cr_assert_str_eq(h, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  }
  sh_sha1_mb_free(&c);
}

/* The two users, creation and the checker, on pieces several slices long,
 * a group that is not full, a short last piece that is not a multiple of 64
 * and pieces spanning two files: create's hashes must equal OpenSSL's of the
 * same bytes, and the checker must find exactly the pieces damaged. */
static void write_file(const char *path, const uint8_t *p, size_t n)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  cr_assert(fd >= 0, "%s", path);
  cr_assert_eq(write(fd, p, n), (ssize_t)n);
  close(fd);
}

static void create_and_check(void)
{
  enum { PL = 256 << 10 };
  const size_t la = (size_t)PL * 20 + 5000, lb = (size_t)PL * 17 - 12345 - 5000;
  const size_t total = la + lb; /* 37 pieces, the last 12345 bytes short */
  uint8_t *data = malloc(total);
  cr_assert(data);
  fill(data, total, 2024);
  char dir[] = "/tmp/shoal-sha1mb-XXXXXX", p[128];
  cr_assert(mkdtemp(dir));
  snprintf(p, sizeof p, "%s/t", dir);
  cr_assert_eq(mkdir(p, 0755), 0);
  snprintf(p, sizeof p, "%s/t/a", dir);
  write_file(p, data, la);
  snprintf(p, sizeof p, "%s/t/b", dir);
  write_file(p, data + la, lb);

  snprintf(p, sizeof p, "%s/t", dir);
  struct sh_create_opts o = {.path = p, .piece_length = PL, .threads = 2};
  struct sh_buf b = SH_BUF_INIT;
  char err[256];
  cr_assert_eq(sh_create(&o, &b, err, sizeof err), 0, "%s", err);
  struct sh_metainfo *m;
  cr_assert_eq(sh_metainfo_parse(b.data, b.len, &m, err, sizeof err), 0, "%s", err);
  sh_buf_free(&b);
  cr_assert_eq(m->num_pieces, 37);
  for (uint32_t i = 0; i < m->num_pieces; i++) {
    uint8_t ref[20];
    sh_sha1(data + (size_t)i * PL, sh_piece_size(m, i), ref);
    cr_assert_arr_eq(m->piece_hashes + 20 * (size_t)i, ref, 20, "piece %u", i);
  }

  /* damage: one byte of piece 3, one of the last piece, and b cut short so
   * pieces from 30 on are missing (the last one too) */
  snprintf(p, sizeof p, "%s/t/a", dir);
  int fd = open(p, O_RDWR);
  cr_assert(fd >= 0);
  cr_assert_eq(pwrite(fd, "\x01", 1, 3 * PL + 77), 1);
  close(fd);
  uint8_t *state = malloc(m->num_pieces);
  cr_assert(state);
  for (int threads = 1; threads <= 3; threads++) {
    struct sh_storage *s;
    cr_assert_eq(sh_storage_open(m, dir, SH_STORAGE_READONLY, &s), 0);
    struct sh_check_opts co = {.threads = threads};
    cr_assert_eq(sh_check_run(m, s, state, &co), 0);
    for (uint32_t i = 0; i < m->num_pieces; i++)
      cr_expect_eq(state[i], i == 3 ? SH_PIECE_CORRUPT : SH_PIECE_OK, "%d threads, piece %u",
                   threads, i);
    sh_storage_close(s);
  }
  snprintf(p, sizeof p, "%s/t/b", dir);
  cr_assert_eq(truncate(p, (off_t)(30 * (size_t)PL - la + 100)), 0);
  uint8_t only[5] = {0};
  for (uint32_t i = 0; i < m->num_pieces; i++)
    if (i % 3 == 0)
      only[i / 8] |= (uint8_t)(0x80 >> (i % 8));
  for (int with_only = 0; with_only < 2; with_only++) {
    struct sh_storage *s;
    cr_assert_eq(sh_storage_open(m, dir, SH_STORAGE_READONLY, &s), 0);
    memset(state, 9, m->num_pieces);
    struct sh_check_opts co = {.threads = 2, .only = with_only ? only : NULL};
    cr_assert_eq(sh_check_run(m, s, state, &co), 0);
    for (uint32_t i = 0; i < m->num_pieces; i++) {
      int want = i == 3 ? SH_PIECE_CORRUPT : i >= 30 ? SH_PIECE_MISSING : SH_PIECE_OK;
      if (with_only && i % 3)
        want = 9; /* outside `only`: untouched */
      cr_expect_eq(state[i], want, "only %d, piece %u", with_only, i);
    }
    sh_storage_close(s);
  }
  free(state);
  sh_metainfo_free(m);
  free(data);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_expect_eq(system(cmd), 0);
}

/* Once per implementation the users may be given: 16 lanes of 64 KiB
 * slices (AVX-512), 8 (AVX2), 2 or 4 (SHA-NI), one 256 KiB slice (OpenSSL). */
Test(sha1_mb, create_and_check_in_groups)
{
  for (int i = SH_SHA1_MB_OPENSSL; i < SH_SHA1_MB_NIMPL; i++) {
    if (!sh_sha1_mb_available(i)) {
      cr_expect_eq(sh_sha1_mb_set_best(i), -ENOTSUP);
      continue;
    }
    cr_assert_eq(sh_sha1_mb_set_best(i), 0);
    cr_assert_eq(sh_sha1_mb_best(), i);
    create_and_check();
  }
  cr_assert_eq(sh_sha1_mb_set_best(SH_SHA1_MB_AUTO), 0);
  cr_expect_eq(sh_sha1_mb_set_best(SH_SHA1_MB_NIMPL), -EINVAL);
}
