/* Iterative lookups (BEP 5, Kademlia): get_peers or find_node toward a
 * target, ALPHA queries in flight, until the K closest nodes that did not
 * fail have all answered; then, for an announce, announce_peer to the K
 * closest that gave a token. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/vec.h"
#include "dht/dht_int.h"
#include "dht/id.h"

struct sh_dht_search *sh_dht_search_by_serial(struct sh_dht *d, uint32_t serial)
{
  for (size_t i = 0; i < d->nsearch; i++)
    if (d->search[i]->serial == serial)
      return d->search[i]->phase < 2 ? d->search[i] : NULL;
  return NULL;
}

int sh_dht_self_lookup_running(const struct sh_dht *d, int family)
{
  for (size_t i = 0; i < d->nsearch; i++) {
    const struct sh_dht_search *s = d->search[i];
    if (s->phase < 2 && s->family == family && s->o.find_node &&
        !memcmp(s->target, d->id, SH_DHT_ID_LEN))
      return 1;
  }
  return 0;
}

/* A candidate, in XOR order; the farthest falls off a full list. */
static void add_node(struct sh_dht *d, struct sh_dht_search *s, const uint8_t *id,
                     const struct sh_addr *a)
{
  if (a->family != s->family || !a->port || !memcmp(id, d->id, SH_DHT_ID_LEN))
    return;
  int pos = s->nn;
  for (int i = 0; i < s->nn; i++) {
    if (!memcmp(s->n[i].id, id, SH_DHT_ID_LEN))
      return;
    if (pos == s->nn && sh_dht_id_closer(s->target, id, s->n[i].id) < 0)
      pos = i;
  }
  if (pos >= SH_DHT_SEARCH_NODES)
    return;
  if (s->nn == SH_DHT_SEARCH_NODES)
    s->nn--;
  memmove(&s->n[pos + 1], &s->n[pos], (size_t)(s->nn - pos) * sizeof s->n[0]);
  memset(&s->n[pos], 0, sizeof s->n[0]);
  memcpy(s->n[pos].id, id, SH_DHT_ID_LEN);
  s->n[pos].addr = *a;
  s->nn++;
}

static void add_compact(struct sh_dht *d, struct sh_dht_search *s, const uint8_t *p, size_t len)
{
  size_t el = s->family == 6 ? SH_KRPC_NODE6_LEN : SH_KRPC_NODE4_LEN;
  for (size_t off = 0; p && off + el <= len; off += el) {
    uint8_t id[SH_DHT_ID_LEN];
    struct sh_addr a;
    sh_krpc_node_get(p + off, s->family, id, &a);
    add_node(d, s, id, &a);
  }
}

/* Tops the list up from the routing table (a search started before the
 * table had nodes waits for them this way). */
static void refill(struct sh_dht *d, struct sh_dht_search *s, uint64_t now)
{
  if (s->nn >= SH_DHT_SEARCH_NODES)
    return;
  struct sh_dht_node n[SH_DHT_SEARCH_NODES];
  size_t k = sh_dht_table_closest(sh_dht_table_of(d, s->family), s->target, n,
                                  SH_DHT_SEARCH_NODES, 0, now);
  for (size_t i = 0; i < k; i++)
    add_node(d, s, n[i].id, &n[i].addr);
}

/* Peers announced to us for the target: we may be one of its K closest
 * nodes, and a lookup never asks itself. */
static void own_values(struct sh_dht *d, struct sh_dht_search *s)
{
  const struct sh_dht_hash *h = sh_dht_store_get(&d->store, s->target);
  struct sh_addr v[64];
  size_t n = h ? sh_dht_store_values(h, s->family, 0, &d->rng, v, 64) : 0;
  if (n)
    d->cb.peers(d->cb.ud, s->target, v, n);
}

int sh_dht_search(struct sh_dht *d, const uint8_t ih[SH_DHT_ID_LEN], int family,
                  const struct sh_dht_search_opts *o, uint64_t now_ms)
{
  if (!sh_dht_speaks(d, family))
    return -EAFNOSUPPORT;
  for (size_t i = 0; i < d->nsearch; i++) {
    struct sh_dht_search *s = d->search[i];
    if (s->phase == 2 || s->family != family || s->o.find_node != !!o->find_node ||
        memcmp(s->target, ih, SH_DHT_ID_LEN))
      continue;
    if (o->port) { /* joined: announce too */
      s->o.port = o->port;
      s->o.implied_port = o->implied_port;
      s->o.seed = o->seed;
    }
    s->o.scrape |= o->scrape;
    return 0;
  }
  if (d->nsearch >= d->cfg.max_searches)
    return SH_ELIMIT;
  struct sh_dht_search *s = calloc(1, sizeof *s);
  if (!s || sh_vec_reserve(d->search, d->cap_search, d->nsearch + 1, 8, d->cfg.max_searches) < 0) {
    free(s);
    return -ENOMEM;
  }
  s->serial = d->next_serial++;
  if (!d->next_serial)
    d->next_serial = 1;
  memcpy(s->target, ih, SH_DHT_ID_LEN);
  s->family = family;
  s->o = *o;
  s->o.find_node = !!o->find_node;
  s->started_ms = now_ms;
  d->search[d->nsearch++] = s;
  refill(d, s, now_ms);
  if (!s->o.find_node)
    own_values(d, s);
  return 0;
}

static void send_lookup(struct sh_dht *d, struct sh_dht_search *s, struct sh_dht_snode *n,
                        uint64_t now)
{
  struct sh_krpc_msg m;
  memset(&m, 0, offsetof(struct sh_krpc_msg, vbuf));
  m.method = s->o.find_node ? SH_KRPC_FIND_NODE : SH_KRPC_GET_PEERS;
  memcpy(m.target, s->target, SH_DHT_ID_LEN);
  m.has_target = 1;
  m.scrape = (uint8_t)!!s->o.scrape;
  m.noseed = (uint8_t)!!s->o.seed; /* BEP 33: a seed wants leechers */
  if (sh_dht_query(d, &m, &n->addr, n->id, s->serial, now) < 0)
    return; /* too many outstanding: the next step tries again */
  n->sent_ms = now;
  s->queries++;
}

static void send_announce(struct sh_dht *d, struct sh_dht_search *s, struct sh_dht_snode *n,
                          uint64_t now)
{
  struct sh_krpc_msg m;
  memset(&m, 0, offsetof(struct sh_krpc_msg, vbuf));
  m.method = SH_KRPC_ANNOUNCE_PEER;
  memcpy(m.target, s->target, SH_DHT_ID_LEN);
  m.has_target = 1;
  m.port = s->o.port;
  m.implied_port = (uint8_t)!!s->o.implied_port;
  m.seed = (uint8_t)!!s->o.seed;
  m.token = n->token;
  m.token_len = n->token_len;
  if (sh_dht_query(d, &m, &n->addr, n->id, s->serial, now) < 0)
    return;
  n->ann_sent = 1;
  s->queries++;
}

static void finish(struct sh_dht *d, struct sh_dht_search *s, uint64_t now)
{
  s->phase = 2;
  if (!s->lookup_done_ms)
    s->lookup_done_ms = now;
  if (!d->cb.search_done)
    return;
  struct sh_dht_search_info info = {.family = s->family,
                                    .find_node = s->o.find_node,
                                    .queries = s->queries,
                                    .replies = s->replies,
                                    .values = s->values,
                                    .announced = s->acked,
                                    .elapsed_ms = s->lookup_done_ms - s->started_ms,
                                    .first_value_ms = s->first_value_ms,
                                    .scrape_seeds = -1,
                                    .scrape_peers = -1};
  memcpy(info.ih, s->target, SH_DHT_ID_LEN);
  if (s->scraped) {
    info.scrape_seeds = sh_dht_bloom_estimate(s->bf_seeds);
    info.scrape_peers = sh_dht_bloom_estimate(s->bf_peers);
  }
  d->cb.search_done(d->cb.ud, &info);
}

/* The lookup has converged when the K closest candidates that did not
 * fail have all answered (fewer than K when that is all there is). */
static int converged(const struct sh_dht_search *s)
{
  int seen = 0;
  for (int i = 0; i < s->nn && seen < SH_DHT_K; i++) {
    if (s->n[i].failed)
      continue;
    if (!s->n[i].replied)
      return 0;
    seen++;
  }
  return seen > 0;
}

static void step_lookup(struct sh_dht *d, struct sh_dht_search *s, uint64_t now)
{
  refill(d, s, now);
  if (converged(s) || now - s->started_ms >= SH_DHT_SEARCH_MAX_MS) {
    s->phase = 1;
    s->lookup_done_ms = now;
    return;
  }
  int inflight = 0;
  for (int i = 0; i < s->nn; i++)
    inflight += s->n[i].sent_ms && !s->n[i].replied && !s->n[i].failed;
  for (int i = 0; i < s->nn && inflight < SH_DHT_ALPHA; i++) {
    struct sh_dht_snode *n = &s->n[i];
    if (n->sent_ms || n->failed)
      continue;
    send_lookup(d, s, n, now);
    inflight += n->sent_ms != 0;
    if (!n->sent_ms)
      return; /* out of transaction slots */
  }
}

static void step_announce(struct sh_dht *d, struct sh_dht_search *s, uint64_t now)
{
  if (s->o.find_node || !s->o.port) {
    finish(d, s, now);
    return;
  }
  int k = 0, waiting = 0;
  for (int i = 0; i < s->nn && k < SH_DHT_K; i++) {
    struct sh_dht_snode *n = &s->n[i];
    if (!n->replied || !n->token_len)
      continue; /* BEP 33: no token, no announce */
    k++;
    if (!n->ann_sent)
      send_announce(d, s, n, now);
    waiting += n->ann_sent && !n->acked && !n->failed;
  }
  if (!waiting)
    finish(d, s, now);
}

static void step(struct sh_dht *d, struct sh_dht_search *s, uint64_t now)
{
  if (s->phase == 0)
    step_lookup(d, s, now);
  if (s->phase == 1)
    step_announce(d, s, now);
}

static struct sh_dht_snode *snode_of(struct sh_dht_search *s, const struct sh_dht_tx *tx)
{
  for (int i = 0; i < s->nn; i++)
    if (sh_addr_eq(&s->n[i].addr, &tx->to) &&
        (!tx->has_id || !memcmp(s->n[i].id, tx->id, SH_DHT_ID_LEN)))
      return &s->n[i];
  return NULL;
}

static void take_values(struct sh_dht *d, struct sh_dht_search *s, const struct sh_krpc_msg *m,
                        uint64_t now)
{
  if (m->nvalues) {
    s->values += (uint32_t)m->nvalues;
    if (!s->first_value_ms)
      s->first_value_ms = now - s->started_ms ? now - s->started_ms : 1;
    d->cb.peers(d->cb.ud, s->target, m->values, m->nvalues);
  }
  if (m->bf_seeds && m->bf_peers) {
    for (int i = 0; i < SH_KRPC_BLOOM_LEN; i++) {
      s->bf_seeds[i] |= m->bf_seeds[i];
      s->bf_peers[i] |= m->bf_peers[i];
    }
    s->scraped = 1;
  }
}

void sh_dht_search_reply(struct sh_dht *d, struct sh_dht_search *s, const struct sh_dht_tx *tx,
                         const struct sh_krpc_msg *m, uint64_t now_ms)
{
  struct sh_dht_snode *n = snode_of(s, tx);
  if (tx->method == SH_KRPC_ANNOUNCE_PEER) {
    if (n && m) {
      n->acked = 1;
      n->failed = 0;
      s->acked++;
    } else if (n) {
      n->failed = 1; /* an error: most likely our token had expired */
    }
  } else if (m) {
    s->replies++;
    if (n) {
      n->replied = 1;
      n->failed = 0;
      n->token_len = m->token_len <= sizeof n->token ? (uint8_t)m->token_len : 0;
      if (n->token_len)
        memcpy(n->token, m->token, n->token_len);
    }
    /* learnt into the table too; a dual-stack reply teaches the other one */
    sh_dht_learn_nodes(d, m->nodes, m->nodes_len, 4, now_ms);
    sh_dht_learn_nodes(d, m->nodes6, m->nodes6_len, 6, now_ms);
    if (s->family == 4)
      add_compact(d, s, m->nodes, m->nodes_len);
    else
      add_compact(d, s, m->nodes6, m->nodes6_len);
    take_values(d, s, m, now_ms);
  } else if (n) {
    n->failed = 1;
  }
  if (s->phase < 2)
    step(d, s, now_ms);
}

void sh_dht_search_timeout(struct sh_dht *d, struct sh_dht_search *s, const struct sh_dht_tx *tx,
                           uint64_t now_ms)
{
  struct sh_dht_snode *n = snode_of(s, tx);
  if (n && !n->replied && tx->method != SH_KRPC_ANNOUNCE_PEER)
    n->failed = 1;
  else if (n && tx->method == SH_KRPC_ANNOUNCE_PEER && !n->acked)
    n->failed = 1;
  step(d, s, now_ms);
}

void sh_dht_search_step_all(struct sh_dht *d, uint64_t now_ms)
{
  /* by index: a callback may start searches (and move the array) */
  for (size_t i = 0; i < d->nsearch; i++)
    if (d->search[i]->phase < 2)
      step(d, d->search[i], now_ms);
  size_t k = 0;
  for (size_t i = 0; i < d->nsearch; i++) {
    if (d->search[i]->phase == 2)
      free(d->search[i]);
    else
      d->search[k++] = d->search[i];
  }
  d->nsearch = k;
}

void sh_dht_search_free_all(struct sh_dht *d)
{
  for (size_t i = 0; i < d->nsearch; i++)
    free(d->search[i]);
  d->nsearch = 0;
}
