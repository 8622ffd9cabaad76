/* Super-seeding's choice of piece; see superseed.h. One pass over the
 * pieces per reveal: a reveal happens once per piece a leecher completes,
 * so even 100,000 pieces cost a fraction of what hashing the piece did. */
#include "swarm/superseed.h"

#include <stddef.h>

#include "base/bitfield.h"

static uint64_t next(uint64_t *s)
{
  uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545f4914f6cdd1dull;
}

int64_t sh_superseed_pick(sh_superseed_avail_fn avail, const void *ud, const uint32_t *revealed,
                          uint32_t num_pieces, const uint8_t *peer_bf, const int64_t *skip,
                          int nskip, uint64_t *rng)
{
  int64_t best = -1;
  uint64_t best_score = UINT64_MAX, ties = 0;
  for (uint32_t i = 0; i < num_pieces; i++) {
    if (peer_bf && sh_bf_get(peer_bf, i))
      continue;
    int skipped = 0;
    for (int k = 0; k < nskip; k++)
      skipped |= skip[k] == (int64_t)i;
    if (skipped)
      continue;
    uint64_t score = (uint64_t)avail(ud, i) + revealed[i];
    if (score < best_score) {
      best_score = score;
      best = i;
      ties = 1;
    } else if (score == best_score && next(rng) % ++ties == 0) {
      best = i; /* reservoir sampling: each tie equally likely */
    }
  }
  return best;
}
