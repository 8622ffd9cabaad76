/* The routing table: see rtable.h. */
#include "dht/rtable.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/vec.h"
#include "dht/id.h"

/* 160 bits: at most 161 buckets, one per depth plus the last. */
#define MAX_BUCKETS (8 * SH_DHT_ID_LEN + 1)

static int bit(const uint8_t *id, int k) { return id[k / 8] >> (7 - k % 8) & 1; }

int sh_dht_table_init(struct sh_dht_table *t, int family, const uint8_t self[SH_DHT_ID_LEN],
                      uint64_t now_ms)
{
  memset(t, 0, sizeof *t);
  t->family = family;
  memcpy(t->self, self, SH_DHT_ID_LEN);
  if (sh_vec_reserve(t->b, t->cap, 1, 2, MAX_BUCKETS) < 0)
    return -ENOMEM;
  memset(&t->b[0], 0, sizeof t->b[0]);
  t->b[0].changed_ms = now_ms;
  t->nb = 1;
  return 0;
}

void sh_dht_table_free(struct sh_dht_table *t)
{
  free(t->b);
  t->b = NULL;
  t->nb = t->cap = 0;
}

int sh_dht_node_good(const struct sh_dht_node *n, uint64_t now_ms)
{
  /* one lost packet does not make a node questionable: 5 % loss each way
   * loses a tenth of all queries */
  return n->replied_ms && n->pinged < 2 && now_ms - n->heard_ms < SH_DHT_GOOD_MS;
}

int sh_dht_node_bad(const struct sh_dht_node *n) { return n->pinged >= SH_DHT_BAD_PINGS; }

size_t sh_dht_table_bucket_of(const struct sh_dht_table *t, const uint8_t id[SH_DHT_ID_LEN])
{
  /* the last bucket whose first id is <= id */
  size_t lo = 0, hi = t->nb;
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (memcmp(t->b[mid].first, id, SH_DHT_ID_LEN) <= 0)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

struct sh_dht_node *sh_dht_table_find(struct sh_dht_table *t, const uint8_t id[SH_DHT_ID_LEN])
{
  struct sh_dht_bucket *b = &t->b[sh_dht_table_bucket_of(t, id)];
  for (int i = 0; i < b->n; i++)
    if (!memcmp(b->nodes[i].id, id, SH_DHT_ID_LEN))
      return &b->nodes[i];
  return NULL;
}

static int holds_self(const struct sh_dht_table *t, const struct sh_dht_bucket *b)
{
  return sh_dht_id_common_bits(b->first, t->self) >= b->depth;
}

/* Splits bucket i in two halves by its next bit. */
static int split(struct sh_dht_table *t, size_t i)
{
  if (t->b[i].depth >= 8 * SH_DHT_ID_LEN - 1 ||
      sh_vec_reserve(t->b, t->cap, t->nb + 1, 2, MAX_BUCKETS) < 0)
    return -ENOMEM;
  memmove(&t->b[i + 2], &t->b[i + 1], (t->nb - i - 1) * sizeof t->b[0]);
  t->nb++;
  struct sh_dht_bucket *lo = &t->b[i], *hi = &t->b[i + 1];
  int d = lo->depth;
  struct sh_dht_bucket old = *lo;
  memset(lo, 0, sizeof *lo);
  memset(hi, 0, sizeof *hi);
  memcpy(lo->first, old.first, SH_DHT_ID_LEN);
  memcpy(hi->first, old.first, SH_DHT_ID_LEN);
  hi->first[d / 8] |= (uint8_t)(0x80 >> (d % 8));
  lo->depth = hi->depth = (uint8_t)(d + 1);
  lo->changed_ms = hi->changed_ms = old.changed_ms;
  for (int k = 0; k < old.n; k++) {
    struct sh_dht_bucket *to = bit(old.nodes[k].id, d) ? hi : lo;
    to->nodes[to->n++] = old.nodes[k];
  }
  if (old.has_cand) {
    struct sh_dht_bucket *to = bit(old.cand.id, d) ? hi : lo;
    to->cand = old.cand;
    to->has_cand = 1;
  }
  return 0;
}

static void update(struct sh_dht_bucket *b, struct sh_dht_node *n, const struct sh_addr *a,
                   enum sh_dht_seen how, uint64_t now)
{
  /* A reply carries our transaction id, so it comes from the address we
   * asked; a query could come from a forged source, and must not move a
   * node that is known to work. */
  if (!sh_addr_eq(&n->addr, a) && (how == SH_DHT_REPLIED || !sh_dht_node_good(n, now)))
    n->addr = *a;
  if (how == SH_DHT_LEARNT)
    return;
  n->heard_ms = now;
  if (how == SH_DHT_REPLIED) {
    n->replied_ms = now;
    n->pinged = 0;
    n->pinged_ms = 0;
    b->changed_ms = now;
  }
}

static int find_bad(const struct sh_dht_bucket *b)
{
  for (int k = 0; k < b->n; k++)
    if (sh_dht_node_bad(&b->nodes[k]))
      return k;
  return -1;
}

/* The questionable node to ping first: least recently heard, not pinged
 * within gap. -1 when none. */
static int oldest_questionable(const struct sh_dht_bucket *b, uint64_t now, uint64_t gap)
{
  int best = -1;
  for (int k = 0; k < b->n; k++) {
    const struct sh_dht_node *n = &b->nodes[k];
    if (sh_dht_node_bad(n) || (sh_dht_node_good(n, now) && n->pinged == 0 &&
                               now - n->heard_ms < SH_DHT_GOOD_MS))
      continue;
    if (n->pinged_ms && now - n->pinged_ms < gap)
      continue;
    if (best < 0 || n->heard_ms < b->nodes[best].heard_ms)
      best = k;
  }
  return best;
}

static void fill(struct sh_dht_node *n, const uint8_t *id, const struct sh_addr *a,
                 enum sh_dht_seen how, uint64_t now)
{
  memset(n, 0, sizeof *n);
  memcpy(n->id, id, SH_DHT_ID_LEN);
  n->addr = *a;
  n->compliant = (uint8_t)sh_dht_id_matches(id, a);
  if (how != SH_DHT_LEARNT)
    n->heard_ms = now;
  if (how == SH_DHT_REPLIED)
    n->replied_ms = now;
}

/* A full bucket that cannot split: a compliant node that proved itself
 * replaces a non-compliant one (BEP 42); else it waits as the candidate. */
static int full_bucket(struct sh_dht_bucket *b, const struct sh_dht_node *fresh, uint64_t now,
                       struct sh_dht_node **ping)
{
  if (fresh->compliant && fresh->replied_ms) {
    for (int k = 0; k < b->n; k++)
      if (!b->nodes[k].compliant) {
        b->nodes[k] = *fresh;
        b->changed_ms = now;
        return 2;
      }
  }
  if (!fresh->heard_ms)
    return 0; /* learnt of, never heard: not worth a ping */
  int q = oldest_questionable(b, now, 0);
  if (q < 0)
    return 0; /* all good: BEP 5 discards the newcomer */
  b->cand = *fresh;
  b->has_cand = 1;
  *ping = &b->nodes[q];
  return 0;
}

int sh_dht_table_seen(struct sh_dht_table *t, const uint8_t id[SH_DHT_ID_LEN],
                      const struct sh_addr *a, enum sh_dht_seen how, uint64_t now_ms,
                      struct sh_dht_node **ping)
{
  *ping = NULL;
  if (!memcmp(id, t->self, SH_DHT_ID_LEN) || a->family != t->family)
    return 0;
  for (;;) {
    size_t i = sh_dht_table_bucket_of(t, id);
    struct sh_dht_bucket *b = &t->b[i];
    for (int k = 0; k < b->n; k++)
      if (!memcmp(b->nodes[k].id, id, SH_DHT_ID_LEN)) {
        update(b, &b->nodes[k], a, how, now_ms);
        return 1;
      }
    if (b->has_cand && !memcmp(b->cand.id, id, SH_DHT_ID_LEN)) {
      update(b, &b->cand, a, how, now_ms);
      return 0;
    }
    struct sh_dht_node fresh;
    fill(&fresh, id, a, how, now_ms);
    if (b->n < SH_DHT_K) {
      b->nodes[b->n++] = fresh;
      b->changed_ms = now_ms;
      return 2;
    }
    int bad = find_bad(b);
    if (bad >= 0 && how != SH_DHT_LEARNT) {
      b->nodes[bad] = fresh;
      b->changed_ms = now_ms;
      return 2;
    }
    if (holds_self(t, b) && b->depth < 8 * SH_DHT_ID_LEN - 1) {
      if (split(t, i) < 0)
        return -ENOMEM;
      continue;
    }
    return full_bucket(b, &fresh, now_ms, ping);
  }
}

void sh_dht_table_failed(struct sh_dht_table *t, const uint8_t id[SH_DHT_ID_LEN],
                         const struct sh_addr *a)
{
  struct sh_dht_bucket *b = &t->b[sh_dht_table_bucket_of(t, id)];
  for (int k = 0; k < b->n; k++) {
    struct sh_dht_node *n = &b->nodes[k];
    if (memcmp(n->id, id, SH_DHT_ID_LEN) || !sh_addr_eq(&n->addr, a))
      continue;
    if (n->pinged < 255)
      n->pinged++;
    if (sh_dht_node_bad(n) && b->has_cand) {
      *n = b->cand;
      b->has_cand = 0;
    }
    return;
  }
}

size_t sh_dht_table_closest(const struct sh_dht_table *t, const uint8_t *target,
                            struct sh_dht_node *out, size_t k, int good_only, uint64_t now_ms)
{
  size_t n = 0;
  for (size_t i = 0; i < t->nb; i++)
    for (int j = 0; j < t->b[i].n; j++) {
      const struct sh_dht_node *x = &t->b[i].nodes[j];
      if (sh_dht_node_bad(x) || (good_only && !sh_dht_node_good(x, now_ms)))
        continue;
      /* insertion into the sorted top k */
      size_t pos = n;
      while (pos > 0 && sh_dht_id_closer(target, x->id, out[pos - 1].id) < 0)
        pos--;
      if (pos >= k)
        continue;
      size_t last = n < k ? n : k - 1;
      memmove(&out[pos + 1], &out[pos], (last - pos) * sizeof *out);
      out[pos] = *x;
      if (n < k)
        n++;
    }
  return n;
}

void sh_dht_table_count(const struct sh_dht_table *t, uint64_t now_ms, size_t *nodes,
                        size_t *good)
{
  *nodes = *good = 0;
  for (size_t i = 0; i < t->nb; i++)
    for (int j = 0; j < t->b[i].n; j++) {
      (*nodes)++;
      *good += (size_t)sh_dht_node_good(&t->b[i].nodes[j], now_ms);
    }
}

struct sh_dht_node *sh_dht_bucket_maintain(struct sh_dht_table *t, size_t i, uint64_t now_ms,
                                           uint64_t ping_gap_ms)
{
  struct sh_dht_bucket *b = &t->b[i];
  int bad = find_bad(b);
  if (bad >= 0 && b->has_cand) {
    b->nodes[bad] = b->cand;
    b->has_cand = 0;
    b->changed_ms = now_ms;
  } else if (bad >= 0 && bad < b->n - 1) {
    /* nobody waits for the slot: a bad node stays (it may come back),
     * but at the end, so closest() meets the live ones first */
    struct sh_dht_node x = b->nodes[bad];
    memmove(&b->nodes[bad], &b->nodes[bad + 1], (size_t)(b->n - bad - 1) * sizeof x);
    b->nodes[b->n - 1] = x;
  }
  int q = oldest_questionable(b, now_ms, ping_gap_ms);
  return q < 0 ? NULL : &b->nodes[q];
}

void sh_dht_bucket_random_id(const struct sh_dht_table *t, size_t i, uint64_t *rng,
                             uint8_t out[SH_DHT_ID_LEN])
{
  const struct sh_dht_bucket *b = &t->b[i];
  sh_dht_rand_bytes(rng, out, SH_DHT_ID_LEN);
  int d = b->depth;
  for (int k = 0; k < d / 8; k++)
    out[k] = b->first[k];
  if (d % 8) {
    uint8_t keep = (uint8_t)(0xff00 >> (d % 8));
    out[d / 8] = (uint8_t)((b->first[d / 8] & keep) | (out[d / 8] & ~keep));
  }
}

int sh_dht_table_rebuild(struct sh_dht_table *t, const uint8_t self[SH_DHT_ID_LEN],
                         uint64_t now_ms)
{
  struct sh_dht_table nt;
  if (sh_dht_table_init(&nt, t->family, self, now_ms) < 0)
    return -ENOMEM;
  for (size_t i = 0; i < t->nb; i++)
    for (int j = 0; j < t->b[i].n; j++) {
      const struct sh_dht_node *x = &t->b[i].nodes[j];
      struct sh_dht_node *ping;
      if (sh_dht_table_seen(&nt, x->id, &x->addr, SH_DHT_LEARNT, now_ms, &ping) < 0) {
        sh_dht_table_free(&nt);
        return -ENOMEM;
      }
      struct sh_dht_node *y = sh_dht_table_find(&nt, x->id);
      if (y)
        *y = *x; /* keep what we knew of its liveness */
    }
  sh_dht_table_free(t);
  *t = nt;
  return 0;
}
