/* shoal_create and friends: options become fields, progress reaches the
 * total, the bytes parse and save, warnings go to the log sink, and every
 * refusal says why without returning bytes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shoal.h"
#include "test_api_tree.h"

TestSuite(api_create, .init = tree_setup, .fini = tree_teardown);

static struct shoal_torrent_info *create(const struct shoal_create_opts *o)
{
  uint8_t *bytes;
  size_t len;
  char err[512];
  int rc = shoal_create(o, &bytes, &len, err, sizeof err);
  cr_assert_eq(rc, 0, "shoal_create: %s", err);
  cr_assert(bytes && len);
  struct shoal_torrent_info *ti;
  cr_assert_eq(shoal_torrent_info_parse(bytes, len, &ti, err, sizeof err), 0, "%s", err);
  free(bytes);
  return ti;
}

struct progress {
  int calls;
  uint64_t done, total;
};

static void on_progress(void *ud, uint64_t done, uint64_t total)
{
  struct progress *p = ud;
  p->calls++;
  cr_expect_geq(done, p->done, "progress never goes back");
  p->done = done;
  p->total = total;
}

Test(api_create, options_become_fields)
{
  tree_put("pack/a.bin", 70000, 1);
  tree_put("pack/sub/b.bin", 30000, 2);
  char path[256];
  const char *t1[] = {"http://t1a/announce", "http://t1b/announce"}, *t2[] = {"udp://t2:6969"};
  const struct shoal_tracker_tier tiers[] = {{t1, 2}, {t2, 1}};
  const char *seeds[] = {"http://ws/"};
  struct progress pr = {0};
  struct shoal_create_opts o = {
      .path = tree_path(path, sizeof path, "pack"),
      .name = "named",
      .piece_length = 16384,
      .tiers = tiers,
      .num_tiers = 2,
      .web_seeds = seeds,
      .num_web_seeds = 1,
      .is_private = 1,
      .comment = "a comment",
      .source = "SRC",
      .created_by = "test 1.0",
      .creation_date = 1700000000,
      .threads = 2,
      .progress = on_progress,
      .ud = &pr,
  };
  struct shoal_torrent_info *ti = create(&o);
  cr_expect_str_eq(ti->name, "named");
  cr_expect_eq(ti->piece_length, 16384);
  cr_expect_eq(ti->total_length, 100000);
  cr_expect_eq(ti->num_pieces, 7);
  cr_expect_eq(ti->multi_file, 1);
  cr_assert_eq(ti->num_files, 2);
  cr_expect_str_eq(ti->files[0].path, "named/a.bin");
  cr_expect_str_eq(ti->files[1].path, "named/sub/b.bin");
  cr_assert_eq(ti->num_tiers, 2);
  cr_expect_str_eq(ti->tiers[0].urls[1], "http://t1b/announce");
  cr_expect_str_eq(ti->tiers[1].urls[0], "udp://t2:6969");
  cr_assert_eq(ti->num_web_seeds, 1);
  cr_expect_str_eq(ti->web_seeds[0], "http://ws/");
  cr_expect_eq(ti->is_private, 1);
  cr_expect_str_eq(ti->comment, "a comment");
  cr_expect_str_eq(ti->source, "SRC");
  cr_expect_str_eq(ti->created_by, "test 1.0");
  cr_expect_eq(ti->creation_date, 1700000000);
  cr_expect_eq(pr.calls, 7, "one progress call per piece");
  cr_expect_eq(pr.done, 100000);
  cr_expect_eq(pr.total, 100000);
  shoal_torrent_info_free(ti);
}

Test(api_create, defaults_and_determinism)
{
  tree_put("one.bin", 300000, 3);
  char path[256];
  struct shoal_create_opts o = {.path = tree_path(path, sizeof path, "one.bin")};
  struct shoal_torrent_info *a = create(&o);
  cr_expect_str_eq(a->name, "one.bin", "named after the path");
  cr_expect_eq(a->piece_length, shoal_create_piece_length(300000));
  cr_expect_eq(a->multi_file, 0);
  cr_expect_eq(a->num_tiers, 0);
  cr_expect_null(a->comment);
  cr_expect_null(a->created_by);
  cr_expect_eq(a->creation_date, 0);
  o.threads = 1;
  struct shoal_torrent_info *b = create(&o);
  cr_expect_str_eq(a->info_hash_hex, b->info_hash_hex, "same data, same info-hash, any thread count");
  cr_expect_eq(a->raw_len, b->raw_len);
  cr_expect_eq(memcmp(a->raw, b->raw, a->raw_len), 0);
  shoal_torrent_info_free(a);
  shoal_torrent_info_free(b);
}

Test(api_create, helpers)
{
  cr_expect_eq(shoal_create_piece_length(0), SHOAL_CREATE_MIN_PIECE);
  cr_expect_eq(shoal_create_piece_length(2000ull * 16384), 16384);
  cr_expect_eq(shoal_create_piece_length(2000ull * 16384 + 1), 32768);
  cr_expect_eq(shoal_create_piece_length(1ull << 40), SHOAL_CREATE_MAX_PIECE);
  char *n = shoal_create_default_name("a/dir/");
  cr_expect_str_eq(n, "dir");
  free(n);
  n = shoal_create_default_name("file.iso");
  cr_expect_str_eq(n, "file.iso");
  free(n);
}

Test(api_create, save_is_atomic_and_refuses_to_overwrite)
{
  char out[256];
  tree_path(out, sizeof out, "x.torrent");
  cr_expect_eq(shoal_create_save(out, "abc", 3, 0), 0);
  cr_expect_eq(shoal_create_save(out, "defg", 4, 0), -EEXIST);
  struct stat st;
  cr_assert_eq(stat(out, &st), 0);
  cr_expect_eq(st.st_size, 3, "the refused write left the file alone");
  cr_expect_eq(st.st_mode & 0777, 0644, "readable by all: a .torrent is meant to be shared");
  cr_expect_eq(shoal_create_save(out, "defg", 4, 1), 0);
  cr_assert_eq(stat(out, &st), 0);
  cr_expect_eq(st.st_size, 4);
  char bad[300];
  tree_path(bad, sizeof bad, "no/such/dir/x.torrent");
  cr_expect_eq(shoal_create_save(bad, "a", 1, 0), -ENOENT);
}

struct warnings {
  int n;
  char last[512];
};

static void warn_sink(void *ud, enum shoal_log_level level, const char *msg)
{
  struct warnings *w = ud;
  if (level == SHOAL_LOG_WARN) {
    w->n++;
    snprintf(w->last, sizeof w->last, "%s", msg);
  }
}

Test(api_create, skipped_symlink_is_a_warning_through_the_sink)
{
  tree_put("t/a", 1000, 4);
  char link[256], path[256];
  cr_assert_eq(symlink("a", tree_path(link, sizeof link, "t/link")), 0);
  struct warnings w = {0};
  shoal_log_set_sink(warn_sink, &w);
  struct shoal_create_opts o = {.path = tree_path(path, sizeof path, "t")};
  struct shoal_torrent_info *ti = create(&o);
  shoal_log_set_sink(NULL, NULL);
  cr_expect_eq(ti->num_files, 1, "the link is not in the torrent");
  cr_expect_eq(w.n, 1);
  cr_expect(strstr(w.last, "t/link: symbolic link"), "warning: '%s'", w.last);
  shoal_torrent_info_free(ti);
}

static void refused(const struct shoal_create_opts *o, int want, const char *why)
{
  uint8_t *bytes = (uint8_t *)1;
  size_t len = 99;
  char err[512] = "";
  int rc = shoal_create(o, &bytes, &len, err, sizeof err);
  cr_expect_eq(rc, want, "rc %d (%s), wanted %d: %s", rc, shoal_strerror(rc), want, err);
  cr_expect_null(bytes, "no bytes on failure");
  cr_expect_eq(len, 0);
  cr_expect(strstr(err, why), "error '%s' lacks '%s'", err, why);
}

Test(api_create, refusals)
{
  char path[256], empty[256];
  struct shoal_create_opts o = {0};
  refused(&o, SHOAL_EUSAGE, "no path");
  o.path = tree_path(path, sizeof path, "nope");
  refused(&o, -ENOENT, "nope: No such file");
  cr_assert_eq(mkdir(tree_path(empty, sizeof empty, "empty"), 0755), 0);
  o.path = empty;
  refused(&o, SHOAL_EUSAGE, "empty directory");

  tree_put("f.bin", 100, 5);
  o.path = tree_path(path, sizeof path, "f.bin");
  o.piece_length = 1000;
  refused(&o, SHOAL_EUSAGE, "power of two");
  o.piece_length = 0;
  o.name = "a/b";
  refused(&o, SHOAL_EUSAGE, "one non-empty path element");
  o.name = NULL;

  const char *holes[] = {"http://a/", NULL};
  const struct shoal_tracker_tier tier = {holes, 2};
  o.tiers = &tier;
  o.num_tiers = 1;
  refused(&o, SHOAL_EUSAGE, "tracker tier 1: URL 2 is NULL");
  o.num_tiers = 0;
  o.web_seeds = holes + 1;
  o.num_web_seeds = 1;
  refused(&o, SHOAL_EUSAGE, "web seed 1 is NULL");
}
