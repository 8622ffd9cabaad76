/* The public torrent view (shoal_torrent_info_*): every field of the
 * fixtures (tests/data/make_fixtures.py), ownership (the view holds copies),
 * the piece helpers, and refusals: bencode errors with their byte offset,
 * invalid fields by name, every truncation of a valid file, unreadable
 * paths. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/sha1.h"
#include "shoal.h"

static void fixture_path(const char *name, char *path, size_t len)
{
  const char *dir = getenv("SHOAL_TEST_DATA");
  cr_assert(dir, "SHOAL_TEST_DATA not set");
  snprintf(path, len, "%s/%s", dir, name);
}

static struct shoal_torrent_info *load(const char *name)
{
  char path[1024], err[512];
  fixture_path(name, path, sizeof path);
  struct shoal_torrent_info *ti;
  int rc = shoal_torrent_info_load(path, &ti, err, sizeof err);
  cr_assert_eq(rc, 0, "%s: %s", name, err);
  return ti;
}

/* The whole file, for comparing with raw and parsing from memory. */
static uint8_t *slurp(const char *name, size_t *len)
{
  char path[1024];
  fixture_path(name, path, sizeof path);
  FILE *f = fopen(path, "rb");
  cr_assert(f);
  uint8_t *b = malloc(1 << 16);
  *len = fread(b, 1, 1 << 16, f);
  fclose(f);
  return b;
}

Test(api_info, single_fixture)
{
  struct shoal_torrent_info *ti = load("single.torrent");
  cr_expect_str_eq(ti->name, "sample.bin");
  cr_expect_str_eq(ti->info_hash_hex, "07f993a4ee5614e02181cda10ce99e1d2135bb36");
  cr_expect_eq(ti->info_hash[0], 0x07);
  cr_expect_eq(ti->info_hash[19], 0x36);
  cr_expect_eq(ti->total_length, 100000);
  cr_expect_eq(ti->piece_length, 32768);
  cr_expect_eq(ti->num_pieces, 4);
  cr_expect_eq(ti->is_private, 0);
  cr_expect_eq(ti->multi_file, 0);
  cr_assert_eq(ti->num_tiers, 1);
  cr_assert_eq(ti->tiers[0].num_urls, 1);
  cr_expect_str_eq(ti->tiers[0].urls[0], "http://127.0.0.1:6969/announce");
  cr_expect_eq(ti->num_web_seeds, 0);
  cr_expect_null(ti->web_seeds);
  cr_expect_str_eq(ti->comment, "fixture");
  cr_expect_str_eq(ti->created_by, "hand");
  cr_expect_null(ti->source);
  cr_expect_eq(ti->creation_date, 1700000000);
  cr_assert_eq(ti->num_files, 1);
  cr_expect_str_eq(ti->files[0].path, "sample.bin");
  cr_expect_eq(ti->files[0].length, 100000);
  cr_expect_eq(ti->files[0].offset, 0);
  cr_expect_eq(ti->files[0].attr, 0);
  cr_expect_null(ti->files[0].symlink_target);
  cr_expect_eq(shoal_torrent_info_piece_size(ti, 0), 32768);
  cr_expect_eq(shoal_torrent_info_piece_size(ti, 3), 100000 - 3 * 32768, "the last piece is short");
  shoal_torrent_info_free(ti);
}

Test(api_info, multi_fixture)
{
  struct shoal_torrent_info *ti = load("multi.torrent");
  cr_expect_str_eq(ti->name, "multi");
  cr_expect_str_eq(ti->info_hash_hex, "4760d0a355641a03948880f95405658ae119d4e6");
  cr_expect_eq(ti->is_private, 1);
  cr_expect_eq(ti->multi_file, 1);
  cr_expect_str_eq(ti->source, "SRC");
  cr_expect_null(ti->comment);
  cr_expect_null(ti->created_by);
  cr_expect_eq(ti->creation_date, 0);
  /* announce-list wins over announce (BEP 12) */
  cr_assert_eq(ti->num_tiers, 2);
  cr_assert_eq(ti->tiers[0].num_urls, 2);
  cr_expect_str_eq(ti->tiers[0].urls[0], "http://t1a/ann");
  cr_expect_str_eq(ti->tiers[0].urls[1], "http://t1b/ann");
  cr_assert_eq(ti->tiers[1].num_urls, 1);
  cr_expect_str_eq(ti->tiers[1].urls[0], "udp://t2/ann");
  cr_assert_eq(ti->num_web_seeds, 2);
  cr_expect_str_eq(ti->web_seeds[0], "http://ws1/");
  cr_expect_str_eq(ti->web_seeds[1], "http://ws2/");

  static const struct { const char *path; uint64_t length, offset; unsigned attr; } want[] = {
      {"multi/a.txt", 5000, 0, 0},
      {"multi/.pad/11384", 11384, 5000, SHOAL_FILE_PAD},
      {"multi/sub/b.bin", 20000, 16384, 0},
      {"multi/sub/empty", 0, 36384, SHOAL_FILE_EXEC},
  };
  cr_assert_eq(ti->num_files, 4);
  for (size_t i = 0; i < 4; i++) {
    cr_expect_str_eq(ti->files[i].path, want[i].path);
    cr_expect_eq(ti->files[i].length, want[i].length, "file %zu", i);
    cr_expect_eq(ti->files[i].offset, want[i].offset, "file %zu", i);
    cr_expect_eq(ti->files[i].attr, want[i].attr, "file %zu", i);
  }
  cr_expect_eq(ti->total_length, 36384);
  cr_expect_eq(ti->piece_length, 16384);
  cr_expect_eq(ti->num_pieces, 3);

  /* piece 0 is a.txt plus the padding; 1 and 2 lie in b.bin, and the last
   * one reaches the empty file at the end */
  size_t first, last;
  shoal_torrent_info_piece_files(ti, 0, &first, &last);
  cr_expect(first == 0 && last == 1, "piece 0: files %zu..%zu", first, last);
  shoal_torrent_info_piece_files(ti, 1, &first, &last);
  cr_expect(first == 2 && last == 2, "piece 1: files %zu..%zu", first, last);
  shoal_torrent_info_piece_files(ti, 2, &first, &last);
  cr_expect_eq(first, 2);
  cr_expect_geq(last, 2);
  cr_expect_eq(shoal_torrent_info_piece_size(ti, 2), 36384 - 2 * 16384);
  shoal_torrent_info_free(ti);
}

Test(api_info, raw_bytes_and_info_dict)
{
  size_t len;
  uint8_t *file = slurp("multi.torrent", &len);
  struct shoal_torrent_info *ti = load("multi.torrent");
  cr_assert_eq(ti->raw_len, len);
  cr_expect_eq(memcmp(ti->raw, file, len), 0, "raw holds the file as given");
  cr_assert_leq(ti->info_off + ti->info_len, ti->raw_len);
  cr_expect_eq(ti->raw[ti->info_off], 'd');
  uint8_t md[20];
  sh_sha1(ti->raw + ti->info_off, ti->info_len, md);
  cr_expect_eq(memcmp(md, ti->info_hash, 20), 0, "the info-hash is the SHA-1 of raw's info dict");
  /* the piece hashes sit inside the info dict, 20 bytes each */
  cr_assert_neq(ti->piece_hashes, NULL);
  const uint8_t *p = memmem(ti->raw + ti->info_off, ti->info_len, ti->piece_hashes, 20 * ti->num_pieces);
  cr_expect_neq(p, NULL);
  shoal_torrent_info_free(ti);
  free(file);
}

Test(api_info, parse_copies_the_bytes)
{
  size_t len;
  uint8_t *file = slurp("single.torrent", &len);
  struct shoal_torrent_info *ti;
  char err[256];
  cr_assert_eq(shoal_torrent_info_parse(file, len, &ti, err, sizeof err), 0, "%s", err);
  memset(file, 'x', len); /* the caller's buffer is its own again */
  free(file);
  cr_expect_str_eq(ti->info_hash_hex, "07f993a4ee5614e02181cda10ce99e1d2135bb36");
  cr_expect_eq(ti->raw[0], 'd');
  cr_expect_str_eq(ti->tiers[0].urls[0], "http://127.0.0.1:6969/announce");
  shoal_torrent_info_free(ti);
  shoal_torrent_info_free(NULL);
}

/* d<outer>4:infod<info>6:pieces20:<20 zero bytes>ee: one piece. */
static int parse_tor(const char *outer, const char *info, struct shoal_torrent_info **ti, char *err,
                     size_t errlen)
{
  char buf[1024];
  int n = snprintf(buf, sizeof buf, "d%s4:infod%s6:pieces20:", outer, info);
  memset(buf + n, 0, 20);
  memcpy(buf + n + 20, "ee", 2);
  return shoal_torrent_info_parse(buf, (size_t)n + 22, ti, err, errlen);
}

Test(api_info, trackerless_and_symlink)
{
  struct shoal_torrent_info *ti;
  char err[256];
  int rc = parse_tor("", "5:filesld6:lengthi10e4:pathl1:aeed4:attr1:l4:pathl3:sub4:linke"
                         "12:symlink pathl3:sub2:..1:aeee4:name1:d12:piece lengthi16e",
                     &ti, err, sizeof err);
  cr_assert_eq(rc, 0, "%s", err);
  cr_expect_eq(ti->num_tiers, 0);
  cr_expect_null(ti->tiers, "no tiers: no array");
  cr_assert_eq(ti->num_files, 2);
  cr_expect_eq(ti->files[1].attr, SHOAL_FILE_SYMLINK);
  cr_expect_str_eq(ti->files[1].path, "d/sub/link");
  cr_expect_str_eq(ti->files[1].symlink_target, "d/a", "'..' resolved, in the form of path");
  shoal_torrent_info_free(ti);
}

struct bad {
  const char *bytes;
  int rc;
  const char *why; /* a substring of err */
};

Test(api_info, malformed_bytes)
{
  static const struct bad cases[] = {
      {"", SHOAL_EBENCODE, "bencode error at byte 0"},
      {"garbage", SHOAL_EBENCODE, "bencode error at byte 0"},
      {"d4:infod4:name", SHOAL_EBENCODE, "bencode error at byte 14"},
      {"d4:infoi1ee", SHOAL_EMETAINFO, "info: must be a dictionary"},
      {"le", SHOAL_EMETAINFO, "top level: must be a dictionary"},
      {"de", SHOAL_EMETAINFO, "info: missing"},
      {"d4:infodee", SHOAL_EMETAINFO, "info."},
      {"d4:infod6:lengthi5e4:name2:..12:piece lengthi16e6:pieces20:AAAAAAAAAAAAAAAAAAAAee", SHOAL_EMETAINFO,
       "info.name: '..' is not allowed"},
      {"d4:infod6:lengthi5e4:name1:a12:piece lengthi16e6:pieces19:AAAAAAAAAAAAAAAAAAAee", SHOAL_EMETAINFO,
       "pieces"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    struct shoal_torrent_info *ti = (struct shoal_torrent_info *)1;
    char err[256] = "";
    int rc = shoal_torrent_info_parse(cases[i].bytes, strlen(cases[i].bytes), &ti, err, sizeof err);
    cr_expect_eq(rc, cases[i].rc, "'%s': rc %d (%s)", cases[i].bytes, rc, shoal_strerror(rc));
    cr_expect_null(ti, "'%s': no object on failure", cases[i].bytes);
    cr_expect(strstr(err, cases[i].why), "'%s': error '%s' lacks '%s'", cases[i].bytes, err, cases[i].why);
  }
}

Test(api_info, every_truncation_refused)
{
  size_t len;
  uint8_t *file = slurp("multi.torrent", &len);
  for (size_t n = 0; n < len; n++) {
    struct shoal_torrent_info *ti = (struct shoal_torrent_info *)1;
    char err[256] = "";
    int rc = shoal_torrent_info_parse(file, n, &ti, err, sizeof err);
    cr_expect(rc == SHOAL_EBENCODE || rc == SHOAL_EMETAINFO, "%zu bytes: rc %d", n, rc);
    cr_expect_null(ti);
    cr_expect(err[0], "%zu bytes: no reason given", n);
  }
  free(file);
}

Test(api_info, null_err_buffer)
{
  struct shoal_torrent_info *ti;
  cr_expect_eq(shoal_torrent_info_parse("x", 1, &ti, NULL, 0), SHOAL_EBENCODE);
  cr_expect_null(ti);
}

Test(api_info, load_errors_name_the_path)
{
  struct shoal_torrent_info *ti = (struct shoal_torrent_info *)1;
  char err[512];
  cr_expect_eq(shoal_torrent_info_load("/nonexistent/x.torrent", &ti, err, sizeof err), -ENOENT);
  cr_expect_null(ti);
  cr_expect_str_eq(err, "/nonexistent/x.torrent: No such file or directory");
  cr_expect_eq(shoal_torrent_info_load("/", &ti, err, sizeof err), -EISDIR);
  cr_expect_str_eq(err, "/: not a regular file");

  char path[] = "/tmp/shoal-api-info-XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  cr_assert_eq(write(fd, "d4:infod4:name", 14), 14);
  close(fd);
  cr_expect_eq(shoal_torrent_info_load(path, &ti, err, sizeof err), SHOAL_EBENCODE);
  unlink(path);
  char want[128];
  snprintf(want, sizeof want, "%s: bencode error at byte 14", path);
  cr_expect(!strncmp(err, want, strlen(want)), "'%s' should start with '%s'", err, want);
}
