#include "announce/ann_udpc.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "announce/ann_tier.h"
#include "announce/ann_udp.h"
#include "announce/announce.h"
#include "base/error.h"

/* BEP 15: a connection id may be used for one minute after it arrived. */
#define CONN_ID_LIFE_MS 60000
/* An idle socket is closed after this long: it keeps the connection id
 * useful (trackers may bind it to our port) while a session of hundreds of
 * torrents with several UDP trackers each does not hold a descriptor per
 * tracker between announces that are 30 minutes apart. */
#define LINGER_MS CONN_ID_LIFE_MS

enum stage { WAIT_ADDR, CONNECTING, REQUESTING };

struct ann_udpx {
  uv_timer_t timer;           /* first: freed from its close callback */
  struct ann_udpc *u;
  struct ann_udpx *prev, *next;
  int scrape;                 /* 0 announce, 1 scrape */
  enum stage stage;
  uint32_t tid;
  uint32_t n;                 /* retransmissions since the last reply */
  uint32_t max_tries;         /* sends per step before giving up */
  struct ann_req req;
  uint8_t hash[20];
  ann_udpc_announce_cb acb;
  ann_udpc_scrape_cb scb;
  void *ud;
  int doomed;                 /* waiting for an address that will not come */
  int start_err;              /* resolution (or the socket) failed at once */
  int start_sock;             /* ... and it was the socket */
  uint8_t pkt[ANN_UDP_MAX_REQ];
  size_t pkt_len;
};

struct ann_udpc {
  uv_loop_t *loop;
  char host[256];
  char port[8];
  char *path_query;
  uint32_t base_ms, max_tries;
  struct sockaddr_storage addr;
  int have_addr;
  uv_getaddrinfo_t gai;
  int resolving;
  uv_udp_t *sock;             /* open only while in use, see LINGER_MS */
  uv_timer_t linger;
  uint64_t conn_id;
  uint64_t conn_expiry;       /* uv_now() ms; 0 = no id */
  struct ann_udpx *xs;
  int refs;                   /* open handles and pending resolution */
  int closing;
  void (*done)(void *ud);
  void *done_ud;
};

uint32_t ann_random_u32(void)
{
  uint32_t v = 0;
  if (uv_random(NULL, NULL, &v, sizeof v, 0, NULL) < 0) {
    /* the OS always has entropy on Linux; this only keeps ids distinct */
    static uint32_t fallback = 0x9e3779b9u;
    fallback = fallback * 1664525u + 1013904223u;
    v = fallback ^ (uint32_t)uv_hrtime();
  }
  return v;
}

static void maybe_free(struct ann_udpc *u)
{
  if (!u->closing || u->refs > 0)
    return;
  void (*done)(void *) = u->done;
  void *ud = u->done_ud;
  free(u->path_query);
  free(u);
  if (done)
    done(ud);
}

struct ann_udpc *ann_udpc_new(uv_loop_t *loop, const char *url, uint32_t base_ms,
                              uint32_t max_tries, int *err)
{
  struct ann_udpc *u = calloc(1, sizeof *u);
  if (!u) {
    *err = -ENOMEM;
    return NULL;
  }
  uint16_t port;
  const char *pq;
  if ((*err = ann_udp_parse_url(url, u->host, sizeof u->host, &port, &pq)) < 0) {
    free(u);
    return NULL;
  }
  snprintf(u->port, sizeof u->port, "%u", (unsigned)port);
  if (!(u->path_query = strdup(pq))) {
    free(u);
    *err = -ENOMEM;
    return NULL;
  }
  u->loop = loop;
  u->base_ms = base_ms ? base_ms : 15000;
  u->max_tries = max_tries ? max_tries : 9;
  uv_timer_init(loop, &u->linger);
  u->linger.data = u;
  u->refs = 1; /* the linger timer, until ann_udpc_close() */
  *err = 0;
  return u;
}

static void on_x_closed(uv_handle_t *h)
{
  struct ann_udpx *x = (struct ann_udpx *)h;
  struct ann_udpc *u = x->u;
  free(x);
  u->refs--;
  maybe_free(u);
}

static void on_sock_closed(uv_handle_t *h)
{
  struct ann_udpc *u = h->data;
  free(h);
  u->refs--;
  maybe_free(u);
}

static void close_sock(struct ann_udpc *u)
{
  if (!u->sock)
    return;
  uv_close((uv_handle_t *)u->sock, on_sock_closed);
  u->sock = NULL;
  u->conn_expiry = 0; /* the next socket has another port */
}

static void on_linger(uv_timer_t *t)
{
  struct ann_udpc *u = t->data;
  if (!u->xs)
    close_sock(u);
}

/* Unlinks x and frees it (asynchronously: its timer must close first). */
static void drop(struct ann_udpx *x)
{
  struct ann_udpc *u = x->u;
  if (x->prev)
    x->prev->next = x->next;
  else
    u->xs = x->next;
  if (x->next)
    x->next->prev = x->prev;
  uv_timer_stop(&x->timer);
  uv_close((uv_handle_t *)&x->timer, on_x_closed);
  if (!u->xs && u->sock && !u->closing)
    uv_timer_start(&u->linger, on_linger, LINGER_MS, 0);
}

static void finish(struct ann_udpx *x, int err, const char *msg, struct ann_reply *r,
                   const struct sh_scrape_info *s)
{
  drop(x);
  if (x->scrape)
    x->scb(x->ud, err, msg, s);
  else
    x->acb(x->ud, err, msg, r);
}

static void on_timeout(uv_timer_t *t);

static void on_sent(uv_udp_send_t *req, int status)
{
  free(req); /* a send error shows up as a timeout; retransmission covers it */
}

static void transmit(struct ann_udpx *x)
{
  struct ann_udpc *u = x->u;
  uv_udp_send_t *req = malloc(sizeof *req + x->pkt_len);
  if (req) {
    uint8_t *copy = (uint8_t *)(req + 1);
    memcpy(copy, x->pkt, x->pkt_len);
    uv_buf_t b = uv_buf_init((char *)copy, (unsigned)x->pkt_len);
    if (uv_udp_send(req, u->sock, &b, 1, (const struct sockaddr *)&u->addr, on_sent) < 0)
      free(req);
  }
  uv_timer_start(&x->timer, on_timeout, ann_udp_timeout_ms(x->n, u->base_ms), 0);
}

static void send_connect(struct ann_udpx *x)
{
  x->stage = CONNECTING;
  x->tid = ann_random_u32();
  x->pkt_len = ann_udp_connect_req(x->pkt, x->tid);
  transmit(x);
}

static void send_request(struct ann_udpx *x)
{
  struct ann_udpc *u = x->u;
  x->stage = REQUESTING;
  x->tid = ann_random_u32();
  if (x->scrape)
    x->pkt_len = ann_udp_scrape_req(x->pkt, u->conn_id, x->tid, (const uint8_t(*)[20])x->hash, 1);
  else
    x->pkt_len = ann_udp_announce_req(x->pkt, u->conn_id, x->tid, &x->req, u->path_query);
  transmit(x);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                    const struct sockaddr *from, unsigned flags);

/* Opens the socket (of the address's family) unless it is open. */
static int open_sock(struct ann_udpc *u)
{
  uv_timer_stop(&u->linger);
  if (u->sock)
    return 0;
  uv_udp_t *s = malloc(sizeof *s);
  if (!s)
    return -ENOMEM;
  int rc = uv_udp_init(u->loop, s);
  if (rc < 0) {
    free(s);
    return rc;
  }
  s->data = u;
  u->sock = s;
  u->refs++;
  struct sockaddr_storage any;
  memset(&any, 0, sizeof any);
  any.ss_family = u->addr.ss_family;
  rc = uv_udp_bind(s, (const struct sockaddr *)&any, 0);
  if (rc == 0)
    rc = uv_udp_recv_start(s, on_alloc, on_recv);
  if (rc < 0)
    close_sock(u);
  return rc;
}

/* Sends x's first packet; a negative code when no socket could be had. */
static int proceed(struct ann_udpx *x)
{
  int rc = open_sock(x->u);
  if (rc < 0)
    return rc;
  if (x->u->conn_expiry && uv_now(x->u->loop) < x->u->conn_expiry)
    send_request(x);
  else
    send_connect(x);
  return 0;
}

static void on_timeout(uv_timer_t *t)
{
  struct ann_udpx *x = (struct ann_udpx *)t;
  struct ann_udpc *u = x->u;
  if (x->start_err) {
    char msg[300];
    snprintf(msg, sizeof msg, "cannot %s %s: %s",
             x->start_sock ? "open a UDP socket for" : "resolve", u->host,
             uv_strerror(x->start_err));
    finish(x, x->start_sock ? x->start_err : -EHOSTUNREACH, msg, NULL, NULL);
    return;
  }
  if (x->stage == WAIT_ADDR) {
    /* resolution runs in libuv's thread pool, which disk jobs may keep
     * busy: bound the wait by the same schedule as a reply */
    if (++x->n >= x->max_tries) {
      char msg[300];
      snprintf(msg, sizeof msg, "cannot resolve %s: no answer after %u waits", u->host,
               (unsigned)x->n);
      finish(x, SH_ETIMEOUT, msg, NULL, NULL);
    } else {
      uv_timer_start(&x->timer, on_timeout, ann_udp_timeout_ms(x->n, u->base_ms), 0);
    }
    return;
  }
  if (++x->n >= x->max_tries) {
    /* the tracker may have moved: look its name up again next time */
    u->have_addr = 0;
    u->conn_expiry = 0;
    char msg[96];
    snprintf(msg, sizeof msg, "no %s reply after %u tries",
             x->stage == CONNECTING ? "connect" : x->scrape ? "scrape" : "announce",
             (unsigned)x->n);
    finish(x, SH_ETIMEOUT, msg, NULL, NULL);
    return;
  }
  /* the id may have expired while we waited (BEP 15's "announce times out"
   * example: t = 107 s goes back to connect) */
  if (x->stage == REQUESTING && uv_now(u->loop) >= u->conn_expiry)
    send_connect(x);
  else
    transmit(x); /* same bytes, same transaction id: a late reply still counts */
}

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr *b)
{
  if (a->ss_family != b->sa_family)
    return 0;
  if (b->sa_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
  return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
  /* 64 KiB is the largest UDP payload; tracker replies are rare, so a
   * buffer per datagram costs nothing and keeps idle trackers at 0 bytes */
  char *p = malloc(65536);
  *buf = uv_buf_init(p, p ? 65536 : 0);
}

static void handle_reply(struct ann_udpx *x, const uint8_t *p, size_t n, int rc,
                         const char *msg)
{
  struct ann_udpc *u = x->u;
  if (rc < 0) {
    finish(x, rc, msg, NULL, NULL);
    return;
  }
  if (x->stage == CONNECTING) {
    u->conn_id = ann_udp_connect_id(p);
    u->conn_expiry = uv_now(u->loop) + CONN_ID_LIFE_MS;
    x->n = 0;
    send_request(x);
    return;
  }
  if (x->scrape) {
    struct sh_scrape_info s = {-1, -1, -1};
    if (ann_udp_scrape_reply(p, n, &s, 1) == 0)
      finish(x, SH_EPROTO, "scrape reply without an entry", NULL, NULL);
    else
      finish(x, 0, NULL, NULL, &s);
    return;
  }
  struct ann_reply r;
  if (ann_udp_announce_reply(p, n, u->addr.ss_family == AF_INET6, &r) < 0)
    finish(x, -ENOMEM, "out of memory", NULL, NULL);
  else
    finish(x, 0, NULL, &r, NULL);
  ann_reply_free(&r);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                    const struct sockaddr *from, unsigned flags)
{
  struct ann_udpc *u = h->data;
  if (nread <= 0 || !from || !same_addr(&u->addr, from) || (flags & UV_UDP_PARTIAL)) {
    free(buf->base);
    return;
  }
  const uint8_t *p = (const uint8_t *)buf->base;
  size_t n = (size_t)nread;
  for (struct ann_udpx *x = u->xs; x; x = x->next) {
    if (x->stage == WAIT_ADDR)
      continue;
    char msg[256];
    int rc = ann_udp_check(p, n, x->tid,
                           x->stage == CONNECTING ? ANN_UDP_CONNECT
                           : x->scrape            ? ANN_UDP_SCRAPE
                                                  : ANN_UDP_ANNOUNCE,
                           msg, sizeof msg);
    if (rc == 1)
      continue;
    handle_reply(x, p, n, rc, msg);
    break;
  }
  free(buf->base);
}

/* Restarts from the head after each callback: a callback may cancel other
 * transactions (or close u, which empties the list). */
static void fail_waiting(struct ann_udpc *u, int err, const char *msg)
{
  /* only those waiting now: a callback may start a new transaction, which
   * starts a new resolution of its own */
  for (struct ann_udpx *x = u->xs; x; x = x->next)
    x->doomed = x->stage == WAIT_ADDR;
  for (;;) {
    struct ann_udpx *x = u->xs;
    while (x && !x->doomed)
      x = x->next;
    if (!x)
      return;
    finish(x, err, msg, NULL, NULL);
  }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
  struct ann_udpc *u = req->data;
  u->resolving = 0;
  u->refs--;
  if (u->closing) {
    uv_freeaddrinfo(res);
    maybe_free(u);
    return;
  }
  char msg[400];
  if (status < 0 || !res) {
    snprintf(msg, sizeof msg, "cannot resolve %s: %s", u->host, uv_strerror(status));
    uv_freeaddrinfo(res);
    fail_waiting(u, -EHOSTUNREACH, msg);
    return;
  }
  /* while the socket is open its family is fixed: take an address of that
   * family (a re-resolution after a timeout must not switch families) */
  const struct addrinfo *pick = res;
  if (u->sock) {
    int fam = u->addr.ss_family;
    for (pick = res; pick && pick->ai_family != fam; pick = pick->ai_next)
      ;
  }
  if (!pick || pick->ai_addrlen > sizeof u->addr) {
    snprintf(msg, sizeof msg, "%s no longer resolves to an address of the same family", u->host);
    uv_freeaddrinfo(res);
    fail_waiting(u, -EHOSTUNREACH, msg);
    return;
  }
  memcpy(&u->addr, pick->ai_addr, pick->ai_addrlen);
  uv_freeaddrinfo(res);
  u->have_addr = 1;
  int rc = 0;
  for (struct ann_udpx *x = u->xs; x && rc == 0; x = x->next) {
    if (x->stage == WAIT_ADDR) {
      x->n = 0; /* the BEP 15 schedule starts with the first packet */
      rc = proceed(x);
    }
  }
  if (rc < 0) {
    snprintf(msg, sizeof msg, "cannot open a UDP socket for %s: %s", u->host, uv_strerror(rc));
    fail_waiting(u, rc, msg);
  }
}

static struct ann_udpx *start(struct ann_udpc *u)
{
  if (u->closing)
    return NULL;
  struct ann_udpx *x = calloc(1, sizeof *x);
  if (!x)
    return NULL;
  x->u = u;
  x->max_tries = u->max_tries;
  uv_timer_init(u->loop, &x->timer);
  u->refs++;
  x->next = u->xs;
  if (u->xs)
    u->xs->prev = x;
  u->xs = x;
  x->stage = WAIT_ADDR;
  return x;
}

static void kick(struct ann_udpx *x)
{
  struct ann_udpc *u = x->u;
  if (u->have_addr) {
    int rc = proceed(x);
    if (rc < 0) {
      /* reported from the timer so the callback never runs inside the call */
      x->start_err = rc;
      x->start_sock = 1;
      uv_timer_start(&x->timer, on_timeout, 0, 0);
    }
    return;
  }
  uv_timer_start(&x->timer, on_timeout, ann_udp_timeout_ms(0, u->base_ms), 0);
  if (u->resolving)
    return;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_protocol = IPPROTO_UDP;
  u->gai.data = u;
  int rc = uv_getaddrinfo(u->loop, &u->gai, on_resolved, u->host, u->port, &hints);
  if (rc < 0) {
    /* reported from the timer so the callback never runs inside the call */
    x->start_err = rc;
    uv_timer_start(&x->timer, on_timeout, 0, 0);
    return;
  }
  u->resolving = 1;
  u->refs++;
}

struct ann_udpx *ann_udpc_announce(struct ann_udpc *u, const struct ann_req *q,
                                   uint32_t max_tries, ann_udpc_announce_cb cb, void *ud)
{
  struct ann_udpx *x = start(u);
  if (!x)
    return NULL;
  if (max_tries && max_tries < u->max_tries)
    x->max_tries = max_tries;
  x->req = *q;
  x->req.trackerid = NULL;
  x->acb = cb;
  x->ud = ud;
  kick(x);
  return x;
}

struct ann_udpx *ann_udpc_scrape(struct ann_udpc *u, const uint8_t info_hash[20],
                                 ann_udpc_scrape_cb cb, void *ud)
{
  struct ann_udpx *x = start(u);
  if (!x)
    return NULL;
  x->scrape = 1;
  memcpy(x->hash, info_hash, 20);
  x->scb = cb;
  x->ud = ud;
  kick(x);
  return x;
}

void ann_udpc_cancel(struct ann_udpx *x)
{
  if (x)
    drop(x);
}

static void on_linger_closed(uv_handle_t *h)
{
  struct ann_udpc *u = h->data;
  u->refs--;
  maybe_free(u);
}

void ann_udpc_close(struct ann_udpc *u, void (*done)(void *ud), void *ud)
{
  u->closing = 1;
  u->done = done;
  u->done_ud = ud;
  while (u->xs)
    drop(u->xs);
  if (u->resolving)
    uv_cancel((uv_req_t *)&u->gai);
  close_sock(u);
  /* always at least this close is pending, so u is never freed (nor done
   * called) inside this call */
  uv_timer_stop(&u->linger);
  uv_close((uv_handle_t *)&u->linger, on_linger_closed);
}
