/* storage's O_DIRECT write path: the whole file blocks of a piece go to disk
 * with O_DIRECT, partial blocks (the end of a short last piece) and ranges
 * whose memory is aligned unlike the file (a buffer one byte off a page)
 * through the page cache, and the bytes on disk are the same either
 * way. SH_STORAGE_BUFFERED turns the direct path off. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_torrent_util.h"
#include "disk/storage.h"

/* "t": a 12288 bytes, b 10000 bytes, piece length 8192, 3 pieces:
 *   piece 0 = a[0, 8192)                         aligned: direct
 *   piece 1 = a[8192, 12288) + b[0, 4096)         aligned: direct, both parts
 *   piece 2 = b[4096, 10000), 5904 bytes          its whole block b[4096, 8192)
 *                                                 direct, the 1808-byte tail
 *                                                 buffered */
#define PL 8192
#define TOTAL (12288 + 10000)

static struct sh_metainfo *make_torrent(void)
{
  struct sh_buf b = SH_BUF_INIT;
  sh_buf_puts(&b, "d4:infod5:filesl"
                  "d6:lengthi12288e4:pathl1:aee"
                  "d6:lengthi10000e4:pathl1:bee"
                  "e4:name1:t12:piece lengthi8192e6:pieces60:");
  return test_torrent_zero_hashes(&b, 60);
}

/* Whether the file system under dir takes an aligned O_DIRECT write at all
 * (tmpfs before Linux 6.6 does not): the expectation depends on it. */
static int direct_supported(const char *dir)
{
  char path[512];
  snprintf(path, sizeof path, "%s/probe", dir);
  int fd = open(path, O_CREAT | O_RDWR | O_DIRECT, 0644);
  if (fd < 0)
    return 0;
  void *p = aligned_alloc(4096, 4096);
  memset(p, 1, 4096);
  int ok = pwrite(fd, p, 4096, 0) == 4096;
  free(p);
  close(fd);
  unlink(path);
  return ok;
}

static void check_file(const char *root, const char *name, const uint8_t *want, size_t n)
{
  char path[512];
  snprintf(path, sizeof path, "%s/t/%s", root, name);
  FILE *f = fopen(path, "rb");
  cr_assert(f, "%s missing", path);
  uint8_t *got = malloc(n + 1);
  size_t r = fread(got, 1, n + 1, f);
  fclose(f);
  cr_assert_eq(r, n, "%s: %zu bytes, want %zu", name, r, n);
  cr_assert(!memcmp(got, want, n), "%s: content differs", name);
  free(got);
}

static void cleanup(const char *root, void *mem, void *content, struct sh_metainfo *m)
{
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  cr_expect_eq(system(cmd), 0);
  free(mem);
  free(content);
  sh_metainfo_free(m);
}

static void run(int flags, int unaligned_buffer)
{
  char tmpl[] = "/tmp/shoal-direct-XXXXXX";
  char *root = mkdtemp(tmpl);
  cr_assert(root);
  int direct = direct_supported(root) && !(flags & SH_STORAGE_BUFFERED);
  struct sh_metainfo *m = make_torrent();
  uint8_t *content = malloc(TOTAL);
  for (int i = 0; i < TOTAL; i++)
    content[i] = (uint8_t)(i * 131 + 7);
  /* one page more, so a buffer one byte off the page start fits too */
  uint8_t *mem = aligned_alloc(4096, PL + 4096);
  uint8_t *buf = mem + (unaligned_buffer ? 1 : 0);
  struct sh_storage *s;
  cr_assert_eq(sh_storage_open(m, root, flags, &s), 0);
  for (uint32_t p = 0; p < 3; p++) {
    size_t n = sh_piece_size(m, p);
    memcpy(buf, content + (size_t)p * PL, n);
    cr_assert_eq(sh_storage_write_piece(s, p, buf, NULL), 0, "piece %u", p);
  }
  /* pieces 0 and 1 are aligned, and the first block of piece 2 */
  uint64_t want = direct && !unaligned_buffer ? 2 * PL + 4096 : 0;
  cr_expect_eq(sh_storage_direct_bytes(s), want, "direct bytes %llu, want %llu",
               (unsigned long long)sh_storage_direct_bytes(s), (unsigned long long)want);
  /* reads through the storage see what was written, whichever path */
  uint8_t back[PL];
  for (uint32_t p = 0; p < 3; p++) {
    size_t n = sh_piece_size(m, p);
    cr_assert_eq(sh_storage_read(s, p, 0, back, (uint32_t)n, NULL), 0);
    cr_assert(!memcmp(back, content + (size_t)p * PL, n), "piece %u reads back wrong", p);
  }
  cr_assert_eq(sh_storage_flush(s), 0);
  sh_storage_close(s);
  check_file(root, "a", content, 12288);
  check_file(root, "b", content + 12288, 10000);
  cleanup(root, mem, content, m);
}

Test(storage_direct, aligned_pieces_go_direct) { run(0, 0); }
Test(storage_direct, unaligned_buffer_goes_buffered) { run(0, 1); }
Test(storage_direct, buffered_flag_turns_it_off) { run(SH_STORAGE_BUFFERED, 0); }

/* "u": x 1000 bytes, then y 700000 bytes, piece length 512 KiB, both
 * pieces written from one buffer: page-aligned, or placed where
 * sh_storage_buf_shift says. Checks the bytes written with O_DIRECT (when
 * the file system takes it) and the files. */
static struct sh_metainfo *make_u(void)
{
  struct sh_buf b = SH_BUF_INIT;
  sh_buf_puts(&b, "d4:infod5:filesl"
                  "d6:lengthi1000e4:pathl1:xee"
                  "d6:lengthi700000e4:pathl1:yee"
                  "e4:name1:t12:piece lengthi524288e6:pieces40:");
  return test_torrent_zero_hashes(&b, 40);
}

static void write_u(int placed, uint64_t want_direct)
{
  char tmpl[] = "/tmp/shoal-direct-XXXXXX";
  char *root = mkdtemp(tmpl);
  cr_assert(root);
  int direct = direct_supported(root);
  struct sh_metainfo *m = make_u();
  size_t total = 701000;
  uint8_t *content = malloc(total);
  for (size_t i = 0; i < total; i++)
    content[i] = (uint8_t)(i * 7919 >> 3);
  uint8_t *mem = aligned_alloc(SH_STORAGE_BUF_ALIGN, 524288 + SH_STORAGE_BUF_ALIGN);
  struct sh_storage *s;
  cr_assert_eq(sh_storage_open(m, root, 0, &s), 0);
  for (uint32_t p = 0; p < 2; p++) {
    uint8_t *buf = mem + (placed ? sh_storage_buf_shift(m, p) : 0);
    memcpy(buf, content + (size_t)p * 524288, sh_piece_size(m, p));
    cr_assert_eq(sh_storage_write_piece(s, p, buf, NULL), 0, "piece %u", p);
  }
  cr_expect_eq(sh_storage_direct_bytes(s), direct ? want_direct : 0u, "direct bytes %llu",
               (unsigned long long)sh_storage_direct_bytes(s));
  cr_assert_eq(sh_storage_flush(s), 0);
  sh_storage_close(s);
  check_file(root, "x", content, 1000);
  check_file(root, "y", content + 1000, 700000);
  cleanup(root, mem, content, m);
}

/* Page-aligned buffers: piece 0's part in y starts at y's offset 0 but 1000
 * bytes into the buffer, so memory and file are not aligned alike: its
 * whole blocks (520192 bytes) go through the bounce buffer with O_DIRECT,
 * the 3096-byte tail and x through the page cache. Piece 1 (176712 bytes
 * of y) has too few whole blocks to bother and is written buffered. */
Test(storage_direct, file_starting_mid_piece_bounces_its_whole_blocks) { write_u(0, 520192); }

/* Placed buffers: y holds most of both pieces and starts 1000 bytes into
 * piece 0, so both buffers start 3096 bytes into a page. y's whole blocks
 * then sit page-aligned in memory and go to disk with O_DIRECT straight
 * from the buffer, piece 1's too, although they are fewer than a bounce
 * buffer's worth: y[0, 520192) and y[524288, 696320). */
Test(storage_direct, buffer_placed_for_its_main_file_goes_direct)
{
  struct sh_metainfo *m = make_u();
  cr_expect_eq(sh_storage_buf_shift(m, 0), 3096u);
  cr_expect_eq(sh_storage_buf_shift(m, 1), 3096u);
  sh_metainfo_free(m);
  write_u(1, 520192u + 172032u);
}

/* Shifts for the other layouts: aligned file starts need none, and a tie
 * goes to the first file. */
Test(storage_direct, buffer_shift_of_aligned_layouts_is_zero)
{
  struct sh_metainfo *m = make_torrent();
  for (uint32_t p = 0; p < 3; p++)
    cr_expect_eq(sh_storage_buf_shift(m, p), 0u, "piece %u", p);
  sh_metainfo_free(m);
  struct sh_buf b = SH_BUF_INIT;
  sh_buf_puts(&b, "d4:infod6:lengthi100000e4:name1:s12:piece lengthi16384e6:pieces140:");
  m = test_torrent_zero_hashes(&b, 140);
  for (uint32_t p = 0; p < 7; p++)
    cr_expect_eq(sh_storage_buf_shift(m, p), 0u, "single file, piece %u", p);
  sh_metainfo_free(m);
}
