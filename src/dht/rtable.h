/* The routing table of one address family (BEP 5): k-buckets of 8 nodes
 * covering the 160-bit id space, where only the bucket holding our own id
 * splits, so the table knows many nodes near us and a few far away.
 *
 * Liveness (BEP 5): a node is good when it answered one of our queries
 * and we heard from it within 15 minutes; bad after 3 queries in a row
 * went unanswered; questionable otherwise. A full bucket takes a new node
 * only in place of a bad one, or by splitting when it holds our id; else
 * the newcomer waits as the bucket's candidate while its least recently
 * seen questionable node is pinged, and replaces that node if it fails.
 * Nodes whose id does not follow from their address (BEP 42) give way to
 * ones whose id does when a bucket is full.
 *
 * Pure: no socket and no clock (now_ms comes in); the table asks its
 * caller to send pings by handing back nodes. Owned by the DHT node
 * (dht.c), which embeds it; sh_dht_table_free releases the buckets. */
#ifndef SHOAL_DHT_RTABLE_H
#define SHOAL_DHT_RTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "base/addr.h"
#include "dht/krpc.h"

#define SH_DHT_K 8
/* BEP 5: good for 15 minutes after the last reply or query. */
#define SH_DHT_GOOD_MS (15u * 60 * 1000)
/* Unanswered queries in a row that make a node bad. */
#define SH_DHT_BAD_PINGS 3

struct sh_dht_node {
  uint8_t id[SH_DHT_ID_LEN];
  struct sh_addr addr;
  uint8_t pinged;              /* queries unanswered in a row */
  uint8_t compliant;           /* BEP 42: the id follows from the address */
  uint64_t replied_ms;         /* last reply to our query; 0: never */
  uint64_t heard_ms;           /* last message of any kind; 0: never */
  uint64_t pinged_ms;          /* last query sent to it; 0: none */
};

struct sh_dht_bucket {
  uint8_t first[SH_DHT_ID_LEN]; /* the lowest id it covers; the next
                                   bucket's first is one past its last */
  uint8_t depth;               /* bits of first that every id in it shares */
  uint8_t n;
  uint8_t has_cand;
  uint64_t changed_ms;         /* a node joined, was replaced or answered */
  struct sh_dht_node nodes[SH_DHT_K];
  struct sh_dht_node cand;     /* waits for a slot (see above) */
};

struct sh_dht_table {
  int family;                  /* 4 or 6 */
  uint8_t self[SH_DHT_ID_LEN];
  struct sh_dht_bucket *b;     /* sorted by first; b[0].first is all zeros */
  size_t nb, cap;
};

/* How we came to know a node. */
enum sh_dht_seen {
  SH_DHT_LEARNT = 0,           /* named in another node's reply: unverified */
  SH_DHT_QUERIED,              /* it sent us a query */
  SH_DHT_REPLIED,              /* it answered our query */
};

int sh_dht_table_init(struct sh_dht_table *t, int family, const uint8_t self[SH_DHT_ID_LEN],
                      uint64_t now_ms);
void sh_dht_table_free(struct sh_dht_table *t);

int sh_dht_node_good(const struct sh_dht_node *n, uint64_t now_ms);
int sh_dht_node_bad(const struct sh_dht_node *n);

/* The node with this id, or NULL. */
struct sh_dht_node *sh_dht_table_find(struct sh_dht_table *t, const uint8_t id[SH_DHT_ID_LEN]);
size_t sh_dht_table_bucket_of(const struct sh_dht_table *t, const uint8_t id[SH_DHT_ID_LEN]);

/* Records a node we heard from or of. Returns 2 when it joined the table,
 * 1 when it was there, 0 when it was left out (full, or our own id), or
 * -ENOMEM.
 * *ping is set to a questionable node the caller should ping (the
 * newcomer then waits as the candidate), or NULL. */
int sh_dht_table_seen(struct sh_dht_table *t, const uint8_t id[SH_DHT_ID_LEN],
                      const struct sh_addr *a, enum sh_dht_seen how, uint64_t now_ms,
                      struct sh_dht_node **ping);
/* A query to the node at a with this id went unanswered. */
void sh_dht_table_failed(struct sh_dht_table *t, const uint8_t id[SH_DHT_ID_LEN],
                         const struct sh_addr *a);

/* Up to k nodes closest to target (XOR), nearest first, into out. Bad
 * nodes are skipped; with good_only, so are questionable ones. Returns
 * how many. */
size_t sh_dht_table_closest(const struct sh_dht_table *t, const uint8_t *target,
                            struct sh_dht_node *out, size_t k, int good_only, uint64_t now_ms);

/* Counts for status: nodes, good nodes. */
void sh_dht_table_count(const struct sh_dht_table *t, uint64_t now_ms, size_t *nodes,
                        size_t *good);

/* Maintenance of bucket i (the caller walks the buckets from time to
 * time): a failed node gives way to the candidate; returns a node to ping
 * (the least recently seen questionable one, not pinged in the last
 * ping_gap_ms) or NULL. */
struct sh_dht_node *sh_dht_bucket_maintain(struct sh_dht_table *t, size_t i, uint64_t now_ms,
                                           uint64_t ping_gap_ms);
/* A random id inside bucket i (to refresh it with find_node). */
void sh_dht_bucket_random_id(const struct sh_dht_table *t, size_t i, uint64_t *rng,
                             uint8_t out[SH_DHT_ID_LEN]);

/* Moves every node into a fresh table around a new id (BEP 42 gave us
 * one). Returns 0 or -ENOMEM (then t is unchanged). */
int sh_dht_table_rebuild(struct sh_dht_table *t, const uint8_t self[SH_DHT_ID_LEN],
                         uint64_t now_ms);

#endif
