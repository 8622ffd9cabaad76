/* The tracker's swarm store: every torrent's peers, in memory, flat.
 *
 * Layout (after opentracker): torrents live in STORE_BUCKETS buckets chosen
 * by the first 12 bits of the info-hash; a bucket is a sorted array of torrent
 * records held inline (no pointer per torrent), found by binary search. A
 * torrent keeps one array per address family of fixed-size peer records whose
 * first bytes are the peer's compact wire form (BEP 23: 4-byte IPv4 + 2-byte
 * port; BEP 7: 16-byte IPv6 + port), sorted by those bytes, so an announce
 * reply is a run of memcpy()s. Each record adds a flags byte, one spare byte
 * and a 32-bit "last seen" time: 12 bytes per IPv4 peer, 24 per IPv6 peer.
 *
 * Peers are identified by address and port, not peer_id, as opentracker
 * does: a peer_id would add 20 bytes per peer, and a client restarting with a
 * new peer_id on the same port is the same endpoint to dial.
 *
 * Pure: no clock, no randomness, no I/O; the caller passes `now` (seconds on
 * any monotonic scale) and a random number for peer selection. Thread-safe:
 * each bucket has its own mutex, so workers on different torrents rarely
 * contend. The store is allocated by store_new() and freed by store_free();
 * nothing it returns points into it. */
#ifndef SHOAL_TRACKER_STORE_H
#define SHOAL_TRACKER_STORE_H

#include <stddef.h>
#include <stdint.h>

/* 4096 buckets: with 100,000 torrents about 25 per bucket, so a binary
 * search is 5 steps and inserting a torrent moves about 1 KiB. */
#ifndef STORE_BUCKET_BITS
#define STORE_BUCKET_BITS 12
#endif
#define STORE_BUCKETS (1u << STORE_BUCKET_BITS)

enum store_family { STORE_V4 = 0, STORE_V6 = 1 };
#define STORE_ADDR_LEN(f) ((f) == STORE_V4 ? 6u : 18u)   /* wire bytes */
#define STORE_REC_LEN(f) ((f) == STORE_V4 ? 12u : 24u)   /* stored bytes */

enum store_event { STORE_EV_NONE = 0, STORE_EV_COMPLETED, STORE_EV_STARTED, STORE_EV_STOPPED };

struct store;

/* Counts of one torrent, over both address families. */
struct store_counts {
  uint32_t complete;   /* seeders */
  uint32_t incomplete; /* leechers */
  uint32_t downloaded; /* `completed` events seen since the torrent appeared */
};

struct store_announce {
  const uint8_t *info_hash; /* 20 bytes */
  enum store_family family;
  const uint8_t *addr;      /* compact form: 6 (IPv4) or 18 (IPv6) bytes */
  enum store_event event;
  int seeder;               /* left == 0 */
  uint32_t now;
  uint32_t timeout;         /* peers unseen this long are not handed out */
  uint32_t rnd;             /* any random number: where peer selection starts */
  int create;               /* 0: refuse an unknown torrent (hosted mode) */
  /* Where to put the peers handed out: up to max4 IPv4 records (6 bytes each)
   * into out4 and up to max6 IPv6 records (18 bytes) into out6. */
  uint8_t *out4, *out6;
  uint32_t max4, max6;
};

struct store_reply {
  struct store_counts counts;
  uint32_t n4, n6; /* records written to out4 / out6 */
};

struct store_totals {
  uint64_t torrents, peers, seeders, peers6;
};

struct store *store_new(void);
void store_free(struct store *s);

/* Records an announce and selects peers for the reply: never the announcing
 * peer itself, and only leechers for a seeder. A `stopped` event removes the
 * peer and hands out nobody. Returns 0, -ENOENT when the torrent is unknown
 * and a->create is 0, or -ENOMEM (the store is unchanged). */
int store_announce(struct store *s, const struct store_announce *a, struct store_reply *r);

/* Counts for one torrent; returns 1 when the torrent is known, else 0 with
 * zero counts. */
int store_scrape(struct store *s, const uint8_t info_hash[20], struct store_counts *c);

/* Calls fn for every torrent, bucket by bucket, holding that bucket's lock:
 * fn must not call back into the store. Stops early when fn returns nonzero. */
typedef int (*store_visit_fn)(void *ud, const uint8_t info_hash[20], const struct store_counts *c);
void store_foreach(struct store *s, store_visit_fn fn, void *ud);

/* Drops peers not seen since now - timeout, and torrents left without peers
 * (their completed count goes with them, as in opentracker). Returns the
 * number of peers dropped. Walks one bucket at a time, so announces keep
 * flowing. */
uint64_t store_expire(struct store *s, uint32_t now, uint32_t timeout);

void store_totals(struct store *s, struct store_totals *t);

#endif
