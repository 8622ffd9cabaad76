/* A simulated network for the uTP core: two endpoints (0 and 1) on a
 * virtual clock, joined by one link each way with a rate, a drop-tail
 * queue, a propagation delay, and loss, duplication and reordering drawn
 * from a seeded generator, so every run repeats exactly. Optionally a
 * second, loss-driven flow (TCP Reno's AIMD, in packets) shares the queue
 * of link 0 -> 1, to see LEDBAT yield to it.
 *
 * Applications on each endpoint: a writer that sends `to_send` bytes of a
 * known pattern as fast as the connection takes them, and a reader that
 * checks every byte it gets. Everything runs in the test's thread. */
#ifndef TEST_UTP_SIM_H
#define TEST_UTP_SIM_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "utp/utp.h"
#include "utp/utp_pkt.h"

#define SIM_MAXPKT 2048

struct sim_link {
  double rate;          /* bytes per microsecond; 0: no limit */
  uint64_t delay_us;    /* propagation */
  uint64_t qlimit;      /* bytes the queue holds (0: no limit) */
  double loss, dup, reorder;
  uint64_t reorder_us;  /* a reordered packet arrives up to this much later */
  uint64_t busy_until;  /* the queue is empty from then on */
  /* what happened */
  uint64_t sent, dropped, dups, reordered;
  double qdelay_sum;    /* queueing delay of uTP packets, us */
  uint64_t qdelay_n;
};

enum { EV_PKT = 0, EV_RENO_ACK, EV_RENO_LOSS };

struct sim_ev {
  uint64_t at;
  uint64_t order;       /* ties leave in the order they were made */
  int kind, to;
  uint16_t len;
  uint8_t *data;
};

struct sim_app {
  struct sh_utp_conn *c;
  uint64_t to_send, sent, got, expect;
  int connected, err, got_err, closed_by_app, verify_failed, reading;
  int stream;           /* pattern id of what this side writes */
  uint64_t done_at;     /* when `got` reached `expect` */
};

struct sim;
struct sim_side {
  struct sim *s;
  int i;
};

struct sim {
  uint64_t now, rng, order;
  struct sim_side side[2];
  struct sh_utp *ep[2];
  struct sh_addr addr[2];
  struct sim_link link[2];     /* link[i]: from endpoint i to 1 - i */
  struct sim_ev *ev;
  size_t nev, cap;
  struct sim_app app[2];
  /* capture of what endpoint 0 and 1 send (tests look at bytes) */
  void (*capture)(struct sim *s, int from, const uint8_t *p, size_t n);
  void *capture_ud;
  /* the competing loss-driven flow on link 0 -> 1 */
  int reno_on, reno_ss;
  double reno_cwnd;            /* packets */
  uint64_t reno_inflight, reno_sent_bytes, reno_last_cut;
};

static inline double sim_rand(struct sim *s)
{
  s->rng ^= s->rng << 13;
  s->rng ^= s->rng >> 7;
  s->rng ^= s->rng << 17;
  return (double)(s->rng >> 11) / (double)(1ull << 53);
}

static inline uint8_t sim_byte(int stream, uint64_t off)
{
  uint64_t x = off * 0x9e3779b97f4a7c15ull + (uint64_t)stream * 0x632be59bd9b4e019ull;
  return (uint8_t)(x >> 56 ^ off);
}

/* ---- the event heap ---- */

static inline int sim_before(const struct sim_ev *a, const struct sim_ev *b)
{
  return a->at < b->at || (a->at == b->at && a->order < b->order);
}

static inline void sim_push(struct sim *s, struct sim_ev e)
{
  if (s->nev == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 1024;
    s->ev = realloc(s->ev, s->cap * sizeof *s->ev);
    cr_assert(s->ev);
  }
  e.order = s->order++;
  size_t i = s->nev++;
  while (i && sim_before(&e, &s->ev[(i - 1) / 2])) {
    s->ev[i] = s->ev[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  s->ev[i] = e;
}

static inline struct sim_ev sim_pop(struct sim *s)
{
  struct sim_ev top = s->ev[0], last = s->ev[--s->nev];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    const struct sim_ev *best = &last;
    if (l < s->nev && sim_before(&s->ev[l], best))
      m = l, best = &s->ev[l];
    if (r < s->nev && sim_before(&s->ev[r], best))
      m = r;
    if (m == i)
      break;
    s->ev[i] = s->ev[m];
    i = m;
  }
  if (s->nev)
    s->ev[i] = last;
  return top;
}

/* ---- links ---- */

/* Puts a packet on link `from`; returns 0 when the queue dropped it. */
static inline int sim_link_put(struct sim *s, int from, int kind, const uint8_t *p, size_t n)
{
  struct sim_link *l = &s->link[from];
  l->sent++;
  uint64_t start = l->busy_until > s->now ? l->busy_until : s->now;
  if (l->rate > 0 && l->qlimit && (double)(start - s->now) * l->rate + (double)n > (double)l->qlimit) {
    l->dropped++;
    return 0; /* drop-tail */
  }
  if (kind == EV_PKT && sim_rand(s) < l->loss) {
    l->dropped++;
    return 1; /* lost on the way, not at the queue */
  }
  uint64_t tx = l->rate > 0 ? (uint64_t)((double)n / l->rate) : 0;
  l->busy_until = start + tx;
  if (kind == EV_PKT) {
    l->qdelay_sum += (double)(start - s->now);
    l->qdelay_n++;
  }
  int copies = kind == EV_PKT && sim_rand(s) < l->dup ? 2 : 1;
  l->dups += (uint64_t)(copies - 1);
  for (int k = 0; k < copies; k++) {
    struct sim_ev e = {.at = l->busy_until + l->delay_us, .kind = kind, .to = 1 - from,
                       .len = (uint16_t)n};
    if (kind == EV_PKT && sim_rand(s) < l->reorder) {
      e.at += 1 + (uint64_t)(sim_rand(s) * (double)l->reorder_us);
      l->reordered++;
    }
    if (p) {
      e.data = malloc(n);
      memcpy(e.data, p, n);
    }
    sim_push(s, e);
  }
  return 1;
}

static inline void sim_send(void *ud, const struct sh_addr *to, const uint8_t *p, size_t n,
                            int stable)
{
  struct sim_side *sd = ud;
  struct sim *s = sd->s;
  (void)to;
  cr_assert(n >= 20 && n <= SIM_MAXPKT, "packet of %zu bytes", n);
  if (s->capture)
    s->capture(s, sd->i, p, n);
  sim_link_put(s, sd->i, EV_PKT, p, n);
}

/* ---- the applications ---- */

static inline void sim_write(struct sim_app *a, uint64_t now)
{
  uint8_t buf[8192]; /* small: filling it is most of a simulation's time */
  while (a->c && a->connected && a->sent < a->to_send) {
    size_t n = a->to_send - a->sent < sizeof buf ? (size_t)(a->to_send - a->sent) : sizeof buf;
    for (size_t i = 0; i < n; i++)
      buf[i] = sim_byte(a->stream, a->sent + i);
    struct iovec iov[2] = {{buf, n / 3}, {buf + n / 3, n - n / 3}};
    ssize_t w = sh_utp_write(a->c, iov, 2, now);
    cr_assert(w >= 0, "write: %zd", w);
    if (w == 0)
      return;
    a->sent += (uint64_t)w;
  }
}

static inline struct sim *sim_of_app(struct sim_app *a, int *idx);

static inline void sim_on_connect(void *cud)
{
  struct sim_app *a = cud;
  int i;
  struct sim *s = sim_of_app(a, &i);
  a->connected = 1;
  sim_write(a, s->now);
}

static inline size_t sim_on_data(void *cud, const uint8_t *p, size_t n)
{
  struct sim_app *a = cud;
  int i;
  struct sim *s = sim_of_app(a, &i);
  if (!a->reading)
    return 0;
  for (size_t k = 0; k < n; k++)
    if (p[k] != sim_byte(s->app[1 - i].stream, a->got + k))
      a->verify_failed = 1;
  a->got += n;
  if (a->expect && a->got >= a->expect && !a->done_at)
    a->done_at = s->now;
  return n;
}

static inline void sim_on_writable(void *cud)
{
  struct sim_app *a = cud;
  int i;
  struct sim *s = sim_of_app(a, &i);
  sim_write(a, s->now);
}

static inline void sim_on_error(void *cud, int err)
{
  struct sim_app *a = cud;
  a->got_err = 1;
  a->err = err;
}

static inline void sim_accept(void *ud, struct sh_utp_conn *c)
{
  struct sim_side *sd = ud;
  struct sim_app *a = &sd->s->app[sd->i];
  a->c = c;
  a->connected = 1;
  sh_utp_set_ud(c, a);
  sim_write(a, sd->s->now);
}

static const struct sh_utp_cb sim_cb = {sim_send, sim_accept, sim_on_connect, sim_on_data,
                                        sim_on_writable, sim_on_error};

/* The sim an app belongs to: apps live inside it. */
static struct sim *sim_registry[4];
static inline struct sim *sim_of_app(struct sim_app *a, int *idx)
{
  for (int k = 0; k < 4; k++) {
    struct sim *s = sim_registry[k];
    if (s && (a == &s->app[0] || a == &s->app[1])) {
      *idx = (int)(a - s->app);
      return s;
    }
  }
  cr_assert_fail("app of no sim");
  return NULL;
}

static inline void sim_init(struct sim *s, uint64_t seed, const struct sh_utp_opts *o)
{
  memset(s, 0, sizeof *s);
  for (int k = 0; k < 4; k++)
    if (!sim_registry[k]) {
      sim_registry[k] = s;
      break;
    }
  s->rng = seed | 1;
  s->now = 1000000;
  for (int i = 0; i < 2; i++) {
    struct sh_utp_opts opts;
    if (o)
      opts = *o;
    else
      sh_utp_opts_default(&opts);
    opts.seed = seed * 2 + (uint64_t)i + 1;
    s->side[i] = (struct sim_side){s, i};
    cr_assert_eq(sh_utp_new(&opts, &sim_cb, &s->side[i], &s->ep[i]), 0);
    s->addr[i] = (struct sh_addr){.family = 4, .ip = {10, 0, 0, (uint8_t)(1 + i)},
                                  .port = (uint16_t)(6881 + i)};
    s->app[i].stream = i + 1;
    s->app[i].reading = 1;
  }
}

static inline void sim_free(struct sim *s)
{
  for (int i = 0; i < 2; i++)
    sh_utp_free(s->ep[i]);
  while (s->nev) {
    struct sim_ev e = sim_pop(s);
    free(e.data);
  }
  free(s->ev);
  for (int k = 0; k < 4; k++)
    if (sim_registry[k] == s)
      sim_registry[k] = NULL;
}

/* Endpoint 0 dials endpoint 1; app 0 sends n0 bytes, app 1 sends n1. */
static inline void sim_connect(struct sim *s, uint64_t n0, uint64_t n1)
{
  s->app[0].to_send = n0;
  s->app[1].to_send = n1;
  s->app[0].expect = n1;
  s->app[1].expect = n0;
  cr_assert_eq(sh_utp_connect(s->ep[0], &s->addr[1], &s->app[0], s->now, &s->app[0].c), 0);
}

/* ---- the competing flow: Reno's slow start and AIMD, 1400-byte packets ---- */

#define RENO_PKT 1400

static inline void reno_fill(struct sim *s)
{
  while (s->reno_on && (double)s->reno_inflight < s->reno_cwnd) {
    s->reno_inflight++;
    s->reno_sent_bytes += RENO_PKT;
    if (!sim_link_put(s, 0, EV_RENO_ACK, NULL, RENO_PKT)) {
      /* dropped at the queue: the sender learns a round trip later */
      struct sim_ev e = {.at = s->now + 2 * s->link[0].delay_us, .kind = EV_RENO_LOSS};
      sim_push(s, e);
    }
  }
}

static inline void reno_event(struct sim *s, const struct sim_ev *e)
{
  s->reno_inflight--;
  if (e->kind == EV_RENO_ACK) {
    /* slow start until the first loss, then one packet a round trip */
    s->reno_cwnd += s->reno_ss ? 1.0 : 1.0 / s->reno_cwnd;
  } else if (s->now - s->reno_last_cut > 2 * s->link[0].delay_us) {
    s->reno_ss = 0;
    s->reno_cwnd = s->reno_cwnd / 2 < 2 ? 2 : s->reno_cwnd / 2;
    s->reno_last_cut = s->now;
  }
  reno_fill(s);
}

/* ---- running ---- */

static inline uint64_t sim_next_timer(struct sim *s)
{
  uint64_t t = 0;
  for (int i = 0; i < 2; i++) {
    uint64_t d = sh_utp_deadline(s->ep[i]);
    if (d && (!t || d < t))
      t = d;
  }
  return t;
}

/* Runs until `until` (virtual µs) or until stop(s) says so. */
static inline void sim_run(struct sim *s, uint64_t until, int (*stop)(struct sim *s))
{
  while (s->now < until && !(stop && stop(s))) {
    uint64_t t = sim_next_timer(s);
    uint64_t at = s->nev ? s->ev[0].at : 0;
    uint64_t next = at && (!t || at < t) ? at : t;
    if (!next || next > until) {
      s->now = until;
      break;
    }
    if (next > s->now)
      s->now = next;
    int touched[2] = {0, 0};
    /* every packet of this instant, then one flush per endpoint */
    while (s->nev && s->ev[0].at <= s->now) {
      struct sim_ev e = sim_pop(s);
      if (e.kind == EV_PKT) {
        struct sh_addr from = s->addr[1 - e.to];
        sh_utp_input(s->ep[e.to], e.data, e.len, &from, s->now);
        touched[e.to] = 1;
      } else if (e.kind == EV_RENO_ACK && e.to == 1) {
        /* at the receiver: its ack comes back without queueing */
        struct sim_ev ack = {.at = s->now + s->link[1].delay_us, .kind = EV_RENO_ACK, .to = 0};
        sim_push(s, ack);
      } else {
        reno_event(s, &e);
      }
      free(e.data);
    }
    for (int i = 0; i < 2; i++)
      if (touched[i])
        sh_utp_flush(s->ep[i], s->now);
    for (int i = 0; i < 2; i++) {
      uint64_t d = sh_utp_deadline(s->ep[i]);
      if (d && d <= s->now) {
        sh_utp_tick(s->ep[i], s->now);
        sh_utp_flush(s->ep[i], s->now);
      }
    }
  }
}

static inline int sim_both_done(struct sim *s)
{
  return s->app[0].got >= s->app[0].expect && s->app[1].got >= s->app[1].expect;
}

#endif
