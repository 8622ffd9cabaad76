/* HTTP server on llhttp + libuv; see http_server.h for limits and ownership.
 *
 * Fast path. Most tracker clients open a connection, send one request and
 * read one reply. Through libuv's stream machinery that costs accept4,
 * epoll_ctl(ADD), an epoll wakeup, read, write, epoll_ctl(DEL), close and
 * getpeername, plus a malloc'd connection and reply. Instead the listeners
 * are polled by hand: each wakeup accepts in a loop until EAGAIN, reads the
 * new socket at once (the request is usually there already: the client sends
 * it right after the handshake, and TCP_DEFER_ACCEPT makes it so), answers
 * with one send() and closes: accept4 + read + sendto + close. Only a
 * connection whose request is incomplete, that keeps alive, or whose reply
 * does not fit the socket buffer is handed to libuv (uv_tcp_open) and from
 * then on served as before. One spare connection per server is reused, and
 * replies are built into per-server buffers, so the fast path makes no
 * allocation in the steady state. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/log.h"
#include "net/http_server_int.h"

/* Connections accepted per listener wakeup: enough to drain a burst, few
 * enough that reads of open connections are not starved (the loop serves
 * each new connection completely before the next accept). */
#define ACCEPT_BATCH 64
/* How long a connection answered before its body (or refused for it)
 * keeps reading and dropping what the client still sends: long enough for
 * the answer to reach a client that is busy sending, so it reads the answer
 * instead of a reset; short enough that it costs nothing (Apache lingers
 * 2 s too). */
#define LINGER_MS 2000

struct write_req {
  uv_write_t req;
  struct http_conn *c;
  uint8_t *data;
};

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);
static void on_listen(uv_poll_t *h, int status, int events);
static void listen_pause(struct http_server *s, int on);

void http_server_config_defaults(struct http_server_config *c)
{
  memset(c, 0, sizeof *c);
  c->max_url = 16 * 1024;
  c->max_headers = 16 * 1024;
  c->max_body = 4 * 1024 * 1024;
  c->idle_timeout_ms = 15000;
  c->max_conns = 4096;
  c->reply_timeout_ms = 120000;
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
  case 421: return "Misdirected Request";
  case 429: return "Too Many Requests";
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

static void conn_free(struct http_conn *c)
{
  sh_buf_free(&c->url);
  sh_buf_free(&c->hdr);
  http_conn_body_free(c);
  free(c);
}

/* Keeps one finished connection (its buffers' memory too) for the next
 * accept; frees the rest. */
static void conn_recycle(struct http_conn *c)
{
  struct http_server *s = c->srv;
  http_conn_body_free(c); /* a body is never kept: its budget goes back */
  if (s->spare || s->closing || c->url.cap > HTTP_KEEP_BUF_MAX || c->hdr.cap > HTTP_KEEP_BUF_MAX) {
    conn_free(c);
    return;
  }
  s->spare = c;
}

static struct http_conn *conn_get(struct http_server *s)
{
  struct http_conn *c = s->spare;
  if (c) {
    s->spare = NULL;
    struct sh_buf url = c->url, hdr = c->hdr;
    memset(c, 0, sizeof *c);
    c->url = url;
    c->hdr = hdr;
  } else if (!(c = calloc(1, sizeof *c))) {
    return NULL;
  }
  c->srv = s;
  return c;
}

static void conn_closed(uv_handle_t *h)
{
  struct http_conn *c = h->data;
  if (--c->handles_open > 0)
    return;
  struct http_server *s = c->srv;
  s->nconns--;
  conn_recycle(c);
  if (s->paused && !s->closing)
    listen_pause(s, 0);
  if (s->closing && --s->pending_closes == 0 && s->close_cb)
    s->close_cb(s);
}

/* The connection goes before its deferred reply: the handle stays for
 * http_server_reply, which will find nothing to send. */
static void later_detach(struct http_conn *c)
{
  c->later->c = NULL;
  c->later = NULL;
  c->srv->later_dropped++;
}

static void conn_close(struct http_conn *c)
{
  if (c->later)
    later_detach(c);
  if (c->fast) {
    /* never a libuv handle: nothing else refers to it */
    close(c->fd);
    conn_recycle(c);
    return;
  }
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

static void later_expired(struct http_conn *c);

static void on_timeout(uv_timer_t *t)
{
  struct http_conn *c = t->data;
  if (c->later)
    later_expired(c);
  else
    conn_close(c);
}

void http_conn_arm_timer(struct http_conn *c)
{
  if (c->fast) /* armed when libuv takes it over */
    return;
  const struct http_server_config *cfg = &c->srv->cfg;
  uv_timer_start(&c->timer, on_timeout,
                 c->later ? cfg->reply_timeout_ms : c->linger ? LINGER_MS : cfg->idle_timeout_ms, 0);
}

/* The answer is out: say so with a FIN, and drop what the client still
 * sends until it closes or LINGER_MS passes (on_read, on_timeout). */
static void linger_start(struct http_conn *c)
{
  shutdown(c->fd, SHUT_WR);
  http_conn_arm_timer(c);
}

static void on_write(uv_write_t *req, int status)
{
  struct write_req *w = (struct write_req *)req;
  struct http_conn *c = w->c;
  free(w->data);
  free(w);
  c->writes--;
  if (status >= 0 && c->linger && c->writes == 0)
    linger_start(c);
  else if (status < 0 || (c->closing && c->writes == 0 && !c->later))
    conn_close(c);
}

/* A send failed: no more requests. A connection on the fast path is closed
 * by conn_input once the parser returns (closing it here would free it under
 * the parser); a libuv one is closed now, its handles go later. */
static void conn_fail(struct http_conn *c)
{
  c->closing = 1;
  if (!c->fast)
    conn_close(c);
}

/* Hands a fast-path connection to libuv: from here on it is read, written
 * and timed out like any other. Returns 0, or -1 when it could not be (it is
 * then closing). */
static int conn_adopt(struct http_conn *c)
{
  struct http_server *s = c->srv;
  c->fast = 0;
  c->tcp.data = c;
  c->timer.data = c;
  c->handles_open = 2;
  uv_timer_init(s->loop, &c->timer);
  uv_tcp_init(s->loop, &c->tcp);
  s->nconns++;
  c->next = s->conns;
  if (s->conns)
    s->conns->prev = c;
  s->conns = c;
  int rc = uv_tcp_open(&c->tcp, c->fd);
  if (rc < 0)
    close(c->fd); /* not the handle's: uv_close would leave it open */
  else if (!c->closing || c->linger || c->later)
    rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (rc < 0) {
    c->closing = 1;
    conn_close(c);
    return -1;
  }
  http_conn_arm_timer(c);
  return 0;
}

/* Queues what the socket did not take of a reply, from byte off: in the
 * body's own buffer, taken from *body, when only body bytes are left;
 * else in a copy. */
static void conn_queue(struct http_conn *c, const uint8_t *head, size_t hlen,
                       struct sh_buf *body, size_t off)
{
  size_t blen = body ? body->len : 0, total = hlen + blen;
  int copy = off < hlen || !body;
  struct write_req *w = malloc(sizeof *w);
  uint8_t *data = copy ? malloc(total - off) : body->data, *from = data;
  if (!w || !data) {
    free(w);
    if (copy)
      free(data);
    conn_fail(c);
    return;
  }
  if (copy) {
    size_t h = off < hlen ? hlen - off : 0;
    memcpy(data, head + (hlen - h), h);
    if (blen)
      memcpy(data + h, body->data + (off - (hlen - h)), total - off - h);
  } else {
    from = data + (off - hlen);
    *body = (struct sh_buf)SH_BUF_INIT; /* the write frees it */
  }
  w->c = c;
  w->data = data;
  uv_buf_t b = uv_buf_init((char *)from, (unsigned)(total - off));
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
    free(data);
    free(w);
    conn_fail(c);
    return;
  }
  c->writes++;
}

/* Sends a reply: its head, and a body kept apart when there is one (a big
 * one, over HTTP_KEEP_BUF_MAX: the daemon's torrent-get of 10,000 torrents
 * is 5 MB; body NULL when the head holds it all). Straight into the socket
 * when it takes everything (the usual case for a tracker reply), else the
 * rest goes through a queued write (conn_queue). head is borrowed. */
static void conn_send(struct http_conn *c, const uint8_t *head, size_t hlen, struct sh_buf *body)
{
  size_t total = hlen + (body ? body->len : 0), off = 0;
  struct iovec iov[2] = {{(void *)head, hlen}, {body ? body->data : NULL, body ? body->len : 0}};
  int niov = body ? 2 : 1;
  if (c->fast) {
    /* MSG_NOSIGNAL: a client that hung up must not raise SIGPIPE.
     * MSG_MORE when the close follows at once: the kernel holds the reply
     * until close() and sends it with the FIN in one segment instead of
     * two. Only when the read drained the socket: close() with unread data
     * sends a RST at once, which would discard a reply still held back. */
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)niov};
    int flags = MSG_NOSIGNAL | (c->closing && c->drained ? MSG_MORE : 0);
    ssize_t n;
    do
      n = sendmsg(c->fd, &mh, flags);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      conn_fail(c);
      return;
    }
    off = n > 0 ? (size_t)n : 0;
    if (off == total || conn_adopt(c) < 0)
      return;
  } else if (c->writes == 0) {
    uv_buf_t b[2] = {uv_buf_init(iov[0].iov_base, (unsigned)iov[0].iov_len),
                     uv_buf_init(iov[1].iov_base, (unsigned)iov[1].iov_len)};
    int n = uv_try_write((uv_stream_t *)&c->tcp, b, (unsigned)niov);
    if (n > 0)
      off = (size_t)n;
    else if (n < 0 && n != UV_EAGAIN) {
      conn_fail(c);
      return;
    }
  }
  if (off < total)
    conn_queue(c, head, hlen, body, off);
}

void http_conn_send_response(struct http_conn *c, struct http_response *res, int keep_alive,
                             int head_only)
{
  struct sh_buf out = c->srv->obuf;
  sh_buf_reset(&out);
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
  int big = !head_only && res->body.len > HTTP_KEEP_BUF_MAX;
  sh_buf_reserve(&out, 256 + (big ? 0 : res->body.len));
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
  if (!head_only && !big)
    sh_buf_append(&out, res->body.data, res->body.len);
  if (close_after)
    c->closing = 1;
  if (out.oom) {
    sh_buf_free(&out);
    c->srv->obuf = out;
    conn_fail(c);
    return;
  }
  conn_send(c, out.data, out.len, big ? &res->body : NULL);
  if (out.cap > HTTP_KEEP_BUF_MAX || c->srv->closing) /* closing: freed already */
    sh_buf_free(&out);
  c->srv->obuf = out;
}

/* The server's own error answer, built by the caller's on_error if any;
 * res->body is then the caller's to free. */
static void error_response(struct http_conn *c, int status, const char *why,
                           struct http_response *res)
{
  struct http_server *s = c->srv;
  memset(res, 0, sizeof *res);
  res->status = status;
  res->close = 1;
  s->errors++;
  if (s->cfg.on_error)
    s->cfg.on_error(s, c->head_done ? &c->req : NULL, status, why, res);
  else
    sh_buf_printf(&res->body, "%d %s: %s\n", status, http_status_text(status), why);
}

void http_conn_answer_error(struct http_conn *c, int status, const char *why)
{
  struct http_response res;
  error_response(c, status, why, &res);
  http_conn_send_response(c, &res, 0, 0);
  sh_buf_free(&res.body);
}

/* ---- deferred replies (http_server.h) ---- */

struct http_later *http_server_later(struct http_server *s)
{
  struct http_conn *c = s->serving;
  if (!c || c->later)
    return NULL;
  struct http_later *h = calloc(1, sizeof *h);
  if (!h)
    return NULL;
  h->c = c;
  c->later = h;
  s->later_replies++;
  return h;
}

/* Sends the deferred reply and detaches the handle. Then, as for an answer
 * given before a body (linger), a FIN and what the client still sends
 * (pipelined requests) read and dropped for a moment: closing with unread
 * bytes would send a reset that can destroy the reply in flight. */
static void later_send(struct http_conn *c, struct http_response *res)
{
  int head_only = c->later->head_only;
  c->later->c = NULL;
  c->later = NULL;
  c->linger = 1;
  http_conn_send_response(c, res, 0, head_only);
  if (!uv_is_closing((uv_handle_t *)&c->tcp) && c->writes == 0)
    linger_start(c);
}

void http_server_reply(struct http_later *h, struct http_response *res)
{
  if (h->c)
    later_send(h->c, res);
  free(h);
}

/* reply_timeout passed: the server answers 503 in the caller's place. */
static void later_expired(struct http_conn *c)
{
  struct http_response res;
  error_response(c, 503, "no reply in time", &res);
  c->srv->later_dropped++;
  later_send(c, &res);
  sh_buf_free(&res.body);
}

/* Parses and answers what arrived. Returns 1 when the connection is done
 * (closed, or closing once its queued writes finish), 0 when it stays open
 * for more. On the fast path a send may hand the connection to libuv midway
 * (c->fast becomes 0). */
static int conn_input(struct http_conn *c, const char *data, size_t n)
{
  llhttp_errno_t e = llhttp_execute(&c->parser, data, n);
  if (e == HPE_OK && !c->closing)
    return 0;
  if (c->later)
    return 0; /* waits for its deferred reply (serve_new hands it to libuv) */
  /* HPE_PAUSED_UPGRADE: an Upgrade request was answered like any other;
   * we speak no other protocol, so the connection ends there */
  if (!(e == HPE_OK || e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE || c->closing)) {
    if (c->error_status)
      http_conn_answer_error(c, c->error_status, c->error_why);
    else
      http_conn_answer_error(c, 400, llhttp_get_error_reason(&c->parser));
  }
  if (c->linger && !c->srv->closing) {
    /* answered before the body: a fast-path connection goes to libuv to
     * drop the rest (conn_adopt arms the linger timer) */
    if (c->fast && conn_adopt(c) < 0)
      return 1;
    if (c->writes == 0)
      linger_start(c);
    return 1;
  }
  if (!c->fast)
    uv_read_stop((uv_stream_t *)&c->tcp);
  if (c->writes == 0)
    conn_close(c);
  return 1;
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
    c->linger = 0;
    if (c->writes == 0 || c->later) /* a pending reply has no one to go to */
      conn_close(c);
    else {
      c->closing = 1;
      uv_read_stop(st);
    }
    return;
  }
  if (n == 0 || c->closing)
    return; /* closing (or lingering): what arrives now is dropped */
  conn_input(c, buf->base, (size_t)n);
}

/* A new socket: try to serve it whole here (see the fast path at the top),
 * else hand it to libuv. */
static void serve_new(struct http_server *s, int fd, const struct sockaddr_storage *peer)
{
  struct http_conn *c = conn_get(s);
  if (!c) {
    s->rejected_conns++;
    close(fd);
    return;
  }
  c->fd = fd;
  c->fast = 1;
  c->peer = *peer;
  /* No TCP_NODELAY: every reply goes out in one write, so Nagle never
   * holds one back, and a new connection per request (as most tracker
   * clients make) saves the setsockopt() call. */
  llhttp_init(&c->parser, HTTP_REQUEST, http_parser_settings());
  c->parser.data = c;
  ssize_t n;
  do
    n = read(fd, s->rbuf, sizeof s->rbuf);
  while (n < 0 && errno == EINTR);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
    conn_close(c); /* gone before it asked anything */
    return;
  }
  c->drained = n > 0 && (size_t)n < sizeof s->rbuf;
  if (n < 0 || conn_input(c, s->rbuf, (size_t)n) == 0) {
    if (c->fast)
      conn_adopt(c); /* more to come: incomplete request or keep-alive */
    return;
  }
  if (c->fast) /* answered and closed here; an adopted one counts as slow */
    s->fast_conns++;
}

static void listen_pause(struct http_server *s, int on)
{
  s->paused = on;
  for (int i = 0; i < s->nlisten; i++) {
    if (on)
      uv_poll_stop(&s->listen[i]);
    else
      uv_poll_start(&s->listen[i], UV_READABLE, on_listen);
  }
}

static void on_listen(uv_poll_t *h, int status, int events)
{
  struct http_server *s = h->data;
  (void)events;
  if (status < 0 || s->closing)
    return;
  int lfd = s->listen_fd[h - s->listen];
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno == EMFILE || errno == ENFILE) {
        /* Out of descriptors: stop accepting (the level-triggered poll
         * would spin otherwise) until a connection closes; the kernel's
         * backlog holds newcomers meanwhile. */
        sh_warn("http: out of file descriptors with %u connections open; "
                    "accepting again when one closes",
                    s->nconns);
        listen_pause(s, 1);
      }
      return;
    }
    if (s->nconns >= s->cfg.max_conns) {
      /* Over the limit: the kernel already completed the handshake, so the
       * cheapest clear answer is to close at once. */
      s->rejected_conns++;
      close(fd);
      continue;
    }
    serve_new(s, fd, &ss);
    if (s->closing || s->paused)
      return;
  }
}

int http_server_listen(struct http_server *s, const struct sockaddr *addr, int reuseport)
{
  if (s->nlisten == HTTP_SERVER_MAX_LISTEN)
    return -ENOSPC;
  int fd = http_server_bind_socket(addr, SOCK_STREAM, reuseport);
  if (fd < 0)
    return fd;
  /* Wake us only once a request has arrived: the first read then nearly
   * always finds it, which is what lets the fast path skip epoll for the
   * connection (7.8 vs 10.2 us of server CPU per close-each request on
   * loopback). 1 s, not more: a client that stays silent is accepted when
   * the kernel's first SYN-ACK retransmit (at 1 s) is answered, so the
   * connection cap and the idle timeout still apply to it within ~1 s. */
  int defer = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof defer);
  uv_poll_t *p = &s->listen[s->nlisten];
  int rc;
  if (listen(fd, 1024) < 0) {
    rc = -errno;
    close(fd);
    return rc;
  }
  if ((rc = uv_poll_init_socket(s->loop, p, fd)) < 0) {
    close(fd);
    return rc;
  }
  p->data = s;
  s->listen_fd[s->nlisten] = fd;
  if (!s->paused && (rc = uv_poll_start(p, UV_READABLE, on_listen)) < 0) {
    uv_close((uv_handle_t *)p, NULL);
    close(fd);
    return rc;
  }
  s->nlisten++;
  return 0;
}

int http_server_port(struct http_server *s, int i)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (i < 0 || i >= s->nlisten || getsockname(s->listen_fd[i], (struct sockaddr *)&ss, &len) < 0)
    return -1;
  if (ss.ss_family == AF_INET)
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void listener_closed(uv_handle_t *h)
{
  struct http_server *s = h->data;
  close(s->listen_fd[(uv_poll_t *)h - s->listen]);
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
  while (s->conns) {
    struct http_conn *c = s->conns;
    if (c->later) {
      struct http_response res;
      error_response(c, 503, "the server is closing", &res);
      s->later_dropped++;
      later_send(c, &res);
      sh_buf_free(&res.body);
    }
    conn_close(c);
  }
  if (s->spare) {
    conn_free(s->spare);
    s->spare = NULL;
  }
  sh_buf_free(&s->obuf);
  sh_buf_free(&s->resbody);
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
