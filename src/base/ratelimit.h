/* A token-bucket rate limiter for upload and download limits, session-wide
 * and per torrent. Pure: the caller passes the time in milliseconds (the
 * loop's monotonic clock) and asks how many bytes it may move now.
 *
 * The bucket holds at most `burst` bytes and refills at `rate` bytes/s.
 * Tokens are counted in thousandths of a byte, so a refill of rate * ms
 * is exact at any rate and the long-run average is the configured rate
 * exactly (no rounding drift, however small the steps).
 *
 * The struct is the caller's (embedded in the session or torrent), needs no
 * freeing, and is used from the loop thread only. */
#ifndef SHOAL_RATELIMIT_H
#define SHOAL_RATELIMIT_H

#include <stdint.h>

/* Rates above 1 TB/s and bursts above 1 PB are clamped to these, which keeps
 * every product of the arithmetic inside 64 bits. */
#define SH_RATELIMIT_MAX_RATE (1ull << 40)
#define SH_RATELIMIT_MAX_BURST (1ull << 50)
/* With burst 0: 200 ms worth of traffic, but at least 32 KiB, so one loop
 * turn can always move two whole 16 KiB blocks with their headers. */
#define SH_RATELIMIT_MIN_BURST (32u * 1024)

struct sh_ratelimit {
  uint64_t rate;    /* bytes per second; 0 = unlimited */
  uint64_t burst;   /* bucket size in bytes */
  uint64_t tokens;  /* in millibytes (bytes * 1000) */
  uint64_t last_ms; /* time of the last refill */
};

/* rate 0 = unlimited; burst 0 = the default above. Starts with a full bucket. */
void sh_ratelimit_init(struct sh_ratelimit *rl, uint64_t rate, uint64_t burst, uint64_t now_ms);
/* Changes the limit on the fly, keeping what is in the bucket (capped to the
 * new burst). */
void sh_ratelimit_set(struct sh_ratelimit *rl, uint64_t rate, uint64_t burst, uint64_t now_ms);

/* Grants up to `want` bytes now (possibly 0, possibly fewer than asked) and
 * takes them from the bucket. Unlimited: returns want. */
uint64_t sh_ratelimit_take(struct sh_ratelimit *rl, uint64_t now_ms, uint64_t want);
/* Milliseconds until min(want, burst) bytes can be granted; 0 = now. Does not
 * change the bucket. The caller arms a timer for this long and retries. */
uint64_t sh_ratelimit_wait_ms(const struct sh_ratelimit *rl, uint64_t now_ms, uint64_t want);
/* Gives back granted bytes that were not used (a short write); the bucket
 * never grows past its burst. */
void sh_ratelimit_refund(struct sh_ratelimit *rl, uint64_t bytes);

/* Both limits at once (e.g. the torrent's and the session's; either may be
 * NULL): grants what both allow and takes it from both. */
uint64_t sh_ratelimit_take2(struct sh_ratelimit *a, struct sh_ratelimit *b, uint64_t now_ms,
                            uint64_t want);
/* The longer of the two waits. */
uint64_t sh_ratelimit_wait2_ms(const struct sh_ratelimit *a, const struct sh_ratelimit *b,
                               uint64_t now_ms, uint64_t want);

#endif
