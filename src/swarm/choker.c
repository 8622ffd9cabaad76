/* The choker: who may download from us. Rules in choker.h; the arithmetic
 * and the reasons are here.
 *
 * Selection is "best of the rest" repeated once per slot: O(n * slots),
 * which for 4-8 slots and a few hundred peers every 10 s is nothing, and it
 * needs no scratch memory: during a round each peer's `optimistic` field
 * holds its provisional verdict (0 choked, 1 optimistic, 2 regular slot)
 * and is turned into the documented outputs at the end. */
#include "swarm/choker.h"

#define V_CHOKED 0
#define V_OPTIMISTIC 1
#define V_REGULAR 2

/* A peer connected for less than this is "new" and three times as likely
 * to win the optimistic slot: it has nothing to trade yet, and 3x is the
 * weight of the original client. */
#define NEW_PEER_MS 60000
#define NEW_PEER_WEIGHT 3

void sh_choker_init(struct sh_choker *c, int slots, uint64_t seed)
{
  c->slots = slots > 0 ? slots : 4;
  c->optimistic = NULL;
  c->optimistic_since = 0;
  /* xorshift must not start at zero */
  c->rng = seed ? seed : 0x853c49e6748fea9bull;
}

/* xorshift64*: the only randomness, so a seed replays a whole run */
static uint64_t rnd(struct sh_choker *c)
{
  uint64_t x = c->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  c->rng = x;
  return x * 0x2545f4914f6cdd1dull;
}

static int elapsed(uint64_t now, uint64_t since, uint64_t ms)
{
  return now < since || now - since >= ms;
}

/* May this peer hold a slot at all? Only interested peers can use one; a
 * snubbed peer (BEP 3 "anti-snubbing": it sent nothing for 60 s though we
 * asked) loses its claim while we are downloading. When seeding we ask
 * nobody for anything, so snubbing does not apply. */
static int eligible(const struct sh_choke_peer *p, int seeding)
{
  return p->interested && (seeding || !p->snubbed);
}

/* Seeding order: 0 = unchoked and still in its turn, 1 = waiting (choked),
 * 2 = unchoked and its turn is over. */
static int seed_group(const struct sh_choke_peer *p, uint64_t now)
{
  if (!p->unchoked)
    return 1;
  return p->unchoked_ms && !elapsed(now, p->unchoked_ms, SH_SEED_TURN_MS) ? 0 : 2;
}

/* Does a rank before b? Total order (index last), so rounds are
 * reproducible. */
static int better(const struct sh_choke_peer *peers, size_t a, size_t b, int seeding,
                  uint64_t now)
{
  const struct sh_choke_peer *x = &peers[a], *y = &peers[b];
  if (seeding) {
    int gx = seed_group(x, now), gy = seed_group(y, now);
    if (gx != gy)
      return gx < gy;
    /* waiting peers: the one unchoked least recently first (never = 0) */
    if (gx == 1 && x->unchoked_ms != y->unchoked_ms)
      return x->unchoked_ms < y->unchoked_ms;
    /* otherwise those we can upload to fastest: they finish soonest and
     * start sharing with the rest of the swarm */
    if (x->up_rate != y->up_rate)
      return x->up_rate > y->up_rate;
  } else {
    /* tit-for-tat: who gives us the most */
    if (x->down_rate != y->down_rate)
      return x->down_rate > y->down_rate;
    /* ties keep the current holder: no choke/unchoke churn for nothing */
    if (x->unchoked != y->unchoked)
      return x->unchoked > y->unchoked;
  }
  if (x->connected_ms != y->connected_ms)
    return x->connected_ms < y->connected_ms;
  return a < b;
}

static size_t find(const struct sh_choke_peer *peers, size_t n, const void *id)
{
  for (size_t i = 0; i < n; i++)
    if (id && peers[i].id == id)
      return i;
  return n;
}

void sh_choker_round(struct sh_choker *c, struct sh_choke_peer *peers, size_t n, int seeding,
                     uint64_t now_ms)
{
  for (size_t i = 0; i < n; i++)
    peers[i].optimistic = V_CHOKED;

  /* The optimistic peer keeps its slot for 30 s (SH_OPTIMISTIC_INTERVAL_MS,
   * three choke rounds: long enough for it to get going and show what it
   * uploads) unless it left or no longer wants anything. */
  size_t opt = find(peers, n, c->optimistic);
  int keep = opt < n && eligible(&peers[opt], seeding) &&
             !elapsed(now_ms, c->optimistic_since, SH_OPTIMISTIC_INTERVAL_MS);
  /* When leeching, the optimistic peer competes for the regular slots too:
   * if its upload earns one it is promoted and the optimistic slot moves on
   * at once. When seeding it keeps to its slot, so it does not cut short
   * the turn of a regular holder. */
  if (keep && seeding)
    peers[opt].optimistic = V_OPTIMISTIC;

  int slots = c->slots > 0 ? c->slots : 0;
  for (int s = 0; s < slots; s++) {
    size_t best = n;
    for (size_t i = 0; i < n; i++)
      if (peers[i].optimistic == V_CHOKED && eligible(&peers[i], seeding) &&
          (best == n || better(peers, i, best, seeding, now_ms)))
        best = i;
    if (best == n)
      break;
    peers[best].optimistic = V_REGULAR;
  }
  if (keep && !seeding) {
    if (peers[opt].optimistic == V_REGULAR)
      keep = 0;
    else
      peers[opt].optimistic = V_OPTIMISTIC;
  }

  if (!keep) {
    /* A new optimistic peer among those left choked, weighted 3x when new;
     * the previous holder only when nobody else is waiting, so the slot
     * really rotates. */
    const void *prev = c->optimistic;
    uint64_t total = 0;
    int others = 0;
    for (size_t i = 0; i < n; i++)
      if (peers[i].optimistic == V_CHOKED && eligible(&peers[i], seeding) && peers[i].id != prev)
        others = 1;
    for (int pass = 0; pass < 2; pass++) {
      uint64_t r = pass ? rnd(c) % total : 0;
      for (size_t i = 0; i < n; i++) {
        struct sh_choke_peer *p = &peers[i];
        if (p->optimistic != V_CHOKED || !eligible(p, seeding) || (others && p->id == prev))
          continue;
        uint64_t w = elapsed(now_ms, p->connected_ms, NEW_PEER_MS) ? 1 : NEW_PEER_WEIGHT;
        if (!pass) {
          total += w;
        } else if (r < w) {
          p->optimistic = V_OPTIMISTIC;
          break;
        } else {
          r -= w;
        }
      }
      if (!total)
        break;
    }
    c->optimistic = NULL;
    for (size_t i = 0; i < n; i++)
      if (peers[i].optimistic == V_OPTIMISTIC)
        c->optimistic = peers[i].id;
    c->optimistic_since = now_ms;
  }

  for (size_t i = 0; i < n; i++) {
    struct sh_choke_peer *p = &peers[i];
    int up = p->optimistic != V_CHOKED;
    if (up && !p->unchoked)
      p->unchoked_ms = now_ms;
    p->unchoked = up;
    p->optimistic = p->optimistic == V_OPTIMISTIC;
  }
}
