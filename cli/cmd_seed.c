/* `shoal seed TORRENT DIR`: verify the data, refuse if any of it is missing
 * or corrupt, then serve it until interrupted.
 *
 * Exit status: 0 after a graceful stop (Ctrl-C or SIGTERM) of a complete
 * seed; 1 when the data is incomplete or serving failed; 2 for bad usage or a
 * bad torrent file; 130/143 when interrupted before the check finished. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "netopts.h"
#include "report.h"
#include "util.h"
#include "shoal.h"

/* Redraw once a second on a terminal, a plain line a minute otherwise: a
 * seed runs for days and its log should stay readable. */
#define SEED_TICK_MS 1000
#define SEED_PLAIN_EVERY 60

struct seed {
  struct netopts no;
  struct netopts_run run;
  shoal_id t;
  char name[64];           /* for display: made safe, truncated */
  const char *raw_name;    /* the torrent's, as the files are named */
  const char *dir;
  int tty; /* live line width, 0: plain lines (netopts_live_width) */
  int quiet, drawn, checked, failed, stopped, super_seed;
  unsigned ticks;
  uint64_t start_ms, json_ms; /* --json: the run's start, the last report */
  struct shoal_status last;
};

static const char *size_str(uint64_t n, char *buf, size_t len)
{
  cli_human_size(n, buf, len);
  return buf;
}

static void usage(FILE *f)
{
  fprintf(f,
          "usage: shoal seed [options] TORRENT DIR\n"
          "\n"
          "Verifies the data in DIR (the folder holding the content under its name,\n"
          "as `shoal get -o DIR` leaves it) against TORRENT's piece hashes, refuses\n"
          "if any piece is missing or corrupt, then serves it until interrupted.\n"
          "\n"
          "options:\n"
          "  --super-seed        reveal pieces to each peer one at a time (BEP 16), so\n"
          "                      a first seed with a thin uplink sends each piece about\n"
          "                      once; not for general use\n"
          "  -h, --help          this text\n"
          "\n");
  netopts_usage(f);
  fprintf(f, "\nexit status: 0 stopped by Ctrl-C/SIGTERM, 1 data incomplete or failure,\n"
             "2 bad usage or torrent, 130/143 interrupted before the check finished\n");
}

static void clear_live(struct seed *s)
{
  if (s->tty && s->drawn) {
    printf("\r\033[K");
    fflush(stdout);
    s->drawn = 0;
  }
}

static void draw(struct seed *s)
{
  if (s->quiet || s->failed)
    return;
  const struct shoal_status *st = &s->last;
  char line[200], a[32], b[32];
  if (st->state == SHOAL_CHECKING) {
    if (!s->tty)
      return; /* a log needs no percentages of a check */
    double pct = st->num_pieces ? 100.0 * st->check_done / st->num_pieces : 100;
    snprintf(line, sizeof line, "%s: checking %5.1f%%", s->name, pct);
  } else {
    snprintf(line, sizeof line, "%s: seeding  up %10s  uploaded %9s  peers %3d", s->name,
             netopts_fmt_rate(st->up_rate, a, sizeof a), size_str(st->uploaded, b, sizeof b),
             st->peers);
  }
  if (s->tty) {
    printf("\r\033[K%.*s", s->tty, line);
    fflush(stdout);
    s->drawn = 1;
  } else if (s->ticks % SEED_PLAIN_EVERY == 0) {
    printf("%s\n", line);
    fflush(stdout);
  }
}

/* The data is not all there: name how much is missing, so the user knows
 * whether DIR is the wrong folder (everything missing) or a few pieces are
 * damaged. */
static void refuse(struct seed *s, const char *engine_msg)
{
  if (s->failed)
    return;
  s->failed = 1;
  clear_live(s);
  const struct shoal_status *st = &s->last;
  char path[4096];
  struct stat sb;
  snprintf(path, sizeof path, "%s/%s", s->dir, s->raw_name);
  /* the engine's own message says the same less precisely: ours only */
  if (st->num_pieces && !st->pieces_have && lstat(path, &sb) < 0)
    cli_say(stderr, "shoal seed: %s: the data is not there: %s does not exist (DIR is the "
                    "folder holding the content under its name, as `shoal get -o DIR` "
                    "leaves it)\n", s->name, path);
  else if (st->num_pieces && !st->pieces_have)
    cli_say(stderr, "shoal seed: %s: the data is not there: nothing in %s matches the "
                    "torrent (0 of %u pieces)\n", s->name, path, st->num_pieces);
  else if (st->num_pieces && st->pieces_have < st->num_pieces)
    cli_say(stderr, "shoal seed: %s: data in %s is incomplete: %u of %u pieces missing or "
                    "corrupt\n", s->name, s->dir, st->num_pieces - st->pieces_have,
            st->num_pieces);
  else
    cli_say(stderr, "shoal seed: %s: %s\n", s->name, engine_msg ? engine_msg : "failed");
  netopts_run_tick_soon(&s->run); /* the tick closes the session */
}

static void snap(struct seed *s)
{
  if (s->t && !s->stopped && s->run.sess)
    shoal_torrent_status(s->run.sess, s->t, &s->last);
}

static void tick(struct netopts_run *r)
{
  struct seed *s = r->ud;
  s->ticks++;
  if (s->failed) {
    netopts_run_stop(r);
    return;
  }
  snap(s);
  uint64_t now = uv_now(r->loop);
  if (s->no.json_every_ms && s->t && !s->stopped && now - s->json_ms >= s->no.json_every_ms) {
    s->json_ms = now;
    cli_report_json(stdout, r->sess, s->t, &s->last, NULL, (double)(now - s->start_ms) / 1000.0);
  }
  if (s->last.state == SHOAL_ERROR) {
    refuse(s, s->last.error[0] ? s->last.error : NULL);
    return;
  }
  /* seed_only: past the check, anything but SEEDING means pieces are
   * missing, whatever the engine says about it */
  if (s->last.state == SHOAL_DOWNLOADING) {
    refuse(s, NULL);
    return;
  }
  if (!s->checked && s->last.state == SHOAL_SEEDING) {
    s->checked = 1;
    if (!s->quiet) {
      clear_live(s);
      char a[32];
      printf("%s: %s verified in %s, seeding on port %u\n", s->name,
             size_str(s->last.wanted_bytes, a, sizeof a), s->dir,
             (unsigned)shoal_session_port(r->sess));
      fflush(stdout);
    }
  }
  draw(s);
}

static void on_event(struct netopts_run *r, const struct shoal_event *e)
{
  struct seed *s = r->ud;
  if (e->id != s->t)
    return;
  snap(s);
  if (e->type == SHOAL_EVENT_ERROR)
    refuse(s, e->text[0] ? e->text : shoal_strerror(e->err));
  else if (e->type == SHOAL_EVENT_PAUSED)
    s->stopped = 1;
}

static void on_signal(struct netopts_run *r, int signo)
{
  struct seed *s = r->ud;
  snap(s);
  clear_live(s);
  if (!s->quiet)
    fprintf(stderr, "shoal seed: stopping (interrupt again to quit at once)\n");
}

int cmd_seed(int argc, char **argv)
{
  static const struct option longopts[] = {
      {"help", no_argument, NULL, 'h'},
      {"super-seed", no_argument, NULL, 0x200},
      NETOPTS_LONG,
      {NULL, 0, NULL, 0},
  };
  struct seed s = {0};
  struct shoal_torrent_info *ti = NULL;
  netopts_init(&s.no);
  int rc = 2, opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "h" NETOPTS_SHORT, longopts, NULL)) != -1) {
    int n = netopts_parse(&s.no, "seed", opt, optarg);
    if (n < 0)
      goto out;
    if (n > 0)
      continue;
    if (opt == 'h') {
      usage(stdout);
      rc = 0;
      goto out;
    }
    if (opt == 0x200) {
      s.super_seed = 1;
      continue;
    }
    usage(stderr);
    goto out;
  }
  if (argc - optind != 2) {
    fprintf(stderr, "shoal seed: %s\n", argc - optind < 2 ? "expected TORRENT and DIR"
                                                          : "too many arguments");
    usage(stderr);
    goto out;
  }
  const char *tpath = argv[optind];
  s.dir = argv[optind + 1];
  char err[512] = "";
  if (cli_refuse_magnet("seed", tpath))
    goto out;
  int lrc = shoal_torrent_info_load(tpath, &ti, err, sizeof err);
  if (lrc < 0) {
    cli_say(stderr, "shoal seed: %s\n", err[0] ? err : shoal_strerror(lrc));
    goto out;
  }
  cli_safe(s.name, sizeof s.name, ti->name);
  s.raw_name = ti->name;
  struct stat sb;
  if (stat(s.dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
    fprintf(stderr, "shoal seed: %s: %s\n", s.dir,
            access(s.dir, F_OK) < 0 ? "no such directory" : "not a directory");
    rc = 1;
    goto out;
  }
  cli_raise_nofile(4096);
  if (netopts_resolve(&s.no, "seed") < 0)
    goto out;
  s.quiet = s.no.verbosity < 0 || s.no.json_every_ms; /* --json: stdout is JSON only */
  s.tty = s.no.json_every_ms ? 0 : netopts_live_width(&s.no);
  netopts_apply_log(&s.no);

  rc = 1;
  s.run.ud = &s;
  s.run.tick = tick;
  s.run.on_signal = on_signal;
  s.run.event = on_event;
  if (netopts_run_start(&s.run, &s.no, "seed", SEED_TICK_MS) < 0)
    goto out;
  s.start_ms = s.json_ms = uv_now(s.run.loop);
  struct shoal_add_params ap = {.torrent = ti->raw, .torrent_len = ti->raw_len,
                                .save_dir = s.dir, .seed_only = 1,
                                .super_seed = s.super_seed};
  int arc = shoal_torrent_add(s.run.sess, &ap, &s.t, err, sizeof err);
  if (arc < 0) {
    s.t = 0;
    cli_say(stderr, "shoal seed: %s: cannot add: %s\n", s.name,
            err[0] ? err : shoal_strerror(arc));
    s.failed = 1;
    netopts_run_stop(&s.run);
  } else {
    netopts_add_peers(&s.no, s.run.sess, s.t, "seed");
    snap(&s);
    draw(&s);
  }
  netopts_run_loop(&s.run);
  clear_live(&s);
  if (!s.failed && !s.quiet && s.checked) {
    char a[32];
    cli_say(stdout, "%s: uploaded %s\n", s.name, size_str(s.last.uploaded, a, sizeof a));
  }
  if (s.failed)
    rc = 1;
  else if (s.run.signo && !s.checked)
    rc = 128 + s.run.signo; /* interrupted before the data was verified */
  else
    rc = 0;
out:
  shoal_torrent_info_free(ti);
  netopts_free(&s.no);
  return rc;
}
