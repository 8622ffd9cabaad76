/* shoal daemon: the app around the library's daemon (include/shoal.h,
 * "The daemon"). It reads the options (command line, then settings.json
 * with Transmission's key names, through cli/settings.c), picks the XDG
 * folders, owns the loop and the signals (SIGINT and SIGTERM stop
 * gracefully, SIGHUP re-reads settings.json) and runs the loop. */
#include <errno.h>
#include <jansson.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "commands.h"
#include "settings.h"
#include "shoal.h"
#include "util.h"

struct daemon_opts {
  struct shoal_daemon_config c;
  const char *config_dir;
  const char *ratio;             /* a double: parsed after the table */
  int peer_port;
  const char *peer_bind;
  int log_level;
  int foreground;
};

#define AT(f) SETTING_AT(struct daemon_opts, f)
#define BOOL_OPT(n, f, h) {.name = n, .alias = n, .type = SETTING_BOOL, AT(f), .yes = 1, .no = 0, .help = h}
#define KBS(n, f, h) {.name = n, .alias = n, .type = SETTING_INT, AT(f), .min = 0, .max = 1 << 30, .arg = "KB/S", .help = h}

static const char *const levels[] = {"error", "warn", "info", "debug", NULL};

static const struct setting options[] = {
    {.name = "config-dir", .short_name = 'g', .type = SETTING_STRING, .flags = SETTING_CMDLINE | SETTING_NONEMPTY,
     AT(config_dir), .arg = "DIR",
     .help = "settings.json and state.db live in DIR (default\n$XDG_CONFIG_HOME/shoal and $XDG_DATA_HOME/shoal)"},
    {.name = "download-dir", .alias = "download-dir", .short_name = 'w', .type = SETTING_STRING,
     .flags = SETTING_NONEMPTY, AT(c.download_dir), .arg = "DIR", .help = "where torrents' data goes"},
    {.name = "incomplete-dir", .alias = "incomplete-dir", .type = SETTING_STRING, AT(c.incomplete_dir),
     .arg = "DIR", .help = "unfinished downloads live here"},
    BOOL_OPT("incomplete-dir-enabled", c.incomplete_dir_enabled, "use --incomplete-dir"),
    {.name = "watch-dir", .alias = "watch-dir", .type = SETTING_STRING, AT(c.watch_dir), .arg = "DIR",
     .help = ".torrent files dropped in DIR are added"},
    BOOL_OPT("watch-dir-enabled", c.watch_dir_enabled, "use --watch-dir"),
    BOOL_OPT("trash-original-torrent-files", c.trash_original,
             "delete an added watch file (default: rename it .added)"),
    BOOL_OPT("start-added-torrents", c.start_added_torrents, "start torrents when added (default yes)"),
    {.name = "rpc-port", .alias = "rpc-port", .short_name = 'p', .type = SETTING_INT, AT(c.rpc_port),
     .min = 0, .max = 65535, .arg = "PORT", .help = "RPC and web page on PORT (default 9091)"},
    {.name = "rpc-bind", .alias = "rpc-bind-address", .short_name = 'r', .type = SETTING_STRING,
     .flags = SETTING_NONEMPTY, AT(c.rpc_bind), .arg = "ADDR",
     .help = "RPC listens on ADDR (default 127.0.0.1)"},
    BOOL_OPT("rpc-authentication-required", c.rpc_auth, "ask for --rpc-username and --rpc-password"),
    {.name = "rpc-username", .alias = "rpc-username", .type = SETTING_STRING, AT(c.rpc_username),
     .arg = "NAME", .help = "RPC user name"},
    {.name = "rpc-password", .alias = "rpc-password", .type = SETTING_STRING, AT(c.rpc_password),
     .arg = "PW", .help = "RPC password"},
    BOOL_OPT("rpc-whitelist-enabled", c.rpc_whitelist_enabled, "check client addresses (default yes)"),
    {.name = "rpc-whitelist", .alias = "rpc-whitelist", .type = SETTING_STRING, AT(c.rpc_whitelist),
     .arg = "LIST", .help = "client addresses allowed, comma separated, '*'\nwildcards (default 127.0.0.1,::1)"},
    BOOL_OPT("rpc-host-whitelist-enabled", c.rpc_host_whitelist_enabled,
             "check the Host header (default yes)"),
    {.name = "rpc-host-whitelist", .alias = "rpc-host-whitelist", .type = SETTING_STRING,
     AT(c.rpc_host_whitelist), .arg = "LIST", .help = "host names allowed besides addresses and localhost"},
    {.name = "web-root", .type = SETTING_STRING, .flags = SETTING_NONEMPTY, AT(c.web_root), .arg = "DIR",
     .help = "serve another web client's files (e.g.\n/usr/share/transmission/web)"},
    {.name = "peer-port", .alias = "peer-port", .short_name = 'P', .type = SETTING_INT, AT(peer_port),
     .min = 0, .max = 65535, .arg = "PORT", .help = "BitTorrent port, TCP and UDP (default 51413)",
     .def = "51413"},
    {.name = "bind-address-ipv4", .alias = "bind-address-ipv4", .type = SETTING_STRING, AT(peer_bind),
     .arg = "ADDR", .help = "BitTorrent listens on ADDR (default all)"},
    {.name = "peer-limit-global", .alias = "peer-limit-global", .type = SETTING_INT,
     AT(c.session.max_peers_total), .min = 1, .max = 100000, .arg = "N", .help = "peers in all"},
    {.name = "peer-limit-per-torrent", .alias = "peer-limit-per-torrent", .type = SETTING_INT,
     AT(c.session.max_peers_per_torrent), .min = 1, .max = 10000, .arg = "N", .help = "peers per torrent"},
    KBS("speed-limit-up", c.speed_limit_up, "upload limit"),
    BOOL_OPT("speed-limit-up-enabled", c.speed_limit_up_enabled, "apply it"),
    KBS("speed-limit-down", c.speed_limit_down, "download limit"),
    BOOL_OPT("speed-limit-down-enabled", c.speed_limit_down_enabled, "apply it"),
    KBS("alt-speed-up", c.alt_speed_up, "alternative upload limit"),
    KBS("alt-speed-down", c.alt_speed_down, "alternative download limit"),
    BOOL_OPT("alt-speed-enabled", c.alt_speed_enabled, "use the alternative limits"),
    BOOL_OPT("alt-speed-time-enabled", c.alt_speed_time_enabled, "switch them by the schedule"),
    {.name = "alt-speed-time-begin", .alias = "alt-speed-time-begin", .type = SETTING_INT,
     AT(c.alt_speed_time_begin), .min = 0, .max = 1439, .arg = "MIN", .help = "minutes after midnight"},
    {.name = "alt-speed-time-end", .alias = "alt-speed-time-end", .type = SETTING_INT,
     AT(c.alt_speed_time_end), .min = 0, .max = 1439, .arg = "MIN", .help = "minutes after midnight"},
    {.name = "alt-speed-time-day", .alias = "alt-speed-time-day", .type = SETTING_INT,
     AT(c.alt_speed_time_day), .min = 0, .max = 127, .arg = "BITS", .help = "Sunday 1, Monday 2, ... Saturday 64"},
    BOOL_OPT("download-queue-enabled", c.download_queue_enabled, "limit running downloads"),
    {.name = "download-queue-size", .alias = "download-queue-size", .type = SETTING_INT,
     AT(c.download_queue_size), .min = 0, .max = 1 << 20, .arg = "N", .help = "downloads at once (5)"},
    BOOL_OPT("seed-queue-enabled", c.seed_queue_enabled, "limit running seeds"),
    {.name = "seed-queue-size", .alias = "seed-queue-size", .type = SETTING_INT, AT(c.seed_queue_size),
     .min = 0, .max = 1 << 20, .arg = "N", .help = "seeds at once (10)"},
    BOOL_OPT("queue-stalled-enabled", c.queue_stalled_enabled, "stalled torrents take no slot"),
    {.name = "queue-stalled-minutes", .alias = "queue-stalled-minutes", .type = SETTING_INT,
     AT(c.queue_stalled_minutes), .min = 1, .max = 1 << 20, .arg = "MIN", .help = "stalled after (30)"},
    {.name = "ratio-limit", .alias = "ratio-limit", .type = SETTING_STRING, AT(ratio), .arg = "R",
     .help = "seeding stops at this ratio (2.0)"},
    BOOL_OPT("ratio-limit-enabled", c.ratio_limit_enabled, "apply it"),
    {.name = "idle-seeding-limit", .alias = "idle-seeding-limit", .type = SETTING_INT,
     AT(c.idle_seeding_limit), .min = 1, .max = 1 << 20, .arg = "MIN", .help = "seeding stops idle this long"},
    BOOL_OPT("idle-seeding-limit-enabled", c.idle_seeding_limit_enabled, "apply it"),
    {.name = "dormant-after", .alias = "dormant-after", .type = SETTING_INT, AT(c.dormant_after_s),
     .min = 0, .max = 1 << 24, .arg = "SEC", .help = "a whole seed with no peer sleeps out of memory\nafter this long idle (30; 0: never)"},
    {.name = "log-level", .type = SETTING_ENUM, AT(log_level), .choices = levels,
     .arg = "LEVEL", .help = "error, warn, info (default) or debug"},
    {.name = "foreground", .short_name = 'f', .type = SETTING_BOOL, AT(foreground), .yes = 1, .no = 1,
     .flags = SETTING_CMDLINE, .help = "accepted for transmission-daemon's sake: shoal\ndaemon always runs in the foreground"},
    {.name = "help", .short_name = 'h', .type = SETTING_BOOL, .flags = SETTING_STOP | SETTING_CMDLINE,
     .help = "show this help"},
};
#define NOPTIONS (sizeof options / sizeof options[0])

static void usage(FILE *f)
{
  fprintf(f, "usage: shoal daemon [options]\n"
             "\n"
             "A long-running BitTorrent client driven by Transmission's RPC\n"
             "(transmission-remote, web clients, automation tools) with a web page\n"
             "at http://127.0.0.1:9091/ and its state in SQLite. Runs in the\n"
             "foreground, logs to stderr.\n\n");
  settings_usage(options, NOPTIONS, f);
  fprintf(f, "\nsettings.json in the config folder is read with Transmission's key\n"
             "names (unknown keys are ignored); command-line options win. SIGINT and\n"
             "SIGTERM stop gracefully; SIGHUP re-reads settings.json.\n");
}

/* ---- settings.json ---- */

/* Each key the table knows (by its Transmission alias, or its name) as
 * text for settings_set; unknown keys are another client's and stay. */
static int load_json(struct settings *st, const char *path)
{
  json_error_t e;
  json_t *root = json_load_file(path, 0, &e);
  if (!root) {
    if (e.line < 0 || e.position == 0) {
      FILE *f = fopen(path, "r");
      if (!f)
        return 0; /* no file: the defaults */
      fclose(f);
    }
    snprintf(st->err, sizeof st->err, "%s:%d: %s", path, e.line, e.text);
    return -EINVAL;
  }
  if (!json_is_object(root)) {
    json_decref(root);
    snprintf(st->err, sizeof st->err, "%s: not a JSON object", path);
    return -EINVAL;
  }
  const char *k;
  json_t *v;
  int rc = 0;
  json_object_foreach(root, k, v)
  {
    const struct setting *o = settings_find_alias(st, k);
    if (!o && !(o = settings_find(st, k)))
      continue;
    if (o->flags & SETTING_CMDLINE)
      continue;
    char text[64], label[512];
    const char *val = text;
    if (json_is_string(v))
      val = json_string_value(v);
    else if (json_is_integer(v))
      snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
      snprintf(text, sizeof text, "%g", json_real_value(v));
    else if (json_is_boolean(v))
      snprintf(text, sizeof text, "%s", json_is_true(v) ? "true" : "false");
    else
      continue;
    snprintf(label, sizeof label, "%s: %s", path, k);
    if ((rc = settings_set(st, o, val, SETTINGS_FILE, label)) < 0)
      break;
  }
  json_decref(root);
  return rc;
}

/* The XDG folders, or --config-dir for both (as transmission-daemon's -g). */
static void folders(struct daemon_opts *o, char *cfg, char *state, char *dl, size_t cap)
{
  const char *home = getenv("HOME");
  const char *xc = getenv("XDG_CONFIG_HOME"), *xd = getenv("XDG_DATA_HOME");
  if (o->config_dir) {
    snprintf(cfg, cap, "%s", o->config_dir);
    snprintf(state, cap, "%s", o->config_dir);
  } else {
    if (xc && *xc)
      snprintf(cfg, cap, "%s/shoal", xc);
    else
      snprintf(cfg, cap, "%s/.config/shoal", home ? home : ".");
    if (xd && *xd)
      snprintf(state, cap, "%s/shoal", xd);
    else
      snprintf(state, cap, "%s/.local/share/shoal", home ? home : ".");
  }
  snprintf(dl, cap, "%s/Downloads", home ? home : ".");
}

static int mkdirs(const char *path)
{
  char p[4096];
  snprintf(p, sizeof p, "%s", path);
  for (char *s = p + 1; *s; s++)
    if (*s == '/') {
      *s = 0;
      mkdir(p, 0755);
      *s = '/';
    }
  return mkdir(p, 0755) == 0 || errno == EEXIST ? 0 : -errno;
}

/* Everything that makes the config: defaults, settings.json, then the
 * command line again (run at start and on SIGHUP). */
struct app {
  int argc;
  char **argv;
  struct daemon_opts o;
  struct settings st;
  char cfgdir[4096], statedir[4096], dldir[4096], settings_path[4200];
  uv_loop_t loop;
  shoal_daemon *d;
  uv_signal_t sig[3];
  int stopping;
};

static int configure(struct app *a)
{
  struct daemon_opts *o = &a->o;
  memset(o, 0, sizeof *o);
  shoal_daemon_config_default(&o->c);
  o->log_level = SHOAL_LOG_INFO;
  int first = a->argc;
  int rc = settings_init(&a->st, options, NOPTIONS, o);
  if (rc == 0)
    rc = settings_parse_args(&a->st, a->argc, a->argv, &first);
  if (rc != 0)
    return rc;
  if (first < a->argc) {
    snprintf(a->st.err, sizeof a->st.err, "unexpected argument '%s'", a->argv[first]);
    return -EINVAL;
  }
  folders(o, a->cfgdir, a->statedir, a->dldir, sizeof a->cfgdir);
  snprintf(a->settings_path, sizeof a->settings_path, "%s/settings.json", a->cfgdir);
  if ((rc = load_json(&a->st, a->settings_path)) < 0)
    return rc;
  if (o->ratio) {
    char *end;
    double r = strtod(o->ratio, &end);
    if (*end || r < 0) {
      snprintf(a->st.err, sizeof a->st.err, "ratio-limit %s: expected a number", o->ratio);
      return -EINVAL;
    }
    o->c.ratio_limit = r;
  }
  if (!o->c.download_dir)
    o->c.download_dir = a->dldir;
  o->c.state_dir = a->statedir;
  o->c.settings_file = a->settings_path;
  o->c.session.port = (uint16_t)o->peer_port;
  o->c.session.bind[0] = o->peer_bind;
  return 0;
}

/* ---- running ---- */

static void stop(struct app *a)
{
  if (a->stopping)
    return;
  a->stopping = 1;
  for (int i = 0; i < 3; i++)
    uv_close((uv_handle_t *)&a->sig[i], NULL);
  shoal_daemon_close(a->d, NULL, NULL);
}

static void on_close_request(void *ud) { stop(ud); }

static void reload(struct app *a)
{
  struct settings old = a->st;
  struct daemon_opts keep = a->o;
  if (configure(a) < 0) {
    cli_log(SHOAL_LOG_ERROR, "daemon: SIGHUP: %s; the settings stay as they were", a->st.err);
    settings_free(&a->st);
    a->st = old;
    a->o = keep;
    return;
  }
  a->o.c.on_close_request = on_close_request;
  a->o.c.ud = a;
  char err[512];
  shoal_log_set_level((enum shoal_log_level)a->o.log_level);
  if (shoal_daemon_reconfigure(a->d, &a->o.c, err, sizeof err) < 0)
    cli_log(SHOAL_LOG_ERROR, "daemon: SIGHUP: %s", err);
  settings_free(&old); /* the daemon copied what it keeps */
}

static void on_signal(uv_signal_t *h, int signum)
{
  struct app *a = h->data;
  if (signum == SIGHUP) {
    cli_log(SHOAL_LOG_INFO, "daemon: SIGHUP, reading %s again", a->settings_path);
    reload(a);
    return;
  }
  cli_log(SHOAL_LOG_INFO, "daemon: %s, shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
  stop(a);
}

static int run(struct app *a)
{
  if (uv_loop_init(&a->loop) < 0)
    return 1;
  signal(SIGPIPE, SIG_IGN);
  cli_raise_nofile(65536);
#ifdef __GLIBC__
  /* A daemon idles on many small blocks and now and then builds a reply
   * of megabytes (torrent-get of 10,000 torrents: 5 MB). glibc would
   * raise its mmap threshold to that size after the first one and keep
   * the next ones' memory in the heap once freed (5 MB more resident
   * for ever); a fixed threshold sends each back when it is freed. */
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
  static const int signums[3] = {SIGINT, SIGTERM, SIGHUP};
  for (int i = 0; i < 3; i++) {
    uv_signal_init(&a->loop, &a->sig[i]);
    a->sig[i].data = a;
    uv_signal_start(&a->sig[i], on_signal, signums[i]);
  }
  a->o.c.on_close_request = on_close_request;
  a->o.c.ud = a;
  char err[512];
  int rc = shoal_daemon_new(&a->loop, &a->o.c, &a->d, err, sizeof err);
  if (rc < 0) {
    cli_log(SHOAL_LOG_ERROR, "daemon: %s", err);
    for (int i = 0; i < 3; i++)
      uv_close((uv_handle_t *)&a->sig[i], NULL);
    uv_run(&a->loop, UV_RUN_DEFAULT);
    uv_loop_close(&a->loop);
    return 1;
  }
  uv_run(&a->loop, UV_RUN_DEFAULT);
  uv_loop_close(&a->loop);
  cli_log(SHOAL_LOG_INFO, "daemon: stopped");
  return 0;
}

int cmd_daemon(int argc, char **argv)
{
  struct app *a = calloc(1, sizeof *a);
  if (!a)
    return 1;
  a->argc = argc;
  a->argv = argv;
  int rc = configure(a);
  if (rc == 1) {
    usage(stdout);
    rc = 0;
  } else if (rc < 0) {
    if (a->st.err[0])
      fprintf(stderr, "shoal daemon: %s\n", a->st.err);
    else
      usage(stderr);
    rc = 2;
  } else if (mkdirs(a->cfgdir) < 0 || mkdirs(a->statedir) < 0) {
    fprintf(stderr, "shoal daemon: cannot create %s or %s: %s\n", a->cfgdir, a->statedir,
            strerror(errno));
    rc = 1;
  } else {
    shoal_log_set_level((enum shoal_log_level)a->o.log_level);
    rc = run(a);
  }
  settings_free(&a->st);
  free(a);
  return rc;
}
