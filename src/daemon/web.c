/* The daemon's HTTP front end on the library's server (net/http_server.h):
 * who may talk (the client allow-list: 403; the Host allow-list against
 * DNS rebinding: 421; Basic auth with a slow-down after failures: 401),
 * Transmission's session-id handshake (409), then POST /transmission/rpc
 * to rpc.c, and the web page: the built-in one, or the files of
 * --web-root (Transmission's web client lives at /transmission/web/). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "daemon/b64.h"
#include "daemon/daemon.h"
#include "daemon/tick.h"

extern const unsigned char sh_webui_page[];
extern const unsigned long sh_webui_page_len;

/* ---- who may talk ---- */

/* Is s in the comma-separated list of patterns ('*' and '?' wildcards)? */
static int listed(const char *list, const char *s)
{
  if (!list)
    return 0;
  char pat[256];
  for (const char *p = list; *p;) {
    size_t n = strcspn(p, ",");
    const char *b = p, *e = p + n;
    while (b < e && (*b == ' ' || *b == '\t'))
      b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
      e--;
    if (e > b && (size_t)(e - b) < sizeof pat) {
      memcpy(pat, b, (size_t)(e - b));
      pat[e - b] = 0;
      if (fnmatch(pat, s, FNM_CASEFOLD) == 0)
        return 1;
    }
    p += n + (p[n] == ',');
  }
  return 0;
}

static void peer_text(const struct sockaddr_storage *ss, char *out, size_t cap)
{
  out[0] = 0;
  if (ss->ss_family == AF_INET) {
    inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out, (socklen_t)cap);
  } else if (ss->ss_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a))
      inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)cap);
    else
      inet_ntop(AF_INET6, a, out, (socklen_t)cap);
  }
}

/* Host: an address literal or localhost always passes; a name must be on
 * the list, so a web page that rebinds its own name to 127.0.0.1 is
 * refused. */
static int host_ok(const struct shoal_daemon *d, const char *host)
{
  if (!d->cfg.rpc_host_whitelist_enabled)
    return 1;
  if (!host || !*host)
    return 0;
  char h[256];
  snprintf(h, sizeof h, "%s", host);
  if (h[0] == '[') {
    char *e = strchr(h, ']');
    if (!e)
      return 0;
    *e = 0;
    struct in6_addr a6;
    return inet_pton(AF_INET6, h + 1, &a6) == 1;
  }
  char *colon = strchr(h, ':');
  if (colon)
    *colon = 0;
  struct in_addr a4;
  if (inet_pton(AF_INET, h, &a4) == 1 || !strcasecmp(h, "localhost") ||
      !strcasecmp(h, "localhost."))
    return 1;
  return listed(d->cfg.rpc_host_whitelist, h);
}

/* "Basic dXNlcjpwYXNz" -> "user:pass" (NUL-terminated); -1 when malformed. */
static int basic_decode(const char *h, char *out, size_t cap)
{
  if (!h || strncasecmp(h, "Basic ", 6))
    return -1;
  size_t n;
  uint8_t *d = sh_b64_decode(h + 6, &n);
  int rc = d && n < cap && !memchr(d, 0, n) ? 0 : -1;
  if (rc == 0)
    memcpy(out, d, n + 1);
  free(d);
  return rc;
}

/* Compares without an early exit, so the time taken says nothing. */
static int same(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);
  unsigned diff = (unsigned)(la ^ lb);
  for (size_t i = 0; i < la; i++)
    diff |= (unsigned)(a[i] ^ b[i % (lb ? lb : 1)]);
  return diff == 0;
}

/* 0 when the credentials are right. After 5 failures in a row each new
 * request is refused unread for 1 s, 2 s, 4 s ... (at most 60 s), so a
 * password cannot be guessed at the loop's speed. */
static int auth_check(struct shoal_daemon *d, const struct http_request *req)
{
  if (!d->cfg.rpc_auth)
    return 0;
  uint64_t now = uv_now(d->loop);
  if (now < d->auth_block_until_ms)
    return -1;
  char got[512], want[512];
  snprintf(want, sizeof want, "%s:%s", d->cfg.rpc_username ? d->cfg.rpc_username : "",
           d->cfg.rpc_password ? d->cfg.rpc_password : "");
  if (basic_decode(http_request_header(req, "Authorization"), got, sizeof got) == 0 &&
      same(got, want)) {
    d->auth_failures = 0;
    return 0;
  }
  const char *h = http_request_header(req, "Authorization");
  if (h) { /* a request without credentials is a browser asking, not a guess */
    d->auth_failures++;
    if (d->auth_failures >= 5) {
      unsigned shift = d->auth_failures - 5 < 6 ? d->auth_failures - 5 : 6;
      d->auth_block_until_ms = now + (1000u << shift > 60000 ? 60000 : 1000u << shift);
      sh_warn("daemon: %u failed RPC logins in a row", d->auth_failures);
    }
  }
  return -1;
}

/* ---- answers ---- */

static void answer(struct http_response *res, int status, const char *text)
{
  res->status = status;
  res->content_type = "text/html; charset=UTF-8";
  sh_buf_printf(&res->body, "<h1>%d: %s</h1><p>%s</p>\n", status, http_status_text(status), text);
}

static void rpc(struct shoal_daemon *d, const struct http_request *req, struct http_response *res)
{
  snprintf(res->headers, sizeof res->headers, "X-Transmission-Session-Id: %s\r\n",
           d->session_id);
  const char *sid = http_request_header(req, "X-Transmission-Session-Id");
  if (!sid || strcmp(sid, d->session_id) || strcmp(req->method, "POST")) {
    answer(res, 409, "Your request had an invalid session-id header.<br>"
                     "To fix this, follow these steps: read the X-Transmission-Session-Id "
                     "header of this answer and send it with every request.");
    return;
  }
  char *reply = NULL;
  size_t len = 0;
  int rc = shoal_daemon_rpc(d, (const char *)req->body, req->body_len, &reply, &len);
  if (rc == -ENOMEM || !reply) {
    answer(res, 500, "out of memory");
    return;
  }
  res->status = rc == -EINVAL ? 400 : 200;
  res->content_type = "application/json; charset=UTF-8";
  /* the reply becomes the body as it is: torrent-get's can be 5 MB */
  sh_buf_free(&res->body);
  res->body = (struct sh_buf){(uint8_t *)reply, len, len + 1, 0};
}

static const char *mime_of(const char *path)
{
  static const char *const map[][2] = {
      {".html", "text/html; charset=UTF-8"}, {".css", "text/css"},
      {".js", "application/javascript"},     {".png", "image/png"},
      {".gif", "image/gif"},                 {".svg", "image/svg+xml"},
      {".ico", "image/x-icon"},              {".json", "application/json"},
      {".jpg", "image/jpeg"},                {".woff", "font/woff"},
  };
  const char *dot = strrchr(path, '.');
  for (size_t i = 0; dot && i < sizeof map / sizeof map[0]; i++)
    if (!strcasecmp(dot, map[i][0]))
      return map[i][1];
  return "application/octet-stream";
}

/* A file of --web-root; rel has no "..", no '%' and no control byte. */
static void serve_file(struct shoal_daemon *d, const char *rel, struct http_response *res)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", d->cfg.web_root, *rel ? rel : "index.html");
  struct stat sb;
  if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    size_t l = strlen(path);
    snprintf(path + l, sizeof path - l, "/index.html");
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > (16 << 20)) {
    if (fd >= 0)
      close(fd);
    answer(res, 404, "no such file");
    return;
  }
  sh_buf_reserve(&res->body, (size_t)sb.st_size);
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    sh_buf_append(&res->body, buf, (size_t)n);
  close(fd);
  res->content_type = mime_of(path);
}

static void page(struct shoal_daemon *d, const char *rel, struct http_response *res)
{
  if (strstr(rel, "..") || strchr(rel, '%') || strchr(rel, '\\')) {
    answer(res, 404, "no such file");
    return;
  }
  for (const char *p = rel; *p; p++)
    if ((unsigned char)*p < 0x20) {
      answer(res, 404, "no such file");
      return;
    }
  if (d->cfg.web_root) {
    serve_file(d, rel, res);
    return;
  }
  if (*rel && strcmp(rel, "index.html")) {
    answer(res, 404, "no such file");
    return;
  }
  res->content_type = "text/html; charset=UTF-8";
  /* everything inline, nothing from elsewhere; no framing by other sites */
  snprintf(res->headers, sizeof res->headers,
           "Content-Security-Policy: default-src 'self'; script-src 'unsafe-inline'; "
           "style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'\r\n"
           "X-Frame-Options: DENY\r\nCache-Control: no-cache\r\n");
  sh_buf_append(&res->body, sh_webui_page, sh_webui_page_len);
}

static void handle(struct http_server *s, const struct http_request *req, struct http_response *res)
{
  struct shoal_daemon *d = s->data;
  char who[64];
  peer_text(&req->peer, who, sizeof who);
  if (d->cfg.rpc_whitelist_enabled && !listed(d->cfg.rpc_whitelist, who)) {
    sh_info("daemon: refused a request from %s: not on the rpc-whitelist", who);
    answer(res, 403, "Unauthorized IP Address. Either disable the IP address whitelist or add "
                     "your address to it.");
    res->close = 1;
    return;
  }
  if (!host_ok(d, http_request_header(req, "Host"))) {
    answer(res, 421, "Unauthorized Host. This server only answers to its addresses, "
                     "localhost and the names on rpc-host-whitelist.");
    return;
  }
  if (auth_check(d, req) < 0) {
    answer(res, 401, "Unauthorized User");
    snprintf(res->headers, sizeof res->headers,
             "WWW-Authenticate: Basic realm=\"Transmission\"\r\n");
    return;
  }
  char path[1024];
  snprintf(path, sizeof path, "%.*s", (int)(req->path_len < 1000 ? req->path_len : 1000),
           req->path);
  if (!strcmp(path, "/transmission/rpc") || !strcmp(path, "/transmission/rpc/")) {
    rpc(d, req, res);
  } else if (!strcmp(path, "/") || !strcmp(path, "/transmission") ||
             !strcmp(path, "/transmission/") || !strcmp(path, "/transmission/web")) {
    if (d->cfg.web_root) {
      res->status = 301;
      snprintf(res->headers, sizeof res->headers, "Location: /transmission/web/\r\n");
    } else {
      page(d, "", res);
    }
  } else if (!strncmp(path, "/transmission/web/", 18)) {
    page(d, path + 18, res);
  } else {
    answer(res, 404, "no such page");
  }
}

int sh_web_start(struct shoal_daemon *d, char *err, size_t errlen)
{
  struct http_server_config hc;
  http_server_config_defaults(&hc);
  hc.handler = handle;
  hc.max_body = d->cfg.rpc_max_body ? d->cfg.rpc_max_body : 64u << 20;
  hc.idle_timeout_ms = 60000;
  hc.max_conns = 256;
  d->http.data = d;
  int rc = http_server_init(&d->http, d->loop, &hc);
  if (rc < 0)
    return sh_errf(err, errlen, rc, "cannot start the RPC server");
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  const char *bind = d->cfg.rpc_bind ? d->cfg.rpc_bind : "127.0.0.1";
  if (uv_ip4_addr(bind, d->cfg.rpc_port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(bind, d->cfg.rpc_port, (struct sockaddr_in6 *)&ss) != 0)
    return sh_errf(err, errlen, -EINVAL, "rpc-bind-address %s: not an IP address", bind);
  d->http_up = 1;
  rc = http_server_listen(&d->http, (struct sockaddr *)&ss, 0);
  if (rc < 0)
    return sh_errf(err, errlen, rc, "RPC on %s port %d: %s", bind, d->cfg.rpc_port,
                   sh_strerror(rc));
  return 0;
}

static void on_web_closed(struct http_server *s)
{
  struct shoal_daemon *d = s->data;
  d->web_closing = 0;
  sh_daemon_maybe_free(d);
}

void sh_web_close(struct shoal_daemon *d)
{
  if (!d->http_up)
    return;
  d->http_up = 0;
  d->web_closing = 1;
  http_server_close(&d->http, on_web_closed);
}
