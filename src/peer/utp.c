/* The uTP transport (see utp.h): the core on the session's UDP socket. */
#include "peer/utp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/error.h"
#include "base/log.h"
#include "base/vec.h"

/* The staging list: one GSO send holds at most 64 datagrams and 64 KiB
 * less the headers. Data packets are sent from the core's buffers, where
 * they wait to be acked (the core promises them unchanged until its next
 * input, tick or close, so the list is sent before any of those); acks
 * and other small packets are copied into slots of COPY_SLOT bytes (a
 * STATE with the longest selective ack is 150). */
#define STAGE_MAX 65000
#define STAGE_SEGS 64
#define COPY_SLOT 160

struct utpt {
  struct sh_transport t;    /* first: the ops get a struct sh_transport * */
  struct sh_utp_ep *ep;
  struct sh_utp_conn *c;    /* NULL once closed */
  uint8_t *rbuf;            /* the reader's space being filled */
  size_t rlen, rcap;
  int reading, wpolling, closing, connecting;
  int filling;              /* in ep->filling: rlen bytes not yet reported */
  int later;                /* in ep->later: a delivery or on_closed due */
  size_t all_idx;
};

struct sh_utp_ep {
  uv_loop_t *loop;
  struct sh_udp *udp;
  struct sh_utp *core;
  int family;
  uv_timer_t timer;
  uint64_t timer_at;        /* µs, 0: not armed */
  uv_idle_t idle;
  int open_handles, closing;
  sh_utp_accept_cb on_accept;
  void *accept_ud;
  void (*done)(void *ud);
  void *done_ud;
  uint64_t now;             /* the batch's clock, 0: read it again */
  int depth;                /* entries running; the last one out finishes */
  int batch_open;           /* datagrams delivered, their batch end not yet */
  struct utpt **all;        /* every live transport */
  size_t nall, cap_all;
  struct utpt **filling;    /* reads to report at the end of the batch */
  size_t nfilling, cap_filling;
  struct utpt **later;      /* work for the next loop turn */
  size_t nlater, cap_later;
  /* packets gathered for one GSO send */
  struct iovec siov[STAGE_SEGS];
  uint8_t *scopy;           /* STAGE_SEGS slots of COPY_SLOT bytes */
  size_t stage_len, stage_seg, stage_n;
  int stage_short;          /* the last one was shorter: nothing may follow */
  struct sh_addr stage_to;
};

static const struct sh_transport_ops utp_ops;

static uint64_t clock_us(struct sh_utp_ep *ep)
{
  if (!ep->now)
    ep->now = uv_hrtime() / 1000;
  return ep->now;
}

/* ---- sending: the staging buffer ---- */

static void stage_flush(struct sh_utp_ep *ep)
{
  if (!ep->stage_n)
    return;
  struct sockaddr_storage ss;
  sh_addr_to_sockaddr(&ep->stage_to, &ss);
  /* a full socket buffer drops these; uTP resends what is lost */
  sh_udp_send_many(ep->udp, SH_UDP_UTP, ep->siov, (int)ep->stage_n,
                   (const struct sockaddr *)&ss);
  ep->stage_len = ep->stage_n = 0;
  ep->stage_short = 0;
}

static void core_send(void *ud, const struct sh_addr *to, const uint8_t *p, size_t n, int stable)
{
  struct sh_utp_ep *ep = ud;
  if (!stable && n > COPY_SLOT) {
    /* not expected (no small packet is this long): straight out */
    struct sockaddr_storage ss;
    sh_addr_to_sockaddr(to, &ss);
    stage_flush(ep);
    struct iovec v = {(void *)p, n};
    sh_udp_send_many(ep->udp, SH_UDP_UTP, &v, 1, (const struct sockaddr *)&ss);
    return;
  }
  if (ep->stage_n && (ep->stage_short || n > ep->stage_seg || ep->stage_n == STAGE_SEGS ||
                      ep->stage_len + n > STAGE_MAX || !sh_addr_eq(to, &ep->stage_to)))
    stage_flush(ep);
  if (!ep->stage_n) {
    ep->stage_seg = n;
    ep->stage_to = *to;
  }
  uint8_t *q = (uint8_t *)p;
  if (!stable) {
    q = ep->scopy + ep->stage_n * COPY_SLOT;
    memcpy(q, p, n);
  }
  ep->siov[ep->stage_n] = (struct iovec){q, n};
  ep->stage_len += n;
  ep->stage_n++;
  ep->stage_short = n < ep->stage_seg;
}

/* ---- reading: copied into the reader's space, reported per batch ---- */

static void report(struct utpt *x)
{
  size_t n = x->rlen;
  x->rbuf = NULL;
  x->rlen = x->rcap = 0;
  if (n && !x->closing)
    x->t.cb->on_read(x->t.ud, (ssize_t)n);
}

/* Reports every read of the batch; a report may close transports or
 * start new reads, so the list is taken as it is. */
static void report_all(struct sh_utp_ep *ep)
{
  while (ep->nfilling) {
    struct utpt *x = ep->filling[--ep->nfilling];
    x->filling = 0;
    report(x);
  }
}

static size_t core_on_data(void *cud, const uint8_t *p, size_t n)
{
  struct utpt *x = cud;
  size_t took = 0;
  while (took < n && x->reading && !x->closing) {
    if (x->rlen == x->rcap) {
      if (x->rcap) /* full: report it, then ask for more space */
        report(x);
      if (!x->reading || x->closing)
        break;
      struct sh_utp_ep *ep = x->ep;
      if (!x->filling) {
        if (sh_vec_reserve(ep->filling, ep->cap_filling, ep->nfilling + 1, 16, SIZE_MAX) < 0)
          break; /* held by the core, offered again later */
        x->filling = 1;
        ep->filling[ep->nfilling++] = x;
      }
      uint8_t *b = NULL;
      size_t len = 0;
      x->t.cb->alloc(x->t.ud, &b, &len);
      if (!len || !b)
        break;
      x->rbuf = b;
      x->rcap = len;
    }
    size_t k = n - took < x->rcap - x->rlen ? n - took : x->rcap - x->rlen;
    memcpy(x->rbuf + x->rlen, p + took, k);
    x->rlen += k;
    took += k;
  }
  return took;
}

static void core_on_error(void *cud, int err)
{
  struct utpt *x = cud;
  if (x->closing)
    return;
  if (x->connecting) {
    x->connecting = 0;
    x->t.cb->on_connect(x->t.ud, err);
    return;
  }
  if (x->rlen)
    report(x); /* the data before the end first */
  if (!x->closing)
    x->t.cb->on_read(x->t.ud, err);
}

static void core_on_connect(void *cud)
{
  struct utpt *x = cud;
  if (x->closing || !x->connecting)
    return;
  x->connecting = 0;
  x->t.cb->on_connect(x->t.ud, 0);
}

static void core_on_writable(void *cud)
{
  struct utpt *x = cud;
  if (x->closing || !x->wpolling)
    return;
  x->wpolling = 0;
  x->t.cb->on_writable(x->t.ud);
}

static struct utpt *utpt_new(struct sh_utp_ep *ep, const struct sh_addr *remote)
{
  if (sh_vec_reserve(ep->all, ep->cap_all, ep->nall + 1, 16, SIZE_MAX) < 0)
    return NULL;
  struct utpt *x = calloc(1, sizeof *x);
  if (!x)
    return NULL;
  x->ep = ep;
  x->t.ops = &utp_ops;
  x->t.remote = *remote;
  if (sh_addr_is_loopback(remote))
    x->t.flags |= SH_TRANSPORT_LOCAL;
  x->all_idx = ep->nall;
  ep->all[ep->nall++] = x;
  return x;
}

static void utpt_free(struct utpt *x)
{
  struct sh_utp_ep *ep = x->ep;
  struct utpt *last = ep->all[--ep->nall];
  ep->all[x->all_idx] = last;
  last->all_idx = x->all_idx;
  free(x);
}

static void core_accept(void *ud, struct sh_utp_conn *c)
{
  struct sh_utp_ep *ep = ud;
  if (ep->closing)
    return; /* refused: the core answers with a RESET */
  struct utpt *x = utpt_new(ep, sh_utp_conn_peer(c));
  if (!x)
    return;
  x->c = c;
  sh_utp_set_ud(c, x);
  sh_utp_set_reading(c, 0);
  ep->on_accept(ep->accept_ud, &x->t);
}

static const struct sh_utp_cb core_cb = {core_send,      core_accept,      core_on_connect,
                                         core_on_data,   core_on_writable, core_on_error};

/* ---- the end of every entry: reads reported, acks, sends, timer ---- */

static void on_timer(uv_timer_t *h);

static void arm(struct sh_utp_ep *ep)
{
  uint64_t d = sh_utp_deadline(ep->core);
  if (!d || ep->closing || (ep->timer_at && ep->timer_at <= d))
    return;
  uint64_t now = clock_us(ep);
  ep->timer_at = d;
  uv_timer_start(&ep->timer, on_timer, d > now ? (d - now + 999) / 1000 : 0, 0);
}

/* After the last entry: the batch's reads reported, acks and woken
 * writers (sh_utp_flush), the packets sent, the timer set. */
static void finish(struct sh_utp_ep *ep)
{
  report_all(ep);
  sh_utp_flush(ep->core, clock_us(ep));
  report_all(ep);
  stage_flush(ep);
  arm(ep);
  ep->now = 0;
}

static void enter(struct sh_utp_ep *ep) { ep->depth++; }

static void leave(struct sh_utp_ep *ep)
{
  if (--ep->depth == 0 && !ep->closing)
    finish(ep);
}

static void on_timer(uv_timer_t *h)
{
  struct sh_utp_ep *ep = h->data;
  ep->timer_at = 0;
  ep->now = 0;
  enter(ep);
  stage_flush(ep);
  sh_utp_tick(ep->core, clock_us(ep));
  leave(ep);
}

static void on_datagram(void *ud, const uint8_t *p, size_t n, const struct sockaddr *from)
{
  struct sh_utp_ep *ep = ud;
  struct sh_addr a;
  if (sh_addr_from_sockaddr(&a, from) < 0)
    return;
  if (!ep->batch_open) {
    ep->batch_open = 1;
    enter(ep);
  }
  stage_flush(ep); /* the core may free what the list points at */
  sh_utp_input(ep->core, p, n, &a, clock_us(ep));
}

static void on_icmp(void *ud, const struct sockaddr *to, int err, const uint8_t *p, size_t n)
{
  struct sh_utp_ep *ep = ud;
  struct sh_addr a;
  if (ep->closing || sh_addr_from_sockaddr(&a, to) < 0)
    return;
  enter(ep);
  stage_flush(ep);
  sh_utp_unreachable(ep->core, &a, p, n, err);
  leave(ep);
}

static void on_batch_end(void *ud)
{
  struct sh_utp_ep *ep = ud;
  if (ep->batch_open) {
    ep->batch_open = 0;
    leave(ep);
  }
}

/* ---- the next loop turn: held data offered again, close callbacks ---- */

static void on_idle(uv_idle_t *h);

static void schedule(struct utpt *x)
{
  struct sh_utp_ep *ep = x->ep;
  if (x->later)
    return;
  if (sh_vec_reserve(ep->later, ep->cap_later, ep->nlater + 1, 16, SIZE_MAX) < 0)
    return; /* the next datagram offers the held data anyway */
  x->later = 1;
  ep->later[ep->nlater++] = x;
  if (!uv_is_active((uv_handle_t *)&ep->idle))
    uv_idle_start(&ep->idle, on_idle);
}

static void on_idle(uv_idle_t *h)
{
  struct sh_utp_ep *ep = h->data;
  struct utpt **list = ep->later;
  size_t n = ep->nlater;
  ep->later = NULL;
  ep->nlater = ep->cap_later = 0;
  ep->now = 0;
  enter(ep);
  for (size_t i = 0; i < n; i++) {
    struct utpt *x = list[i];
    x->later = 0;
    if (x->closing) {
      if (x->t.cb && x->t.cb->on_closed)
        x->t.cb->on_closed(x->t.ud);
      utpt_free(x);
    } else if (x->c && x->reading) {
      sh_utp_deliver(x->c, clock_us(ep));
    }
  }
  free(list);
  if (!ep->nlater)
    uv_idle_stop(&ep->idle);
  leave(ep);
}

/* ---- the operations ---- */

static struct utpt *of(struct sh_transport *t) { return (struct utpt *)t; }

static int utp_read_start(struct sh_transport *t)
{
  struct utpt *x = of(t);
  if (x->closing || !x->c)
    return x->closing ? 0 : -ENOTCONN;
  x->reading = 1;
  sh_utp_set_reading(x->c, 1);
  if (sh_utp_pending(x->c))
    schedule(x);
  return 0;
}

static void utp_read_stop(struct sh_transport *t)
{
  struct utpt *x = of(t);
  x->reading = 0;
  if (x->c)
    sh_utp_set_reading(x->c, 0);
}

static ssize_t utp_writev(struct sh_transport *t, const struct iovec *iov, int iovcnt, int more)
{
  struct utpt *x = of(t);
  (void)more; /* packets are cut where the window ends, not per call */
  if (x->closing || !x->c)
    return -EPIPE;
  enter(x->ep);
  ssize_t n = sh_utp_write(x->c, iov, iovcnt, clock_us(x->ep));
  leave(x->ep);
  return n == 0 ? -EAGAIN : n;
}

static int utp_poll_writable(struct sh_transport *t, int on)
{
  of(t)->wpolling = on;
  return 0;
}

static void utp_close(struct sh_transport *t)
{
  struct utpt *x = of(t);
  struct sh_utp_ep *ep = x->ep;
  if (x->closing)
    return;
  x->closing = 1;
  x->reading = 0;
  if (x->filling) {
    for (size_t i = 0; i < ep->nfilling; i++)
      if (ep->filling[i] == x) {
        ep->filling[i] = ep->filling[--ep->nfilling];
        break;
      }
    x->filling = 0;
  }
  enter(ep);
  if (x->c) {
    stage_flush(ep);
    sh_utp_close(x->c, 0, clock_us(ep));
    x->c = NULL;
  }
  if (x->later) {
    /* already listed (a delivery): on_closed runs there */
  } else {
    schedule(x);
    if (!x->later) {
      /* cannot defer: the contract says never from inside close, so the
       * owner's callback is skipped rather than run here */
      x->t.cb = NULL;
      utpt_free(x);
    }
  }
  leave(ep); /* sends the FIN, unless an entry running will */
}

static const struct sh_transport_ops utp_ops = {
    .name = "utp",
    .read_start = utp_read_start,
    .read_stop = utp_read_stop,
    .writev = utp_writev,
    .sendfile = NULL, /* uTP packets are built in memory */
    .poll_writable = utp_poll_writable,
    .close = utp_close,
};

/* ---- the endpoint ---- */

/* The receive window a connection advertises: half the socket's buffer
 * (a reader that stalls a moment finds the window's worth waiting there,
 * not dropped), from 64 KiB to 4 MiB. With rmem_max at 4 MiB the socket
 * gets 8 MiB and a window of 4 MiB rides out 7 ms without reading at
 * 600 MB/s; with Debian's default (208 KiB, doubled) it is 208 KiB. */
static uint32_t window_for(const struct sh_udp *udp)
{
  int b = sh_udp_rcvbuf(udp) / 2;
  if (b < 64 * 1024)
    b = 64 * 1024;
  return b > 4 << 20 ? 4u << 20 : (uint32_t)b;
}

int sh_utp_ep_open(uv_loop_t *loop, struct sh_udp *udp, const struct sh_utp_opts *o,
                   sh_utp_accept_cb on_accept, void *ud, struct sh_utp_ep **out)
{
  struct sh_utp_ep *ep = calloc(1, sizeof *ep);
  if (!ep)
    return -ENOMEM;
  /* bulk data: coalesced reads and never fragmented sends (best effort:
   * without them uTP still works, a datagram per system call) */
  int rc;
  if ((rc = sh_udp_set_gro(udp)) < 0)
    sh_info("uTP: no UDP GRO: %s", sh_strerror(rc));
  if ((rc = sh_udp_set_dont_fragment(udp)) < 0)
    sh_info("uTP: cannot set don't-fragment: %s", sh_strerror(rc));
  struct sh_utp_opts opts;
  if (o) {
    opts = *o;
  } else {
    sh_utp_opts_default(&opts);
    if (getrandom(&opts.seed, sizeof opts.seed, 0) != (ssize_t)sizeof opts.seed)
      opts.seed = uv_hrtime();
    opts.rcvbuf = window_for(udp);
  }
  ep->scopy = malloc((size_t)STAGE_SEGS * COPY_SLOT);
  rc = ep->scopy ? sh_utp_new(&opts, &core_cb, ep, &ep->core) : -ENOMEM;
  if (rc < 0) {
    free(ep->scopy);
    free(ep);
    return rc;
  }
  ep->loop = loop;
  ep->udp = udp;
  ep->family = sh_udp_family(udp) == AF_INET6 ? 6 : 4;
  ep->on_accept = on_accept;
  ep->accept_ud = ud;
  uv_timer_init(loop, &ep->timer);
  ep->timer.data = ep;
  uv_idle_init(loop, &ep->idle);
  ep->idle.data = ep;
  ep->open_handles = 2;
  sh_udp_set_consumer(udp, SH_UDP_UTP, on_datagram, ep);
  sh_udp_set_batch_end(udp, SH_UDP_UTP, on_batch_end, ep);
  sh_udp_set_error_consumer(udp, SH_UDP_UTP, on_icmp, ep);
  *out = ep;
  return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
  struct sh_utp_ep *ep = h->data;
  if (--ep->open_handles)
    return;
  /* transports still alive were orphaned at close; their owners closed
   * them since (the session closes connections first) */
  for (size_t i = 0; i < ep->nlater; i++) {
    struct utpt *x = ep->later[i];
    if (x->closing && x->t.cb && x->t.cb->on_closed)
      x->t.cb->on_closed(x->t.ud);
  }
  while (ep->nall)
    utpt_free(ep->all[ep->nall - 1]);
  void (*done)(void *) = ep->done;
  void *ud = ep->done_ud;
  free(ep->all);
  free(ep->filling);
  free(ep->later);
  free(ep->scopy);
  free(ep);
  if (done)
    done(ud);
}

void sh_utp_ep_close(struct sh_utp_ep *ep, void (*done)(void *ud), void *ud)
{
  if (ep->closing)
    return;
  stage_flush(ep);
  ep->closing = 1;
  ep->done = done;
  ep->done_ud = ud;
  sh_udp_set_consumer(ep->udp, SH_UDP_UTP, NULL, NULL);
  sh_udp_set_batch_end(ep->udp, SH_UDP_UTP, NULL, NULL);
  sh_udp_set_error_consumer(ep->udp, SH_UDP_UTP, NULL, NULL);
  /* a transport its owner has not closed loses its connection now */
  for (size_t i = 0; i < ep->nall; i++)
    ep->all[i]->c = NULL;
  sh_utp_free(ep->core);
  ep->core = NULL;
  uv_timer_stop(&ep->timer);
  uv_idle_stop(&ep->idle);
  uv_close((uv_handle_t *)&ep->timer, on_handle_closed);
  uv_close((uv_handle_t *)&ep->idle, on_handle_closed);
}

int sh_utp_ep_dial(struct sh_utp_ep *ep, const struct sh_addr *to,
                   const struct sh_transport_cb *cb, void *ud, struct sh_transport **out)
{
  if (ep->closing)
    return -ECANCELED;
  if (to->family != ep->family)
    return -EAFNOSUPPORT;
  struct utpt *x = utpt_new(ep, to);
  if (!x)
    return -ENOMEM;
  enter(ep);
  int rc = sh_utp_connect(ep->core, to, x, clock_us(ep), &x->c);
  if (rc < 0)
    utpt_free(x);
  else {
    x->t.cb = cb;
    x->t.ud = ud;
    x->connecting = 1;
    *out = &x->t;
  }
  leave(ep);
  return rc;
}

int sh_utp_ep_family(const struct sh_utp_ep *ep) { return ep->family; }

void sh_utp_ep_stats(const struct sh_utp_ep *ep, struct sh_utp_stats *st)
{
  if (ep->core)
    sh_utp_stats(ep->core, st);
  else
    memset(st, 0, sizeof *st);
}
