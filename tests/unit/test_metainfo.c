/* metainfo: the fixtures in tests/data (info-hashes computed independently
 * with Python's hashlib over the bencoded info dict, see
 * tests/data/make_fixtures.py), BEP 12/19/27/47 fields, and every refusal
 * naming its field. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"
#include "meta/metainfo.h"

static struct sh_metainfo *load_fixture(const char *name)
{
  const char *dir = getenv("SHOAL_TEST_DATA");
  cr_assert(dir, "SHOAL_TEST_DATA not set");
  char path[1024], err[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  struct sh_metainfo *m;
  int rc = sh_metainfo_load(path, &m, err, sizeof err);
  cr_assert_eq(rc, 0, "%s: %s", name, err);
  return m;
}

/* Builds d<outer>4:infod<info>6:pieces<20*np zero bytes>ee. Dict keys are not
 * sorted here; the parser reads the outer document in lax mode. */
static struct sh_buf tor(const char *outer, const char *info, unsigned np)
{
  struct sh_buf b = SH_BUF_INIT;
  sh_buf_printf(&b, "d%s4:infod%s6:pieces%u:", outer, info, np * 20);
  for (unsigned i = 0; i < np * 20; i++)
    sh_buf_putc(&b, 0);
  sh_buf_puts(&b, "ee");
  /* \001 in a template stands for NUL, which printf cannot carry */
  for (size_t i = 0; i < b.len; i++)
    if (b.data[i] == 1)
      b.data[i] = 0;
  return b;
}

static struct sh_metainfo *accept(const char *outer, const char *info, unsigned np)
{
  struct sh_buf b = tor(outer, info, np);
  struct sh_metainfo *m = NULL;
  char err[512];
  int rc = sh_metainfo_parse(b.data, b.len, &m, err, sizeof err);
  cr_assert_eq(rc, 0, "info '%s' refused: %s", info, err);
  sh_buf_free(&b);
  return m;
}

static void refuse(const char *outer, const char *info, unsigned np, const char *want)
{
  struct sh_buf b = tor(outer, info, np);
  struct sh_metainfo *m = (struct sh_metainfo *)1;
  char err[512] = "";
  int rc = sh_metainfo_parse(b.data, b.len, &m, err, sizeof err);
  cr_expect_eq(rc, SH_EMETAINFO, "info '%s' should be refused (rc %d)", info, rc);
  cr_expect_null(m, "no object on failure");
  cr_expect(strstr(err, want) != NULL, "info '%s': error '%s' should contain '%s'", info, err, want);
  sh_buf_free(&b);
}

#define SINGLE(len, pl) "6:lengthi" #len "e4:name1:f12:piece lengthi" #pl "e"

Test(metainfo, single_fixture)
{
  struct sh_metainfo *m = load_fixture("single.torrent");
  cr_expect_str_eq(m->info_hash_hex, "07f993a4ee5614e02181cda10ce99e1d2135bb36");
  cr_expect_str_eq(m->name, "sample.bin");
  cr_expect_eq(m->piece_length, 32768);
  cr_expect_eq(m->num_pieces, 4);
  cr_expect_eq(m->total_length, 100000);
  cr_expect_eq(sh_piece_size(m, 0), 32768);
  cr_expect_eq(sh_piece_size(m, 3), 100000 - 3 * 32768);
  cr_expect_eq(m->multi_file, 0);
  cr_assert_eq(m->num_files, 1);
  cr_expect_str_eq(m->files[0].path, "sample.bin");
  cr_expect_eq(m->files[0].length, 100000);
  cr_assert_eq(m->num_tiers, 1);
  cr_assert_eq(m->tiers[0].n, 1);
  cr_expect_str_eq(m->tiers[0].urls[0], "http://127.0.0.1:6969/announce");
  cr_expect_str_eq(m->comment, "fixture");
  cr_expect_str_eq(m->created_by, "hand");
  cr_expect_eq(m->creation_date, 1700000000);
  cr_expect_null(m->source);
  cr_expect_eq(m->is_private, 0);
  cr_expect_eq(m->num_web_seeds, 0);
  /* the info slice is the exact bytes of the value */
  cr_expect_eq(m->raw[m->info_off], 'd');
  cr_expect_eq(m->info_off + m->info_len + 1, m->raw_len);
  sh_metainfo_free(m);
}

Test(metainfo, multi_fixture)
{
  struct sh_metainfo *m = load_fixture("multi.torrent");
  cr_expect_str_eq(m->info_hash_hex, "4760d0a355641a03948880f95405658ae119d4e6");
  cr_expect_eq(m->multi_file, 1);
  cr_expect_str_eq(m->name, "multi");
  cr_expect_eq(m->total_length, 36384);
  cr_expect_eq(m->num_pieces, 3);
  cr_assert_eq(m->num_files, 4);
  cr_expect_str_eq(m->files[0].path, "multi/a.txt");
  cr_expect_str_eq(m->files[1].path, "multi/.pad/11384");
  cr_expect_eq(m->files[1].attr, SH_FILE_PAD);
  cr_expect_eq(m->files[2].offset, 16384);
  cr_expect_str_eq(m->files[2].path, "multi/sub/b.bin");
  cr_expect_eq(m->files[3].attr, SH_FILE_EXEC);
  cr_expect_eq(m->files[3].length, 0);
  cr_expect_eq(m->files[3].offset, 36384);
  /* BEP 12: announce-list wins over announce; order within a tier kept */
  cr_assert_eq(m->num_tiers, 2);
  cr_assert_eq(m->tiers[0].n, 2);
  cr_expect_str_eq(m->tiers[0].urls[0], "http://t1a/ann");
  cr_expect_str_eq(m->tiers[0].urls[1], "http://t1b/ann");
  cr_assert_eq(m->tiers[1].n, 1);
  cr_expect_str_eq(m->tiers[1].urls[0], "udp://t2/ann");
  cr_assert_eq(m->num_web_seeds, 2);
  cr_expect_str_eq(m->web_seeds[1], "http://ws2/");
  cr_expect_eq(m->is_private, 1);
  cr_expect_str_eq(m->source, "SRC");
  sh_metainfo_free(m);
}

Test(metainfo, url_list_as_string)
{
  struct sh_metainfo *m = accept("8:url-list10:http://ws/", SINGLE(10, 16), 1);
  cr_assert_eq(m->num_web_seeds, 1);
  cr_expect_str_eq(m->web_seeds[0], "http://ws/");
  sh_metainfo_free(m);
}

Test(metainfo, announce_only_and_empty_announce_list)
{
  /* an announce-list of only empty tiers falls back to announce */
  struct sh_metainfo *m = accept("8:announce4:http13:announce-listllelee", SINGLE(10, 16), 1);
  cr_assert_eq(m->num_tiers, 1);
  cr_expect_str_eq(m->tiers[0].urls[0], "http");
  sh_metainfo_free(m);
  m = accept("", SINGLE(10, 16), 1);
  cr_expect_eq(m->num_tiers, 0);
  sh_metainfo_free(m);
}

Test(metainfo, private_only_when_one)
{
  struct sh_metainfo *m = accept("", SINGLE(10, 16) "7:privatei0e", 1);
  cr_expect_eq(m->is_private, 0);
  sh_metainfo_free(m);
  m = accept("", SINGLE(10, 16) "7:privatei1e", 1);
  cr_expect_eq(m->is_private, 1);
  sh_metainfo_free(m);
}

Test(metainfo, piece_count_rounds_up)
{
  struct sh_metainfo *m = accept("", SINGLE(33, 16), 3);
  cr_expect_eq(m->num_pieces, 3);
  cr_expect_eq(sh_piece_size(m, 2), 1);
  sh_metainfo_free(m);
  refuse("", SINGLE(33, 16), 2, "info.pieces: 2 hashes");
  refuse("", SINGLE(32, 16), 3, "need 2");
}

Test(metainfo, field_errors)
{
  refuse("", "6:lengthi10e12:piece lengthi16e", 1, "info.name: missing");
  refuse("", "6:lengthi10e4:namei3e12:piece lengthi16e", 1, "info.name: must be a string");
  refuse("", "6:lengthi10e4:name2:..12:piece lengthi16e", 1, "info.name: '..' is not allowed");
  refuse("", "6:lengthi10e4:name3:a/b12:piece lengthi16e", 1, "info.name: '/' is not allowed");
  refuse("", "6:lengthi10e4:name0:12:piece lengthi16e", 1, "info.name: empty");
  refuse("", "6:lengthi10e4:name1:f", 1, "info.piece length: missing");
  refuse("", SINGLE(10, 0), 1, "info.piece length: 0 is outside");
  refuse("", SINGLE(10, -5), 1, "info.piece length: -5 is outside");
  refuse("", SINGLE(10, 268435457), 1, "info.piece length: 268435457 is outside");
  refuse("", SINGLE(-1, 16), 1, "info.length: negative");
  refuse("", SINGLE(0, 16), 0, "info.length: 0");
  refuse("", "4:name1:f12:piece lengthi16e", 1, "needs 'length'");
  refuse("", SINGLE(10, 16) "5:filesle", 1, "both 'length' and 'files'");
  refuse("", SINGLE(10, 16) "7:privatei1e", 0, "info.pieces");
  refuse("", SINGLE(10, 16) "7:private1:1", 1, "info.private: must be an integer");
  refuse("", SINGLE(10, 16) "6:source1:\001", 1, "info.source");
  refuse("8:url-listi1e", SINGLE(10, 16), 1, "url-list: must be a string or a list");
  refuse("8:url-listli1ee", SINGLE(10, 16), 1, "url-list[0]: must be a string");
  refuse("13:announce-listl1:ae", SINGLE(10, 16), 1, "announce-list[0]: must be a list");
  refuse("13:announce-listll1:aeli3eee", SINGLE(10, 16), 1, "announce-list[1][0]: must be a string");
  refuse("7:commenti1e", SINGLE(10, 16), 1, "comment: must be a string");
  refuse("13:creation date1:x", SINGLE(10, 16), 1, "creation date: must be an integer");
}

#define MULTI(files) "5:files" files "4:name1:d12:piece lengthi16e"

Test(metainfo, file_list_errors)
{
  refuse("", MULTI("le"), 0, "info.files: empty list");
  refuse("", MULTI("d6:lengthi1ee"), 1, "info.files: must be a list");
  refuse("", MULTI("li1ee"), 1, "info.files[0]: must be a dictionary");
  refuse("", MULTI("ld4:pathl1:aeee"), 1, "info.files[0].length: missing");
  refuse("", MULTI("ld6:lengthi-1e4:pathl1:aeee"), 1, "info.files[0].length: negative");
  refuse("", MULTI("ld6:lengthi1eee"), 1, "info.files[0].path: missing");
  refuse("", MULTI("ld6:lengthi1e4:pathleee"), 1, "info.files[0].path: empty list");
  refuse("", MULTI("ld6:lengthi1e4:pathl1:aeed6:lengthi1e4:pathl1:b2:..eee"), 1,
         "info.files[1].path[1]: '..' is not allowed");
  refuse("", MULTI("ld6:lengthi1e4:pathl1:.eee"), 1, "info.files[0].path[0]: '.' is not allowed");
  refuse("", MULTI("ld6:lengthi1e4:pathl0:eee"), 1, "info.files[0].path[0]: empty");
  refuse("", MULTI("ld6:lengthi1e4:pathl4:/etceee"), 1, "info.files[0].path[0]: '/' is not allowed");
  refuse("", MULTI("ld6:lengthi1e4:pathl3:a\001beee"), 1, "info.files[0].path[0]: NUL");
  refuse("", MULTI("ld6:lengthi1e4:pathli5eeee"), 1, "info.files[0].path[0]: must be a string");
  /* two lengths that sum past 2^63 - 1 */
  refuse("", MULTI("ld6:lengthi9223372036854775807e4:pathl1:aeed6:lengthi1e4:pathl1:beee"), 1,
         "info.files[1].length: total size overflows");
  refuse("", MULTI("ld6:lengthi0e4:pathl1:aeee"), 0, "total length is 0");
}

Test(metainfo, path_collisions)
{
  refuse("", MULTI("ld6:lengthi1e4:pathl1:aeed6:lengthi1e4:pathl1:beed6:lengthi1e4:pathl1:aeee"), 1,
         "info.files[2].path: same path as info.files[0]");
  /* "a" is a file, "a/x" needs it as a directory; "a.b" sorts in between */
  refuse("", MULTI("ld6:lengthi1e4:pathl1:x1:yeed6:lengthi1e4:pathl3:a.beed6:lengthi1e4:pathl1:aee"
                   "d6:lengthi1e4:pathl1:a1:xeee"), 1,
         "info.files[3].path: inside info.files[2], which is a file");
  /* padding files may share a path */
  struct sh_metainfo *m = accept("", MULTI("ld6:lengthi10e4:pathl1:aeed4:attr1:p6:lengthi6e4:pathl4:.pad1:6ee"
                                           "d6:lengthi16e4:pathl1:beed4:attr1:p6:lengthi6e4:pathl4:.pad1:6ee"
                                           "d6:lengthi1e4:pathl2:abeee"), 3);
  cr_expect_eq(m->num_files, 5);
  sh_metainfo_free(m);
}

Test(metainfo, huge_piece_count_refused_before_allocating)
{
  /* 2^40 bytes in 1-byte pieces would need 20 TB of hashes */
  refuse("", "6:lengthi1099511627776e4:name1:f12:piece lengthi1e", 1, "more than the limit");
}

Test(metainfo, padding_without_path)
{
  struct sh_metainfo *m =
      accept("", MULTI("ld6:lengthi10e4:pathl1:aeed4:attr1:p6:lengthi6eed6:lengthi4e4:pathl1:beee"), 2);
  cr_assert_eq(m->num_files, 3);
  cr_expect_eq(m->files[1].attr, SH_FILE_PAD);
  cr_expect_str_eq(m->files[1].path, "d/.pad/6");
  cr_expect_eq(m->files[2].offset, 16);
  sh_metainfo_free(m);
}

Test(metainfo, attr_unknown_chars_ignored)
{
  struct sh_metainfo *m = accept("", MULTI("ld4:attr3:hzx6:lengthi10e4:pathl1:aeee"), 1);
  cr_expect_eq(m->files[0].attr, SH_FILE_HIDDEN | SH_FILE_EXEC);
  sh_metainfo_free(m);
}

Test(metainfo, symlinks)
{
  /* a link in sub/ to a file at the root, via a lexically resolved '..' */
  struct sh_metainfo *m = accept(
      "", MULTI("ld6:lengthi10e4:pathl1:aeed4:attr1:l4:pathl3:sub4:linke12:symlink pathl3:sub2:..1:aeee"), 1);
  cr_assert_eq(m->num_files, 2);
  cr_expect_eq(m->files[1].attr, SH_FILE_SYMLINK);
  cr_expect_eq(m->files[1].length, 0);
  cr_expect_str_eq(m->files[1].symlink_target, "d/a");
  cr_expect_null(m->files[0].symlink_target);
  sh_metainfo_free(m);

  refuse("", MULTI("ld6:lengthi10e4:pathl1:aeed4:attr1:l4:pathl4:linke12:symlink pathl2:..3:etceee"), 1,
         "info.files[1].symlink path[0]: '..' points outside");
  refuse("", MULTI("ld6:lengthi10e4:pathl1:aeed4:attr1:l4:pathl4:linke12:symlink pathl1:a2:..2:..eee"), 1,
         "info.files[1].symlink path[2]: '..' points outside");
  refuse("", MULTI("ld6:lengthi10e4:pathl1:aeed4:attr1:l4:pathl4:linke12:symlink pathl4:/etceee"), 1,
         "absolute targets are not allowed");
  refuse("", MULTI("ld6:lengthi10e4:pathl1:aeed4:attr1:l4:pathl4:linkeee"), 1,
         "info.files[1].symlink path: missing");
  refuse("", MULTI("ld6:lengthi10e4:pathl1:aeed4:attr1:l6:lengthi3e4:pathl4:linke12:symlink pathl1:aeee"), 1,
         "a symlink must have length 0");
  /* found by fuzz_metainfo: 'p' and 'l' together, no path */
  refuse("", MULTI("ld6:lengthi10e4:pathl1:aeed4:attr2:pl12:symlink pathl2:..3:etceee"), 1,
         "info.files[1].attr: padding ('p') and symlink ('l') together");
}

Test(metainfo, bencode_errors_give_offset)
{
  struct sh_metainfo *m;
  char err[256];
  const char *in = "d4:infod4:name";
  int rc = sh_metainfo_parse(in, strlen(in), &m, err, sizeof err);
  cr_expect_eq(rc, SH_EBENCODE);
  cr_expect(strstr(err, "at byte 14") != NULL, "error: %s", err);
  rc = sh_metainfo_parse("le", 2, &m, err, sizeof err);
  cr_expect_eq(rc, SH_EMETAINFO);
  cr_expect(strstr(err, "top level") != NULL, "error: %s", err);
  rc = sh_metainfo_parse("de", 2, &m, err, sizeof err);
  cr_expect(strstr(err, "info: missing") != NULL, "error: %s", err);
  rc = sh_metainfo_parse("d4:infoi1ee", 11, &m, err, sizeof err);
  cr_expect(strstr(err, "info: must be a dictionary") != NULL, "error: %s", err);
}

Test(metainfo, info_hash_uses_raw_bytes_with_unsorted_keys)
{
  /* info keys out of order: a re-encoding would sort them and change the
   * hash; ours must be SHA-1 over the bytes as written. Expected value from
   * hashlib.sha1(b"d12:piece lengthi16e4:name1:f6:lengthi10e6:pieces20:" +
   * bytes(20) + b"e"). */
  struct sh_buf b = tor("", "12:piece lengthi16e4:name1:f6:lengthi10e", 1);
  struct sh_metainfo *m;
  char err[256];
  cr_assert_eq(sh_metainfo_parse(b.data, b.len, &m, err, sizeof err), 0, "%s", err);
  cr_expect_str_eq(m->info_hash_hex, "309d035aa7cfa3fea8f739122edc7528c685932e");
  sh_metainfo_free(m);
  sh_buf_free(&b);
}

Test(metainfo, load_names_the_path)
{
  struct sh_metainfo *m;
  char err[512];
  int rc = sh_metainfo_load("/nonexistent/x.torrent", &m, err, sizeof err);
  cr_expect_lt(rc, 0);
  cr_expect(strstr(err, "/nonexistent/x.torrent") != NULL, "%s", err);
}

/* The hostile file: 9 MB holding three million values of junk under
 * an unknown key. It was accepted at a cost of about 100 MB; now the token
 * limit refuses it, named, long before. */
Test(metainfo, millions_of_junk_values_are_refused_with_the_limit_named)
{
  struct sh_buf b = tor("", SINGLE(16, 16), 1);
  struct sh_buf big = SH_BUF_INIT;
  sh_buf_puts(&big, "d6:x-junkl");
  for (int i = 0; i < 3000000; i++)
    sh_buf_append(&big, "i1e", 3);
  sh_buf_putc(&big, 'e');
  sh_buf_append(&big, b.data + 1, b.len - 1); /* the torrent's keys after it */
  cr_assert(!big.oom);
  struct sh_metainfo *m = NULL;
  char err[512] = "";
  cr_expect_eq(sh_metainfo_parse(big.data, big.len, &m, err, sizeof err), SH_EMETAINFO);
  cr_expect_null(m);
  cr_expect(strstr(err, "more than 2000000 bencode values") &&
                strstr(err, "over the limit for torrent files"),
            "%s", err);
  sh_buf_free(&big);
  sh_buf_free(&b);
}

Test(metainfo, files_over_the_size_limit_are_refused_with_the_limit_named)
{
  size_t n = SH_METAINFO_MAX_BYTES + 1;
  uint8_t *p = calloc(1, n);
  cr_assert_not_null(p);
  struct sh_metainfo *m = NULL;
  char err[256] = "";
  cr_expect_eq(sh_metainfo_parse(p, n, &m, err, sizeof err), SH_EMETAINFO);
  cr_expect(strstr(err, "larger than the 32 MiB limit for torrent files"), "%s", err);
  free(p);
}

/* BEP 52: a hybrid is read through its v1 part; a v2-only torrent is
 * refused as what it is, not for a "missing pieces key". */
Test(metainfo, hybrid_read_v2_only_refused_as_not_supported)
{
  struct sh_metainfo *m = accept("", SINGLE(16, 16) "12:meta versioni2e", 1);
  cr_expect_eq(m->hybrid, 1);
  sh_metainfo_free(m);
  m = accept("", SINGLE(16, 16), 1);
  cr_expect_eq(m->hybrid, 0);
  sh_metainfo_free(m);
  const char *v2 = "d4:infod9:file treed1:fd0:d6:lengthi16e11:pieces root32:"
                   "\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"
                   "\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" "eee"
                   "12:meta versioni2e4:name1:f12:piece lengthi16384eee";
  char err[512] = "";
  cr_expect_eq(sh_metainfo_parse(v2, strlen(v2), &m, err, sizeof err), SH_EMETAINFO);
  cr_expect(strstr(err, "v2-only torrent (BEP 52, meta version 2): not supported yet; hybrid "
                        "v1+v2 torrents are, through their v1 part"),
            "%s", err);
}
