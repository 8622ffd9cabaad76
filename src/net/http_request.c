/* Requests as llhttp delivers them: the request line and headers into a
 * connection's buffers, the limits, the decision made from the headers
 * alone (on_head), the body against its budget, and the handler once the
 * request is complete. See http_server.h for the rules, http_server_int.h
 * for the connection. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_server_int.h"

static struct http_conn *conn_of(llhttp_t *p) { return p->data; }

static int limit(struct http_conn *c, int status, const char *why)
{
  c->error_status = status;
  c->error_why = why;
  /* refused with its body on the way: drop the rest rather than reset */
  c->linger = c->head_done && (c->req.content_length > 0 || c->req.chunked);
  return -1;
}

static void budget_give(struct http_conn *c)
{
  struct http_body_budget *b = c->srv->cfg.budget;
  if (b && c->body_held)
    atomic_fetch_sub(&b->used, c->body_held);
  c->body_held = 0;
}

void http_conn_body_free(struct http_conn *c)
{
  sh_buf_free(&c->body);
  budget_give(c);
}

/* Takes from the budget what the body buffer will hold once n more bytes
 * are in, before it grows: memory held for bodies never passes the cap,
 * whatever the clients send. A body of known length gets one buffer of
 * exactly its size (exact); a chunked one grows as sh_buf does, doubling
 * from 64 bytes. */
static int body_charge(struct http_conn *c, size_t n, int exact)
{
  struct http_body_budget *b = c->srv->cfg.budget;
  size_t want = c->body.len + n + 1;
  if (want <= c->body.cap)
    return 0;
  size_t cap = exact ? want : c->body.cap ? c->body.cap : 64;
  while (cap < want)
    cap *= 2;
  if (b) {
    size_t more = cap - c->body_held;
    size_t used = atomic_fetch_add(&b->used, more);
    if (used + more > b->cap) {
      atomic_fetch_sub(&b->used, more);
      atomic_fetch_add(&b->refused, 1);
      return -1;
    }
    c->body_held = cap;
  }
  if (exact) {
    uint8_t *p = realloc(c->body.data, cap);
    if (!p)
      return -1;
    c->body.data = p;
    c->body.cap = cap;
  }
  return 0;
}

static int on_message_begin(llhttp_t *p)
{
  struct http_conn *c = conn_of(p);
  sh_buf_reset(&c->url);
  sh_buf_reset(&c->hdr);
  http_conn_body_free(c);
  c->nhdr = 0;
  c->in_field = 0;
  c->head_done = 0;
  return 0;
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
  if (c->head_done)
    return 0; /* a chunked body's trailer: not kept (req points into hdr) */
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
  if (c->head_done)
    return 0;
  if (!c->in_field) /* an empty name: give it its own entry */
    on_header_field(p, "", 0);
  sh_buf_putc(&c->hdr, 0);
  c->hoff[2 * (c->nhdr - 1) + 1] = (uint32_t)c->hdr.len;
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
  struct http_conn *c = conn_of(p);
  if (c->head_done)
    return 0;
  if (c->hdr.len + n + 2 > c->srv->cfg.max_headers)
    return limit(c, 431, "request headers too large");
  sh_buf_append(&c->hdr, at, n);
  return c->hdr.oom ? limit(c, 500, "out of memory") : 0;
}

static int on_header_value_complete(llhttp_t *p)
{
  struct http_conn *c = conn_of(p);
  if (c->head_done)
    return 0;
  c->in_field = 0;
  sh_buf_putc(&c->hdr, 0);
  return 0;
}

/* The request as the handlers see it, from the request line and headers;
 * the body comes later. */
static void build_request(struct http_conn *c, llhttp_t *p)
{
  struct http_request *req = &c->req;
  sh_buf_putc(&c->url, 0);
  memset(req, 0, offsetof(struct http_request, headers));
  req->method = llhttp_method_name((llhttp_method_t)p->method);
  req->target = (const char *)c->url.data;
  req->target_len = c->url.len - 1;
  const char *hash = memchr(req->target, '#', req->target_len);
  size_t tl = hash ? (size_t)(hash - req->target) : req->target_len;
  const char *qm = memchr(req->target, '?', tl);
  req->path = req->target;
  req->path_len = qm ? (size_t)(qm - req->target) : tl;
  req->query = qm ? qm + 1 : NULL;
  req->query_len = qm ? tl - req->path_len - 1 : 0;
  req->nheaders = 0;
  for (int i = 0; i < c->nhdr; i++) {
    if (c->hoff[2 * i + 1] == UINT32_MAX)
      continue;
    req->headers[req->nheaders].name = (const char *)c->hdr.data + c->hoff[2 * i];
    req->headers[req->nheaders].value = (const char *)c->hdr.data + c->hoff[2 * i + 1];
    req->nheaders++;
  }
  req->content_length = !(p->flags & F_CONTENT_LENGTH) ? -1
                        : p->content_length > INT64_MAX ? INT64_MAX
                                                        : (int64_t)p->content_length;
  req->chunked = (p->flags & F_CHUNKED) != 0;
  req->http_major = p->http_major;
  req->http_minor = p->http_minor;
  req->peer = c->peer;
}

/* Answers from the headers: the body, if any, is never stored, and what
 * the client still sends is read and dropped for a moment (linger). */
static int answer_now(struct http_conn *c, struct http_response *res)
{
  struct http_server *s = c->srv;
  const struct http_request *req = &c->req;
  res->close = 1;
  s->early_answers++;
  c->linger = req->content_length > 0 || req->chunked;
  http_conn_send_response(c, res, 0, !strcmp(req->method, "HEAD"));
  return -1; /* the parser stops here: nothing more of this connection is parsed */
}

static int on_headers_complete(llhttp_t *p)
{
  struct http_conn *c = conn_of(p);
  struct http_server *s = c->srv;
  if (c->url.oom || c->hdr.oom)
    return limit(c, 500, "out of memory");
  build_request(c, p);
  c->head_done = 1;
  /* the caller's decision first: a request it refuses anyway is told why,
   * not that the server is busy */
  if (s->cfg.on_head) {
    struct http_response res;
    memset(&res, 0, sizeof res);
    res.body = s->resbody;
    sh_buf_reset(&res.body);
    s->resbody = (struct sh_buf)SH_BUF_INIT;
    s->cfg.on_head(s, &c->req, &res);
    int rc = res.status ? answer_now(c, &res) : 0;
    if (res.body.cap > HTTP_KEEP_BUF_MAX || s->closing)
      sh_buf_free(&res.body);
    s->resbody = res.body;
    if (rc)
      return rc;
  }
  if (c->req.content_length > (int64_t)s->cfg.max_body)
    return limit(c, 413, "request body too large");
  /* room for the whole announced body, taken now, in one allocation */
  if (c->req.content_length > 0 && body_charge(c, (size_t)c->req.content_length, 1) < 0)
    return limit(c, 503, "too many request bodies in flight; retry later");
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
  struct http_conn *c = conn_of(p);
  if (c->body.len + n > c->srv->cfg.max_body)
    return limit(c, 413, "request body too large");
  if (body_charge(c, n, 0) < 0)
    return limit(c, 503, "too many request bodies in flight; retry later");
  sh_buf_append(&c->body, at, n);
  return c->body.oom ? limit(c, 500, "out of memory") : 0;
}

static int on_message_complete(llhttp_t *p)
{
  struct http_conn *c = conn_of(p);
  struct http_server *s = c->srv;
  struct http_request *req = &c->req;
  struct http_response res;
  if (c->closing)
    return HPE_PAUSED;
  if (c->body.oom)
    return limit(c, 500, "out of memory");
  /* a request without a body allocates nothing for one */
  req->body = c->body.len ? c->body.data : (const uint8_t *)"";
  req->body_len = c->body.len;

  memset(&res, 0, sizeof res);
  res.status = 200;
  res.body = s->resbody; /* reused: no allocation per reply */
  sh_buf_reset(&res.body);
  s->resbody = (struct sh_buf)SH_BUF_INIT;
  s->requests++;
  s->serving = c;
  s->cfg.handler(s, req, &res);
  s->serving = NULL;
  http_conn_body_free(c); /* served: its memory goes back at once */
  if (c->later) {
    /* http_server_later: res is dropped, the reply comes later, and no
     * request after this one is served (conn_input, http_server.h) */
    req->body = (const uint8_t *)"";
    req->body_len = 0;
    c->later->head_only = p->method == HTTP_HEAD;
    c->closing = 1;
    http_conn_arm_timer(c);
  } else {
    http_conn_send_response(c, &res, llhttp_should_keep_alive(p), p->method == HTTP_HEAD);
  }
  if (res.body.cap > HTTP_KEEP_BUF_MAX || s->closing)
    sh_buf_free(&res.body);
  s->resbody = res.body;
  if (c->closing)
    return HPE_PAUSED; /* parse no further requests on this connection */
  http_conn_arm_timer(c);
  return 0;
}

static llhttp_settings_t parser_settings;

static void settings_init(void)
{
  llhttp_settings_init(&parser_settings);
  parser_settings.on_message_begin = on_message_begin;
  parser_settings.on_url = on_url;
  parser_settings.on_header_field = on_header_field;
  parser_settings.on_header_field_complete = on_header_field_complete;
  parser_settings.on_header_value = on_header_value;
  parser_settings.on_header_value_complete = on_header_value_complete;
  parser_settings.on_headers_complete = on_headers_complete;
  parser_settings.on_body = on_body;
  parser_settings.on_message_complete = on_message_complete;
}

/* The parser's callbacks, set up once for every worker thread's servers
 * (a plain flag here raced between workers starting at once). */
const llhttp_settings_t *http_parser_settings(void)
{
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, settings_init);
  return &parser_settings;
}
