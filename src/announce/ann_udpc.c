/* A UDP tracker client's transactions: the shared connect exchange, the
 * window of requests in flight, retransmission, replies. The registry and
 * the clients' lifetimes are in ann_udpc_reg.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "announce/ann_tier.h"
#include "announce/ann_udpc_int.h"
#include "announce/announce.h"
#include "base/error.h"
#include "net/udp.h"

/* BEP 15: a connection id may be used for one minute after it arrived. */
#define CONN_ID_LIFE_MS 60000

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

static int conn_valid(const struct ann_udpc *u)
{
  return u->conn_expiry && uv_now(u->reg->loop) < u->conn_expiry;
}

static void on_timeout(uv_timer_t *t);

static void arm(struct ann_udpx *x, uint64_t ms)
{
  x->armed_ms = uv_now(x->u->reg->loop);
  uv_timer_start(&x->timer, on_timeout, ms, 0);
}

static void arm_schedule(struct ann_udpx *x)
{
  arm(x, ann_udp_timeout_ms(x->n, x->sched.base_ms));
}

/* Registers a fresh transaction id for replies from `to` on s; the id is
 * redrawn in the (2^-32) case that another request to the same tracker
 * holds it. */
static int expect_reply(struct sh_udp *s, const struct sockaddr *to, uint32_t *tid,
                        sh_udp_recv_cb cb, void *ud)
{
  int rc = -EEXIST;
  for (int i = 0; i < 8 && rc == -EEXIST; i++) {
    *tid = ann_random_u32();
    rc = sh_udp_expect(s, to, *tid, cb, ud);
  }
  return rc;
}

/* ---- stages ---- */

static void admit(struct ann_udpc *u);
static void stop_connect(struct ann_udpc *u);
static void resend_connect(struct ann_udpx *x);

/* Takes x out of its stage's bookkeeping. */
static void leave_stage(struct ann_udpx *x)
{
  struct ann_udpc *u = x->u;
  switch (x->stage) {
  case X_WAIT_CONN:
    if (--u->nwait == 0)
      stop_connect(u); /* nobody needs the id any more */
    break;
  case X_QUEUED:
    if (x->qprev)
      x->qprev->qnext = x->qnext;
    else
      u->qhead = x->qnext;
    if (x->qnext)
      x->qnext->qprev = x->qprev;
    else
      u->qtail = x->qprev;
    x->qprev = x->qnext = NULL;
    break;
  case X_REQUESTING:
    sh_udp_unexpect(x->sock, (const struct sockaddr *)&x->to, x->tid);
    u->inflight--;
    admit(u);
    break;
  case X_LATE:
    break;
  }
  x->stage = X_LATE;
}

/* A failure found while x was being started or moved on: reported from
 * its timer, so no callback ever runs inside a call into the client. */
static void fail_later(struct ann_udpx *x, int err, const char *msg)
{
  leave_stage(x);
  x->late_err = err;
  free(x->late_msg);
  x->late_msg = strdup(msg);
  arm(x, 0);
}

static void need_conn(struct ann_udpc *u);

/* Arms x's timer for its current wait unless one is running: moving
 * between stages (a place in the window, a connect) does not restart a
 * wait, so no transaction outlives its schedule by being moved around. */
static void keep_waiting(struct ann_udpx *x)
{
  if (!uv_is_active((uv_handle_t *)&x->timer))
    arm_schedule(x);
}

static void wait_conn(struct ann_udpx *x)
{
  x->stage = X_WAIT_CONN;
  x->u->nwait++;
  keep_waiting(x);
  need_conn(x->u);
}

static void on_reply(void *ud, const uint8_t *p, size_t n, const struct sockaddr *from);

static void send_request(struct ann_udpx *x)
{
  struct ann_udpc *u = x->u;
  x->sock = u->sock;
  memcpy(&x->to, &u->addr, sizeof x->to);
  int rc = expect_reply(x->sock, (const struct sockaddr *)&x->to, &x->tid, on_reply, x);
  if (rc < 0) {
    fail_later(x, rc, sh_strerror(rc));
    return;
  }
  x->stage = X_REQUESTING;
  u->inflight++;
  if (x->scrape)
    x->pkt_len = ann_udp_scrape_req(x->pkt, u->conn_id, x->tid, (const uint8_t(*)[20])x->hash, 1);
  else
    x->pkt_len = ann_udp_announce_req(x->pkt, u->conn_id, x->tid, &x->req, x->path_query);
  /* a datagram the socket drops shows up as a timeout: retransmission
   * covers it */
  sh_udp_send(x->sock, SH_UDP_TRACKER, x->pkt, x->pkt_len, (const struct sockaddr *)&x->to);
  arm_schedule(x);
}

/* x has an address and a valid connection id: send, or wait for a place. */
static void want_request(struct ann_udpx *x)
{
  struct ann_udpc *u = x->u;
  if (u->inflight < ANN_UDPC_WINDOW) {
    send_request(x);
    return;
  }
  x->stage = X_QUEUED;
  x->qprev = u->qtail;
  x->qnext = NULL;
  if (u->qtail)
    u->qtail->qnext = x;
  else
    u->qhead = x;
  u->qtail = x;
  keep_waiting(x);
}

/* Fills the window from the queue, oldest first. */
static void admit(struct ann_udpc *u)
{
  while (u->qhead && u->inflight < ANN_UDPC_WINDOW && !u->closing) {
    struct ann_udpx *x = u->qhead;
    leave_stage(x);
    if (conn_valid(u))
      send_request(x);
    else
      wait_conn(x);
  }
}

/* Starts x's schedule afresh on entering a later phase, once per phase,
 * as BEP 15 does per packet exchange: the address arrived (its first
 * packet can leave), or a connect reply arrived (its request can). */
static void enter_phase(struct ann_udpx *x, int phase)
{
  if (x->phase >= phase)
    return;
  x->phase = phase;
  x->n = 0;
  arm_schedule(x);
}

/* The connection id is ready: everyone waiting for it moves on. Sends
 * only, no callbacks. */
static void conn_ready(struct ann_udpc *u)
{
  for (struct ann_udpx *x = u->xs; x && u->nwait; x = x->next) {
    if (x->stage != X_WAIT_CONN)
      continue;
    leave_stage(x);
    enter_phase(x, PHASE_REQUEST);
    want_request(x);
  }
}

/* ---- finishing ---- */

static void on_x_closed(uv_handle_t *h)
{
  struct ann_udpx *x = (struct ann_udpx *)h;
  struct ann_udpc *u = x->u;
  free(x);
  ann_udpc_handle_closed(u);
}

/* Unlinks x and frees it (asynchronously: its timer must close first). */
static void drop(struct ann_udpx *x)
{
  struct ann_udpc *u = x->u;
  leave_stage(x);
  if (x->prev)
    x->prev->next = x->next;
  else
    u->xs = x->next;
  if (x->next)
    x->next->prev = x->prev;
  free(x->late_msg);
  x->late_msg = NULL;
  uv_timer_stop(&x->timer);
  uv_close((uv_handle_t *)&x->timer, on_x_closed);
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

/* Fails every transaction waiting for the connection id. Restarts from
 * the head after each callback: a callback may cancel other transactions,
 * release the client (which empties the list) or start new ones (which
 * are not failed: they start a connect of their own). */
static void fail_waiting(struct ann_udpc *u, int err, const char *msg)
{
  for (struct ann_udpx *x = u->xs; x; x = x->next)
    x->doomed = x->stage == X_WAIT_CONN;
  for (;;) {
    struct ann_udpx *x = u->xs;
    while (x && !(x->stage == X_WAIT_CONN && x->doomed))
      x = x->next;
    if (!x)
      return;
    finish(x, err, msg, NULL, NULL);
  }
}

/* Ends the tracker's current address: the next transaction that needs a
 * connection looks the name up again (the tracker may have moved) and
 * connects afresh. Requests in flight keep their own address. */
static void forget_addr(struct ann_udpc *u)
{
  u->have_addr = 0;
  u->conn_expiry = 0;
}

/* The last thing a timeout does when the transaction goes on: the
 * callback may cancel it. */
static void stall(struct ann_udpx *x, const char *msg)
{
  if (x->sched.stalled)
    x->sched.stalled(x->ud, x->n, msg);
}

static void on_timeout(uv_timer_t *t)
{
  struct ann_udpx *x = (struct ann_udpx *)t;
  struct ann_udpc *u = x->u;
  char msg[400];
  if (x->stage == X_LATE) {
    char *m = x->late_msg;
    x->late_msg = NULL;
    finish(x, x->late_err, m ? m : sh_strerror(x->late_err), NULL, NULL);
    free(m);
    return;
  }
  int last = ++x->n >= x->sched.max_tries;
  const char *what = x->scrape ? "scrape" : "announce";
  if (x->stage == X_WAIT_CONN) {
    if (!last) {
      resend_connect(x);
      arm_schedule(x);
      if (x->phase == PHASE_ADDR)
        snprintf(msg, sizeof msg, "cannot resolve %s yet: no answer after %u waits; still "
                 "waiting", u->host, (unsigned)x->n);
      else
        snprintf(msg, sizeof msg, "no connect reply after %u tr%s; still trying",
                 (unsigned)x->n, x->n == 1 ? "y" : "ies");
      stall(x, msg);
      return;
    }
    /* resolution runs in libuv's thread pool, which disk jobs may keep
     * busy: its wait is bounded by the same schedule as a reply */
    if (x->phase == PHASE_ADDR) {
      snprintf(msg, sizeof msg, "cannot resolve %s: no answer after %u waits", u->host,
               (unsigned)x->n);
    } else {
      /* after a request, waiting here means connecting again */
      snprintf(msg, sizeof msg, "no %s reply after %u tries",
               x->phase == PHASE_CONNECT ? "connect" : what, (unsigned)x->n);
      forget_addr(u);
    }
    finish(x, SH_ETIMEOUT, msg, NULL, NULL);
    return;
  }
  if (x->stage == X_QUEUED) {
    if (!last) {
      arm_schedule(x);
      snprintf(msg, sizeof msg, "no %s sent after %u waits: %d requests to %s unanswered; "
               "still waiting", what, (unsigned)x->n, u->inflight, u->host);
      stall(x, msg);
      return;
    }
    snprintf(msg, sizeof msg, "no %s sent after %u waits: %d requests to %s unanswered", what,
             (unsigned)x->n, u->inflight, u->host);
    finish(x, SH_ETIMEOUT, msg, NULL, NULL);
    return;
  }
  /* X_REQUESTING */
  if (last) {
    forget_addr(u);
    snprintf(msg, sizeof msg, "no %s reply after %u tries", what, (unsigned)x->n);
    finish(x, SH_ETIMEOUT, msg, NULL, NULL);
    return;
  }
  /* the id may have expired while we waited (BEP 15's "announce times out"
   * example: t = 107 s goes back to connect) */
  if (!conn_valid(u)) {
    leave_stage(x);
    wait_conn(x);
    return;
  }
  /* same bytes, same transaction id: a late reply still counts */
  sh_udp_send(x->sock, SH_UDP_TRACKER, x->pkt, x->pkt_len, (const struct sockaddr *)&x->to);
  arm_schedule(x);
  snprintf(msg, sizeof msg, "no %s reply after %u tr%s; still trying", what, (unsigned)x->n,
           x->n == 1 ? "y" : "ies");
  stall(x, msg);
}

/* ---- replies ---- */

static void handle_reply(struct ann_udpx *x, const uint8_t *p, size_t n)
{
  if (x->scrape) {
    struct sh_scrape_info s = {-1, -1, -1};
    if (ann_udp_scrape_reply(p, n, &s, 1) == 0)
      finish(x, SH_EPROTO, "scrape reply without an entry", NULL, NULL);
    else
      finish(x, 0, NULL, NULL, &s);
    return;
  }
  struct ann_reply r;
  if (ann_udp_announce_reply(p, n, x->to.ss_family == AF_INET6, &r) < 0)
    finish(x, -ENOMEM, "out of memory", NULL, NULL);
  else
    finish(x, 0, NULL, &r, NULL);
  ann_reply_free(&r);
}

/* From the socket's demultiplexer: the source address and transaction id
 * are x's, so the datagram answers x's request (or is malformed). */
static void on_reply(void *ud, const uint8_t *p, size_t n, const struct sockaddr *from)
{
  struct ann_udpx *x = ud;
  char msg[256];
  int rc = ann_udp_check(p, n, x->tid, x->scrape ? ANN_UDP_SCRAPE : ANN_UDP_ANNOUNCE, msg,
                         sizeof msg);
  if (rc == 1)
    return;
  if (rc < 0) {
    finish(x, rc, msg, NULL, NULL);
    return;
  }
  handle_reply(x, p, n);
}

/* ---- the connect exchange ---- */

static void stop_connect(struct ann_udpc *u)
{
  if (!u->connecting)
    return;
  u->connecting = 0;
  sh_udp_unexpect(u->conn_sock, (const struct sockaddr *)&u->conn_to, u->conn_tid);
}

/* Sends the connect again for a waiter whose interval passed without one
 * (same bytes, same transaction id: a late reply still counts). The
 * waiters drive the retransmissions, so each one sees at least the sends
 * its own schedule would have made, and a thousand waiters that started
 * together cause one send per interval, not a thousand. */
static void resend_connect(struct ann_udpx *x)
{
  struct ann_udpc *u = x->u;
  if (!u->connecting || u->conn_sent_ms > x->armed_ms)
    return;
  u->conn_sent_ms = uv_now(u->reg->loop);
  sh_udp_send(u->conn_sock, SH_UDP_TRACKER, u->conn_pkt, sizeof u->conn_pkt,
              (const struct sockaddr *)&u->conn_to);
}

static void on_conn_reply(void *ud, const uint8_t *p, size_t n, const struct sockaddr *from)
{
  struct ann_udpc *u = ud;
  char msg[256];
  int rc = ann_udp_check(p, n, u->conn_tid, ANN_UDP_CONNECT, msg, sizeof msg);
  if (rc == 1)
    return;
  stop_connect(u);
  if (rc < 0) {
    fail_waiting(u, rc, msg);
    return;
  }
  u->conn_id = ann_udp_connect_id(p);
  u->conn_expiry = uv_now(u->reg->loop) + CONN_ID_LIFE_MS;
  /* it answered from there: requests go where the connect went */
  memcpy(&u->addr, &u->conn_to, sizeof u->addr);
  u->sock = u->conn_sock;
  u->have_addr = 1;
  conn_ready(u);
}

/* Fails the waiters from a timer (this may run inside a call). */
static void fail_waiting_later(struct ann_udpc *u, int err, const char *msg)
{
  for (struct ann_udpx *x = u->xs; x; x = x->next)
    if (x->stage == X_WAIT_CONN)
      fail_later(x, err, msg);
}

static void start_connect(struct ann_udpc *u)
{
  u->conn_sock = u->sock;
  memcpy(&u->conn_to, &u->addr, sizeof u->conn_to);
  int rc = expect_reply(u->conn_sock, (const struct sockaddr *)&u->conn_to, &u->conn_tid,
                        on_conn_reply, u);
  if (rc < 0) {
    fail_waiting_later(u, rc, sh_strerror(rc));
    return;
  }
  u->connecting = 1;
  u->conn_sent_ms = uv_now(u->reg->loop);
  ann_udp_connect_req(u->conn_pkt, u->conn_tid);
  sh_udp_send(u->conn_sock, SH_UDP_TRACKER, u->conn_pkt, sizeof u->conn_pkt,
              (const struct sockaddr *)&u->conn_to);
}

/* ---- name resolution ---- */

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

/* The first address of a family the session has a socket for, else the
 * first one (the registry then opens a socket of its own for it). */
static const struct addrinfo *pick_addr(const struct ann_udpc *u, const struct addrinfo *res)
{
  for (const struct addrinfo *a = res; a; a = a->ai_next)
    if ((a->ai_family == AF_INET || a->ai_family == AF_INET6) &&
        ann_udpc_reg_has_family(u->reg, a->ai_family) &&
        a->ai_addrlen <= sizeof(struct sockaddr_storage))
      return a;
  for (const struct addrinfo *a = res; a; a = a->ai_next)
    if ((a->ai_family == AF_INET || a->ai_family == AF_INET6) &&
        a->ai_addrlen <= sizeof(struct sockaddr_storage))
      return a;
  return NULL;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
  struct ann_udpc *u = req->data;
  u->resolving = 0;
  if (u->closing) {
    uv_freeaddrinfo(res);
    ann_udpc_handle_closed(u);
    return;
  }
  u->handles--;
  char msg[400];
  const struct addrinfo *pick = status < 0 ? NULL : pick_addr(u, res);
  if (!pick) {
    snprintf(msg, sizeof msg, "cannot resolve %s: %s", u->host,
             status < 0 ? uv_strerror(status) : "no IPv4 or IPv6 address");
    uv_freeaddrinfo(res);
    fail_waiting(u, -EHOSTUNREACH, msg);
    return;
  }
  int err = 0;
  struct sh_udp *s = ann_udpc_reg_sock(u->reg, pick->ai_addr, &err);
  if (!s) {
    snprintf(msg, sizeof msg, "cannot open a UDP socket for %s: %s", u->host, sh_strerror(err));
    uv_freeaddrinfo(res);
    fail_waiting(u, err, msg);
    return;
  }
  if (!same_addr(&u->addr, pick->ai_addr))
    u->conn_expiry = 0; /* an id is good only for the address that gave it */
  memset(&u->addr, 0, sizeof u->addr);
  memcpy(&u->addr, pick->ai_addr, pick->ai_addrlen);
  uv_freeaddrinfo(res);
  u->sock = s;
  u->have_addr = 1;
  if (!u->nwait)
    return;
  if (conn_valid(u)) {
    conn_ready(u);
    return;
  }
  for (struct ann_udpx *x = u->xs; x; x = x->next)
    if (x->stage == X_WAIT_CONN)
      enter_phase(x, PHASE_CONNECT);
  start_connect(u);
}

static void start_resolve(struct ann_udpc *u)
{
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_protocol = IPPROTO_UDP;
  u->gai.data = u;
  int rc = uv_getaddrinfo(u->reg->loop, &u->gai, on_resolved, u->host, u->port, &hints);
  if (rc < 0) {
    char msg[400];
    snprintf(msg, sizeof msg, "cannot resolve %s: %s", u->host, uv_strerror(rc));
    fail_waiting_later(u, -EHOSTUNREACH, msg);
    return;
  }
  u->resolving = 1;
  u->handles++;
}

/* Makes progress for the transactions waiting for a connection id: the
 * address first when it is unknown, then one connect for all of them. */
static void need_conn(struct ann_udpc *u)
{
  if (u->connecting || u->resolving || u->closing)
    return;
  if (!u->have_addr)
    start_resolve(u);
  else
    start_connect(u);
}

/* ---- starting, cancelling ---- */

static struct ann_udpx *start(struct ann_udpc *u, struct ann_udpc_sched s)
{
  if (u->closing)
    return NULL;
  struct ann_udpx *x = calloc(1, sizeof *x);
  if (!x)
    return NULL;
  x->u = u;
  x->sched = s;
  if (!x->sched.base_ms)
    x->sched.base_ms = 15000;
  if (!x->sched.max_tries)
    x->sched.max_tries = 9;
  uv_timer_init(u->reg->loop, &x->timer);
  u->handles++;
  x->next = u->xs;
  if (u->xs)
    u->xs->prev = x;
  u->xs = x;
  x->stage = X_LATE; /* in no stage yet */
  return x;
}

static void kick(struct ann_udpx *x)
{
  struct ann_udpc *u = x->u;
  /* phases it need not go through are behind it already */
  if (u->have_addr && conn_valid(u)) {
    x->phase = PHASE_REQUEST;
    want_request(x);
    return;
  }
  x->phase = u->have_addr || u->connecting ? PHASE_CONNECT : PHASE_ADDR;
  wait_conn(x);
}

struct ann_udpx *ann_udpc_announce(struct ann_udpc *u, const struct ann_req *q,
                                   const char *path_query, struct ann_udpc_sched s,
                                   ann_udpc_announce_cb cb, void *ud)
{
  struct ann_udpx *x = start(u, s);
  if (!x)
    return NULL;
  x->req = *q;
  x->req.trackerid = NULL;
  x->path_query = path_query;
  x->acb = cb;
  x->ud = ud;
  kick(x);
  return x;
}

struct ann_udpx *ann_udpc_scrape(struct ann_udpc *u, const uint8_t info_hash[20],
                                 struct ann_udpc_sched s, ann_udpc_scrape_cb cb, void *ud)
{
  struct ann_udpx *x = start(u, s);
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

void ann_udpc_shutdown(struct ann_udpc *u)
{
  u->closing = 1;
  while (u->xs)
    drop(u->xs);
  stop_connect(u);
  if (u->resolving)
    uv_cancel((uv_req_t *)&u->gai);
}

/* An ICMP error for the tracker at `to`: its requests in flight there and
 * its waiters for a connection id from there fail now (from their timers),
 * the rest of their schedule being pointless. */
void ann_udpc_icmp(struct ann_udpc *u, const struct sockaddr *to, int err)
{
  /* "connection refused" is what a TCP tracker's port says too: short
   * enough for a progress line, and clear */
  char msg[300];
  snprintf(msg, sizeof msg, "%s", err == -ECONNREFUSED ? "connection refused" : sh_strerror(err));
  int connecting_there = u->connecting && same_addr(&u->conn_to, to);
  for (struct ann_udpx *x = u->xs; x; x = x->next) {
    if ((x->stage == X_REQUESTING && same_addr(&x->to, to)) ||
        (x->stage == X_WAIT_CONN && connecting_there))
      fail_later(x, err, msg);
  }
  if (connecting_there)
    stop_connect(u);
}
