/* Deficit round robin over a token bucket; see fair.h. */
#include "base/fair.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void sh_fair_init(struct sh_fair *f, uint64_t rate, uint64_t now_ms)
{
  memset(f, 0, sizeof *f);
  sh_ratelimit_init(&f->bucket, rate, 0, now_ms);
  /* the bucket's smallest burst (32 KiB) holds two quanta, so the head of
   * the queue can always be served once the bucket has refilled */
  f->quantum = SH_FAIR_QUANTUM;
}

void sh_fair_set_rate(struct sh_fair *f, uint64_t rate, uint64_t now_ms)
{
  sh_ratelimit_set(&f->bucket, rate, 0, now_ms);
}

void sh_fair_free(struct sh_fair *f)
{
  for (size_t i = 0; i < f->n; i++)
    f->q[(f->head + i) % f->cap]->queued = 0;
  free(f->q);
  f->q = NULL;
  f->head = f->n = f->cap = 0;
}

static int push(struct sh_fair *f, struct sh_fair_flow *fl)
{
  if (f->n == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 16;
    struct sh_fair_flow **nq = malloc(cap * sizeof *nq);
    if (!nq)
      return -ENOMEM;
    for (size_t i = 0; i < f->n; i++)
      nq[i] = f->q[(f->head + i) % f->cap];
    free(f->q);
    f->q = nq;
    f->cap = cap;
    f->head = 0;
  }
  f->q[(f->head + f->n) % f->cap] = fl;
  f->n++;
  return 0;
}

static struct sh_fair_flow *pop(struct sh_fair *f)
{
  struct sh_fair_flow *fl = f->q[f->head];
  f->head = (f->head + 1) % f->cap;
  f->n--;
  return fl;
}

int sh_fair_take(struct sh_fair *f, struct sh_fair_flow *fl, uint64_t now_ms, uint64_t bytes)
{
  if (!f->bucket.rate)
    return 1;
  if (fl->credit >= bytes) {
    fl->credit -= bytes;
    return 1;
  }
  if (fl->queued || f->n || f->hold)
    return 0; /* others wait: behind them */
  uint64_t need = bytes - fl->credit;
  uint64_t got = sh_ratelimit_take(&f->bucket, now_ms, need);
  if (got == need) {
    fl->credit = 0;
    return 1;
  }
  sh_ratelimit_refund(&f->bucket, got);
  return 0;
}

uint64_t sh_fair_take_upto(struct sh_fair *f, struct sh_fair_flow *fl, uint64_t now_ms,
                           uint64_t want)
{
  if (!f->bucket.rate)
    return want;
  uint64_t g = fl->credit < want ? fl->credit : want;
  fl->credit -= g;
  if (g < want && !fl->queued && !f->n && !f->hold)
    g += sh_ratelimit_take(&f->bucket, now_ms, want - g);
  return g;
}

int sh_fair_can(const struct sh_fair *f, const struct sh_fair_flow *fl, uint64_t now_ms,
                uint64_t bytes)
{
  if (!f->bucket.rate || fl->credit >= bytes)
    return 1;
  if (fl->queued || f->n || f->hold)
    return 0;
  return sh_ratelimit_wait_ms(&f->bucket, now_ms, bytes - fl->credit) == 0;
}

void sh_fair_refund(struct sh_fair *f, struct sh_fair_flow *fl, uint64_t bytes)
{
  if (!f->bucket.rate)
    return;
  uint64_t room = fl->credit < f->quantum ? f->quantum - fl->credit : 0;
  uint64_t keep = bytes < room ? bytes : room;
  fl->credit += keep;
  sh_ratelimit_refund(&f->bucket, bytes - keep);
}

int sh_fair_wait(struct sh_fair *f, struct sh_fair_flow *fl, uint64_t need)
{
  if (fl->queued) {
    if (need > fl->need)
      fl->need = need;
    return 0;
  }
  if (push(f, fl) < 0)
    return -ENOMEM;
  fl->queued = 1;
  fl->need = need;
  return 0;
}

void sh_fair_leave(struct sh_fair *f, struct sh_fair_flow *fl)
{
  if (fl->queued) {
    /* rare (a connection closing while it waits): close the gap in order */
    size_t k = 0;
    for (size_t i = 0; i < f->n; i++) {
      struct sh_fair_flow *x = f->q[(f->head + i) % f->cap];
      if (x != fl)
        f->q[(f->head + k++) % f->cap] = x;
    }
    f->n = k;
    fl->queued = 0;
  }
  sh_ratelimit_refund(&f->bucket, fl->credit);
  fl->credit = 0;
}

size_t sh_fair_dispatch(struct sh_fair *f, uint64_t now_ms, struct sh_fair_flow **out,
                        size_t cap)
{
  size_t k = 0;
  /* Each step either moves at least one byte out of the bucket or wakes a
   * flow, so the loop ends when the bucket or the queue is empty. */
  while (f->n && k < cap) {
    struct sh_fair_flow *fl = f->q[f->head];
    uint64_t give = fl->need > fl->credit ? fl->need - fl->credit : 0;
    if (give > f->quantum)
      give = f->quantum;
    if (give) {
      uint64_t got = sh_ratelimit_take(&f->bucket, now_ms, give);
      if (got < give) {
        sh_ratelimit_refund(&f->bucket, got);
        break;
      }
      fl->credit += got;
    }
    pop(f);
    if (fl->credit >= fl->need) {
      fl->queued = 0;
      out[k++] = fl;
    } else if (push(f, fl) < 0) {
      fl->queued = 0; /* cannot happen: the slot it left is free */
      out[k++] = fl;
    }
  }
  return k;
}

uint64_t sh_fair_wait_ms(const struct sh_fair *f, uint64_t now_ms)
{
  if (!f->n)
    return UINT64_MAX;
  const struct sh_fair_flow *fl = f->q[f->head];
  uint64_t give = fl->need > fl->credit ? fl->need - fl->credit : 0;
  if (give > f->quantum)
    give = f->quantum;
  return sh_ratelimit_wait_ms(&f->bucket, now_ms, give);
}
