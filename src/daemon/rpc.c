/* Transmission's RPC (version 17): a table from method name to function.
 * Requests are JSON objects {method, arguments, tag}; every reply is
 * {result, arguments, tag} with result "success" or a sentence, the way
 * Transmission words them, never a crash. This file holds the dispatch
 * and the session-* methods; rpc_torrent.c and rpc_get.c the torrents. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/log.h"
#include "daemon/daemon.h"
#include "daemon/store.h"
#include "daemon/tick.h"

#define RPC_VERSION 17
#define RPC_VERSION_MIN 14
/* Automation tools read `version` to decide what to send; they parse
 * "major.minor" and want Transmission 2.40 or later. */
#define VERSION_STRING "4.0.6 (shoal " SHOAL_VERSION ")"

/* ---- session settings as Transmission names them ---- */

enum stype { S_INT, S_BOOL, S_DOUBLE, S_DIR };
struct skey {
  const char *name;
  enum stype type;
  size_t off;
  int min, max;
};
#define C(f) offsetof(struct shoal_daemon_config, f)
static const struct skey skeys[] = {
    {"alt-speed-down", S_INT, C(alt_speed_down), 0, 1 << 30},
    {"alt-speed-enabled", S_BOOL, C(alt_speed_enabled), 0, 1},
    {"alt-speed-time-begin", S_INT, C(alt_speed_time_begin), 0, 1439},
    {"alt-speed-time-day", S_INT, C(alt_speed_time_day), 0, 127},
    {"alt-speed-time-enabled", S_BOOL, C(alt_speed_time_enabled), 0, 1},
    {"alt-speed-time-end", S_INT, C(alt_speed_time_end), 0, 1439},
    {"alt-speed-up", S_INT, C(alt_speed_up), 0, 1 << 30},
    {"download-dir", S_DIR, C(download_dir), 0, 0},
    {"download-queue-enabled", S_BOOL, C(download_queue_enabled), 0, 1},
    {"download-queue-size", S_INT, C(download_queue_size), 0, 1 << 20},
    {"idle-seeding-limit", S_INT, C(idle_seeding_limit), 1, 1 << 20},
    {"idle-seeding-limit-enabled", S_BOOL, C(idle_seeding_limit_enabled), 0, 1},
    {"incomplete-dir", S_DIR, C(incomplete_dir), 0, 0},
    {"incomplete-dir-enabled", S_BOOL, C(incomplete_dir_enabled), 0, 1},
    {"queue-stalled-enabled", S_BOOL, C(queue_stalled_enabled), 0, 1},
    {"queue-stalled-minutes", S_INT, C(queue_stalled_minutes), 1, 1 << 20},
    {"seed-queue-enabled", S_BOOL, C(seed_queue_enabled), 0, 1},
    {"seed-queue-size", S_INT, C(seed_queue_size), 0, 1 << 20},
    {"seedRatioLimit", S_DOUBLE, C(ratio_limit), 0, 0},
    {"seedRatioLimited", S_BOOL, C(ratio_limit_enabled), 0, 1},
    {"speed-limit-down", S_INT, C(speed_limit_down), 0, 1 << 30},
    {"speed-limit-down-enabled", S_BOOL, C(speed_limit_down_enabled), 0, 1},
    {"speed-limit-up", S_INT, C(speed_limit_up), 0, 1 << 30},
    {"speed-limit-up-enabled", S_BOOL, C(speed_limit_up_enabled), 0, 1},
    {"start-added-torrents", S_BOOL, C(start_added_torrents), 0, 1},
    {"trash-original-torrent-files", S_BOOL, C(trash_original), 0, 1},
};
#undef C
#define NSKEYS (sizeof skeys / sizeof skeys[0])

/* settings.json's names where they differ from the RPC's */
static const char *file_key(const char *rpc)
{
  if (!strcmp(rpc, "seedRatioLimit"))
    return "ratio-limit";
  if (!strcmp(rpc, "seedRatioLimited"))
    return "ratio-limit-enabled";
  return rpc;
}

static json_t *skey_get(const struct shoal_daemon *d, const struct skey *k)
{
  const char *p = (const char *)&d->cfg + k->off;
  switch (k->type) {
  case S_INT: return json_integer(*(const int *)p);
  case S_BOOL: return json_boolean(*(const int *)p);
  case S_DOUBLE: return json_real(*(const double *)p);
  case S_DIR: {
    const char *s = *(const char *const *)p;
    return json_string(s ? s : "");
  }
  }
  return json_null();
}

static int free_space(const char *dir, int64_t *out)
{
  struct statvfs v;
  if (!dir || statvfs(dir, &v) < 0)
    return -errno;
  *out = (int64_t)v.f_bavail * (int64_t)v.f_frsize;
  return 0;
}

static const char *session_get(struct shoal_daemon *d, json_t *args, json_t *out)
{
  (void)args;
  for (size_t i = 0; i < NSKEYS; i++)
    json_object_set_new(out, skeys[i].name, skey_get(d, &skeys[i]));
  const struct shoal_settings *s = &d->cfg.session;
  int64_t fs = -1;
  free_space(d->cfg.download_dir, &fs);
  json_object_set_new(out, "download-dir-free-space", json_integer(fs));
  json_object_set_new(out, "peer-limit-global", json_integer(s->max_peers_total));
  json_object_set_new(out, "peer-limit-per-torrent", json_integer(s->max_peers_per_torrent));
  json_object_set_new(out, "peer-port", json_integer(shoal_session_port(d->sess)));
  json_object_set_new(out, "peer-port-random-on-start", json_false());
  json_object_set_new(out, "port-forwarding-enabled", json_false());
  json_object_set_new(out, "blocklist-enabled", json_false());
  json_object_set_new(out, "blocklist-size", json_integer(0));
  json_object_set_new(out, "blocklist-url", json_string(""));
  json_object_set_new(out, "cache-size-mb", json_integer((json_int_t)(s->read_cache_bytes >> 20)));
  json_object_set_new(out, "config-dir", json_string(d->cfg.state_dir));
  json_object_set_new(out, "dht-enabled", json_false());
  json_object_set_new(out, "pex-enabled", json_false());
  json_object_set_new(out, "lpd-enabled", json_false());
  json_object_set_new(out, "utp-enabled", json_false());
  json_object_set_new(out, "encryption", json_string("tolerated"));
  json_object_set_new(out, "rename-partial-files", json_false());
  json_object_set_new(out, "script-torrent-done-enabled", json_false());
  json_object_set_new(out, "script-torrent-done-filename", json_string(""));
  json_object_set_new(out, "rpc-version", json_integer(RPC_VERSION));
  json_object_set_new(out, "rpc-version-minimum", json_integer(RPC_VERSION_MIN));
  json_object_set_new(out, "rpc-version-semver", json_string("5.3.0"));
  json_object_set_new(out, "session-id", json_string(d->session_id));
  json_object_set_new(out, "version", json_string(VERSION_STRING));
  json_t *units = json_pack("{s:[s,s,s,s],s:i,s:[s,s,s,s],s:i,s:[s,s,s,s],s:i}", "speed-units",
                            "kB/s", "MB/s", "GB/s", "TB/s", "speed-bytes", 1000, "size-units", "kB",
                            "MB", "GB", "TB", "size-bytes", 1000, "memory-units", "KiB", "MiB",
                            "GiB", "TiB", "memory-bytes", 1024);
  json_object_set_new(out, "units", units);
  return NULL;
}

/* Writes the changed keys into settings.json: read, merge, write a
 * temporary file, fsync, rename, so the file is never half written. */
static int save_settings(struct shoal_daemon *d, json_t *changed)
{
  const char *path = d->cfg.settings_file;
  if (!path)
    return 0;
  json_t *root = json_load_file(path, 0, NULL);
  if (!json_is_object(root)) {
    json_decref(root);
    root = json_object();
  }
  const char *k;
  json_t *v;
  json_object_foreach(changed, k, v) json_object_set(root, file_key(k), v);
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int rc = json_dump_file(root, tmp, JSON_INDENT(4) | JSON_SORT_KEYS);
  json_decref(root);
  int fd = rc == 0 ? open(tmp, O_RDONLY | O_CLOEXEC) : -1;
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  if (rc < 0 || rename(tmp, path) < 0) {
    sh_warn("daemon: cannot save %s", path);
    unlink(tmp);
    return -EIO;
  }
  return 0;
}

/* One key of session-set: NULL when taken, else why not. */
static const char *set_one(struct shoal_daemon *d, const struct skey *k, json_t *v)
{
  char *p = (char *)&d->cfg + k->off;
  switch (k->type) {
  case S_INT:
    if (!json_is_integer(v) || json_integer_value(v) < k->min || json_integer_value(v) > k->max)
      return "invalid argument";
    *(int *)p = (int)json_integer_value(v);
    return NULL;
  case S_BOOL:
    if (!json_is_boolean(v) && !json_is_integer(v))
      return "invalid argument";
    *(int *)p = json_is_true(v) || (json_is_integer(v) && json_integer_value(v));
    return NULL;
  case S_DOUBLE:
    if (!json_is_number(v) || json_number_value(v) < 0)
      return "invalid argument";
    *(double *)p = json_number_value(v);
    return NULL;
  case S_DIR: {
    const char *s = json_string_value(v);
    if (!s || !sh_rpc_dir_ok(s))
      return "download directory path is not absolute";
    char *copy = strdup(s);
    if (!copy)
      return "out of memory";
    size_t slot = k->off == offsetof(struct shoal_daemon_config, download_dir) ? 1 : 2;
    free(d->strs[slot]);
    d->strs[slot] = copy;
    *(const char **)p = copy;
    return NULL;
  }
  }
  return "invalid argument";
}

static const char *session_set(struct shoal_daemon *d, json_t *args, json_t *out)
{
  (void)out;
  /* check everything first, so a bad key changes nothing */
  struct shoal_daemon_config before = d->cfg;
  json_t *changed = json_object();
  const char *why = NULL, *key;
  json_t *v;
  json_object_foreach(args, key, v)
  {
    for (size_t i = 0; i < NSKEYS && !why; i++)
      if (!strcmp(key, skeys[i].name)) {
        why = set_one(d, &skeys[i], v);
        json_object_set(changed, key, v);
      }
    if (!why && !strcmp(key, "peer-limit-global") && json_is_integer(v) &&
        json_integer_value(v) > 0)
      d->cfg.session.max_peers_total = (int)json_integer_value(v);
    if (!why && !strcmp(key, "peer-limit-per-torrent") && json_is_integer(v) &&
        json_integer_value(v) > 0)
      d->cfg.session.max_peers_per_torrent = (int)json_integer_value(v);
    if (why)
      break;
  }
  if (why) {
    /* directories already replaced stay owned by d->strs; the rest goes back */
    const char *dl = d->cfg.download_dir, *inc = d->cfg.incomplete_dir;
    d->cfg = before;
    d->cfg.download_dir = dl;
    d->cfg.incomplete_dir = inc;
    json_decref(changed);
    return why;
  }
  if (json_object_get(changed, "alt-speed-time-enabled"))
    d->sched_active = -1; /* decide again at the next tick */
  d->idle_due = 1;        /* limits may have changed: look at every torrent */
  sh_daemon_apply_speeds(d);
  sh_daemon_run_queues(d);
  int rc = save_settings(d, changed);
  json_decref(changed);
  return rc < 0 ? "cannot save the settings file" : NULL;
}

static json_t *stats_obj(uint64_t up, uint64_t down, uint64_t files, uint64_t sessions,
                         int64_t secs)
{
  return json_pack("{s:I,s:I,s:I,s:I,s:I}", "uploadedBytes", (json_int_t)up, "downloadedBytes",
                   (json_int_t)down, "filesAdded", (json_int_t)files, "sessionCount",
                   (json_int_t)sessions, "secondsActive", (json_int_t)secs);
}

static const char *session_stats(struct shoal_daemon *d, json_t *args, json_t *out)
{
  (void)args;
  size_t active = 0, paused = 0;
  uint64_t up = 0, down = 0, run_up = 0, run_down = 0;
  struct shoal_status st;
  for (size_t i = 0; i < d->ntor; i++) {
    if (sh_daemon_status_of(d, d->tor[i], &st) < 0)
      continue;
    if (st.state == SHOAL_PAUSED || st.state == SHOAL_ERROR)
      paused++;
    else
      active++;
    up += st.up_rate;
    down += st.down_rate;
    run_up += st.uploaded;
    run_down += st.downloaded;
  }
  int64_t now = sh_daemon_now(), run = now - d->started_at;
  json_object_set_new(out, "activeTorrentCount", json_integer((json_int_t)active));
  json_object_set_new(out, "pausedTorrentCount", json_integer((json_int_t)paused));
  json_object_set_new(out, "torrentCount", json_integer((json_int_t)d->ntor));
  json_object_set_new(out, "uploadSpeed", json_integer((json_int_t)up));
  json_object_set_new(out, "downloadSpeed", json_integer((json_int_t)down));
  json_object_set_new(out, "current-stats", stats_obj(run_up, run_down, d->files_added, 1, run));
  json_object_set_new(out, "cumulative-stats", stats_obj(d->up_total, d->down_total,
                                                         d->files_added, d->sessions,
                                                         d->seconds_active + run));
  return NULL;
}

static const char *session_close(struct shoal_daemon *d, json_t *args, json_t *out)
{
  (void)args;
  (void)out;
  sh_info("daemon: session-close asked over RPC");
  if (d->cfg.on_close_request)
    d->cfg.on_close_request(d->cfg.ud);
  return NULL;
}

static const char *blocklist_update(struct shoal_daemon *d, json_t *args, json_t *out)
{
  (void)d;
  (void)args;
  json_object_set_new(out, "blocklist-size", json_integer(0));
  return NULL;
}

/* Whether the peer port accepts connections, checked here (no outside
 * service is asked): a connect to it on loopback. */
static const char *port_test(struct shoal_daemon *d, json_t *args, json_t *out)
{
  (void)args;
  json_object_set_new(out, "port-is-open", json_boolean(shoal_session_port(d->sess) != 0 &&
                                                        !d->cfg.session.no_listen));
  return NULL;
}

static const char *free_space_m(struct shoal_daemon *d, json_t *args, json_t *out)
{
  (void)d;
  const char *path = json_string_value(json_object_get(args, "path"));
  if (!path || !sh_rpc_dir_ok(path))
    return "directory path is not absolute";
  int64_t n = -1;
  int rc = free_space(path, &n);
  json_object_set_new(out, "path", json_string(path));
  json_object_set_new(out, "size-bytes", json_integer(n));
  json_object_set_new(out, "total_size", json_integer(n));
  return rc < 0 ? strerror(-rc) : NULL;
}

/* ---- the queue ---- */

static int by_pos(const void *a, const void *b)
{
  const struct dtor *x = *(struct dtor *const *)a, *y = *(struct dtor *const *)b;
  return x->queue_pos < y->queue_pos ? -1 : x->queue_pos > y->queue_pos;
}

/* Moves the selected torrents: how -2 top, -1 up, 1 down, 2 bottom. */
static const char *queue_move(struct shoal_daemon *d, json_t *args, int how)
{
  size_t n = d->ntor;
  struct dtor **q = malloc((n ? n : 1) * sizeof *q), **sel = NULL;
  size_t nsel = 0;
  if (!q || sh_rpc_select(d, json_object_get(args, "ids"), &sel, &nsel) < 0) {
    free(q);
    free(sel);
    return "out of memory";
  }
  memcpy(q, d->tor, n * sizeof *q);
  qsort(q, n, sizeof *q, by_pos);
  for (size_t i = 0; i < n; i++)
    q[i]->queue_pos = (int64_t)i * 2 + 1; /* room to slip in between */
  for (size_t k = 0; k < nsel; k++) {
    struct dtor *t = sel[k];
    if (how == -2)
      t->queue_pos = -(int64_t)(nsel - k);
    else if (how == 2)
      t->queue_pos = (int64_t)(2 * n + k + 2);
    else
      t->queue_pos += how * 3; /* past the neighbour, at its side */
  }
  qsort(q, n, sizeof *q, by_pos);
  for (size_t i = 0; i < n; i++)
    q[i]->queue_pos = (int64_t)i;
  /* one transaction for all the positions */
  int rc = 0;
  sh_store_begin(d->db);
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = sh_daemon_save(d, q[i]);
  sh_store_commit(d->db);
  free(q);
  free(sel);
  sh_daemon_run_queues(d);
  return rc < 0 ? "cannot save the queue" : NULL;
}

static const char *queue_top(struct shoal_daemon *d, json_t *a, json_t *o) { (void)o; return queue_move(d, a, -2); }
static const char *queue_up(struct shoal_daemon *d, json_t *a, json_t *o) { (void)o; return queue_move(d, a, -1); }
static const char *queue_down(struct shoal_daemon *d, json_t *a, json_t *o) { (void)o; return queue_move(d, a, 1); }
static const char *queue_bottom(struct shoal_daemon *d, json_t *a, json_t *o) { (void)o; return queue_move(d, a, 2); }

/* ---- dispatch ---- */

static const struct {
  const char *name;
  sh_rpc_fn fn;
} methods[] = {
    {"session-get", session_get},         {"session-set", session_set},
    {"session-stats", session_stats},     {"session-close", session_close},
    {"blocklist-update", blocklist_update}, {"port-test", port_test},
    {"free-space", free_space_m},         {"queue-move-top", queue_top},
    {"queue-move-up", queue_up},          {"queue-move-down", queue_down},
    {"queue-move-bottom", queue_bottom},
};

/* While the stored torrents are coming back (daemon_load.c), whether the
 * call can be answered from those back so far: the session's methods
 * but session-stats (its counts are of all torrents), and torrent-get of
 * all torrents or of the recently active ones. Any other call names
 * torrents or changes them: it waits for all. */
static int answers_while_loading(const char *name, json_t *args)
{
  if (!strcmp(name, "session-stats"))
    return 0;
  if (!strncmp(name, "session-", 8) || !strcmp(name, "port-test") ||
      !strcmp(name, "free-space") || !strcmp(name, "blocklist-update"))
    return 1;
  json_t *ids = json_object_get(args, "ids");
  return !strcmp(name, "torrent-get") &&
         (!ids || (json_is_string(ids) && !strcmp(json_string_value(ids), "recently-active")));
}

json_t *sh_rpc_call(struct shoal_daemon *d, json_t *req)
{
  json_t *reply = json_object(), *out = json_object();
  json_t *tag = json_object_get(req, "tag");
  const char *name = json_string_value(json_object_get(req, "method"));
  json_t *args = json_object_get(req, "arguments");
  const char *why = NULL;
  sh_rpc_fn fn = NULL;
  if (!json_is_object(req))
    why = "request is not a JSON object";
  else if (!name)
    why = "no method name";
  else if (args && !json_is_object(args))
    why = "arguments is not an object";
  for (size_t i = 0; !why && !fn && i < sizeof methods / sizeof methods[0]; i++)
    if (!strcmp(methods[i].name, name))
      fn = methods[i].fn;
  if (!why && !fn)
    fn = sh_rpc_torrent_method(name);
  if (!why && !fn)
    why = "method name not recognized";
  json_t *empty = NULL;
  if (!why) {
    if (!args)
      args = empty = json_object();
    if (d->loading && !answers_while_loading(name, args))
      sh_daemon_load_all(d);
    d->rpc_tag = tag;
    why = d->closing ? "the daemon is shutting down" : fn(d, args, out);
    d->rpc_tag = NULL;
  }
  json_decref(empty);
  json_object_set_new(reply, "result", json_string(why ? why : "success"));
  json_object_set_new(reply, "arguments", out);
  if (json_is_integer(tag))
    json_object_set(reply, "tag", tag);
  return reply;
}

int shoal_daemon_rpc(shoal_daemon *d, const char *req, size_t len, char **reply,
                     size_t *reply_len)
{
  json_error_t e;
  /* jansson stops at 2048 levels of nesting, so a deep document is an
   * error here, not a stack overflow */
  json_t *r = json_loadb(req, len, JSON_REJECT_DUPLICATES, &e), *ans;
  int rc = 0;
  if (!r) {
    char why[256];
    snprintf(why, sizeof why, "JSON parse error: %s", e.text);
    ans = json_pack("{s:s,s:{}}", "result", why, "arguments");
    rc = -EINVAL;
  } else {
    sh_buf_reset(&d->raw_args);
    ans = sh_rpc_call(d, r);
    json_decref(r);
  }
  const char *res = json_string_value(json_object_get(ans, "result"));
  if (d->raw_args.len && res && !strcmp(res, "success")) {
    /* {"arguments":RAW,"result":...}: the rest of the reply after RAW */
    json_object_del(ans, "arguments");
    char *rest = json_dumps(ans, JSON_COMPACT);
    struct sh_buf *out = &d->raw_args;
    sh_buf_putc(out, ',');
    sh_buf_puts(out, rest ? rest + 1 : "}");
    free(rest);
    json_decref(ans);
    if (out->oom || !rest) {
      sh_buf_free(out);
      return -ENOMEM;
    }
    *reply = sh_buf_steal(out, reply_len); /* a big answer's memory goes with it */
    return rc;
  }
  *reply = ans ? json_dumps(ans, JSON_COMPACT) : NULL;
  json_decref(ans);
  if (!*reply)
    return -ENOMEM;
  *reply_len = strlen(*reply);
  return rc;
}
