/* What each request gets: the HTTP routes (announce, scrape, the web page,
 * /stats, /metrics, torrent downloads, uploads) and the UDP handler, called
 * on every worker's loop. The protocol decisions are made by tracker.c,
 * udp_proto.c and web.c; this file turns sockets' requests into their calls.
 * See server_int.h. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"
#include "base/log.h"
#include "base/sha1.h"
#include "tracker/multipart.h"
#include "tracker/policy.h"
#include "tracker/server_int.h"
#include "tracker/udp_proto.h"
#include "tracker/web.h"

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

static void rates_copy(struct shoal_tracker *s, double *out)
{
  pthread_mutex_lock(&s->rate_lock);
  memcpy(out, s->rates, sizeof s->rates);
  pthread_mutex_unlock(&s->rate_lock);
}

static void web_ctx_of(struct shoal_tracker *s, const struct http_request *req, struct web_ctx *w,
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
  w->uptime = server_now() - s->start;
  w->body_held = atomic_load(&s->bodies.used);
  w->body_cap = s->bodies.cap;
  w->body_refused = atomic_load(&s->bodies.refused);
}

static void serve_torrent_file(struct shoal_tracker *s, const struct http_request *req,
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
  if (sh_unhex(hex, h, 20) < 0 || policy_check(s->trk.policy, h, 0) == POLICY_BLOCKED ||
      !hosting_get(s->host, h, &res->body, &name)) {
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

/* The token of a raw upload, from its headers. */
static const char *header_token(const struct http_request *req)
{
  const char *hv = http_request_header(req, "X-Upload-Token");
  const char *auth = http_request_header(req, "Authorization");
  if (hv)
    return hv;
  return auth && !strncasecmp(auth, "Bearer ", 7) ? auth + 7 : NULL;
}

static int upload_is_form(const struct http_request *req, char *boundary, size_t cap)
{
  return multipart_boundary(http_request_header(req, "Content-Type"), boundary, cap) > 0;
}

static void handle_upload(struct shoal_tracker *s, const struct http_request *req,
                          struct http_response *res)
{
  char boundary[80];
  int form = upload_is_form(req, boundary, sizeof boundary);
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
  } else if ((tok = header_token(req))) {
    toklen = strlen(tok);
  }
  if (!tok || !token_eq(tok, toklen, s->cfg.upload_token)) {
    upload_reply(res, form, 401, "wrong or missing upload token", NULL);
    return;
  }
  char err[512];
  uint8_t h[20];
  int rc = hosting_add(s->host, data, len, h, err, sizeof err);
  char hex[41];
  sh_hex(h, 20, hex);
  if (rc >= 0 && policy_check(s->trk.policy, h, 0) == POLICY_BLOCKED) {
    upload_reply(res, form, 403, "rejected: this torrent is blocked on this tracker", hex);
    return;
  }
  if (rc < 0) {
    int st = rc == SH_ELIMIT ? 413 : (rc == SH_EBENCODE || rc == SH_EMETAINFO) ? 400 : 500;
    char msg[600];
    /* the parser's reason helps the uploader; a storage failure's names
     * the server's folders, which are nobody else's business: the log
     * has it */
    if (st == 500)
      snprintf(msg, sizeof msg, "the tracker could not store the torrent: %s", sh_strerror(rc));
    else
      snprintf(msg, sizeof msg, "rejected: %s", err);
    upload_reply(res, form, st, msg, NULL);
    sh_warn("tracker: upload rejected: %s", err);
    return;
  }
  policy_add_hosted(s->trk.policy, h);
  if (rc == 1)
    sh_info("tracker: hosting uploaded torrent %s", hex);
  upload_reply(res, form, rc == 1 ? 201 : 200, rc == 1 ? "added" : "already hosted", hex);
}

void serve_http(struct http_server *hs, const struct http_request *req, struct http_response *res)
{
  struct worker *w = hs->data;
  struct shoal_tracker *s = w->srv;
  int get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
  if (get && path_is(req, "/announce")) {
    struct tracker_addr a;
    if (addr_of((const struct sockaddr *)&req->peer, &a) < 0) {
      tracker_failure(&res->body, "cannot tell the client's address");
      return;
    }
    tracker_http_announce(&s->trk, req->query, req->query_len, &a, server_now(), next_rnd(w),
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
    handle_upload(s, req, res); /* serve_http_head let only a POST through */
  } else {
    res->status = 404;
    sh_buf_puts(&res->body, "not found; the tracker serves /announce, /scrape, /, /stats, "
                            "/metrics, /torrents/HASH.torrent and POST /upload\n");
  }
}

/* Paths a GET serves (anything else is 404 whatever the method). */
static int get_path(const struct http_request *req)
{
  return path_is(req, "/announce") || path_is(req, "/scrape") || path_is(req, "/") ||
         path_is(req, "/index.html") || path_is(req, "/stats") || path_is(req, "/metrics") ||
         (req->path_len > 10 && !memcmp(req->path, "/torrents/", 10));
}

/* Decided from the request line and headers, before any body is read
 * (http_server.h): only an upload that may succeed has its body read. A
 * multipart form carries its token inside the body, so a form is read (up
 * to the size limit, within the upload memory budget) before its token is
 * checked; a raw upload's token is in its headers and checked here. */
void serve_http_head(struct http_server *hs, const struct http_request *req,
                     struct http_response *res)
{
  struct worker *w = hs->data;
  struct shoal_tracker *s = w->srv;
  int get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
  int body = req->content_length > 0 || req->chunked;
  if (path_is(req, "/upload")) {
    char boundary[80];
    int form = upload_is_form(req, boundary, sizeof boundary);
    const char *tok = form ? NULL : header_token(req);
    tracker_count(&s->trk, TRK_UPLOAD);
    if (strcmp(req->method, "POST")) {
      upload_reply(res, 0, 405, "use POST to upload a .torrent", NULL);
      snprintf(res->headers, sizeof res->headers, "Allow: POST\r\n");
    } else if (!s->cfg.upload_token) {
      upload_reply(res, form, 403, "uploads are disabled on this tracker (no --upload-token)",
                   NULL);
    } else if (!form && (!tok || !token_eq(tok, strlen(tok), s->cfg.upload_token))) {
      upload_reply(res, form, 401, "wrong or missing upload token", NULL);
    } else if (req->content_length > (int64_t)s->hc.max_body) {
      char msg[200];
      snprintf(msg, sizeof msg, "rejected: the upload is larger than %zu bytes (a .torrent is "
               "at most %u bytes)", s->hc.max_body, HOSTING_MAX_TORRENT);
      upload_reply(res, form, 413, msg, NULL);
    }
    return;
  }
  if (get && body) {
    res->status = 400;
    sh_buf_puts(&res->body, "a GET request carries no body\n");
  } else if (!get && get_path(req)) {
    res->status = 405;
    snprintf(res->headers, sizeof res->headers, "Allow: GET, HEAD\r\n");
    sh_buf_puts(&res->body, "use GET here; only /upload takes a POST\n");
  } else if (!get) {
    res->status = 404;
    sh_buf_puts(&res->body, "not found; only /upload takes a POST\n");
  }
  if (res->status)
    tracker_count(&s->trk, TRK_HTTP_OTHER);
}

void serve_http_error(struct http_server *hs, const struct http_request *req, int status,
                      const char *why, struct http_response *res)
{
  struct worker *w = hs->data;
  tracker_count(&w->srv->trk, TRK_HTTP_FAILURE);
  if (req && path_is(req, "/upload")) {
    /* an upload's errors all look alike: text, or a page for the form */
    char boundary[80];
    upload_reply(res, upload_is_form(req, boundary, sizeof boundary), status, why, NULL);
    return;
  }
  /* a tracker client reads a bencoded failure; a person reads it too */
  tracker_failure(&res->body, why);
}

/* ---- UDP ---- */

void serve_udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
  struct worker *w = h->data;
  buf->base = (char *)w->udp_buf;
  buf->len = UDP_BATCH * 65536;
}

void serve_udp(uv_udp_t *u, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
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
  size_t r = udp_proto_handle(&w->srv->trk, (const uint8_t *)buf->base, (size_t)n, &a, server_now(),
                              next_rnd(w), out);
  if (r) {
    uv_buf_t b = uv_buf_init((char *)out, (unsigned)r);
    /* try_send: no allocation, no queue; a full socket buffer drops the
     * reply and the client retries, as BEP 15 expects of UDP */
    uv_udp_try_send(u, &b, 1, from);
  }
}
