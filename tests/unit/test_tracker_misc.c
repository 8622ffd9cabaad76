/* The tracker's helpers: URL decoding and query splitting, SipHash-2-4
 * against the reference vectors, multipart form splitting, HTML escaping and
 * the hosting directory (validation, atomic store, reload, survival). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/bencode.h"
#include "base/error.h"
#include "base/sha1.h"
#include "net/url.h"
#include "tracker/hosting.h"
#include "tracker/multipart.h"
#include "tracker/policy.h"
#include "tracker/siphash.h"
#include "tracker/web.h"

Test(url, decode)
{
  uint8_t out[64];
  cr_expect_eq(url_decode("a%20b%2Fc", 9, out, sizeof out, 0), 5);
  cr_expect(memcmp(out, "a b/c", 5) == 0);
  cr_expect_eq(url_decode("%00%ff", 6, out, sizeof out, 0), 2);
  cr_expect(out[0] == 0 && out[1] == 0xff);
  cr_expect_eq(url_decode("a+b", 3, out, sizeof out, 1), 3);
  cr_expect_eq(out[1], ' ');
  cr_expect_eq(url_decode("a+b", 3, out, sizeof out, 0), 3);
  cr_expect_eq(out[1], '+');
  cr_expect_eq(url_decode("%2", 2, out, sizeof out, 0), -1, "truncated escape");
  cr_expect_eq(url_decode("%g0", 3, out, sizeof out, 0), -1, "not hex");
  cr_expect_eq(url_decode("abcdef", 6, out, 5, 0), -1, "does not fit");
}

Test(url, encode)
{
  struct sh_buf b = SH_BUF_INIT;
  url_encode(&b, "a b~-._/\x01\xff", 10);
  cr_expect_eq(b.len, strlen("a%20b~-._%2F%01%FF"));
  cr_expect(memcmp(b.data, "a%20b~-._%2F%01%FF", b.len) == 0);
  sh_buf_free(&b);
}

Test(url, query_pairs)
{
  const char *q = "a=1&&b&c=&=x&d=4";
  size_t pos = 0;
  struct url_kv kv;
  const char *keys[] = {"a", "b", "c", "", "d"};
  const char *vals[] = {"1", "", "", "x", "4"};
  for (int i = 0; i < 5; i++) {
    cr_assert(url_query_next(q, strlen(q), &pos, &kv));
    cr_expect_eq(kv.klen, strlen(keys[i]));
    cr_expect(memcmp(kv.key, keys[i], kv.klen) == 0);
    cr_expect_eq(kv.vlen, strlen(vals[i]));
    cr_expect(memcmp(kv.val, vals[i], kv.vlen) == 0);
  }
  cr_expect_eq(url_query_next(q, strlen(q), &pos, &kv), 0);
  const char *path, *query;
  size_t pl, ql;
  url_split_target("/announce?x=1#frag", 18, &path, &pl, &query, &ql);
  cr_expect_eq(pl, 9);
  cr_expect_eq(ql, 3);
  url_split_target("/", 1, &path, &pl, &query, &ql);
  cr_expect_null(query);
}

Test(siphash, reference_vectors)
{
  uint8_t key[16], msg[64];
  for (int i = 0; i < 16; i++)
    key[i] = (uint8_t)i;
  for (int i = 0; i < 64; i++)
    msg[i] = (uint8_t)i;
  cr_expect_eq(siphash24(key, msg, 0), 0x726fdb47dd0e0e31ULL);
  cr_expect_eq(siphash24(key, msg, 15), 0xa129ca6149be45e5ULL, "the paper's example");
  cr_expect_eq(siphash24(key, msg, 1), 0x74f839c593dc67fdULL);
}

Test(multipart, boundary_and_parts)
{
  char b[80];
  cr_expect_eq(multipart_boundary("multipart/form-data; boundary=XyZ", b, sizeof b), 3);
  cr_expect_str_eq(b, "XyZ");
  cr_expect_eq(multipart_boundary("multipart/form-data; charset=x; boundary=\"a b\"", b, sizeof b), 3);
  cr_expect_eq(multipart_boundary("text/plain; boundary=x", b, sizeof b), -1);
  cr_expect_eq(multipart_boundary("multipart/form-data", b, sizeof b), -1);
  const char body[] = "--XyZ\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\nsecret\r\n"
                      "--XyZ\r\nContent-Disposition: form-data; name=\"torrent\"; "
                      "filename=\"a.torrent\"\r\nContent-Type: application/x-bittorrent\r\n\r\n"
                      "d4:xx--XyZe\r\n--XyZ--\r\n";
  struct multipart_part p[4];
  const char *why = NULL;
  int n = multipart_parse((const uint8_t *)body, sizeof body - 1, "XyZ", p, 4, &why);
  cr_assert_eq(n, 2, "%s", why ? why : "");
  const struct multipart_part *t = multipart_find(p, n, "token");
  cr_assert_not_null(t);
  cr_expect_eq(t->len, 6);
  cr_expect(memcmp(t->data, "secret", 6) == 0);
  const struct multipart_part *f = multipart_find(p, n, "torrent");
  cr_assert_not_null(f);
  cr_expect_eq(f->filename_len, 9);
  cr_expect_eq(f->len, strlen("d4:xx--XyZe"), "a boundary without CRLF before it is data");
}

Test(multipart, malformed)
{
  struct multipart_part p[2];
  const char *why;
  const char *bad[] = {"no boundary here", "--B\r\nContent-Disposition: form-data\r\n\r\nunterminated",
                       "--B\r\nheaders without end", "--Bjunk"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    cr_expect_eq(multipart_parse((const uint8_t *)bad[i], strlen(bad[i]), "B", p, 2, &why), -1,
                 "'%s'", bad[i]);
  const char many[] = "--B\r\n\r\n1\r\n--B\r\n\r\n2\r\n--B\r\n\r\n3\r\n--B--";
  cr_expect_eq(multipart_parse((const uint8_t *)many, sizeof many - 1, "B", p, 2, &why), -1);
  cr_expect_str_eq(why, "too many multipart parts");
}

Test(web, escape_and_host)
{
  struct sh_buf b = SH_BUF_INIT;
  web_html_escape(&b, "<script>\"x\" & 'y'</script>", 27);
  sh_buf_putc(&b, 0);
  cr_expect_str_eq((char *)b.data, "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;");
  sh_buf_free(&b);
  cr_expect(web_host_ok("tracker.example:6969"));
  cr_expect(web_host_ok("[::1]:6969"));
  cr_expect(!web_host_ok("evil\"><script>"));
  cr_expect(!web_host_ok(NULL));
}

/* A valid single-file torrent of `data`, named name. */
static void make_torrent(struct sh_buf *t, const char *name, const char *comment, const char *data)
{
  uint8_t h[20];
  sh_sha1(data, strlen(data), h);
  be_put_dict(t);
  be_put_cstr(t, "announce");
  be_put_cstr(t, "http://127.0.0.1:6969/announce");
  if (comment) {
    be_put_cstr(t, "comment");
    be_put_cstr(t, comment);
  }
  be_put_cstr(t, "info");
  be_put_dict(t);
  be_put_cstr(t, "length");
  be_put_int(t, (int64_t)strlen(data));
  be_put_cstr(t, "name");
  be_put_cstr(t, name);
  be_put_cstr(t, "piece length");
  be_put_int(t, 16384);
  be_put_cstr(t, "pieces");
  be_put_str(t, h, 20);
  be_put_end(t);
  be_put_end(t);
}

static char *scratch(void)
{
  char *d = strdup("/tmp/shoal-hosting-XXXXXX");
  cr_assert_not_null(mkdtemp(d));
  return d;
}

static void rmrf(const char *d)
{
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
  cr_expect_eq(system(cmd), 0);
}

Test(hosting, add_validate_store_reload)
{
  char *dir = scratch();
  char err[256];
  struct hosting *h;
  cr_assert_eq(hosting_open(&h, dir, err, sizeof err), 0, "%s", err);
  struct sh_buf t = SH_BUF_INIT;
  make_torrent(&t, "<b>name", "a & b", "hello world");
  uint8_t ih[20];
  cr_expect_eq(hosting_add(h, t.data, t.len, ih, err, sizeof err), 1, "%s", err);
  cr_expect_eq(hosting_add(h, t.data, t.len, NULL, err, sizeof err), 0, "duplicate");
  cr_expect_lt(hosting_add(h, "d4:spam", 7, NULL, err, sizeof err), 0, "garbage refused");
  cr_expect_neq(strlen(err), 0);

  char hex[41], path[512];
  sh_hex(ih, 20, hex);
  snprintf(path, sizeof path, "%s/torrents/%s.torrent", dir, hex);
  struct stat st;
  cr_expect_eq(stat(path, &st), 0, "stored as DATA/torrents/HEX.torrent");
  cr_expect_eq((size_t)st.st_size, t.len);
  /* no temporary file is left behind */
  snprintf(path, sizeof path, "%s/torrents", dir);
  DIR *d = opendir(path);
  struct dirent *de;
  int files = 0;
  while ((de = readdir(d)))
    if (de->d_name[0] != '.' || strstr(de->d_name, ".tmp"))
      files++;
  closedir(d);
  cr_expect_eq(files, 1);

  struct sh_buf raw = SH_BUF_INIT;
  char *name = NULL;
  cr_expect_eq(hosting_get(h, ih, &raw, &name), 1);
  cr_expect_eq(raw.len, t.len);
  cr_expect_str_eq(name, "<b>name");
  free(name);

  struct hosting_entry *e;
  long n = hosting_list(h, &e);
  cr_assert_eq(n, 1);
  cr_expect_eq(e[0].size, 11);
  cr_expect_eq(e[0].num_files, 1);
  cr_expect_str_eq(e[0].comment, "a & b");
  hosting_list_free(e, n);
  hosting_close(h);

  /* survives a restart */
  cr_assert_eq(hosting_open(&h, dir, err, sizeof err), 0, "%s", err);
  uint8_t (*hs)[20];
  cr_expect_eq(hosting_hashes(h, &hs), 1);
  cr_expect(memcmp(hs[0], ih, 20) == 0);
  free(hs);
  /* a corrupt file in the directory is skipped on reload, not fatal */
  snprintf(path, sizeof path, "%s/torrents/broken.torrent", dir);
  FILE *f = fopen(path, "w");
  fputs("not bencode", f);
  fclose(f);
  cr_expect_eq(hosting_reload(h, err, sizeof err), 1);
  hosting_close(h);
  sh_buf_free(&raw);
  sh_buf_free(&t);
  rmrf(dir);
  free(dir);
}

Test(hosting, page_escapes_names)
{
  char *dir = scratch();
  char err[256];
  struct hosting *h;
  cr_assert_eq(hosting_open(&h, dir, err, sizeof err), 0, "%s", err);
  struct sh_buf t = SH_BUF_INIT;
  make_torrent(&t, "<script>alert(1)", "<img src=x onerror=y>", "data");
  cr_assert_eq(hosting_add(h, t.data, t.len, NULL, err, sizeof err), 1, "%s", err);
  struct tracker trk;
  struct tracker_config c;
  tracker_config_defaults(&c);
  cr_assert_eq(tracker_init(&trk, &c), 0);
  struct web_ctx w = {.t = &trk, .h = h, .host = "127.0.0.1:6969", .upload_enabled = 1,
                      .udp_port = 6969};
  struct sh_buf page = SH_BUF_INIT;
  web_index(&w, &page);
  sh_buf_putc(&page, 0);
  const char *p = (const char *)page.data;
  cr_expect_null(strstr(p, "<script>"), "torrent name must be escaped");
  cr_expect_null(strstr(p, "<img"), "comment must be escaped");
  cr_expect_not_null(strstr(p, "&lt;script&gt;alert(1)"));
  cr_expect_not_null(strstr(p, "magnet:?xt=urn:btih:"));
  cr_expect_not_null(strstr(p, "&amp;tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce"));
  cr_expect_not_null(strstr(p, "udp://127.0.0.1:6969/announce"));
  cr_expect_not_null(strstr(p, "name=\"viewport\""));
  cr_expect_not_null(strstr(p, "action=\"/upload\""));
  /* a hostile Host header is not echoed */
  w.host = "x\"><script>";
  sh_buf_reset(&page);
  web_index(&w, &page);
  sh_buf_putc(&page, 0);
  cr_expect_null(strstr((char *)page.data, "<script>"));
  sh_buf_free(&page);
  sh_buf_free(&t);
  tracker_destroy(&trk);
  hosting_close(h);
  rmrf(dir);
  free(dir);
}

Test(policy, blocklist_file_and_verdicts)
{
  char *dir = scratch();
  char path[512];
  snprintf(path, sizeof path, "%s/blocklist", dir);
  FILE *f = fopen(path, "w");
  fputs("# comment line\n\n"
        "0101010101010101010101010101010101010101  # trailing comment\n"
        "  0202020202020202020202020202020202020202\n"
        "not-a-hash\n"
        "03030303030303030303030303030303030303\n", /* 38 digits: skipped */
        f);
  fclose(f);
  uint8_t (*h)[20] = NULL;
  long n = policy_read_list(path, &h);
  cr_assert_eq(n, 2);
  cr_expect_eq(h[0][0], 1);
  cr_expect_eq(h[1][19], 2);
  struct policy *p = policy_new();
  cr_assert_eq(policy_set_blocked(p, (const uint8_t(*)[20])h, (size_t)n), 0);
  uint8_t other[20] = {9};
  cr_expect_eq(policy_check(p, h[0], 0), POLICY_BLOCKED);
  cr_expect_eq(policy_check(p, other, 0), POLICY_OK);
  cr_expect_eq(policy_check(p, other, 1), POLICY_NOT_HOSTED);
  cr_expect_eq(policy_add_hosted(p, other), 0);
  cr_expect_eq(policy_check(p, other, 1), POLICY_OK);
  cr_expect_eq(policy_check(p, h[0], 1), POLICY_BLOCKED, "blocked wins over hosted");
  policy_free(p);
  free(h);
  cr_expect_eq(policy_read_list("/nonexistent/blocklist", &h), -ENOENT);
  rmrf(dir);
  free(dir);
}
