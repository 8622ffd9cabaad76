/* A smoothed transfer rate: bytes are counted as they move, and once per
 * tick the count becomes bytes/s and is folded into an exponential moving
 * average that gives the new tick a weight of 1/4:
 *
 *   rate = (rate * 3 + bytes_this_tick * 1000 / dt_ms) / 4
 *
 * With the session's 1 s tick the average keeps 3/4 of itself each second,
 * a time constant of 1 / ln(4/3) = 3.5 s: a peer that stops sending shows
 * about 10 % of its rate after 8 s, and a one-tick burst moves it by only
 * a quarter of the burst's rate.
 * The integer division floors, so a steady input settles up to 3 bytes/s
 * under its true rate. Overflow needs 1.8e16 bytes in one tick.
 *
 * The struct is the caller's (embedded in a peer or torrent, zeroed to
 * start), needs no freeing and has no clock of its own: the caller passes
 * the tick's length. */
#ifndef SHOAL_RATE_H
#define SHOAL_RATE_H

#include <stdint.h>

struct sh_rate {
  uint64_t tick; /* bytes since the last tick */
  uint64_t rate; /* smoothed bytes/s */
};

static inline void sh_rate_add(struct sh_rate *r, uint64_t bytes) { r->tick += bytes; }

/* Ends a tick that lasted dt_ms milliseconds (0 counts as 1): folds its
 * bytes into the average, starts the next tick at 0, returns the rate. */
static inline uint64_t sh_rate_tick(struct sh_rate *r, uint64_t dt_ms)
{
  if (dt_ms == 0)
    dt_ms = 1;
  r->rate = (r->rate * 3 + r->tick * 1000 / dt_ms) / 4;
  r->tick = 0;
  return r->rate;
}

static inline uint64_t sh_rate_get(const struct sh_rate *r) { return r->rate; }

#endif
