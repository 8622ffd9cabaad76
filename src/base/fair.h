/* A rate limit shared fairly by the flows (connections) that want more
 * than it allows: a token bucket (ratelimit.h) in front of a deficit round
 * robin queue. Pure: the caller passes the time and runs the timer.
 *
 * While nobody waits, a flow takes straight from the bucket, so a limit
 * nobody reaches costs one subtraction. Once the bucket runs dry, a flow
 * that asks gets nothing and joins the tail of the queue (sh_fair_wait).
 * While anyone waits, every flow must queue, even one that was not waiting:
 * otherwise whoever asks first after a refill takes what the waiting flows
 * were owed. That was the old limiter's fault: it woke every waiter at
 * once in the order they ran dry, the first took the refill, ran dry
 * again and queued first again, and a seed limited to 20 MiB/s sent 98 %
 * of it to one leecher.
 *
 * sh_fair_dispatch, run when the bucket has refilled, walks the queue from
 * its head: each flow gets up to one quantum of credit; a flow whose
 * credit now covers what it asked for leaves the queue and is handed back
 * to be woken, the others go to the tail with their credit kept. That is
 * deficit round robin (Shreedhar and Varghese, 1995): over any stretch in
 * which n flows stay backlogged, each gets within one quantum plus one
 * request of 1/n of what the bucket let through. A woken flow spends its
 * credit before anything else; a flow that goes away gives its credit back
 * (sh_fair_leave), and what a flow was granted and did not use goes back
 * to its credit up to one quantum, the rest to the bucket.
 *
 * The caller owns both structs (the limiter in a hub or torrent, a flow in
 * each connection); the queue holds borrowed flow pointers, so a flow must
 * leave before it is freed. Loop thread only. */
#ifndef SHOAL_BASE_FAIR_H
#define SHOAL_BASE_FAIR_H

#include <stddef.h>
#include <stdint.h>

#include "base/ratelimit.h"

/* One 16 KiB block with its 13-byte piece header: the unit of an upload,
 * so one turn of the round lets one block out. */
#define SH_FAIR_QUANTUM (16384u + 13u)

struct sh_fair_flow {
  uint64_t credit;  /* bytes granted to this flow and not yet spent */
  uint64_t need;    /* while queued: what it asked for */
  int queued;
};

struct sh_fair {
  struct sh_ratelimit bucket;
  struct sh_fair_flow **q; /* a ring: head, n, cap */
  size_t head, n, cap;
  uint64_t quantum;
  int hold; /* see sh_fair_hold */
};

/* rate 0 = unlimited (every take succeeds, nothing queues). */
void sh_fair_init(struct sh_fair *f, uint64_t rate, uint64_t now_ms);
/* A new limit, keeping the bucket's level; 0 = unlimited (the next
 * dispatch then wakes every waiting flow). */
void sh_fair_set_rate(struct sh_fair *f, uint64_t rate, uint64_t now_ms);
/* Frees the queue; the flows are the caller's. */
void sh_fair_free(struct sh_fair *f);
static inline int sh_fair_limited(const struct sh_fair *f) { return f->bucket.rate != 0; }

/* All or nothing: 1 when `bytes` were granted (from fl's credit, else from
 * the bucket if nobody waits), 0 when fl must wait (nothing taken). */
int sh_fair_take(struct sh_fair *f, struct sh_fair_flow *fl, uint64_t now_ms, uint64_t bytes);
/* Up to `want` bytes, possibly 0 (a read: what arrives may be less). */
uint64_t sh_fair_take_upto(struct sh_fair *f, struct sh_fair_flow *fl, uint64_t now_ms,
                           uint64_t want);
/* Would sh_fair_take of `bytes` succeed now? */
int sh_fair_can(const struct sh_fair *f, const struct sh_fair_flow *fl, uint64_t now_ms,
                uint64_t bytes);
/* Granted bytes that were not used: back to fl's credit up to a quantum,
 * the rest to the bucket. */
void sh_fair_refund(struct sh_fair *f, struct sh_fair_flow *fl, uint64_t bytes);

/* Queues fl for `need` bytes (at the tail; a flow already queued keeps its
 * place and takes the larger need). 0, or -ENOMEM (fl is then not queued). */
int sh_fair_wait(struct sh_fair *f, struct sh_fair_flow *fl, uint64_t need);
/* fl goes away: out of the queue, its credit back to the bucket. */
void sh_fair_leave(struct sh_fair *f, struct sh_fair_flow *fl);
/* Hands out what the bucket holds, round robin from the queue's head;
 * flows whose need is now covered leave the queue and are written to out
 * (at most cap of them), in the order they were served. Returns how many. */
size_t sh_fair_dispatch(struct sh_fair *f, uint64_t now_ms, struct sh_fair_flow **out,
                        size_t cap);
/* Milliseconds until a dispatch can serve the head of the queue (0: now);
 * UINT64_MAX when nobody waits. */
uint64_t sh_fair_wait_ms(const struct sh_fair *f, uint64_t now_ms);
static inline size_t sh_fair_waiting(const struct sh_fair *f) { return f->n; }
/* While the caller wakes the flows a dispatch returned, it holds the
 * limiter: a woken flow that asks for more then queues behind the others
 * even if the queue is empty, instead of taking what is left in the bucket
 * (the flows ahead of it were all popped and are being woken too). Without
 * it the first flow woken took every leftover quantum, queued first again,
 * and with several quanta per dispatch one leecher got a quarter of a
 * limited seed's upload. After the wake, dispatch again: the next round
 * goes to the queue's head. */
static inline void sh_fair_hold(struct sh_fair *f, int on) { f->hold = on; }

#endif
