#include "net/udp_demux.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* BEP 15: action (4) + transaction id (4) start every reply; the shortest,
 * an error without text or an empty scrape, is just those 8 bytes. */
#define TRACKER_MIN 8
/* BEP 29: the fixed uTP header is 20 bytes. */
#define UTP_HEADER 20
/* BEP 5: the shortest dictionary is "de". */
#define DHT_MIN 2

int sh_udp_classify(const uint8_t *p, size_t n)
{
  if (n == 0)
    return SH_UDP_NONE;
  if (p[0] == 0) {
    /* actions 0 connect, 1 announce, 2 scrape, 3 error */
    if (n >= TRACKER_MIN && p[1] == 0 && p[2] == 0 && p[3] <= 3)
      return SH_UDP_TRACKER;
    return SH_UDP_NONE;
  }
  if (p[0] == 'd')
    return n >= DHT_MIN && p[n - 1] == 'e' ? SH_UDP_DHT : SH_UDP_NONE;
  /* ST_DATA 0, ST_FIN 1, ST_STATE 2, ST_RESET 3, ST_SYN 4; version 1 */
  if ((p[0] & 0x0f) == 1 && (p[0] >> 4) <= 4 && n >= UTP_HEADER)
    return SH_UDP_UTP;
  return SH_UDP_NONE;
}

void sh_udp_demux_init(struct sh_udp_demux *d) { memset(d, 0, sizeof *d); }

void sh_udp_demux_free(struct sh_udp_demux *d)
{
  free(d->tids);
  d->tids = NULL;
  d->ntids = d->cap = 0;
}

void sh_udp_demux_set(struct sh_udp_demux *d, enum sh_udp_kind k, sh_udp_recv_cb cb, void *ud)
{
  if (k == SH_UDP_TRACKER || (unsigned)k >= SH_UDP_NKINDS)
    return;
  d->cb[k] = cb;
  d->ud[k] = cb ? ud : NULL;
}

/* Fills the key fields of e from an address; -EAFNOSUPPORT otherwise. */
static int key_of(struct sh_udp_tid *e, const struct sockaddr *sa, uint32_t tid)
{
  memset(e, 0, sizeof *e);
  e->tid = tid;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    e->family = 4;
    e->port = a->sin_port;
    memcpy(e->ip, &a->sin_addr, 4);
    return 0;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    e->family = 6;
    e->port = a->sin6_port;
    memcpy(e->ip, &a->sin6_addr, 16);
    return 0;
  }
  return -EAFNOSUPPORT;
}

static int same_key(const struct sh_udp_tid *a, const struct sh_udp_tid *b)
{
  return a->tid == b->tid && a->port == b->port && a->family == b->family &&
         !memcmp(a->ip, b->ip, 16);
}

static size_t hash_of(const struct sh_udp_tid *k)
{
  /* transaction ids are random (ann_random_u32), so they spread the keys;
   * the address only separates trackers that drew the same id */
  uint64_t h = (uint64_t)k->tid * 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 16; i++)
    h = (h ^ k->ip[i]) * 0x100000001b3ull;
  h ^= (uint64_t)k->port << 7 ^ k->family;
  h ^= h >> 29;
  return (size_t)h;
}

/* The slot holding k, or the free slot where it would go. */
static size_t probe(const struct sh_udp_demux *d, const struct sh_udp_tid *k)
{
  size_t mask = d->cap - 1, i = hash_of(k) & mask;
  while (d->tids[i].family && !same_key(&d->tids[i], k))
    i = (i + 1) & mask;
  return i;
}

static int grow(struct sh_udp_demux *d)
{
  size_t cap = d->cap ? d->cap * 2 : 64;
  struct sh_udp_tid *old = d->tids, *t = calloc(cap, sizeof *t);
  if (!t)
    return -ENOMEM;
  size_t ocap = d->cap;
  d->tids = t;
  d->cap = cap;
  for (size_t i = 0; i < ocap; i++)
    if (old[i].family)
      d->tids[probe(d, &old[i])] = old[i];
  free(old);
  return 0;
}

int sh_udp_demux_expect(struct sh_udp_demux *d, const struct sockaddr *from, uint32_t tid,
                        sh_udp_recv_cb cb, void *ud)
{
  struct sh_udp_tid k;
  int rc = key_of(&k, from, tid);
  if (rc < 0)
    return rc;
  if ((d->ntids + 1) * 2 > d->cap && (rc = grow(d)) < 0)
    return rc;
  size_t i = probe(d, &k);
  if (d->tids[i].family)
    return -EEXIST;
  k.cb = cb;
  k.ud = ud;
  d->tids[i] = k;
  d->ntids++;
  return 0;
}

int sh_udp_demux_unexpect(struct sh_udp_demux *d, const struct sockaddr *from, uint32_t tid)
{
  struct sh_udp_tid k;
  if (!d->cap || key_of(&k, from, tid) < 0)
    return -ENOENT;
  size_t mask = d->cap - 1, i = probe(d, &k);
  if (!d->tids[i].family)
    return -ENOENT;
  /* backward-shift deletion: later entries of the run move up into the
   * hole when their home slot allows, so no tombstones accumulate */
  size_t j = i;
  for (;;) {
    d->tids[i].family = 0;
    for (;;) {
      j = (j + 1) & mask;
      if (!d->tids[j].family) {
        d->ntids--;
        return 0;
      }
      size_t home = hash_of(&d->tids[j]) & mask;
      /* j may fill i unless its home lies cyclically in (i, j] */
      if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
        break;
    }
    d->tids[i] = d->tids[j];
    i = j;
  }
}

int sh_udp_demux_input(struct sh_udp_demux *d, const uint8_t *p, size_t n,
                       const struct sockaddr *from)
{
  int k = sh_udp_classify(p, n);
  if (k == SH_UDP_NONE) {
    d->st.unclassified++;
    return SH_UDP_NONE;
  }
  sh_udp_recv_cb cb = NULL;
  void *ud = NULL;
  if (k == SH_UDP_TRACKER) {
    struct sh_udp_tid key;
    uint32_t tid = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    if (d->cap && key_of(&key, from, tid) == 0) {
      size_t i = probe(d, &key);
      if (d->tids[i].family) {
        cb = d->tids[i].cb;
        ud = d->tids[i].ud;
      }
    }
  } else {
    cb = d->cb[k];
    ud = d->ud[k];
  }
  if (!cb) {
    d->st.dropped_in++;
    return SH_UDP_NONE;
  }
  d->st.in[k]++;
  cb(ud, p, n, from);
  return k;
}
