/* resume data: round trip, invalidation by size/mtime changes, another
 * torrent's data refused, malformed files refused, atomic replacement. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_torrent_util.h"
#include "base/bitfield.h"
#include "base/buf.h"
#include "base/error.h"
#include "disk/resume.h"
#include "disk/storage.h"

/* "r": a(20) pad(12) b(5), piece length 16, 3 pieces (hashes irrelevant) */
static struct sh_metainfo *torrent(const char *name)
{
  struct sh_buf b = SH_BUF_INIT;
  sh_buf_printf(&b, "d4:infod5:filesld6:lengthi20e4:pathl1:aeed4:attr1:p6:lengthi12e4:pathl4:.pad2:12ee"
                    "d6:lengthi5e4:pathl1:beee4:name%zu:%s12:piece lengthi16e6:pieces60:",
                strlen(name), name);
  return test_torrent_zero_hashes(&b, 60);
}

static char root[64], rpath[128];

static void setup(void)
{
  strcpy(root, "/tmp/shoal-resume-XXXXXX");
  cr_assert(mkdtemp(root));
  snprintf(rpath, sizeof rpath, "%s/r.resume", root);
}

static void teardown(void)
{
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  cr_expect_eq(system(cmd), 0);
}

static void write_data(struct sh_metainfo *m)
{
  struct sh_storage *s;
  uint8_t piece[16] = {1, 2, 3};
  cr_assert_eq(sh_storage_open(m, root, 0, &s), 0);
  for (uint32_t p = 0; p < m->num_pieces; p++)
    cr_assert_eq(sh_storage_write_piece(s, p, piece, NULL), 0);
  cr_assert_eq(sh_storage_flush(s), 0);
  sh_storage_close(s);
}

TestSuite(resume, .init = setup, .fini = teardown);

Test(resume, round_trip)
{
  struct sh_metainfo *m = torrent("r");
  write_data(m);
  uint8_t have[1] = {0xa0}; /* pieces 0 and 2 */
  cr_assert_eq(sh_resume_save(rpath, m, root, have), 0);
  uint8_t got[1] = {0};
  char err[256] = "";
  cr_assert_eq(sh_resume_load(rpath, m, root, got, err, sizeof err), 0, "%s", err);
  cr_expect_eq(got[0], 0xa0);
  sh_metainfo_free(m);
}

Test(resume, missing_files_recorded_and_checked)
{
  struct sh_metainfo *m = torrent("r");
  uint8_t have[1] = {0}, got[1] = {0xff};
  char err[256] = "";
  cr_assert_eq(sh_resume_save(rpath, m, root, have), 0);
  cr_assert_eq(sh_resume_load(rpath, m, root, got, err, sizeof err), 0, "%s", err);
  cr_expect_eq(got[0], 0);
  write_data(m); /* files appeared since */
  got[0] = 0x55;
  cr_expect_eq(sh_resume_load(rpath, m, root, got, err, sizeof err), -ESTALE);
  cr_expect(strstr(err, "r/a changed") != NULL, "%s", err);
  cr_expect_eq(got[0], 0x55, "bitfield untouched on failure");
  sh_metainfo_free(m);
}

Test(resume, mtime_change_invalidates)
{
  struct sh_metainfo *m = torrent("r");
  write_data(m);
  uint8_t have[1] = {0xe0}, got[1];
  char err[256];
  cr_assert_eq(sh_resume_save(rpath, m, root, have), 0);
  char p[128];
  snprintf(p, sizeof p, "%s/r/b", root);
  struct stat st;
  cr_assert_eq(stat(p, &st), 0);
  /* same size, mtime moved by one nanosecond */
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  ts[1].tv_nsec = (ts[1].tv_nsec + 1) % 1000000000;
  cr_assert_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
  cr_expect_eq(sh_resume_load(rpath, m, root, got, err, sizeof err), -ESTALE);
  cr_expect(strstr(err, "r/b") != NULL, "%s", err);
  /* a size change too */
  cr_assert_eq(sh_resume_save(rpath, m, root, have), 0);
  cr_assert_eq(truncate(p, 3), 0);
  cr_expect_eq(sh_resume_load(rpath, m, root, got, err, sizeof err), -ESTALE);
  sh_metainfo_free(m);
}

Test(resume, other_torrent_refused)
{
  struct sh_metainfo *m = torrent("r"), *other = torrent("q");
  write_data(m);
  uint8_t have[1] = {0xe0}, got[1];
  char err[256];
  cr_assert_eq(sh_resume_save(rpath, m, root, have), 0);
  cr_expect_eq(sh_resume_load(rpath, other, root, got, err, sizeof err), SH_EHASH);
  sh_metainfo_free(m);
  sh_metainfo_free(other);
}

static void expect_refused(struct sh_metainfo *m, const char *data, size_t len, int code, const char *want)
{
  uint8_t got[1] = {0x11};
  char err[256] = "";
  int rc = sh_resume_parse(data, len, m, root, got, err, sizeof err);
  cr_expect_eq(rc, code, "'%.*s': rc %d, want %d (%s)", (int)len, data, rc, code, err);
  cr_expect(strstr(err, want) != NULL, "error '%s' should contain '%s'", err, want);
  cr_expect_eq(got[0], 0x11);
}

Test(resume, malformed_refused)
{
  struct sh_metainfo *m = torrent("r");
  char ih[64];
  memcpy(ih, m->info_hash, 20);
  expect_refused(m, "d5:files", 8, SH_EBENCODE, "at byte 8");
  expect_refused(m, "le", 2, SH_EMETAINFO, "top level");
  expect_refused(m, "d7:versioni4ee", 14, SH_EMETAINFO, "version"); /* 3 is current */
  expect_refused(m, "d9:info-hash3:abc7:versioni1ee", 30, SH_EMETAINFO, "info-hash");
  struct sh_buf b = SH_BUF_INIT;
  /* spare bit set in a 3-piece bitfield */
  sh_buf_puts(&b, "d5:filesle9:info-hash20:");
  sh_buf_append(&b, m->info_hash, 20);
  sh_buf_puts(&b, "6:pieces1:\x01" "7:versioni1ee");
  expect_refused(m, (char *)b.data, b.len, SH_EMETAINFO, "spare bits");
  sh_buf_reset(&b);
  /* wrong number of file entries (the pad is not tracked: 2 expected) */
  sh_buf_puts(&b, "d5:filesle9:info-hash20:");
  sh_buf_append(&b, m->info_hash, 20);
  sh_buf_puts(&b, "6:pieces1:\x80" "7:versioni1ee");
  expect_refused(m, (char *)b.data, b.len, SH_EMETAINFO, "0 entries, the torrent has 2");
  sh_buf_reset(&b);
  sh_buf_puts(&b, "d5:filesli1ei2ee9:info-hash20:");
  sh_buf_append(&b, m->info_hash, 20);
  sh_buf_puts(&b, "6:pieces1:\x80" "7:versioni1ee");
  expect_refused(m, (char *)b.data, b.len, SH_EMETAINFO, "files[0]");
  sh_buf_free(&b);
  uint8_t got[1];
  char err[256];
  cr_expect_eq(sh_resume_load("/nonexistent/r.resume", m, root, got, err, sizeof err), -ENOENT);
  sh_metainfo_free(m);
}

Test(resume, atomic_replace_leaves_no_temp)
{
  struct sh_metainfo *m = torrent("r");
  write_data(m);
  uint8_t have[1] = {0x80}, got[1];
  char err[256];
  cr_assert_eq(sh_resume_save(rpath, m, root, have), 0);
  struct stat st1, st2;
  cr_assert_eq(stat(rpath, &st1), 0);
  have[0] = 0xe0;
  cr_assert_eq(sh_resume_save(rpath, m, root, have), 0);
  cr_assert_eq(stat(rpath, &st2), 0);
  cr_expect_neq(st1.st_ino, st2.st_ino, "replaced by rename, not rewritten in place");
  cr_assert_eq(sh_resume_load(rpath, m, root, got, err, sizeof err), 0, "%s", err);
  cr_expect_eq(got[0], 0xe0);
  DIR *d = opendir(root);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)))
    n += strncmp(e->d_name, "r.resume.", 9) == 0;
  closedir(d);
  cr_expect_eq(n, 0, "no temporary files left behind");
  /* a save into a missing directory fails and creates nothing */
  char bad[160];
  snprintf(bad, sizeof bad, "%s/nodir/r.resume", root);
  cr_expect_eq(sh_resume_save(bad, m, root, have), -ENOENT);
  sh_metainfo_free(m);
}

/* Version 2 carries what re-adding the torrent needs: its .torrent, the
 * folder, priorities, the paused flag and totals, read back without the
 * disk; the pieces still only count while the files are unchanged. */
Test(resume, settings_round_trip)
{
  struct sh_metainfo *m = torrent("r");
  write_data(m);
  uint8_t have[1] = {0xe0}, got[1] = {0};
  static const uint8_t prio[3] = {7, 0, 4};
  struct sh_resume_info x = {.torrent = (const uint8_t *)"d4:infode", .torrent_len = 9,
                             .save_dir = root, .priorities = prio, .num_priorities = 3,
                             .paused = 1, .uploaded = 123456789012ull, .downloaded = 42};
  memcpy(x.info_hash, m->info_hash, 20);
  struct sh_buf b = SH_BUF_INIT;
  cr_assert_eq(sh_resume_encode(&b, &x, m, root, have), 0);
  char err[256] = "";
  cr_assert_eq(sh_resume_parse(b.data, b.len, m, root, got, err, sizeof err), 0, "%s", err);
  cr_expect_eq(got[0], 0xe0);
  struct sh_resume_info y;
  char *dir = NULL;
  cr_assert_eq(sh_resume_read_info(b.data, b.len, &y, &dir, err, sizeof err), 0, "%s", err);
  cr_expect_eq(memcmp(y.info_hash, m->info_hash, 20), 0);
  cr_expect_eq(y.torrent_len, 9);
  cr_expect_eq(memcmp(y.torrent, "d4:infode", 9), 0);
  cr_expect_str_eq(y.save_dir, root);
  cr_expect_eq(y.num_priorities, 3);
  cr_expect_eq(memcmp(y.priorities, prio, 3), 0);
  cr_expect_eq(y.paused, 1);
  cr_expect_eq(y.seed_only, 0);
  cr_expect_eq(y.uploaded, 123456789012ull);
  cr_expect_eq(y.downloaded, 42);
  free(dir);
  /* without the metadata: settings only, and no pieces to trust */
  sh_buf_reset(&b);
  x.torrent = NULL;
  x.priorities = NULL;
  cr_assert_eq(sh_resume_encode(&b, &x, NULL, root, NULL), 0);
  cr_expect_neq(sh_resume_parse(b.data, b.len, m, root, got, err, sizeof err), 0);
  cr_assert_eq(sh_resume_read_info(b.data, b.len, &y, &dir, err, sizeof err), 0, "%s", err);
  cr_expect_null(y.torrent);
  free(dir);
  /* version 1 settings cannot be read back: it had none */
  cr_expect_eq(sh_resume_read_info("d7:versioni1ee", 14, &y, &dir, err, sizeof err),
               SH_EMETAINFO);
  sh_buf_free(&b);
  sh_metainfo_free(m);
}

/* The tampering: every bit of `pieces` set, the file stamps left
 * alone. The checksum no longer matches: the pieces are refused, with the
 * reason, so the engine checks the data instead of reporting "done". */
Test(resume, edited_or_damaged_resume_data_is_refused)
{
  struct sh_metainfo *m = torrent("r");
  write_data(m);
  uint8_t have[1] = {0x00}, got[1] = {0x11};
  struct sh_resume_info x = {.save_dir = root};
  memcpy(x.info_hash, m->info_hash, 20);
  struct sh_buf b = SH_BUF_INIT;
  cr_assert_eq(sh_resume_encode(&b, &x, m, root, have), 0);
  char err[256] = "";
  cr_assert_eq(sh_resume_parse(b.data, b.len, m, root, got, err, sizeof err), 0, "%s", err);
  cr_expect_eq(got[0], 0);
  /* set the three pieces' bits */
  uint8_t *p = (uint8_t *)memmem(b.data, b.len, "6:pieces1:", 10);
  cr_assert_not_null(p);
  p[10] = 0xe0;
  got[0] = 0x11;
  cr_expect_eq(sh_resume_parse(b.data, b.len, m, root, got, err, sizeof err), SH_EMETAINFO);
  cr_expect(strstr(err, "checksum does not match its content (damaged or edited)"), "%s", err);
  cr_expect_eq(got[0], 0x11, "nothing taken from it");
  struct sh_resume_info y;
  char *dir = NULL;
  cr_expect_eq(sh_resume_read_info(b.data, b.len, &y, &dir, err, sizeof err), SH_EMETAINFO,
               "its settings are not taken either");
  cr_expect_null(dir);
  /* one flipped bit anywhere else, the save folder for one */
  p[10] = 0x00;
  cr_assert_eq(sh_resume_parse(b.data, b.len, m, root, got, err, sizeof err), 0, "%s", err);
  p = (uint8_t *)memmem(b.data, b.len, root, strlen(root));
  cr_assert_not_null(p);
  p[strlen(root) - 1] ^= 1;
  cr_expect_eq(sh_resume_parse(b.data, b.len, m, root, got, err, sizeof err), SH_EMETAINFO);
  sh_buf_free(&b);
  sh_metainfo_free(m);
}

/* Resume data from before checksums (version 2): settings still read,
 * pieces never trusted, and the reason says so. */
Test(resume, data_without_a_checksum_is_not_trusted)
{
  struct sh_metainfo *m = torrent("r");
  write_data(m);
  uint8_t have[1] = {0xe0}, got[1] = {0x11};
  struct sh_resume_info x = {.save_dir = root};
  memcpy(x.info_hash, m->info_hash, 20);
  struct sh_buf b = SH_BUF_INIT;
  cr_assert_eq(sh_resume_encode(&b, &x, m, root, have), 0);
  /* drop the checksum entry (8:checksum20:...) and say version 2 */
  uint8_t *c = (uint8_t *)memmem(b.data, b.len, "8:checksum20:", 13);
  cr_assert_not_null(c);
  memmove(c, c + 33, b.len - (size_t)(c + 33 - b.data));
  b.len -= 33;
  uint8_t *v = (uint8_t *)memmem(b.data, b.len, "7:versioni3e", 12);
  cr_assert_not_null(v);
  v[10] = '2';
  char err[256] = "";
  cr_expect_eq(sh_resume_parse(b.data, b.len, m, root, got, err, sizeof err), SH_EMETAINFO);
  cr_expect(strstr(err, "version 2 has no checksum to vouch for its pieces"), "%s", err);
  cr_expect_eq(got[0], 0x11);
  struct sh_resume_info y;
  char *dir = NULL;
  cr_expect_eq(sh_resume_read_info(b.data, b.len, &y, &dir, err, sizeof err), 0, "%s", err);
  free(dir);
  sh_buf_free(&b);
  sh_metainfo_free(m);
}
