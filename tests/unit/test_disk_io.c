/* disk/io: hash-then-write, the upload read cache (cold reads, hits,
 * coalescing, LRU bound, pinning), the start-up check with progress, and
 * close with jobs in flight. Every test runs a real uv loop over real files
 * in a scratch directory. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/sha1.h"
#include "base/sha1_mb.h"
#include "disk/io.h"

/* Three files of odd sizes so pieces straddle file boundaries (piece 1 spans
 * all three): 7 pieces of 32 KiB, the last one 23,393 bytes. */
#define PL 32768u
static const uint64_t file_len[] = {50000, 1, 170000};
#define NFILES 3
#define TOTAL (50000u + 1u + 170000u) /* 220,001 bytes: 6 full pieces + 23,393 */

struct fx {
  char dir[64];
  uint8_t *content;          /* the torrent's whole byte space */
  struct sh_metainfo *m;
  struct sh_storage *st;
  uv_loop_t loop;
  struct sh_disk_cache cache; /* the read cache's budget, as a session's */
  struct sh_disk *d;
};

static uint8_t byte_at(size_t i) { return (uint8_t)(i * 2654435761u >> 13); }

static void fx_init_flags(struct fx *f, size_t cache_bytes, int storage_flags)
{
  memset(f, 0, sizeof *f);
  strcpy(f->dir, "/tmp/shoal-io-XXXXXX");
  cr_assert_not_null(mkdtemp(f->dir));
  f->content = malloc(TOTAL);
  for (size_t i = 0; i < TOTAL; i++)
    f->content[i] = byte_at(i);
  uint32_t np = (TOTAL + PL - 1) / PL;
  uint8_t *hashes = malloc(20 * (size_t)np);
  for (uint32_t p = 0; p < np; p++) {
    size_t len = p + 1 < np ? PL : TOTAL - (size_t)p * PL;
    sh_sha1(f->content + (size_t)p * PL, len, hashes + 20 * (size_t)p);
  }
  struct sh_buf b = SH_BUF_INIT;
  sh_buf_puts(&b, "d4:infod5:filesl");
  for (int i = 0; i < NFILES; i++)
    sh_buf_printf(&b, "d6:lengthi%llue4:pathl6:f%d.binee", (unsigned long long)file_len[i], i);
  sh_buf_printf(&b, "e4:name4:data12:piece lengthi%ue6:pieces%u:", PL, 20 * np);
  sh_buf_append(&b, hashes, 20 * (size_t)np);
  sh_buf_puts(&b, "ee");
  free(hashes);
  char err[256] = "";
  cr_assert_eq(sh_metainfo_parse(b.data, b.len, &f->m, err, sizeof err), 0, "%s", err);
  sh_buf_free(&b);
  cr_assert_eq(f->m->num_pieces, np);
  cr_assert_eq(uv_loop_init(&f->loop), 0);
  cr_assert_eq(sh_storage_open(f->m, f->dir, storage_flags, &f->st), 0);
  sh_disk_cache_init(&f->cache, cache_bytes);
  cr_assert_eq(sh_disk_new(&f->loop, f->st, f->m, &f->cache, &f->d), 0);
}

static void fx_init(struct fx *f, size_t cache_bytes) { fx_init_flags(f, cache_bytes, 0); }

static void on_closed(void *ud) { ++*(int *)ud; }

/* Closes the disk (if still open), the storage and the loop; removes files. */
static void fx_done(struct fx *f)
{
  if (f->d) {
    int closed = 0;
    sh_disk_close(f->d, on_closed, &closed);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    cr_assert_eq(closed, 1, "close callback ran once");
  }
  sh_storage_close(f->st);
  sh_disk_cache_free(&f->cache);
  cr_expect_eq(uv_loop_close(&f->loop), 0, "no handle left open");
  sh_metainfo_free(f->m);
  free(f->content);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  cr_expect_eq(system(cmd), 0);
}

static uint8_t *piece_copy(struct fx *f, uint32_t p)
{
  uint32_t n = sh_piece_size(f->m, p);
  uint8_t *b = malloc(n);
  memcpy(b, f->content + (size_t)p * PL, n);
  return b;
}

/* ---- hash + write ---- */

struct wres {
  int calls, rc;
  uint32_t piece;
  size_t bad_file;
  uint8_t *buf;
};

static void on_write(void *ud, uint32_t piece, int rc, size_t bad_file, uint8_t *buf)
{
  struct wres *r = ud;
  r->calls++;
  r->rc = rc;
  r->piece = piece;
  r->bad_file = bad_file;
  r->buf = buf;
}

static void write_all(struct fx *f)
{
  for (uint32_t p = 0; p < f->m->num_pieces; p++) {
    struct wres r = {0};
    uint8_t *buf = piece_copy(f, p);
    cr_assert_eq(sh_disk_hash_write(f->d, p, buf, on_write, &r), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    cr_assert_eq(r.calls, 1);
    cr_assert_eq(r.rc, 0, "piece %u: %s", p, sh_strerror(r.rc));
    free(buf);
  }
}

static void file_path(struct fx *f, int i, char *out, size_t n)
{
  snprintf(out, n, "%s/data/f%d.bin", f->dir, i);
}

Test(disk_io, hash_write_good_piece_lands_on_disk)
{
  struct fx f;
  fx_init(&f, 1 << 20);
  /* piece 1 covers bytes 32768..65535: the end of f0, all of f1, start of f2 */
  uint8_t *buf = piece_copy(&f, 1);
  struct wres r = {0};
  cr_assert_eq(sh_disk_hash_write(f.d, 1, buf, on_write, &r), 0);
  cr_expect_eq(r.calls, 0, "callback never runs inside the submit call");
  uv_run(&f.loop, UV_RUN_DEFAULT);
  cr_assert_eq(r.calls, 1);
  cr_expect_eq(r.rc, 0, "%s", sh_strerror(r.rc));
  cr_expect_eq(r.piece, 1);
  cr_expect_eq(r.buf, buf, "the lent buffer comes back");
  char path[128];
  file_path(&f, 0, path, sizeof path);
  FILE *fp = fopen(path, "rb");
  cr_assert_not_null(fp, "f0 created by the write");
  uint8_t got[50000 - PL];
  cr_assert_eq(fseek(fp, PL, SEEK_SET), 0);
  cr_assert_eq(fread(got, 1, sizeof got, fp), sizeof got);
  cr_expect(memcmp(got, f.content + PL, sizeof got) == 0);
  fclose(fp);
  file_path(&f, 1, path, sizeof path);
  struct stat sb;
  cr_assert_eq(stat(path, &sb), 0);
  cr_expect_eq(sb.st_size, 1);
  struct sh_disk_stats s;
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.pieces_written, 1);
  cr_expect_eq(s.jobs_in_flight, 0);
  free(buf);
  fx_done(&f);
}

Test(disk_io, hash_write_bad_piece_writes_nothing)
{
  struct fx f;
  fx_init(&f, 1 << 20);
  uint8_t *buf = piece_copy(&f, 0);
  buf[12345] ^= 1; /* one flipped bit */
  struct wres r = {0};
  cr_assert_eq(sh_disk_hash_write(f.d, 0, buf, on_write, &r), 0);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  cr_assert_eq(r.calls, 1);
  cr_expect_eq(r.rc, SH_EHASH);
  cr_expect_eq(r.buf, buf);
  char path[128];
  file_path(&f, 0, path, sizeof path);
  cr_expect_eq(access(path, F_OK), -1, "no file created for a bad piece");
  struct sh_disk_stats s;
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.hash_failures, 1);
  cr_expect_eq(s.pieces_written, 0);
  free(buf);
  fx_done(&f);
}

/* One group job: all 7 pieces (the last one short) with piece 3 corrupted,
 * once per SHA-1 implementation the CPU has (7 pieces take the multi-buffer
 * path where there is one). Callbacks come once per piece (the good ones as
 * their writes finish, in any order with O_DIRECT); the six good pieces
 * land on disk, the bad one does not. */
struct gres {
  int calls;
  uint32_t order[8]; /* pieces in callback order */
  int seen[8];     /* callbacks per piece */
  int rc[8];       /* by piece */
  uint8_t *buf[8]; /* by piece */
};

static void on_group(void *ud, uint32_t piece, int rc, size_t bad_file, uint8_t *buf)
{
  struct gres *g = ud;
  (void)bad_file;
  cr_assert_lt(piece, 8);
  cr_assert_lt(g->calls, 8);
  g->order[g->calls++] = piece;
  g->seen[piece]++;
  g->rc[piece] = rc;
  g->buf[piece] = buf;
}

static void group_every_impl(int storage_flags)
{
  for (int impl = SH_SHA1_MB_OPENSSL; impl < SH_SHA1_MB_NIMPL; impl++) {
    if (!sh_sha1_mb_available(impl))
      continue;
    cr_assert_eq(sh_sha1_mb_set_best(impl), 0);
    struct fx f;
    fx_init_flags(&f, 1 << 20, storage_flags);
    uint32_t n = f.m->num_pieces, pieces[8];
    uint8_t *bufs[8];
    for (uint32_t p = 0; p < n; p++) {
      pieces[p] = p;
      bufs[p] = piece_copy(&f, p);
    }
    bufs[3][100] ^= 0x40;
    struct gres g = {0};
    cr_assert_eq(sh_disk_hash_write_group(f.d, n, pieces, bufs, on_group, &g), 0);
    cr_expect_eq(g.calls, 0, "callbacks never run inside the submit call");
    uv_run(&f.loop, UV_RUN_DEFAULT);
    cr_assert_eq(g.calls, (int)n, "%s: %d callbacks", sh_sha1_mb_name(impl), g.calls);
    /* through the page cache the group's own job writes, in order */
    for (uint32_t i = 0; (storage_flags & SH_STORAGE_BUFFERED) && i < n; i++)
      cr_expect_eq(g.order[i], i, "buffered: callbacks in order");
    for (uint32_t p = 0; p < n; p++) {
      cr_expect_eq(g.seen[p], 1, "one callback for piece %u", p);
      cr_expect_eq(g.buf[p], bufs[p], "buffer %u comes back", p);
      cr_expect_eq(g.rc[p], p == 3 ? SH_EHASH : 0, "%s: piece %u: %s", sh_sha1_mb_name(impl), p,
                   sh_strerror(g.rc[p]));
    }
    struct sh_disk_stats s;
    sh_disk_stats(f.d, &s);
    cr_expect_eq(s.pieces_written, n - 1);
    cr_expect_eq(s.hash_failures, 1);
    /* the bytes of every good piece are on disk; piece 3's are not */
    uint8_t *back = malloc(PL);
    for (uint32_t p = 0; p < n; p++) {
      uint32_t len = sh_piece_size(f.m, p);
      int rc = sh_storage_read(f.st, p, 0, back, len, NULL);
      if (p == 3) {
        cr_expect(rc != 0 || memcmp(back, f.content + (size_t)p * PL, len) != 0,
                  "the corrupt piece was not written");
        continue;
      }
      cr_assert_eq(rc, 0, "piece %u: %s", p, sh_strerror(rc));
      cr_expect(!memcmp(back, f.content + (size_t)p * PL, len), "piece %u on disk", p);
    }
    free(back);
    cr_expect_eq(sh_disk_hash_write_group(f.d, 0, pieces, bufs, on_group, &g), -EINVAL);
    cr_expect_eq(sh_disk_hash_write_group(f.d, SH_DISK_HASH_GROUP + 1, pieces, bufs, on_group, &g),
                 -EINVAL);
    for (uint32_t p = 0; p < n; p++)
      free(bufs[p]);
    fx_done(&f);
  }
  sh_sha1_mb_set_best(SH_SHA1_MB_AUTO);
}

Test(disk_io, hash_write_group_every_impl) { group_every_impl(0); }

Test(disk_io, hash_write_group_buffered) { group_every_impl(SH_STORAGE_BUFFERED); }

Test(disk_io, hash_write_last_short_piece)
{
  struct fx f;
  fx_init(&f, 1 << 20);
  uint32_t last = f.m->num_pieces - 1;
  cr_assert_eq(sh_piece_size(f.m, last), TOTAL - 6 * PL);
  uint8_t *buf = piece_copy(&f, last);
  struct wres r = {0};
  cr_assert_eq(sh_disk_hash_write(f.d, last, buf, on_write, &r), 0);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  cr_expect_eq(r.rc, 0, "%s", sh_strerror(r.rc));
  char path[128];
  file_path(&f, 2, path, sizeof path);
  struct stat sb;
  cr_assert_eq(stat(path, &sb), 0);
  cr_expect_eq((uint64_t)sb.st_size, file_len[2], "the last file reaches its full length");
  free(buf);
  fx_done(&f);
}

Test(disk_io, bad_arguments_refused_without_callback)
{
  struct fx f;
  fx_init(&f, 1 << 20);
  struct wres r = {0};
  uint8_t x[1];
  cr_expect_eq(sh_disk_hash_write(f.d, f.m->num_pieces, x, on_write, &r), -EINVAL);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  cr_expect_eq(r.calls, 0);
  fx_done(&f);
}

/* ---- reads ---- */

struct rres {
  int calls, rc;
  const uint8_t *data;
  struct sh_disk_ref *ref;
};

static void on_read(void *ud, int rc, const uint8_t *data, struct sh_disk_ref *ref)
{
  struct rres *r = ud;
  r->calls++;
  r->rc = rc;
  r->data = data;
  r->ref = ref;
}

/* Reads one block and runs the loop until its callback; returns the ref. */
static struct sh_disk_ref *read_one(struct fx *f, uint32_t p, uint32_t begin, uint32_t len)
{
  struct rres r = {0};
  cr_assert_eq(sh_disk_read_block(f->d, p, begin, len, on_read, &r), 0);
  cr_expect_eq(r.calls, 0, "no callback from inside the submit call");
  uv_run(&f->loop, UV_RUN_DEFAULT);
  cr_assert_eq(r.calls, 1);
  cr_assert_eq(r.rc, 0, "piece %u: %s", p, sh_strerror(r.rc));
  cr_assert_not_null(r.ref);
  cr_assert(memcmp(r.data, f->content + (size_t)p * PL + begin, len) == 0,
            "piece %u block at %u has the right bytes", p, begin);
  return r.ref;
}

Test(disk_io, read_cold_then_from_cache)
{
  struct fx f;
  fx_init(&f, 1 << 20);
  write_all(&f);
  struct sh_disk_ref *a = read_one(&f, 1, 0, 16384);
  struct sh_disk_stats s;
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.disk_reads, 1);
  cr_expect_eq(s.read_bytes, PL, "whole piece read at once");
  sh_disk_ref_release(a);
  struct sh_disk_ref *b = read_one(&f, 1, 16384, 16384);
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.disk_reads, 1, "second block served without a read");
  cr_expect_eq(s.cache_hits, 1);
  sh_disk_ref_release(b);
  /* an odd block crossing the file boundary inside the piece */
  sh_disk_ref_release(read_one(&f, 1, 50000 - PL - 7, 20));
  /* the short last piece */
  uint32_t last = f.m->num_pieces - 1;
  sh_disk_ref_release(read_one(&f, last, 0, sh_piece_size(f.m, last)));
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.disk_reads, 2);
  cr_expect_eq(s.pinned, 0);
  fx_done(&f);
}

Test(disk_io, concurrent_requests_share_one_read)
{
  struct fx f;
  fx_init(&f, 1 << 20);
  write_all(&f);
  struct rres r[8] = {{0}};
  for (int i = 0; i < 8; i++)
    cr_assert_eq(sh_disk_read_block(f.d, 3, (uint32_t)i * 4096, 4096, on_read, &r[i]), 0);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  struct sh_disk_stats s;
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.disk_reads, 1, "eight requests, one read");
  cr_expect_eq(s.coalesced, 7);
  for (int i = 0; i < 8; i++) {
    cr_assert_eq(r[i].calls, 1);
    cr_assert_eq(r[i].rc, 0);
    cr_expect_eq(r[i].ref, r[0].ref, "all share one entry");
    cr_expect(memcmp(r[i].data, f.content + 3 * PL + (size_t)i * 4096, 4096) == 0);
  }
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.pinned, 1);
  for (int i = 0; i < 8; i++)
    sh_disk_ref_release(r[i].ref);
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.pinned, 0);
  cr_expect_eq(s.entries, 1, "kept for the next request");
  fx_done(&f);
}

Test(disk_io, lru_bound_honoured)
{
  struct fx f;
  fx_init(&f, 2 * PL); /* room for two pieces */
  write_all(&f);
  for (uint32_t p = 0; p < 6; p++) {
    sh_disk_ref_release(read_one(&f, p, 0, 100));
    struct sh_disk_stats s;
    sh_disk_stats(f.d, &s);
    cr_expect_leq(s.cached_bytes, 2 * PL, "after piece %u: %zu bytes cached", p, s.cached_bytes);
    cr_expect_leq(s.entries, 2);
  }
  struct sh_disk_stats s;
  sh_disk_stats(f.d, &s);
  cr_assert_eq(s.disk_reads, 6);
  /* 4 and 5 are the two most recent */
  sh_disk_ref_release(read_one(&f, 4, 100, 100));
  sh_disk_ref_release(read_one(&f, 5, 100, 100));
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.disk_reads, 6, "recent pieces still cached");
  /* touching 4 made 5 the older one: reading 0 must evict 5, keep 4 */
  sh_disk_ref_release(read_one(&f, 4, 0, 1));
  sh_disk_ref_release(read_one(&f, 0, 0, 1));
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.disk_reads, 7, "piece 0 had been evicted");
  sh_disk_ref_release(read_one(&f, 4, 0, 1));
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.disk_reads, 7, "piece 4 survived as most recently used");
  sh_disk_ref_release(read_one(&f, 5, 0, 1));
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.disk_reads, 8, "piece 5 was the one evicted");
  fx_done(&f);
}

Test(disk_io, pinned_entries_survive_eviction)
{
  struct fx f;
  fx_init(&f, PL); /* room for one piece only */
  write_all(&f);
  struct sh_disk_ref *held = read_one(&f, 0, 0, 16384);
  struct rres r0 = {0};
  /* keep the data pointer of the held block to check it stays intact */
  cr_assert_eq(sh_disk_read_block(f.d, 0, 0, 16384, on_read, &r0), 0);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  cr_assert_eq(r0.rc, 0);
  sh_disk_ref_release(r0.ref);
  for (uint32_t p = 1; p < 5; p++)
    sh_disk_ref_release(read_one(&f, p, 0, 10));
  struct sh_disk_stats s;
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.pinned, 1);
  cr_expect_leq(s.cached_bytes, 2 * PL, "one pinned piece over the budget, no more");
  cr_expect(memcmp(r0.data, f.content, 16384) == 0, "pinned data untouched");
  uint64_t reads = s.disk_reads;
  sh_disk_ref_release(read_one(&f, 0, 16384, 16384));
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.disk_reads, reads, "pinned piece 0 still cached");
  sh_disk_ref_release(held);
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.pinned, 0);
  cr_expect_leq(s.cached_bytes, PL, "back within budget once released");
  fx_done(&f);
}

Test(disk_io, zero_cache_still_serves)
{
  struct fx f;
  fx_init(&f, 0);
  write_all(&f);
  struct sh_disk_ref *a = read_one(&f, 2, 0, 100);
  sh_disk_ref_release(a);
  struct sh_disk_stats s;
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.cached_bytes, 0);
  cr_expect_eq(s.entries, 0);
  fx_done(&f);
}

Test(disk_io, read_of_missing_data_fails_cleanly)
{
  struct fx f;
  fx_init(&f, 1 << 20);
  struct rres r[3] = {{0}};
  for (int i = 0; i < 3; i++)
    cr_assert_eq(sh_disk_read_block(f.d, 2, 0, 100, on_read, &r[i]), 0);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  for (int i = 0; i < 3; i++) {
    cr_expect_eq(r[i].calls, 1);
    cr_expect_lt(r[i].rc, 0);
    cr_expect_null(r[i].data);
    cr_expect_null(r[i].ref);
  }
  struct sh_disk_stats s;
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.entries, 0, "a failed read is not cached");
  cr_expect_eq(s.cached_bytes, 0);
  cr_expect_eq(s.pinned, 0);
  /* once the data is there, the next request reads again and succeeds */
  write_all(&f);
  sh_disk_ref_release(read_one(&f, 2, 0, 100));
  fx_done(&f);
}

Test(disk_io, read_bounds_checked)
{
  struct fx f;
  fx_init(&f, 1 << 20);
  struct rres r = {0};
  uint32_t last = f.m->num_pieces - 1;
  uint32_t lsz = sh_piece_size(f.m, last);
  cr_expect_eq(sh_disk_read_block(f.d, 0, PL - 10, 11, on_read, &r), -EINVAL);
  cr_expect_eq(sh_disk_read_block(f.d, 0, 0, 0, on_read, &r), -EINVAL);
  cr_expect_eq(sh_disk_read_block(f.d, last, lsz, 1, on_read, &r), -EINVAL);
  cr_expect_eq(sh_disk_read_block(f.d, 0, UINT32_MAX, 2, on_read, &r), -EINVAL);
  cr_expect_eq(sh_disk_read_block(f.d, f.m->num_pieces, 0, 1, on_read, &r), -EINVAL);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  cr_expect_eq(r.calls, 0, "refused calls never call back");
  fx_done(&f);
}

/* A hit callback that asks for the next block, as an uploader answering a
 * queue of requests would; it must be answered on a later turn. */
struct chain {
  struct sh_disk *d;
  int depth, calls;
  struct sh_disk_ref *refs[4];
};

static void on_chain(void *ud, int rc, const uint8_t *data, struct sh_disk_ref *ref)
{
  struct chain *c = ud;
  cr_assert_eq(rc, 0);
  c->refs[c->calls++] = ref;
  if (c->calls < c->depth) {
    int before = c->calls;
    cr_assert_eq(sh_disk_read_block(c->d, 0, (uint32_t)c->calls * 1000, 1000, on_chain, c), 0);
    cr_assert_eq(c->calls, before, "not called from inside the request");
  }
}

Test(disk_io, callbacks_may_request_again)
{
  struct fx f;
  fx_init(&f, 1 << 20);
  write_all(&f);
  struct chain c = {.d = f.d, .depth = 4};
  cr_assert_eq(sh_disk_read_block(f.d, 0, 0, 1000, on_chain, &c), 0);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  cr_expect_eq(c.calls, 4);
  for (int i = 0; i < c.calls; i++)
    sh_disk_ref_release(c.refs[i]);
  fx_done(&f);
}

/* ---- close ---- */

struct counts {
  int writes, reads, flushes, closed, order_ok;
};

static void cnt_write(void *ud, uint32_t piece, int rc, size_t bad_file, uint8_t *buf)
{
  struct counts *c = ud;
  c->writes++;
  if (c->closed)
    c->order_ok = 0;
  cr_expect_eq(rc, 0);
  free(buf);
}

static void cnt_read(void *ud, int rc, const uint8_t *data, struct sh_disk_ref *ref)
{
  struct counts *c = ud;
  c->reads++;
  if (c->closed)
    c->order_ok = 0;
  sh_disk_ref_release(ref);
}

static void cnt_flush(void *ud, int rc)
{
  struct counts *c = ud;
  c->flushes++;
  if (c->closed)
    c->order_ok = 0;
  cr_expect_eq(rc, 0);
}

static void cnt_closed(void *ud) { ((struct counts *)ud)->closed++; }

Test(disk_io, close_waits_for_jobs_in_flight)
{
  struct fx f;
  fx_init(&f, 1 << 20);
  /* piece 0 on disk first, so reads have something to find */
  uint8_t *b0 = piece_copy(&f, 0);
  struct wres r = {0};
  sh_disk_hash_write(f.d, 0, b0, on_write, &r);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  free(b0);
  struct counts c = {.order_ok = 1};
  for (uint32_t p = 1; p < f.m->num_pieces; p++)
    cr_assert_eq(sh_disk_hash_write(f.d, p, piece_copy(&f, p), cnt_write, &c), 0);
  for (int i = 0; i < 5; i++)
    cr_assert_eq(sh_disk_read_block(f.d, 0, 0, 10, cnt_read, &c), 0);
  cr_assert_eq(sh_disk_flush(f.d, cnt_flush, &c), 0);
  sh_disk_close(f.d, cnt_closed, &c);
  /* after close, submissions are refused and never call back */
  cr_expect_eq(sh_disk_read_block(f.d, 0, 0, 10, cnt_read, &c), -ECANCELED);
  cr_expect_eq(sh_disk_flush(f.d, cnt_flush, &c), -ECANCELED);
  cr_expect_eq(c.closed, 0, "close completes asynchronously");
  uv_run(&f.loop, UV_RUN_DEFAULT);
  cr_expect_eq(c.writes, (int)f.m->num_pieces - 1);
  cr_expect_eq(c.reads, 5);
  cr_expect_eq(c.flushes, 1);
  cr_expect_eq(c.closed, 1);
  cr_expect(c.order_ok, "every job callback ran before the close callback");
  f.d = NULL;
  fx_done(&f);
}

Test(disk_io, ref_outlives_close)
{
  struct fx f;
  fx_init(&f, 1 << 20);
  write_all(&f);
  struct rres r = {0};
  cr_assert_eq(sh_disk_read_block(f.d, 1, 0, 16384, on_read, &r), 0);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  cr_assert_eq(r.rc, 0);
  int closed = 0;
  sh_disk_close(f.d, on_closed, &closed);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  cr_assert_eq(closed, 1);
  f.d = NULL;
  /* a socket write still in flight may read the block after close */
  cr_expect(memcmp(r.data, f.content + PL, 16384) == 0);
  sh_disk_ref_release(r.ref); /* frees the orphaned entry (ASan checks) */
  fx_done(&f);
}

/* ---- check ---- */

struct cres {
  int calls, rc, progress_calls, monotonic;
  uint32_t last_done, total;
  uint8_t *state;
};

static void on_progress(void *ud, uint32_t done, uint32_t total)
{
  struct cres *c = ud;
  if (done < c->last_done)
    c->monotonic = 0;
  c->last_done = done;
  c->total = total;
  c->progress_calls++;
}

static void on_check(void *ud, int rc, uint8_t *state)
{
  struct cres *c = ud;
  c->calls++;
  c->rc = rc;
  c->state = state;
}

Test(disk_io, check_reports_state_and_progress)
{
  struct fx f;
  fx_init(&f, 1 << 20);
  /* pieces 0..4 good, then corrupt one byte of piece 2 on disk; 5 and 6
   * never written (6 lives only in f2's tail, which stays short) */
  for (uint32_t p = 0; p < 5; p++) {
    struct wres r = {0};
    uint8_t *buf = piece_copy(&f, p);
    sh_disk_hash_write(f.d, p, buf, on_write, &r);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    cr_assert_eq(r.rc, 0);
    free(buf);
  }
  char path[128];
  file_path(&f, 2, path, sizeof path);
  int fd = open(path, O_WRONLY);
  cr_assert_geq(fd, 0);
  uint8_t x = (uint8_t)~f.content[2 * PL + 100];
  cr_assert_eq(pwrite(fd, &x, 1, 2 * PL + 100 - 50001), 1);
  close(fd);

  uint8_t state[7];
  memset(state, 0xee, sizeof state);
  struct cres c = {.monotonic = 1};
  cr_assert_eq(sh_disk_check(f.d, 2, state, on_progress, on_check, &c), 0);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  cr_assert_eq(c.calls, 1);
  cr_assert_eq(c.rc, 0, "%s", sh_strerror(c.rc));
  cr_expect_eq(c.state, state);
  cr_expect_eq(state[0], SH_PIECE_OK);
  cr_expect_eq(state[1], SH_PIECE_OK);
  cr_expect_eq(state[2], SH_PIECE_CORRUPT);
  cr_expect_eq(state[3], SH_PIECE_OK);
  cr_expect_eq(state[4], SH_PIECE_OK);
  cr_expect_neq(state[5], SH_PIECE_OK);
  cr_expect_neq(state[6], SH_PIECE_OK);
  cr_expect_geq(c.progress_calls, 1, "progress relayed to the loop");
  cr_expect(c.monotonic);
  cr_expect_eq(c.total, 7);
  cr_expect_eq(c.last_done, 7, "last progress reports every piece done");
  fx_done(&f);
}

struct cancel_res {
  int check_calls, check_rc, closed, check_before_close;
};

static void cancel_on_check(void *ud, int rc, uint8_t *state)
{
  struct cancel_res *c = ud;
  c->check_calls++;
  c->check_rc = rc;
  c->check_before_close = !c->closed;
}

static void cancel_on_closed(void *ud) { ((struct cancel_res *)ud)->closed++; }

Test(disk_io, close_cancels_a_running_check)
{
  struct fx f;
  fx_init(&f, 1 << 20);
  write_all(&f);
  uint8_t state[7];
  struct cancel_res c = {0};
  cr_assert_eq(sh_disk_check(f.d, 1, state, NULL, cancel_on_check, &c), 0);
  sh_disk_close(f.d, cancel_on_closed, &c);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  cr_expect_eq(c.check_calls, 1, "the check's callback still runs");
  cr_expect(c.check_before_close, "and before the close callback");
  /* the worker may finish all 7 pieces before it sees the flag */
  cr_expect(c.check_rc == -ECANCELED || c.check_rc == 0, "rc %d", c.check_rc);
  cr_expect_eq(c.closed, 1);
  f.d = NULL;
  fx_done(&f);
}

Test(disk_io, write_failure_names_the_file)
{
  struct fx f;
  fx_init(&f, 1 << 20);
  /* a directory where f2.bin should be: piece 3 (bytes 98,304..131,071)
   * lies wholly in f2, so its write must fail on file index 2 */
  char path[128];
  snprintf(path, sizeof path, "%s/data", f.dir);
  cr_assert_eq(mkdir(path, 0755), 0);
  file_path(&f, 2, path, sizeof path);
  cr_assert_eq(mkdir(path, 0755), 0);
  uint8_t *buf = piece_copy(&f, 3);
  struct wres r = {0};
  cr_assert_eq(sh_disk_hash_write(f.d, 3, buf, on_write, &r), 0);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  cr_assert_eq(r.calls, 1);
  cr_expect_lt(r.rc, 0);
  cr_expect_neq(r.rc, SH_EHASH, "the hash matched; the write failed");
  cr_expect_eq(r.bad_file, 2, "bad_file %zu", r.bad_file);
  cr_expect_eq(r.buf, buf);
  struct sh_disk_stats s;
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.pieces_written, 0);
  free(buf);
  fx_done(&f);
}

/* ---- serving for sendfile ---- */

/* Serves one block with sh_disk_serve_block and runs the loop until its
 * callback; returns the result. */
static struct rres serve_one(struct fx *f, uint32_t p, uint32_t begin, uint32_t len)
{
  struct rres r = {0};
  cr_assert_eq(sh_disk_serve_block(f->d, p, begin, len, 1, on_read, &r), 0);
  cr_expect_eq(r.calls, 0, "no callback from inside the submit call");
  uv_run(&f->loop, UV_RUN_DEFAULT);
  cr_assert_eq(r.calls, 1);
  cr_assert_eq(r.rc, 0, "piece %u: %s", p, sh_strerror(r.rc));
  cr_assert_not_null(r.ref);
  return r;
}

/* The bytes the extents of a sendfile ref name, read back with pread. */
static void expect_extents(struct fx *f, struct sh_disk_ref *ref, uint32_t p, uint32_t begin,
                           uint32_t len, int want_n)
{
  struct sh_extent ext[SH_DISK_MAX_EXTENTS];
  int n = sh_disk_ref_extents(ref, begin, len, ext, SH_DISK_MAX_EXTENTS);
  cr_assert_eq(n, want_n, "piece %u [%u,+%u): %d extents", p, begin, len, n);
  uint8_t *buf = malloc(len);
  uint32_t at = 0;
  for (int i = 0; i < n; i++) {
    cr_assert_geq(ext[i].fd, 0, "no padding in this torrent");
    cr_assert_eq(pread(ext[i].fd, buf + at, ext[i].len, (off_t)ext[i].off), (ssize_t)ext[i].len);
    at += ext[i].len;
  }
  cr_assert_eq(at, len, "the extents cover the block exactly");
  cr_expect(memcmp(buf, f->content + (size_t)p * PL + begin, len) == 0,
            "piece %u block at %u: the extents name the right bytes", p, begin);
  free(buf);
}

/* Resident pages of bytes [off, off+len) of file i, counted with mincore. */
static size_t resident_pages(struct fx *f, int i, off_t off, size_t len, size_t *total)
{
  char path[128];
  snprintf(path, sizeof path, "%s/data/f%d.bin", f->dir, i);
  int fd = open(path, O_RDONLY);
  cr_assert_geq(fd, 0, "%s", path);
  long pg = sysconf(_SC_PAGESIZE);
  off_t start = off / pg * pg;
  size_t span = (size_t)(off - start) + len;
  void *map = mmap(NULL, span, PROT_READ, MAP_SHARED, fd, start);
  cr_assert_neq(map, MAP_FAILED);
  size_t np = (span + (size_t)pg - 1) / (size_t)pg, n = 0;
  unsigned char *vec = malloc(np);
  cr_assert_eq(mincore(map, span, vec), 0);
  for (size_t k = 0; k < np; k++)
    n += vec[k] & 1;
  free(vec);
  munmap(map, span);
  close(fd);
  *total = np;
  return n;
}

Test(disk_io, serve_gives_resident_file_extents)
{
  struct fx f;
  fx_init(&f, 1 << 20);
  write_all(&f);
  /* Push piece 6's pages out of the page cache (written back first, so
   * DONTNEED may drop them), then serve it: the worker must bring every
   * page back before the loop thread would sendfile from it. */
  char path[128];
  snprintf(path, sizeof path, "%s/data/f2.bin", f.dir);
  int fd = open(path, O_RDONLY);
  cr_assert_geq(fd, 0);
  fsync(fd);
  off_t off6 = (off_t)(6 * PL - 50001);
  uint32_t len6 = sh_piece_size(f.m, 6);
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
  size_t total = 0, before = resident_pages(&f, 2, off6, len6, &total);
  struct rres r = serve_one(&f, 6, 100, 5000);
  cr_assert_null(r.data, "a sendfile ref, not bytes in memory");
  size_t after = resident_pages(&f, 2, off6, len6, &total);
  cr_expect_eq(after, total, "all %zu pages resident after the serve (%zu before)", total, before);
  expect_extents(&f, r.ref, 6, 100, 5000, 1);
  expect_extents(&f, r.ref, 6, 0, len6, 1);
  sh_disk_ref_release(r.ref);
  /* piece 1 spans all three files: a block across them maps to 3 extents */
  r = serve_one(&f, 1, 0, PL);
  cr_assert_null(r.data);
  expect_extents(&f, r.ref, 1, 0, PL, 3);
  expect_extents(&f, r.ref, 1, 50000 - PL - 7, 20, 3);
  expect_extents(&f, r.ref, 1, 0, 100, 1);
  struct sh_extent ext[4];
  cr_expect_eq(sh_disk_ref_extents(r.ref, PL - 10, 11, ext, 4), -EINVAL, "past the piece");
  cr_expect_eq(sh_disk_ref_extents(r.ref, 0, PL, ext, 2), -E2BIG, "too small an array");
  sh_disk_ref_release(r.ref);
  /* the second block of a ready piece is a hit, still by sendfile */
  r = serve_one(&f, 1, 16384, 16384);
  cr_assert_null(r.data);
  expect_extents(&f, r.ref, 1, 16384, 16384, 3); /* 49152.. crosses both boundaries */
  struct sh_disk_stats s;
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.file_entries, 2);
  cr_expect_eq(s.file_fallbacks, 0);
  cr_expect_eq(s.cache_hits, 1);
  /* a memory read of a piece held for sendfile and in use is refused... */
  struct rres m = {0};
  cr_expect_eq(sh_disk_read_block(f.d, 1, 0, 10, on_read, &m), -EBUSY);
  sh_disk_ref_release(r.ref);
  /* ...and once idle, the entry makes way for a memory copy */
  sh_disk_ref_release(read_one(&f, 1, 0, 10));
  /* after sh_disk_no_sendfile new pieces come in memory */
  sh_disk_no_sendfile(f.d);
  r = serve_one(&f, 3, 0, 100);
  cr_assert_not_null(r.data);
  cr_expect(memcmp(r.data, f.content + 3 * PL, 100) == 0);
  cr_expect_eq(sh_disk_ref_extents(r.ref, 0, 100, ext, 4), -EINVAL, "a memory ref has no extents");
  sh_disk_ref_release(r.ref);
  fx_done(&f);
}

Test(disk_io, serve_of_a_missing_file_fails_like_a_read)
{
  struct fx f;
  fx_init(&f, 1 << 20);
  /* nothing written: the files do not exist */
  struct rres r = {0};
  cr_assert_eq(sh_disk_serve_block(f.d, 2, 0, 100, 1, on_read, &r), 0);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  cr_assert_eq(r.calls, 1);
  cr_expect_lt(r.rc, 0, "an error, not a ref to nothing");
  cr_expect_null(r.ref);
  struct sh_disk_stats s;
  sh_disk_stats(f.d, &s);
  cr_expect_eq(s.file_entries, 0);
  cr_expect_eq(s.pinned, 0);
  fx_done(&f);
}

Test(disk_io, sendfile_refs_outlive_close)
{
  struct fx f;
  fx_init(&f, 1 << 20);
  write_all(&f);
  struct rres r = serve_one(&f, 0, 0, 1000);
  cr_assert_null(r.data);
  int closed = 0;
  sh_disk_close(f.d, on_closed, &closed);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  cr_assert_eq(closed, 1);
  f.d = NULL;
  sh_storage_close(f.st);
  f.st = NULL;
  /* the leased descriptors stay open until the last release */
  expect_extents(&f, r.ref, 0, 0, 1000, 1);
  sh_disk_ref_release(r.ref); /* frees the orphaned entry (ASan checks) */
  fx_done(&f);
}
