/* The piece picker; the order it follows is described in picker.h.
 *
 * Data layout, chosen for ~64k blocks/s (1 GB/s of 16 KiB blocks):
 *  - per piece: availability (peers with a bitfield/have that hold it), a
 *    "need" bit (wanted and not had) and the slot of its partial state;
 *  - candidates (wanted, not had, not started) sit in one array sorted by
 *    availability, with the start of each availability bucket recorded. A
 *    have/bitfield moves a piece one bucket up with one swap, so availability
 *    upkeep is O(1) per piece and per peer message, and the rarest pieces
 *    are always at the front; ties are broken by a random scan offset. Seeds (have-all) are a separate counter: they
 *    add the same amount to every piece and so never change the order;
 *  - per-block state only for partial pieces (at most 2 * max_partial):
 *    one byte per block, 0 free, 1..254 outstanding requests, 255 received.
 * Picking a block from a partial piece is amortised O(1) through a cursor;
 * only starting a new piece may scan the candidates (O(num_pieces) worst
 * case, when the peer has none of the rare ones). */
#include "swarm/picker.h"

#include <stdlib.h>
#include <string.h>

#include "base/bitfield.h"
#include "base/block.h"

#define BLK_FREE 0
#define BLK_GOT 255
#define BLK_MAXREQ 254 /* outstanding requests saturate here */
#define NOPOS UINT32_MAX

struct partial {
  uint32_t piece;    /* NOPOS when the slot is unused */
  uint32_t nblocks;
  uint32_t nfree;    /* blocks neither requested nor received */
  uint32_t ngot;     /* blocks received */
  uint32_t cursor;   /* no free block below this index */
  uint32_t cap;      /* bytes allocated in st */
  uint8_t *st;       /* per-block state */
};

struct sh_picker {
  uint32_t num_pieces, piece_length;
  uint64_t total_length;
  uint32_t blocks_per_piece, last_piece_blocks;
  uint32_t last_piece_len;
  uint32_t max_partial, random_first;
  uint32_t part_cap;  /* slots: 2 * max_partial, see stranded() */
  uint64_t rng;

  uint8_t *have;      /* bitfield */
  uint8_t *wanted;    /* bitfield */
  uint8_t *need;      /* bitfield: wanted && !have */
  uint32_t have_count, need_count;
  uint32_t *avail;    /* per piece, not counting seeds */
  uint32_t seeds;

  uint32_t *order;    /* candidates sorted by availability */
  uint32_t *pos;      /* piece -> index in order, or NOPOS */
  uint32_t ncand;
  uint32_t *bstart;   /* bucket a is order[bstart[a] .. bstart[a+1]) */
  uint32_t nbuckets;  /* buckets 0..nbuckets-1; bstart has nbuckets+1 entries */

  int32_t *slot_of;   /* piece -> partial slot, or -1 */
  struct partial *parts;
  uint32_t nparts;    /* slots in use */
};

/* splitmix64: small, seedable, good enough for tie-breaking */
static uint64_t rnd(struct sh_picker *p)
{
  uint64_t z = (p->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint32_t rnd_below(struct sh_picker *p, uint32_t n) { return (uint32_t)(rnd(p) % n); }

static uint32_t piece_blocks(const struct sh_picker *p, uint32_t piece)
{
  return piece + 1 == p->num_pieces ? p->last_piece_blocks : p->blocks_per_piece;
}

static uint32_t piece_len(const struct sh_picker *p, uint32_t piece)
{
  return piece + 1 == p->num_pieces ? p->last_piece_len : p->piece_length;
}

/* ---- the availability-sorted candidate array ---- */

static void swap_pos(struct sh_picker *p, uint32_t i, uint32_t j)
{
  uint32_t a = p->order[i], b = p->order[j];
  p->order[i] = b;
  p->order[j] = a;
  p->pos[b] = i;
  p->pos[a] = j;
}

/* Makes bucket `a` exist (empty buckets at the top start at ncand). */
static int grow_buckets(struct sh_picker *p, uint32_t a)
{
  if (a < p->nbuckets)
    return 0;
  uint32_t n = p->nbuckets;
  while (n <= a)
    n *= 2;
  uint32_t *nb = realloc(p->bstart, ((size_t)n + 1) * sizeof *nb);
  if (!nb)
    return -1;
  for (uint32_t i = p->nbuckets + 1; i <= n; i++)
    nb[i] = p->ncand;
  p->bstart = nb;
  p->nbuckets = n;
  return 0;
}

static void cand_insert(struct sh_picker *p, uint32_t piece)
{
  uint32_t a = p->avail[piece];
  /* append at the end (top bucket) and sink to bucket a, one swap per
   * bucket crossed: O(number of buckets), i.e. O(peers) */
  uint32_t cur = p->ncand++;
  p->order[cur] = piece;
  p->pos[piece] = cur;
  p->bstart[p->nbuckets] = p->ncand;
  for (uint32_t b = p->nbuckets - 1; b > a; b--) {
    uint32_t first = p->bstart[b];
    swap_pos(p, cur, first);
    cur = first;
    p->bstart[b]++;
  }
}

static void cand_remove(struct sh_picker *p, uint32_t piece)
{
  uint32_t cur = p->pos[piece];
  if (cur == NOPOS)
    return;
  /* rise to the end of the array, bucket by bucket, then drop off */
  for (uint32_t b = p->avail[piece] + 1; b <= p->nbuckets; b++) {
    uint32_t last = p->bstart[b] - 1;
    swap_pos(p, cur, last);
    cur = last;
    p->bstart[b]--;
  }
  p->ncand--;
  p->pos[piece] = NOPOS;
}

static void avail_inc(struct sh_picker *p, uint32_t piece)
{
  uint32_t a = p->avail[piece];
  if (grow_buckets(p, a + 1) != 0)
    return; /* out of memory: availability is advice, keep the old count */
  uint32_t cur = p->pos[piece];
  if (cur != NOPOS) {
    uint32_t last = p->bstart[a + 1] - 1;
    swap_pos(p, cur, last);
    p->bstart[a + 1]--;
  }
  p->avail[piece] = a + 1;
}

static void avail_dec(struct sh_picker *p, uint32_t piece)
{
  uint32_t a = p->avail[piece];
  if (a == 0)
    return;
  uint32_t cur = p->pos[piece];
  if (cur != NOPOS) {
    uint32_t first = p->bstart[a];
    swap_pos(p, cur, first);
    p->bstart[a]++;
  }
  p->avail[piece] = a - 1;
}

/* ---- lifecycle ---- */

struct sh_picker *sh_picker_new(const struct sh_picker_opts *o)
{
  if (o->num_pieces == 0 || o->piece_length == 0 ||
      o->total_length > (uint64_t)o->num_pieces * o->piece_length ||
      o->total_length <= (uint64_t)(o->num_pieces - 1) * o->piece_length)
    return NULL;
  struct sh_picker *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  uint32_t n = o->num_pieces;
  p->num_pieces = n;
  p->piece_length = o->piece_length;
  p->total_length = o->total_length;
  p->blocks_per_piece = (o->piece_length + SH_BLOCK_SIZE - 1) / SH_BLOCK_SIZE;
  p->last_piece_len = (uint32_t)(o->total_length - (uint64_t)(n - 1) * o->piece_length);
  p->last_piece_blocks = (p->last_piece_len + SH_BLOCK_SIZE - 1) / SH_BLOCK_SIZE;
  p->max_partial = o->max_partial ? o->max_partial : 64;
  if (p->max_partial > n)
    p->max_partial = n;
  p->part_cap = p->max_partial > n / 2 ? n : 2 * p->max_partial;
  p->random_first = o->random_first ? o->random_first : 4;
  p->rng = o->seed;

  size_t bfl = SH_BF_BYTES(n);
  p->have = calloc(bfl, 1);
  p->wanted = malloc(bfl);
  p->need = malloc(bfl);
  p->avail = calloc(n, sizeof *p->avail);
  p->order = malloc((size_t)n * sizeof *p->order);
  p->pos = malloc((size_t)n * sizeof *p->pos);
  p->nbuckets = 8;
  p->bstart = calloc(p->nbuckets + 1, sizeof *p->bstart);
  p->slot_of = malloc((size_t)n * sizeof *p->slot_of);
  p->parts = calloc(p->part_cap, sizeof *p->parts);
  if (!p->have || !p->wanted || !p->need || !p->avail || !p->order || !p->pos || !p->bstart ||
      !p->slot_of || !p->parts) {
    sh_picker_free(p);
    return NULL;
  }
  memset(p->wanted, 0xff, bfl);
  if (n & 7) /* keep spare bits clear so byte-wise scans stay exact */
    p->wanted[bfl - 1] &= (uint8_t)(0xff00 >> (n & 7));
  memcpy(p->need, p->wanted, bfl);
  p->need_count = n;
  for (uint32_t i = 0; i < n; i++) {
    p->order[i] = i;
    p->pos[i] = i;
    p->slot_of[i] = -1;
  }
  /* every piece starts at availability 0: all in bucket 0 */
  p->ncand = n;
  for (uint32_t b = 1; b <= p->nbuckets; b++)
    p->bstart[b] = n;
  /* Shuffled once (seeded), so the random scan offset lands on a random
   * piece even when the peer's pieces are clustered, and different
   * downloaders favour different pieces. */
  for (uint32_t i = n - 1; i > 0; i--)
    swap_pos(p, i, rnd_below(p, i + 1));
  for (uint32_t s = 0; s < p->part_cap; s++)
    p->parts[s].piece = NOPOS;
  return p;
}

void sh_picker_free(struct sh_picker *p)
{
  if (!p)
    return;
  if (p->parts)
    for (uint32_t s = 0; s < p->part_cap; s++)
      free(p->parts[s].st);
  free(p->parts);
  free(p->slot_of);
  free(p->bstart);
  free(p->pos);
  free(p->order);
  free(p->avail);
  free(p->need);
  free(p->wanted);
  free(p->have);
  free(p);
}

/* ---- partial pieces ---- */

static struct partial *part_of(const struct sh_picker *p, uint32_t piece)
{
  int32_t s = p->slot_of[piece];
  return s < 0 ? NULL : &p->parts[s];
}

/* Starts piece: takes a free slot; the caller checked nparts < part_cap. */
static struct partial *part_start(struct sh_picker *p, uint32_t piece)
{
  uint32_t s = 0;
  while (p->parts[s].piece != NOPOS)
    s++;
  struct partial *pp = &p->parts[s];
  uint32_t nb = piece_blocks(p, piece);
  if (pp->cap < nb) {
    uint8_t *st = realloc(pp->st, nb);
    if (!st)
      return NULL;
    pp->st = st;
    pp->cap = nb;
  }
  memset(pp->st, BLK_FREE, nb);
  pp->piece = piece;
  pp->nblocks = nb;
  pp->nfree = nb;
  pp->ngot = 0;
  pp->cursor = 0;
  p->slot_of[piece] = (int32_t)s;
  p->nparts++;
  cand_remove(p, piece);
  return pp;
}

static void part_release(struct sh_picker *p, struct partial *pp)
{
  p->slot_of[pp->piece] = -1;
  pp->piece = NOPOS;
  p->nparts--;
}

/* A partial that holds nothing (no block received, none in flight) goes back
 * to the candidates: otherwise pieces only a departed peer had could fill
 * every slot and stall the download. */
static void part_maybe_drop(struct sh_picker *p, struct partial *pp)
{
  if (pp->ngot || pp->nfree != pp->nblocks)
    return;
  uint32_t piece = pp->piece;
  part_release(p, pp);
  if (sh_bf_get(p->need, piece))
    cand_insert(p, piece);
}

/* ---- our own state ---- */

void sh_picker_have(struct sh_picker *p, uint32_t piece)
{
  if (piece >= p->num_pieces || sh_bf_get(p->have, piece))
    return;
  struct partial *pp = part_of(p, piece);
  if (pp)
    part_release(p, pp);
  cand_remove(p, piece);
  sh_bf_set(p->have, piece);
  p->have_count++;
  if (sh_bf_get(p->need, piece)) {
    sh_bf_clear(p->need, piece);
    p->need_count--;
  }
}

void sh_picker_set_wanted(struct sh_picker *p, uint32_t piece, int wanted)
{
  if (piece >= p->num_pieces || !!wanted == sh_bf_get(p->wanted, piece))
    return;
  if (wanted) {
    sh_bf_set(p->wanted, piece);
    if (!sh_bf_get(p->have, piece)) {
      sh_bf_set(p->need, piece);
      p->need_count++;
      if (!part_of(p, piece))
        cand_insert(p, piece);
    }
  } else {
    sh_bf_clear(p->wanted, piece);
    if (sh_bf_get(p->need, piece)) {
      sh_bf_clear(p->need, piece);
      p->need_count--;
    }
    /* A piece already in flight is finished: its blocks are on their way
     * and the engine holds its buffer (at most max_partial pieces). One
     * started but holding nothing is simply dropped. */
    cand_remove(p, piece);
    struct partial *pp = part_of(p, piece);
    if (pp)
      part_maybe_drop(p, pp);
  }
}

int sh_picker_complete(const struct sh_picker *p) { return p->need_count == 0; }

uint32_t sh_picker_have_count(const struct sh_picker *p) { return p->have_count; }

/* Candidates some connected peer could give us. Bucket 0 holds pieces no
 * peer with a bitfield has; with a seed connected they are available too. */
static uint32_t available_candidates(const struct sh_picker *p)
{
  if (p->seeds)
    return p->ncand;
  return p->ncand - (p->bstart[1] - p->bstart[0]);
}

int sh_picker_all_requested(const struct sh_picker *p)
{
  if (available_candidates(p) > 0)
    return 0;
  for (uint32_t s = 0; s < p->part_cap; s++) {
    const struct partial *pp = &p->parts[s];
    if (pp->piece != NOPOS && sh_bf_get(p->need, pp->piece) && pp->nfree &&
        (p->seeds || p->avail[pp->piece]))
      return 0; /* a block is still free and someone has it */
  }
  return 1;
}

int sh_picker_in_endgame(const struct sh_picker *p)
{
  if (p->need_count == 0 || !sh_picker_all_requested(p))
    return 0;
  for (uint32_t s = 0; s < p->part_cap; s++) {
    const struct partial *pp = &p->parts[s];
    if (pp->piece != NOPOS && sh_bf_get(p->need, pp->piece) && pp->ngot < pp->nblocks)
      return 1;
  }
  return 0; /* every block already arrived: nothing left to duplicate */
}

/* ---- availability ---- */

void sh_picker_peer_bitfield(struct sh_picker *p, const uint8_t *bf)
{
  size_t nbytes = SH_BF_BYTES(p->num_pieces);
  for (size_t i = 0; i < nbytes; i++) {
    if (!bf[i])
      continue; /* a fresh peer's bitfield is mostly zero bytes */
    for (uint32_t j = (uint32_t)i * 8; j < (uint32_t)i * 8 + 8 && j < p->num_pieces; j++)
      if (sh_bf_get(bf, j))
        avail_inc(p, j);
  }
}

void sh_picker_peer_have_all(struct sh_picker *p) { p->seeds++; }

void sh_picker_peer_have(struct sh_picker *p, uint32_t piece)
{
  if (piece < p->num_pieces)
    avail_inc(p, piece);
}

void sh_picker_peer_lost(struct sh_picker *p, const uint8_t *bf, int had_all)
{
  if (had_all) {
    if (p->seeds)
      p->seeds--;
    return;
  }
  if (!bf)
    return;
  size_t nbytes = SH_BF_BYTES(p->num_pieces);
  for (size_t i = 0; i < nbytes; i++) {
    if (!bf[i])
      continue;
    for (uint32_t j = (uint32_t)i * 8; j < (uint32_t)i * 8 + 8 && j < p->num_pieces; j++)
      if (sh_bf_get(bf, j))
        avail_dec(p, j);
  }
}

uint32_t sh_picker_availability(const struct sh_picker *p, uint32_t piece)
{
  return piece < p->num_pieces ? p->avail[piece] : 0;
}

int sh_picker_interesting(const struct sh_picker *p, const uint8_t *peer_bf)
{
  if (!peer_bf)
    return p->need_count > 0;
  if (p->need_count == 0)
    return 0;
  size_t nbytes = SH_BF_BYTES(p->num_pieces);
  for (size_t i = 0; i < nbytes; i++)
    if (p->need[i] & peer_bf[i])
      return 1;
  return 0;
}

/* ---- picking ---- */

static int peer_has(const uint8_t *bf, uint32_t piece) { return !bf || sh_bf_get(bf, piece); }

static void emit(const struct sh_picker *p, struct sh_block *b, uint32_t piece, uint32_t blk)
{
  uint32_t plen = piece_len(p, piece);
  b->piece = piece;
  b->begin = blk * SH_BLOCK_SIZE;
  b->length = plen - b->begin < SH_BLOCK_SIZE ? plen - b->begin : SH_BLOCK_SIZE;
}

/* Takes up to max free blocks of pp, in order. */
static int take_free(struct sh_picker *p, struct partial *pp, struct sh_block *out, int max)
{
  int n = 0;
  uint32_t i = pp->cursor;
  while (n < max && pp->nfree && i < pp->nblocks) {
    if (pp->st[i] == BLK_FREE) {
      pp->st[i] = 1;
      pp->nfree--;
      emit(p, &out[n++], pp->piece, i);
    }
    i++;
  }
  /* every block below i is taken now, so the next scan starts there */
  pp->cursor = i;
  return n;
}

/* First piece the peer has in order[lo..hi), starting the scan at a random
 * offset and wrapping: a random choice among equally ranked pieces at O(1)
 * expected cost when the peer has most of them, O(hi - lo) at worst. */
static uint32_t scan_from_random(struct sh_picker *p, const uint8_t *bf, uint32_t lo, uint32_t hi)
{
  if (lo >= hi)
    return NOPOS;
  uint32_t n = hi - lo, start = rnd_below(p, n);
  for (uint32_t k = 0; k < n; k++) {
    uint32_t i = lo + (start + k < n ? start + k : start + k - n);
    if (peer_has(bf, p->order[i]))
      return p->order[i];
  }
  return NOPOS;
}

/* The next piece to start for this peer, or NOPOS. */
static uint32_t choose_new(struct sh_picker *p, const uint8_t *bf)
{
  if (p->ncand == 0)
    return NOPOS;
  /* random first: any candidate the peer has, so a fresh download soon has
   * whole pieces to trade, whatever their rarity */
  if (p->have_count < p->random_first)
    return scan_from_random(p, bf, 0, p->ncand);
  /* rarest first: the first bucket (lowest availability) that holds a piece
   * the peer has; ties inside it broken at random */
  for (uint32_t b = 0; b < p->nbuckets; b++) {
    uint32_t piece = scan_from_random(p, bf, p->bstart[b], p->bstart[b + 1]);
    if (piece != NOPOS)
      return piece;
    if (p->bstart[b + 1] >= p->ncand)
      break;
  }
  return NOPOS;
}

static int in_out(const struct sh_block *out, int n, uint32_t piece, uint32_t begin)
{
  for (int i = 0; i < n; i++)
    if (out[i].piece == piece && out[i].begin == begin)
      return 1;
  return 0;
}

/* Endgame: blocks already requested elsewhere, the least duplicated first,
 * never one the skip callback says this peer already asked for, nor one
 * this same call returns already (out[0..n0) are this call's picks, which
 * the caller's skip cannot know about yet). Results go to out + n0. */
static int pick_endgame(struct sh_picker *p, const uint8_t *bf, struct sh_block *base, int n0,
                        int max, sh_picker_skip_fn skip, void *ud)
{
  struct sh_block *out = base + n0;
  int n = 0;
  for (uint32_t level = 1; level < BLK_MAXREQ && n < max; level++) {
    int more = 0; /* any block with more requests than this level? */
    for (uint32_t s = 0; s < p->part_cap && n < max; s++) {
      struct partial *pp = &p->parts[s];
      if (pp->piece == NOPOS || !peer_has(bf, pp->piece))
        continue;
      for (uint32_t i = 0; i < pp->nblocks && n < max; i++) {
        uint8_t st = pp->st[i];
        if (st == BLK_FREE || st == BLK_GOT)
          continue;
        if (st > level) {
          more = 1;
          continue;
        }
        if (st < level)
          continue;
        if (skip && skip(ud, pp->piece, i * SH_BLOCK_SIZE))
          continue;
        if (in_out(base, n0 + n, pp->piece, i * SH_BLOCK_SIZE))
          continue; /* this call already gave the peer this block */
        pp->st[i]++;
        emit(p, &out[n++], pp->piece, i);
      }
    }
    if (!more)
      break;
  }
  return n;
}

/* Partial pieces that no connected peer has (their holders left with blocks
 * still missing). They keep their received blocks, but do not count toward
 * max_partial, up to part_cap = 2 * max_partial slots in all: otherwise one
 * departed peer could leave every slot stranded while the peers still here
 * have other pieces to give. */
static uint32_t stranded(const struct sh_picker *p)
{
  if (p->seeds)
    return 0;
  uint32_t k = 0;
  for (uint32_t s = 0; s < p->part_cap; s++)
    k += p->parts[s].piece != NOPOS && p->parts[s].nfree && !p->avail[p->parts[s].piece];
  return k;
}

/* Room for one more started piece within max_partial. */
static int may_start(const struct sh_picker *p)
{
  return p->nparts < p->part_cap && p->nparts - stranded(p) < p->max_partial;
}

/* For a seed: blocks of pieces no other connected peer has, started ones
 * first, then new ones (all equally rare: at random). Every block a seed
 * sends of a piece some leecher already has is a block that leecher could
 * have sent instead, while the seed alone can add pieces to the swarm; a
 * seed uploading 20 MiB/s to 8 leechers uploading 4 MiB/s each spent about
 * a third of its upload on such blocks, and the leechers' uplinks then
 * idled for lack of pieces the others lacked. */
static int pick_unique(struct sh_picker *p, struct sh_block *out, int max)
{
  int n = 0;
  for (uint32_t s = 0; s < p->part_cap && n < max; s++) {
    struct partial *pp = &p->parts[s];
    if (pp->piece != NOPOS && pp->nfree && !p->avail[pp->piece])
      n += take_free(p, pp, out + n, max - n);
  }
  while (n < max && may_start(p)) {
    uint32_t piece = scan_from_random(p, NULL, p->bstart[0], p->bstart[1]);
    struct partial *pp = piece == NOPOS ? NULL : part_start(p, piece);
    if (!pp)
      break;
    n += take_free(p, pp, out + n, max - n);
  }
  return n;
}

int sh_picker_pick(struct sh_picker *p, const uint8_t *peer_bf, struct sh_block *out, int max,
                   sh_picker_skip_fn skip, void *ud)
{
  if (max <= 0 || (p->need_count == 0 && p->nparts == 0))
    return 0;
  /* 0. from a seed, what only seeds have, while there is any */
  int n = peer_bf ? 0 : pick_unique(p, out, max);
  if (n)
    return n;
  /* 1. strict priority: finish what is started */
  for (uint32_t s = 0; s < p->part_cap && n < max; s++) {
    struct partial *pp = &p->parts[s];
    if (pp->piece != NOPOS && pp->nfree && peer_has(peer_bf, pp->piece))
      n += take_free(p, pp, out + n, max - n);
  }
  /* 2./3. new pieces, random first then rarest first, within max_partial */
  while (n < max && may_start(p)) {
    uint32_t piece = choose_new(p, peer_bf);
    if (piece == NOPOS)
      break;
    struct partial *pp = part_start(p, piece);
    if (!pp)
      break;
    n += take_free(p, pp, out + n, max - n);
  }
  /* 4. endgame */
  if (n < max && sh_picker_in_endgame(p))
    n += pick_endgame(p, peer_bf, out, n, max - n, skip, ud);
  return n;
}

/* The partial state and block number of (piece, begin), or NULL. */
static struct partial *locate(const struct sh_picker *p, uint32_t piece, uint32_t begin,
                              uint32_t *blk)
{
  if (piece >= p->num_pieces || begin % SH_BLOCK_SIZE)
    return NULL;
  struct partial *pp = part_of(p, piece);
  if (!pp || begin / SH_BLOCK_SIZE >= pp->nblocks)
    return NULL;
  *blk = begin / SH_BLOCK_SIZE;
  return pp;
}

int sh_picker_received(struct sh_picker *p, uint32_t piece, uint32_t begin)
{
  uint32_t i;
  struct partial *pp = locate(p, piece, begin, &i);
  if (!pp || pp->st[i] == BLK_GOT)
    return -1;
  if (pp->st[i] == BLK_FREE)
    pp->nfree--; /* a late answer to an aborted request: still welcome */
  pp->st[i] = BLK_GOT;
  pp->ngot++;
  return pp->ngot == pp->nblocks;
}

void sh_picker_abort(struct sh_picker *p, uint32_t piece, uint32_t begin)
{
  uint32_t i;
  struct partial *pp = locate(p, piece, begin, &i);
  if (!pp || pp->st[i] == BLK_FREE || pp->st[i] == BLK_GOT)
    return;
  if (pp->st[i] < BLK_MAXREQ) /* a saturated count stays: the block is in flight */
    pp->st[i]--;
  if (pp->st[i] == BLK_FREE) {
    pp->nfree++;
    if (i < pp->cursor)
      pp->cursor = i;
    part_maybe_drop(p, pp);
  }
}

void sh_picker_failed(struct sh_picker *p, uint32_t piece)
{
  struct partial *pp = piece < p->num_pieces ? part_of(p, piece) : NULL;
  if (!pp)
    return;
  /* every block again. With nothing left in flight the piece goes back to
   * the unstarted ones (and into its availability bucket) rather than
   * holding a slot no connected peer may be able to fill; a wanted piece
   * at the front of its bucket is soon picked again anyway. */
  memset(pp->st, BLK_FREE, pp->nblocks);
  pp->nfree = pp->nblocks;
  pp->ngot = 0;
  pp->cursor = 0;
  part_maybe_drop(p, pp);
}

int sh_picker_selfcheck(const struct sh_picker *p)
{
  if (p->bstart[0] != 0 || p->bstart[p->nbuckets] != p->ncand)
    return -1;
  for (uint32_t b = 0; b < p->nbuckets; b++)
    if (p->bstart[b] > p->bstart[b + 1])
      return -1;
  for (uint32_t i = 0; i < p->ncand; i++) {
    uint32_t piece = p->order[i], a = p->avail[piece];
    if (piece >= p->num_pieces || p->pos[piece] != i || a >= p->nbuckets ||
        i < p->bstart[a] || i >= p->bstart[a + 1])
      return -1;
  }
  uint32_t have = 0, need = 0, ncand = 0, nparts = 0;
  for (uint32_t i = 0; i < p->num_pieces; i++) {
    int h = sh_bf_get(p->have, i), w = sh_bf_get(p->wanted, i), nd = sh_bf_get(p->need, i);
    have += (uint32_t)h;
    need += (uint32_t)nd;
    if (nd != (w && !h))
      return -1;
    int cand = nd && p->slot_of[i] < 0;
    if (cand != (p->pos[i] != NOPOS))
      return -1;
    ncand += (uint32_t)cand;
    if (p->slot_of[i] >= 0 && (h || p->parts[p->slot_of[i]].piece != i))
      return -1;
  }
  for (uint32_t s = 0; s < p->part_cap; s++) {
    const struct partial *pp = &p->parts[s];
    if (pp->piece == NOPOS)
      continue;
    nparts++;
    uint32_t nfree = 0, ngot = 0;
    for (uint32_t i = 0; i < pp->nblocks; i++) {
      nfree += pp->st[i] == BLK_FREE;
      ngot += pp->st[i] == BLK_GOT;
      if (pp->st[i] == BLK_FREE && i < pp->cursor)
        return -1;
    }
    if (nfree != pp->nfree || ngot != pp->ngot || pp->nblocks != piece_blocks(p, pp->piece) ||
        p->slot_of[pp->piece] != (int32_t)s)
      return -1;
  }
  if (have != p->have_count || need != p->need_count || ncand != p->ncand ||
      nparts != p->nparts || nparts > p->part_cap)
    return -1;
  return 0;
}
