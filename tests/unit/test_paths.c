/* disk/paths.c: every target path looked at before a download, and the
 * one in the way named. A real folder per test under /tmp. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/paths.h"
#include "test_torrent_util.h"

static char root[256];

static void setup(void)
{
  snprintf(root, sizeof root, "/tmp/shoal-paths-XXXXXX");
  cr_assert(mkdtemp(root));
}

static void teardown(void)
{
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  (void)!system(cmd);
}

/* "T/a", "T/d/b", "T/d/e/c", "T/d/e/f", a padding file, "T/z" */
static struct sh_metainfo *tree(void)
{
  struct sh_buf b = SH_BUF_INIT;
  sh_buf_puts(&b, "d4:infod5:filesl"
                  "d6:lengthi1e4:pathl1:aee"
                  "d6:lengthi1e4:pathl1:d1:bee"
                  "d6:lengthi1e4:pathl1:d1:e1:cee"
                  "d6:lengthi1e4:pathl1:d1:e1:fee"
                  "d4:attr1:p6:lengthi4e4:pathl4:.pad1:4ee"
                  "d6:lengthi1e4:pathl1:zee"
                  "e4:name1:T12:piece lengthi16384e6:pieces20:");
  return test_torrent_zero_hashes(&b, 20);
}

static int check(const struct sh_metainfo *m, char *err)
{
  return sh_paths_check(m, root, err, 300);
}

static void mk(const char *rel, int dir)
{
  char p[512];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  if (dir)
    cr_assert_eq(mkdir(p, 0755), 0, "%s", p);
  else
    fclose(fopen(p, "w"));
}

TestSuite(paths, .init = setup, .fini = teardown);

Test(paths, nothing_there_yet_or_everything_right_is_fine)
{
  struct sh_metainfo *m = tree();
  char err[300] = "";
  cr_expect_eq(check(m, err), 0, "%s", err);
  mk("T", 1), mk("T/d", 1), mk("T/d/e", 1), mk("T/a", 0), mk("T/d/e/c", 0);
  cr_expect_eq(check(m, err), 0, "%s", err);
  sh_metainfo_free(m);
}

Test(paths, a_folder_where_a_file_goes_is_named)
{
  struct sh_metainfo *m = tree();
  char err[300] = "";
  mk("T", 1), mk("T/d", 1), mk("T/d/e", 1), mk("T/d/e/f", 1);
  cr_expect_eq(check(m, err), -EISDIR);
  cr_expect(strstr(err, "/T/d/e/f is a folder where the torrent needs a file"), "%s", err);
  sh_metainfo_free(m);
}

Test(paths, a_file_where_a_folder_goes_is_named)
{
  struct sh_metainfo *m = tree();
  char err[300] = "";
  mk("T", 1), mk("T/d", 1), mk("T/d/e", 0);
  cr_expect_eq(check(m, err), -ENOTDIR);
  cr_expect(strstr(err, "/T/d/e is a file where the torrent needs a folder"), "%s", err);
  sh_metainfo_free(m);
}

Test(paths, symlinks_below_the_root_are_refused_the_root_itself_may_be_one)
{
  struct sh_metainfo *m = tree();
  char err[300] = "", p[512], real[512];
  mk("T", 1), mk("T/d", 1), mk("T/elsewhere", 1);
  snprintf(p, sizeof p, "%s/T/d/e", root);
  cr_assert_eq(symlink("../elsewhere", p), 0);
  cr_expect_eq(check(m, err), -ELOOP);
  cr_expect(strstr(err, "/T/d/e is a symbolic link: shoal refuses to write through symlinks"),
            "%s", err);
  /* a link to a file at a file's place too */
  unlink(p);
  snprintf(p, sizeof p, "%s/T/z", root);
  cr_assert_eq(symlink("/etc/passwd", p), 0);
  cr_expect_eq(check(m, err), -ELOOP);
  /* the root reached through a link the user chose is fine */
  unlink(p);
  snprintf(real, sizeof real, "%s", root);
  snprintf(p, sizeof p, "%s-link", root);
  cr_assert_eq(symlink(real, p), 0);
  cr_expect_eq(sh_paths_check(m, p, err, sizeof err), 0, "%s", err);
  unlink(p);
  sh_metainfo_free(m);
}

Test(paths, padding_is_never_looked_at_and_fifos_are_not_files)
{
  struct sh_metainfo *m = tree();
  char err[300] = "", p[512];
  mk("T", 1), mk("T/.pad", 1), mk("T/.pad/4", 1); /* a folder where padding "goes" */
  cr_expect_eq(check(m, err), 0, "%s", err);
  snprintf(p, sizeof p, "%s/T/a", root);
  cr_assert_eq(mkfifo(p, 0644), 0);
  cr_expect_eq(check(m, err), -EINVAL);
  cr_expect(strstr(err, "/T/a is not a regular file"), "%s", err);
  sh_metainfo_free(m);
}
