/* create: default piece length, file order and inclusion rules, options ->
 * fields, piece hashes checked back through the storage and checker, and
 * the refusals. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "disk/check.h"
#include "disk/storage.h"
#include "meta/create.h"
#include "meta/metainfo.h"

static char dir[64];

static void setup(void)
{
  strcpy(dir, "/tmp/shoal-create-XXXXXX");
  cr_assert(mkdtemp(dir));
  sh_log_set_level(SH_LOG_ERROR); /* the symlink warning is expected */
}

static void teardown(void)
{
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_expect_eq(system(cmd), 0);
}

TestSuite(create, .init = setup, .fini = teardown);

static void put(const char *rel, size_t n, unsigned seed)
{
  char p[256];
  snprintf(p, sizeof p, "%s/%s", dir, rel);
  char *slash = strrchr(p, '/');
  *slash = 0;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
  cr_assert_eq(system(cmd), 0);
  *slash = '/';
  FILE *f = fopen(p, "wb");
  cr_assert(f);
  for (size_t i = 0; i < n; i++)
    fputc((int)((i * 31 + seed) & 0xff), f);
  fclose(f);
}

static struct sh_metainfo *make(const struct sh_create_opts *o)
{
  struct sh_buf b = SH_BUF_INIT;
  char err[512];
  int rc = sh_create(o, &b, err, sizeof err);
  cr_assert_eq(rc, 0, "sh_create: %s", err);
  struct sh_metainfo *m;
  cr_assert_eq(sh_metainfo_parse(b.data, b.len, &m, err, sizeof err), 0, "%s", err);
  sh_buf_free(&b);
  return m;
}

Test(create, default_piece_length)
{
  cr_expect_eq(sh_create_piece_length(0), 16384);
  cr_expect_eq(sh_create_piece_length(1 << 20), 16384);
  cr_expect_eq(sh_create_piece_length(2000ull * 16384), 16384, "2000 pieces is still fine");
  cr_expect_eq(sh_create_piece_length(2000ull * 16384 + 1), 32768);
  cr_expect_eq(sh_create_piece_length(2ull << 30), 2 << 20, "2 GiB: 1024 pieces of 2 MiB");
  cr_expect_eq(sh_create_piece_length(1ull << 40), 16 << 20, "clamped at 16 MiB");
  for (uint64_t t = 40ull << 20; t < (20ull << 30); t = t * 3 + 12345) {
    uint64_t n = (t + sh_create_piece_length(t) - 1) / sh_create_piece_length(t);
    cr_expect(n > 1000 && n <= 2000, "%llu bytes -> %llu pieces", (unsigned long long)t, (unsigned long long)n);
  }
}

Test(create, directory_order_and_rules)
{
  put("tree/b.bin", 70000, 1);
  put("tree/a/z", 5, 2);
  put("tree/a.txt", 100, 3);
  put("tree/.hidden", 10, 4);
  put("tree/empty", 0, 0);
  char p[256], t[256];
  snprintf(p, sizeof p, "%s/tree/link", dir);
  snprintf(t, sizeof t, "%s/tree/b.bin", dir);
  cr_assert_eq(symlink(t, p), 0);
  snprintf(p, sizeof p, "%s/tree/", dir); /* trailing slash ignored */
  struct sh_create_opts o = {.path = p, .piece_length = 16384, .threads = 3};
  struct sh_metainfo *m = make(&o);
  cr_expect_str_eq(m->name, "tree");
  cr_expect_eq(m->multi_file, 1);
  cr_assert_eq(m->num_files, 5, "the symlink is skipped");
  /* byte-wise: ".hidden" < "a.txt" < "a/z" ('.' 0x2e < '/' 0x2f) < "b.bin" < "empty" */
  const char *want[] = {"tree/.hidden", "tree/a.txt", "tree/a/z", "tree/b.bin", "tree/empty"};
  for (int i = 0; i < 5; i++)
    cr_expect_str_eq(m->files[i].path, want[i]);
  cr_expect_eq(m->total_length, 70115);
  cr_expect_eq(m->num_pieces, 5);
  cr_expect_eq(m->num_tiers, 0);
  cr_expect_null(m->comment);
  cr_expect_eq(m->creation_date, 0);
  cr_expect_eq(m->is_private, 0);

  /* the hashes are right: check the tree in place with the checker */
  struct sh_storage *s;
  cr_assert_eq(sh_storage_open(m, dir, SH_STORAGE_READONLY, &s), 0);
  uint8_t st[5];
  struct sh_check_opts co = {.threads = 2};
  cr_assert_eq(sh_check_run(m, s, st, &co), 0);
  for (int i = 0; i < 5; i++)
    cr_expect_eq(st[i], SH_PIECE_OK, "piece %d", i);
  sh_storage_close(s);
  sh_metainfo_free(m);
}

Test(create, options_become_fields)
{
  put("f.dat", 40000, 9);
  char p[256];
  snprintf(p, sizeof p, "%s/f.dat", dir);
  char *t1[] = {"http://a/ann", "http://b/ann"}, *t2[] = {"udp://c/ann"};
  struct sh_tier tiers[] = {{t1, 2}, {t2, 1}};
  const char *ws[] = {"http://w1/", "http://w2/"};
  struct sh_create_opts o = {.path = p,
                             .name = "renamed",
                             .tiers = tiers,
                             .num_tiers = 2,
                             .web_seeds = ws,
                             .num_web_seeds = 2,
                             .is_private = 1,
                             .comment = "hello",
                             .source = "SRC",
                             .created_by = "shoal test",
                             .creation_date = 1700000000};
  struct sh_metainfo *m = make(&o);
  cr_expect_str_eq(m->name, "renamed");
  cr_expect_eq(m->multi_file, 0);
  cr_expect_eq(m->piece_length, 16384, "default for 40 kB");
  cr_expect_eq(m->num_pieces, 3);
  cr_assert_eq(m->num_tiers, 2);
  cr_assert_eq(m->tiers[0].n, 2);
  cr_expect_str_eq(m->tiers[0].urls[1], "http://b/ann");
  cr_expect_str_eq(m->tiers[1].urls[0], "udp://c/ann");
  cr_assert_eq(m->num_web_seeds, 2);
  cr_expect_str_eq(m->web_seeds[1], "http://w2/");
  cr_expect_eq(m->is_private, 1);
  cr_expect_str_eq(m->comment, "hello");
  cr_expect_str_eq(m->source, "SRC");
  cr_expect_str_eq(m->created_by, "shoal test");
  cr_expect_eq(m->creation_date, 1700000000);
  /* one tracker only: `announce` and no announce-list */
  struct sh_tier one = {t2, 1};
  struct sh_create_opts o2 = {.path = p, .tiers = &one, .num_tiers = 1};
  struct sh_buf b = SH_BUF_INIT;
  char err[256];
  cr_assert_eq(sh_create(&o2, &b, err, sizeof err), 0, "%s", err);
  sh_buf_putc(&b, 0);
  cr_expect(strstr((char *)b.data, "8:announce11:udp://c/ann") != NULL);
  cr_expect(strstr((char *)b.data, "announce-list") == NULL);
  sh_buf_free(&b);
  sh_metainfo_free(m);
}

static void refused(const struct sh_create_opts *o, int code, const char *want)
{
  struct sh_buf b = SH_BUF_INIT;
  char err[512] = "";
  int rc = sh_create(o, &b, err, sizeof err);
  cr_expect_eq(rc, code, "rc %d, want %d (%s)", rc, code, err);
  cr_expect(strstr(err, want) != NULL, "error '%s' should contain '%s'", err, want);
  sh_buf_free(&b);
}

Test(create, refusals)
{
  char p[256];
  snprintf(p, sizeof p, "%s/nothing", dir);
  struct sh_create_opts o = {.path = p};
  refused(&o, -ENOENT, "/nothing");
  cr_assert_eq(mkdir(p, 0755), 0);
  refused(&o, SH_EUSAGE, "empty directory");
  put("nothing/zero", 0, 0);
  refused(&o, SH_EUSAGE, "all files are empty");
  put("nothing/one", 1, 0);
  o.piece_length = 12345;
  refused(&o, SH_EUSAGE, "power of two");
  o.piece_length = 8192;
  refused(&o, SH_EUSAGE, "power of two");
  o.piece_length = 0;
  o.name = "..";
  refused(&o, SH_EUSAGE, "name '..'");
  o.name = "a/b";
  refused(&o, SH_EUSAGE, "name 'a/b'");
}

Test(create, save_atomic_and_no_clobber)
{
  char p[256];
  snprintf(p, sizeof p, "%s/out.torrent", dir);
  cr_assert_eq(sh_create_save(p, "abc", 3, 0), 0);
  cr_expect_eq(sh_create_save(p, "xyz", 3, 0), -EEXIST);
  char buf[8] = "";
  FILE *f = fopen(p, "rb");
  cr_assert(f);
  cr_expect_eq(fread(buf, 1, sizeof buf, f), 3);
  fclose(f);
  cr_expect_str_eq(buf, "abc", "refused save leaves the old file");
  cr_assert_eq(sh_create_save(p, "new!", 4, 1), 0);
  struct stat st;
  cr_assert_eq(stat(p, &st), 0);
  cr_expect_eq(st.st_size, 4);
  cr_expect_eq(st.st_mode & 0777, 0644);
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)))
    n += e->d_name[0] != '.';
  closedir(d);
  cr_expect_eq(n, 1, "no temporary files left");
}
