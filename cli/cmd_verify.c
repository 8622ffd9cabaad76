/* shoal verify TORRENT DIR: hashes the data under DIR against the torrent and
 * reports what is missing or corrupt, by file. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "commands.h"
#include "disk/check.h"
#include "disk/storage.h"
#include "meta/metainfo.h"
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

enum { F_OK_SIZE = 0, F_MISSING, F_SHORT, F_NOT_FILE };

static void progress(void *ud, uint32_t done, uint32_t total, uint64_t bytes)
{
  (void)done;
  (void)total;
  cli_progress_update(ud, bytes);
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
  struct sh_metainfo *m;
  char err[1024];
  if (sh_metainfo_load(tpath, &m, err, sizeof err)) {
    fprintf(stderr, "shoal verify: ");
    cli_print_safe(stderr, err);
    fputc('\n', stderr);
    return 2;
  }
  struct stat st;
  if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "shoal verify: %s: %s\n", dir, errno ? strerror(errno) : "not a directory");
    sh_metainfo_free(m);
    return 2;
  }
  struct sh_storage *s = NULL;
  uint8_t *state = malloc(m->num_pieces ? m->num_pieces : 1);
  uint8_t *fstate = calloc(m->num_files, 1);
  uint32_t *fcorrupt = calloc(m->num_files, sizeof *fcorrupt);
  int rc = 1;
  if (!state || !fstate || !fcorrupt || sh_storage_open(m, dir, SH_STORAGE_READONLY, &s)) {
    fprintf(stderr, "shoal verify: out of memory\n");
    goto out;
  }
  struct cli_progress bar;
  cli_progress_start(&bar, "verifying", m->total_length);
  struct sh_check_opts o = {.threads = threads, .progress = bar.enabled ? progress : NULL, .ud = &bar};
  double t0 = cli_now();
  int r = sh_check_run(m, s, state, &o);
  double secs = cli_now() - t0;
  cli_progress_end(&bar);
  if (r) {
    fprintf(stderr, "shoal verify: %s\n", sh_strerror(r));
    goto out;
  }

  /* what each file looks like on disk (the storage never follows links) */
  for (size_t i = 0; i < m->num_files; i++) {
    const struct sh_file *f = &m->files[i];
    if (f->attr & (SH_FILE_PAD | SH_FILE_SYMLINK))
      continue;
    const char *p = sh_storage_file_path(s, i);
    if (lstat(p, &st) < 0)
      fstate[i] = F_MISSING;
    else if (!S_ISREG(st.st_mode))
      fstate[i] = F_NOT_FILE; /* storage never follows links, for safety */
    else if ((uint64_t)st.st_size < f->length)
      fstate[i] = F_SHORT;
  }
  uint32_t ok = 0, missing = 0, corrupt = 0;
  for (uint32_t p = 0; p < m->num_pieces; p++) {
    if (state[p] == SH_PIECE_OK) {
      ok++;
      continue;
    }
    if (state[p] == SH_PIECE_MISSING) {
      missing++;
      continue;
    }
    corrupt++;
    size_t first, last;
    sh_storage_piece_files(m, p, &first, &last);
    for (size_t i = first; i <= last; i++)
      if (!(m->files[i].attr & SH_FILE_PAD) && m->files[i].length)
        fcorrupt[i]++;
  }
  char hs[32];
  cli_human_size(m->total_length, hs, sizeof hs);
  printf("torrent:   ");
  cli_print_safe(stdout, m->name);
  printf(" (%s)\n", m->info_hash_hex);
  printf("checked:   %u pieces, %s in %.2f s (%.0f MB/s)\n", m->num_pieces, hs, secs,
         secs > 0 ? (double)m->total_length / secs / 1e6 : 0.0);
  printf("complete:  %u of %u pieces (%.1f%%)\n", ok, m->num_pieces,
         m->num_pieces ? 100.0 * ok / m->num_pieces : 100.0);
  printf("missing:   %u pieces\n", missing);
  printf("corrupt:   %u pieces\n", corrupt);
  size_t listed = 0, problems = 0;
  for (size_t i = 0; i < m->num_files; i++) {
    if (!fstate[i] && !fcorrupt[i])
      continue;
    problems++;
    if (listed == VERIFY_MAX_LISTED)
      continue;
    if (!listed)
      printf("problems:\n");
    listed++;
    const struct sh_file *f = &m->files[i];
    if (fstate[i] == F_MISSING) {
      printf("  missing   ");
    } else if (fstate[i] == F_NOT_FILE) {
      printf("  not read  ");
      cli_print_safe(stdout, f->path);
      printf(" (a link or directory, not a regular file; links are not followed)\n");
      continue;
    } else if (fstate[i] == F_SHORT) {
      lstat(sh_storage_file_path(s, i), &st);
      printf("  short     ");
      cli_print_safe(stdout, f->path);
      printf(" (%lld of %llu bytes)\n", (long long)st.st_size, (unsigned long long)f->length);
      continue;
    } else {
      printf("  corrupt   ");
    }
    cli_print_safe(stdout, f->path);
    if (fcorrupt[i])
      printf(" (%u corrupt piece%s)", fcorrupt[i], fcorrupt[i] == 1 ? "" : "s");
    putchar('\n');
  }
  if (problems > listed)
    printf("  ... and %zu more files\n", problems - listed);
  if (ok == m->num_pieces) {
    printf("result:    OK, all data matches\n");
    rc = 0;
  } else {
    printf("result:    %s\n", corrupt ? "CORRUPT" : "INCOMPLETE");
  }
out:
  sh_storage_close(s);
  free(state);
  free(fstate);
  free(fcorrupt);
  sh_metainfo_free(m);
  return rc;
}
