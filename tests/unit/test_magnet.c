/* Magnet links (BEP 9, BEP 53): what the parser takes, what it refuses and
 * why, the link of a torrent, and the .torrent of fetched metadata. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"
#include "meta/magnet.h"
#include "meta/metainfo.h"
#include "shoal.h"

#define HEX "c12fe1c06bba254a9dc9f519b335aa7c1367a88a"
/* the same 20 bytes in base32 */
#define B32 "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK"

static struct sh_magnet *parse(const char *uri)
{
  struct sh_magnet *m = NULL;
  char err[256] = "";
  int rc = sh_magnet_parse(uri, &m, err, sizeof err);
  cr_assert_eq(rc, 0, "%s: %s", uri, err);
  return m;
}

/* Refused with rc, and a reason holding `why`. */
static void refused(const char *uri, int rc, const char *why)
{
  struct sh_magnet *m = (struct sh_magnet *)1;
  char err[256] = "";
  cr_expect_eq(sh_magnet_parse(uri, &m, err, sizeof err), rc, "%s: %s", uri, err);
  cr_expect_null(m);
  cr_expect(strstr(err, why), "%s: reason '%s' lacks '%s'", uri, err, why);
}

Test(magnet, hex_and_base32_info_hashes)
{
  struct sh_magnet *a = parse("magnet:?xt=urn:btih:" HEX);
  struct sh_magnet *b = parse("magnet:?xt=urn:btih:" B32);
  struct sh_magnet *c = parse("MAGNET:?xt=URN:BTIH:C12FE1C06BBA254A9DC9F519B335AA7C1367A88A");
  cr_expect_str_eq(a->info_hash_hex, HEX);
  cr_expect_eq(memcmp(a->info_hash, b->info_hash, 20), 0, "base32 decodes to the same hash");
  cr_expect_eq(memcmp(a->info_hash, c->info_hash, 20), 0, "case does not matter");
  struct sh_magnet *d = parse("magnet:?xt=urn:btih:yex6dqdlxisuvhoj6um3gnnkpqjwpkek");
  cr_expect_eq(memcmp(a->info_hash, d->info_hash, 20), 0, "lower-case base32");
  cr_expect_null(a->name);
  cr_expect_eq(a->num_trackers + a->num_peers + a->num_web_seeds + a->num_select, 0);
  sh_magnet_free(a);
  sh_magnet_free(b);
  sh_magnet_free(c);
  sh_magnet_free(d);
}

Test(magnet, every_field)
{
  struct sh_magnet *m = parse(
      "magnet:?xt=urn:btih:" HEX "&dn=Big+Buck%20Bunny&tr=udp%3A%2F%2Ftracker.example%3A6969"
      "&tr=http://t.example/announce?a=1%262&tr=udp%3A%2F%2Ftracker.example%3A6969"
      "&ws=https%3A%2F%2Fseed.example%2Fbbb&x.pe=10.0.0.1:6881&x.pe=[2001:db8::1]:51413"
      "&x.pe=peer.example:7000&so=0,2,4-6&xl=12345&kt=bunny");
  cr_expect_str_eq(m->name, "Big Buck Bunny", "'+' and %%20 are spaces in dn");
  cr_assert_eq(m->num_trackers, 2, "the repeated tracker is kept once");
  cr_expect_str_eq(m->trackers[0], "udp://tracker.example:6969");
  cr_expect_str_eq(m->trackers[1], "http://t.example/announce?a=1&2",
                   "%%26 is a '&' inside the URL, not a new parameter");
  cr_assert_eq(m->num_web_seeds, 1);
  cr_expect_str_eq(m->web_seeds[0], "https://seed.example/bbb");
  cr_assert_eq(m->num_peers, 3);
  cr_expect_str_eq(m->peers[0], "10.0.0.1:6881");
  cr_expect_str_eq(m->peers[1], "[2001:db8::1]:51413");
  cr_expect_str_eq(m->peers[2], "peer.example:7000");
  cr_assert_eq(m->num_select, 3);
  cr_expect(m->select[0].first == 0 && m->select[0].last == 0);
  cr_expect(m->select[1].first == 2 && m->select[1].last == 2);
  cr_expect(m->select[2].first == 4 && m->select[2].last == 6);
  cr_expect_eq(m->has_v2, 0);
  sh_magnet_free(m);
}

Test(magnet, numbered_keys_and_a_hybrid_link)
{
  /* the magnet scheme's xt.1, tr.2...; a hybrid torrent's link has both
   * topics: the v1 one is used */
  struct sh_magnet *m = parse("magnet:?xt.1=urn:btih:" HEX
                              "&xt.2=urn:btmh:1220caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa9f6105"
                              "232b28ad099f3a302e&tr.1=http://a/announce&tr.2=http://b/announce");
  cr_expect_str_eq(m->info_hash_hex, HEX);
  cr_expect_eq(m->has_v2, 1);
  cr_expect_eq(m->num_trackers, 2);
  sh_magnet_free(m);
}

Test(magnet, refusals_say_why)
{
  refused("http://example.com/?xt=urn:btih:" HEX, SH_EURL, "must start with 'magnet:?'");
  refused("magnet:?dn=nothing", SH_EURL, "no xt=urn:btih:");
  refused("magnet:?xt=urn:btih:" HEX "0", SH_EURL, "41 characters");
  refused("magnet:?xt=urn:btih:" B32 "A", SH_EURL, "33 characters");
  refused("magnet:?xt=urn:btih:g12fe1c06bba254a9dc9f519b335aa7c1367a88a", SH_EURL,
          "not 40 hex digits");
  refused("magnet:?xt=urn:btih:1EX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK", SH_EURL,
          "not 32 base32 characters");
  refused("magnet:?xt=urn:sha1:YNCKHTQCWBTRNJIV4WNAE52SJUQCZO5C", SH_EURL, "urn:sha1");
  refused("magnet:?xt=urn:btmh:1220caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa9f6105232b28ad099f3a"
          "302e",
          -ENOTSUP, "v2 torrents are not supported yet");
  refused("magnet:?xt=urn:btih:" HEX "&xt=urn:btih:" B32 "&xt=urn:btih:"
          "0000000000000000000000000000000000000000",
          SH_EURL, "two different info-hashes");
  refused("magnet:?xt=urn:btih:" HEX "&dn=%4", SH_EURL, "malformed %-escape");
  refused("magnet:?xt=urn:btih:" HEX "&tr=http://a%00b", SH_EURL, "NUL byte");
  refused("magnet:?xt=urn:btih:" HEX "&x.pe=10.0.0.1", SH_EURL, "x.pe '10.0.0.1'");
  refused("magnet:?xt=urn:btih:" HEX "&x.pe=10.0.0.1:0", SH_EURL, "x.pe");
  refused("magnet:?xt=urn:btih:" HEX "&x.pe=10.0.0.1:70000", SH_EURL, "x.pe");
  refused("magnet:?xt=urn:btih:" HEX "&x.pe=2001:db8::1:80", SH_EURL, "x.pe");
  refused("magnet:?xt=urn:btih:" HEX "&so=1,,2", SH_EURL, "so: expected");
  refused("magnet:?xt=urn:btih:" HEX "&so=5-2", SH_EURL, "runs backwards");
  refused("magnet:?xt=urn:btih:" HEX "&so=a", SH_EURL, "so: expected");
  refused("magnet:?xt=urn:btih:" HEX "&so=99999999999", SH_EURL, "file index over");
}

Test(magnet, bounds_drop_not_refuse)
{
  struct sh_buf b = SH_BUF_INIT;
  sh_buf_puts(&b, "magnet:?xt=urn:btih:" HEX);
  for (int i = 0; i < 100; i++)
    sh_buf_printf(&b, "&tr=http://t%d.example/announce", i);
  sh_buf_putc(&b, 0);
  struct sh_magnet *m = parse((const char *)b.data);
  cr_expect_eq(m->num_trackers, SH_MAGNET_MAX_URLS);
  cr_expect_eq(m->dropped, 100 - SH_MAGNET_MAX_URLS);
  sh_magnet_free(m);
  sh_buf_free(&b);
  /* too long is refused outright */
  char *big = malloc(SH_MAGNET_MAX_LEN + 64);
  strcpy(big, "magnet:?xt=urn:btih:" HEX "&dn=");
  size_t n = strlen(big);
  memset(big + n, 'a', SH_MAGNET_MAX_LEN + 10 - n);
  big[SH_MAGNET_MAX_LEN + 10] = 0;
  refused(big, SH_EURL, "longer than");
  free(big);
}

Test(magnet, select_marks_files)
{
  struct sh_magnet_range r[] = {{0, 0}, {2, 2}, {4, 9}};
  uint8_t w[6];
  cr_expect_eq(sh_magnet_select(r, 3, 6, w), 4, "files 0, 2, 4, 5; 6-9 do not exist");
  uint8_t want[6] = {1, 0, 1, 0, 1, 1};
  cr_expect_eq(memcmp(w, want, 6), 0);
  struct sh_magnet_range none[] = {{7, 8}};
  cr_expect_eq(sh_magnet_select(none, 1, 6, w), 0);
}

/* A .torrent for the tests below: one file, one piece. */
static void small_torrent(struct sh_buf *b, const char *announce)
{
  sh_buf_puts(b, "d");
  if (announce)
    sh_buf_printf(b, "8:announce%zu:%s", strlen(announce), announce);
  sh_buf_puts(b, "4:infod6:lengthi5e4:name8:a b&c.tx12:piece lengthi16384e6:pieces20:");
  sh_buf_append(b, "01234567890123456789", 20);
  sh_buf_puts(b, "ee");
}

Test(magnet, link_of_a_torrent_parses_back)
{
  struct sh_buf b = SH_BUF_INIT;
  small_torrent(&b, "http://t.example/ann?x=1&y=2");
  struct shoal_torrent_info *ti;
  char err[256] = "";
  cr_assert_eq(shoal_torrent_info_parse(b.data, b.len, &ti, err, sizeof err), 0, "%s", err);
  char *link = shoal_magnet_link(ti);
  cr_assert(link);
  char want[200];
  snprintf(want, sizeof want, "magnet:?xt=urn:btih:%s&dn=a%%20b%%26c.tx", ti->info_hash_hex);
  cr_expect(!strncmp(link, want, strlen(want)), "%s", link);
  cr_expect(strstr(link, "&tr=http%3A%2F%2Ft.example%2Fann%3Fx%3D1%26y%3D2"), "%s", link);
  struct shoal_magnet *m;
  cr_assert_eq(shoal_magnet_parse(link, &m, err, sizeof err), 0, "%s", err);
  cr_expect_eq(memcmp(m->info_hash, ti->info_hash, 20), 0);
  cr_expect_str_eq(m->name, "a b&c.tx");
  cr_assert_eq(m->num_trackers, 1);
  cr_expect_str_eq(m->trackers[0], "http://t.example/ann?x=1&y=2");
  /* what an app hands shoal_torrent_add */
  struct shoal_add_params ap = {.save_dir = "x"};
  shoal_add_params_magnet(&ap, m);
  cr_expect_eq(ap.info_hash, m->info_hash);
  cr_expect_eq(ap.num_trackers, 1);
  cr_expect_str_eq(ap.save_dir, "x", "other fields are left alone");
  shoal_magnet_free(m);
  free(link);
  shoal_torrent_info_free(ti);
  sh_buf_free(&b);
}

Test(magnet, fetched_metadata_becomes_a_torrent_with_the_links_trackers)
{
  struct sh_buf t = SH_BUF_INIT;
  small_torrent(&t, NULL);
  struct sh_metainfo *orig;
  char err[256] = "";
  cr_assert_eq(sh_metainfo_parse(t.data, t.len, &orig, err, sizeof err), 0, "%s", err);
  const char *trs[] = {"udp://a.example:1337", "http://b.example/announce"};
  const char *ws[] = {"http://w.example/"};
  struct sh_buf b = SH_BUF_INIT;
  sh_magnet_torrent(&b, orig->raw + orig->info_off, orig->info_len, trs, 2, ws, 1);
  cr_assert(!b.oom);
  struct sh_metainfo *m;
  cr_assert_eq(sh_metainfo_parse(b.data, b.len, &m, err, sizeof err), 0, "%s", err);
  cr_expect_eq(memcmp(m->info_hash, orig->info_hash, 20), 0, "the info dict's bytes are kept");
  cr_assert_eq(m->num_tiers, 2, "one tier per tracker");
  cr_expect_str_eq(m->tiers[0].urls[0], trs[0]);
  cr_expect_str_eq(m->tiers[1].urls[0], trs[1]);
  cr_assert_eq(m->num_web_seeds, 1);
  cr_expect_str_eq(m->web_seeds[0], ws[0]);
  sh_metainfo_free(m);
  sh_buf_reset(&b);
  sh_magnet_torrent(&b, orig->raw + orig->info_off, orig->info_len, NULL, 0, NULL, 0);
  cr_assert_eq(sh_metainfo_parse(b.data, b.len, &m, err, sizeof err), 0, "%s", err);
  cr_expect_eq(m->num_tiers, 0, "trackerless");
  sh_metainfo_free(m);
  sh_metainfo_free(orig);
  sh_buf_free(&b);
  sh_buf_free(&t);
}
