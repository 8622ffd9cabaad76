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
 * served in turn. */
#ifndef SHOAL_CHOKER_H
#define SHOAL_CHOKER_H

#include <stddef.h>
#include <stdint.h>

#define SH_CHOKE_INTERVAL_MS 10000
#define SH_OPTIMISTIC_INTERVAL_MS 30000
#define SH_SNUB_MS 60000

struct sh_choke_peer {
  const void *id;        /* opaque, stable while the peer is connected */
  uint64_t down_rate;    /* bytes/s received from the peer */
  uint64_t up_rate;      /* bytes/s sent to the peer */
  uint64_t connected_ms; /* when the connection was made */
  uint64_t unchoked_ms;  /* when we last unchoked it, 0 if never */
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

void sh_choker_init(struct sh_choker *c, int slots, uint64_t seed);
/* One round over n peers; sets unchoked/optimistic on each. Call every
 * SH_CHOKE_INTERVAL_MS, and when a peer that held a slot leaves. */
void sh_choker_round(struct sh_choker *c, struct sh_choke_peer *peers, size_t n, int seeding,
                     uint64_t now_ms);

#endif
