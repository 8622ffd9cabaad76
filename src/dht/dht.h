/* A DHT node (BEP 5, with BEP 32, 33, 42, 43, 51) as a pure core, in the
 * manner of jech/dht: its owner feeds it datagrams and a clock, and it
 * hands back datagrams to send, the peers its searches find, and how long
 * it may sleep. No socket, no timer, no global: a process may run many
 * (a session, a test, ten thousand in a simulation).
 *
 * One node is dual-stack: a routing table per address family (BEP 32),
 * one id for both. It answers ping, find_node, get_peers (with scrapes,
 * BEP 33), announce_peer and sample_infohashes (BEP 51); unknown queries
 * that name a target are answered like find_node, the rest with error
 * 204. Every reply carries the requester's address (BEP 42 `ip`). In
 * read-only mode (BEP 43) it answers nothing and marks its queries `ro`.
 *
 * Everything is bounded: the routing tables (k = 8), the peer store
 * (store.h), the searches running at once and the queries outstanding.
 * Replies are accepted only for an outstanding transaction id from the
 * address it was sent to.
 *
 * Ownership: sh_dht_new allocates, sh_dht_free releases everything; the
 * callbacks' arguments are borrowed for the call. The callbacks must not
 * free the node; they may start searches. One thread at a time. */
#ifndef SHOAL_DHT_DHT_H
#define SHOAL_DHT_DHT_H

#include <stddef.h>
#include <stdint.h>

#include "base/addr.h"
#include "base/buf.h"
#include "dht/krpc.h"

struct sh_dht;

/* How a search went, for its owner (and the simulation's figures). */
struct sh_dht_search_info {
  uint8_t ih[SH_DHT_ID_LEN];
  int family;                   /* 4 or 6 */
  int find_node;                /* 1: a find_node lookup, else get_peers */
  uint32_t queries;             /* queries sent, announces included */
  uint32_t replies;
  uint32_t values;              /* peers received, duplicates included */
  uint32_t announced;           /* nodes that acknowledged our announce */
  uint64_t elapsed_ms;          /* from start to the end of the lookup */
  uint64_t first_value_ms;      /* from start to the first peer; 0: none */
  double scrape_seeds, scrape_peers; /* BEP 33 estimates; -1 without */
};

struct sh_dht_callbacks {
  void *ud;
  /* A datagram to send (at most 1500 bytes, usually under 1024). */
  void (*send)(void *ud, const uint8_t *p, size_t n, const struct sh_addr *to);
  /* Peers of ih, as they come (duplicates possible): found by a search,
   * held in our own store when a search starts, or announcing themselves
   * to us. In a small DHT we are one of the K closest nodes ourselves, and
   * nobody else holds those peers. */
  void (*peers)(void *ud, const uint8_t ih[SH_DHT_ID_LEN], const struct sh_addr *a, size_t n);
  /* A search ended (may be NULL). */
  void (*search_done)(void *ud, const struct sh_dht_search_info *info);
};

struct sh_dht_config {
  uint8_t id[SH_DHT_ID_LEN];    /* with has_id: a saved id; else random */
  int has_id;
  uint64_t seed;                /* the random generator's seed; not 0 */
  int v4, v6;                   /* which families this node speaks */
  int read_only;                /* BEP 43 */
  size_t max_hashes;            /* stored info-hashes, default 16384 */
  size_t max_peers;             /* per info-hash, default 500 */
  size_t max_total_peers;       /* in all, default 100000 (2.4 MB) */
  size_t max_searches;          /* at once, default 64 */
  size_t max_queries;           /* outstanding, default 1024 (max 65535) */
};

/* Fills c with the defaults: random id, both families, read-write. */
void sh_dht_config_default(struct sh_dht_config *c);

int sh_dht_new(const struct sh_dht_config *c, const struct sh_dht_callbacks *cb, uint64_t now_ms,
               struct sh_dht **out);
void sh_dht_free(struct sh_dht *d);

/* One datagram from `from`. Never fails: what is malformed or unexpected
 * is dropped (and counted), answered with an error when it was a query. */
void sh_dht_input(struct sh_dht *d, const uint8_t *p, size_t n, const struct sh_addr *from,
                  uint64_t now_ms);
/* Timeouts, searches, table upkeep, token secrets, expiry. Returns the ms
 * until it wants to run again (at most 1000). */
uint64_t sh_dht_periodic(struct sh_dht *d, uint64_t now_ms);

/* Asks the node at a for the nodes near our id (a bootstrap node, a saved
 * node, a torrent's `nodes`): its reply puts it and them in the table.
 * Returns 0, -EAFNOSUPPORT (a family the node does not speak) or
 * SH_ELIMIT (too many queries outstanding). */
int sh_dht_bootstrap(struct sh_dht *d, const struct sh_addr *a, uint64_t now_ms);
/* Pings the node at a (a peer's PORT message, BEP 5). Same returns. */
int sh_dht_ping(struct sh_dht *d, const struct sh_addr *a, uint64_t now_ms);

struct sh_dht_search_opts {
  uint16_t port;                /* announce on this port once the closest
                                   nodes are known; 0: only look */
  int implied_port;             /* BEP 5: the receiver takes our UDP source
                                   port (our TCP and UDP ports are one) */
  int seed;                     /* BEP 33: we are seeding */
  int scrape;                   /* BEP 33: ask for Bloom filters */
  int find_node;                /* a find_node lookup of ih instead */
};
/* Starts a search for ih over family's table (an announce when o->port).
 * A search already running for the same ih and family is joined (its
 * options raised). Returns 0, -EAFNOSUPPORT, or SH_ELIMIT (max_searches
 * are running: try again later). */
int sh_dht_search(struct sh_dht *d, const uint8_t ih[SH_DHT_ID_LEN], int family,
                  const struct sh_dht_search_opts *o, uint64_t now_ms);

struct sh_dht_stats {
  uint8_t id[SH_DHT_ID_LEN];
  size_t nodes[2], good[2], buckets[2]; /* [0] IPv4, [1] IPv6 */
  size_t hashes, peers;         /* stored */
  size_t searches, outstanding; /* running, queries awaiting replies */
  uint64_t queries_in, replies_in, errors_in;
  uint64_t queries_out, replies_out, errors_out;
  uint64_t dropped;             /* malformed, or replies nobody asked for */
  uint64_t bad_tokens, store_refused;
  struct sh_addr external;      /* BEP 42 vote winner; family 0: unknown */
  int id_compliant;             /* our id follows from `external` */
};
void sh_dht_stats(const struct sh_dht *d, uint64_t now_ms, struct sh_dht_stats *st);

/* The node's id and up to max good nodes of each family, bencoded
 * ({"id", "nodes", "nodes6"}), for the next start. */
void sh_dht_save(const struct sh_dht *d, uint64_t now_ms, size_t max, struct sh_buf *b);
/* Reads saved state: the id, and the nodes (at most cap) to bootstrap
 * from. Returns the number of nodes, or SH_EPROTO when it is not ours. */
int sh_dht_load(const uint8_t *p, size_t n, uint8_t id[SH_DHT_ID_LEN], struct sh_addr *nodes,
                size_t cap);

#endif
