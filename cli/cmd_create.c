/* shoal create PATH: options in, shoal_create() does the work. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "commands.h"
#include "shoal.h"
#include "util.h"

static void create_usage(FILE *f)
{
  fprintf(f,
          "usage: shoal create [options] PATH\n"
          "Makes a .torrent of a file (single-file torrent) or a directory\n"
          "(multi-file; files in byte-wise sorted path order, hidden and empty\n"
          "files included, symbolic links skipped with a warning).\n"
          "\n"
          "  -t URL[,URL...]  tracker; repeat for more tiers, commas make one tier\n"
          "                   (-t a,b -t c gives the tiers [a b] [c])\n"
          "  -w URL           web seed (BEP 19), repeatable\n"
          "  -p               private torrent (BEP 27)\n"
          "  -l SIZE          piece length, a power of two >= 16K (e.g. 256K, 1M);\n"
          "                   default: aims at 1000-2000 pieces, 16K..16M\n"
          "  -o FILE          output (default NAME.torrent here)\n"
          "  -f               overwrite the output if it exists\n"
          "  -n NAME          torrent name (default: the last element of PATH)\n"
          "  -c COMMENT       comment\n"
          "  -s SOURCE        source tag inside the info dict (changes the info-hash)\n"
          "      --no-date    omit the creation date\n"
          "  -j N             hashing threads (default: all cores)\n"
          "  -h, --help       this help\n");
}

/* -t options: each a tier owning its URL list and strings. */
struct tiers {
  struct shoal_tracker_tier *v;
  size_t n;
};

static void tier_free(const struct shoal_tracker_tier *t)
{
  for (size_t j = 0; j < t->num_urls; j++)
    free((char *)t->urls[j]);
  free((void *)t->urls);
}

static int add_tier(struct tiers *t, const char *arg)
{
  struct shoal_tracker_tier *v = realloc(t->v, (t->n + 1) * sizeof *v);
  if (!v)
    return -1;
  t->v = v;
  struct shoal_tracker_tier *tier = &v[t->n];
  const char **urls = NULL;
  size_t n = 0;
  char *copy = strdup(arg);
  if (!copy)
    return -1;
  for (char *save = NULL, *u = strtok_r(copy, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
    const char **more = realloc(urls, (n + 1) * sizeof *more);
    if (!more || !(more[n] = strdup(u))) {
      *tier = (struct shoal_tracker_tier){more ? more : urls, n};
      tier_free(tier);
      free(copy);
      return -1;
    }
    urls = more;
    n++;
  }
  free(copy);
  *tier = (struct shoal_tracker_tier){urls, n};
  if (n)
    t->n++;
  else
    tier_free(tier);
  return 0;
}

static void progress(void *ud, uint64_t done, uint64_t total)
{
  struct cli_progress *bar = ud;
  bar->total = total;
  cli_progress_update(bar, done);
}

int cmd_create(int argc, char **argv)
{
  static const struct option longopts[] = {
      {"help", no_argument, NULL, 'h'}, {"no-date", no_argument, NULL, 'D'}, {NULL, 0, NULL, 0}};
  struct shoal_create_opts o = {0};
  struct tiers tiers = {0};
  const char **seeds = NULL;
  size_t nseeds = 0;
  const char *output = NULL;
  int force = 0, no_date = 0, rc = 2;
  char *default_out = NULL;
  uint8_t *out = NULL;
  size_t out_len = 0;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "t:w:pl:o:fn:c:s:j:h", longopts, NULL)) != -1) {
    switch (c) {
    case 't':
      if (add_tier(&tiers, optarg)) {
        fprintf(stderr, "shoal create: out of memory\n");
        goto out;
      }
      break;
    case 'w': {
      const char **v = realloc(seeds, (nseeds + 1) * sizeof *v);
      if (!v)
        goto out;
      seeds = v;
      seeds[nseeds++] = optarg;
      break;
    }
    case 'p': o.is_private = 1; break;
    case 'l': {
      uint64_t v;
      if (cli_parse_size(optarg, &v) || v < SHOAL_CREATE_MIN_PIECE || v > SHOAL_CREATE_MAX_PIECE || (v & (v - 1))) {
        fprintf(stderr, "shoal create: -l %s: piece length must be a power of two from 16K to 16M\n", optarg);
        goto out;
      }
      o.piece_length = (uint32_t)v;
      break;
    }
    case 'o': output = optarg; break;
    case 'f': force = 1; break;
    case 'n': o.name = optarg; break;
    case 'c': o.comment = optarg; break;
    case 's': o.source = optarg; break;
    case 'D': no_date = 1; break;
    case 'j': {
      long v;
      if (cli_parse_int(optarg, 1, 64, &v)) {
        fprintf(stderr, "shoal create: -j %s: must be a number of threads from 1 to 64\n", optarg);
        goto out;
      }
      o.threads = (int)v;
      break;
    }
    case 'h':
      create_usage(stdout);
      rc = 0;
      goto out;
    default:
      create_usage(stderr);
      goto out;
    }
  }
  if (optind != argc - 1) {
    fprintf(stderr, "shoal create: %s\n", optind >= argc ? "missing PATH" : "exactly one PATH expected");
    create_usage(stderr);
    goto out;
  }
  o.path = argv[optind];
  o.tiers = tiers.v;
  o.num_tiers = tiers.n;
  o.web_seeds = seeds;
  o.num_web_seeds = nseeds;
  o.created_by = "shoal " SHOAL_VERSION;
  o.creation_date = no_date ? 0 : (int64_t)time(NULL);

  struct stat st;
  if (stat(o.path, &st) < 0) {
    fprintf(stderr, "shoal create: %s: %s\n", o.path, strerror(errno));
    goto out;
  }
  if (!output) {
    char *name = o.name ? strdup(o.name) : shoal_create_default_name(o.path);
    if (!name || !(default_out = malloc(strlen(name) + 9))) {
      free(name);
      goto out;
    }
    sprintf(default_out, "%s.torrent", name);
    free(name);
    output = default_out;
  }
  /* refuse before hashing gigabytes; shoal_create_save checks again atomically */
  if (!force && lstat(output, &st) == 0) {
    fprintf(stderr, "shoal create: %s: already exists (use -f to overwrite)\n", output);
    goto out;
  }

  struct cli_progress bar;
  cli_progress_start(&bar, "hashing", 0);
  o.progress = progress;
  o.ud = &bar;
  char err[1024];
  double t0 = cli_now();
  int r = shoal_create(&o, &out, &out_len, err, sizeof err);
  cli_progress_end(&bar);
  if (r) {
    fprintf(stderr, "shoal create: %s\n", err);
    rc = r == -ENOMEM ? 1 : 2;
    goto out;
  }
  double secs = cli_now() - t0;
  struct shoal_torrent_info *m;
  if ((r = shoal_torrent_info_parse(out, out_len, &m, err, sizeof err))) {
    /* would be a bug in shoal_create: never write a torrent we cannot read */
    fprintf(stderr, "shoal create: internal error, the new torrent does not parse: %s\n", err);
    rc = 1;
    goto out;
  }
  if ((r = shoal_create_save(output, out, out_len, force))) {
    fprintf(stderr, "shoal create: %s: %s%s\n", output, shoal_strerror(r),
            r == -EEXIST ? " (use -f to overwrite)" : "");
    rc = r == -EEXIST ? 2 : 1;
    shoal_torrent_info_free(m);
    goto out;
  }
  char hs[32], ps[32];
  cli_human_size(m->total_length, hs, sizeof hs);
  cli_human_size(m->piece_length, ps, sizeof ps);
  printf("name:      %s\n", m->name);
  printf("size:      %s in %zu file%s, %u pieces of %s\n", hs, m->num_files, m->num_files == 1 ? "" : "s",
         m->num_pieces, ps);
  printf("hashed in: %.2f s (%.0f MB/s)\n", secs, secs > 0 ? (double)m->total_length / secs / 1e6 : 0.0);
  printf("info-hash: %s\n", m->info_hash_hex);
  printf("wrote:     %s\n", output);
  if (!tiers.n)
    fprintf(stderr, "shoal create: warning: no tracker given (-t URL): peers can find this "
                    "torrent only through the DHT, peer exchange, local discovery or by "
                    "address (shoal get --peer HOST:PORT)\n");
  shoal_torrent_info_free(m);
  rc = 0;
out:
  for (size_t i = 0; i < tiers.n; i++)
    tier_free(&tiers.v[i]);
  free(tiers.v);
  free(seeds);
  free(default_out);
  free(out);
  return rc;
}
