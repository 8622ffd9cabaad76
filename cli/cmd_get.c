/* `shoal get TORRENT... [-o DIR]`: download, show progress, then keep
 * sharing as BitTorrent expects. A TORRENT is a .torrent file or a magnet
 * link (BEP 9): its metadata is fetched from peers first ("fetching
 * metadata", with the peers asked), then it downloads alike.
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
 * by SIGINT/SIGTERM before the data was complete. "Verified" is precise in
 * usage(): hashed in this run, or in an earlier one whose checksummed resume
 * data still matches every file's size and mtime (disk/resume.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "get.h"
#include "netopts.h"
#include "report.h"
#include "util.h"
#include "shoal.h"

static void usage(FILE *f)
{
  fprintf(f,
          "usage: shoal get [options] TORRENT...\n"
          "\n"
          "Downloads what each .torrent file or magnet link describes into DIR,\n"
          "showing progress, then keeps sharing it: by default until as much has\n"
          "been uploaded as was downloaded (ratio 1.0) or until interrupted. A\n"
          "magnet link (quote it) first fetches the metadata from the peers its\n"
          "trackers, its x.pe entries, --peer, PEX and --lsd find; it is kept with\n"
          "the resume data, so running again does not fetch it again.\n"
          "\n"
          "options:\n"
          "  -o, --output DIR    where the content goes (default: current directory)\n"
          "  --only LIST         download only these files, numbered as `shoal info`\n"
          "                      lists them from %d, e.g. 1,3,5-7 (one torrent only;\n"
          "                      with a magnet link, once its metadata is in)\n"
          "  --save-torrent FILE write the .torrent to FILE once its metadata is known\n"
          "                      (one torrent only)\n"
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
             "130/143 interrupted before the data was complete.\n"
             "Complete means every wanted piece matched the torrent's SHA-1 hashes when it\n"
             "was written or checked, in this run or an earlier one whose resume data (its\n"
             "checksum intact) still matches every file's size and modification time to the\n"
             "nanosecond. A file changed since without changing either is not noticed:\n"
             "`shoal verify` reads everything.\n");
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

/* ---- policy ---- */

static void job_finish(struct get *g, struct job *j)
{
  if (j->finished)
    return;
  get_snap(j);
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
  get_say(g, stderr, "shoal get: %s: %s\n", j->name, msg);
  job_finish(g, j);
}

/* What happens after completion, as a sentence to append ("" when get
 * exits at once): the user should know why it keeps running and how to
 * change that. Mirrors seed_policy(). */
static void seed_plan(const struct get *g, const struct shoal_status *st, char *out, size_t n)
{
  char t[32];
  const char *opts = " (see --seed-ratio, --seed-time, --no-seed)";
  if (g->seed_time >= 0)
    netopts_fmt_duration((uint64_t)g->seed_time, t, sizeof t);
  if (g->no_seed || (g->seed_ratio > 0 && !st->downloaded && g->seed_time < 0) ||
      g->seed_time == 0)
    snprintf(out, n, "%s", "");
  else if (g->seed_ratio > 0 && g->seed_time >= 0)
    snprintf(out, n, "; seeding until ratio %.2g or for %s, or Ctrl-C%s", g->seed_ratio, t, opts);
  else if (g->seed_ratio > 0)
    snprintf(out, n, "; seeding until ratio %.2g or Ctrl-C%s", g->seed_ratio, opts);
  else if (g->seed_time >= 0)
    snprintf(out, n, "; seeding for %s or until Ctrl-C%s", t, opts);
  else
    snprintf(out, n, "; seeding until Ctrl-C%s", opts);
}

static void check_complete(struct get *g, struct job *j, const struct shoal_status *st)
{
  if (j->complete || st->state != SHOAL_SEEDING)
    return;
  j->complete = 1;
  j->complete_ms = uv_now(g->run.loop);
  j->dl_at_complete = st->downloaded;
  if (g->quiet)
    return;
  char a[32], b[32], c[32], next[200];
  seed_plan(g, st, next, sizeof next);
  if (!st->downloaded) {
    get_say(g, g->json ? stderr : stdout, "%s: complete, %s already on disk in %s/%s%s\n", j->name,
        get_size_str(st->wanted_bytes, a, sizeof a), g->out_dir, get_job_name(j), next);
  } else {
    double secs = (double)(j->complete_ms - j->start_ms) / 1000.0;
    get_say(g, g->json ? stderr : stdout, "%s: complete, %s in %s (%s average), in %s/%s%s\n", j->name,
        get_size_str(st->wanted_bytes, a, sizeof a),
        netopts_fmt_duration((uint64_t)llround(secs), b, sizeof b),
        netopts_fmt_rate(secs > 0 ? (uint64_t)((double)st->downloaded / secs) : 0, c, sizeof c),
        g->out_dir, get_job_name(j), next);
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

/* One line when every tracker is failing (again), at normal verbosity:
 * the progress line says it too, but a log of plain lines every 5 s or a
 * -q run should not leave it to chance. */
static void tracker_warning(struct get *g, struct job *j, const struct shoal_status *st)
{
  int all = st->trackers && st->trackers_failing == st->trackers;
  if (!all) {
    j->warned_trackers = 0;
    return;
  }
  if (j->warned_trackers || j->complete || g->no.verbosity < 0)
    return;
  j->warned_trackers = 1;
  char t[32];
  get_say(g, stderr, "shoal get: %s: every tracker is failing (%s)%s%s\n", j->name, st->tracker_msg,
      st->tracker_retry_s ? "; retrying in " : "; retrying",
      st->tracker_retry_s ? netopts_fmt_duration(st->tracker_retry_s, t, sizeof t) : "");
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
  struct shoal_dht_status ds;
  int dht_nodes = j->dht && shoal_session_dht_status(g->run.sess, &ds) == 0 &&
                  ds.good[0] + ds.good[1] > 0;
  const char *what = j->mag ? "the magnet link names no trackers" : "the torrent lists no trackers";
  size_t given = g->no.npeers + (j->mag ? j->mag->num_peers : 0);
  if (st->peers_all_close_early) /* the most precise reason first */
    snprintf(msg, sizeof msg, "no peers for %ds: %s", g->no_peer_timeout, get_closers_msg(g));
  else if (!j->had_trackers && !j->dht && !given)
    snprintf(msg, sizeof msg, "no peers for %ds: %s and no --peer was given%s",
             g->no_peer_timeout, what, g->no.settings.lsd ? "; --lsd found none" : "");
  else if (!j->had_trackers && !j->dht)
    snprintf(msg, sizeof msg, "no peers for %ds: %s and no peer given (--peer%s) connected with "
             "this torrent", g->no_peer_timeout, what, j->mag ? ", x.pe" : "");
  else if (st->trackers && st->trackers_failing == st->trackers)
    snprintf(msg, sizeof msg, "no peers for %ds; last tracker error: %s", g->no_peer_timeout,
             st->tracker_msg);
  else if (!j->had_trackers && !dht_nodes)
    snprintf(msg, sizeof msg, "no peers for %ds: %s and the DHT reached no node (see "
             "--dht-bootstrap)", g->no_peer_timeout, what);
  else
    return; /* trackers or the DHT answer: the swarm may fill up, keep waiting */
  if (!j->stopping) {
    j->stopping = 1;
    shoal_torrent_pause(g->run.sess, j->t);
  }
  job_fail(g, j, msg);
}

static void tick(struct netopts_run *r)
{
  struct get *g = r->ud;
  g->ticks++;
  for (size_t i = 0; i < g->njobs; i++) {
    struct job *j = &g->jobs[i];
    if (j->finished)
      continue;
    struct shoal_status st = *get_snap(j);
    if (st.state == SHOAL_ERROR) {
      job_fail(g, j, st.error[0] ? st.error : "failed");
      continue;
    }
    check_complete(g, j, &st);
    seed_policy(g, j, &st);
    tracker_warning(g, j, &st);
    no_peer_policy(g, j, &st);
  }
  size_t left = 0;
  for (size_t i = 0; i < g->njobs; i++)
    left += !g->jobs[i].finished;
  if (!left) {
    netopts_run_stop(&g->run);
    return;
  }
  get_draw(g);
}

/* ---- a magnet link's metadata ---- */

/* --only for a magnet link, now that its files are known. */
static void apply_only(struct get *g, struct job *j, const struct shoal_torrent_info *ti)
{
  uint8_t *wanted = malloc(ti->num_files ? ti->num_files : 1);
  if (wanted && parse_only(g->only, ti, wanted) == 0) {
    for (size_t f = 0; f < ti->num_files; f++)
      wanted[f] = wanted[f] ? SHOAL_PRIO_NORMAL : SHOAL_PRIO_SKIP;
    shoal_torrent_set_priorities(g->run.sess, j->t, wanted, ti->num_files);
  } else if (!j->stopping) {
    j->stopping = 1;
    shoal_torrent_pause(g->run.sess, j->t);
    job_fail(g, j, "--only does not fit the torrent's files");
  }
  free(wanted);
}

/* The metadata is known (at once for a .torrent): --save-torrent, and for
 * a magnet link its name, whether the DHT may serve it (not if private)
 * and --only. */
static void metadata_known(struct get *g, struct job *j)
{
  void *bytes;
  size_t len;
  if (shoal_torrent_file(g->run.sess, j->t, &bytes, &len) < 0)
    return;
  if (g->save_torrent) {
    int rc = shoal_create_save(g->save_torrent, bytes, len, 1);
    if (rc < 0)
      get_say(g, stderr, "shoal get: --save-torrent %s: %s\n", g->save_torrent, shoal_strerror(rc));
    else if (!g->quiet)
      get_say(g, stdout, "%s: the .torrent is saved in %s\n", j->name, g->save_torrent);
  }
  struct shoal_torrent_info *ti;
  char err[256];
  if (j->mag)
    cli_safe(j->name, sizeof j->name, get_snap(j)->name);
  if (j->mag && shoal_torrent_info_parse(bytes, len, &ti, err, sizeof err) == 0) {
    if (ti->is_private)
      j->dht = 0; /* the engine stops its lookups (BEP 27): no DHT to wait for */
    if (g->only)
      apply_only(g, j, ti);
    shoal_torrent_info_free(ti);
  }
  free(bytes);
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
    if (g->json)
      get_draw_json(g); /* the moment of completion, with the peers as they were */
    struct shoal_status st = *get_snap(j);
    check_complete(g, j, &st);
    netopts_run_tick_soon(r); /* the seeding policy */
  } else if (e->type == SHOAL_EVENT_ERROR) {
    job_fail(g, j, e->text[0] ? e->text : shoal_strerror(e->err));
  } else if (e->type == SHOAL_EVENT_PAUSED) {
    get_snap(j);
    job_finish(g, j);
  } else if (e->type == SHOAL_EVENT_METADATA) {
    metadata_known(g, j);
  }
}

static void on_signal(struct netopts_run *r, int signo)
{
  struct get *g = r->ud;
  get_snap_all(g);
  if (!g->quiet)
    get_say(g, stderr, "\nshoal get: stopping (announcing, saving resume data; "
                   "interrupt again to quit at once)\n");
}

/* ---- main ---- */

static const uint8_t *job_hash(const struct job *j)
{
  return j->ti ? j->ti->info_hash : j->mag->info_hash;
}

/* A job's .torrent file or magnet link; a magnet's x.pe peers given by
 * host name go to j->xpe, resolved with --peer's. Returns 0 or -1 with a
 * sentence in err. */
static int load(struct job *j, char *err, size_t errlen)
{
  if (strncasecmp(j->path, "magnet:", 7)) {
    int rc = shoal_torrent_info_load(j->path, &j->ti, err, errlen);
    if (rc < 0 && !err[0])
      snprintf(err, errlen, "%s: %s", j->path, shoal_strerror(rc));
    if (rc < 0)
      return -1;
    cli_safe(j->name, sizeof j->name, j->ti->name);
    j->had_trackers = j->ti->num_tiers > 0;
    return 0;
  }
  int rc = shoal_magnet_parse(j->path, &j->mag, err, errlen);
  if (rc < 0)
    return -1;
  cli_safe(j->name, sizeof j->name, j->mag->name ? j->mag->name : j->mag->info_hash_hex);
  j->had_trackers = j->mag->num_trackers > 0;
  for (size_t i = 0; i < j->mag->num_peers; i++) {
    char host[256];
    uint16_t port;
    const char *why;
    unsigned char ip[16];
    /* IP literals go to the library with the link; names are resolved here */
    if (netopts_split_hostport(j->mag->peers[i], host, sizeof host, &port, &why) == 0 &&
        inet_pton(AF_INET, host, ip) != 1 && inet_pton(AF_INET6, host, ip) != 1 &&
        netopts_parse(&j->xpe, "get", NETOPT_PEER, j->mag->peers[i]) < 0) {
      snprintf(err, errlen, "x.pe %s: cannot be used", j->mag->peers[i]);
      return -1;
    }
  }
  return 0;
}

/* The job already loaded with this info-hash, or NULL. */
static const struct job *find_job(const struct get *g, const uint8_t *ih)
{
  for (size_t i = 0; i < g->njobs; i++)
    if (!memcmp(job_hash(&g->jobs[i]), ih, 20))
      return &g->jobs[i];
  return NULL;
}

/* -o DIR must be a folder we can write in (or one we can create): said
 * here, before the session, rather than later as a resume-data failure. */
static int check_out_dir(const char *dir)
{
  char probe[4096];
  struct stat sb;
  int rc;
  snprintf(probe, sizeof probe, "%s", dir);
  /* the deepest part of the path that exists is where folders get made */
  for (int up = 0; (rc = stat(probe, &sb)) < 0 && errno == ENOENT && up < 256; up++) {
    char *slash = strrchr(probe, '/');
    if (!slash)
      snprintf(probe, sizeof probe, ".");
    else
      slash[slash == probe] = 0; /* "/x" goes up to "/" */
  }
  int err = rc < 0                   ? errno
            : !S_ISDIR(sb.st_mode)   ? ENOTDIR
            : access(probe, W_OK | X_OK) < 0 ? errno
                                             : 0;
  if (!err)
    return 0;
  int here = !strcmp(probe, dir);
  cli_say(stderr, "shoal get: -o %s: cannot write there: %s%s%s\n", dir, strerror(err),
          here ? "" : " at ", here ? "" : probe);
  return -1;
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
      {"save-torrent", required_argument, NULL, 0x208},
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
    case 0x208:
      g.save_torrent = optarg;
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
  if (g.save_torrent && g.njobs > 1) {
    fprintf(stderr, "shoal get: --save-torrent applies to one torrent at a time\n");
    goto out;
  }
  g.json = g.no.json_every_ms != 0;
  g.quiet = g.no.verbosity < 0;
  g.tty = g.json ? 0 : netopts_live_width(&g.no);
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
  size_t nargs = g.njobs;
  g.njobs = 0;
  for (size_t i = 0; i < nargs; i++) {
    char err[512] = "";
    struct job *j = &g.jobs[g.njobs];
    j->g = &g;
    j->path = argv[optind + (int)i];
    netopts_init(&j->xpe);
    if (load(j, err, sizeof err) < 0) {
      /* the parser's message names the file or field */
      cli_say(stderr, "shoal get: %s\n", err);
      goto out_ms;
    }
    const struct job *same = find_job(&g, job_hash(j));
    if (same) {
      /* one torrent given twice: the second add would only fail */
      cli_say(stderr, "shoal get: %s is the same torrent as %s (info-hash %s); skipping it\n",
              j->path, same->path,
              get_job_hex(j));
      shoal_torrent_info_free(j->ti);
      shoal_magnet_free(j->mag);
      netopts_free(&j->xpe);
      memset(j, 0, sizeof *j);
      continue;
    }
    /* the DHT finds peers for every torrent that is not private, when it
     * has a node to start from */
    netopts_dht_finish(&g.no);
    j->dht = g.no.settings.dht && g.no.ndht_boot && !(j->ti && j->ti->is_private);
    g.njobs++;
  }
  if (g.only && g.jobs[0].ti) {
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
  if (check_out_dir(g.out_dir) < 0)
    goto out_ms;
  for (size_t i = 0; i < g.njobs; i++)
    if (netopts_resolve(&g.jobs[i].xpe, "get") < 0)
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
    struct shoal_add_params ap = {.save_dir = g.out_dir};
    if (j->mag) {
      shoal_add_params_magnet(&ap, j->mag);
    } else {
      ap.torrent = j->ti->raw;
      ap.torrent_len = j->ti->raw_len;
      ap.priorities = wanted;
      ap.num_priorities = wanted ? j->ti->num_files : 0;
    }
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
    netopts_add_peers(&j->xpe, g.run.sess, j->t, "get");
    if (!j->had_trackers && !j->dht && !g.no.npeers && !g.quiet)
      get_say(&g, stderr, "shoal get: %s: the torrent lists no trackers and no --peer was given: "
          "only a peer that connects here (port %u) can be found; giving up after %ds without "
          "one (--no-peer-timeout)\n", j->name, (unsigned)shoal_session_port(g.run.sess),
          g.no_peer_timeout);
  }
  g.start_ms = g.json_ms = uv_now(g.run.loop);
  get_draw(&g);
  netopts_run_loop(&g.run);
  get_clear_live(&g);
  if (g.json)
    get_draw_json(&g); /* the final state of each */

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
  get_summary(&g);
out_ms:
  for (size_t i = 0; i < g.njobs; i++) {
    shoal_torrent_info_free(g.jobs[i].ti);
    shoal_magnet_free(g.jobs[i].mag);
    netopts_free(&g.jobs[i].xpe);
  }
  free(wanted);
out:
  free(g.jobs);
  netopts_free(&g.no);
  return rc;
}
