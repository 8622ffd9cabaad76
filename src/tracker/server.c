/* The tracker as a service on the app's loops (include/shoal.h, "The tracker
 * server"): configuration, hosted torrents and policy, each worker's
 * sockets, the timers, reload and a graceful stop. What a request gets is in
 * serve.c; all protocol decisions are made by tracker.c, udp_proto.c and
 * web.c. No loop is run and no signal handled here: the app does both. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "tracker/server_int.h"

_Static_assert(SHOAL_TRACKER_MAX_NUMWANT == TRACKER_MAX_NUMWANT, "one limit, two names");

void shoal_tracker_config_default(struct shoal_tracker_config *c)
{
  memset(c, 0, sizeof *c);
  c->http_port = 6969;
  c->udp_port = 6969;
  c->workers = 1;
  c->interval = TRACKER_DEFAULT_INTERVAL;
  c->numwant_max = TRACKER_MAX_NUMWANT;
  c->full_scrape = 1;
  c->idle_timeout_ms = 15000;
  c->max_conns = 4096;
  c->peer_timeout_min = TRACKER_PEER_TIMEOUT_MIN;
  c->upload_memory = 16u << 20;
}

/* Hosted set and blocklist into the policy; used at start and on reload. */
static int apply_policy(struct shoal_tracker *s, char *err, size_t errlen)
{
  uint8_t (*hs)[20];
  long n = hosting_hashes(s->host, &hs);
  if (n < 0 || policy_set_hosted(s->trk.policy, (const uint8_t (*)[20])hs, (size_t)n) < 0) {
    if (n >= 0)
      free(hs);
    if (err && errlen)
      snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  free(hs);
  long nb = 0;
  uint8_t (*bl)[20] = NULL;
  if (s->blocklist[0]) {
    nb = policy_read_list(s->blocklist, &bl);
    if (nb == -ENOENT && !s->cfg.blocklist)
      nb = 0; /* the default blocklist is optional */
    else if (nb < 0 && !s->started) {
      /* tracking everything a blocklist was meant to keep out would be
       * worse than not starting */
      snprintf(err, errlen, "blocklist %s: %s", s->blocklist, sh_strerror((int)nb));
      return (int)nb;
    } else if (nb < 0) {
      /* on reload the list in force stays */
      sh_warn("tracker: blocklist %s: %s; keeping the blocklist in force", s->blocklist,
              sh_strerror((int)nb));
      sh_info("tracker: %ld torrents hosted", n);
      return 0;
    }
  }
  policy_set_blocked(s->trk.policy, (const uint8_t (*)[20])bl, (size_t)nb);
  free(bl);
  sh_info("tracker: %ld torrents hosted, %ld info-hashes blocked", n, nb);
  return 0;
}

/* ---- a worker's sockets ---- */

static int parse_bind(const char *addr, int port, struct sockaddr_storage *ss, char *err,
                      size_t errlen)
{
  memset(ss, 0, sizeof *ss);
  char tmp[128];
  size_t n = strlen(addr);
  if (n >= sizeof tmp)
    goto bad;
  /* accept [::1] as well as ::1 */
  if (addr[0] == '[' && n > 2 && addr[n - 1] == ']') {
    memcpy(tmp, addr + 1, n - 2);
    tmp[n - 2] = 0;
  } else {
    memcpy(tmp, addr, n + 1);
  }
  if (uv_ip4_addr(tmp, port, (struct sockaddr_in *)ss) == 0)
    return 0;
  if (uv_ip6_addr(tmp, port, (struct sockaddr_in6 *)ss) == 0)
    return 0;
bad:
  snprintf(err, errlen, "listen address %s: not an IPv4 or IPv6 address", addr);
  return -EINVAL;
}

static void fmt_addr(const struct sockaddr_storage *ss, int port, char *out, size_t cap)
{
  char ip[INET6_ADDRSTRLEN] = "?";
  if (ss->ss_family == AF_INET) {
    inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, ip, sizeof ip);
    snprintf(out, cap, "%s:%d", ip, port);
  } else {
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, ip, sizeof ip);
    snprintf(out, cap, "[%s]:%d", ip, port);
  }
}

static int udp_port_of(uv_udp_t *u)
{
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_udp_getsockname(u, (struct sockaddr *)&ss, &len) < 0)
    return -1;
  return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                       : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Worker 0 picks the ports (a free one for port 0) and writes them to s;
 * later workers only read them, after the app started their threads. */
static int listen_http(struct shoal_tracker *s, struct worker *w, const char *bind, int reuse,
                       char *err, size_t errlen)
{
  struct sockaddr_storage ss;
  char where[160];
  int port = s->http_port > 0 ? s->http_port : s->cfg.http_port;
  if (parse_bind(bind, port, &ss, err, errlen) < 0)
    return -EINVAL;
  int rc = http_server_listen(&w->http, (struct sockaddr *)&ss, reuse);
  if (rc < 0) {
    fmt_addr(&ss, port, where, sizeof where);
    snprintf(err, errlen, "cannot serve HTTP on %s: %s", where, sh_strerror(rc));
    return rc;
  }
  int bound = http_server_port(&w->http, w->http.nlisten - 1);
  if (s->http_port <= 0)
    s->http_port = bound;
  if (w->idx == 0) {
    fmt_addr(&ss, bound, where, sizeof where);
    sh_info("tracker: serving HTTP on http://%s/ (announce /announce, scrape /scrape)", where);
  }
  return 0;
}

static int listen_udp(struct shoal_tracker *s, struct worker *w, const char *bind, int reuse,
                      char *err, size_t errlen)
{
  struct sockaddr_storage ss;
  char where[160];
  int port = s->udp_port > 0 ? s->udp_port
                             : (s->cfg.udp_port == 0 && s->http_port > 0 ? s->http_port
                                                                          : s->cfg.udp_port);
  if (parse_bind(bind, port, &ss, err, errlen) < 0)
    return -EINVAL;
  int fd = http_server_bind_socket((struct sockaddr *)&ss, SOCK_DGRAM, reuse);
  if (fd < 0) {
    fmt_addr(&ss, port, where, sizeof where);
    snprintf(err, errlen, "cannot serve UDP on %s: %s", where, sh_strerror(fd));
    return fd;
  }
  uv_udp_t *u = &w->udp[w->nudp];
  int rc = uv_udp_init_ex(w->loop, u, AF_UNSPEC | UV_UDP_RECVMMSG);
  if (rc < 0) {
    close(fd);
    snprintf(err, errlen, "UDP socket: %s", sh_strerror(rc));
    return rc;
  }
  u->data = w;
  w->nudp++; /* from here on the stop closes it */
  if ((rc = uv_udp_open(u, fd)) < 0 || (rc = uv_udp_recv_start(u, serve_udp_alloc, serve_udp)) < 0) {
    snprintf(err, errlen, "UDP socket: %s", sh_strerror(rc));
    return rc;
  }
  int bound = udp_port_of(u);
  if (s->udp_port <= 0)
    s->udp_port = bound;
  if (w->idx == 0) {
    fmt_addr(&ss, bound, where, sizeof where);
    sh_info("tracker: serving UDP on udp://%s/announce", where);
  }
  return 0;
}

static int worker_listen(struct shoal_tracker *s, struct worker *w, char *err, size_t errlen)
{
  static const char *const any[] = {"0.0.0.0", "::"};
  const char *const *binds = s->cfg.nbind ? s->cfg.bind : any;
  size_t nb = s->cfg.nbind ? s->cfg.nbind : 2;
  int reuse = s->cfg.workers > 1;
  getrandom(&w->rng, sizeof w->rng, 0);
  w->rng |= 1;
  w->udp_buf = malloc(UDP_BATCH * 65536);
  if (!w->udp_buf) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  if (s->cfg.http_port >= 0) {
    http_server_init(&w->http, w->loop, &s->hc);
    w->http.data = w;
    w->http_on = 1;
  }
  for (size_t b = 0; b < nb; b++) {
    int rc = 0;
    if (s->cfg.http_port >= 0)
      rc = listen_http(s, w, binds[b], reuse, err, errlen);
    if (rc == 0 && s->cfg.udp_port >= 0)
      rc = listen_udp(s, w, binds[b], reuse, err, errlen);
    if (rc < 0) {
      /* When binding all addresses, a host without IPv6 keeps serving IPv4. */
      if (!s->cfg.nbind && b == 1 && s->http_port > 0) {
        sh_warn("tracker: no IPv6 listener; serving IPv4 only");
        continue;
      }
      return rc;
    }
  }
  return 0;
}

/* ---- stopping ----
 *
 * A worker stops on its own loop (woken by its `stop` async, or at once when
 * attaching failed): it closes its handles and counts their close callbacks.
 * The last worker to finish wakes worker 0's loop through `all_closed`;
 * there the timers and all_closed itself are closed, and when those have
 * reported too, nothing can touch the tracker any more and it is freed. */

static void destroy(struct shoal_tracker *s)
{
  free(s->w);
  hosting_close(s->host);
  tracker_destroy(&s->trk);
  pthread_mutex_destroy(&s->lock);
  pthread_mutex_destroy(&s->rate_lock);
  free((char *)s->cfg.data_dir);
  free((char *)s->cfg.upload_token);
  free((char *)s->cfg.blocklist);
  for (size_t i = 0; i < s->cfg.nbind; i++)
    free((char *)s->binds[i]);
  free(s);
}

static void on_main_closed(uv_handle_t *h)
{
  struct shoal_tracker *s = h->data;
  if (--s->main_pending)
    return;
  if (s->started) {
    struct store_totals tot;
    store_totals(s->trk.store, &tot);
    sh_info("tracker: stopped (%llu torrents, %llu peers at exit)",
            (unsigned long long)tot.torrents, (unsigned long long)tot.peers);
  }
  void (*done)(void *) = s->done;
  void *ud = s->done_ud;
  destroy(s);
  if (done)
    done(ud);
}

static void on_all_closed(uv_async_t *a)
{
  uv_close((uv_handle_t *)a, on_main_closed);
}

static void worker_closed_one(struct worker *w)
{
  if (--w->pending)
    return;
  struct shoal_tracker *s = w->srv;
  free(w->udp_buf);
  w->udp_buf = NULL;
  pthread_mutex_lock(&s->lock);
  int last = --s->open == 0 && s->closing;
  pthread_mutex_unlock(&s->lock);
  /* the last access to s from this thread: after it, s may be freed */
  if (last)
    uv_async_send(&s->all_closed);
}

static void on_worker_handle_closed(uv_handle_t *h) { worker_closed_one(h->data); }
static void on_http_closed(struct http_server *hs) { worker_closed_one(hs->data); }

static void worker_stop(struct worker *w)
{
  struct shoal_tracker *s = w->srv;
  pthread_mutex_lock(&s->lock);
  int already = w->stopped;
  w->stopped = 1;
  pthread_mutex_unlock(&s->lock);
  if (already)
    return;
  /* counted before any close starts: http_server_close may report at once */
  w->pending = 1 + w->http_on + w->nudp;
  if (w->http_on)
    http_server_close(&w->http, on_http_closed);
  for (int i = 0; i < w->nudp; i++)
    uv_close((uv_handle_t *)&w->udp[i], on_worker_handle_closed);
  uv_close((uv_handle_t *)&w->stop, on_worker_handle_closed);
}

static void on_stop(uv_async_t *a) { worker_stop(a->data); }

/* On worker 0's thread. Each worker's stop is sent under the lock: a worker
 * closes its `stop` handle (and the app may then close its loop) only after
 * marking itself stopped under the same lock, so no send reaches a closed
 * handle. */
static void begin_close(struct shoal_tracker *s)
{
  uv_close((uv_handle_t *)&s->expire_timer, on_main_closed);
  uv_close((uv_handle_t *)&s->rate_timer, on_main_closed);
  pthread_mutex_lock(&s->lock);
  s->closing = 1;
  for (int i = 0; i < s->nw; i++)
    if (!s->w[i].stopped)
      uv_async_send(&s->w[i].stop);
  int none_open = s->open == 0;
  pthread_mutex_unlock(&s->lock);
  if (none_open)
    uv_async_send(&s->all_closed);
}

void shoal_tracker_close(shoal_tracker *s, void (*done)(void *ud), void *ud)
{
  s->done = done;
  s->done_ud = ud;
  begin_close(s);
}

/* ---- workers ---- */

static void log_summary(const struct shoal_tracker *s)
{
  sh_info("tracker: data in %s; mode %s; interval %us; peers expire after %us; %d worker "
          "thread%s; uploads %s",
          s->cfg.data_dir, s->trk.cfg.hosted_only ? "hosted-only" : "open", s->trk.cfg.interval,
          s->trk.cfg.peer_timeout, s->cfg.workers, s->cfg.workers == 1 ? "" : "s",
          s->cfg.upload_token ? "enabled" : "disabled");
}

static int worker_attach(struct shoal_tracker *s, uv_loop_t *loop, char *err, size_t errlen)
{
  pthread_mutex_lock(&s->lock);
  if (s->closing || s->nw == s->cfg.workers) {
    int closing = s->closing;
    pthread_mutex_unlock(&s->lock);
    if (closing)
      snprintf(err, errlen, "the tracker is closing");
    else
      snprintf(err, errlen, "all %d workers are attached already", s->cfg.workers);
    return closing ? -ECANCELED : -EINVAL;
  }
  struct worker *w = &s->w[s->nw];
  int rc = uv_async_init(loop, &w->stop, on_stop);
  if (rc < 0) {
    pthread_mutex_unlock(&s->lock);
    snprintf(err, errlen, "worker loop: %s", sh_strerror(rc));
    return rc;
  }
  w->srv = s;
  w->idx = s->nw++;
  w->loop = loop;
  w->stop.data = w;
  s->open++;
  pthread_mutex_unlock(&s->lock);

  rc = worker_listen(s, w, err, errlen);
  if (rc < 0) {
    worker_stop(w);
    return rc;
  }
  pthread_mutex_lock(&s->lock);
  int all = ++s->ready == s->cfg.workers;
  pthread_mutex_unlock(&s->lock);
  /* tests and scripts wait for this line: every listener is up by now */
  if (all)
    log_summary(s);
  return 0;
}

int shoal_tracker_attach_worker(shoal_tracker *s, uv_loop_t *loop, char *err, size_t errlen)
{
  return worker_attach(s, loop, err, errlen);
}

/* ---- timers on worker 0's loop ---- */

static void on_expire(uv_timer_t *t)
{
  struct shoal_tracker *s = t->data;
  uint64_t n = store_expire(s->trk.store, server_now(), s->trk.cfg.peer_timeout);
  if (n)
    sh_debug("tracker: %llu peers expired", (unsigned long long)n);
}

static void on_rate(uv_timer_t *t)
{
  struct shoal_tracker *s = t->data;
  unsigned slot = s->nsnap % (RATE_WINDOW + 1);
  for (int i = 0; i < TRK_STAT_COUNT; i++)
    s->snap[slot][i] = atomic_load_explicit(&s->trk.stat[i], memory_order_relaxed);
  s->nsnap++;
  unsigned span = s->nsnap > RATE_WINDOW ? RATE_WINDOW : s->nsnap - 1;
  if (!span)
    return;
  unsigned old = (s->nsnap - 1 - span) % (RATE_WINDOW + 1);
  pthread_mutex_lock(&s->rate_lock);
  for (int i = 0; i < TRK_STAT_COUNT; i++)
    s->rates[i] = (double)(s->snap[slot][i] - s->snap[old][i]) / span;
  pthread_mutex_unlock(&s->rate_lock);
}

static void start_timers(struct shoal_tracker *s)
{
  /* sweep a few times per timeout, at most once a minute */
  uint64_t sweep = s->trk.cfg.peer_timeout / 4;
  sweep = sweep < 1 ? 1 : sweep > 60 ? 60 : sweep;
  uv_timer_start(&s->expire_timer, on_expire, sweep * 1000, sweep * 1000);
  uv_timer_start(&s->rate_timer, on_rate, 0, 1000);
}

/* ---- start ---- */

static int config_check(const struct shoal_tracker_config *c, char *err, size_t errlen)
{
  if (!c->data_dir || !*c->data_dir)
    snprintf(err, errlen, "no data directory");
  else if (c->http_port < -1 || c->http_port > 65535 || c->udp_port < -1 || c->udp_port > 65535)
    snprintf(err, errlen, "a port must be 0 to 65535, or -1 for off");
  else if (c->http_port < 0 && c->udp_port < 0)
    snprintf(err, errlen, "both HTTP and UDP are off; nothing to serve");
  else if (c->workers < 1 || c->workers > SHOAL_TRACKER_MAX_WORKERS)
    snprintf(err, errlen, "%d workers: expected 1 to %d", c->workers, SHOAL_TRACKER_MAX_WORKERS);
  else if (c->nbind > SHOAL_TRACKER_MAX_BINDS)
    snprintf(err, errlen, "%zu listen addresses: at most %d", c->nbind, SHOAL_TRACKER_MAX_BINDS);
  else if (!c->interval || !c->numwant_max || !c->idle_timeout_ms || !c->max_conns ||
           !c->upload_memory)
    snprintf(err, errlen, "interval, numwant_max, idle_timeout_ms, max_conns and upload_memory "
             "must not be 0");
  else
    return 0;
  return -EINVAL;
}

/* The public settings as the protocol core takes them, with the derived
 * defaults (min interval, peer timeout) worked out. */
static void core_config(const struct shoal_tracker_config *c, struct tracker_config *t)
{
  tracker_config_defaults(t);
  t->interval = c->interval;
  t->min_interval = c->min_interval ? c->min_interval : c->interval / 2 ? c->interval / 2 : 1;
  if (t->min_interval > t->interval)
    t->min_interval = t->interval;
  /* clients keep their own schedule whatever interval we ask (a short
   * one is ignored by some), so a peer lives at least the floor */
  uint32_t floor = c->peer_timeout_min ? c->peer_timeout_min : TRACKER_PEER_TIMEOUT_MIN;
  uint32_t twice = c->interval > UINT32_MAX / 2 ? UINT32_MAX : 2 * c->interval;
  t->peer_timeout = c->peer_timeout ? c->peer_timeout : twice > floor ? twice : floor;
  t->numwant_max = c->numwant_max > TRACKER_MAX_NUMWANT ? TRACKER_MAX_NUMWANT : c->numwant_max;
  if (t->numwant_default > t->numwant_max)
    t->numwant_default = t->numwant_max;
  t->hosted_only = c->hosted_only;
  t->trust_ip_param = c->trust_ip;
  t->full_scrape = c->full_scrape;
}

static char *dup_or_null(const char *p, int *oom)
{
  if (!p)
    return NULL;
  char *d = strdup(p);
  if (!d)
    *oom = 1;
  return d;
}

/* Copies what the tracker keeps of c (its strings too) into s. */
static int config_copy(struct shoal_tracker *s, const struct shoal_tracker_config *c)
{
  int oom = 0;
  s->cfg = *c;
  s->cfg.data_dir = dup_or_null(c->data_dir, &oom);
  s->cfg.upload_token = dup_or_null(c->upload_token, &oom);
  s->cfg.blocklist = dup_or_null(c->blocklist, &oom);
  s->cfg.add = NULL; /* used only while starting */
  s->cfg.nadd = 0;
  for (size_t i = 0; i < c->nbind; i++)
    s->binds[i] = dup_or_null(c->bind[i], &oom);
  s->cfg.bind = s->binds;
  http_server_config_defaults(&s->hc);
  s->hc.handler = serve_http;
  s->hc.on_error = serve_http_error;
  s->hc.on_head = serve_http_head;
  s->bodies.cap = c->upload_memory;
  s->hc.budget = &s->bodies;
  s->hc.idle_timeout_ms = c->idle_timeout_ms;
  s->hc.max_conns = c->max_conns;
  s->hc.max_body = HOSTING_MAX_TORRENT + 64 * 1024; /* a torrent plus form overhead */
  return oom ? -ENOMEM : 0;
}

/* Everything that needs no loop: the store, the hosted torrents, the policy.
 * On failure the caller frees s with destroy(). */
static int open_state(struct shoal_tracker *s, const struct shoal_tracker_config *c, char *err,
                      size_t errlen)
{
  struct tracker_config tc;
  core_config(c, &tc);
  if (tracker_init(&s->trk, &tc) < 0 || !(s->w = calloc((size_t)c->workers, sizeof *s->w))) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  if (getrandom(s->trk.udp_secret, sizeof s->trk.udp_secret, 0) != sizeof s->trk.udp_secret) {
    int e = -errno;
    snprintf(err, errlen, "no random bytes for the UDP connection-ID key: %s", strerror(errno));
    return e;
  }
  char why[512];
  int rc = hosting_open(&s->host, s->cfg.data_dir, why, sizeof why);
  if (rc < 0) {
    snprintf(err, errlen, "data directory: %s", why);
    return rc;
  }
  for (size_t i = 0; i < c->nadd; i++) {
    rc = hosting_add_file(s->host, c->add[i], NULL, why, sizeof why);
    if (rc < 0) {
      snprintf(err, errlen, "cannot host %s", why);
      return rc;
    }
  }
  if (s->cfg.blocklist)
    snprintf(s->blocklist, sizeof s->blocklist, "%s", s->cfg.blocklist);
  else
    snprintf(s->blocklist, sizeof s->blocklist, "%s/blocklist", s->cfg.data_dir);
  rc = apply_policy(s, err, errlen);
  if (rc == -ENOMEM)
    snprintf(err, errlen, "out of memory");
  return rc;
}

int shoal_tracker_new(uv_loop_t *loop, const struct shoal_tracker_config *c, shoal_tracker **out,
                      char *err, size_t errlen)
{
  *out = NULL;
  int rc = config_check(c, err, errlen);
  if (rc < 0)
    return rc;
  struct shoal_tracker *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  pthread_mutex_init(&s->lock, NULL);
  pthread_mutex_init(&s->rate_lock, NULL);
  s->start = server_now();
  s->loop = loop;
  rc = config_copy(s, c);
  if (rc < 0)
    snprintf(err, errlen, "out of memory");
  else
    rc = open_state(s, c, err, errlen);
  if (rc == 0)
    rc = uv_async_init(loop, &s->all_closed, on_all_closed);
  if (rc < 0) {
    destroy(s);
    return rc;
  }
  /* From here on handles exist on loop: a failure closes them and the
   * tracker frees itself once they have reported. */
  s->all_closed.data = s;
  uv_timer_init(loop, &s->expire_timer);
  uv_timer_init(loop, &s->rate_timer);
  s->expire_timer.data = s->rate_timer.data = s;
  s->main_pending = 3;
  rc = worker_attach(s, loop, err, errlen);
  if (rc < 0) {
    begin_close(s);
    return rc;
  }
  start_timers(s);
  s->started = 1;
  *out = s;
  return 0;
}

/* ---- while running ---- */

uint16_t shoal_tracker_http_port(const shoal_tracker *s) { return (uint16_t)s->http_port; }
uint16_t shoal_tracker_udp_port(const shoal_tracker *s) { return (uint16_t)s->udp_port; }

int shoal_tracker_reload(shoal_tracker *s, char *err, size_t errlen)
{
  char why[512];
  int n = hosting_reload(s->host, why, sizeof why);
  if (n < 0) {
    sh_warn("tracker: reload failed, keeping the old set: %s", why);
    snprintf(err, errlen, "%s", why);
  } else {
    sh_info("tracker: reloaded %s", s->cfg.data_dir);
  }
  int rc = apply_policy(s, NULL, 0);
  if (n >= 0 && rc < 0) {
    snprintf(err, errlen, "out of memory");
    return rc;
  }
  return n;
}
