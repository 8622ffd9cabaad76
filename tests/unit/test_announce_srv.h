/* Tiny in-process responders for the loop tests: an HTTP/1.0-style server
 * and a UDP server on 127.0.0.1, port 0 (the kernel picks a free one, so
 * parallel tests never collide). Each records what it received and answers
 * through a test-supplied function. Header-only: included by one test file
 * each. */
#ifndef SHOAL_TEST_ANNOUNCE_SRV_H
#define SHOAL_TEST_ANNOUNCE_SRV_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/buf.h"

/* ---- HTTP ---- */

struct tsrv;
/* Fills `out` with the whole response (status line, headers, body); leaving
 * it empty means "never answer" (the connection stays open). */
typedef void (*tsrv_fn)(struct tsrv *s, const char *request_head, struct sh_buf *out);

struct tsrv {
  uv_tcp_t tcp;
  uint16_t port;
  tsrv_fn fn;
  void *ud;
  int nreq;
  char last[4096];      /* the last request head */
  char all[16384];      /* request lines, one per line, in order */
  int open;             /* connections plus the listener */
};

struct tconn {
  uv_tcp_t h;
  struct tsrv *s;
  struct sh_buf in;
  int answered;
};

static inline void tsrv_conn_closed(uv_handle_t *h)
{
  struct tconn *c = (struct tconn *)h;
  c->s->open--;
  sh_buf_free(&c->in);
  free(c);
}

static inline void tsrv_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
  static char slab[8192];
  *b = uv_buf_init(slab, sizeof slab);
}

static inline void tsrv_written(uv_write_t *w, int status)
{
  struct tconn *c = w->data;
  free(w);
  if (!uv_is_closing((uv_handle_t *)&c->h))
    uv_close((uv_handle_t *)&c->h, tsrv_conn_closed);
}

static inline void tsrv_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
  struct tconn *c = (struct tconn *)st;
  if (n < 0) {
    if (!uv_is_closing((uv_handle_t *)st))
      uv_close((uv_handle_t *)st, tsrv_conn_closed);
    return;
  }
  sh_buf_append(&c->in, b->base, (size_t)n);
  if (c->answered)
    return;
  sh_buf_putc(&c->in, 0);
  c->in.len--;
  if (!strstr((char *)c->in.data, "\r\n\r\n"))
    return;
  c->answered = 1;
  struct tsrv *s = c->s;
  s->nreq++;
  snprintf(s->last, sizeof s->last, "%s", (char *)c->in.data);
  size_t l = strlen(s->all);
  snprintf(s->all + l, sizeof s->all - l, "%.*s\n", (int)strcspn(s->last, "\r"), s->last);
  struct sh_buf out = SH_BUF_INIT;
  s->fn(s, s->last, &out);
  if (out.len == 0) {
    sh_buf_free(&out);
    return;
  }
  uv_write_t *w = malloc(sizeof *w + out.len);
  memcpy(w + 1, out.data, out.len);
  uv_buf_t wb = uv_buf_init((char *)(w + 1), (unsigned)out.len);
  w->data = c;
  uv_write(w, st, &wb, 1, tsrv_written);
  sh_buf_free(&out);
}

static inline void tsrv_accept(uv_stream_t *l, int status)
{
  struct tsrv *s = l->data;
  struct tconn *c = calloc(1, sizeof *c);
  c->s = s;
  uv_tcp_init(l->loop, &c->h);
  s->open++;
  if (uv_accept(l, (uv_stream_t *)&c->h) == 0)
    uv_read_start((uv_stream_t *)&c->h, tsrv_alloc, tsrv_read);
  else
    uv_close((uv_handle_t *)&c->h, tsrv_conn_closed);
}

static inline void tsrv_start(uv_loop_t *loop, struct tsrv *s, tsrv_fn fn)
{
  memset(s, 0, sizeof *s);
  s->fn = fn;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  cr_assert_eq(uv_tcp_init(loop, &s->tcp), 0);
  s->tcp.data = s;
  cr_assert_eq(uv_tcp_bind(&s->tcp, (struct sockaddr *)&a, 0), 0);
  cr_assert_eq(uv_listen((uv_stream_t *)&s->tcp, 64, tsrv_accept), 0);
  struct sockaddr_in b;
  int len = sizeof b;
  uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&b, &len);
  s->port = ntohs(b.sin_port);
  s->open = 1;
}

static inline void tsrv_listener_closed(uv_handle_t *h) { ((struct tsrv *)h->data)->open--; }

static inline void tsrv_close_walk(uv_handle_t *h, void *arg)
{
  /* connections still open (a "never answer" test) belong to this server
   * when their read callback is ours */
  if (h->type == UV_TCP && !uv_is_closing(h) && h != arg &&
      ((uv_stream_t *)h)->read_cb == tsrv_read && ((struct tconn *)h)->s == ((uv_handle_t *)arg)->data)
    uv_close(h, tsrv_conn_closed);
}

static inline void tsrv_stop(struct tsrv *s)
{
  uv_walk(s->tcp.loop, tsrv_close_walk, &s->tcp);
  uv_close((uv_handle_t *)&s->tcp, tsrv_listener_closed);
}

static inline void tsrv_reply(struct sh_buf *out, const char *status, const void *body, size_t n)
{
  sh_buf_printf(out, "HTTP/1.1 %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
                n);
  sh_buf_append(out, body, n);
}

/* ---- UDP ---- */

struct usrv;
/* Called per datagram; append a reply to out (or leave it empty). */
typedef void (*usrv_fn)(struct usrv *s, const uint8_t *p, size_t n, struct sh_buf *out);

struct usrv {
  uv_udp_t udp;
  uint16_t port;
  usrv_fn fn;
  void *ud;
  int npkt;
  uint8_t pkt[32][1500]; /* the first 32 datagrams */
  size_t len[32];
  struct sockaddr_storage peer;
  int closed;
};

static inline void usrv_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
  static char slab[65536];
  *b = uv_buf_init(slab, sizeof slab);
}

static inline void usrv_sent(uv_udp_send_t *r, int status) { free(r); }

static inline void usrv_send(struct usrv *s, const void *p, size_t n)
{
  uv_udp_send_t *r = malloc(sizeof *r + n);
  memcpy(r + 1, p, n);
  uv_buf_t b = uv_buf_init((char *)(r + 1), (unsigned)n);
  uv_udp_send(r, &s->udp, &b, 1, (struct sockaddr *)&s->peer, usrv_sent);
}

static inline void usrv_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
                      unsigned flags)
{
  struct usrv *s = h->data;
  if (n <= 0 || !from)
    return;
  memcpy(&s->peer, from, from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                     : sizeof(struct sockaddr_in));
  if (s->npkt < 32) {
    size_t k = (size_t)n < 1500 ? (size_t)n : 1500;
    memcpy(s->pkt[s->npkt], b->base, k);
    s->len[s->npkt] = k;
  }
  s->npkt++;
  struct sh_buf out = SH_BUF_INIT;
  s->fn(s, (const uint8_t *)b->base, (size_t)n, &out);
  if (out.len)
    usrv_send(s, out.data, out.len);
  sh_buf_free(&out);
}

/* Binds 127.0.0.1 (or ::1 when ipv6); returns 0 or the libuv error (the
 * handle is then initialised but not bound, and still needs usrv_stop). */
static inline int usrv_start_af(uv_loop_t *loop, struct usrv *s, usrv_fn fn, int ipv6)
{
  memset(s, 0, sizeof *s);
  s->fn = fn;
  struct sockaddr_storage a;
  if (ipv6)
    uv_ip6_addr("::1", 0, (struct sockaddr_in6 *)&a);
  else
    uv_ip4_addr("127.0.0.1", 0, (struct sockaddr_in *)&a);
  cr_assert_eq(uv_udp_init(loop, &s->udp), 0);
  s->udp.data = s;
  int rc = uv_udp_bind(&s->udp, (struct sockaddr *)&a, 0);
  if (rc < 0)
    return rc;
  struct sockaddr_storage b;
  int len = sizeof b;
  uv_udp_getsockname(&s->udp, (struct sockaddr *)&b, &len);
  s->port = ntohs(((struct sockaddr_in *)&b)->sin_port); /* same offset in sockaddr_in6 */
  uv_udp_recv_start(&s->udp, usrv_alloc, usrv_recv);
  return 0;
}

static inline void usrv_start(uv_loop_t *loop, struct usrv *s, usrv_fn fn)
{
  cr_assert_eq(usrv_start_af(loop, s, fn, 0), 0);
}

static inline void usrv_closed(uv_handle_t *h) { ((struct usrv *)h->data)->closed = 1; }
static inline void usrv_stop(struct usrv *s) { uv_close((uv_handle_t *)&s->udp, usrv_closed); }

#endif
