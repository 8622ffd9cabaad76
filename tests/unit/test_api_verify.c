/* shoal_verify: complete data, then each way data goes wrong (short,
 * missing, corrupt, a link in place of a file), padding never looked at,
 * progress, cancellation, and a DIR that is not a folder. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shoal.h"
#include "test_api_tree.h"

TestSuite(api_verify, .init = tree_setup, .fini = tree_teardown);

/* pack/a.bin 40000 B, pack/c.bin 10000 B, pack/sub/b.bin 30000 B (in that
 * order) in 16 KiB pieces: 5 pieces, a.bin in 0-2, c.bin in 2-3, b.bin in
 * 3-4. */
static struct shoal_torrent_info *make_pack(void)
{
  tree_put("data/pack/a.bin", 40000, 1);
  tree_put("data/pack/sub/b.bin", 30000, 2);
  tree_put("data/pack/c.bin", 10000, 3);
  char path[256], err[512];
  struct shoal_create_opts o = {.path = tree_path(path, sizeof path, "data/pack"), .piece_length = 16384};
  uint8_t *bytes;
  size_t len;
  cr_assert_eq(shoal_create(&o, &bytes, &len, err, sizeof err), 0, "%s", err);
  struct shoal_torrent_info *ti;
  cr_assert_eq(shoal_torrent_info_parse(bytes, len, &ti, err, sizeof err), 0, "%s", err);
  free(bytes);
  cr_assert_eq(ti->num_pieces, 5);
  cr_assert_str_eq(ti->files[0].path, "pack/a.bin");
  cr_assert_str_eq(ti->files[1].path, "pack/c.bin");
  cr_assert_str_eq(ti->files[2].path, "pack/sub/b.bin");
  return ti;
}

static struct shoal_verify_result *verify(const struct shoal_torrent_info *ti, const struct shoal_verify_opts *o)
{
  char dir[256], err[512];
  struct shoal_verify_result *r;
  int rc = shoal_verify(ti, tree_path(dir, sizeof dir, "data"), o, &r, err, sizeof err);
  cr_assert_eq(rc, 0, "shoal_verify: %s", err);
  cr_assert_eq(r->num_pieces, ti->num_pieces);
  cr_assert_eq(r->num_files, ti->num_files);
  cr_expect_eq(r->pieces_ok + r->pieces_missing + r->pieces_corrupt, r->num_pieces);
  return r;
}

struct progress {
  uint32_t done, total;
  uint64_t bytes;
};

static void on_progress(void *ud, uint32_t done, uint32_t total, uint64_t bytes)
{
  struct progress *p = ud;
  p->done = done;
  p->total = total;
  p->bytes = bytes;
}

Test(api_verify, complete)
{
  struct shoal_torrent_info *ti = make_pack();
  struct progress pr = {0};
  struct shoal_verify_opts o = {.threads = 2, .progress = on_progress, .ud = &pr};
  struct shoal_verify_result *r = verify(ti, &o);
  cr_expect_eq(r->pieces_ok, 5);
  for (uint32_t p = 0; p < 5; p++)
    cr_expect_eq(r->pieces[p], SHOAL_PIECE_OK);
  for (size_t i = 0; i < 3; i++) {
    cr_expect_eq(r->files[i].disk, SHOAL_DISK_OK);
    cr_expect_eq(r->files[i].size_on_disk, ti->files[i].length);
    cr_expect_eq(r->files[i].corrupt_pieces, 0);
  }
  cr_expect(pr.done == 5 && pr.total == 5 && pr.bytes == 80000, "progress %u/%u %llu", pr.done, pr.total,
            (unsigned long long)pr.bytes);
  shoal_verify_result_free(r);
  shoal_verify_result_free(NULL);
  shoal_torrent_info_free(ti);
}

Test(api_verify, short_file)
{
  struct shoal_torrent_info *ti = make_pack();
  char p[256];
  cr_assert_eq(truncate(tree_path(p, sizeof p, "data/pack/a.bin"), 20000), 0);
  struct shoal_verify_result *r = verify(ti, NULL);
  cr_expect_eq(r->files[0].disk, SHOAL_DISK_SHORT);
  cr_expect_eq(r->files[0].size_on_disk, 20000);
  /* 0 is whole; 1 and 2 need bytes past 20000 */
  cr_expect_eq(r->pieces[0], SHOAL_PIECE_OK);
  cr_expect_eq(r->pieces[1], SHOAL_PIECE_MISSING);
  cr_expect_eq(r->pieces[2], SHOAL_PIECE_MISSING);
  cr_expect_eq(r->pieces_missing, 2);
  cr_expect_eq(r->pieces_corrupt, 0);
  shoal_verify_result_free(r);
  shoal_torrent_info_free(ti);
}

Test(api_verify, corrupt_byte_names_the_files_of_the_piece)
{
  struct shoal_torrent_info *ti = make_pack();
  char p[256];
  FILE *f = fopen(tree_path(p, sizeof p, "data/pack/c.bin"), "r+b");
  cr_assert(f);
  fseek(f, 5000, SEEK_SET);
  int c = fgetc(f);
  fseek(f, 5000, SEEK_SET);
  fputc(c ^ 0xff, f);
  fclose(f);
  struct shoal_verify_result *r = verify(ti, NULL);
  /* byte 5000 of c.bin is byte 45000 of the torrent, in piece 2
   * (32768..49151), which also holds a.bin's tail */
  cr_expect_eq(r->pieces_corrupt, 1);
  cr_expect_eq(r->pieces[2], SHOAL_PIECE_CORRUPT);
  size_t first, last;
  shoal_torrent_info_piece_files(ti, 2, &first, &last);
  cr_expect(first == 0 && last == 1, "piece 2 covers files %zu..%zu", first, last);
  for (size_t i = 0; i < 3; i++)
    cr_expect_eq(r->files[i].disk, SHOAL_DISK_OK, "the sizes are all right");
  cr_expect_eq(r->files[0].corrupt_pieces, 1, "a.bin holds bytes of the bad piece");
  cr_expect_eq(r->files[1].corrupt_pieces, 1, "so does c.bin");
  cr_expect_eq(r->files[2].corrupt_pieces, 0, "b.bin does not");
  shoal_verify_result_free(r);
  shoal_torrent_info_free(ti);
}

Test(api_verify, missing_file_and_link_in_its_place)
{
  struct shoal_torrent_info *ti = make_pack();
  char p[256], q[256];
  cr_assert_eq(unlink(tree_path(p, sizeof p, "data/pack/sub/b.bin")), 0);
  cr_assert_eq(rename(tree_path(p, sizeof p, "data/pack/c.bin"), tree_path(q, sizeof q, "c.bin")), 0);
  cr_assert_eq(symlink(q, tree_path(p, sizeof p, "data/pack/c.bin")), 0);
  struct shoal_verify_result *r = verify(ti, NULL);
  cr_expect_eq(r->files[0].disk, SHOAL_DISK_OK);
  cr_expect_eq(r->files[1].disk, SHOAL_DISK_NOT_REGULAR, "links are not followed");
  cr_expect_eq(r->files[2].disk, SHOAL_DISK_MISSING);
  cr_expect_eq(r->pieces_ok, 2, "pieces 0 and 1 lie in a.bin alone");
  cr_expect_eq(r->pieces_missing, 3);
  shoal_verify_result_free(r);
  shoal_torrent_info_free(ti);
}

/* multi.torrent's content (tests/data/make_fixtures.py): padding is never
 * looked for on disk. */
Test(api_verify, padding_not_stored)
{
  const char *dir = getenv("SHOAL_TEST_DATA");
  cr_assert(dir);
  char path[512], err[512];
  snprintf(path, sizeof path, "%s/multi.torrent", dir);
  struct shoal_torrent_info *ti;
  cr_assert_eq(shoal_torrent_info_load(path, &ti, err, sizeof err), 0, "%s", err);
  tree_put("data/multi/sub/empty", 0, 0);
  FILE *f = fopen(tree_path(path, sizeof path, "data/multi/a.txt"), "wb");
  cr_assert(f);
  for (int i = 0; i < 5000; i++)
    fputc((i * 13) & 0xff, f);
  fclose(f);
  f = fopen(tree_path(path, sizeof path, "data/multi/sub/b.bin"), "wb");
  cr_assert(f);
  for (int i = 0; i < 20000; i++)
    fputc((i * 5 + 1) & 0xff, f);
  fclose(f);
  struct shoal_verify_result *r = verify(ti, NULL);
  cr_expect_eq(r->pieces_ok, 3, "all pieces, padding read as zeros");
  cr_expect_eq(r->files[1].disk, SHOAL_DISK_NOT_STORED);
  cr_expect_eq(r->files[3].disk, SHOAL_DISK_OK, "an empty file is there when it exists");
  shoal_verify_result_free(r);
  shoal_torrent_info_free(ti);
}

Test(api_verify, cancelled)
{
  struct shoal_torrent_info *ti = make_pack();
  volatile int stop = 1;
  struct shoal_verify_opts o = {.cancel = &stop};
  char dir[256], err[512];
  struct shoal_verify_result *r = (struct shoal_verify_result *)1;
  cr_expect_eq(shoal_verify(ti, tree_path(dir, sizeof dir, "data"), &o, &r, err, sizeof err), -ECANCELED);
  cr_expect_null(r);
  cr_expect_str_eq(err, shoal_strerror(-ECANCELED));
  shoal_torrent_info_free(ti);
}

Test(api_verify, dir_must_be_a_folder)
{
  struct shoal_torrent_info *ti = make_pack();
  char dir[256], err[512], want[300];
  struct shoal_verify_result *r = (struct shoal_verify_result *)1;
  cr_expect_eq(shoal_verify(ti, tree_path(dir, sizeof dir, "nodir"), NULL, &r, err, sizeof err), -ENOENT);
  cr_expect_null(r);
  snprintf(want, sizeof want, "%s: No such file or directory", dir);
  cr_expect_str_eq(err, want);
  cr_expect_eq(shoal_verify(ti, tree_path(dir, sizeof dir, "data/pack/c.bin"), NULL, &r, err, sizeof err),
               -ENOTDIR);
  snprintf(want, sizeof want, "%s: not a directory", dir);
  cr_expect_str_eq(err, want);
  shoal_torrent_info_free(ti);
}
