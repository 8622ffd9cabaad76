/* The uTP endpoint: connections by (peer, id), the packet buffer pool,
 * dispatch of incoming packets (SYN, RESET, the rest), timers, and the
 * life of a connection. Sending and acks: utp_send.c; receiving and
 * reading: utp_recv.c. */
#include "utp/utp_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "base/vec.h"

void sh_utp_opts_default(struct sh_utp_opts *o)
{
  memset(o, 0, sizeof *o);
  o->rcvbuf = 1u << 20;
  o->sndbuf = 4u << 20;
  o->target_us = 100000;
  o->pkt_start = 1400;
  o->link_mtu = 1500;
  o->max_conns = 4096;
  o->max_half_open = 64;
  o->mem_max = (size_t)64 << 20;
  o->resets_per_s = 100;
  o->seed = 0x9e3779b97f4a7c15ull;
}

static uint64_t rnd(struct sh_utp *u)
{
  /* xorshift64*, seeded by the caller so tests repeat */
  u->rng ^= u->rng >> 12;
  u->rng ^= u->rng << 25;
  u->rng ^= u->rng >> 27;
  return u->rng * 2685821657736338717ull;
}

/* ---- the packet buffer pool ---- */

uint8_t *sh_utp_buf_get(struct sh_utp *u, int force)
{
  struct utp_pool *p = &u->pool;
  if (!p->nfree) {
    size_t have = p->nblocks * UTP_POOL_BLOCK;
    if (have >= p->max_bufs && !force)
      return NULL;
    if (sh_vec_reserve(p->blocks, p->cap_blocks, p->nblocks + 1, 16, SIZE_MAX) < 0 ||
        sh_vec_reserve(p->free, p->cap_free, have + UTP_POOL_BLOCK, 256, SIZE_MAX) < 0)
      return NULL;
    uint8_t *blk = malloc((size_t)UTP_POOL_BLOCK * UTP_BUF);
    if (!blk)
      return NULL;
    p->blocks[p->nblocks++] = blk;
    for (size_t i = UTP_POOL_BLOCK; i-- > 0;)
      p->free[p->nfree++] = blk + i * UTP_BUF;
  }
  return p->free[--p->nfree];
}

void sh_utp_buf_put(struct sh_utp *u, uint8_t *b)
{
  /* room was reserved when its block came */
  u->pool.free[u->pool.nfree++] = b;
}

/* ---- connections ---- */

static uint64_t key_of(const struct sh_addr *a, uint16_t id)
{
  uint64_t k = (uint64_t)id | (uint64_t)a->port << 16 | (uint64_t)a->family << 32;
  for (int i = 0; i < 16; i++)
    k = (k * 1099511628211ull) ^ a->ip[i];
  return k;
}

struct conn_key {
  const struct sh_addr *a;
  uint16_t id;
};

static int match(const void *val, const void *ctx)
{
  const struct sh_utp_conn *c = val;
  const struct conn_key *k = ctx;
  return c->recv_id == k->id && sh_addr_eq(&c->peer, k->a);
}

static struct sh_utp_conn *find(struct sh_utp *u, const struct sh_addr *a, uint16_t id)
{
  struct sh_utp_conn *c = u->last;
  if (c && c->recv_id == id && sh_addr_eq(&c->peer, a))
    return c;
  struct conn_key k = {a, id};
  c = sh_tab_get(&u->tab, key_of(a, id), match, &k);
  if (c)
    u->last = c;
  return c;
}

static uint16_t pkt_max(const struct sh_utp *u, const struct sh_addr *a)
{
  /* the link MTU less IP and UDP headers, within our buffers */
  unsigned m = u->o.link_mtu - (a->family == 6 ? 48u : 28u);
  return (uint16_t)(m < UTP_BUF ? m : UTP_BUF);
}

static struct sh_utp_conn *conn_new(struct sh_utp *u, const struct sh_addr *peer,
                                    uint16_t recv_id, uint64_t now)
{
  if (u->nconns >= u->o.max_conns)
    return NULL;
  struct sh_utp_conn *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  if (sh_vec_reserve(u->conns, u->cap_conns, u->nconns + 1, 16, SIZE_MAX) < 0 ||
      sh_tab_put(&u->tab, key_of(peer, recv_id), c) < 0) {
    free(c);
    return NULL;
  }
  c->u = u;
  c->peer = *peer;
  c->recv_id = recv_id;
  c->in_tab = 1;
  c->idx = u->nconns;
  u->conns[u->nconns++] = c;
  c->created_us = c->last_send_us = c->last_recv_us = now;
  c->pkt_ceil = pkt_max(u, peer);
  c->pkt = u->o.pkt_start < c->pkt_ceil ? u->o.pkt_start : c->pkt_ceil;
  c->cwnd = 2u * c->pkt;
  c->peer_wnd = c->pkt;
  c->slow_start = 1;
  c->rto_us = UTP_RTO_INIT_US;
  c->reading = 1;
  c->seq_nr = (uint16_t)rnd(u);
  c->acked = (uint16_t)(c->seq_nr - 1);
  c->loss_seq = c->acked;
  return c;
}

static void unlist(struct sh_utp_conn **arr, size_t *n, struct sh_utp_conn *c)
{
  for (size_t i = 0; i < *n; i++)
    if (arr[i] == c) {
      memmove(arr + i, arr + i + 1, (*n - i - 1) * sizeof *arr);
      (*n)--;
      return;
    }
}

static void conn_free(struct sh_utp_conn *c)
{
  struct sh_utp *u = c->u;
  if (c->in_tab)
    sh_tab_del(&u->tab, key_of(&c->peer, c->recv_id), c);
  if (u->last == c)
    u->last = NULL;
  struct sh_utp_conn *lastc = u->conns[--u->nconns];
  u->conns[c->idx] = lastc;
  lastc->idx = c->idx;
  if (c->state == UTP_SYN_RECV)
    unlist(u->half, &u->nhalf, c);
  if (c->listed)
    unlist(u->flush, &u->nflush, c);
  sh_utp_free_out(c);
  sh_utp_free_in(c);
  free(c);
}

/* Frees c now, or at the end of the call running (a callback may be on
 * the stack with it). */
void sh_utp_conn_drop(struct sh_utp_conn *c)
{
  struct sh_utp *u = c->u;
  if (c->reaped)
    return;
  c->reaped = 1;
  c->ud = NULL;
  if (u->in_call && sh_vec_reserve(u->reap, u->cap_reap, u->nreap + 1, 8, SIZE_MAX) == 0) {
    /* out of the table now: later packets of its id find nothing */
    if (c->in_tab)
      sh_tab_del(&u->tab, key_of(&c->peer, c->recv_id), c);
    c->in_tab = 0;
    if (u->last == c)
      u->last = NULL;
    u->reap[u->nreap++] = c;
    return;
  }
  conn_free(c);
}

static void enter(struct sh_utp *u) { u->in_call++; }

static void leave(struct sh_utp *u)
{
  if (--u->in_call)
    return;
  while (u->nreap)
    conn_free(u->reap[--u->nreap]);
}

void sh_utp_list(struct sh_utp_conn *c)
{
  struct sh_utp *u = c->u;
  if (c->listed)
    return;
  if (sh_vec_reserve(u->flush, u->cap_flush, u->nflush + 1, 16, SIZE_MAX) < 0)
    return; /* the next tick's keep-alive or timeout covers it */
  c->listed = 1;
  u->flush[u->nflush++] = c;
}

void sh_utp_arm(struct sh_utp *u, uint64_t at)
{
  if (at && (!u->next_us || at < u->next_us))
    u->next_us = at;
}

uint32_t sh_utp_wnd(const struct sh_utp_conn *c)
{
  uint32_t rb = c->u->o.rcvbuf;
  return c->held < rb ? rb - c->held : 0;
}

void sh_utp_emit(struct sh_utp_conn *c, const uint8_t *p, size_t n, int stable, uint64_t now)
{
  struct sh_utp *u = c->u;
  u->st.out++;
  u->st.bytes_out += n;
  c->last_send_us = now;
  u->cb.send(u->ud, &c->peer, p, n, stable);
}

/* The connection failed: its owner hears once (and closes it); one already
 * closed by its owner just goes. */
void sh_utp_error(struct sh_utp_conn *c, int err)
{
  if (c->state == UTP_DEAD)
    return;
  if (c->state == UTP_SYN_RECV)
    unlist(c->u->half, &c->u->nhalf, c);
  c->state = UTP_DEAD;
  c->err = err;
  c->rto_at = 0;
  if (!c->ud) {
    sh_utp_conn_drop(c);
    return;
  }
  if (!c->error_cb) {
    c->error_cb = 1;
    c->u->cb.on_error(c->ud, err);
  }
}

int sh_utp_new(const struct sh_utp_opts *o, const struct sh_utp_cb *cb, void *ud,
               struct sh_utp **out)
{
  struct sh_utp *u = calloc(1, sizeof *u);
  if (!u)
    return -ENOMEM;
  if (o)
    u->o = *o;
  else
    sh_utp_opts_default(&u->o);
  if (u->o.link_mtu < 576)
    u->o.link_mtu = 576;
  if (u->o.pkt_start < 150)
    u->o.pkt_start = 150; /* BEP 29's smallest packet */
  if (!u->o.rcvbuf)
    u->o.rcvbuf = 1u << 20;
  if (u->o.sndbuf < 2 * UTP_BUF)
    u->o.sndbuf = 2 * UTP_BUF;
  u->half = calloc(u->o.max_half_open ? u->o.max_half_open : 1, sizeof *u->half);
  if (!u->half) {
    free(u);
    return -ENOMEM;
  }
  u->cb = *cb;
  u->ud = ud;
  u->rng = u->o.seed | 1;
  u->pool.max_bufs = u->o.mem_max / UTP_BUF;
  *out = u;
  return 0;
}

void sh_utp_free(struct sh_utp *u)
{
  if (!u)
    return;
  while (u->nconns)
    conn_free(u->conns[u->nconns - 1]);
  for (size_t i = 0; i < u->pool.nblocks; i++)
    free(u->pool.blocks[i]);
  free(u->pool.blocks);
  free(u->pool.free);
  sh_tab_free(&u->tab);
  free(u->conns);
  free(u->half);
  free(u->flush);
  free(u->reap);
  free(u);
}

/* ---- input ---- */

static void send_reset_limited(struct sh_utp *u, const struct sh_addr *to,
                               const struct sh_utp_pkt *pk, uint64_t now)
{
  /* at most resets_per_s RESETs a second: an answer per forged packet
   * would make us an amplifier of nothing but noise */
  if (now - u->rst_window_us >= 1000000) {
    u->rst_window_us = now;
    u->rst_count = 0;
  }
  if (u->rst_count >= u->o.resets_per_s)
    return;
  u->rst_count++;
  sh_utp_send_reset(u, to, pk->h.conn_id, (uint16_t)rnd(u), pk->h.seq, now);
}

static void on_reset(struct sh_utp *u, const struct sh_utp_pkt *pk, const struct sh_addr *from)
{
  /* The id is our receive id, or our send id: the receive id is one above
   * it when we dialled, one below when the peer did (libutp does the same) */
  uint16_t id = pk->h.conn_id;
  struct sh_utp_conn *c = find(u, from, id);
  if (!c) {
    c = find(u, from, (uint16_t)(id + 1));
    if (c && c->send_id != id)
      c = NULL;
  }
  if (!c) {
    c = find(u, from, (uint16_t)(id - 1));
    if (c && c->send_id != id)
      c = NULL;
  }
  u->st.resets_in++;
  if (!c || c->state == UTP_DEAD)
    return;
  sh_debug("uTP: RESET from the peer (state %d)", c->state);
  if (c->state == UTP_CLOSING || c->state == UTP_SYN_RECV) {
    sh_utp_conn_drop(c);
    return;
  }
  sh_utp_error(c, c->state == UTP_SYN_SENT ? -ECONNREFUSED : -ECONNRESET);
}

static void evict_half_open(struct sh_utp *u)
{
  struct sh_utp_conn *old = u->half[0];
  u->st.half_open_evicted++;
  sh_debug("uTP: too many half-open connections (%zu): dropping the oldest", u->nhalf);
  unlist(u->half, &u->nhalf, old);
  old->state = UTP_DEAD;
  sh_utp_conn_drop(old);
}

static void on_syn(struct sh_utp *u, const struct sh_utp_pkt *pk, const struct sh_addr *from,
                   uint64_t now)
{
  uint16_t rid = (uint16_t)(pk->h.conn_id + 1);
  struct sh_utp_conn *c = find(u, from, rid);
  if (c) {
    /* our answer was lost and the SYN came again: answer again */
    if (c->state == UTP_SYN_RECV && c->send_id == pk->h.conn_id && c->ack_nr == pk->h.seq)
      sh_utp_send_state(c, now, 0);
    return;
  }
  if (!u->o.max_half_open)
    return;
  if (u->nhalf >= u->o.max_half_open)
    evict_half_open(u);
  if (!(c = conn_new(u, from, rid, now))) {
    u->st.syn_refused++;
    sh_debug("uTP: SYN refused: %zu connections", u->nconns);
    return;
  }
  c->send_id = pk->h.conn_id;
  c->state = UTP_SYN_RECV;
  c->ack_nr = c->in_hi = pk->h.seq;
  c->rd_seq = (uint16_t)(pk->h.seq + 1);
  c->peer_wnd = pk->h.wnd;
  c->reply_micro = sh_utp_now32(now) - pk->h.ts_us;
  u->half[u->nhalf++] = c;
  sh_utp_arm(u, now + UTP_HALF_OPEN_US);
  sh_utp_send_state(c, now, 0);
}

/* The ack of a packet we never sent is forged or broken: ignore it all. */
static int ack_valid(const struct sh_utp_conn *c, const struct sh_utp_pkt *pk)
{
  uint16_t last = (uint16_t)(c->seq_nr - 1);
  return !sh_utp_seq_lt(last, pk->h.ack);
}

/* The first data of a connection the peer opened: ask the owner. */
static int confirm(struct sh_utp_conn *c, uint64_t now)
{
  struct sh_utp *u = c->u;
  unlist(u->half, &u->nhalf, c);
  c->state = UTP_CONNECTED;
  u->cb.accept(u->ud, c);
  if (c->reaped || c->state != UTP_CONNECTED)
    return -1; /* adopted and closed already */
  if (!c->ud) {
    sh_utp_close(c, 1, now);
    return -1;
  }
  return 0;
}

static void on_packet(struct sh_utp_conn *c, const struct sh_utp_pkt *pk, uint64_t now)
{
  struct sh_utp *u = c->u;
  if (!ack_valid(c, pk)) {
    u->st.dropped_ack++;
    sh_debug("uTP: packet acks %u, we sent only up to %u: dropped", pk->h.ack,
             (uint16_t)(c->seq_nr - 1));
    return;
  }
  c->last_recv_us = now;
  c->reply_micro = sh_utp_now32(now) - pk->h.ts_us;
  c->peer_wnd = pk->h.wnd;
  if (c->state == UTP_SYN_SENT) {
    if (pk->h.ack != (uint16_t)(c->seq_nr - 1))
      return;
    /* a STATE's seq_nr is its sender's next one, not yet used */
    c->ack_nr = c->in_hi = (uint16_t)(pk->h.seq - 1);
    c->rd_seq = pk->h.seq;
    c->state = UTP_CONNECTED;
  }
  if (c->state == UTP_SYN_RECV) {
    if (pk->h.type != SH_UTP_DATA && pk->h.type != SH_UTP_FIN)
      return; /* a STATE does not confirm the address */
    if (confirm(c, now) < 0)
      return;
  }
  sh_utp_on_ack(c, pk, now);
  if (c->state == UTP_CONNECTED && !c->connected_cb) {
    c->connected_cb = 1;
    if (c->ud && c->outgoing)
      u->cb.on_connect(c->ud);
  }
  if (pk->h.type == SH_UTP_DATA || pk->h.type == SH_UTP_FIN)
    sh_utp_on_data(c, pk, now);
  if (c->state == UTP_CLOSING && c->fin_sent && c->acked == c->fin_seq)
    sh_utp_conn_drop(c); /* our FIN is acked: everything we sent arrived */
}

void sh_utp_input(struct sh_utp *u, const uint8_t *p, size_t n, const struct sh_addr *from,
                  uint64_t now)
{
  struct sh_utp_pkt pk;
  const char *why = NULL;
  u->st.in++;
  u->st.bytes_in += n;
  if (sh_utp_pkt_parse(p, n, &pk, &why) < 0) {
    u->st.dropped_bad++;
    sh_debug("uTP: bad packet: %s", why);
    return;
  }
  enter(u);
  if (pk.h.type == SH_UTP_RESET) {
    on_reset(u, &pk, from);
  } else if (pk.h.type == SH_UTP_SYN) {
    on_syn(u, &pk, from, now);
  } else {
    struct sh_utp_conn *c = find(u, from, pk.h.conn_id);
    if (c && c->state != UTP_DEAD) {
      on_packet(c, &pk, now);
    } else if (!c) {
      u->st.dropped_unknown++;
      sh_debug("uTP: packet for no connection (id %u)", pk.h.conn_id);
      send_reset_limited(u, from, &pk, now);
    }
  }
  leave(u);
}

/* An ICMP error quoting one of our packets (a hint, not authenticated): only
 * a dial still waiting for its SYN's answer gives up on it, since a forged
 * error must not cut an established connection. */
void sh_utp_unreachable(struct sh_utp *u, const struct sh_addr *to, const uint8_t *quoted,
                        size_t n, int err)
{
  struct sh_utp_pkt pk;
  const char *why;
  if (sh_utp_pkt_parse(quoted, n, &pk, &why) < 0 || pk.h.type != SH_UTP_SYN)
    return;
  enter(u);
  struct sh_utp_conn *c = find(u, to, pk.h.conn_id);
  if (c && c->state == UTP_SYN_SENT) {
    u->st.syn_unreachable++;
    sh_utp_error(c, err);
  }
  leave(u);
}

/* ---- flush and timers ---- */

void sh_utp_flush(struct sh_utp *u, uint64_t now)
{
  enter(u);
  /* a writer may queue more, listing more: take the list as it is */
  while (u->nflush) {
    struct sh_utp_conn *c = u->flush[0];
    memmove(u->flush, u->flush + 1, --u->nflush * sizeof *u->flush);
    c->listed = 0;
    if (c->reaped)
      continue;
    if (c->ack_due && c->state != UTP_DEAD)
      sh_utp_send_state(c, now, 0);
    if (c->want_write && c->ud && sh_utp_can_write(c)) {
      c->want_write = 0;
      u->cb.on_writable(c->ud);
    }
  }
  leave(u);
}

static uint64_t conn_tick(struct sh_utp_conn *c, uint64_t now)
{
  switch (c->state) {
  case UTP_SYN_RECV:
    if (now - c->created_us >= UTP_HALF_OPEN_US) {
      sh_utp_conn_drop(c);
      return 0;
    }
    return c->created_us + UTP_HALF_OPEN_US;
  case UTP_DEAD:
    if (!c->ud)
      sh_utp_conn_drop(c);
    return 0;
  case UTP_CLOSING:
    if (now - c->last_recv_us >= UTP_LINGER_US && now - c->created_us >= UTP_LINGER_US) {
      sh_utp_conn_drop(c);
      return 0;
    }
    break;
  default:
    break;
  }
  if (c->rto_at && now >= c->rto_at) {
    sh_utp_on_timeout(c, now);
    if (c->reaped || c->state == UTP_DEAD)
      return 0;
  }
  if (c->state == UTP_CONNECTED) {
    if (now - c->last_send_us >= UTP_KEEPALIVE_US)
      sh_utp_send_state(c, now, 1);
    if (c->want_write && c->zero_wnd_since && now - c->zero_wnd_since >= UTP_ZERO_WND_US) {
      sh_info("uTP: the peer's receive window stayed shut for %u s: closing",
              UTP_ZERO_WND_US / 1000000);
      sh_utp_error(c, -ETIMEDOUT);
      return 0;
    }
  }
  uint64_t next = c->last_send_us + UTP_KEEPALIVE_US;
  if (c->rto_at && c->rto_at < next)
    next = c->rto_at;
  if (c->state == UTP_CLOSING && c->last_recv_us + UTP_LINGER_US < next)
    next = c->last_recv_us + UTP_LINGER_US;
  if (c->want_write && c->zero_wnd_since && c->zero_wnd_since + UTP_ZERO_WND_US < next)
    next = c->zero_wnd_since + UTP_ZERO_WND_US;
  return next;
}

uint64_t sh_utp_tick(struct sh_utp *u, uint64_t now)
{
  enter(u);
  uint64_t next = 0;
  for (size_t i = u->nconns; i-- > 0;) {
    if (i >= u->nconns)
      continue;
    struct sh_utp_conn *c = u->conns[i];
    if (c->reaped)
      continue;
    uint64_t t = conn_tick(c, now);
    if (t && (!next || t < next))
      next = t;
  }
  u->next_us = next;
  leave(u);
  return next;
}

uint64_t sh_utp_deadline(const struct sh_utp *u) { return u->next_us; }

/* ---- the owner's calls ---- */

int sh_utp_connect(struct sh_utp *u, const struct sh_addr *to, void *cud, uint64_t now,
                   struct sh_utp_conn **out)
{
  uint16_t id = 0;
  int tries = 0;
  /* a receive id (and the send id above it) no connection to `to` uses */
  do
    id = (uint16_t)rnd(u);
  while ((find(u, to, id) || find(u, to, (uint16_t)(id + 1)) || find(u, to, (uint16_t)(id - 1))) &&
         ++tries < 16);
  if (tries == 16)
    return SH_ELIMIT;
  enter(u);
  struct sh_utp_conn *c = conn_new(u, to, id, now);
  if (!c) {
    leave(u);
    return u->nconns >= u->o.max_conns ? SH_ELIMIT : -ENOMEM;
  }
  c->send_id = (uint16_t)(id + 1);
  c->state = UTP_SYN_SENT;
  c->outgoing = 1;
  c->ud = cud;
  if (sh_utp_ring_out(c, 1) < 0) {
    conn_free(c);
    leave(u);
    return -ENOMEM;
  }
  sh_utp_send_syn(c, now);
  *out = c;
  leave(u);
  return 0;
}

void sh_utp_set_ud(struct sh_utp_conn *c, void *cud) { c->ud = cud; }

void sh_utp_set_reading(struct sh_utp_conn *c, int on) { c->reading = (uint8_t)!!on; }

int sh_utp_pending(const struct sh_utp_conn *c)
{
  return c->held > 0 || (c->got_fin && !c->eof_cb && c->ack_nr == c->eof_seq);
}

void sh_utp_deliver(struct sh_utp_conn *c, uint64_t now)
{
  struct sh_utp *u = c->u;
  enter(u);
  uint32_t before = sh_utp_wnd(c);
  sh_utp_check_eof(c);
  /* reading freed room the peer may be waiting for: tell it */
  if (!c->reaped && c->state == UTP_CONNECTED && before < c->pkt && sh_utp_wnd(c) >= c->pkt)
    sh_utp_send_state(c, now, 0);
  leave(u);
}

void sh_utp_close(struct sh_utp_conn *c, int abort, uint64_t now)
{
  struct sh_utp *u = c->u;
  if (c->reaped)
    return;
  enter(u);
  c->ud = NULL;
  c->want_write = 0;
  switch (c->state) {
  case UTP_CONNECTED:
    if (!abort) {
      c->state = UTP_CLOSING;
      c->created_us = now; /* the linger counts from here */
      sh_utp_send_fin(c, now);
      break;
    }
    /* fall through */
  case UTP_SYN_SENT:
  case UTP_SYN_RECV:
    sh_utp_send_reset(u, &c->peer, c->send_id, c->seq_nr, c->ack_nr, now);
    sh_utp_conn_drop(c);
    break;
  case UTP_CLOSING:
    if (abort)
      sh_utp_conn_drop(c);
    break;
  default:
    sh_utp_conn_drop(c);
    break;
  }
  leave(u);
}

const struct sh_addr *sh_utp_conn_peer(const struct sh_utp_conn *c) { return &c->peer; }

void sh_utp_conn_info(const struct sh_utp_conn *c, struct sh_utp_conn_info *o)
{
  memset(o, 0, sizeof *o);
  o->cwnd = c->cwnd;
  o->inflight = c->inflight;
  o->peer_wnd = c->peer_wnd;
  o->rtt_us = c->rtt_us;
  o->rto_us = c->rto_us;
  o->pkt = c->pkt;
  o->pkt_ceil = c->pkt_ceil;
  o->slow_start = c->slow_start;
  o->held = c->held;
  o->base_delay_us = c->base_valid ? sh_utp_base_delay(c) : 0;
  o->delay_us = c->ncur ? sh_utp_our_delay(c) : 0;
}

void sh_utp_stats(const struct sh_utp *u, struct sh_utp_stats *o)
{
  *o = u->st;
  o->conns = u->nconns;
  o->half_open = u->nhalf;
  o->mem_bytes = u->pool.nblocks * (size_t)UTP_POOL_BLOCK * UTP_BUF;
}
