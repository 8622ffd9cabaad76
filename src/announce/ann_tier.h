/* Which tracker to ask next, and when: the BEP 12 tier walk and the retry
 * schedules, as pure functions of past results (no clock, no sockets; the
 * shuffle takes the caller's random numbers).
 *
 * Ownership: struct ann_tiers is owned by the announcer; ann_tiers_init()
 * copies the URL strings and ann_tiers_free() releases them. */
#ifndef SHOAL_ANN_TIER_H
#define SHOAL_ANN_TIER_H

#include <stddef.h>
#include <stdint.h>

struct sh_tier;

struct ann_tiers {
  char **url;        /* every tracker, tier by tier, in the order to try */
  uint32_t *tier;    /* url[i] belongs to tier tier[i] (ascending) */
  size_t n;
  size_t cur;        /* the tracker to ask next */
  size_t tried;      /* failures in a row in this round */
};

/* Copies the tiers, skipping URLs that are not http://, https:// or udp://
 * (counted in *skipped when not NULL), and shuffles each tier once with
 * rand_u32() (BEP 12). Returns 0 or -ENOMEM. */
int ann_tiers_init(struct ann_tiers *t, const struct sh_tier *tiers, size_t ntiers,
                   uint32_t (*rand_u32)(void *), void *rctx, size_t *skipped);
void ann_tiers_free(struct ann_tiers *t);

/* The tracker to ask now, or -1 when there is none at all. */
static inline int ann_tiers_current(const struct ann_tiers *t)
{
  return t->n ? (int)t->cur : -1;
}

/* Tracker i answered: it moves to the front of its tier (BEP 12) and stays
 * the one asked next. Returns its new index. */
size_t ann_tiers_success(struct ann_tiers *t, size_t i);
/* Tracker i failed: the next one in order (the rest of its tier, then the
 * next tiers) becomes current. Returns 1 when another tracker is left to try
 * in this round, 0 when every tracker failed: the round is over, the walk
 * restarts at the first tracker, and the caller backs off. */
int ann_tiers_failure(struct ann_tiers *t, size_t i);

/* Back-off after the k-th failed round in a row (k >= 1): base, 2 base,
 * 4 base ... capped at cap (the tracker's interval). In milliseconds. */
uint64_t ann_retry_delay_ms(uint32_t k, uint64_t base_ms, uint64_t cap_ms);
/* BEP 15 retransmission timeout for attempt n (0-based): 15 * 2^n s with a
 * base of 15000 ms; n is capped at 8 (3840 s). */
uint64_t ann_udp_timeout_ms(uint32_t n, uint64_t base_ms);
/* A tracker's interval clamped to [lo, hi] seconds; 0 (absent) gives the
 * 1800 s that trackers commonly use, clamped the same way. */
uint32_t ann_interval_clamp(uint32_t interval, uint32_t lo, uint32_t hi);

#endif
