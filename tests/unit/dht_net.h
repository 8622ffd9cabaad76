/* An in-memory network of DHT cores on a virtual clock, for the node's
 * unit tests and the 10,000-node simulation (bench/dht_sim.c): datagrams
 * travel with a random delay and are lost with a given probability; each
 * node's periodic work runs when it asked to. Nothing real: no socket, no
 * wall clock, and a seed makes every run the same.
 *
 * Node i lives at 10.(i>>16).(i>>8).(i&255):6881, a local address, so
 * BEP 42 leaves its random id alone.
 *
 * Header-only (static functions) so the DHT tests and the benchmark
 * program can all include it. */
#ifndef SHOAL_TESTS_DHT_NET_H
#define SHOAL_TESTS_DHT_NET_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dht/dht.h"
#include "dht/id.h"

struct dnet;

struct dnet_node {
  struct dnet *net;
  uint32_t idx;
  struct sh_dht *d;
  struct sh_addr addr;
  int up;
  /* what its searches found (the last search's info-hash) */
  uint8_t want[20];
  int found;                    /* the wanted peer was among the values */
  struct sh_addr wanted_peer;
  struct sh_dht_search_info last;
  int done;                     /* searches finished (not self-lookups) */
};

struct dnet_ev {
  uint64_t at;
  uint32_t seq;                 /* ties keep their order */
  uint32_t node;
  uint8_t *pkt;                 /* NULL: a periodic call */
  uint16_t len;
  struct sh_addr from;
};

struct dnet {
  uint64_t now;
  uint64_t rng;
  double loss;                  /* probability a datagram is lost */
  uint32_t min_ms, max_ms;      /* one-way delay, uniform */
  struct dnet_node *n;
  uint32_t nn;
  struct dnet_ev *h;            /* binary heap by (at, seq) */
  size_t nh, caph;
  uint32_t seq;
  uint64_t sent, lost, bytes_queued;
};

static inline int dnet_before(const struct dnet_ev *a, const struct dnet_ev *b)
{
  return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static inline void dnet_push(struct dnet *net, struct dnet_ev e)
{
  if (net->nh == net->caph) {
    net->caph = net->caph ? 2 * net->caph : 1024;
    net->h = realloc(net->h, net->caph * sizeof *net->h);
    if (!net->h)
      abort();
  }
  e.seq = net->seq++;
  size_t i = net->nh++;
  while (i > 0 && dnet_before(&e, &net->h[(i - 1) / 2])) {
    net->h[i] = net->h[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  net->h[i] = e;
}

static inline struct dnet_ev dnet_pop(struct dnet *net)
{
  struct dnet_ev top = net->h[0], last = net->h[--net->nh];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= net->nh)
      break;
    if (c + 1 < net->nh && dnet_before(&net->h[c + 1], &net->h[c]))
      c++;
    if (!dnet_before(&net->h[c], &last))
      break;
    net->h[i] = net->h[c];
    i = c;
  }
  if (net->nh)
    net->h[i] = last;
  return top;
}

/* a.b.c.d:port, for the tests' own addresses. */
static inline struct sh_addr dnet_v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
  struct sh_addr x;
  memset(&x, 0, sizeof x);
  x.family = 4;
  x.ip[0] = a, x.ip[1] = b, x.ip[2] = c, x.ip[3] = d;
  x.port = port;
  return x;
}

static inline struct sh_addr dnet_addr(uint32_t i)
{
  struct sh_addr a;
  memset(&a, 0, sizeof a);
  a.family = 4;
  a.ip[0] = 10;
  a.ip[1] = (uint8_t)(i >> 16);
  a.ip[2] = (uint8_t)(i >> 8);
  a.ip[3] = (uint8_t)i;
  a.port = 6881;
  return a;
}

static inline int dnet_index(const struct dnet *net, const struct sh_addr *a, uint32_t *i)
{
  if (a->family != 4 || a->ip[0] != 10 || a->port != 6881)
    return 0;
  *i = (uint32_t)a->ip[1] << 16 | (uint32_t)a->ip[2] << 8 | a->ip[3];
  return *i < net->nn;
}

static inline double dnet_uniform(struct dnet *net)
{
  return (double)(sh_dht_rand(&net->rng) >> 11) / (double)(1ull << 53);
}

static inline void dnet_send(void *ud, const uint8_t *p, size_t n, const struct sh_addr *to)
{
  struct dnet_node *me = ud;
  struct dnet *net = me->net;
  uint32_t dst;
  net->sent++;
  if (!dnet_index(net, to, &dst) || dnet_uniform(net) < net->loss) {
    net->lost++;
    return;
  }
  struct dnet_ev e = {0};
  e.at = net->now + net->min_ms +
         (net->max_ms > net->min_ms ? sh_dht_rand(&net->rng) % (net->max_ms - net->min_ms) : 0);
  e.node = dst;
  e.pkt = malloc(n);
  if (!e.pkt)
    abort();
  memcpy(e.pkt, p, n);
  e.len = (uint16_t)n;
  e.from = me->addr;
  net->bytes_queued += n;
  dnet_push(net, e);
}

static inline void dnet_peers(void *ud, const uint8_t ih[20], const struct sh_addr *a, size_t n)
{
  struct dnet_node *me = ud;
  if (memcmp(ih, me->want, 20))
    return;
  for (size_t i = 0; i < n; i++)
    if (sh_addr_eq(&a[i], &me->wanted_peer))
      me->found = 1;
}

static inline void dnet_done(void *ud, const struct sh_dht_search_info *info)
{
  struct dnet_node *me = ud;
  if (info->find_node)
    return;
  me->last = *info;
  me->done++;
}

/* n nodes, none up yet. */
static inline void dnet_init(struct dnet *net, uint32_t n, uint64_t seed, double loss)
{
  memset(net, 0, sizeof *net);
  net->rng = seed | 1;
  net->loss = loss;
  net->min_ms = 10;
  net->max_ms = 100;
  net->now = 1000;
  net->nn = n;
  net->n = calloc(n, sizeof *net->n);
  if (!net->n)
    abort();
}

/* Starts node i (with cfg's limits; its id random from the network's
 * generator) and bootstraps it from node `boot` (none when boot == i). */
static inline void dnet_up(struct dnet *net, uint32_t i, uint32_t boot, const struct sh_dht_config *cfg)
{
  struct dnet_node *x = &net->n[i];
  x->net = net;
  x->idx = i;
  x->addr = dnet_addr(i);
  struct sh_dht_config c;
  if (cfg)
    c = *cfg;
  else
    sh_dht_config_default(&c);
  c.seed = sh_dht_rand(&net->rng) | 1;
  c.v6 = 0;
  struct sh_dht_callbacks cb = {x, dnet_send, dnet_peers, dnet_done};
  if (sh_dht_new(&c, &cb, net->now, &x->d) < 0)
    abort();
  x->up = 1;
  if (boot != i) {
    struct sh_addr b = dnet_addr(boot);
    sh_dht_bootstrap(x->d, &b, net->now);
  }
  struct dnet_ev e = {0};
  e.at = net->now + 1 + sh_dht_rand(&net->rng) % 1000; /* spread the periodic calls */
  e.node = i;
  dnet_push(net, e);
}

/* Runs the network until virtual time `until`. */
static inline void dnet_run(struct dnet *net, uint64_t until)
{
  while (net->nh && net->h[0].at <= until) {
    struct dnet_ev e = dnet_pop(net);
    net->now = e.at;
    struct dnet_node *x = &net->n[e.node];
    if (e.pkt) {
      net->bytes_queued -= e.len;
      if (x->up)
        sh_dht_input(x->d, e.pkt, e.len, &e.from, net->now);
      free(e.pkt);
      continue;
    }
    if (!x->up)
      continue;
    uint64_t wait = sh_dht_periodic(x->d, net->now);
    struct dnet_ev p = {0};
    p.at = net->now + wait;
    p.node = e.node;
    dnet_push(net, p);
  }
  if (net->now < until)
    net->now = until;
}

static inline void dnet_free(struct dnet *net)
{
  for (uint32_t i = 0; i < net->nn; i++)
    sh_dht_free(net->n[i].d);
  for (size_t i = 0; i < net->nh; i++)
    free(net->h[i].pkt);
  free(net->h);
  free(net->n);
}

#endif
