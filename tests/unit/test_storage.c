/* storage and checker: piece <-> file mapping across boundaries, padding
 * never created, sparse creation on first write, missing and short files,
 * symlinks under the root refused, and the checker's ok/missing/corrupt. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_torrent_util.h"
#include "base/bencode.h"
#include "base/error.h"
#include "base/sha1.h"
#include "disk/check.h"
#include "disk/storage.h"

/* The test torrent "t", piece length 16, 41 bytes, 3 pieces:
 *   0 t/a      10 bytes  [0, 10)     piece 0
 *   1 t/.pad/6  6 bytes  [10, 16)    piece 0 (padding)
 *   2 t/d/b    20 bytes  [16, 36)    pieces 1 and 2
 *   3 t/d/e     0 bytes  at 36
 *   4 t/c       5 bytes  [36, 41)    piece 2 */
#define PL 16
#define TOTAL 41
static uint8_t content[TOTAL];

static struct sh_metainfo *make_torrent(void)
{
  for (int i = 0; i < TOTAL; i++)
    content[i] = (uint8_t)(i * 7 + 1);
  memset(content + 10, 0, 6);
  struct sh_buf b = SH_BUF_INIT;
  sh_buf_puts(&b, "d4:infod5:filesl"
                  "d6:lengthi10e4:pathl1:aee"
                  "d4:attr1:p6:lengthi6e4:pathl4:.pad1:6ee"
                  "d6:lengthi20e4:pathl1:d1:bee"
                  "d6:lengthi0e4:pathl1:d1:eee"
                  "d6:lengthi5e4:pathl1:cee"
                  "e4:name1:t12:piece lengthi16e6:pieces60:");
  for (int p = 0; p < 3; p++) {
    uint8_t md[20];
    int n = p < 2 ? PL : TOTAL - 2 * PL;
    sh_sha1(content + p * PL, (size_t)n, md);
    sh_buf_append(&b, md, 20);
  }
  sh_buf_puts(&b, "ee");
  struct sh_metainfo *m = test_parse_torrent(&b);
  return m;
}

static char *scratch(void)
{
  char tmpl[] = "/tmp/shoal-storage-XXXXXX";
  char *d = mkdtemp(tmpl);
  cr_assert(d);
  return strdup(d);
}

static void rmrf(const char *d)
{
  char cmd[2100];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
  cr_expect_eq(system(cmd), 0);
}

static int exists(const char *root, const char *rel)
{
  char p[2048];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s", root, rel);
  return lstat(p, &st) == 0;
}

static long long file_size(const char *root, const char *rel, long long *blocks)
{
  char p[2048];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s", root, rel);
  if (stat(p, &st))
    return -1;
  if (blocks)
    *blocks = st.st_blocks;
  return st.st_size;
}

Test(storage, piece_files_span_boundaries)
{
  struct sh_metainfo *m = make_torrent();
  size_t f, l;
  sh_storage_piece_files(m, 0, &f, &l);
  cr_expect_eq(f, 0);
  cr_expect_eq(l, 1, "piece 0 ends in the padding file");
  sh_storage_piece_files(m, 1, &f, &l);
  cr_expect_eq(f, 2);
  cr_expect_eq(l, 2);
  sh_storage_piece_files(m, 2, &f, &l);
  cr_expect_eq(f, 2);
  cr_expect_eq(l, 4, "piece 2 spans b, the empty e and c");
  sh_metainfo_free(m);
}

Test(storage, write_read_roundtrip_and_layout)
{
  struct sh_metainfo *m = make_torrent();
  char *root = scratch();
  char sub[1024];
  snprintf(sub, sizeof sub, "%s/new/dir", root); /* root itself is created */
  struct sh_storage *s;
  cr_assert_eq(sh_storage_open(m, sub, 0, &s), 0);
  cr_expect(!exists(sub, "."), "open never touches the disk");
  size_t bad = 99;
  cr_assert_eq(sh_storage_write_piece(s, 2, content + 32, &bad), 0);
  cr_expect(exists(sub, "t/d/b"));
  cr_expect(exists(sub, "t/c"));
  cr_expect(!exists(sub, "t/a"), "a is untouched by piece 2");
  cr_expect_eq(file_size(sub, "t/d/b", NULL), 20, "b extends to its end; bytes 0..15 are a hole");
  cr_assert_eq(sh_storage_write_piece(s, 0, content, &bad), 0);
  cr_assert_eq(sh_storage_write_piece(s, 1, content + 16, &bad), 0);
  cr_expect(!exists(sub, "t/.pad"), "padding never created");
  cr_expect_eq(file_size(sub, "t/a", NULL), 10);

  uint8_t buf[PL];
  for (uint32_t p = 0; p < 3; p++) {
    uint32_t n = sh_piece_size(m, p);
    memset(buf, 0xee, sizeof buf);
    cr_assert_eq(sh_storage_read(s, p, 0, buf, n, &bad), 0);
    cr_expect(memcmp(buf, content + p * PL, n) == 0, "piece %u reads back", p);
  }
  /* a sub-range crossing from b into c */
  cr_assert_eq(sh_storage_read(s, 2, 2, buf, 5, &bad), 0);
  cr_expect(memcmp(buf, content + 34, 5) == 0);
  cr_expect_eq(sh_storage_read(s, 2, 5, buf, 5, &bad), -EINVAL, "past the piece end");
  cr_expect_eq(sh_storage_flush(s), 0);
  cr_expect(!exists(sub, "t/d/e"), "empty files wait for finish");
  cr_expect_eq(sh_storage_finish(s, &bad), 0);
  cr_expect_eq(file_size(sub, "t/d/e", NULL), 0);
  cr_expect(strstr(sh_storage_file_path(s, 4), "/new/dir/t/c") != NULL);
  sh_storage_close(s);
  sh_metainfo_free(m);
  rmrf(root);
  free(root);
}

static int open_fds(void)
{
  int n = 0;
  for (int fd = 0; fd < 1024; fd++)
    n += fcntl(fd, F_GETFD) >= 0;
  return n;
}

/* An idle torrent holds no descriptor: 10,000 seeding torrents with no
 * peers must not take 10,000 of them. */
Test(storage, release_closes_idle_descriptors)
{
  struct sh_metainfo *m = make_torrent();
  char *root = scratch();
  struct sh_storage *s;
  cr_assert_eq(sh_storage_open(m, root, 0, &s), 0);
  int before = open_fds();
  size_t bad;
  for (uint32_t p = 0; p < 3; p++)
    cr_assert_eq(sh_storage_write_piece(s, p, content + p * PL, &bad), 0);
  cr_expect_gt(open_fds(), before, "the files stay open between calls");
  sh_storage_release(s);
  cr_expect_eq(open_fds(), before, "released: none left open");
  uint8_t buf[PL];
  cr_assert_eq(sh_storage_read(s, 2, 0, buf, sh_piece_size(m, 2), &bad), 0, "reopened on demand");
  cr_expect(memcmp(buf, content + 2 * PL, sh_piece_size(m, 2)) == 0);
  struct sh_extent ext[4];
  int n = sh_storage_lease(s, 1, 0, PL, ext, 4, &bad);
  cr_assert_gt(n, 0);
  sh_storage_release(s);
  cr_expect_eq(pread(ext[0].fd, buf, 4, 0), 4, "a lease outlives a release");
  sh_storage_lease_return(ext, n);
  cr_expect_eq(sh_storage_flush(s), 0, "files written before the release are still synced");
  sh_storage_close(s);
  cr_expect_eq(open_fds(), before);
  sh_metainfo_free(m);
  rmrf(root);
  free(root);
}

Test(storage, sparse_creation)
{
  /* one 64 MiB file with 1 MiB pieces: writing the last piece must not
   * allocate the other 63 */
  struct sh_buf b = SH_BUF_INIT;
  sh_buf_puts(&b, "d4:infod6:lengthi67108864e4:name3:big12:piece lengthi1048576e6:pieces1280:");
  struct sh_metainfo *m = test_torrent_zero_hashes(&b, 1280);
  char *root = scratch();
  struct sh_storage *s;
  cr_assert_eq(sh_storage_open(m, root, 0, &s), 0);
  uint8_t *piece = calloc(1, 1 << 20);
  memset(piece, 0x5a, 1 << 20);
  cr_assert_eq(sh_storage_write_piece(s, 63, piece, NULL), 0);
  long long blocks = 0;
  cr_expect_eq(file_size(root, "big", &blocks), 64ll << 20);
  cr_expect_lt(blocks * 512, 8ll << 20, "file is sparse (%lld bytes allocated)", blocks * 512);
  free(piece);
  sh_storage_close(s);
  sh_metainfo_free(m);
  rmrf(root);
  free(root);
}

Test(storage, missing_and_short_files)
{
  struct sh_metainfo *m = make_torrent();
  char *root = scratch();
  struct sh_storage *s;
  cr_assert_eq(sh_storage_open(m, root, SH_STORAGE_READONLY, &s), 0);
  uint8_t buf[PL];
  size_t bad = 99;
  cr_expect_eq(sh_storage_read(s, 1, 0, buf, PL, &bad), -ENOENT);
  cr_expect_eq(bad, 2);
  cr_expect_eq(sh_storage_write_piece(s, 0, content, &bad), -EROFS);
  cr_expect(!exists(root, "t"), "read-only never creates anything");
  /* b exists but is 4 bytes short */
  char p[2048];
  snprintf(p, sizeof p, "%s/t/d", root);
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s' && head -c 16 /dev/zero > '%s/b'", p, p);
  cr_assert_eq(system(cmd), 0);
  bad = 99;
  cr_expect_eq(sh_storage_read(s, 2, 0, buf, 9, &bad), SH_EINCOMPLETE);
  cr_expect_eq(bad, 2);
  sh_storage_close(s);
  sh_metainfo_free(m);
  rmrf(root);
  free(root);
}

Test(storage, symlink_under_root_not_followed)
{
  struct sh_metainfo *m = make_torrent();
  char *root = scratch();
  char *outside = scratch();
  char p[2048];
  snprintf(p, sizeof p, "%s/t", root);
  cr_assert_eq(mkdir(p, 0755), 0);
  snprintf(p, sizeof p, "%s/t/d", root);
  cr_assert_eq(symlink(outside, p), 0, "plant t/d -> outside");
  struct sh_storage *s;
  cr_assert_eq(sh_storage_open(m, root, 0, &s), 0);
  size_t bad = 99;
  int rc = sh_storage_write_piece(s, 1, content + 16, &bad);
  cr_expect(rc == -ELOOP || rc == -ENOTDIR, "write through a symlink refused (rc %d)", rc);
  cr_expect_eq(bad, 2);
  cr_expect(!exists(outside, "b"), "nothing written outside the root");
  sh_storage_close(s);
  sh_metainfo_free(m);
  rmrf(root);
  rmrf(outside);
  free(root);
  free(outside);
}

static void write_all(struct sh_metainfo *m, const char *root)
{
  struct sh_storage *s;
  cr_assert_eq(sh_storage_open(m, root, 0, &s), 0);
  for (uint32_t p = 0; p < m->num_pieces; p++)
    cr_assert_eq(sh_storage_write_piece(s, p, content + p * PL, NULL), 0);
  sh_storage_close(s);
}

static void run_check(struct sh_metainfo *m, const char *root, uint8_t *state, int threads)
{
  struct sh_storage *s;
  cr_assert_eq(sh_storage_open(m, root, SH_STORAGE_READONLY, &s), 0);
  struct sh_check_opts o = {.threads = threads};
  cr_assert_eq(sh_check_run(m, s, state, &o), 0);
  sh_storage_close(s);
}

Test(check, ok_missing_corrupt)
{
  struct sh_metainfo *m = make_torrent();
  char *root = scratch();
  uint8_t st[3];
  run_check(m, root, st, 0);
  for (int i = 0; i < 3; i++)
    cr_expect_eq(st[i], SH_PIECE_MISSING, "nothing on disk: piece %d missing", i);
  write_all(m, root);
  run_check(m, root, st, 2);
  for (int i = 0; i < 3; i++)
    cr_expect_eq(st[i], SH_PIECE_OK, "piece %d ok", i);
  /* flip one byte of c (piece 2), remove a (piece 0) */
  char p[2048];
  snprintf(p, sizeof p, "%s/t/c", root);
  int fd = open(p, O_RDWR);
  cr_assert(fd >= 0);
  cr_assert_eq(pwrite(fd, "\xff", 1, 3), 1);
  close(fd);
  snprintf(p, sizeof p, "%s/t/a", root);
  cr_assert_eq(unlink(p), 0);
  run_check(m, root, st, 1);
  cr_expect_eq(st[0], SH_PIECE_MISSING);
  cr_expect_eq(st[1], SH_PIECE_OK);
  cr_expect_eq(st[2], SH_PIECE_CORRUPT);
  sh_metainfo_free(m);
  rmrf(root);
  free(root);
}

static void count_progress(void *ud, uint32_t done, uint32_t total, uint64_t bytes)
{
  uint32_t *calls = ud;
  (*calls)++;
  cr_expect_leq(done, total);
  (void)bytes;
}

Test(check, only_and_cancel)
{
  struct sh_metainfo *m = make_torrent();
  char *root = scratch();
  write_all(m, root);
  struct sh_storage *s;
  cr_assert_eq(sh_storage_open(m, root, SH_STORAGE_READONLY, &s), 0);
  uint8_t st[3] = {7, 7, 7};
  uint8_t only[1] = {0x40}; /* piece 1 */
  uint32_t calls = 0;
  struct sh_check_opts o = {.threads = 3, .only = only, .progress = count_progress, .ud = &calls};
  cr_assert_eq(sh_check_run(m, s, st, &o), 0);
  cr_expect_eq(st[0], 7, "pieces outside `only` untouched");
  cr_expect_eq(st[1], SH_PIECE_OK);
  cr_expect_eq(st[2], 7);
  cr_expect_eq(calls, 1);
  volatile int cancel = 1;
  struct sh_check_opts c = {.threads = 1, .cancel = &cancel};
  cr_expect_eq(sh_check_run(m, s, st, &c), SH_ETIMEOUT);
  cr_expect_eq(st[0], SH_PIECE_MISSING, "a cancelled run never reports ok");
  sh_storage_close(s);
  sh_metainfo_free(m);
  rmrf(root);
  free(root);
}

Test(storage, write_error_names_the_file)
{
  /* a file size limit stands in for a full disk: the write fails with
   * EFBIG instead of ENOSPC, through the same path */
  struct sh_metainfo *m = make_torrent();
  char *root = scratch();
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit rl = {16, 16};
  cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
  struct sh_storage *s;
  cr_assert_eq(sh_storage_open(m, root, 0, &s), 0);
  size_t bad = 99;
  cr_expect_eq(sh_storage_write_piece(s, 0, content, &bad), 0, "a: 10 bytes fit");
  int rc = sh_storage_write_piece(s, 2, content + 32, &bad);
  cr_expect_eq(rc, -EFBIG, "rc %d", rc);
  cr_expect_eq(bad, 2, "b (its bytes 16..19, past the 16-byte limit) failed");
  cr_expect(strstr(sh_storage_file_path(s, bad), "/t/d/b") != NULL);
  sh_storage_close(s);
  sh_metainfo_free(m);
  rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
  setrlimit(RLIMIT_FSIZE, &rl); /* raising needs privilege; the test process ends anyway */
  rmrf(root);
  free(root);
}

Test(storage, finish_creates_bep47_symlinks)
{
  struct sh_buf b = SH_BUF_INIT;
  sh_buf_puts(&b, "d4:infod5:filesld6:lengthi10e4:pathl1:aeed4:attr1:l4:pathl3:sub4:linke"
                  "12:symlink pathl1:aeee4:name1:t12:piece lengthi16e6:pieces20:");
  struct sh_metainfo *m = test_torrent_zero_hashes(&b, 20);
  char *root = scratch();
  struct sh_storage *s;
  cr_assert_eq(sh_storage_open(m, root, 0, &s), 0);
  cr_assert_eq(sh_storage_write_piece(s, 0, (const uint8_t *)"0123456789", NULL), 0);
  size_t bad = 99;
  cr_assert_eq(sh_storage_finish(s, &bad), 0);
  char p[2048], target[256] = "";
  snprintf(p, sizeof p, "%s/t/sub/link", root);
  ssize_t n = readlink(p, target, sizeof target - 1);
  cr_assert_gt(n, 0, "t/sub/link is a symlink");
  cr_expect_str_eq(target, "../../t/a", "relative, so the tree can move");
  char buf[16] = "";
  FILE *f = fopen(p, "rb");
  cr_assert(f, "the link resolves");
  cr_expect_eq(fread(buf, 1, 10, f), 10);
  fclose(f);
  cr_expect_str_eq(buf, "0123456789");
  cr_expect_eq(sh_storage_finish(s, &bad), 0, "a second finish keeps the existing link");
  sh_storage_close(s);
  sh_metainfo_free(m);
  rmrf(root);
  free(root);
}

Test(storage, empty_root_means_current_directory)
{
  struct sh_metainfo *m = make_torrent();
  char *root = scratch();
  cr_assert_eq(chdir(root), 0);
  struct sh_storage *s;
  cr_assert_eq(sh_storage_open(m, "", 0, &s), 0);
  cr_assert_eq(sh_storage_write_piece(s, 0, content, NULL), 0);
  cr_expect(exists(root, "t/a"), "written below the current directory, not /t/a");
  cr_expect_str_eq(sh_storage_file_path(s, 0), "./t/a");
  sh_storage_close(s);
  sh_metainfo_free(m);
  cr_assert_eq(chdir("/"), 0);
  rmrf(root);
  free(root);
}

Test(storage, file_sizes_without_following_links)
{
  struct sh_metainfo *m = make_torrent();
  char *root = scratch();
  struct sh_storage *s;
  cr_assert_eq(sh_storage_open(m, root, SH_STORAGE_READONLY, &s), 0);
  uint64_t size[5];
  memset(size, 0xff, sizeof size);
  sh_storage_file_sizes(s, size);
  for (int i = 0; i < 5; i++)
    cr_expect_eq(size[i], 0, "nothing on disk: file %d has size 0", i);
  char p[2048], cmd[4400];
  /* a: 7 bytes; t/d a symlink to a directory holding a full b; c a directory */
  char *outside = scratch();
  snprintf(cmd, sizeof cmd,
           "mkdir -p '%s/t/c' && head -c 7 /dev/zero > '%s/t/a' && head -c 20 /dev/zero > '%s/b'"
           " && ln -s '%s' '%s/t/d'",
           root, root, outside, outside, root);
  cr_assert_eq(system(cmd), 0);
  sh_storage_file_sizes(s, size);
  cr_expect_eq(size[0], 7);
  cr_expect_eq(size[2], 0, "b behind a symlinked directory is not ours");
  cr_expect_eq(size[4], 0, "a directory in place of c counts as missing");
  snprintf(p, sizeof p, "%s/t/d", root);
  cr_assert_eq(unlink(p), 0);
  snprintf(cmd, sizeof cmd, "mkdir '%s/t/d' && head -c 20 /dev/zero > '%s/t/d/b'", root, root);
  cr_assert_eq(system(cmd), 0);
  sh_storage_file_sizes(s, size);
  cr_expect_eq(size[2], 20);
  sh_storage_close(s);
  sh_metainfo_free(m);
  rmrf(root);
  rmrf(outside);
  free(root);
  free(outside);
}

static void sum_progress(void *ud, uint32_t done, uint32_t total, uint64_t bytes)
{
  uint64_t *last = ud; /* done, total, bytes of the last call */
  cr_expect_geq(done, last[0], "progress never goes back");
  last[0] = done;
  last[1] = total;
  last[2] = bytes;
}

/* Pieces of missing or short files are settled from the file sizes without
 * reading; a piece that lies wholly inside the part of a short file that is
 * there is still read and found ok. */
Test(check, short_file_keeps_its_whole_pieces)
{
  struct sh_metainfo *m = make_torrent();
  char *root = scratch();
  write_all(m, root);
  char p[2048];
  snprintf(p, sizeof p, "%s/t/d/b", root);
  cr_assert_eq(truncate(p, 16), 0); /* b keeps piece 1's bytes, not piece 2's */
  uint8_t st[3];
  run_check(m, root, st, 2);
  cr_expect_eq(st[0], SH_PIECE_OK);
  cr_expect_eq(st[1], SH_PIECE_OK, "piece 1 lies in the part of b that is there");
  cr_expect_eq(st[2], SH_PIECE_MISSING, "piece 2 needs b's last 4 bytes");
  cr_assert_eq(truncate(p, 15), 0);
  run_check(m, root, st, 1);
  cr_expect_eq(st[1], SH_PIECE_MISSING);
  /* progress still covers every piece when none is read at all */
  rmrf(root);
  struct sh_storage *s;
  cr_assert_eq(sh_storage_open(m, root, SH_STORAGE_READONLY, &s), 0);
  uint64_t last[3] = {0, 0, 0};
  struct sh_check_opts o = {.threads = 2, .progress = sum_progress, .ud = last};
  cr_assert_eq(sh_check_run(m, s, st, &o), 0);
  for (int i = 0; i < 3; i++)
    cr_expect_eq(st[i], SH_PIECE_MISSING);
  cr_expect_eq(last[0], 3);
  cr_expect_eq(last[1], 3);
  cr_expect_eq(last[2], TOTAL);
  sh_storage_close(s);
  sh_metainfo_free(m);
  free(root);
}
