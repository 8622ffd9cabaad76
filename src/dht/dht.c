/* The DHT node: life, input, transactions, upkeep, state. See dht.h. */
#include "dht/dht.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/bencode.h"
#include "base/error.h"
#include "base/log.h"
#include "base/vec.h"
#include "dht/dht_int.h"
#include "dht/id.h"

/* BEP 20: "SH", then the version 0.1 as two bytes. */
const uint8_t sh_dht_version[4] = {'S', 'H', 0, 1};

void sh_dht_config_default(struct sh_dht_config *c)
{
  memset(c, 0, sizeof *c);
  c->seed = 0x9e3779b97f4a7c15ull;
  c->v4 = c->v6 = 1;
  c->max_hashes = 16384;
  c->max_peers = 500;
  c->max_total_peers = 100000;
  c->max_searches = 64;
  c->max_queries = 1024;
}

static void new_secret(struct sh_dht *d, uint64_t now)
{
  memcpy(d->secret[1], d->secret[0], sizeof d->secret[0]);
  sh_dht_rand_bytes(&d->rng, d->secret[0], sizeof d->secret[0]);
  d->secret_ms = now;
}

int sh_dht_new(const struct sh_dht_config *c, const struct sh_dht_callbacks *cb, uint64_t now_ms,
               struct sh_dht **out)
{
  *out = NULL;
  struct sh_dht *d = calloc(1, sizeof *d);
  if (!d)
    return -ENOMEM;
  d->cfg = *c;
  struct sh_dht_config def;
  sh_dht_config_default(&def);
  if (!d->cfg.max_hashes)
    d->cfg.max_hashes = def.max_hashes;
  if (!d->cfg.max_peers)
    d->cfg.max_peers = def.max_peers;
  if (!d->cfg.max_total_peers)
    d->cfg.max_total_peers = def.max_total_peers;
  if (!d->cfg.max_searches)
    d->cfg.max_searches = def.max_searches;
  if (!d->cfg.max_queries || d->cfg.max_queries > UINT16_MAX)
    d->cfg.max_queries = d->cfg.max_queries ? UINT16_MAX : def.max_queries;
  d->cb = *cb;
  d->rng = c->seed ? c->seed : def.seed;
  if (c->has_id)
    memcpy(d->id, c->id, SH_DHT_ID_LEN);
  else
    sh_dht_rand_bytes(&d->rng, d->id, SH_DHT_ID_LEN);
  if (sh_dht_table_init(&d->t4, 4, d->id, now_ms) < 0 ||
      sh_dht_table_init(&d->t6, 6, d->id, now_ms) < 0) {
    sh_dht_free(d);
    return -ENOMEM;
  }
  sh_dht_store_init(&d->store, d->cfg.max_hashes, d->cfg.max_peers, d->cfg.max_total_peers);
  new_secret(d, now_ms);
  new_secret(d, now_ms);
  d->maint_ms = d->expire_ms = now_ms;
  d->next_serial = 1;
  *out = d;
  return 0;
}

void sh_dht_free(struct sh_dht *d)
{
  if (!d)
    return;
  sh_dht_search_free_all(d);
  free(d->search);
  sh_dht_table_free(&d->t4);
  sh_dht_table_free(&d->t6);
  sh_dht_store_free(&d->store);
  free(d->tx);
  free(d->free_tx);
  sh_buf_free(&d->out);
  free(d);
}

/* ---- sending and transactions ---- */

void sh_dht_send_msg(struct sh_dht *d, const struct sh_krpc_msg *m, const struct sh_addr *to)
{
  sh_buf_reset(&d->out);
  sh_krpc_encode(&d->out, m);
  if (d->out.oom)
    return;
  if (m->type == SH_KRPC_RESPONSE)
    d->st.replies_out++;
  else if (m->type == SH_KRPC_ERROR)
    d->st.errors_out++;
  d->cb.send(d->cb.ud, d->out.data, d->out.len, to);
}

static struct sh_dht_tx *tx_alloc(struct sh_dht *d, uint16_t *idx)
{
  if (!d->nfree) {
    if (d->ntx >= d->cfg.max_queries ||
        sh_vec_reserve(d->tx, d->cap_tx, d->ntx + 1, 16, d->cfg.max_queries) < 0 ||
        sh_vec_reserve(d->free_tx, d->cap_free, d->ntx + 1, 16, d->cfg.max_queries) < 0)
      return NULL;
    memset(&d->tx[d->ntx], 0, sizeof d->tx[0]);
    d->free_tx[d->nfree++] = (uint16_t)d->ntx++;
  }
  *idx = d->free_tx[--d->nfree];
  return &d->tx[*idx];
}

static void tx_free(struct sh_dht *d, struct sh_dht_tx *tx)
{
  tx->gen = 0;
  d->outstanding--;
  d->free_tx[d->nfree++] = (uint16_t)(tx - d->tx);
}

int sh_dht_query(struct sh_dht *d, struct sh_krpc_msg *m, const struct sh_addr *to,
                 const uint8_t *id, uint32_t search, uint64_t now_ms)
{
  uint16_t idx;
  struct sh_dht_tx *tx = tx_alloc(d, &idx);
  if (!tx)
    return SH_ELIMIT;
  uint16_t gen;
  do
    gen = (uint16_t)sh_dht_rand(&d->rng);
  while (!gen);
  memset(tx, 0, sizeof *tx);
  tx->gen = gen;
  tx->method = m->method;
  tx->search = search;
  tx->to = *to;
  tx->sent_ms = now_ms;
  if (id) {
    tx->has_id = 1;
    memcpy(tx->id, id, SH_DHT_ID_LEN);
  }
  d->outstanding++;
  uint8_t tid[SH_DHT_TID_LEN];
  sh_wr16(tid, idx);
  sh_wr16(tid + 2, gen);
  m->type = SH_KRPC_QUERY;
  m->tid = tid;
  m->tid_len = SH_DHT_TID_LEN;
  memcpy(m->id, d->id, SH_DHT_ID_LEN);
  m->has_id = 1;
  m->v = sh_dht_version;
  m->v_len = sizeof sh_dht_version;
  m->ro = (uint8_t)!!d->cfg.read_only;
  d->st.queries_out++;
  sh_dht_send_msg(d, m, to);
  m->tid = NULL; /* it pointed at this frame */
  return 0;
}

/* The outstanding transaction a reply answers: its id and its source must
 * both match what we sent. */
static struct sh_dht_tx *tx_match(struct sh_dht *d, const struct sh_krpc_msg *m,
                                  const struct sh_addr *from)
{
  if (m->tid_len != SH_DHT_TID_LEN)
    return NULL;
  uint16_t idx = sh_rd16(m->tid), gen = sh_rd16(m->tid + 2);
  if (idx >= d->ntx || !gen || d->tx[idx].gen != gen || !sh_addr_eq(&d->tx[idx].to, from))
    return NULL;
  return &d->tx[idx];
}

/* ---- the tables ---- */

static void ping(struct sh_dht *d, const struct sh_dht_node *n, uint64_t now)
{
  struct sh_krpc_msg m;
  memset(&m, 0, offsetof(struct sh_krpc_msg, vbuf));
  m.method = SH_KRPC_PING;
  struct sh_dht_node *tn = sh_dht_table_find(sh_dht_table_of(d, n->addr.family), n->id);
  if (sh_dht_query(d, &m, &n->addr, n->id, 0, now) == 0 && tn)
    tn->pinged_ms = now;
}

void sh_dht_seen(struct sh_dht *d, const uint8_t id[SH_DHT_ID_LEN], const struct sh_addr *a,
                 enum sh_dht_seen how, uint64_t now_ms)
{
  if (!sh_dht_speaks(d, a->family) || !a->port)
    return;
  struct sh_dht_node *p = NULL;
  struct sh_dht_table *t = sh_dht_table_of(d, a->family);
  /* A newcomer that has not answered us yet is pinged at once: until it
   * does, it is not good, and only good nodes are handed out while there
   * are K of them (a node would otherwise keep its nearest neighbours,
   * the ones lookups need, to itself). */
  if (sh_dht_table_seen(t, id, a, how, now_ms, &p) == 2 && how != SH_DHT_REPLIED)
    p = sh_dht_table_find(t, id);
  if (p && (!p->pinged_ms || now_ms - p->pinged_ms >= SH_DHT_QUERY_TIMEOUT_MS)) {
    struct sh_dht_node copy = *p;
    ping(d, &copy, now_ms);
  }
}

void sh_dht_learn_nodes(struct sh_dht *d, const uint8_t *p, size_t len, int family,
                        uint64_t now_ms)
{
  size_t el = family == 6 ? SH_KRPC_NODE6_LEN : SH_KRPC_NODE4_LEN;
  for (size_t off = 0; p && off + el <= len; off += el) {
    uint8_t id[SH_DHT_ID_LEN];
    struct sh_addr a;
    sh_krpc_node_get(p + off, family, id, &a);
    sh_dht_seen(d, id, &a, SH_DHT_LEARNT, now_ms);
  }
}

/* A find_node for target to the node at a (bootstrap, refresh). */
static int find_node(struct sh_dht *d, const struct sh_addr *a, const uint8_t *id,
                     const uint8_t target[SH_DHT_ID_LEN], uint64_t now)
{
  struct sh_krpc_msg m;
  memset(&m, 0, offsetof(struct sh_krpc_msg, vbuf));
  m.method = SH_KRPC_FIND_NODE;
  memcpy(m.target, target, SH_DHT_ID_LEN);
  m.has_target = 1;
  /* BEP 32: a dual-stack node asks for both families while it fills its
   * tables, so one family's nodes bootstrap the other */
  if (d->cfg.v4 && d->cfg.v6)
    m.want = SH_KRPC_WANT_N4 | SH_KRPC_WANT_N6;
  return sh_dht_query(d, &m, a, id, 0, now);
}

int sh_dht_bootstrap(struct sh_dht *d, const struct sh_addr *a, uint64_t now_ms)
{
  if (!sh_dht_speaks(d, a->family) || !a->port)
    return -EAFNOSUPPORT;
  size_t i = 0;
  while (i < d->nboot && !sh_addr_eq(&d->boot[i], a))
    i++;
  if (i == d->nboot) {
    if (d->nboot < SH_DHT_MAX_BOOT)
      d->boot[d->nboot++] = *a;
    else
      d->boot[d->boot_next++ % SH_DHT_MAX_BOOT] = *a;
  }
  if (!d->boot_gap_ms) {
    d->boot_ms = now_ms;
    d->boot_gap_ms = SH_DHT_BOOT_RETRY_MS;
  }
  return find_node(d, a, NULL, d->id, now_ms);
}

/* Asks the bootstrap nodes again while a table is short of good nodes. */
static void rebootstrap(struct sh_dht *d, uint64_t now)
{
  if (!d->nboot || now - d->boot_ms < d->boot_gap_ms)
    return;
  d->boot_ms = now;
  d->boot_gap_ms = d->boot_gap_ms * 2 < SH_DHT_BOOT_RETRY_MAX_MS ? d->boot_gap_ms * 2
                                                                 : SH_DHT_BOOT_RETRY_MAX_MS;
  for (int f = 4; f <= 6; f += 2) {
    size_t nodes, good;
    if (!sh_dht_speaks(d, f))
      continue;
    sh_dht_table_count(sh_dht_table_of(d, f), now, &nodes, &good);
    if (good >= SH_DHT_K && (d->boot_answered & (1 << f)))
      continue;
    for (size_t i = 0; i < d->nboot; i++)
      if (d->boot[i].family == f)
        find_node(d, &d->boot[i], NULL, d->id, now);
  }
}

int sh_dht_ping(struct sh_dht *d, const struct sh_addr *a, uint64_t now_ms)
{
  if (!sh_dht_speaks(d, a->family) || !a->port)
    return -EAFNOSUPPORT;
  struct sh_krpc_msg m;
  memset(&m, 0, offsetof(struct sh_krpc_msg, vbuf));
  m.method = SH_KRPC_PING;
  return sh_dht_query(d, &m, a, NULL, 0, now_ms);
}

/* ---- BEP 42: our address as others see it ---- */

static void change_id(struct sh_dht *d, uint64_t now)
{
  uint8_t id[SH_DHT_ID_LEN];
  sh_dht_id_for(&d->external, &d->rng, id);
  if (sh_dht_table_rebuild(&d->t4, id, now) < 0 || sh_dht_table_rebuild(&d->t6, id, now) < 0) {
    /* out of memory: keep the old id in both tables */
    sh_dht_table_rebuild(&d->t4, d->id, now);
    return;
  }
  memcpy(d->id, id, SH_DHT_ID_LEN);
  d->self_lookup_ms[0] = d->self_lookup_ms[1] = 0; /* find our new neighbourhood */
  char name[64];
  sh_addr_str(&d->external, name, sizeof name);
  sh_info("DHT: our address is %s (from %u votes): new node id for it (BEP 42)", name,
          d->nvotes);
}

static void vote(struct sh_dht *d, const struct sh_addr *from, const struct sh_addr *ip,
                 uint64_t now)
{
  if (sh_dht_addr_is_local(from) || ip->family != from->family)
    return; /* a node on our network sees our local address */
  struct sh_addr a = *ip;
  a.port = 0;
  int slot = -1, low = 0;
  for (int i = 0; i < SH_DHT_VOTE_SLOTS; i++) {
    if (d->votes[i].n && sh_addr_same_ip(&d->votes[i].ip, &a)) {
      slot = i;
      break;
    }
    if (d->votes[i].n < d->votes[low].n)
      low = i;
  }
  if (slot < 0) {
    slot = low;
    d->votes[slot] = (struct sh_dht_vote){a, 0};
  }
  d->votes[slot].n++;
  if (++d->nvotes < SH_DHT_VOTES)
    return;
  int best = 0;
  for (int i = 1; i < SH_DHT_VOTE_SLOTS; i++)
    if (d->votes[i].n > d->votes[best].n)
      best = i;
  if (2 * d->votes[best].n > d->nvotes) {
    d->external = d->votes[best].ip;
    if (!sh_dht_addr_is_local(&d->external) && !sh_dht_id_matches(d->id, &d->external))
      change_id(d, now);
  }
  memset(d->votes, 0, sizeof d->votes);
  d->nvotes = 0;
}

/* ---- input ---- */

static void drop(struct sh_dht *d, const struct sh_addr *from, const char *why)
{
  d->st.dropped++;
  char name[64];
  sh_addr_str(from, name, sizeof name);
  sh_debug("DHT: dropped a message from %s: %s", name, why);
}

static void on_reply(struct sh_dht *d, struct sh_krpc_msg *m, const struct sh_addr *from,
                     uint64_t now)
{
  struct sh_dht_tx *found = tx_match(d, m, from);
  if (!found) {
    drop(d, from, "a reply to no query of ours from that address");
    return;
  }
  /* the slot is free again before anything below sends (and may move
   * d->tx): work from a copy */
  struct sh_dht_tx tx = *found;
  tx_free(d, found);
  if (m->type == SH_KRPC_RESPONSE) {
    d->st.replies_in++;
    sh_dht_seen(d, m->id, from, SH_DHT_REPLIED, now);
    if (m->has_ip)
      vote(d, from, &m->ip, now);
  } else {
    d->st.errors_in++;
    char name[64];
    sh_addr_str(from, name, sizeof name);
    sh_debug("DHT: %s answered %s with error %lld: %.*s", name,
             sh_krpc_method_name(tx.method), (long long)m->err_code, (int)m->err_len,
             m->err_msg ? (const char *)m->err_msg : "");
  }
  struct sh_dht_search *s = tx.search ? sh_dht_search_by_serial(d, tx.search) : NULL;
  if (!tx.has_id && tx.method == SH_KRPC_FIND_NODE && m->type == SH_KRPC_RESPONSE)
    for (size_t i = 0; i < d->nboot; i++)
      if (sh_addr_eq(&d->boot[i], from))
        d->boot_answered |= 1 << from->family;
  if (s)
    sh_dht_search_reply(d, s, &tx, m->type == SH_KRPC_RESPONSE ? m : NULL, now);
  else if (m->type == SH_KRPC_RESPONSE) {
    sh_dht_learn_nodes(d, m->nodes, m->nodes_len, 4, now);
    sh_dht_learn_nodes(d, m->nodes6, m->nodes6_len, 6, now);
  }
}

void sh_dht_input(struct sh_dht *d, const uint8_t *p, size_t n, const struct sh_addr *from,
                  uint64_t now_ms)
{
  if (!sh_dht_speaks(d, from->family) || !from->port) {
    d->st.dropped++;
    return;
  }
  struct sh_krpc_msg m;
  const char *why = "malformed";
  if (sh_krpc_decode(p, n, &m, &why) < 0) {
    drop(d, from, why);
    if (m.type == SH_KRPC_QUERY && m.tid && !d->cfg.read_only) {
      struct sh_krpc_msg e;
      memset(&e, 0, offsetof(struct sh_krpc_msg, vbuf));
      e.type = SH_KRPC_ERROR;
      e.tid = m.tid;
      e.tid_len = m.tid_len;
      e.err_code = SH_KRPC_E_PROTOCOL;
      e.err_msg = (const uint8_t *)why;
      e.err_len = strlen(why);
      e.v = sh_dht_version;
      e.v_len = sizeof sh_dht_version;
      sh_dht_send_msg(d, &e, from);
    }
    return;
  }
  if (m.type != SH_KRPC_QUERY) {
    on_reply(d, &m, from, now_ms);
    return;
  }
  if (d->cfg.read_only)
    return; /* BEP 43: a read-only node answers nothing */
  d->st.queries_in++;
  /* BEP 43: a read-only node will not answer our queries: keep it out */
  if (!m.ro)
    sh_dht_seen(d, m.id, from, SH_DHT_QUERIED, now_ms);
  sh_dht_serve(d, &m, from, now_ms);
}

/* ---- upkeep ---- */

static void timeouts(struct sh_dht *d, uint64_t now, uint64_t *wake)
{
  for (size_t i = 0; i < d->ntx; i++) {
    if (!d->tx[i].gen)
      continue;
    uint64_t age = now - d->tx[i].sent_ms;
    if (!d->tx[i].timed_out && age >= SH_DHT_QUERY_TIMEOUT_MS) {
      d->tx[i].timed_out = 1;
      struct sh_dht_tx tx = d->tx[i]; /* a search may send, and move d->tx */
      if (tx.has_id)
        sh_dht_table_failed(sh_dht_table_of(d, tx.to.family), tx.id, &tx.to);
      struct sh_dht_search *s = tx.search ? sh_dht_search_by_serial(d, tx.search) : NULL;
      if (s)
        sh_dht_search_timeout(d, s, &tx, now);
    }
    if (age >= SH_DHT_TX_LINGER_MS) {
      tx_free(d, &d->tx[i]);
      continue;
    }
    uint64_t due =
        d->tx[i].timed_out ? SH_DHT_TX_LINGER_MS - age : SH_DHT_QUERY_TIMEOUT_MS - age;
    if (due < *wake)
      *wake = due;
  }
}

/* A bucket idle for 15 minutes (BEP 5), or for a minute while it is not
 * full (a young table is mostly gaps): a find_node for an id inside it,
 * sent to the node we know closest to that id. One per pass. */
static void refresh_one(struct sh_dht *d, struct sh_dht_table *t, uint64_t now)
{
  for (size_t k = 0; k < t->nb; k++) {
    size_t i = (d->maint_bucket + k) % t->nb;
    uint64_t idle = t->b[i].n < SH_DHT_K ? SH_DHT_SPARSE_REFRESH_MS : SH_DHT_REFRESH_MS;
    if (now - t->b[i].changed_ms < idle)
      continue;
    uint8_t target[SH_DHT_ID_LEN];
    sh_dht_bucket_random_id(t, i, &d->rng, target);
    struct sh_dht_node n;
    if (sh_dht_table_closest(t, target, &n, 1, 0, now) == 1 &&
        find_node(d, &n.addr, n.id, target, now) == 0)
      t->b[i].changed_ms = now; /* asked: not again for another 15 min */
    d->maint_bucket = i + 1;
    return;
  }
}

/* Our neighbourhood, the part of the table lookups for ids near ours
 * depend on: a find_node for an id next to ours (random low bits) to the
 * known node closest to it, each pass while our bucket changed in the
 * last 150 s, else every sixth pass (once a minute). Nodes that joined
 * after us learn of us, and we of them, without waiting 15 minutes. */
static void neighbourhood(struct sh_dht *d, struct sh_dht_table *t, uint64_t now)
{
  const struct sh_dht_bucket *mine = &t->b[sh_dht_table_bucket_of(t, d->id)];
  if (now - mine->changed_ms > 150000 && d->maint_passes % 6)
    return;
  uint8_t target[SH_DHT_ID_LEN];
  memcpy(target, d->id, SH_DHT_ID_LEN);
  sh_dht_rand_bytes(&d->rng, target + 12, SH_DHT_ID_LEN - 12);
  struct sh_dht_node n;
  if (sh_dht_table_closest(t, target, &n, 1, 0, now) == 1)
    find_node(d, &n.addr, n.id, target, now);
}

static void maintain(struct sh_dht *d, uint64_t now)
{
  d->maint_passes++;
  for (int f = 4; f <= 6; f += 2) {
    if (!sh_dht_speaks(d, f))
      continue;
    struct sh_dht_table *t = sh_dht_table_of(d, f);
    for (size_t i = 0; i < t->nb; i++) {
      struct sh_dht_node *n = sh_dht_bucket_maintain(t, i, now, SH_DHT_PING_GAP_MS);
      if (n) {
        struct sh_dht_node copy = *n;
        ping(d, &copy, now);
      }
    }
    refresh_one(d, t, now);
    neighbourhood(d, t, now);
  }
}

/* BEP 5: find our neighbours once the table has a node, and again while
 * it knows fewer than K good nodes (at most once a minute). */
static void self_lookup(struct sh_dht *d, uint64_t now)
{
  for (int f = 4; f <= 6; f += 2) {
    if (!sh_dht_speaks(d, f) || sh_dht_self_lookup_running(d, f))
      continue;
    size_t nodes, good;
    sh_dht_table_count(sh_dht_table_of(d, f), now, &nodes, &good);
    uint64_t *last = &d->self_lookup_ms[f == 6];
    if (!nodes || (*last && (good >= SH_DHT_K || now - *last < 60000)))
      continue;
    struct sh_dht_search_opts o = {.find_node = 1};
    if (sh_dht_search(d, d->id, f, &o, now) == 0)
      *last = now;
  }
}

uint64_t sh_dht_periodic(struct sh_dht *d, uint64_t now_ms)
{
  uint64_t wake = 1000;
  timeouts(d, now_ms, &wake);
  if (now_ms - d->secret_ms >= SH_DHT_SECRET_MS)
    new_secret(d, now_ms);
  if (now_ms - d->expire_ms >= SH_DHT_EXPIRE_MS) {
    d->expire_ms = now_ms;
    sh_dht_store_expire(&d->store, now_ms);
  }
  rebootstrap(d, now_ms);
  self_lookup(d, now_ms);
  sh_dht_search_step_all(d, now_ms);
  if (now_ms - d->maint_ms >= SH_DHT_MAINT_MS) {
    d->maint_ms = now_ms;
    maintain(d, now_ms);
  }
  return wake ? wake : 1;
}

/* ---- status and state ---- */

void sh_dht_stats(const struct sh_dht *d, uint64_t now_ms, struct sh_dht_stats *st)
{
  *st = d->st;
  memcpy(st->id, d->id, SH_DHT_ID_LEN);
  sh_dht_table_count(&d->t4, now_ms, &st->nodes[0], &st->good[0]);
  sh_dht_table_count(&d->t6, now_ms, &st->nodes[1], &st->good[1]);
  st->buckets[0] = d->t4.nb;
  st->buckets[1] = d->t6.nb;
  st->hashes = d->store.n;
  st->peers = d->store.npeers;
  st->store_refused = d->store.refused;
  st->searches = d->nsearch;
  st->outstanding = d->outstanding;
  st->external = d->external;
  st->id_compliant = d->external.family ? sh_dht_id_matches(d->id, &d->external) : 0;
}

static void save_nodes(const struct sh_dht_table *t, uint64_t now, size_t max, struct sh_buf *b)
{
  size_t el = t->family == 6 ? SH_KRPC_NODE6_LEN : SH_KRPC_NODE4_LEN, n = 0;
  for (size_t i = 0; i < t->nb; i++)
    for (int j = 0; j < t->b[i].n; j++)
      n += n < max && sh_dht_node_good(&t->b[i].nodes[j], now);
  be_put_cstr(b, t->family == 6 ? "nodes6" : "nodes");
  sh_buf_printf(b, "%zu:", n * el);
  for (size_t i = 0, k = 0; i < t->nb; i++)
    for (int j = 0; j < t->b[i].n && k < n; j++) {
      const struct sh_dht_node *x = &t->b[i].nodes[j];
      if (!sh_dht_node_good(x, now))
        continue;
      uint8_t e[SH_KRPC_NODE6_LEN];
      sh_buf_append(b, e, sh_krpc_node_put(e, x->id, &x->addr));
      k++;
    }
}

void sh_dht_save(const struct sh_dht *d, uint64_t now_ms, size_t max, struct sh_buf *b)
{
  be_put_dict(b);
  be_put_cstr(b, "id");
  be_put_str(b, d->id, SH_DHT_ID_LEN);
  save_nodes(&d->t4, now_ms, max, b);
  save_nodes(&d->t6, now_ms, max, b);
  be_put_end(b);
}

int sh_dht_load(const uint8_t *p, size_t n, uint8_t id[SH_DHT_ID_LEN], struct sh_addr *nodes,
                size_t cap)
{
  struct be_doc d;
  struct be_opts o = {.max_depth = 2, .max_tokens = 16, .strict = 1};
  int rc = be_parse(&d, p, n, &o);
  size_t len, k = 0;
  const uint8_t *s;
  int i;
  if (rc < 0 || d.tok[0].type != BE_DICT || (i = be_dict_get_type(&d, 0, "id", BE_STR)) < 0 ||
      !(s = be_str(&d, i, &len)) || len != SH_DHT_ID_LEN) {
    be_free(&d);
    return SH_EPROTO;
  }
  memcpy(id, s, SH_DHT_ID_LEN);
  static const char *const keys[2] = {"nodes", "nodes6"};
  for (int f = 0; f < 2; f++) {
    size_t el = f ? SH_KRPC_NODE6_LEN : SH_KRPC_NODE4_LEN;
    if ((i = be_dict_get_type(&d, 0, keys[f], BE_STR)) < 0 || !(s = be_str(&d, i, &len)))
      continue;
    for (size_t off = 0; off + el <= len && k < cap; off += el) {
      uint8_t nid[SH_DHT_ID_LEN];
      sh_krpc_node_get(s + off, f ? 6 : 4, nid, &nodes[k]);
      k += nodes[k].port != 0;
    }
  }
  be_free(&d);
  return (int)k;
}
