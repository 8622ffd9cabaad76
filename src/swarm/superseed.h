/* Super-seeding (BEP 16): which piece a seed that pretends to have nothing
 * reveals to a peer next. Pure: the caller passes the counts.
 *
 * The seed sends each leecher a HAVE for one piece at a time (four here:
 * with one or two, the round trip between a leecher's HAVE and its request
 * for the next piece left the seed idle a quarter of the time; bench/swarm.sh
 * (a): 2 slots 47.2 s, 4 slots 44.1 s, 8 slots 44.5 s), and a new one once
 * the leecher has it: the piece the fewest others hold or were shown,
 * counting both the peers that announced it and the times the seed
 * revealed it, so the seed's upload goes to pieces the swarm lacks and each
 * leecher has something of its own to trade. BEP 16 holds the next piece
 * back until the last one is seen on a second peer; libtorrent does not,
 * and neither do we: a leecher alone with the seed would wait forever. */
#ifndef SHOAL_SWARM_SUPERSEED_H
#define SHOAL_SWARM_SUPERSEED_H

#include <stdint.h>

/* Pieces revealed to one peer at a time (see above). */
#define SH_SUPERSEED_SLOTS 4

/* How many connected peers hold a piece (the picker's availability). */
typedef uint32_t (*sh_superseed_avail_fn)(const void *ud, uint32_t piece);

/* The piece to reveal to a peer whose pieces are peer_bf (NULL: none):
 * the lowest avail(i) + revealed[i] among pieces it lacks and that are not
 * in skip[0..nskip), ties broken at random from *rng (xorshift, the
 * caller's state). -1 when it lacks nothing else. */
int64_t sh_superseed_pick(sh_superseed_avail_fn avail, const void *ud, const uint32_t *revealed,
                          uint32_t num_pieces, const uint8_t *peer_bf, const int64_t *skip,
                          int nskip, uint64_t *rng);

#endif
