/* shoal verify TORRENT DIR: hashes the data under DIR against the torrent and
 * reports what is missing or corrupt, by file. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "shoal.h"
#include "util.h"

/* Files listed at most; a torrent with thousands of broken files gets a count
 * instead of a page of noise. */
#define VERIFY_MAX_LISTED 20

static void verify_usage(FILE *f)
{
  fprintf(f,
          "usage: shoal verify [options] TORRENT DIR\n"
          "Checks the data under DIR (holding the content under the torrent's name:\n"
          "DIR/NAME for one file, DIR/NAME/... for several) against the piece\n"
          "hashes. Exit 0 when everything matches, 1 when data is missing or\n"
          "corrupt, 2 for bad usage or a bad torrent.\n"
          "\n"
          "  -j N        hashing threads (default: all cores)\n"
          "  -h, --help  this help\n");
}

static void progress(void *ud, uint32_t done, uint32_t total, uint64_t bytes)
{
  (void)done;
  (void)total;
  cli_progress_update(ud, bytes);
}

/* One line per file with a problem, at most VERIFY_MAX_LISTED of them. */
static void print_problems(const struct shoal_torrent_info *m, const struct shoal_verify_result *r)
{
  size_t listed = 0, problems = 0;
  for (size_t i = 0; i < m->num_files; i++) {
    const struct shoal_verify_file *vf = &r->files[i];
    int on_disk = vf->disk == SHOAL_DISK_OK || vf->disk == SHOAL_DISK_NOT_STORED;
    if (on_disk && !vf->corrupt_pieces)
      continue;
    problems++;
    if (listed == VERIFY_MAX_LISTED)
      continue;
    if (!listed)
      printf("problems:\n");
    listed++;
    const struct shoal_file_info *f = &m->files[i];
    if (vf->disk == SHOAL_DISK_MISSING) {
      printf("  missing   ");
    } else if (vf->disk == SHOAL_DISK_NOT_REGULAR) {
      printf("  not read  ");
      cli_print_safe(stdout, f->path);
      printf(" (a link or directory, not a regular file; links are not followed)\n");
      continue;
    } else if (vf->disk == SHOAL_DISK_SHORT) {
      printf("  short     ");
      cli_print_safe(stdout, f->path);
      printf(" (%llu of %llu bytes)\n", (unsigned long long)vf->size_on_disk, (unsigned long long)f->length);
      continue;
    } else {
      printf("  corrupt   ");
    }
    cli_print_safe(stdout, f->path);
    if (vf->corrupt_pieces)
      printf(" (%u corrupt piece%s)", vf->corrupt_pieces, vf->corrupt_pieces == 1 ? "" : "s");
    putchar('\n');
  }
  if (problems > listed)
    printf("  ... and %zu more files\n", problems - listed);
}

static void print_report(const struct shoal_torrent_info *m, const struct shoal_verify_result *r, double secs)
{
  char hs[32];
  cli_human_size(m->total_length, hs, sizeof hs);
  printf("torrent:   ");
  cli_print_safe(stdout, m->name);
  printf(" (%s)\n", m->info_hash_hex);
  printf("checked:   %u pieces, %s in %.2f s (%.0f MB/s)\n", m->num_pieces, hs, secs,
         secs > 0 ? (double)m->total_length / secs / 1e6 : 0.0);
  printf("complete:  %u of %u pieces (%.1f%%)\n", r->pieces_ok, m->num_pieces,
         m->num_pieces ? 100.0 * r->pieces_ok / m->num_pieces : 100.0);
  printf("missing:   %u pieces\n", r->pieces_missing);
  printf("corrupt:   %u pieces\n", r->pieces_corrupt);
  print_problems(m, r);
  if (r->pieces_ok == m->num_pieces)
    printf("result:    OK, all data matches\n");
  else
    printf("result:    %s\n", r->pieces_corrupt ? "CORRUPT" : "INCOMPLETE");
}

int cmd_verify(int argc, char **argv)
{
  static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  int threads = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "j:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'j': {
      long v;
      if (cli_parse_int(optarg, 1, 64, &v)) {
        fprintf(stderr, "shoal verify: -j %s: must be a number of threads from 1 to 64\n", optarg);
        return 2;
      }
      threads = (int)v;
      break;
    }
    case 'h': verify_usage(stdout); return 0;
    default: verify_usage(stderr); return 2;
    }
  }
  if (argc - optind != 2) {
    fprintf(stderr, "shoal verify: expected TORRENT and DIR\n");
    verify_usage(stderr);
    return 2;
  }
  const char *tpath = argv[optind], *dir = argv[optind + 1];
  struct shoal_torrent_info *m;
  char err[1024];
  if (cli_refuse_magnet("verify", tpath))
    return 2;
  if (shoal_torrent_info_load(tpath, &m, err, sizeof err)) {
    fprintf(stderr, "shoal verify: ");
    cli_print_safe(stderr, err);
    fputc('\n', stderr);
    return 2;
  }
  /* a DIR that is not a folder is bad input (exit 2), not a failed check */
  struct stat st;
  int bad = stat(dir, &st) < 0 ? errno : !S_ISDIR(st.st_mode) ? -1 : 0;
  if (bad) {
    fprintf(stderr, "shoal verify: %s: %s\n", dir, bad > 0 ? strerror(bad) : "not a directory");
    shoal_torrent_info_free(m);
    return 2;
  }
  struct cli_progress bar;
  cli_progress_start(&bar, "verifying", m->total_length);
  struct shoal_verify_opts o = {.threads = threads, .progress = bar.enabled ? progress : NULL, .ud = &bar};
  struct shoal_verify_result *r;
  double t0 = cli_now();
  int rc = shoal_verify(m, dir, &o, &r, err, sizeof err);
  double secs = cli_now() - t0;
  cli_progress_end(&bar);
  if (rc) {
    fprintf(stderr, "shoal verify: %s\n", err);
    rc = 1;
  } else {
    print_report(m, r, secs);
    rc = r->pieces_ok == m->num_pieces ? 0 : 1;
    shoal_verify_result_free(r);
  }
  shoal_torrent_info_free(m);
  return rc;
}
