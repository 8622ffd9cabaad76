/* HTTP server on llhttp + libuv; see http_server.h for limits and ownership. */
#include "net/http_server.h"

#include <errno.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/log.h"

struct http_conn {
  uv_tcp_t tcp; /* first: the handle's address is the connection's */
  uv_timer_t timer;
  struct http_server *srv;
  struct http_conn *prev, *next;
  llhttp_t parser;
  struct sh_buf url, hdr, body;
  uint32_t hoff[HTTP_SERVER_MAX_HEADERS * 2]; /* name/value offsets into hdr */
  int nhdr;
  int in_field;     /* inside a header name */
  int closing;      /* no more requests: close after pending writes */
  int writes;       /* uv_write requests in flight */
  int handles_open; /* tcp + timer, for the close callback */
  int error_status; /* a limit was hit: answer with this status */
  const char *error_why;
};

struct write_req {
  uv_write_t req;
  struct http_conn *c;
  uint8_t *data;
};

static const llhttp_settings_t *settings(void);

void http_server_config_defaults(struct http_server_config *c)
{
  memset(c, 0, sizeof *c);
  c->max_url = 16 * 1024;
  c->max_headers = 16 * 1024;
  c->max_body = 4 * 1024 * 1024;
  c->idle_timeout_ms = 15000;
  c->max_conns = 4096;
}

const char *http_status_text(int status)
{
  switch (status) {
  case 200: return "OK";
  case 201: return "Created";
  case 204: return "No Content";
  case 301: return "Moved Permanently";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 413: return "Payload Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 503: return "Service Unavailable";
  default: return "Unknown";
  }
}

int http_server_init(struct http_server *s, uv_loop_t *loop, const struct http_server_config *c)
{
  void *data = s->data;
  memset(s, 0, offsetof(struct http_server, rbuf));
  s->data = data;
  s->loop = loop;
  s->cfg = *c;
  return c->handler ? 0 : -EINVAL;
}

int http_server_bind_socket(const struct sockaddr *addr, int type, int reuseport)
{
  int fd = socket(addr->sa_family, type | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
    goto fail;
  if (addr->sa_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
    goto fail;
  socklen_t len = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  if (bind(fd, addr, len) < 0)
    goto fail;
  return fd;
fail:;
  int e = -errno;
  close(fd);
  return e;
}

static void conn_closed(uv_handle_t *h)
{
  struct http_conn *c = h->data;
  if (--c->handles_open > 0)
    return;
  struct http_server *s = c->srv;
  sh_buf_free(&c->url);
  sh_buf_free(&c->hdr);
  sh_buf_free(&c->body);
  free(c);
  s->nconns--;
  if (s->closing && --s->pending_closes == 0 && s->close_cb)
    s->close_cb(s);
}

static void conn_close(struct http_conn *c)
{
  if (uv_is_closing((uv_handle_t *)&c->tcp))
    return;
  struct http_server *s = c->srv;
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
  uv_close((uv_handle_t *)&c->timer, conn_closed);
  uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void on_timeout(uv_timer_t *t)
{
  conn_close(t->data);
}

static void arm_timer(struct http_conn *c)
{
  uv_timer_start(&c->timer, on_timeout, c->srv->cfg.idle_timeout_ms, 0);
}

static void on_write(uv_write_t *req, int status)
{
  struct write_req *w = (struct write_req *)req;
  struct http_conn *c = w->c;
  free(w->data);
  free(w);
  c->writes--;
  if (status < 0 || (c->closing && c->writes == 0))
    conn_close(c);
}

/* Sends bytes: straight into the socket when it takes them all (the usual
 * case for a tracker reply), else through a queued write. Takes ownership of
 * data (malloc'd). */
static void conn_send(struct http_conn *c, uint8_t *data, size_t len)
{
  size_t off = 0;
  if (c->writes == 0) {
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n > 0)
      off = (size_t)n;
    else if (n < 0 && n != UV_EAGAIN) {
      free(data);
      c->closing = 1;
      conn_close(c);
      return;
    }
  }
  if (off == len) {
    free(data);
    return;
  }
  struct write_req *w = malloc(sizeof *w);
  if (!w) {
    free(data);
    conn_close(c);
    return;
  }
  w->c = c;
  w->data = data;
  uv_buf_t b = uv_buf_init((char *)data + off, (unsigned)(len - off));
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
    free(data);
    free(w);
    conn_close(c);
    return;
  }
  c->writes++;
}

static void send_response(struct http_conn *c, struct http_response *res, int keep_alive,
                          int head_only)
{
  struct sh_buf out = SH_BUF_INIT;
  int close_after = res->close || !keep_alive;
  if (res->body.oom) {
    res->status = 500;
    sh_buf_reset(&res->body);
    res->body.oom = 0;
    sh_buf_puts(&res->body, "out of memory\n");
    res->content_type = "text/plain";
  }
  /* answer in HTTP/1.0 only to a request that said so; a request refused
   * before its version was parsed gets 1.1 */
  int v10 = c->parser.http_major == 1 && c->parser.http_minor == 0;
  /* Built by hand rather than with printf: for a tracker this header is
   * most of the user-space work of a request. */
  static const char *const conn_hdr[3] = {"", "Connection: close\r\n", "Connection: keep-alive\r\n"};
  char num[24];
  sh_buf_reserve(&out, 256 + res->body.len);
  sh_buf_puts(&out, v10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  int st = res->status >= 100 && res->status <= 999 ? res->status : 500;
  num[0] = (char)('0' + st / 100);
  num[1] = (char)('0' + st / 10 % 10);
  num[2] = (char)('0' + st % 10);
  num[3] = ' ';
  sh_buf_append(&out, num, 4);
  sh_buf_puts(&out, http_status_text(st));
  sh_buf_puts(&out, "\r\nContent-Type: ");
  sh_buf_puts(&out, res->content_type ? res->content_type : "text/plain");
  sh_buf_puts(&out, "\r\nContent-Length: ");
  int k = (int)sizeof num;
  size_t cl = res->body.len;
  do {
    num[--k] = (char)('0' + cl % 10);
    cl /= 10;
  } while (cl);
  sh_buf_append(&out, num + k, sizeof num - (size_t)k);
  sh_buf_puts(&out, "\r\n");
  sh_buf_puts(&out, conn_hdr[close_after ? 1 : v10 ? 2 : 0]);
  sh_buf_puts(&out, res->headers);
  sh_buf_puts(&out, "\r\n");
  if (!head_only)
    sh_buf_append(&out, res->body.data, res->body.len);
  if (close_after)
    c->closing = 1;
  if (out.oom) {
    sh_buf_free(&out);
    c->closing = 1;
    conn_close(c);
    return;
  }
  size_t len;
  uint8_t *data = (uint8_t *)sh_buf_steal(&out, &len);
  conn_send(c, data, len);
}

static void answer_error(struct http_conn *c, int status, const char *why)
{
  struct http_server *s = c->srv;
  struct http_response res;
  memset(&res, 0, sizeof res);
  res.status = status;
  res.close = 1;
  s->errors++;
  if (s->cfg.on_error)
    s->cfg.on_error(s, status, why, &res);
  else
    sh_buf_printf(&res.body, "%d %s: %s\n", status, http_status_text(status), why);
  send_response(c, &res, 0, 0);
  sh_buf_free(&res.body);
}

static struct http_conn *conn_of(llhttp_t *p) { return p->data; }

static int on_message_begin(llhttp_t *p)
{
  struct http_conn *c = conn_of(p);
  sh_buf_reset(&c->url);
  sh_buf_reset(&c->hdr);
  sh_buf_reset(&c->body);
  c->nhdr = 0;
  c->in_field = 0;
  return 0;
}

static int limit(struct http_conn *c, int status, const char *why)
{
  c->error_status = status;
  c->error_why = why;
  return -1;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
  struct http_conn *c = conn_of(p);
  if (c->url.len + n > c->srv->cfg.max_url)
    return limit(c, 414, "request URL too long");
  sh_buf_append(&c->url, at, n);
  return c->url.oom ? limit(c, 500, "out of memory") : 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
  struct http_conn *c = conn_of(p);
  if (c->hdr.len + n + 2 > c->srv->cfg.max_headers)
    return limit(c, 431, "request headers too large");
  if (!c->in_field) {
    /* llhttp may deliver one name in several pieces: a new header begins
     * only after the previous value completed */
    if (c->nhdr == HTTP_SERVER_MAX_HEADERS)
      return limit(c, 431, "too many request headers");
    c->hoff[2 * c->nhdr] = (uint32_t)c->hdr.len;
    c->hoff[2 * c->nhdr + 1] = UINT32_MAX;
    c->nhdr++;
    c->in_field = 1;
  }
  sh_buf_append(&c->hdr, at, n);
  return c->hdr.oom ? limit(c, 500, "out of memory") : 0;
}

static int on_header_field_complete(llhttp_t *p)
{
  struct http_conn *c = conn_of(p);
  if (!c->in_field) /* an empty name: give it its own entry */
    on_header_field(p, "", 0);
  sh_buf_putc(&c->hdr, 0);
  c->hoff[2 * (c->nhdr - 1) + 1] = (uint32_t)c->hdr.len;
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
  struct http_conn *c = conn_of(p);
  if (c->hdr.len + n + 2 > c->srv->cfg.max_headers)
    return limit(c, 431, "request headers too large");
  sh_buf_append(&c->hdr, at, n);
  return c->hdr.oom ? limit(c, 500, "out of memory") : 0;
}

static int on_header_value_complete(llhttp_t *p)
{
  struct http_conn *c = conn_of(p);
  c->in_field = 0;
  sh_buf_putc(&c->hdr, 0);
  return 0;
}

static int on_headers_complete(llhttp_t *p)
{
  struct http_conn *c = conn_of(p);
  if (p->content_length > c->srv->cfg.max_body && (p->flags & F_CONTENT_LENGTH))
    return limit(c, 413, "request body too large");
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
  struct http_conn *c = conn_of(p);
  if (c->body.len + n > c->srv->cfg.max_body)
    return limit(c, 413, "request body too large");
  sh_buf_append(&c->body, at, n);
  return c->body.oom ? limit(c, 500, "out of memory") : 0;
}

static int on_message_complete(llhttp_t *p)
{
  struct http_conn *c = conn_of(p);
  struct http_server *s = c->srv;
  struct http_request req;
  struct http_response res;
  if (c->closing)
    return HPE_PAUSED;
  sh_buf_putc(&c->url, 0);
  sh_buf_putc(&c->body, 0); /* handlers may treat a body as a C string */
  if (c->url.oom || c->body.oom || c->hdr.oom)
    return limit(c, 500, "out of memory");
  memset(&req, 0, offsetof(struct http_request, headers));
  req.method = llhttp_method_name((llhttp_method_t)p->method);
  req.target = (const char *)c->url.data;
  req.target_len = c->url.len - 1;
  const char *hash = memchr(req.target, '#', req.target_len);
  size_t tl = hash ? (size_t)(hash - req.target) : req.target_len;
  const char *qm = memchr(req.target, '?', tl);
  req.path = req.target;
  req.path_len = qm ? (size_t)(qm - req.target) : tl;
  req.query = qm ? qm + 1 : NULL;
  req.query_len = qm ? tl - req.path_len - 1 : 0;
  req.nheaders = 0;
  for (int i = 0; i < c->nhdr; i++) {
    if (c->hoff[2 * i + 1] == UINT32_MAX)
      continue;
    req.headers[req.nheaders].name = (const char *)c->hdr.data + c->hoff[2 * i];
    req.headers[req.nheaders].value = (const char *)c->hdr.data + c->hoff[2 * i + 1];
    req.nheaders++;
  }
  req.body = c->body.data;
  req.body_len = c->body.len - 1;
  req.http_major = p->http_major;
  req.http_minor = p->http_minor;
  int plen = sizeof req.peer;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&req.peer, &plen) < 0)
    req.peer.ss_family = AF_UNSPEC;

  memset(&res, 0, sizeof res);
  res.status = 200;
  s->requests++;
  s->cfg.handler(s, &req, &res);
  send_response(c, &res, llhttp_should_keep_alive(p), p->method == HTTP_HEAD);
  sh_buf_free(&res.body);
  if (c->closing)
    return HPE_PAUSED; /* parse no further requests on this connection */
  arm_timer(c);
  return 0;
}

static const llhttp_settings_t *settings(void)
{
  static llhttp_settings_t st;
  static int init;
  if (!init) {
    llhttp_settings_init(&st);
    st.on_message_begin = on_message_begin;
    st.on_url = on_url;
    st.on_header_field = on_header_field;
    st.on_header_field_complete = on_header_field_complete;
    st.on_header_value = on_header_value;
    st.on_header_value_complete = on_header_value_complete;
    st.on_headers_complete = on_headers_complete;
    st.on_body = on_body;
    st.on_message_complete = on_message_complete;
    init = 1;
  }
  return &st;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
  struct http_conn *c = h->data;
  buf->base = c->srv->rbuf;
  buf->len = sizeof c->srv->rbuf;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
  struct http_conn *c = st->data;
  if (n < 0) {
    /* EOF or error. A half-closed client that still waits for replies has
     * them queued already; close once they are written. */
    if (c->writes == 0)
      conn_close(c);
    else {
      c->closing = 1;
      uv_read_stop(st);
    }
    return;
  }
  if (n == 0 || c->closing)
    return;
  llhttp_errno_t e = llhttp_execute(&c->parser, buf->base, (size_t)n);
  if (e == HPE_OK)
    return;
  /* HPE_PAUSED_UPGRADE: an Upgrade request was answered like any other;
   * we speak no other protocol, so the connection ends there */
  if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE || c->closing) {
    uv_read_stop(st);
    if (c->writes == 0)
      conn_close(c);
    return;
  }
  uv_read_stop(st);
  if (c->error_status)
    answer_error(c, c->error_status, c->error_why);
  else
    answer_error(c, 400, llhttp_get_error_reason(&c->parser));
  if (c->writes == 0)
    conn_close(c);
}

static void on_connection(uv_stream_t *server, int status)
{
  struct http_server *s = server->data;
  if (status < 0)
    return;
  struct http_conn *c = calloc(1, sizeof *c);
  if (!c)
    goto reject;
  if (uv_tcp_init(s->loop, &c->tcp) < 0) {
    free(c);
    goto reject;
  }
  c->srv = s;
  c->tcp.data = c;
  c->handles_open = 2;
  uv_timer_init(s->loop, &c->timer);
  c->timer.data = c;
  s->nconns++;
  c->next = s->conns;
  if (s->conns)
    s->conns->prev = c;
  s->conns = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
    conn_close(c);
    return;
  }
  if (s->nconns > s->cfg.max_conns) {
    /* Over the limit: the kernel already completed the handshake, so the
     * cheapest clear answer is to close at once. */
    s->rejected_conns++;
    conn_close(c);
    return;
  }
  /* No TCP_NODELAY: every reply goes out in one write, so Nagle never
   * holds one back, and a new connection per request (as most tracker
   * clients make) saves the setsockopt() call. */
  llhttp_init(&c->parser, HTTP_REQUEST, settings());
  c->parser.data = c;
  arm_timer(c);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  return;
reject:;
  /* Accept into a throwaway handle so the backlog does not fill up. */
  uv_tcp_t *tmp = malloc(sizeof *tmp);
  if (tmp && uv_tcp_init(s->loop, tmp) == 0) {
    if (uv_accept(server, (uv_stream_t *)tmp) < 0) {}
    uv_close((uv_handle_t *)tmp, (uv_close_cb)free);
  } else {
    free(tmp);
  }
}

int http_server_listen(struct http_server *s, const struct sockaddr *addr, int reuseport)
{
  if (s->nlisten == HTTP_SERVER_MAX_LISTEN)
    return -ENOSPC;
  int fd = http_server_bind_socket(addr, SOCK_STREAM, reuseport);
  if (fd < 0)
    return fd;
  uv_tcp_t *t = &s->listen[s->nlisten];
  int rc = uv_tcp_init(s->loop, t);
  if (rc < 0) {
    close(fd);
    return rc;
  }
  t->data = s;
  if ((rc = uv_tcp_open(t, fd)) < 0 || (rc = uv_listen((uv_stream_t *)t, 1024, on_connection)) < 0) {
    uv_close((uv_handle_t *)t, NULL);
    return rc;
  }
  s->nlisten++;
  return 0;
}

int http_server_port(struct http_server *s, int i)
{
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (i < 0 || i >= s->nlisten || uv_tcp_getsockname(&s->listen[i], (struct sockaddr *)&ss, &len) < 0)
    return -1;
  if (ss.ss_family == AF_INET)
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void listener_closed(uv_handle_t *h)
{
  struct http_server *s = h->data;
  if (--s->pending_closes == 0 && s->close_cb)
    s->close_cb(s);
}

void http_server_close(struct http_server *s, void (*cb)(struct http_server *s))
{
  s->closing = 1;
  s->close_cb = cb;
  /* every listener and every connection not yet freed (some may be closing
   * already) reports once; the extra 1 holds until all closes are queued */
  s->pending_closes = 1 + s->nlisten + (int)s->nconns;
  for (int i = 0; i < s->nlisten; i++)
    uv_close((uv_handle_t *)&s->listen[i], listener_closed);
  while (s->conns)
    conn_close(s->conns);
  if (--s->pending_closes == 0 && cb)
    cb(s);
}

const char *http_request_header(const struct http_request *r, const char *name)
{
  for (int i = 0; i < r->nheaders; i++)
    if (!strcasecmp(r->headers[i].name, name))
      return r->headers[i].value;
  return NULL;
}
