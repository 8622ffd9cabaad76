/* Swarm store; see store.h for the layout and the rules. */
#include "tracker/store.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/sorted.h"
#include "base/vec.h"

/* Record layout after the wire bytes: flags, a spare byte, last-seen time. */
#define REC_SEEDER 1u

struct swarm {
  uint8_t *rec;    /* n sorted records of STORE_REC_LEN(family) bytes */
  uint32_t n, cap;
  uint32_t seeders;
};

struct torrent {
  uint8_t hash[20];
  uint32_t downloaded;
  struct swarm sw[2];
};

struct bucket {
  pthread_mutex_t lock;
  struct torrent *t; /* n torrents sorted by hash, inline */
  uint32_t n, cap;
  uint64_t peers, seeders, peers6;
};

struct store {
  struct bucket b[STORE_BUCKETS];
};

static inline uint32_t bucket_of(const uint8_t *h)
{
  return ((uint32_t)h[0] << 8 | h[1]) >> (16 - STORE_BUCKET_BITS);
}

static inline uint32_t rec_seen(const uint8_t *r, uint32_t alen)
{
  uint32_t v;
  memcpy(&v, r + alen + 2, 4);
  return v;
}

static inline void rec_set_seen(uint8_t *r, uint32_t alen, uint32_t v) { memcpy(r + alen + 2, &v, 4); }

struct store *store_new(void)
{
  struct store *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  for (uint32_t i = 0; i < STORE_BUCKETS; i++)
    pthread_mutex_init(&s->b[i].lock, NULL);
  return s;
}

void store_free(struct store *s)
{
  if (!s)
    return;
  for (uint32_t i = 0; i < STORE_BUCKETS; i++) {
    struct bucket *b = &s->b[i];
    for (uint32_t j = 0; j < b->n; j++) {
      free(b->t[j].sw[0].rec);
      free(b->t[j].sw[1].rec);
    }
    free(b->t);
    pthread_mutex_destroy(&b->lock);
  }
  free(s);
}

/* Index of the torrent, or -(insertion point) - 1. */
static inline long find_torrent(const struct bucket *b, const uint8_t *h)
{
  return sh_sorted_find(b->t, b->n, sizeof *b->t, offsetof(struct torrent, hash), h,
                        SH_IHASH_LEN);
}

/* Records sort by their leading wire bytes, the peer's compact address. */
static inline long find_peer(const struct swarm *w, uint32_t rlen, uint32_t alen,
                             const uint8_t *addr)
{
  return sh_sorted_find(w->rec, w->n, rlen, 0, addr, alen);
}

static void counts_of(const struct torrent *t, struct store_counts *c)
{
  uint32_t n = t->sw[0].n + t->sw[1].n, sd = t->sw[0].seeders + t->sw[1].seeders;
  c->complete = sd;
  c->incomplete = n - sd;
  c->downloaded = t->downloaded;
}

static void remove_torrent(struct bucket *b, uint32_t idx)
{
  free(b->t[idx].sw[0].rec);
  free(b->t[idx].sw[1].rec);
  memmove(&b->t[idx], &b->t[idx + 1], (b->n - idx - 1) * sizeof *b->t);
  b->n--;
}

/* Copies eligible peers, starting at a random record and wrapping around, so
 * that in a swarm larger than the reply every peer gets handed out in turn. */
static uint32_t select_peers(const struct swarm *w, enum store_family f, long self, int seeder,
                             uint32_t now, uint32_t timeout, uint32_t rnd, uint8_t *out,
                             uint32_t max)
{
  uint32_t alen = STORE_ADDR_LEN(f), rlen = STORE_REC_LEN(f), got = 0;
  if (!max || !w->n)
    return 0;
  uint32_t start = w->n > max ? rnd % w->n : 0;
  for (uint32_t k = 0; k < w->n && got < max; k++) {
    uint32_t i = start + k;
    if (i >= w->n)
      i -= w->n;
    if ((long)i == self)
      continue;
    const uint8_t *r = w->rec + (size_t)i * rlen;
    if (seeder && (r[alen] & REC_SEEDER))
      continue; /* seeders get no seeders */
    if (now - rec_seen(r, alen) > timeout)
      continue; /* expired, not yet swept */
    memcpy(out + (size_t)got * alen, r, alen);
    got++;
  }
  return got;
}

int store_announce(struct store *s, const struct store_announce *a, struct store_reply *r)
{
  struct bucket *b = &s->b[bucket_of(a->info_hash)];
  enum store_family f = a->family;
  uint32_t alen = STORE_ADDR_LEN(f), rlen = STORE_REC_LEN(f);
  memset(r, 0, sizeof *r);
  pthread_mutex_lock(&b->lock);
  long ti = find_torrent(b, a->info_hash);
  if (ti < 0) {
    if (!a->create || a->event == STORE_EV_STOPPED) {
      pthread_mutex_unlock(&b->lock);
      return a->create ? 0 : -ENOENT;
    }
    if (sh_vec_reserve(b->t, b->cap, (size_t)b->n + 1, 4, UINT32_MAX) < 0) {
      pthread_mutex_unlock(&b->lock);
      return -ENOMEM;
    }
    ti = -ti - 1;
    memmove(&b->t[ti + 1], &b->t[ti], (b->n - (uint32_t)ti) * sizeof *b->t);
    memset(&b->t[ti], 0, sizeof *b->t);
    memcpy(b->t[ti].hash, a->info_hash, 20);
    b->n++;
  }
  struct torrent *t = &b->t[ti];
  struct swarm *w = &t->sw[f];
  long pi = find_peer(w, rlen, alen, a->addr);

  if (a->event == STORE_EV_STOPPED) {
    if (pi >= 0) {
      uint8_t *rec = w->rec + (size_t)pi * rlen;
      if (rec[alen] & REC_SEEDER) {
        w->seeders--;
        b->seeders--;
      }
      memmove(rec, rec + rlen, (size_t)(w->n - (uint32_t)pi - 1) * rlen);
      w->n--;
      b->peers--;
      if (f == STORE_V6)
        b->peers6--;
    }
    counts_of(t, &r->counts);
    if (!t->sw[0].n && !t->sw[1].n && !t->downloaded)
      remove_torrent(b, (uint32_t)ti);
    pthread_mutex_unlock(&b->lock);
    return 0;
  }

  int was_seeder = 0;
  if (pi < 0) {
    /* records are rlen bytes, known only at run time */
    if (sh_vec_reserve_u32(&w->rec, &w->cap, (size_t)w->n + 1, rlen, 2, UINT32_MAX) < 0) {
      if (!t->sw[0].n && !t->sw[1].n && !t->downloaded)
        remove_torrent(b, (uint32_t)ti);
      pthread_mutex_unlock(&b->lock);
      return -ENOMEM;
    }
    pi = -pi - 1;
    uint8_t *rec = w->rec + (size_t)pi * rlen;
    memmove(rec + rlen, rec, (size_t)(w->n - (uint32_t)pi) * rlen);
    memset(rec, 0, rlen);
    memcpy(rec, a->addr, alen);
    w->n++;
    b->peers++;
    if (f == STORE_V6)
      b->peers6++;
  } else {
    was_seeder = (w->rec[(size_t)pi * rlen + alen] & REC_SEEDER) != 0;
  }
  uint8_t *rec = w->rec + (size_t)pi * rlen;
  rec_set_seen(rec, alen, a->now);
  if (a->seeder && !was_seeder) {
    rec[alen] |= REC_SEEDER;
    w->seeders++;
    b->seeders++;
  } else if (!a->seeder && was_seeder) {
    rec[alen] &= (uint8_t)~REC_SEEDER;
    w->seeders--;
    b->seeders--;
  }
  /* Count a completion once per peer: a repeated `completed` from a peer that
   * is already a seeder here is a retry, not a second download. */
  if (a->event == STORE_EV_COMPLETED && !was_seeder)
    t->downloaded++;

  counts_of(t, &r->counts);
  long self4 = f == STORE_V4 ? pi : -1, self6 = f == STORE_V6 ? pi : -1;
  r->n4 = select_peers(&t->sw[0], STORE_V4, self4, a->seeder, a->now, a->timeout, a->rnd,
                       a->out4, a->max4);
  r->n6 = select_peers(&t->sw[1], STORE_V6, self6, a->seeder, a->now, a->timeout, a->rnd,
                       a->out6, a->max6);
  pthread_mutex_unlock(&b->lock);
  return 0;
}

int store_scrape(struct store *s, const uint8_t info_hash[20], struct store_counts *c)
{
  struct bucket *b = &s->b[bucket_of(info_hash)];
  memset(c, 0, sizeof *c);
  pthread_mutex_lock(&b->lock);
  long ti = find_torrent(b, info_hash);
  if (ti >= 0)
    counts_of(&b->t[ti], c);
  pthread_mutex_unlock(&b->lock);
  return ti >= 0;
}

void store_foreach(struct store *s, store_visit_fn fn, void *ud)
{
  for (uint32_t i = 0; i < STORE_BUCKETS; i++) {
    struct bucket *b = &s->b[i];
    int stop = 0;
    pthread_mutex_lock(&b->lock);
    for (uint32_t j = 0; j < b->n && !stop; j++) {
      struct store_counts c;
      counts_of(&b->t[j], &c);
      stop = fn(ud, b->t[j].hash, &c);
    }
    pthread_mutex_unlock(&b->lock);
    if (stop)
      return;
  }
}

static uint64_t expire_swarm(struct bucket *b, struct swarm *w, enum store_family f, uint32_t now,
                             uint32_t timeout)
{
  uint32_t alen = STORE_ADDR_LEN(f), rlen = STORE_REC_LEN(f), keep = 0;
  uint64_t dropped = 0;
  for (uint32_t i = 0; i < w->n; i++) {
    uint8_t *r = w->rec + (size_t)i * rlen;
    if (now - rec_seen(r, alen) > timeout) {
      if (r[alen] & REC_SEEDER) {
        w->seeders--;
        b->seeders--;
      }
      dropped++;
      continue;
    }
    if (keep != i)
      memcpy(w->rec + (size_t)keep * rlen, r, rlen);
    keep++;
  }
  w->n = keep;
  b->peers -= dropped;
  if (f == STORE_V6)
    b->peers6 -= dropped;
  /* Give memory back when a swarm shrank to a quarter of its capacity. */
  if (w->cap > 8 && w->n < w->cap / 4) {
    uint32_t nc = w->cap / 2;
    uint8_t *nr = realloc(w->rec, (size_t)nc * rlen);
    if (nr) {
      w->rec = nr;
      w->cap = nc;
    }
  }
  return dropped;
}

uint64_t store_expire(struct store *s, uint32_t now, uint32_t timeout)
{
  uint64_t dropped = 0;
  for (uint32_t i = 0; i < STORE_BUCKETS; i++) {
    struct bucket *b = &s->b[i];
    pthread_mutex_lock(&b->lock);
    for (uint32_t j = b->n; j-- > 0;) {
      struct torrent *t = &b->t[j];
      dropped += expire_swarm(b, &t->sw[0], STORE_V4, now, timeout);
      dropped += expire_swarm(b, &t->sw[1], STORE_V6, now, timeout);
      if (!t->sw[0].n && !t->sw[1].n)
        remove_torrent(b, j);
    }
    pthread_mutex_unlock(&b->lock);
  }
  return dropped;
}

void store_totals(struct store *s, struct store_totals *t)
{
  memset(t, 0, sizeof *t);
  for (uint32_t i = 0; i < STORE_BUCKETS; i++) {
    struct bucket *b = &s->b[i];
    pthread_mutex_lock(&b->lock);
    t->torrents += b->n;
    t->peers += b->peers;
    t->seeders += b->seeders;
    t->peers6 += b->peers6;
    pthread_mutex_unlock(&b->lock);
  }
}
