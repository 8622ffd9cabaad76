/* `shoal get TORRENT... [-o DIR]`: download, show progress, then keep
 * sharing as BitTorrent expects.
 *
 * Seeding policy after the data is complete, as aria2c does it: by default
 * until this session has uploaded as much as it downloaded (ratio 1.0);
 * --seed-ratio R and --seed-time T change that (whichever is met first ends
 * seeding), --no-seed exits at once. If nothing had to be downloaded (the
 * data was already complete) there is nothing to pay back and get exits
 * unless --seed-time asks to stay.
 *
 * Exit status: 0 when every torrent's data is complete and verified (also
 * after Ctrl-C once complete); 1 when a download failed (the reason is
 * printed); 2 for bad usage or a bad torrent file; 130/143 when interrupted
 * by SIGINT/SIGTERM before the data was complete. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
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

/* Redraw once a second on a terminal; a plain line every 5 s otherwise, so
 * a log file gets 720 lines an hour rather than 3,600 (or none). */
#define GET_TICK_MS 1000
#define GET_PLAIN_EVERY 5
/* Give up when no peer has been connected for this long while the trackers
 * fail (or there are none): long enough for a tracker's retries (BEP 15's
 * UDP schedule reaches 60 s after 3 tries) plus dialling. */
#define GET_NO_PEER_TIMEOUT_S 120
/* --only numbers files as `shoal info` lists them: padding files (BEP 47)
 * skipped, counting from 1 as aria2c's --select-file does. */
#define GET_FILE_INDEX_BASE 1

struct get;

struct job {
  struct get *g;          /* back to the command's state, for callbacks */
  const char *path;       /* argv */
  struct shoal_torrent_info *ti; /* the .torrent, until it is added */
  shoal_id t;
  char name[64];          /* for display, truncated */
  uint64_t start_ms, complete_ms, last_peer_ms;
  uint64_t dl_at_complete;
  int complete, finished, failed, stopping, had_trackers;
  struct shoal_status last; /* the latest status read: the summary needs it
                               after the session has freed the torrent */
};

struct get {
  struct netopts no;
  struct netopts_run run;
  struct job *jobs;
  size_t njobs;
  const char *out_dir;
  const char *resume_dir;
  char resume_buf[4096];
  double seed_ratio;      /* 0: no ratio goal */
  int64_t seed_time;      /* seconds, -1: none */
  int no_seed;
  int no_peer_timeout;
  const char *only;
  int tty;                /* live line width, 0: plain lines (netopts_live_width) */
  int quiet;
  int drawn;              /* live lines on screen to overwrite */
  unsigned ticks;
  uint64_t start_ms, json_ms; /* --json: the run's start, the last report */
};

static const char *size_str(uint64_t n, char *buf, size_t len)
{
  cli_human_size(n, buf, len);
  return buf;
}

static void usage(FILE *f)
{
  fprintf(f,
          "usage: shoal get [options] TORRENT...\n"
          "\n"
          "Downloads what each .torrent describes into DIR, showing progress, then\n"
          "keeps sharing it: by default until as much has been uploaded as was\n"
          "downloaded (ratio 1.0) or until interrupted.\n"
          "\n"
          "options:\n"
          "  -o, --output DIR    where the content goes (default: current directory)\n"
          "  --only LIST         download only these files, numbered as `shoal info`\n"
          "                      lists them from %d, e.g. 1,3,5-7 (one torrent only)\n"
          "  --seed-ratio R      seed until uploaded/downloaded reaches R (default 1.0;\n"
          "                      0: no ratio goal, seed until --seed-time or Ctrl-C)\n"
          "  --seed-time T       seed for T after completion (seconds; m/h suffixes)\n"
          "  --no-seed           exit as soon as the data is complete\n"
          "  --resume-dir DIR    resume data, one file per info-hash (default: DIR/.shoal)\n"
          "  --no-peer-timeout T give up after T without peers while trackers fail\n"
          "                      (default %ds; 0: never)\n"
          "  --buffered-writes   write through the page cache (default: verified pieces\n"
          "                      go straight to disk with O_DIRECT where aligned)\n"
          "  -h, --help          this text\n"
          "\n",
          GET_FILE_INDEX_BASE, GET_NO_PEER_TIMEOUT_S);
  netopts_usage(f);
  fprintf(f, "\nexit status: 0 complete, 1 failed, 2 bad usage or torrent,\n"
             "130/143 interrupted before the data was complete\n");
}

/* "90", "90s", "15m", "2h" into seconds; -1 when malformed. */
static int64_t parse_duration(const char *s)
{
  if (*s < '0' || *s > '9')
    return -1;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno)
    return -1;
  if (*end == 'h')
    v *= 3600, end++;
  else if (*end == 'm')
    v *= 60, end++;
  else if (*end == 's')
    end++;
  if (*end || v > 1e9)
    return -1;
  return (int64_t)v;
}

/* --only "1,3,5-7" into wanted[num_files] flags. Returns 0 or -1 after
 * printing which item is wrong. */
static int parse_only(const char *list, const struct shoal_torrent_info *m, uint8_t *wanted)
{
  /* the listed files: every file but padding, in torrent order */
  size_t nlisted = 0;
  size_t *slot = malloc((m->num_files ? m->num_files : 1) * sizeof *slot);
  if (!slot) {
    fprintf(stderr, "shoal get: out of memory\n");
    return -1;
  }
  for (size_t i = 0; i < m->num_files; i++)
    if (!(m->files[i].attr & SHOAL_FILE_PAD))
      slot[nlisted++] = i;
  memset(wanted, 0, m->num_files);
  /* a variable, not the macro: the compiler would call a lower-bound test
   * against 0 always false */
  static const unsigned long file_base = GET_FILE_INDEX_BASE;
  const char *p = list;
  size_t picked = 0;
  while (*p) {
    char *end;
    if (*p < '0' || *p > '9')
      goto bad;
    unsigned long a = strtoul(p, &end, 10), b = a;
    if (*end == '-') {
      if (end[1] < '0' || end[1] > '9')
        goto bad;
      b = strtoul(end + 1, &end, 10);
    }
    if (*end && *end != ',')
      goto bad;
    if (b < a || a < file_base || b - file_base >= nlisted) {
      fprintf(stderr, "shoal get: --only '%s': the torrent has files %d to %zu (as `shoal info` "
                      "lists them)\n", list, GET_FILE_INDEX_BASE,
              nlisted - 1 + GET_FILE_INDEX_BASE);
      free(slot);
      return -1;
    }
    for (unsigned long i = a; i <= b; i++) {
      wanted[slot[i - file_base]] = 1;
      picked++;
    }
    p = *end ? end + 1 : end;
  }
  free(slot);
  if (!picked)
    goto bad_noslot;
  return 0;
bad:
  free(slot);
bad_noslot:
  fprintf(stderr, "shoal get: --only '%s': expected file numbers like 1,3,5-7\n", list);
  return -1;
}

/* ---- display ---- */

static void clear_live(struct get *g)
{
  if (!g->tty || !g->drawn)
    return;
  /* back to the first live line, then clear to the end of the screen */
  if (g->drawn > 1)
    printf("\033[%dA", g->drawn - 1);
  printf("\r\033[J");
  fflush(stdout);
  g->drawn = 0;
}

static void say(struct get *g, FILE *f, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(struct get *g, FILE *f, const char *fmt, ...)
{
  clear_live(g);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(f, fmt, ap);
  va_end(ap);
  fflush(f);
}

/* Reads a live torrent's status into j->last; a finished job keeps its last
 * one, since its torrent may be gone. */
static const struct shoal_status *snap(struct job *j)
{
  if (j->t && !j->finished && j->g->run.sess)
    shoal_torrent_status(j->g->run.sess, j->t, &j->last);
  return &j->last;
}

static void snap_all(struct get *g)
{
  for (size_t i = 0; i < g->njobs; i++)
    snap(&g->jobs[i]);
}

static void status_line(struct job *j, char *out, size_t len)
{
  struct shoal_status st = *snap(j);
  char a[32], b[32], d[32];
  if (j->failed) {
    snprintf(out, len, "%-20s failed", j->name);
    return;
  }
  if (st.state == SHOAL_CHECKING) {
    double pct = st.num_pieces ? 100.0 * st.check_done / st.num_pieces : 100;
    snprintf(out, len, "%-20s checking %5.1f%%", j->name, pct);
    return;
  }
  double pct = st.wanted_bytes ? 100.0 * (double)st.have_bytes / (double)st.wanted_bytes : 100;
  if (j->complete && j->finished) {
    double ratio = st.downloaded ? (double)st.uploaded / (double)st.downloaded : 0;
    snprintf(out, len, "%-20s done     uploaded %9s  ratio %.2f", j->name,
             size_str(st.uploaded, b, sizeof b), ratio);
    return;
  }
  if (j->complete) {
    double ratio = st.downloaded ? (double)st.uploaded / (double)st.downloaded : 0;
    snprintf(out, len, "%-20s seeding  up %10s  uploaded %9s  ratio %.2f  peers %d", j->name,
             netopts_fmt_rate(st.up_rate, a, sizeof a), size_str(st.uploaded, b, sizeof b),
             ratio, st.peers);
    return;
  }
  const char *eta = "--";
  if (st.down_rate > 0 && st.wanted_bytes > st.have_bytes)
    eta = netopts_fmt_duration((st.wanted_bytes - st.have_bytes) / st.down_rate, d, sizeof d);
  snprintf(out, len, "%-20s %5.1f%%  down %10s  up %10s  peers %3d  ETA %s", j->name, pct,
           netopts_fmt_rate(st.down_rate, a, sizeof a), netopts_fmt_rate(st.up_rate, b, sizeof b),
           st.peers, eta);
}

static void draw(struct get *g)
{
  if (g->quiet)
    return;
  char line[256];
  if (g->tty) {
    clear_live(g);
    for (size_t i = 0; i < g->njobs; i++) {
      status_line(&g->jobs[i], line, sizeof line);
      /* never wider than the terminal would wrap and break the redraw */
      printf("%s%.*s", i ? "\n" : "", g->tty, line);
    }
    fflush(stdout);
    g->drawn = (int)g->njobs;
  } else if (g->ticks % GET_PLAIN_EVERY == 0) {
    for (size_t i = 0; i < g->njobs; i++) {
      status_line(&g->jobs[i], line, sizeof line);
      printf("%s\n", line);
    }
    fflush(stdout);
  }
}

/* ---- policy ---- */

static void job_finish(struct get *g, struct job *j)
{
  if (j->finished)
    return;
  snap(j);
  j->finished = 1;
  /* the tick closes the session once every job is finished: this may run
   * inside an engine callback, where closing the session is not safe */
  netopts_run_tick_soon(&g->run);
}

static void job_fail(struct get *g, struct job *j, const char *msg)
{
  if (j->failed)
    return;
  j->failed = 1;
  say(g, stderr, "shoal get: %s: %s\n", j->name, msg);
  job_finish(g, j);
}

static void check_complete(struct get *g, struct job *j, const struct shoal_status *st)
{
  if (j->complete || st->state != SHOAL_SEEDING)
    return;
  j->complete = 1;
  j->complete_ms = uv_now(g->run.loop);
  j->dl_at_complete = st->downloaded;
  if (!g->quiet && !st->downloaded) {
    char a[32];
    say(g, stdout, "%s: complete, %s already on disk\n", j->name,
        size_str(st->wanted_bytes, a, sizeof a));
  } else if (!g->quiet) {
    char a[32], b[32], c[32];
    double secs = (double)(j->complete_ms - j->start_ms) / 1000.0;
    say(g, stdout, "%s: complete, %s in %s (%s average)\n", j->name,
        size_str(st->wanted_bytes, a, sizeof a),
        netopts_fmt_duration((uint64_t)llround(secs), b, sizeof b),
        netopts_fmt_rate(secs > 0 ? (uint64_t)((double)st->downloaded / secs) : 0, c, sizeof c));
  }
}

static void seed_policy(struct get *g, struct job *j, const struct shoal_status *st)
{
  if (!j->complete || j->finished || j->stopping)
    return;
  int done = 0;
  if (g->no_seed)
    done = 1;
  else if (g->seed_time >= 0 &&
           uv_now(g->run.loop) - j->complete_ms >= (uint64_t)g->seed_time * 1000)
    done = 1;
  else if (g->seed_ratio > 0 && st->downloaded == 0 && g->seed_time < 0)
    done = 1; /* nothing downloaded, nothing owed */
  else if (g->seed_ratio > 0 && st->downloaded > 0 &&
           (double)st->uploaded >= g->seed_ratio * (double)st->downloaded)
    done = 1;
  if (done) {
    j->stopping = 1;
    shoal_torrent_pause(g->run.sess, j->t);
  }
}

static void no_peer_policy(struct get *g, struct job *j, const struct shoal_status *st)
{
  uint64_t now = uv_now(g->run.loop);
  if (st->peers > 0 || j->complete || st->state == SHOAL_CHECKING) {
    j->last_peer_ms = now;
    return;
  }
  if (!g->no_peer_timeout || now - j->last_peer_ms < (uint64_t)g->no_peer_timeout * 1000)
    return;
  char msg[400];
  if (!j->had_trackers && !g->no.npeers)
    snprintf(msg, sizeof msg, "no peers for %ds: the torrent lists no trackers and no --peer "
             "was given", g->no_peer_timeout);
  else if (!j->had_trackers)
    snprintf(msg, sizeof msg, "no peers for %ds: the torrent lists no trackers and no --peer "
             "address connected with this torrent", g->no_peer_timeout);
  else if (st->tracker_msg[0])
    snprintf(msg, sizeof msg, "no peers for %ds; last tracker error: %s", g->no_peer_timeout,
             st->tracker_msg);
  else
    return; /* trackers answer: the swarm may fill up, keep waiting */
  if (!j->stopping) {
    j->stopping = 1;
    shoal_torrent_pause(g->run.sess, j->t);
  }
  job_fail(g, j, msg);
}

/* --json: every torrent still in the session, one line each. */
static void report(struct get *g)
{
  uint64_t now = uv_now(g->run.loop);
  g->json_ms = now;
  for (size_t i = 0; i < g->njobs; i++)
    if (g->jobs[i].t && !g->jobs[i].finished)
      cli_report_json(stdout, g->run.sess, g->jobs[i].t, (double)(now - g->start_ms) / 1000.0);
}

static void tick(struct netopts_run *r)
{
  struct get *g = r->ud;
  g->ticks++;
  if (g->no.json_every_ms && uv_now(r->loop) - g->json_ms >= g->no.json_every_ms)
    report(g);
  for (size_t i = 0; i < g->njobs; i++) {
    struct job *j = &g->jobs[i];
    if (j->finished)
      continue;
    struct shoal_status st = *snap(j);
    if (st.state == SHOAL_ERROR) {
      job_fail(g, j, st.error[0] ? st.error : "failed");
      continue;
    }
    check_complete(g, j, &st);
    seed_policy(g, j, &st);
    no_peer_policy(g, j, &st);
  }
  size_t left = 0;
  for (size_t i = 0; i < g->njobs; i++)
    left += !g->jobs[i].finished;
  if (!left) {
    netopts_run_stop(&g->run);
    return;
  }
  draw(g);
}

/* ---- the engine's events ---- */

static void on_event(struct netopts_run *r, const struct shoal_event *e)
{
  struct get *g = r->ud;
  struct job *j = NULL;
  for (size_t i = 0; i < g->njobs && !j; i++)
    if (g->jobs[i].t == e->id)
      j = &g->jobs[i];
  if (!j)
    return;
  if (e->type == SHOAL_EVENT_FINISHED) {
    if (g->no.json_every_ms)
      report(g); /* the moment of completion, with the peers as they were */
    struct shoal_status st = *snap(j);
    check_complete(g, j, &st);
    netopts_run_tick_soon(r); /* the seeding policy */
  } else if (e->type == SHOAL_EVENT_ERROR) {
    job_fail(g, j, e->text[0] ? e->text : shoal_strerror(e->err));
  } else if (e->type == SHOAL_EVENT_PAUSED) {
    snap(j);
    job_finish(g, j);
  }
}

static void on_signal(struct netopts_run *r, int signo)
{
  struct get *g = r->ud;
  snap_all(g);
  if (!g->quiet)
    say(g, stderr, "\nshoal get: stopping (announcing, saving resume data; "
                   "interrupt again to quit at once)\n");
}

/* ---- main ---- */

static void summary(struct get *g)
{
  if (g->quiet)
    return;
  for (size_t i = 0; i < g->njobs; i++) {
    struct job *j = &g->jobs[i];
    const struct shoal_status *st = &j->last;
    if (!j->t || j->failed)
      continue; /* the reason was printed when it failed */
    char a[32], b[32], c[32], d[32], e[32];
    if (j->complete && !j->dl_at_complete) {
      printf("%s: done, %s already on disk; uploaded %s\n", j->name,
             size_str(st->wanted_bytes, a, sizeof a), size_str(st->uploaded, e, sizeof e));
    } else if (j->complete) {
      double secs = (double)(j->complete_ms - j->start_ms) / 1000.0;
      printf("%s: done, %s; downloaded %s in %s (%s average), uploaded %s, ratio %.2f\n", j->name,
             size_str(st->wanted_bytes, a, sizeof a),
             size_str(st->downloaded, b, sizeof b),
             netopts_fmt_duration((uint64_t)llround(secs), c, sizeof c),
             netopts_fmt_rate(secs > 0 ? (uint64_t)((double)j->dl_at_complete / secs) : 0, d,
                              sizeof d),
             size_str(st->uploaded, e, sizeof e),
             st->downloaded ? (double)st->uploaded / (double)st->downloaded : 0.0);
    } else {
      double pct = st->wanted_bytes ? 100.0 * (double)st->have_bytes / (double)st->wanted_bytes : 0;
      printf("%s: incomplete, %s of %s (%.1f%%); run again to resume\n", j->name,
             size_str(st->have_bytes, a, sizeof a),
             size_str(st->wanted_bytes, b, sizeof b), pct);
    }
  }
  fflush(stdout);
}

int cmd_get(int argc, char **argv)
{
  static const struct option longopts[] = {
      {"output", required_argument, NULL, 'o'},
      {"only", required_argument, NULL, 0x200},
      {"seed-ratio", required_argument, NULL, 0x201},
      {"seed-time", required_argument, NULL, 0x202},
      {"no-seed", no_argument, NULL, 0x203},
      {"resume-dir", required_argument, NULL, 0x204},
      {"no-peer-timeout", required_argument, NULL, 0x205},
      {"buffered-writes", no_argument, NULL, 0x206},
      {"help", no_argument, NULL, 'h'},
      NETOPTS_LONG,
      {NULL, 0, NULL, 0},
  };
  struct get g = {.out_dir = ".", .seed_ratio = 1.0, .seed_time = -1,
                  .no_peer_timeout = GET_NO_PEER_TIMEOUT_S};
  netopts_init(&g.no);
  int rc = 2, opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "o:h" NETOPTS_SHORT, longopts, NULL)) != -1) {
    int n = netopts_parse(&g.no, "get", opt, optarg);
    if (n < 0)
      goto out;
    if (n > 0)
      continue;
    char *end;
    int64_t v;
    switch (opt) {
    case 'o':
      g.out_dir = optarg;
      break;
    case 0x200:
      g.only = optarg;
      break;
    case 0x201:
      errno = 0;
      g.seed_ratio = strtod(optarg, &end);
      if (errno || *end || end == optarg || !(g.seed_ratio >= 0) || g.seed_ratio > 1e6) {
        fprintf(stderr, "shoal get: --seed-ratio '%s': expected a number like 1.5\n", optarg);
        goto out;
      }
      break;
    case 0x202:
      if ((g.seed_time = parse_duration(optarg)) < 0) {
        fprintf(stderr, "shoal get: --seed-time '%s': expected seconds, or a number with "
                        "m or h, like 90, 15m, 2h\n", optarg);
        goto out;
      }
      break;
    case 0x203:
      g.no_seed = 1;
      break;
    case 0x204:
      g.resume_dir = optarg;
      break;
    case 0x205:
      if ((v = parse_duration(optarg)) < 0 || v > 1000000000) {
        fprintf(stderr, "shoal get: --no-peer-timeout '%s': expected seconds (m/h suffix)\n",
                optarg);
        goto out;
      }
      g.no_peer_timeout = (int)v;
      break;
    case 0x206:
      g.no.settings.buffered_writes = 1;
      break;
    case 'h':
      usage(stdout);
      rc = 0;
      goto out;
    default:
      usage(stderr);
      goto out;
    }
  }
  if (optind >= argc) {
    fprintf(stderr, "shoal get: missing TORRENT\n");
    usage(stderr);
    goto out;
  }
  g.njobs = (size_t)(argc - optind);
  if (g.only && g.njobs > 1) {
    fprintf(stderr, "shoal get: --only applies to one torrent at a time\n");
    goto out;
  }
  g.quiet = g.no.verbosity < 0 || g.no.json_every_ms; /* --json: stdout is JSON only */
  g.tty = g.no.json_every_ms ? 0 : netopts_live_width(&g.no);
  netopts_apply_log(&g.no);

  /* Load every torrent before touching the network or the disk: a typo in
   * the last file should not leave the first one half-started. */
  g.jobs = calloc(g.njobs, sizeof *g.jobs);
  uint8_t *wanted = NULL;
  if (!g.jobs) {
    fprintf(stderr, "shoal get: out of memory\n");
    rc = 1;
    goto out;
  }
  for (size_t i = 0; i < g.njobs; i++) {
    char err[512] = "";
    struct job *j = &g.jobs[i];
    j->g = &g;
    j->path = argv[optind + (int)i];
    int lrc = shoal_torrent_info_load(j->path, &j->ti, err, sizeof err);
    if (lrc < 0) {
      /* the parser's message names the file or field */
      fprintf(stderr, "shoal get: %s\n", err[0] ? err : shoal_strerror(lrc));
      goto out_ms;
    }
    snprintf(j->name, sizeof j->name, "%s", j->ti->name);
    j->had_trackers = j->ti->num_tiers > 0;
  }
  if (g.only) {
    const struct shoal_torrent_info *ti = g.jobs[0].ti;
    wanted = malloc(ti->num_files ? ti->num_files : 1);
    if (!wanted || parse_only(g.only, ti, wanted) < 0)
      goto out_ms;
    for (size_t f = 0; f < ti->num_files; f++)
      wanted[f] = wanted[f] ? SHOAL_PRIO_NORMAL : SHOAL_PRIO_SKIP;
  }
  cli_raise_nofile(4096);
  if (netopts_resolve(&g.no, "get") < 0)
    goto out_ms;

  rc = 1;
  /* the session creates the folders (and says so if it cannot) */
  if (!g.resume_dir) {
    snprintf(g.resume_buf, sizeof g.resume_buf, "%s/.shoal", g.out_dir);
    g.resume_dir = g.resume_buf;
  }
  g.no.settings.resume_dir = g.resume_dir;

  g.run.ud = &g;
  g.run.tick = tick;
  g.run.on_signal = on_signal;
  g.run.event = on_event;
  if (netopts_run_start(&g.run, &g.no, "get", GET_TICK_MS) < 0)
    goto out_ms;
  for (size_t i = 0; i < g.njobs; i++) {
    struct job *j = &g.jobs[i];
    struct shoal_add_params ap = {.torrent = j->ti->raw, .torrent_len = j->ti->raw_len,
                                  .save_dir = g.out_dir, .priorities = wanted,
                                  .num_priorities = wanted ? j->ti->num_files : 0};
    j->start_ms = j->last_peer_ms = uv_now(g.run.loop);
    char err[300] = "";
    int arc = shoal_torrent_add(g.run.sess, &ap, &j->t, err, sizeof err);
    if (arc < 0) {
      j->t = 0;
      char msg[400];
      snprintf(msg, sizeof msg, "cannot add: %s", err[0] ? err : shoal_strerror(arc));
      job_fail(&g, j, msg);
      continue;
    }
    netopts_add_peers(&g.no, g.run.sess, j->t, "get");
  }
  g.start_ms = g.json_ms = uv_now(g.run.loop);
  draw(&g);
  netopts_run_loop(&g.run);
  clear_live(&g);

  /* exit status */
  int all_complete = 1, any_failed = 0;
  for (size_t i = 0; i < g.njobs; i++) {
    all_complete &= g.jobs[i].complete;
    any_failed |= g.jobs[i].failed;
  }
  if (all_complete && !any_failed)
    rc = 0;
  else if (g.run.signo && !any_failed)
    rc = 128 + g.run.signo;
  else
    rc = 1;
  summary(&g);
out_ms:
  for (size_t i = 0; i < g.njobs; i++)
    shoal_torrent_info_free(g.jobs[i].ti);
  free(wanted);
out:
  free(g.jobs);
  netopts_free(&g.no);
  return rc;
}
