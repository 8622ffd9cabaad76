/* Peer list and ban list: flat arrays, linear scans. With at most 2000
 * entries a scan is a few microseconds, cheaper than keeping a hash table
 * in step, and it happens per announce or per dial, never per block. */
#include "swarm/peers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/vec.h"

void sh_peers_init(struct sh_peers *l) { memset(l, 0, sizeof *l); }

void sh_peers_free(struct sh_peers *l)
{
  free(l->e);
  memset(l, 0, sizeof *l);
}

struct sh_peer_entry *sh_peers_find(struct sh_peers *l, const struct sh_addr *a)
{
  for (size_t i = 0; i < l->n; i++)
    if (sh_addr_eq(&l->e[i].addr, a))
      return &l->e[i];
  return NULL;
}

int sh_peers_add(struct sh_peers *l, const struct sh_addr *a, int source, uint64_t now_ms)
{
  struct sh_peer_entry *e = sh_peers_find(l, a);
  if (e) {
    e->source |= (uint8_t)source;
    /* asked for by hand: try again now even if it failed before */
    if ((source & SH_SRC_MANUAL) && e->state == SH_PE_IDLE)
      e->next_try_ms = now_ms;
    return 0;
  }
  if (l->n >= SH_PEERS_MAX)
    return SH_ELIMIT;
  if (sh_vec_reserve(l->e, l->cap, l->n + 1, 64, SH_PEERS_MAX) < 0)
    return -ENOMEM;
  e = &l->e[l->n++];
  memset(e, 0, sizeof *e);
  e->addr = *a;
  e->source = (uint8_t)source;
  e->next_try_ms = now_ms;
  return 1;
}

struct sh_peer_entry *sh_peers_next(struct sh_peers *l, uint64_t now_ms, int skip_seeds)
{
  /* Hand-given addresses first: the user asked for them. */
  struct sh_peer_entry *best = NULL;
  for (size_t i = 0; i < l->n; i++) {
    struct sh_peer_entry *e = &l->e[i];
    if (e->state != SH_PE_IDLE || e->next_try_ms > now_ms || (skip_seeds && e->seed))
      continue;
    if (!best || ((e->source & SH_SRC_MANUAL) && !(best->source & SH_SRC_MANUAL)))
      best = e;
    if (best->source & SH_SRC_MANUAL)
      break;
  }
  if (best)
    best->state = SH_PE_CONNECTING;
  return best;
}

void sh_peers_done(struct sh_peers *l, const struct sh_addr *a, int failed, uint64_t now_ms)
{
  struct sh_peer_entry *e = sh_peers_find(l, a);
  if (!e)
    return;
  e->state = SH_PE_IDLE;
  int manual = !!(e->source & SH_SRC_MANUAL);
  uint64_t base = manual ? SH_PEERS_MANUAL_RETRY_MS : SH_PEERS_RETRY_MS;
  uint64_t cap = manual ? SH_PEERS_MANUAL_MAX_MS : 1800000;
  if (!failed) {
    e->fails = 0;
    e->next_try_ms = now_ms + base;
    return;
  }
  if (e->fails < 255)
    e->fails++;
  if (e->fails >= SH_PEERS_MAX_FAILS && !manual) {
    sh_peers_remove(l, a);
    return;
  }
  unsigned shift = e->fails > 6 ? 6 : e->fails - 1u;
  uint64_t wait = base << shift;
  if (wait > cap)
    wait = cap;
  e->next_try_ms = now_ms + wait;
}

void sh_peers_retry_now(struct sh_peers *l, const struct sh_addr *a, uint64_t now_ms)
{
  struct sh_peer_entry *e = sh_peers_find(l, a);
  if (!e)
    return;
  e->state = SH_PE_IDLE;
  e->next_try_ms = now_ms;
}

void sh_peers_remove(struct sh_peers *l, const struct sh_addr *a)
{
  struct sh_peer_entry *e = sh_peers_find(l, a);
  if (!e)
    return;
  *e = l->e[--l->n];
}

void sh_peers_set_utp(struct sh_peers *l, const struct sh_addr *a, enum sh_peer_utp v)
{
  struct sh_peer_entry *e = sh_peers_find(l, a);
  if (e)
    e->utp = (uint8_t)v;
}

size_t sh_peers_count_idle(const struct sh_peers *l, uint64_t now_ms)
{
  size_t c = 0;
  for (size_t i = 0; i < l->n; i++)
    c += l->e[i].state == SH_PE_IDLE && l->e[i].next_try_ms <= now_ms;
  return c;
}

void sh_bans_init(struct sh_bans *b) { memset(b, 0, sizeof *b); }

void sh_bans_free(struct sh_bans *b)
{
  free(b->e);
  memset(b, 0, sizeof *b);
}

static struct sh_ban_entry *ban_find(const struct sh_bans *b, const struct sh_addr *a)
{
  int lo = sh_addr_is_loopback(a);
  for (size_t i = 0; i < b->n; i++)
    if (lo ? sh_addr_eq(&b->e[i].addr, a) : sh_addr_same_ip(&b->e[i].addr, a))
      return &b->e[i];
  return NULL;
}

int sh_bans_strike(struct sh_bans *b, const struct sh_addr *a, int sole)
{
  struct sh_ban_entry *e = ban_find(b, a);
  if (!e) {
    if (b->n >= SH_BANS_MAX)
      return 0; /* full: forget about new offenders rather than grow */
    if (sh_vec_reserve(b->e, b->cap, b->n + 1, 16, SH_BANS_MAX) < 0)
      return 0;
    e = &b->e[b->n++];
    memset(e, 0, sizeof *e);
    e->addr = *a;
    if (!sh_addr_is_loopback(a))
      e->addr.port = 0;
  }
  if (e->banned)
    return 0;
  if (sole && e->sole < 255)
    e->sole++;
  if (e->any < 255)
    e->any++;
  if (e->sole >= SH_BAN_SOLE_STRIKES || e->any >= SH_BAN_ANY_STRIKES) {
    e->banned = 1;
    b->num_banned++;
    return 1;
  }
  return 0;
}

int sh_bans_is_banned(const struct sh_bans *b, const struct sh_addr *a)
{
  const struct sh_ban_entry *e = ban_find(b, a);
  return e && e->banned;
}

void sh_peers_closed_early(struct sh_peers *l, const struct sh_addr *a, uint64_t now_ms)
{
  struct sh_peer_entry *e = sh_peers_find(l, a);
  if (e && e->closed_early < UINT8_MAX)
    e->closed_early++;
  sh_peers_done(l, a, 1, now_ms);
}

int sh_peers_all_closers(const struct sh_peers *l)
{
  for (size_t i = 0; i < l->n; i++)
    if (l->e[i].closed_early < SH_PEERS_CLOSER_TIMES)
      return 0;
  return l->n > 0;
}
