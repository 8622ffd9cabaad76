/* shoal info FILE: everything a .torrent says, for people or (--json) for
 * programs; what a magnet link holds; a torrent's magnet link. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "commands.h"
#include "shoal.h"
#include "util.h"

static void info_usage(FILE *f)
{
  fprintf(f,
          "usage: shoal info [options] FILE.torrent\n"
          "       shoal info [--json] MAGNET\n"
          "       shoal info --magnet FILE.torrent\n"
          "Shows a torrent's name, info-hash, size, pieces, trackers by tier, web\n"
          "seeds, comment, creator, date, source and files. Exit 2 if the file is\n"
          "not a valid torrent, with the reason (and byte offset for bencode).\n"
          "A magnet link (quote it: it holds '&') shows its info-hash, name,\n"
          "trackers, web seeds, peers and file selection; exit 2 if it is not a\n"
          "BitTorrent magnet link, with the reason.\n"
          "\n"
          "  -a, --all    list BEP 47 padding files too (hidden by default)\n"
          "      --json   one JSON object on stdout; strings are escaped and any\n"
          "               byte that is not valid UTF-8 becomes U+FFFD\n"
          "      --magnet print the torrent's magnet link (xt, dn, tr, ws) and nothing else\n"
          "  -h, --help   this help\n");
}

static void jstr(const char *s)
{
  if (s)
    cli_json_str(stdout, s, strlen(s));
  else
    fputs("null", stdout);
}

/* The content, and the BEP 47 padding apart (hybrid torrents pad every
 * file to a piece boundary): sizes and counts a person means. */
struct sizes {
  uint64_t content, padding;
  size_t files, pads;
};

static struct sizes sizes_of(const struct shoal_torrent_info *m)
{
  struct sizes z = {0, 0, 0, 0};
  for (size_t i = 0; i < m->num_files; i++) {
    int pad = !!(m->files[i].attr & SHOAL_FILE_PAD);
    *(pad ? &z.padding : &z.content) += m->files[i].length;
    *(pad ? &z.pads : &z.files) += 1;
  }
  return z;
}

static void print_json(const struct shoal_torrent_info *m)
{
  struct sizes z = sizes_of(m);
  printf("{\"name\":");
  jstr(m->name);
  printf(",\"info_hash\":\"%s\",\"total_length\":%llu,\"content_length\":%llu,"
         "\"padding_length\":%llu,\"num_files\":%zu,\"num_padding_files\":%zu,"
         "\"piece_length\":%u,\"num_pieces\":%u", m->info_hash_hex,
         (unsigned long long)m->total_length, (unsigned long long)z.content,
         (unsigned long long)z.padding, z.files, z.pads, m->piece_length, m->num_pieces);
  printf(",\"private\":%s,\"multi_file\":%s,\"hybrid\":%s,\"trackers\":[",
         m->is_private ? "true" : "false", m->multi_file ? "true" : "false",
         m->hybrid ? "true" : "false");
  for (size_t t = 0; t < m->num_tiers; t++) {
    printf("%s[", t ? "," : "");
    for (size_t u = 0; u < m->tiers[t].num_urls; u++) {
      if (u)
        putchar(',');
      jstr(m->tiers[t].urls[u]);
    }
    putchar(']');
  }
  printf("],\"web_seeds\":[");
  for (size_t i = 0; i < m->num_web_seeds; i++) {
    if (i)
      putchar(',');
    jstr(m->web_seeds[i]);
  }
  printf("],\"comment\":");
  jstr(m->comment);
  printf(",\"created_by\":");
  jstr(m->created_by);
  printf(",\"creation_date\":");
  if (m->creation_date)
    printf("%lld", (long long)m->creation_date);
  else
    fputs("null", stdout);
  printf(",\"source\":");
  jstr(m->source);
  printf(",\"files\":[");
  size_t num = 0; /* the number `shoal get --only` takes; null for padding */
  for (size_t i = 0; i < m->num_files; i++) {
    const struct shoal_file_info *f = &m->files[i];
    printf("%s{\"path\":", i ? "," : "");
    jstr(f->path);
    if (f->attr & SHOAL_FILE_PAD)
      printf(",\"number\":null");
    else
      printf(",\"number\":%zu", ++num);
    printf(",\"length\":%llu,\"offset\":%llu,\"padding\":%s,\"executable\":%s,\"hidden\":%s",
           (unsigned long long)f->length, (unsigned long long)f->offset, f->attr & SHOAL_FILE_PAD ? "true" : "false",
           f->attr & SHOAL_FILE_EXEC ? "true" : "false", f->attr & SHOAL_FILE_HIDDEN ? "true" : "false");
    if (f->symlink_target) {
      printf(",\"symlink\":");
      jstr(f->symlink_target);
    }
    putchar('}');
  }
  printf("]}\n");
}

static void field(const char *label, const char *value)
{
  if (!value)
    return;
  printf("%-14s ", label);
  cli_print_safe(stdout, value);
  putchar('\n');
}

static void print_text(const struct shoal_torrent_info *m, int all)
{
  char hs[32], ps[32], padsz[32];
  struct sizes z = sizes_of(m);
  cli_human_size(z.content, hs, sizeof hs);
  cli_human_size(m->piece_length, ps, sizeof ps);
  cli_human_size(z.padding, padsz, sizeof padsz);
  field("name:", m->name);
  printf("%-14s %s\n", "info-hash:", m->info_hash_hex);
  printf("%-14s %s (%llu bytes)", "size:", hs, (unsigned long long)z.content);
  if (z.pads)
    printf(" in %zu file%s; plus %s of padding in %zu BEP 47 file%s, never on disk", z.files,
           z.files == 1 ? "" : "s", padsz, z.pads, z.pads == 1 ? "" : "s");
  putchar('\n');
  if (m->hybrid)
    printf("%-14s hybrid v1 + v2 (BEP 52); shoal uses its v1 part\n", "version:");
  printf("%-14s %u x %s (%u bytes)\n", "pieces:", m->num_pieces, ps, m->piece_length);
  printf("%-14s %s\n", "private:", m->is_private ? "yes" : "no");
  if (m->num_tiers) {
    printf("trackers:\n");
    for (size_t t = 0; t < m->num_tiers; t++) {
      printf("  tier %zu:", t + 1);
      for (size_t u = 0; u < m->tiers[t].num_urls; u++) {
        putchar(' ');
        cli_print_safe(stdout, m->tiers[t].urls[u]);
      }
      putchar('\n');
    }
  } else {
    printf("%-14s none (trackerless)\n", "trackers:");
  }
  if (m->num_web_seeds) {
    printf("web seeds:\n");
    for (size_t i = 0; i < m->num_web_seeds; i++) {
      printf("  ");
      cli_print_safe(stdout, m->web_seeds[i]);
      putchar('\n');
    }
  }
  field("comment:", m->comment);
  field("created by:", m->created_by);
  if (m->creation_date) {
    time_t t = (time_t)m->creation_date;
    struct tm tm;
    char when[64] = "?";
    if (gmtime_r(&t, &tm))
      strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    printf("%-14s %s (%lld)\n", "creation date:", when, (long long)m->creation_date);
  }
  field("source:", m->source);
  size_t pads = z.pads;
  printf("files (%zu):\n", z.files);
  /* Numbered from 1, padding files not counted: the numbers `shoal get
   * --only` takes. */
  size_t num = 0;
  for (size_t i = 0; i < m->num_files; i++) {
    const struct shoal_file_info *f = &m->files[i];
    int pad = !!(f->attr & SHOAL_FILE_PAD);
    if (!pad)
      num++;
    if (pad && !all)
      continue;
    char fs[32];
    cli_human_size(f->length, fs, sizeof fs);
    if (pad)
      printf("  %4s %10s  ", "-", fs);
    else
      printf("  %4zu %10s  ", num, fs);
    cli_print_safe(stdout, f->path);
    if (f->attr & SHOAL_FILE_PAD)
      printf("  [padding]");
    if (f->attr & SHOAL_FILE_EXEC)
      printf("  [executable]");
    if (f->attr & SHOAL_FILE_HIDDEN)
      printf("  [hidden]");
    if (f->symlink_target) {
      printf("  -> ");
      cli_print_safe(stdout, f->symlink_target);
    }
    putchar('\n');
  }
  if (pads && !all)
    printf("  (%zu padding file%s hidden; -a lists them)\n", pads, pads == 1 ? "" : "s");
}

/* ---- magnet links ---- */

static void jstrs(const char *key, const char *const *v, size_t n)
{
  printf(",\"%s\":[", key);
  for (size_t i = 0; i < n; i++) {
    if (i)
      putchar(',');
    jstr(v[i]);
  }
  putchar(']');
}

static void magnet_json(const struct shoal_magnet *m)
{
  printf("{\"info_hash\":\"%s\",\"name\":", m->info_hash_hex);
  jstr(m->name);
  jstrs("trackers", m->trackers, m->num_trackers);
  jstrs("web_seeds", m->web_seeds, m->num_web_seeds);
  jstrs("peers", m->peers, m->num_peers);
  printf(",\"select\":[");
  for (size_t i = 0; i < m->num_select; i++)
    printf("%s[%u,%u]", i ? "," : "", m->select[i].first, m->select[i].last);
  printf("],\"v2\":%s,\"dropped\":%zu}\n", m->has_v2 ? "true" : "false", m->dropped);
}

static void lines(const char *label, const char *const *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    field(i ? "" : label, v[i]);
}

static void magnet_text(const struct shoal_magnet *m)
{
  printf("%-14s %s\n", "info-hash:", m->info_hash_hex);
  field("name:", m->name ? m->name : "(none: known once the metadata is)");
  if (m->num_trackers)
    lines("trackers:", m->trackers, m->num_trackers);
  else
    printf("%-14s none (peers from the DHT, PEX or local discovery)\n", "trackers:");
  lines("web seeds:", m->web_seeds, m->num_web_seeds);
  lines("peers:", m->peers, m->num_peers);
  if (m->num_select) {
    /* BEP 53 counts files from 0; `shoal info FILE.torrent` lists them from 1 */
    printf("%-14s", "select (so):");
    for (size_t i = 0; i < m->num_select; i++) {
      if (m->select[i].first == m->select[i].last)
        printf(" %u", m->select[i].first);
      else
        printf(" %u-%u", m->select[i].first, m->select[i].last);
    }
    printf("  (file indices from 0, padding files counted)\n");
  }
  if (m->has_v2)
    printf("%-14s also a v2 info-hash (urn:btmh), not used: v2 is not supported yet\n", "note:");
  if (m->dropped)
    printf("%-14s %zu entries over the limits were left out\n", "note:", m->dropped);
}

static int info_magnet(const char *uri, int json)
{
  struct shoal_magnet *m;
  char err[512];
  if (shoal_magnet_parse(uri, &m, err, sizeof err) < 0) {
    fprintf(stderr, "shoal info: ");
    cli_print_safe(stderr, err);
    fputc('\n', stderr);
    return 2;
  }
  if (json)
    magnet_json(m);
  else
    magnet_text(m);
  shoal_magnet_free(m);
  return 0;
}

int cmd_info(int argc, char **argv)
{
  static const struct option longopts[] = {
      {"help", no_argument, NULL, 'h'}, {"json", no_argument, NULL, 'J'}, {"all", no_argument, NULL, 'a'},
      {"magnet", no_argument, NULL, 'M'}, {NULL, 0, NULL, 0}};
  int json = 0, all = 0, magnet = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "ah", longopts, NULL)) != -1) {
    switch (c) {
    case 'J': json = 1; break;
    case 'a': all = 1; break;
    case 'M': magnet = 1; break;
    case 'h': info_usage(stdout); return 0;
    default: info_usage(stderr); return 2;
    }
  }
  if (optind != argc - 1) {
    fprintf(stderr, "shoal info: %s\n", optind >= argc ? "missing FILE" : "exactly one FILE expected");
    info_usage(stderr);
    return 2;
  }
  if (!strncasecmp(argv[optind], "magnet:", 7)) {
    if (magnet) {
      fprintf(stderr, "shoal info: --magnet takes a .torrent file, not a magnet link\n");
      return 2;
    }
    return info_magnet(argv[optind], json);
  }
  struct shoal_torrent_info *m;
  char err[1024];
  if (shoal_torrent_info_load(argv[optind], &m, err, sizeof err)) {
    fprintf(stderr, "shoal info: ");
    cli_print_safe(stderr, err);
    fputc('\n', stderr);
    return 2;
  }
  int rc = 0;
  if (magnet) {
    char *link = shoal_magnet_link(m);
    if (link)
      printf("%s\n", link);
    else
      rc = 1;
    free(link);
  } else if (json) {
    print_json(m);
  } else {
    print_text(m, all);
  }
  shoal_torrent_info_free(m);
  return rc;
}
