/* The running tracker: sockets, threads, signals, timers, HTTP routes. All
 * protocol decisions are made by tracker.c, udp_proto.c and web.c. */
#include "tracker/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "base/error.h"
#include "base/log.h"
#include "base/sha1.h"
#include "net/http_server.h"
#include "tracker/hosting.h"
#include "tracker/multipart.h"
#include "tracker/udp_proto.h"
#include "tracker/web.h"

/* libuv reads up to this many datagrams per recvmmsg() call; each gets a
 * 64 KiB slot (libuv's chunk size), so 16 slots is 1 MiB per worker. */
#define UDP_BATCH 16
#define RATE_WINDOW 10 /* seconds over which /stats averages request rates */

struct server;

struct worker {
  struct server *srv;
  int idx;
  uv_loop_t loop;
  uv_async_t stop;
  pthread_t thread;
  struct http_server http;
  int http_on;
  uv_udp_t udp[SERVER_MAX_BINDS];
  int nudp;
  uint64_t rng;
  uint8_t *udp_buf;
};

struct server {
  struct server_config cfg;
  struct tracker trk;
  struct hosting *host;
  struct worker *w;
  int nw;
  uv_signal_t sig[3];
  uv_timer_t expire_timer, rate_timer;
  pthread_mutex_t rate_lock;
  double rates[TRK_STAT_COUNT];
  uint64_t snap[RATE_WINDOW + 1][TRK_STAT_COUNT];
  unsigned nsnap;
  uint64_t start;
  int http_port, udp_port; /* as bound */
  char blocklist[4096];
};

void server_config_defaults(struct server_config *c)
{
  memset(c, 0, sizeof *c);
  tracker_config_defaults(&c->trk);
  c->http_port = 6969;
  c->udp_port = 6969;
  c->threads = 1;
  c->idle_timeout_ms = 15000;
  c->max_conns = 4096;
}

static uint32_t now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint32_t)ts.tv_sec;
}

static uint32_t next_rnd(struct worker *w)
{
  /* xorshift64*: fast, and unpredictability is not needed to pick peers */
  w->rng ^= w->rng >> 12;
  w->rng ^= w->rng << 25;
  w->rng ^= w->rng >> 27;
  return (uint32_t)((w->rng * 2685821657736338717ULL) >> 32);
}

/* The client's address as the store keys it: IPv4-mapped IPv6 becomes IPv4. */
static int addr_of(const struct sockaddr *sa, struct tracker_addr *a)
{
  memset(a, 0, sizeof *a);
  if (sa->sa_family == AF_INET) {
    a->family = STORE_V4;
    memcpy(a->ip, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    return 0;
  }
  if (sa->sa_family == AF_INET6) {
    const uint8_t *ip = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!memcmp(ip, mapped, 12)) {
      a->family = STORE_V4;
      memcpy(a->ip, ip + 12, 4);
    } else {
      a->family = STORE_V6;
      memcpy(a->ip, ip, 16);
    }
    return 0;
  }
  return -1;
}

/* Hosted set and blocklist into the policy; used at start and on SIGHUP. */
static int apply_policy(struct server *s)
{
  uint8_t (*hs)[20];
  long n = hosting_hashes(s->host, &hs);
  if (n < 0 || policy_set_hosted(s->trk.policy, (const uint8_t (*)[20])hs, (size_t)n) < 0) {
    if (n >= 0)
      free(hs);
    return -ENOMEM;
  }
  free(hs);
  long nb = 0;
  uint8_t (*bl)[20] = NULL;
  if (s->blocklist[0]) {
    nb = policy_read_list(s->blocklist, &bl);
    if (nb == -ENOENT && !s->cfg.blocklist)
      nb = 0; /* the default blocklist is optional */
    else if (nb < 0) {
      sh_warn("tracker: blocklist %s: %s", s->blocklist, sh_strerror((int)nb));
      nb = 0;
    }
  }
  policy_set_blocked(s->trk.policy, (const uint8_t (*)[20])bl, (size_t)nb);
  free(bl);
  sh_info("tracker: %ld torrents hosted, %ld info-hashes blocked", n, nb);
  return 0;
}

/* ---- HTTP ---- */

/* With -v each announce is logged with who sent it: the interop tests read
 * this to see that every client really spoke to the tracker, and how. */
static void log_announce(const char *proto, const struct tracker_addr *a, const uint8_t *peer_id,
                         unsigned port, int event, uint64_t left)
{
  static const char *const ev[] = {"none", "completed", "started", "stopped"};
  char ip[INET6_ADDRSTRLEN], pid[21];
  inet_ntop(a->family == STORE_V4 ? AF_INET : AF_INET6, a->ip, ip, sizeof ip);
  for (int i = 0; i < 20; i++)
    pid[i] = peer_id[i] >= 0x20 && peer_id[i] < 0x7f ? (char)peer_id[i] : '.';
  pid[20] = 0;
  sh_debug("tracker: %s announce from %s port %u peer_id %s event %s left %llu", proto, ip, port,
           pid, event >= 0 && event < 4 ? ev[event] : "?", (unsigned long long)left);
}

static int path_is(const struct http_request *r, const char *p)
{
  size_t n = strlen(p);
  return r->path_len == n && !memcmp(r->path, p, n);
}

/* Compares without an early exit, so the time taken says nothing about how
 * much of a guessed token was right. */
static int token_eq(const char *a, size_t an, const char *b)
{
  size_t bn = strlen(b);
  unsigned diff = an != bn;
  for (size_t i = 0; i < an; i++)
    diff |= (unsigned)(uint8_t)a[i] ^ (uint8_t)b[i % (bn ? bn : 1)];
  return diff == 0 && bn > 0;
}

static void rates_copy(struct server *s, double *out)
{
  pthread_mutex_lock(&s->rate_lock);
  memcpy(out, s->rates, sizeof s->rates);
  pthread_mutex_unlock(&s->rate_lock);
}

static void web_ctx_of(struct server *s, const struct http_request *req, struct web_ctx *w,
                       double *rates)
{
  rates_copy(s, rates);
  memset(w, 0, sizeof *w);
  w->t = &s->trk;
  w->h = s->host;
  w->host = http_request_header(req, "Host");
  w->upload_enabled = s->cfg.upload_token != NULL;
  w->udp_port = s->udp_port > 0 ? s->udp_port : 0;
  w->rates = rates;
  w->uptime = now_s() - s->start;
}

static void serve_torrent_file(struct server *s, const struct http_request *req,
                               struct http_response *res)
{
  /* /torrents/<40 hex>.torrent */
  const char *p = req->path + 10;
  size_t n = req->path_len - 10;
  uint8_t h[20];
  char hex[41];
  if (n != 48 || memcmp(p + 40, ".torrent", 8)) {
    res->status = 404;
    sh_buf_puts(&res->body, "no such torrent\n");
    return;
  }
  memcpy(hex, p, 40);
  hex[40] = 0;
  char *name = NULL;
  if (sh_unhex(hex, h, 20) < 0 || !hosting_get(s->host, h, &res->body, &name)) {
    res->status = 404;
    sh_buf_puts(&res->body, "no such torrent\n");
    return;
  }
  /* a file name safe inside a quoted header value */
  char safe[128];
  size_t k = 0;
  for (const char *q = name; *q && k < sizeof safe - 9; q++) {
    unsigned char c = (unsigned char)*q;
    safe[k++] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '/') ? '_' : (char)c;
  }
  safe[k] = 0;
  free(name);
  res->content_type = "application/x-bittorrent";
  snprintf(res->headers, sizeof res->headers,
           "Content-Disposition: attachment; filename=\"%s.torrent\"\r\n", safe);
}

static void upload_reply(struct http_response *res, int html, int status, const char *msg,
                         const char *hex)
{
  res->status = status;
  if (html) {
    res->content_type = "text/html; charset=utf-8";
    sh_buf_puts(&res->body, "<!DOCTYPE html><meta charset=\"utf-8\"><meta name=\"viewport\" "
                            "content=\"width=device-width,initial-scale=1\"><title>upload</title><p>");
    web_html_escape(&res->body, msg, strlen(msg));
    if (hex)
      sh_buf_printf(&res->body, " <code>%s</code>", hex);
    sh_buf_puts(&res->body, "</p><p><a href=\"/\">back to the list</a></p>\n");
  } else {
    sh_buf_printf(&res->body, "%s%s%s\n", msg, hex ? " " : "", hex ? hex : "");
  }
}

static void handle_upload(struct server *s, const struct http_request *req,
                          struct http_response *res)
{
  const char *ct = http_request_header(req, "Content-Type");
  char boundary[80];
  int form = multipart_boundary(ct, boundary, sizeof boundary) > 0;
  tracker_count(&s->trk, TRK_UPLOAD);
  if (!s->cfg.upload_token) {
    upload_reply(res, form, 403, "uploads are disabled on this tracker (no --upload-token)", NULL);
    return;
  }
  const uint8_t *data = req->body;
  size_t len = req->body_len;
  const char *tok = NULL;
  size_t toklen = 0;
  if (form) {
    struct multipart_part parts[8];
    const char *why;
    int n = multipart_parse(req->body, req->body_len, boundary, parts, 8, &why);
    if (n < 0) {
      upload_reply(res, 1, 400, why, NULL);
      return;
    }
    const struct multipart_part *t = multipart_find(parts, n, "token");
    const struct multipart_part *f = multipart_find(parts, n, "torrent");
    if (t) {
      tok = (const char *)t->data;
      toklen = t->len;
    }
    if (!f) {
      upload_reply(res, 1, 400, "the form has no 'torrent' file field", NULL);
      return;
    }
    data = f->data;
    len = f->len;
  } else {
    const char *hv = http_request_header(req, "X-Upload-Token");
    const char *auth = http_request_header(req, "Authorization");
    if (hv) {
      tok = hv;
      toklen = strlen(hv);
    } else if (auth && !strncasecmp(auth, "Bearer ", 7)) {
      tok = auth + 7;
      toklen = strlen(tok);
    }
  }
  if (!tok || !token_eq(tok, toklen, s->cfg.upload_token)) {
    upload_reply(res, form, 401, "wrong or missing upload token", NULL);
    return;
  }
  char err[512];
  uint8_t h[20];
  int rc = hosting_add(s->host, data, len, h, err, sizeof err);
  if (rc < 0) {
    int st = rc == SH_ELIMIT ? 413 : (rc == SH_EBENCODE || rc == SH_EMETAINFO) ? 400 : 500;
    char msg[600];
    snprintf(msg, sizeof msg, "rejected: %s", err);
    upload_reply(res, form, st, msg, NULL);
    sh_warn("tracker: upload rejected: %s", err);
    return;
  }
  char hex[41];
  sh_hex(h, 20, hex);
  policy_add_hosted(s->trk.policy, h);
  if (rc == 1)
    sh_info("tracker: hosting uploaded torrent %s", hex);
  upload_reply(res, form, rc == 1 ? 201 : 200, rc == 1 ? "added" : "already hosted", hex);
}

static void on_http(struct http_server *hs, const struct http_request *req,
                    struct http_response *res)
{
  struct worker *w = hs->data;
  struct server *s = w->srv;
  int get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
  if (get && path_is(req, "/announce")) {
    struct tracker_addr a;
    if (addr_of((const struct sockaddr *)&req->peer, &a) < 0) {
      tracker_failure(&res->body, "cannot tell the client's address");
      return;
    }
    tracker_http_announce(&s->trk, req->query, req->query_len, &a, now_s(), next_rnd(w),
                          &res->body);
    if (sh_log_get_level() >= SH_LOG_DEBUG) {
      struct query_announce q;
      const char *why;
      if (query_parse_announce(req->query, req->query_len, &q, &why) == 0)
        log_announce("http", &a, q.peer_id, q.port, (int)q.event, q.left);
      else
        sh_debug("tracker: bad http announce: %s", why);
    }
    return;
  }
  if (get && path_is(req, "/scrape")) {
    tracker_http_scrape(&s->trk, req->query, req->query_len, &res->body);
    return;
  }
  tracker_count(&s->trk, TRK_HTTP_OTHER);
  double rates[TRK_STAT_COUNT];
  struct web_ctx wc;
  if (get && (path_is(req, "/") || path_is(req, "/index.html"))) {
    web_ctx_of(s, req, &wc, rates);
    res->content_type = "text/html; charset=utf-8";
    web_index(&wc, &res->body);
  } else if (get && path_is(req, "/stats")) {
    web_ctx_of(s, req, &wc, rates);
    res->content_type = "application/json";
    web_stats_json(&wc, &res->body);
  } else if (get && path_is(req, "/metrics")) {
    web_ctx_of(s, req, &wc, rates);
    res->content_type = "text/plain; version=0.0.4";
    web_metrics(&wc, &res->body);
  } else if (get && req->path_len > 10 && !memcmp(req->path, "/torrents/", 10)) {
    serve_torrent_file(s, req, res);
  } else if (path_is(req, "/upload")) {
    if (strcmp(req->method, "POST")) {
      res->status = 405;
      snprintf(res->headers, sizeof res->headers, "Allow: POST\r\n");
      sh_buf_puts(&res->body, "use POST to upload a .torrent\n");
    } else {
      handle_upload(s, req, res);
    }
  } else {
    res->status = 404;
    sh_buf_puts(&res->body, "not found; the tracker serves /announce, /scrape, /, /stats, "
                            "/metrics, /torrents/HASH.torrent and POST /upload\n");
  }
}

static void on_http_error(struct http_server *hs, int status, const char *why,
                          struct http_response *res)
{
  struct worker *w = hs->data;
  tracker_count(&w->srv->trk, TRK_HTTP_FAILURE);
  /* a tracker client reads a bencoded failure; a person reads it too */
  tracker_failure(&res->body, why);
}

/* ---- UDP ---- */

static void on_udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
  struct worker *w = h->data;
  buf->base = (char *)w->udp_buf;
  buf->len = UDP_BATCH * 65536;
}

static void on_udp(uv_udp_t *u, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                   unsigned flags)
{
  struct worker *w = u->data;
  if (n <= 0 || !from)
    return; /* nothing, an error, or the end-of-batch notice (UV_UDP_MMSG_FREE) */
  struct tracker_addr a;
  if (addr_of(from, &a) < 0)
    return;
  if (n >= 98 && sh_log_get_level() >= SH_LOG_DEBUG && sh_rd32((const uint8_t *)buf->base + 8) == 1) {
    const uint8_t *p = (const uint8_t *)buf->base;
    static const int evmap[4] = {0, 1, 2, 3};
    uint32_t e = sh_rd32(p + 80);
    log_announce("udp", &a, p + 36, sh_rd16(p + 96), e < 4 ? evmap[e] : -1, sh_rd64(p + 64));
  }
  uint8_t out[UDP_PROTO_MAX_REPLY];
  size_t r = udp_proto_handle(&w->srv->trk, (const uint8_t *)buf->base, (size_t)n, &a, now_s(),
                              next_rnd(w), out);
  if (r) {
    uv_buf_t b = uv_buf_init((char *)out, (unsigned)r);
    /* try_send: no allocation, no queue; a full socket buffer drops the
     * reply and the client retries, as BEP 15 expects of UDP */
    uv_udp_try_send(u, &b, 1, from);
  }
}

/* ---- workers ---- */

static void worker_closed(struct http_server *hs) { (void)hs; }

static void on_stop(uv_async_t *a)
{
  struct worker *w = a->data;
  if (w->http_on)
    http_server_close(&w->http, worker_closed);
  for (int i = 0; i < w->nudp; i++)
    uv_close((uv_handle_t *)&w->udp[i], NULL);
  uv_close((uv_handle_t *)&w->stop, NULL);
}

static void *worker_main(void *arg)
{
  struct worker *w = arg;
  uv_run(&w->loop, UV_RUN_DEFAULT);
  return NULL;
}

static int parse_bind(const char *addr, int port, struct sockaddr_storage *ss)
{
  memset(ss, 0, sizeof *ss);
  char tmp[128];
  size_t n = strlen(addr);
  if (n >= sizeof tmp)
    return -EINVAL;
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

static int worker_listen(struct server *s, struct worker *w, const char *const *binds, int nb)
{
  int reuse = s->nw > 1;
  for (int i = 0; i < nb; i++) {
    struct sockaddr_storage ss;
    char where[160];
    if (s->cfg.http_port >= 0) {
      int port = s->http_port > 0 ? s->http_port : s->cfg.http_port;
      if (parse_bind(binds[i], port, &ss) < 0) {
        sh_error("tracker: --bind %s: not an IPv4 or IPv6 address", binds[i]);
        return -EINVAL;
      }
      int rc = http_server_listen(&w->http, (struct sockaddr *)&ss, reuse);
      if (rc < 0) {
        fmt_addr(&ss, port, where, sizeof where);
        sh_error("tracker: cannot serve HTTP on %s: %s", where, sh_strerror(rc));
        return rc;
      }
      int bound = http_server_port(&w->http, w->http.nlisten - 1);
      if (s->http_port <= 0)
        s->http_port = bound;
      if (w->idx == 0) {
        fmt_addr(&ss, bound, where, sizeof where);
        sh_info("tracker: serving HTTP on http://%s/ (announce /announce, scrape /scrape)", where);
      }
    }
    if (s->cfg.udp_port >= 0) {
      int port = s->udp_port > 0 ? s->udp_port
                                 : (s->cfg.udp_port == 0 && s->http_port > 0 ? s->http_port
                                                                              : s->cfg.udp_port);
      if (parse_bind(binds[i], port, &ss) < 0) {
        sh_error("tracker: --bind %s: not an IPv4 or IPv6 address", binds[i]);
        return -EINVAL;
      }
      int fd = http_server_bind_socket((struct sockaddr *)&ss, SOCK_DGRAM, reuse);
      if (fd < 0) {
        fmt_addr(&ss, port, where, sizeof where);
        sh_error("tracker: cannot serve UDP on %s: %s", where, sh_strerror(fd));
        return fd;
      }
      uv_udp_t *u = &w->udp[w->nudp];
      int rc = uv_udp_init_ex(&w->loop, u, AF_UNSPEC | UV_UDP_RECVMMSG);
      if (rc < 0) {
        close(fd);
        return rc;
      }
      u->data = w;
      w->nudp++;
      if ((rc = uv_udp_open(u, fd)) < 0 || (rc = uv_udp_recv_start(u, on_udp_alloc, on_udp)) < 0) {
        sh_error("tracker: UDP socket: %s", sh_strerror(rc));
        return rc;
      }
      int bound = udp_port_of(u);
      if (s->udp_port <= 0)
        s->udp_port = bound;
      if (w->idx == 0) {
        fmt_addr(&ss, bound, where, sizeof where);
        sh_info("tracker: serving UDP on udp://%s/announce", where);
      }
    }
  }
  return 0;
}

/* ---- main-thread timers and signals ---- */

static void on_expire(uv_timer_t *t)
{
  struct server *s = t->data;
  uint64_t n = store_expire(s->trk.store, now_s(), s->cfg.trk.peer_timeout);
  if (n)
    sh_debug("tracker: %llu peers expired", (unsigned long long)n);
}

static void on_rate(uv_timer_t *t)
{
  struct server *s = t->data;
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

static void on_signal(uv_signal_t *sig, int signum)
{
  struct server *s = sig->data;
  if (signum == SIGHUP) {
    char err[512];
    int n = hosting_reload(s->host, err, sizeof err);
    if (n < 0)
      sh_warn("tracker: reload failed, keeping the old set: %s", err);
    else
      sh_info("tracker: reloaded %s", s->cfg.data_dir);
    apply_policy(s);
    return;
  }
  sh_info("tracker: %s, shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
  for (int i = 0; i < 3; i++)
    uv_close((uv_handle_t *)&s->sig[i], NULL);
  uv_close((uv_handle_t *)&s->expire_timer, NULL);
  uv_close((uv_handle_t *)&s->rate_timer, NULL);
  for (int i = 0; i < s->nw; i++)
    uv_async_send(&s->w[i].stop);
}

static void close_walk(uv_handle_t *h, void *arg)
{
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void worker_teardown(struct worker *w)
{
  uv_walk(&w->loop, close_walk, NULL);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  uv_loop_close(&w->loop);
  free(w->udp_buf);
}

int server_run(const struct server_config *c)
{
  struct server *s = calloc(1, sizeof *s);
  if (!s) {
    sh_error("tracker: out of memory");
    return 1;
  }
  int ret = 1, started = 0;
  s->cfg = *c;
  pthread_mutex_init(&s->rate_lock, NULL);
  s->start = now_s();
  s->nw = c->threads < 1 ? 1 : c->threads > SERVER_MAX_THREADS ? SERVER_MAX_THREADS : c->threads;
  if (tracker_init(&s->trk, &c->trk) < 0) {
    sh_error("tracker: out of memory");
    goto out;
  }
  if (getrandom(s->trk.udp_secret, sizeof s->trk.udp_secret, 0) != sizeof s->trk.udp_secret) {
    sh_error("tracker: no random bytes for the UDP connection-ID key: %s", strerror(errno));
    goto out;
  }
  char err[512];
  int rc = hosting_open(&s->host, c->data_dir, err, sizeof err);
  if (rc < 0) {
    sh_error("tracker: data directory: %s", err);
    goto out;
  }
  for (int i = 0; i < c->nadd; i++) {
    rc = hosting_add_file(s->host, c->add[i], NULL, err, sizeof err);
    if (rc < 0) {
      sh_error("tracker: --add %s", err);
      goto out;
    }
  }
  if (c->blocklist)
    snprintf(s->blocklist, sizeof s->blocklist, "%s", c->blocklist);
  else
    snprintf(s->blocklist, sizeof s->blocklist, "%s/blocklist", c->data_dir);
  if (apply_policy(s) < 0) {
    sh_error("tracker: out of memory");
    goto out;
  }

  /* Thousands of (idle) connections need thousands of descriptors; the
   * usual soft limit is 1024, so take whatever the hard limit allows. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rlim_t want = (rlim_t)c->max_conns * (rlim_t)s->nw + 256;
    rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
      sh_debug("tracker: descriptor limit raised to %llu", (unsigned long long)rl.rlim_cur);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)c->max_conns * (rlim_t)s->nw)
    sh_warn("tracker: only %llu file descriptors for up to %u connections per thread; "
            "raise ulimit -n or lower --max-conns", (unsigned long long)rl.rlim_cur, c->max_conns);

  s->w = calloc((size_t)s->nw, sizeof *s->w);
  if (!s->w)
    goto out;
  static const char *const any[] = {"0.0.0.0", "::"};
  const char *const *binds = c->nbinds ? c->binds : any;
  int nb = c->nbinds ? c->nbinds : 2;
  struct http_server_config hc;
  http_server_config_defaults(&hc);
  hc.handler = on_http;
  hc.on_error = on_http_error;
  hc.idle_timeout_ms = c->idle_timeout_ms;
  hc.max_conns = c->max_conns;
  hc.max_body = HOSTING_MAX_TORRENT + 64 * 1024; /* a torrent plus form overhead */
  for (int i = 0; i < s->nw; i++) {
    struct worker *w = &s->w[i];
    w->srv = s;
    w->idx = i;
    getrandom(&w->rng, sizeof w->rng, 0);
    w->rng |= 1;
    w->udp_buf = malloc(UDP_BATCH * 65536);
    if (!w->udp_buf || uv_loop_init(&w->loop) < 0) {
      sh_error("tracker: out of memory");
      goto out;
    }
    started = i + 1;
    uv_async_init(&w->loop, &w->stop, on_stop);
    w->stop.data = w;
    w->http.data = w;
    if (c->http_port >= 0) {
      http_server_init(&w->http, &w->loop, &hc);
      w->http.data = w;
      w->http_on = 1;
    }
    /* When binding all addresses, a host without IPv6 keeps serving IPv4. */
    for (int b = 0; b < nb; b++) {
      if (worker_listen(s, w, &binds[b], 1) < 0) {
        if (!c->nbinds && b == 1 && s->http_port > 0) {
          sh_warn("tracker: no IPv6 listener; serving IPv4 only");
          continue;
        }
        goto out;
      }
    }
  }
  sh_info("tracker: data in %s; mode %s; interval %us; peers expire after %us; %d worker "
          "thread%s; uploads %s",
          c->data_dir, c->trk.hosted_only ? "hosted-only" : "open", c->trk.interval,
          c->trk.peer_timeout, s->nw, s->nw == 1 ? "" : "s",
          c->upload_token ? "enabled" : "disabled");

  uv_loop_t *main = &s->w[0].loop;
  static const int signums[3] = {SIGINT, SIGTERM, SIGHUP};
  for (int i = 0; i < 3; i++) {
    uv_signal_init(main, &s->sig[i]);
    s->sig[i].data = s;
    uv_signal_start(&s->sig[i], on_signal, signums[i]);
  }
  uv_timer_init(main, &s->expire_timer);
  s->expire_timer.data = s;
  /* sweep a few times per timeout, at most once a minute */
  uint64_t sweep = c->trk.peer_timeout / 4;
  sweep = sweep < 1 ? 1 : sweep > 60 ? 60 : sweep;
  uv_timer_start(&s->expire_timer, on_expire, sweep * 1000, sweep * 1000);
  uv_timer_init(main, &s->rate_timer);
  s->rate_timer.data = s;
  uv_timer_start(&s->rate_timer, on_rate, 0, 1000);

  for (int i = 1; i < s->nw; i++)
    if (pthread_create(&s->w[i].thread, NULL, worker_main, &s->w[i]) != 0) {
      sh_error("tracker: cannot start worker thread %d", i);
      for (int j = 1; j < i; j++) {
        uv_async_send(&s->w[j].stop);
        pthread_join(s->w[j].thread, NULL);
      }
      started = 1;
      goto out;
    }
  uv_run(main, UV_RUN_DEFAULT);
  for (int i = 1; i < s->nw; i++)
    pthread_join(s->w[i].thread, NULL);
  struct store_totals tot;
  store_totals(s->trk.store, &tot);
  sh_info("tracker: stopped (%llu torrents, %llu peers at exit)", (unsigned long long)tot.torrents,
          (unsigned long long)tot.peers);
  ret = 0;
out:
  for (int i = 0; i < started; i++)
    worker_teardown(&s->w[i]);
  free(s->w);
  hosting_close(s->host);
  tracker_destroy(&s->trk);
  pthread_mutex_destroy(&s->rate_lock);
  free(s);
  return ret;
}
