/* shoal tracker: the app around the library's tracker (include/shoal.h, "The
 * tracker server"). It reads the options (command line and --config files,
 * through cli/settings.c), makes a loop per worker thread, handles the
 * signals (SIGINT and SIGTERM stop, SIGHUP reloads) and runs the loops. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include "commands.h"
#include "settings.h"
#include "shoal.h"
#include "util.h"

/* Everything the options set: most of it lands in the library's config. */
struct tracker_opts {
  struct shoal_tracker_config cfg;
  int port;                      /* -p: both sides, unless one is given */
  struct settings_list bind, add;
  int log_level;                 /* enum shoal_log_level */
};

#define AT(field) SETTING_AT(struct tracker_opts, field)
#define DAY 86400

static const char *const modes[] = {"open", "hosted", NULL};

static const struct setting options[] = {
    {.name = "port", .short_name = 'p', .type = SETTING_INT, AT(port), .min = 0, .max = 65535,
     .arg = "PORT", .help = "HTTP and UDP on PORT (default 6969; 0 picks a free one)"},
    {.name = "http-port", .type = SETTING_INT, AT(cfg.http_port), .min = 0, .max = 65535,
     .word = "off", .word_value = -1, .arg = "PORT",
     .help = "HTTP only on PORT ('off' disables HTTP)"},
    {.name = "udp-port", .type = SETTING_INT, AT(cfg.udp_port), .min = 0, .max = 65535,
     .word = "off", .word_value = -1, .arg = "PORT",
     .help = "UDP only on PORT ('off' disables UDP)"},
    {.name = "bind", .type = SETTING_LIST, AT(bind), .max = SHOAL_TRACKER_MAX_BINDS,
     .flags = SETTING_NONEMPTY, .arg = "ADDR",
     .help = "listen on ADDR (repeatable; IPv4 or IPv6;\ndefault 0.0.0.0 and ::)"},
    {.name = "data", .type = SETTING_STRING, AT(cfg.data_dir), .flags = SETTING_NONEMPTY,
     .arg = "DIR",
     .help = "hosted torrents live in DIR/torrents (default\n$XDG_DATA_HOME/shoal/tracker, else\n"
             "~/.local/share/shoal/tracker, else ./shoal-tracker-data)"},
    {.name = "add", .type = SETTING_LIST, AT(add), .max = 64, .flags = SETTING_NONEMPTY,
     .arg = "FILE", .help = "host FILE.torrent (repeatable; copied into DIR)"},
    {.name = "upload-token", .type = SETTING_STRING, AT(cfg.upload_token),
     .flags = SETTING_NONEMPTY, .arg = "TOK",
     .help = "enable POST /upload and the upload form, guarded by TOK"},
    {.name = "mode", .type = SETTING_ENUM, AT(cfg.hosted_only), .choices = modes,
     .arg = "open|hosted", .help = "track any info-hash (default) or hosted ones only"},
    {.name = "blocklist", .type = SETTING_STRING, AT(cfg.blocklist), .arg = "FILE",
     .help = "info-hashes never tracked, one hex hash per line\n"
             "(default DIR/blocklist when present; SIGHUP reloads)"},
    {.name = "interval", .type = SETTING_DURATION, AT(cfg.interval), .min = 1, .max = DAY,
     .arg = "SECONDS", .help = "announce interval asked of clients (default 1800)"},
    {.name = "min-interval", .type = SETTING_DURATION, AT(cfg.min_interval), .min = 1,
     .max = DAY, .arg = "S", .help = "minimum interval (default interval / 2)"},
    {.name = "peer-timeout", .type = SETTING_DURATION, AT(cfg.peer_timeout), .min = 1,
     .max = 7 * DAY, .arg = "S",
     .help = "drop peers unseen this long (default the larger of\n2 x interval and "
             "--min-peer-timeout)"},
    {.name = "min-peer-timeout", .type = SETTING_DURATION, AT(cfg.peer_timeout_min), .min = 1,
     .max = 7 * DAY, .arg = "S",
     .help = "floor of the default peer timeout (default 45m:\nclients re-announce on their "
             "own schedule)"},
    {.name = "numwant-max", .type = SETTING_INT, AT(cfg.numwant_max), .min = 1,
     .max = SHOAL_TRACKER_MAX_NUMWANT, .arg = "N",
     .help = "most peers in one reply (default and limit 200)"},
    {.name = "no-full-scrape", .type = SETTING_BOOL, AT(cfg.full_scrape), .yes = 0, .no = 1,
     .help = "refuse /scrape without info_hash"},
    {.name = "trust-ip", .type = SETTING_BOOL, AT(cfg.trust_ip), .yes = 1, .no = 0,
     .help = "honour the announce `ip` parameter (behind a proxy)"},
    {.name = "threads", .type = SETTING_INT, AT(cfg.workers), .min = 1,
     .max = SHOAL_TRACKER_MAX_WORKERS, .arg = "N",
     .help = "worker threads with SO_REUSEPORT sockets (default 1)"},
    {.name = "idle-timeout", .type = SETTING_DURATION, .flags = SETTING_MS,
     AT(cfg.idle_timeout_ms), .min = 1, .max = 3600, .arg = "S",
     .help = "close HTTP connections idle this long (default 15)"},
    {.name = "max-conns", .type = SETTING_INT, AT(cfg.max_conns), .min = 1, .max = 1000000,
     .arg = "N", .help = "HTTP connections per thread (default 4096)"},
    {.name = "upload-memory", .type = SETTING_SIZE, AT(cfg.upload_memory), .min = 1,
     .max = 1u << 30, .arg = "SIZE",
     .help = "upload bodies held in memory at once, all threads\n(default 16M; more get 503)"},
    {.name = "config", .type = SETTING_CONFIG, .arg = "FILE",
     .help = "read options from FILE: one 'option value' per line,\n"
             "names as above without '--'; '#' comments;\ncommand-line options win"},
    {.name = "verbose", .short_name = 'v', .type = SETTING_BOOL, AT(log_level),
     .yes = SHOAL_LOG_DEBUG, .no = SHOAL_LOG_INFO, .help = "log every announce too"},
    {.name = "quiet", .short_name = 'q', .type = SETTING_BOOL, AT(log_level),
     .yes = SHOAL_LOG_WARN, .no = SHOAL_LOG_INFO, .help = "log only warnings and errors"},
    {.name = "help", .short_name = 'h', .type = SETTING_BOOL,
     .flags = SETTING_STOP | SETTING_CMDLINE, .help = "show this help"},
};
#define NOPTIONS (sizeof options / sizeof options[0])

static void usage(FILE *f)
{
  fprintf(f, "usage: shoal tracker [options]\n"
             "\n"
             "An HTTP and UDP BitTorrent tracker (BEP 3, 7, 15, 23, 48) that also hosts\n"
             ".torrent files on a web page at /.\n"
             "\n");
  settings_usage(options, NOPTIONS, f);
  fprintf(f, "\n"
             "Durations (SECONDS, S) are seconds, or a number with a unit: 90s, 30m, 2h, 1d.\n"
             "SIGINT/SIGTERM stop it; SIGHUP reloads DIR/torrents and the blocklist.\n");
}

/* Default data directory: never the current user's home in tests, which
 * always pass --data. */
static const char *default_data_dir(char *buf, size_t cap)
{
  const char *x = getenv("XDG_DATA_HOME");
  const char *home = getenv("HOME");
  if (x && *x)
    snprintf(buf, cap, "%s/shoal/tracker", x);
  else if (home && *home)
    snprintf(buf, cap, "%s/.local/share/shoal/tracker", home);
  else
    snprintf(buf, cap, "shoal-tracker-data");
  return buf;
}

/* Thousands of (idle) connections need thousands of descriptors; the usual
 * soft limit is 1024, so take whatever the hard limit allows. */
static void check_fd_limit(const struct shoal_tracker_config *c)
{
  unsigned long want = (unsigned long)c->max_conns * (unsigned long)c->workers;
  cli_raise_nofile(want + 256);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
    cli_log(SHOAL_LOG_WARN,
            "tracker: only %llu file descriptors for up to %u connections per thread; "
            "raise ulimit -n or lower --max-conns",
            (unsigned long long)rl.rlim_cur, c->max_conns);
}

/* ---- running: loops, threads, signals ---- */

/* A worker thread: its own loop, attached to the tracker on this thread. */
struct worker_thread {
  shoal_tracker *t;
  uv_thread_t tid;
  uv_loop_t loop;
  uv_sem_t attached; /* posted once rc and err are final */
  int rc;
  char err[512];
};

static void worker_thread_main(void *arg)
{
  struct worker_thread *w = arg;
  w->rc = uv_loop_init(&w->loop);
  if (w->rc < 0) {
    snprintf(w->err, sizeof w->err, "worker loop: %s", uv_strerror(w->rc));
    uv_sem_post(&w->attached);
    return;
  }
  w->rc = shoal_tracker_attach_worker(w->t, &w->loop, w->err, sizeof w->err);
  uv_sem_post(&w->attached);
  /* serves until shoal_tracker_close(); after a failed attach it only lets
   * the handles that were opened finish closing */
  uv_run(&w->loop, UV_RUN_DEFAULT);
  uv_loop_close(&w->loop);
}

struct app {
  uv_loop_t loop; /* worker 0's, and the signals' */
  shoal_tracker *t;
  uv_signal_t sig[3];
};

static void stop_signals(struct app *a)
{
  for (int i = 0; i < 3; i++)
    uv_close((uv_handle_t *)&a->sig[i], NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
  struct app *a = h->data;
  if (signum == SIGHUP) {
    char err[512];
    shoal_tracker_reload(a->t, err, sizeof err); /* the library logs the outcome */
    return;
  }
  cli_log(SHOAL_LOG_INFO, "tracker: %s, shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
  stop_signals(a);
  shoal_tracker_close(a->t, NULL, NULL);
}

/* Before the tracker starts: a signal that comes while it starts waits in
 * libuv until the loop runs, instead of killing the process. */
static void start_signals(struct app *a)
{
  static const int signums[3] = {SIGINT, SIGTERM, SIGHUP};
  for (int i = 0; i < 3; i++) {
    uv_signal_init(&a->loop, &a->sig[i]);
    a->sig[i].data = a;
    uv_signal_start(&a->sig[i], on_signal, signums[i]);
  }
}

/* Starts worker threads 1..n-1, one after the other, each attached before
 * the next starts. Returns how many threads run (they must be joined);
 * *failed is set when one could not start or attach (the reason logged). */
static int start_threads(struct app *a, struct worker_thread *wt, int n, int *failed)
{
  for (int i = 0; i < n; i++) {
    wt[i].t = a->t;
    uv_sem_init(&wt[i].attached, 0);
    if (uv_thread_create(&wt[i].tid, worker_thread_main, &wt[i]) != 0) {
      cli_log(SHOAL_LOG_ERROR, "tracker: cannot start worker thread %d", i + 1);
      uv_sem_destroy(&wt[i].attached);
      *failed = 1;
      return i;
    }
    uv_sem_wait(&wt[i].attached);
    uv_sem_destroy(&wt[i].attached);
    if (wt[i].rc < 0) {
      cli_log(SHOAL_LOG_ERROR, "tracker: %s", wt[i].err);
      *failed = 1;
      return i + 1;
    }
  }
  return n;
}

/* Serves until SIGINT or SIGTERM. Returns the exit code: 0 after a clean
 * stop, 1 when the tracker could not start (the reason is logged). */
static int run(const struct shoal_tracker_config *c)
{
  struct app a;
  memset(&a, 0, sizeof a);
  if (uv_loop_init(&a.loop) < 0)
    return 1;
  check_fd_limit(c);
  start_signals(&a);
  char err[512];
  int rc = shoal_tracker_new(&a.loop, c, &a.t, err, sizeof err);
  if (rc < 0) {
    cli_log(SHOAL_LOG_ERROR, "tracker: %s", err);
    stop_signals(&a);
    uv_run(&a.loop, UV_RUN_DEFAULT); /* handles opened before the failure close */
    uv_loop_close(&a.loop);
    return 1;
  }
  struct worker_thread *wt = calloc((size_t)c->workers, sizeof *wt);
  int failed = !wt, nthreads = 0;
  if (wt)
    nthreads = start_threads(&a, wt, c->workers - 1, &failed);
  if (failed) {
    stop_signals(&a);
    shoal_tracker_close(a.t, NULL, NULL);
  }
  uv_run(&a.loop, UV_RUN_DEFAULT);
  /* the tracker is closed: every worker loop has ended or is ending */
  for (int i = 0; i < nthreads; i++)
    uv_thread_join(&wt[i].tid);
  free(wt);
  uv_loop_close(&a.loop);
  return failed ? 1 : 0;
}

/* The options that depend on others, and the ones the settings table cannot
 * express. Returns 0, or 2 after saying what is wrong. */
static int finish_config(struct settings *st, struct tracker_opts *o, char *datadir, size_t cap)
{
  struct shoal_tracker_config *c = &o->cfg;
  if (settings_is_set(st, "port")) {
    if (!settings_is_set(st, "http-port"))
      c->http_port = o->port;
    if (!settings_is_set(st, "udp-port"))
      c->udp_port = o->port;
  }
  if (c->http_port < 0 && c->udp_port < 0) {
    fprintf(stderr, "shoal tracker: both HTTP and UDP are off; nothing to serve\n");
    return 2;
  }
  c->bind = o->bind.v;
  c->nbind = o->bind.n;
  c->add = o->add.v;
  c->nadd = o->add.n;
  if (!c->data_dir)
    c->data_dir = default_data_dir(datadir, cap);
  return 0;
}

int cmd_tracker(int argc, char **argv)
{
  struct tracker_opts o;
  memset(&o, 0, sizeof o);
  shoal_tracker_config_default(&o.cfg);
  o.log_level = SHOAL_LOG_INFO;
  struct settings st;
  int first = argc, rc = settings_init(&st, options, NOPTIONS, &o);
  if (rc == 0)
    rc = settings_parse_args(&st, argc, argv, &first);
  if (rc == 1) {
    usage(stdout);
    rc = 0;
  } else if (rc < 0) {
    if (st.err[0])
      fprintf(stderr, "shoal tracker: %s\n", st.err);
    else
      usage(stderr); /* getopt_long has said what is wrong */
    rc = 2;
  } else if (first < argc) {
    fprintf(stderr, "shoal tracker: unexpected argument '%s'\n", argv[first]);
    usage(stderr);
    rc = 2;
  } else {
    char datadir[4096];
    shoal_log_set_level((enum shoal_log_level)o.log_level);
    rc = finish_config(&st, &o, datadir, sizeof datadir);
    if (rc == 0)
      rc = run(&o.cfg);
  }
  settings_free(&st);
  return rc;
}
