/* The choker (BEP 3 "choking and optimistic unchoking", tit-for-tat as in
 * the original design). Pure: the caller passes its peers and the time.
 *
 * Every 10 s (SH_CHOKE_INTERVAL_MS) the `slots` regular unchoke slots go to
 * the interested peers that uploaded to us fastest over the last rounds;
 * snubbed peers (nothing received for 60 s though we asked) lose their slot.
 * One more slot is the optimistic unchoke, rotated every 30 s to a random
 * choked interested peer, newly connected peers weighted 3x, so new peers get
 * a chance to prove themselves. When seeding, peers are ranked by how fast we
 * upload to them, and the slot holders rotate so every interested peer is
 * served in turn.
 *
 * The rules exactly:
 *  - Only interested peers take slots; uninterested ones are choked (they
 *    could not use the bandwidth, and keeping them choked makes `slots` the
 *    real number of uploads). When a peer becomes interested while a slot is
 *    free, the caller may run a round at once: rounds are idempotent in
 *    between (rates aside), so an extra round costs nothing.
 *  - Leeching: the `slots` interested, unsnubbed peers with the highest
 *    down_rate; ties keep the current holder, then the longest connected.
 *  - Seeding: a slot holder keeps its slot for its turn of SH_SEED_TURN_MS
 *    after it was unchoked; then it ranks behind every waiting (choked)
 *    interested peer. Waiting peers are served least recently unchoked
 *    first (never-unchoked first of all). Within "in its turn" and "turn
 *    over", faster up_rate first. With P interested peers and S slots each
 *    peer waits at most about ceil(P / S) turns.
 *  - Optimistic: kept for SH_OPTIMISTIC_INTERVAL_MS while interested (and
 *    unsnubbed when leeching; when leeching a holder whose rate earns a
 *    regular slot is promoted and the optimistic slot moves on at once),
 *    then given to a random eligible peer not
 *    holding a regular slot, weight 3 for peers connected < 60 s, the
 *    previous holder only if no one else qualifies.
 * All randomness comes from `rng` (seeded by sh_choker_init): the same seed
 * and inputs give the same decisions. */
#ifndef SHOAL_CHOKER_H
#define SHOAL_CHOKER_H

#include <stddef.h>
#include <stdint.h>

#define SH_CHOKE_INTERVAL_MS 10000
#define SH_OPTIMISTIC_INTERVAL_MS 30000
#define SH_SNUB_MS 60000
#define SH_SEED_TURN_MS 30000 /* one seeding turn: three choke rounds */

struct sh_choke_peer {
  const void *id;        /* opaque, stable while the peer is connected */
  uint64_t down_rate;    /* bytes/s received from the peer */
  uint64_t up_rate;      /* bytes/s sent to the peer */
  uint64_t connected_ms; /* when the connection was made */
  uint64_t unchoked_ms;  /* when we last unchoked it, 0 if never; in/out: a
                            round that unchokes a choked peer sets it */
  int interested;        /* it is interested in us */
  int snubbed;
  int unchoked;          /* in: current state; out: decision */
  int optimistic;        /* out: holds the optimistic slot */
};

struct sh_choker {
  int slots;                 /* regular unchoke slots (default 4) */
  const void *optimistic;    /* current optimistic peer, or NULL */
  uint64_t optimistic_since;
  uint64_t rng;
};

/* slots <= 0 means 4. The struct is the caller's (embedded in the session or
 * torrent); it holds no pointers it owns. `optimistic` is only compared. */
void sh_choker_init(struct sh_choker *c, int slots, uint64_t seed);
/* One round over n peers; sets unchoked/optimistic on each. Call every
 * SH_CHOKE_INTERVAL_MS, and when a peer that held a slot leaves. */
void sh_choker_round(struct sh_choker *c, struct sh_choke_peer *peers, size_t n, int seeding,
                     uint64_t now_ms);

#endif
