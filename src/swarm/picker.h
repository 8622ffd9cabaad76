/* The piece picker: which 16 KiB blocks to request from which peer.
 *
 * Order (BEP 3 "piece downloading strategy", and the original design):
 *   0. from a seed (peer_bf NULL), only pieces no other connected peer has,
 *      started ones first, while there are any: the seed's upload is the
 *      only way new pieces enter the swarm, so it is not spent on pieces
 *      the leechers can pass on; when none is left, the order below;
 *   1. strict priority: blocks of pieces already started come first, so few
 *      pieces are partial at a time and each one completes quickly;
 *   2. random first: until `random_first` pieces are complete, new pieces are
 *      picked at random, so a fresh peer soon has something to trade;
 *   3. rarest first: then the wanted piece the fewest peers have;
 *   4. endgame: once every missing block is requested, blocks already in
 *      flight elsewhere may be requested again (the caller cancels the
 *      duplicates when one arrives).
 * At most `max_partial` pieces are partial at once (2 * max_partial counting
 * pieces stranded by departed peers): this bounds the memory the engine
 * holds for pieces in flight.
 *
 * Pure: no I/O, no clock; randomness from a seed. One picker per torrent,
 * owned by the torrent, used from the loop thread only. */
#ifndef SHOAL_PICKER_H
#define SHOAL_PICKER_H

#include <stddef.h>
#include <stdint.h>

struct sh_block {
  uint32_t piece, begin, length;
};

struct sh_picker_opts {
  uint32_t num_pieces;
  uint32_t piece_length;
  uint64_t total_length;
  uint32_t max_partial;   /* pieces in flight; 0 means 64 */
  uint32_t random_first;  /* 0 means 4 */
  uint64_t seed;
};

struct sh_picker;

struct sh_picker *sh_picker_new(const struct sh_picker_opts *o);
void sh_picker_free(struct sh_picker *p);

/* Our own state. */
void sh_picker_have(struct sh_picker *p, uint32_t piece);      /* verified and written */
/* Default: all wanted. Unwanting a piece already in flight lets it finish
 * (at most max_partial pieces); it is then had but not needed. */
void sh_picker_set_wanted(struct sh_picker *p, uint32_t piece, int wanted);
int sh_picker_complete(const struct sh_picker *p);             /* every wanted piece had */
uint32_t sh_picker_have_count(const struct sh_picker *p);
/* No block is left to ask anyone for: every needed piece that some peer
 * has is partial with all its blocks requested or received. */
int sh_picker_all_requested(const struct sh_picker *p);
/* All requested and some block still on its way: duplicate requests for
 * those blocks are worth sending. */
int sh_picker_in_endgame(const struct sh_picker *p);

/* Availability: what connected peers have. A seed (have-all) is counted once
 * for every piece. peer_lost undoes peer_bitfield/peer_have for that peer:
 * pass the peer's final bitfield (its bitfield plus every have). Call
 * peer_have only when the peer's bit goes from 0 to 1 (a peer repeating a
 * have must not inflate the count). A peer picked for with peer_bf NULL
 * must have been registered with peer_have_all. */
void sh_picker_peer_bitfield(struct sh_picker *p, const uint8_t *bf);
void sh_picker_peer_have_all(struct sh_picker *p);
void sh_picker_peer_have(struct sh_picker *p, uint32_t piece);
void sh_picker_peer_lost(struct sh_picker *p, const uint8_t *bf, int had_all);
/* Connected peers (seeds not counted) that have the piece. */
uint32_t sh_picker_availability(const struct sh_picker *p, uint32_t piece);
/* Would we want anything from a peer with this bitfield (NULL = has all)? */
int sh_picker_interesting(const struct sh_picker *p, const uint8_t *peer_bf);

/* Picks up to max blocks for a peer whose pieces are peer_bf (NULL = all),
 * marks them requested and writes them to out; returns how many. In endgame
 * it may return blocks requested from other peers; `skip` (may be NULL) is
 * asked about each such block and returns non-zero for blocks this peer has
 * already requested (blocks returned earlier in the same call are never
 * repeated). Endgame duplicates go to the least-duplicated blocks first.
 * Endgame holds when no wanted piece that any peer has is left unstarted
 * and every free block of a started piece is on no connected peer.
 * max_partial bounds the started pieces that some connected peer can
 * complete: a peer that has only unstarted pieces while those slots are
 * busy gets nothing until one frees up. Started pieces stranded by departed
 * peers (no connected peer has them) do not count, up to 2 * max_partial
 * started pieces in all, so they cannot stall the download. */
typedef int (*sh_picker_skip_fn)(void *ud, uint32_t piece, uint32_t begin);
int sh_picker_pick(struct sh_picker *p, const uint8_t *peer_bf, struct sh_block *out, int max,
                   sh_picker_skip_fn skip, void *ud);

/* A requested block arrived. Returns 1 when that completes the piece (every
 * block received: hash it now), 0 when not, -1 when the block was not
 * expected (piece not in flight or already had, block already received,
 * begin not a block boundary: drop the data). A late answer to an aborted
 * request of a piece still in flight is accepted. The engine checks on its
 * own that the peer was asked for the block (BEP 6: unrequested data is a
 * protocol violation). */
int sh_picker_received(struct sh_picker *p, uint32_t piece, uint32_t begin);
/* A request will not be answered (choke, reject, timeout, peer gone): the
 * block may be picked again. A started piece left with nothing received and
 * nothing in flight goes back to the unstarted pieces, so pieces only a
 * departed peer had do not hold max_partial slots. */
void sh_picker_abort(struct sh_picker *p, uint32_t piece, uint32_t begin);
/* The piece failed its hash check: every block is wanted again (the piece
 * returns to the unstarted pieces, so a slot is never held by a piece no
 * peer can give us). */
void sh_picker_failed(struct sh_picker *p, uint32_t piece);

/* For tests and debug builds: verifies every internal invariant (the
 * availability ordering, counters, per-block state). O(num_pieces + blocks
 * in flight). Returns 0, or -1 when the picker is corrupt. */
int sh_picker_selfcheck(const struct sh_picker *p);

#endif
