/* Rate limits of the connections: the hub's session-wide upload and
 * download limits and the groups' (a torrent's), each a fair limiter
 * (base/fair.h), and the one timer that hands out what refills.
 *
 * Upload: before a block is read for a peer the engine asks
 * sh_conn_upload_allowed for the block and its header; short of allowance
 * the connection queues (up_waiting) and on_drained runs when its turn
 * comes. Download: a read may take what the limits grant
 * (sh_conn_read_grant); what it did not use goes back; once a connection
 * is short of a block's worth it stops reading (throttled) and queues, so
 * the kernel's receive window slows the sender, and reading starts again
 * on its turn. A connection in a group needs both allowances; it waits on
 * whichever refused. */
#include <stdlib.h>

#include "base/block.h"
#include "base/vec.h"
#include "peer/conn.h"

/* A read's need: one block with its header, one quantum of the round. */
#define NEED SH_FAIR_QUANTUM

/* The shortest wait of the refill timer (see rl_arm): 10 ms is 1.25
 * blocks at 2 MiB/s and 12.5 at 20 MiB/s. Each wake costs a context
 * switch; at one wake per block a seed limited to 20 MiB/s (bench/swarm.sh,
 * scenario f) woke 33,000 times in 45 s and took 2.3-2.6 s of CPU, with
 * this tick 8,600 times and 1.5 s. sh_fair_hold keeps a tick of many
 * quanta fair. */
#ifndef SH_LIMIT_TICK_MS
#define SH_LIMIT_TICK_MS 10
#endif

static void on_rl_timer(uv_timer_t *t);

static uint64_t min_wait(uint64_t a, const struct sh_fair *f, uint64_t now)
{
  uint64_t w = sh_fair_wait_ms(f, now);
  return w < a ? w : a;
}

/* Arms the timer for the earliest turn of any waiting connection. */
static void rl_arm(struct sh_hub *h)
{
  if (h->closing)
    return;
  uint64_t now = uv_now(h->loop), w = UINT64_MAX;
  w = min_wait(w, &h->up, now);
  w = min_wait(w, &h->down, now);
  for (size_t i = 0; i < h->ngroups; i++) {
    w = min_wait(w, &h->groups[i]->up, now);
    w = min_wait(w, &h->groups[i]->down, now);
  }
  if (h->regroup)
    w = 0;
  if (w == UINT64_MAX) {
    uv_timer_stop(&h->rl_timer);
    return;
  }
  /* At least 1 ms: a timer of 0 would spin while the loop's clock stands.
   * A refill that is not due at once waits at least SH_LIMIT_TICK_MS, so
   * several quanta go out per wake instead of one block per 0.8 ms at
   * 20 MiB/s; the bucket (200 ms deep) keeps what refills meanwhile, so the
   * rate is the same and a block waits at most one tick longer. */
  uv_timer_start(&h->rl_timer, on_rl_timer, !w ? 1 : w < SH_LIMIT_TICK_MS ? SH_LIMIT_TICK_MS : w,
                 0);
}

void sh_hub_limits_init(struct sh_hub *h)
{
  uint64_t now = uv_now(h->loop);
  sh_fair_init(&h->down, h->o.down_rate, now);
  sh_fair_init(&h->up, h->o.up_rate, now);
  uv_timer_init(h->loop, &h->rl_timer);
  h->rl_timer.data = h;
}

void sh_hub_limits_close(struct sh_hub *h)
{
  uv_timer_stop(&h->rl_timer);
  sh_fair_free(&h->up);
  sh_fair_free(&h->down);
  for (size_t i = 0; i < h->ngroups; i++) {
    sh_fair_free(&h->groups[i]->up);
    sh_fair_free(&h->groups[i]->down);
    h->groups[i]->registered = 0;
  }
  free(h->groups);
  h->groups = NULL;
  h->ngroups = h->cap_groups = 0;
}

void sh_hub_set_rates(struct sh_hub *h, uint64_t up_rate, uint64_t down_rate)
{
  uint64_t now = uv_now(h->loop);
  sh_fair_set_rate(&h->up, up_rate, now);
  sh_fair_set_rate(&h->down, down_rate, now);
  rl_arm(h); /* unlimited now: the waiting connections go at once */
}

/* ---- groups ---- */

void sh_hub_group_init(struct sh_hub_group *g, uint64_t now_ms)
{
  sh_fair_init(&g->up, 0, now_ms);
  sh_fair_init(&g->down, 0, now_ms);
  g->registered = 0;
}

int sh_hub_group_set_rates(struct sh_hub *h, struct sh_hub_group *g, uint64_t up, uint64_t down)
{
  if (!g->registered && (up || down)) {
    if (sh_vec_reserve(h->groups, h->cap_groups, h->ngroups + 1, 8, SIZE_MAX) < 0)
      return -ENOMEM;
    h->groups[h->ngroups++] = g;
    g->registered = 1;
  }
  uint64_t now = uv_now(h->loop);
  sh_fair_set_rate(&g->up, up, now);
  sh_fair_set_rate(&g->down, down, now);
  rl_arm(h);
  return 0;
}

void sh_hub_group_remove(struct sh_hub *h, struct sh_hub_group *g)
{
  for (size_t i = 0; i < h->ngroups; i++)
    if (h->groups[i] == g) {
      h->groups[i] = h->groups[--h->ngroups];
      break;
    }
  g->registered = 0;
  sh_fair_free(&g->up);
  sh_fair_free(&g->down);
}

void sh_hub_group_set_own_only(struct sh_hub *h, struct sh_hub_group *g, int on)
{
  g->own_only = !!on;
  if (on) {
    h->regroup = 1; /* the timer lets its queued connections go */
    rl_arm(h);
  }
}

/* The hub's limit that applies to c: NULL when its group answers only to
 * its own. */
static struct sh_fair *hub_up(struct sh_conn *c)
{
  return c->grp && c->grp->own_only ? NULL : &c->hub->up;
}

static struct sh_fair *hub_down(struct sh_conn *c)
{
  return c->grp && c->grp->own_only ? NULL : &c->hub->down;
}

void sh_conn_set_group(struct sh_conn *c, struct sh_hub_group *g)
{
  if (c->grp == g)
    return;
  if (c->grp) {
    sh_fair_leave(&c->grp->up, &c->fl_gup);
    sh_fair_leave(&c->grp->down, &c->fl_gdown);
  }
  c->grp = g;
}

void sh_conn_limit_leave(struct sh_conn *c)
{
  sh_conn_set_group(c, NULL);
  sh_fair_leave(&c->hub->up, &c->fl_up);
  sh_fair_leave(&c->hub->down, &c->fl_down);
}

/* ---- upload ---- */

static int up_wait(struct sh_conn *c, struct sh_fair *f, struct sh_fair_flow *fl, uint64_t n)
{
  if (sh_fair_wait(f, fl, n) < 0)
    return 1; /* cannot queue: carry on unlimited rather than stall the peer */
  c->up_waiting = 1;
  rl_arm(c->hub);
  return 0;
}

int sh_conn_upload_allowed(struct sh_conn *c, uint64_t bytes)
{
  struct sh_hub *h = c->hub;
  uint64_t now = uv_now(h->loop);
  struct sh_fair *g = c->grp && sh_fair_limited(&c->grp->up) ? &c->grp->up : NULL;
  if (g && !sh_fair_take(g, &c->fl_gup, now, bytes))
    return up_wait(c, g, &c->fl_gup, bytes);
  struct sh_fair *s = hub_up(c);
  if (s && !sh_fair_take(s, &c->fl_up, now, bytes)) {
    if (g)
      sh_fair_refund(g, &c->fl_gup, bytes); /* kept as its credit */
    return up_wait(c, s, &c->fl_up, bytes);
  }
  return 1;
}

/* ---- download ---- */

size_t sh_conn_read_grant(struct sh_conn *c, size_t space)
{
  struct sh_hub *h = c->hub;
  uint64_t now = uv_now(h->loop);
  uint64_t g = space;
  c->rl_ggrant = 0;
  if (c->grp && sh_fair_limited(&c->grp->down))
    g = c->rl_ggrant = sh_fair_take_upto(&c->grp->down, &c->fl_gdown, now, g);
  struct sh_fair *hd = hub_down(c);
  uint64_t s = hd ? sh_fair_take_upto(hd, &c->fl_down, now, g) : g;
  if (s < g && c->rl_ggrant)
    sh_fair_refund(&c->grp->down, &c->fl_gdown, g - s);
  if (c->rl_ggrant)
    c->rl_ggrant = s;
  c->rl_grant = hd && sh_fair_limited(hd) ? s : 0;
  /* a read of 0 bytes is an error to the transport: one byte over the
   * limit is nothing */
  return s ? (size_t)s : 1;
}

void sh_conn_read_settle(struct sh_conn *c, size_t used)
{
  struct sh_hub *h = c->hub;
  if (c->rl_grant > used)
    sh_fair_refund(&h->down, &c->fl_down, c->rl_grant - used);
  if (c->rl_ggrant > used && c->grp)
    sh_fair_refund(&c->grp->down, &c->fl_gdown, c->rl_ggrant - used);
  c->rl_grant = c->rl_ggrant = 0;
}

void sh_conn_read_throttle(struct sh_conn *c)
{
  struct sh_hub *h = c->hub;
  if (c->state == SH_CONN_CLOSING)
    return;
  /* Short of a block's worth: stop reading until this connection's turn. */
  uint64_t now = uv_now(h->loop);
  struct sh_fair *f = NULL;
  struct sh_fair_flow *fl = NULL;
  struct sh_fair *hd = hub_down(c);
  if (hd && !sh_fair_can(hd, &c->fl_down, now, NEED))
    f = hd, fl = &c->fl_down;
  else if (c->grp && !sh_fair_can(&c->grp->down, &c->fl_gdown, now, NEED))
    f = &c->grp->down, fl = &c->fl_gdown;
  if (!f || sh_fair_wait(f, fl, NEED) < 0)
    return;
  c->throttled = 1;
  if (c->reading)
    c->tr->ops->read_stop(c->tr);
  c->reading = 0;
  rl_arm(h);
}

/* ---- the timer ---- */

#define WAKE_BATCH 64
/* Rounds of one wake: the bucket holds at most 200 ms of refill, and every
 * round but the last moves a quantum per flow out of it; this only bounds
 * a wake that a bug would otherwise keep going. */
#define WAKE_ROUNDS 1024

/* Lets n connections go on: reading again, or on_drained for an upload.
 * The caller holds each (sh_conn_ref) while the upper layer runs: its
 * callbacks may close others. */
static void go(struct sh_hub *h, struct sh_conn **cs, size_t n, int up)
{
  for (size_t i = 0; i < n; i++) {
    struct sh_conn *c = cs[i];
    if (c->state == SH_CONN_CLOSING)
      continue;
    if (!up && c->throttled) {
      c->throttled = 0;
      sh_conn_read_start(c);
    } else if (up && c->up_waiting) {
      c->up_waiting = 0;
      if (c->ud)
        h->cb->on_drained(c->ud, c);
    }
  }
}

static void unref_all(struct sh_conn **cs, size_t n)
{
  for (size_t i = 0; i < n; i++)
    sh_conn_unref(cs[i]);
}

static void wake(struct sh_hub *h, struct sh_fair *f, size_t flow_off, int up)
{
  struct sh_fair_flow *out[WAKE_BATCH];
  struct sh_conn *cs[WAKE_BATCH];
  size_t n;
  int rounds = 0;
  do {
    n = sh_fair_dispatch(f, uv_now(h->loop), out, WAKE_BATCH);
    /* woken flows that want more queue behind the rest (sh_fair_hold) */
    sh_fair_hold(f, 1);
    for (size_t i = 0; i < n; i++) {
      cs[i] = (struct sh_conn *)(void *)((char *)out[i] - flow_off);
      sh_conn_ref(cs[i]);
    }
    go(h, cs, n, up);
    sh_fair_hold(f, 0);
    unref_all(cs, n);
  } while (n && ++rounds < WAKE_ROUNDS);
}

/* Connections of groups that no longer answer to the hub's limits leave
 * its queues and go on at once. */
static void release(struct sh_hub *h, int up)
{
  struct sh_fair *f = up ? &h->up : &h->down;
  struct sh_conn *cs[WAKE_BATCH];
  size_t n;
  do {
    n = 0;
    for (size_t i = 0; i < h->nconns && n < WAKE_BATCH; i++) {
      struct sh_conn *c = h->conns[i];
      struct sh_fair_flow *fl = up ? &c->fl_up : &c->fl_down;
      if (c->grp && c->grp->own_only && fl->queued) {
        sh_fair_leave(f, fl);
        sh_conn_ref(c);
        cs[n++] = c;
      }
    }
    go(h, cs, n, up);
    unref_all(cs, n);
  } while (n == WAKE_BATCH);
}

/* Allowance has refilled: each limit serves its queue round robin. */
static void on_rl_timer(uv_timer_t *t)
{
  struct sh_hub *h = t->data;
  if (h->regroup) {
    h->regroup = 0;
    release(h, 1);
    release(h, 0);
  }
  wake(h, &h->up, offsetof(struct sh_conn, fl_up), 1);
  wake(h, &h->down, offsetof(struct sh_conn, fl_down), 0);
  for (size_t i = 0; i < h->ngroups; i++) {
    wake(h, &h->groups[i]->up, offsetof(struct sh_conn, fl_gup), 1);
    wake(h, &h->groups[i]->down, offsetof(struct sh_conn, fl_gdown), 0);
  }
  rl_arm(h);
}
