/* The torrent-* methods of the RPC (torrent-get is in rpc_get.c). Each
 * change is committed to the database before the reply goes out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "daemon/b64.h"
#include "daemon/daemon.h"
#include "daemon/dpool.h"
#include "daemon/store.h"
#include "daemon/tick.h"
#include "net/http_client.h"

int sh_rpc_dir_ok(const char *dir)
{
  if (!dir || dir[0] != '/' || strlen(dir) >= 4000)
    return 0;
  for (const char *p = dir; *p; p++)
    if ((unsigned char)*p < 0x20)
      return 0;
  /* no ".." element: a client names a folder, it does not climb out of one */
  for (const char *p = dir; (p = strstr(p, "..")); p += 2)
    if (p[-1] == '/' && (p[2] == '/' || p[2] == 0))
      return 0;
  return 1;
}

static const char *start1(struct shoal_daemon *d, struct dtor *t, json_t *a);
static const char *start_now1(struct shoal_daemon *d, struct dtor *t, json_t *a);

/* Runs fn on every selected torrent; the first failure is the answer. */
static const char *each(struct shoal_daemon *d, json_t *args,
                        const char *(*fn)(struct shoal_daemon *, struct dtor *, json_t *))
{
  struct dtor **sel;
  size_t n;
  if (sh_rpc_select(d, json_object_get(args, "ids"), &sel, &n) < 0)
    return "out of memory";
  /* a dormant seed is running already: a start leaves it asleep; all
   * else is the engine's work */
  for (size_t i = 0; i < n; i++)
    if (fn != start1 && fn != start_now1)
      sh_daemon_wake(d, sel[i], "a request");
  const char *why = NULL;
  for (size_t i = 0; i < n && !why; i++)
    why = fn(d, sel[i], args);
  free(sel);
  return why;
}

static const char *start1(struct shoal_daemon *d, struct dtor *t, json_t *a)
{
  (void)a;
  sh_daemon_start(d, t, 0);
  return sh_daemon_save(d, t) < 0 ? "cannot save the torrent" : NULL;
}

static const char *start_now1(struct shoal_daemon *d, struct dtor *t, json_t *a)
{
  (void)a;
  sh_daemon_start(d, t, 1);
  return sh_daemon_save(d, t) < 0 ? "cannot save the torrent" : NULL;
}

static const char *stop1(struct shoal_daemon *d, struct dtor *t, json_t *a)
{
  (void)a;
  sh_daemon_stop(d, t);
  return sh_daemon_save(d, t) < 0 ? "cannot save the torrent" : NULL;
}

static const char *verify1(struct shoal_daemon *d, struct dtor *t, json_t *a)
{
  (void)a;
  int rc = shoal_torrent_recheck(d->sess, t->eid);
  return rc == -EAGAIN ? NULL : rc < 0 ? "cannot verify the torrent" : NULL;
}

static const char *reannounce1(struct shoal_daemon *d, struct dtor *t, json_t *a)
{
  (void)a;
  shoal_torrent_reannounce(d->sess, t->eid); /* a stopped one announces when started */
  return NULL;
}

static const char *t_start(struct shoal_daemon *d, json_t *a, json_t *o) { (void)o; return each(d, a, start1); }
static const char *t_start_now(struct shoal_daemon *d, json_t *a, json_t *o) { (void)o; return each(d, a, start_now1); }
static const char *t_stop(struct shoal_daemon *d, json_t *a, json_t *o) { (void)o; return each(d, a, stop1); }
static const char *t_verify(struct shoal_daemon *d, json_t *a, json_t *o) { (void)o; return each(d, a, verify1); }
static const char *t_reannounce(struct shoal_daemon *d, json_t *a, json_t *o) { (void)o; return each(d, a, reannounce1); }

/* ---- torrent-remove ---- */

static const char *t_remove(struct shoal_daemon *d, json_t *args, json_t *out)
{
  (void)out;
  struct dtor **sel;
  size_t n;
  if (sh_rpc_select(d, json_object_get(args, "ids"), &sel, &n) < 0)
    return "out of memory";
  int del = json_is_true(json_object_get(args, "delete-local-data"));
  const char *why = NULL;
  for (size_t i = 0; i < n && !why; i++)
    if (sh_daemon_remove(d, sel[i], del) < 0)
      why = "cannot remove the torrent from the database";
  free(sel);
  return why;
}

/* ---- file priorities: torrent-add and torrent-set ---- */

/* Applies files-wanted, files-unwanted and priority-* (arrays of file
 * indices; empty means every file, as Transmission reads them) to prio. */
static const char *apply_file_args(json_t *args, uint8_t *prio, size_t n, int *changed)
{
  static const struct {
    const char *key;
    int level; /* -1: wanted, -2: unwanted, else the priority */
  } keys[] = {{"files-wanted", -1},
              {"files-unwanted", -2},
              {"priority-high", SHOAL_PRIO_HIGH},
              {"priority-low", SHOAL_PRIO_LOW},
              {"priority-normal", SHOAL_PRIO_NORMAL}};
  *changed = 0;
  for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
    json_t *a = json_object_get(args, keys[k].key);
    if (!a)
      continue;
    if (!json_is_array(a))
      return "invalid argument";
    size_t m = json_array_size(a);
    for (size_t i = 0; i < (m ? m : n); i++) {
      json_t *v = m ? json_array_get(a, i) : NULL;
      json_int_t f = v ? json_integer_value(v) : (json_int_t)i;
      if ((v && !json_is_integer(v)) || f < 0 || (size_t)f >= n)
        return "invalid argument";
      uint8_t *p = &prio[f];
      if (keys[k].level == -2)
        *p = SHOAL_PRIO_SKIP;
      else if (keys[k].level == -1)
        *p = *p == SHOAL_PRIO_SKIP ? SHOAL_PRIO_NORMAL : *p;
      else if (*p != SHOAL_PRIO_SKIP)
        *p = (uint8_t)keys[k].level;
      *changed = 1;
    }
  }
  return NULL;
}

/* ---- torrent-add ---- */

static void added_json(json_t *out, const char *key, const struct dtor *t, const char *name)
{
  json_object_set_new(out, key, json_pack("{s:I,s:s,s:s}", "id", (json_int_t)t->rid, "name",
                                          name, "hashString", t->hash_hex));
}

/* Adds .torrent bytes with the request's options; fills out. */
static const char *add_bytes(struct shoal_daemon *d, json_t *args, const uint8_t *raw, size_t len,
                             json_t *out)
{
  static char why[300];
  struct shoal_torrent_info *ti;
  if (shoal_torrent_info_parse(raw, len, &ti, why, sizeof why) < 0)
    return "invalid or corrupt torrent file";
  const char *dir = json_string_value(json_object_get(args, "download-dir"));
  if (json_object_get(args, "download-dir") && !sh_rpc_dir_ok(dir)) {
    shoal_torrent_info_free(ti);
    return "download directory path is not absolute";
  }
  uint8_t *prio = malloc(ti->num_files ? ti->num_files : 1);
  int changed = 0;
  const char *bad = prio ? NULL : "out of memory";
  if (prio)
    memset(prio, SHOAL_PRIO_NORMAL, ti->num_files);
  if (!bad)
    bad = apply_file_args(args, prio, ti->num_files, &changed);
  json_t *labels = json_object_get(args, "labels");
  const char *lv[DT_MAX_LABELS];
  int nl = 0;
  if (!bad && labels && (!json_is_array(labels) || json_array_size(labels) > DT_MAX_LABELS))
    bad = "invalid argument";
  for (size_t i = 0; !bad && labels && i < json_array_size(labels); i++)
    if (!(lv[nl++] = json_string_value(json_array_get(labels, i))))
      bad = "invalid argument";
  json_t *paused = json_object_get(args, "paused");
  struct dt_add a = {.torrent = raw, .len = len, .download_dir = dir,
                     .paused = paused ? json_is_true(paused) : !d->cfg.start_added_torrents,
                     .prio = changed ? prio : NULL, .nprio = ti->num_files, .labels = lv,
                     .nlabels = nl,
                     .bandwidth_priority = (int)json_integer_value(json_object_get(args, "bandwidthPriority"))};
  struct dtor *t = NULL;
  int rc = bad ? 0 : sh_daemon_add(d, &a, &t, why, sizeof why);
  if (!bad && rc == -EEXIST && t)
    added_json(out, "torrent-duplicate", t, ti->name);
  else if (!bad && rc < 0)
    bad = why;
  else if (!bad)
    added_json(out, "torrent-added", t, ti->name);
  free(prio);
  shoal_torrent_info_free(ti);
  return bad;
}

/* A magnet link: added at once by its info-hash (the RPC answers then);
 * the metadata comes from peers, and the database gets it then. */
static const char *add_magnet(struct shoal_daemon *d, json_t *args, const char *link, json_t *out)
{
  static char why[300];
  const char *dir = json_string_value(json_object_get(args, "download-dir"));
  if (json_object_get(args, "download-dir") && !sh_rpc_dir_ok(dir))
    return "download directory path is not absolute";
  json_t *paused = json_object_get(args, "paused");
  struct dt_add a = {.magnet = link, .download_dir = dir,
                     .paused = paused ? json_is_true(paused) : !d->cfg.start_added_torrents};
  struct dtor *t = NULL;
  int rc = sh_daemon_add(d, &a, &t, why, sizeof why);
  if (rc < 0 && !(rc == -EEXIST && t))
    return why;
  struct shoal_status st;
  if (shoal_torrent_status(d->sess, t->eid, &st) < 0)
    snprintf(st.name, sizeof st.name, "%s", t->hash_hex);
  added_json(out, rc == 0 ? "torrent-added" : "torrent-duplicate", t, st.name);
  return NULL;
}

/* torrent-add with an http(s) URL, as Transmission answers it: the RPC's
 * HTTP reply waits (http_server_later) until the .torrent is fetched and
 * added, then says torrent-added or torrent-duplicate, or why not (the
 * fetch's HTTP status or transport error, not a torrent). Other requests
 * are served meanwhile. Called outside the RPC server (shoal_daemon_rpc
 * from the API), it answers "success" at once and only logs the outcome. */
struct url_add {
  struct shoal_daemon *d;
  json_t *args, *tag;       /* copies: the request is gone by then */
  struct http_later *later; /* the RPC's HTTP reply, or NULL */
};

/* The reply to the deferred request: the RPC's JSON, as web.c sends it. */
static void url_reply(struct url_add *u, const char *why, json_t *out)
{
  json_t *ans = json_pack("{s:s,s:O}", "result", why ? why : "success", "arguments", out);
  if (ans && json_is_integer(u->tag))
    json_object_set(ans, "tag", u->tag);
  char *text = ans ? json_dumps(ans, JSON_COMPACT) : NULL;
  json_decref(ans);
  struct http_response res = {.status = text ? 200 : 500,
                              .content_type = "application/json; charset=UTF-8"};
  snprintf(res.headers, sizeof res.headers, "X-Transmission-Session-Id: %s\r\n",
           u->d->session_id);
  sh_buf_puts(&res.body, text ? text : "out of memory");
  free(text);
  http_server_reply(u->later, &res);
  sh_buf_free(&res.body);
}

static void on_fetched(void *ud, int err, const char *msg, const struct sh_http_response *r)
{
  struct url_add *u = ud;
  struct shoal_daemon *d = u->d;
  json_t *out = json_object();
  char text[600];
  const char *why = text;
  if (err == -ECANCELED || (err == 0 && (!d->sess || d->closing)))
    why = "the daemon is shutting down";
  else if (err)
    snprintf(text, sizeof text, "cannot fetch %.300s: %s", r->url, msg ? msg : sh_strerror(err));
  else if (r->status != 200)
    snprintf(text, sizeof text, "cannot fetch %.300s: http error %ld: %s", r->url, r->status,
             http_status_text((int)r->status));
  else
    why = add_bytes(d, u->args, r->body, r->len, out);
  if (why && err != -ECANCELED)
    sh_warn("daemon: torrent-add of %s: %s", r->url, why);
  if (u->later)
    url_reply(u, why, out);
  json_decref(out);
  json_decref(u->args);
  json_decref(u->tag);
  free(u);
}

/* Starts the fetch; the reply waits for it when there is one to wait. */
static const char *add_url(struct shoal_daemon *d, json_t *args, const char *url)
{
  struct url_add *u = malloc(sizeof *u);
  struct sh_http_opts o = {.timeout_ms = 60000, .max_body = 64u << 20};
  if (!u)
    return "out of memory";
  *u = (struct url_add){d, json_deep_copy(args), json_incref(d->rpc_tag), NULL};
  if (!sh_http_get(d->fetch, url, &o, on_fetched, u)) {
    json_decref(u->args);
    json_decref(u->tag);
    free(u);
    return "invalid URL";
  }
  /* taken only once the fetch runs: its callback is never called from
   * inside sh_http_get, so never before this handler returns */
  u->later = http_server_later(&d->http);
  return NULL;
}

static const char *t_add(struct shoal_daemon *d, json_t *args, json_t *out)
{
  const char *file = json_string_value(json_object_get(args, "filename"));
  const char *meta = json_string_value(json_object_get(args, "metainfo"));
  if (meta) {
    size_t len;
    uint8_t *raw = sh_b64_decode(meta, &len);
    if (!raw)
      return "invalid or corrupt torrent file";
    const char *why = add_bytes(d, args, raw, len, out);
    free(raw);
    return why;
  }
  if (!file)
    return "no filename or metainfo specified";
  if (!strncmp(file, "magnet:", 7))
    return add_magnet(d, args, file, out);
  if (!strncmp(file, "http://", 7) || !strncmp(file, "https://", 8))
    return add_url(d, args, file);
  /* a path on the daemon's machine, as transmission-remote sends for a
   * file it cannot read itself */
  struct shoal_torrent_info *ti;
  char err[256];
  if (shoal_torrent_info_load(file, &ti, err, sizeof err) < 0)
    return "invalid or corrupt torrent file";
  const char *why = add_bytes(d, args, ti->raw, ti->raw_len, out);
  shoal_torrent_info_free(ti);
  return why;
}

/* ---- torrent-set ---- */

static int get_int(json_t *args, const char *k, int *dst, int lo, int hi)
{
  json_t *v = json_object_get(args, k);
  if (!v)
    return 0;
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
    return -1;
  *dst = (int)json_integer_value(v);
  return 1;
}

static int get_bool(json_t *args, const char *k, int *dst)
{
  json_t *v = json_object_get(args, k);
  if (!v)
    return 0;
  if (!json_is_boolean(v) && !json_is_integer(v))
    return -1;
  *dst = json_is_true(v) || (json_is_integer(v) && json_integer_value(v) != 0);
  return 1;
}

static const char *set_files(struct shoal_daemon *d, struct dtor *t, json_t *args)
{
  size_t n = shoal_torrent_files(d->sess, t->eid, NULL, 0);
  struct shoal_file_status *f = n ? malloc(n * sizeof *f) : NULL;
  uint8_t *prio = n ? malloc(n) : NULL;
  const char *why = n && (!f || !prio) ? "out of memory" : NULL;
  int changed = 0;
  if (!why && n) {
    shoal_torrent_files(d->sess, t->eid, f, n);
    for (size_t i = 0; i < n; i++)
      prio[i] = f[i].priority;
    why = apply_file_args(args, prio, n, &changed);
  }
  if (!why && changed) {
    shoal_torrent_set_priorities(d->sess, t->eid, prio, n);
    /* committed now, not with the next batch: the RPC said it is done */
    void *r;
    size_t len;
    if (t->resume_ok && shoal_torrent_resume_data(d->sess, t->eid, &r, &len) == 0) {
      struct shoal_status st;
      shoal_torrent_status(d->sess, t->eid, &st);
      sh_store_set_resume(d->db, t->rid, r, len, t->up_base + st.uploaded,
                          t->down_base + st.downloaded, SH_WHOLE(&st));
      free(r);
    }
  }
  free(f);
  free(prio);
  return why;
}

static const char *set1(struct shoal_daemon *d, struct dtor *t, json_t *a)
{
  struct dtor b = *t; /* checked first, applied together */
  int bad = 0, qp = -1;
  bad |= get_int(a, "bandwidthPriority", &b.bandwidth_priority, -1, 1) < 0;
  bad |= get_int(a, "downloadLimit", &b.down_limit, 0, 1 << 30) < 0;
  bad |= get_bool(a, "downloadLimited", &b.down_limited) < 0;
  bad |= get_int(a, "uploadLimit", &b.up_limit, 0, 1 << 30) < 0;
  bad |= get_bool(a, "uploadLimited", &b.up_limited) < 0;
  bad |= get_bool(a, "honorsSessionLimits", &b.honors_session) < 0;
  bad |= get_int(a, "peer-limit", &b.peer_limit, 1, 1 << 16) < 0;
  bad |= get_int(a, "seedIdleLimit", &b.idle_limit, 1, 1 << 20) < 0;
  bad |= get_int(a, "seedIdleMode", &b.idle_mode, 0, 2) < 0;
  bad |= get_int(a, "seedRatioMode", &b.ratio_mode, 0, 2) < 0;
  bad |= get_int(a, "queuePosition", &qp, 0, 1 << 30) < 0;
  json_t *r = json_object_get(a, "seedRatioLimit");
  if (r && (!json_is_number(r) || json_number_value(r) < 0))
    bad = 1;
  else if (r)
    b.ratio_limit = json_number_value(r);
  if (bad)
    return "invalid argument";
  const char *why = sh_rpc_set_trackers(d, t, a);
  if (why)
    return why;
  json_t *labels = json_object_get(a, "labels");
  if (labels && sh_daemon_set_labels(t, labels) < 0)
    return "invalid argument";
  why = set_files(d, t, a);
  if (why)
    return why;
  b.labels = t->labels; /* set_labels may have replaced them */
  b.nlabels = t->nlabels;
  b.error = t->error;
  *t = b;
  if (qp >= 0)
    t->queue_pos = qp * 2 - 1; /* sh_daemon_queue_changed renumbers */
  sh_daemon_apply_limits(d, t);
  return sh_daemon_save(d, t) < 0 ? "cannot save the torrent" : NULL;
}

static const char *t_set(struct shoal_daemon *d, json_t *a, json_t *o)
{
  (void)o;
  const char *why = each(d, a, set1);
  if (!why && json_object_get(a, "queuePosition"))
    sh_daemon_queue_changed(d);
  return why;
}

/* ---- torrent-set-location, torrent-rename-path ---- */

/* The resume data in the row names the old folder: dropped, so a restart
 * before the next batch adds the torrent from its .torrent in the new
 * folder and checks it, and none is saved until a check ends. */
static void forget_resume(struct shoal_daemon *d, struct dtor *t)
{
  struct shoal_status st;
  if (shoal_torrent_status(d->sess, t->eid, &st) < 0)
    st.uploaded = st.downloaded = 0;
  sh_store_set_resume(d->db, t->rid, NULL, 0, t->up_base + st.uploaded,
                      t->down_base + st.downloaded, 0);
  t->resume_ok = 0;
  t->resume_dirty = 0;
}

static const char *move1(struct shoal_daemon *d, struct dtor *t, json_t *a)
{
  const char *dir = json_string_value(json_object_get(a, "location"));
  int move = json_is_true(json_object_get(a, "move"));
  if (!strcmp(dir, t->dir))
    return NULL;
  char *copy = sh_dp_strdup(dir);
  if (!copy || sh_store_set_dir(d->db, t->rid, dir) < 0) {
    sh_dp_free(copy);
    return "cannot save the torrent";
  }
  sh_dp_free(t->dir);
  t->dir = copy;
  if (t->in_incomplete)
    return NULL; /* moved there when done */
  if (move)
    return shoal_torrent_move_storage(d->sess, t->eid, dir) < 0 ? "cannot move the data" : NULL;
  /* the data is there already: looked for and checked there */
  forget_resume(d, t);
  int rc = shoal_torrent_set_location(d->sess, t->eid, dir);
  return rc == -EBUSY ? "a move or rename of the torrent is not done yet"
         : rc < 0     ? "cannot set the location"
                      : NULL;
}

static const char *t_set_location(struct shoal_daemon *d, json_t *a, json_t *o)
{
  (void)o;
  const char *dir = json_string_value(json_object_get(a, "location"));
  if (!sh_rpc_dir_ok(dir))
    return "new location path is not absolute";
  return each(d, a, move1);
}

static const char *rename_error(int rc)
{
  switch (rc) {
  case -EINVAL: return "invalid argument";
  case -EEXIST: return "a file or folder of that name is already there";
  case -EBUSY: return "another rename or move of this torrent is not done yet";
  case -EAGAIN: return "the torrent's files are not known yet";
  default: return "cannot rename the file";
  }
}

/* Transmission's rule: one torrent, path as torrent-get's files name it
 * (or a folder above them), name a single element. The engine renames the
 * data and the paths; the row keeps the rename for the next start. */
static const char *t_rename(struct shoal_daemon *d, json_t *a, json_t *o)
{
  const char *path = json_string_value(json_object_get(a, "path"));
  const char *name = json_string_value(json_object_get(a, "name"));
  if (!path || !name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
    return "invalid argument";
  struct dtor **sel;
  size_t n;
  if (sh_rpc_select(d, json_object_get(a, "ids"), &sel, &n) < 0)
    return "out of memory";
  struct dtor *t = n == 1 ? sel[0] : NULL;
  free(sel);
  if (!t)
    return "torrent-rename-path requires 1 torrent";
  sh_daemon_wake(d, t, "a rename");
  int rc = shoal_torrent_rename_path(d->sess, t->eid, path, name);
  if (rc < 0)
    return rename_error(rc);
  json_t *list = t->renames ? json_loads(t->renames, 0, NULL) : json_array();
  if (!json_is_array(list)) {
    json_decref(list);
    list = json_array();
  }
  json_array_append_new(list, json_pack("[s,s]", path, name));
  char *text = json_dumps(list, JSON_COMPACT);
  json_decref(list);
  char *kept = text ? sh_dp_strdup(text) : NULL;
  if (!kept || sh_store_set_renames(d->db, t->rid, text) < 0) {
    free(text);
    sh_dp_free(kept);
    return "cannot save the torrent";
  }
  free(text);
  sh_dp_free(t->renames);
  t->renames = kept;
  json_object_set_new(o, "path", json_string(path));
  json_object_set_new(o, "name", json_string(name));
  json_object_set_new(o, "id", json_integer(t->rid));
  return NULL;
}

void sh_daemon_load_renames(struct shoal_daemon *d, const struct dtor *t)
{
  json_t *list = json_loads(t->renames, 0, NULL);
  for (size_t i = 0; i < json_array_size(list); i++) {
    json_t *r = json_array_get(list, i);
    const char *path = json_string_value(json_array_get(r, 0));
    const char *name = json_string_value(json_array_get(r, 1));
    int rc = path && name ? shoal_torrent_rename_path(d->sess, t->eid, path, name) : -EINVAL;
    if (rc < 0)
      sh_warn("%s: rename of %s again: %s", t->hash_hex, path ? path : "?", rename_error(rc));
  }
  json_decref(list);
}

static const struct {
  const char *name;
  sh_rpc_fn fn;
} methods[] = {
    {"torrent-start", t_start},
    {"torrent-start-now", t_start_now},
    {"torrent-stop", t_stop},
    {"torrent-verify", t_verify},
    {"torrent-reannounce", t_reannounce},
    {"torrent-set", t_set},
    {"torrent-get", sh_rpc_torrent_get},
    {"torrent-add", t_add},
    {"torrent-remove", t_remove},
    {"torrent-set-location", t_set_location},
    {"torrent-rename-path", t_rename},
};

sh_rpc_fn sh_rpc_torrent_method(const char *name)
{
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
    if (!strcmp(methods[i].name, name))
      return methods[i].fn;
  return NULL;
}
