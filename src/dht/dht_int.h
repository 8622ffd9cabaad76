/* The DHT node's insides, shared by its files: dht.c (life, input,
 * transactions, upkeep), dht_serve.c (answering queries) and
 * dht_search.c (lookups and announces). Not for other modules. */
#ifndef SHOAL_DHT_DHT_INT_H
#define SHOAL_DHT_DHT_INT_H

#include "dht/dht.h"
#include "dht/rtable.h"
#include "dht/store.h"

/* A query unanswered for 2 s counts as lost: DHT replies come within a
 * few hundred ms, and a search does not wait for stragglers (libtorrent's
 * first timeout is shorter still). Its transaction lingers to 10 s so a
 * late reply still teaches us nodes and proves its sender alive. */
#define SH_DHT_QUERY_TIMEOUT_MS 2000u
#define SH_DHT_TX_LINGER_MS 10000u
/* Kademlia's alpha: queries in flight per search. */
#define SH_DHT_ALPHA 3
/* Candidates a search keeps, closest first: the K it needs plus room for
 * ones that fail. */
#define SH_DHT_SEARCH_NODES 16
/* A search that has not converged by then ends with what it has. */
#define SH_DHT_SEARCH_MAX_MS 30000u
/* Table upkeep: one pass over the buckets every 10 s, a questionable node
 * pinged at most once a minute, a bucket idle for 15 min refreshed (one
 * with room left, for a minute). */
#define SH_DHT_MAINT_MS 10000u
#define SH_DHT_PING_GAP_MS 60000u
#define SH_DHT_REFRESH_MS (15u * 60 * 1000)
#define SH_DHT_SPARSE_REFRESH_MS 60000u
/* Tokens (BEP 5): the secret changes every 5 minutes and the previous one
 * is still honoured, so a token is good for 5 to 10 minutes. */
#define SH_DHT_SECRET_MS (5u * 60 * 1000)
#define SH_DHT_TOKEN_LEN 8
/* Stored peers are swept once a minute. */
#define SH_DHT_EXPIRE_MS 60000u
/* BEP 32: no datagram over 1024 bytes of payload. */
#define SH_DHT_MAX_PAYLOAD 1024
/* BEP 42: our address as others see it is settled after this many votes
 * from distinct replies, by a majority. */
#define SH_DHT_VOTES 10
#define SH_DHT_VOTE_SLOTS 8

/* Bootstrap nodes are remembered and asked again until one of them has
 * answered and the table holds K good nodes: after 5 s, then twice as
 * long each time up to 5 min. One lost datagram must not leave a node
 * alone for good, nor in an island of nodes that bootstrapped from it. */
#define SH_DHT_MAX_BOOT 16
#define SH_DHT_BOOT_RETRY_MS 5000u
#define SH_DHT_BOOT_RETRY_MAX_MS (5u * 60 * 1000)

/* Our wire transaction id: 2 bytes of slot index, 2 of a generation. */
#define SH_DHT_TID_LEN 4

struct sh_dht_tx {
  uint16_t gen;                 /* 0: free */
  uint8_t method;               /* enum sh_krpc_method */
  uint8_t timed_out;
  uint8_t has_id;               /* the node's id is known (table, search) */
  uint8_t id[SH_DHT_ID_LEN];
  uint32_t search;              /* the search's serial, 0: none */
  struct sh_addr to;
  uint64_t sent_ms;
};

struct sh_dht_snode {
  uint8_t id[SH_DHT_ID_LEN];
  struct sh_addr addr;
  uint64_t sent_ms;             /* get_peers/find_node sent; 0: not yet */
  uint8_t replied, failed;
  uint8_t ann_sent, acked;      /* announce_peer */
  uint8_t token_len;            /* 0: none (or too long to keep) */
  uint8_t token[32];
};

struct sh_dht_search {
  uint32_t serial;
  uint8_t target[SH_DHT_ID_LEN];
  int family;
  struct sh_dht_search_opts o;
  int phase;                    /* 0 lookup, 1 announcing, 2 done */
  uint64_t started_ms, lookup_done_ms, first_value_ms;
  uint32_t queries, replies, values, acked;
  int scraped;
  uint8_t bf_seeds[SH_KRPC_BLOOM_LEN], bf_peers[SH_KRPC_BLOOM_LEN];
  int nn;
  struct sh_dht_snode n[SH_DHT_SEARCH_NODES];
};

struct sh_dht_vote {
  struct sh_addr ip;            /* port 0 */
  uint32_t n;
};

struct sh_dht {
  struct sh_dht_config cfg;
  struct sh_dht_callbacks cb;
  uint8_t id[SH_DHT_ID_LEN];
  uint64_t rng;
  struct sh_dht_table t4, t6;
  struct sh_dht_store store;
  /* transactions: slots with a free list */
  struct sh_dht_tx *tx;
  size_t ntx, cap_tx;           /* slots made so far */
  uint16_t *free_tx;
  size_t nfree, cap_free;
  size_t outstanding;
  uint32_t next_serial;
  struct sh_dht_search **search;
  size_t nsearch, cap_search;
  uint8_t secret[2][16];        /* [0] current, [1] previous */
  uint64_t secret_ms, maint_ms, expire_ms;
  uint64_t self_lookup_ms[2];   /* the last lookup of our id: [0] IPv4, [1] IPv6 */
  size_t maint_bucket;          /* the next bucket to refresh, round robin */
  uint64_t maint_passes;
  struct sh_addr boot[SH_DHT_MAX_BOOT];
  size_t nboot, boot_next;      /* boot_next: the slot a new one takes when full */
  int boot_answered;            /* a bootstrap node answered (per family: bit f) */
  uint64_t boot_ms, boot_gap_ms;
  struct sh_dht_vote votes[SH_DHT_VOTE_SLOTS];
  uint32_t nvotes;
  struct sh_addr external;
  struct sh_buf out;            /* the datagram being built, reused */
  struct sh_dht_stats st;       /* the counters (the sizes are filled on demand) */
};

static inline struct sh_dht_table *sh_dht_table_of(struct sh_dht *d, int family)
{
  return family == 6 ? &d->t6 : &d->t4;
}
static inline int sh_dht_speaks(const struct sh_dht *d, int family)
{
  return family == 6 ? d->cfg.v6 : family == 4 ? d->cfg.v4 : 0;
}

/* dht.c */
/* Our `v` (BEP 5, BEP 20): client "SH", version 0.1. */
extern const uint8_t sh_dht_version[4];
/* Encodes m into d->out and hands it to the send callback. */
void sh_dht_send_msg(struct sh_dht *d, const struct sh_krpc_msg *m, const struct sh_addr *to);
/* Sends a query (m's type, tid and id are filled here) and records its
 * transaction. id: the node's id when known. Returns 0 or SH_ELIMIT. */
int sh_dht_query(struct sh_dht *d, struct sh_krpc_msg *m, const struct sh_addr *to,
                 const uint8_t *id, uint32_t search, uint64_t now_ms);
/* A node was heard from or of: into its table, pinging whom the table
 * asks for. */
void sh_dht_seen(struct sh_dht *d, const uint8_t id[SH_DHT_ID_LEN], const struct sh_addr *a,
                 enum sh_dht_seen how, uint64_t now_ms);
/* The nodes of a reply's `nodes` or `nodes6`, learnt into the table. */
void sh_dht_learn_nodes(struct sh_dht *d, const uint8_t *p, size_t len, int family,
                        uint64_t now_ms);

/* dht_serve.c */
void sh_dht_serve(struct sh_dht *d, const struct sh_krpc_msg *q, const struct sh_addr *from,
                  uint64_t now_ms);
/* A token for address a, with the current (which 0) or previous secret. */
void sh_dht_token(const struct sh_dht *d, const struct sh_addr *a, int which,
                  uint8_t out[SH_DHT_TOKEN_LEN]);

/* dht_search.c */
struct sh_dht_search *sh_dht_search_by_serial(struct sh_dht *d, uint32_t serial);
/* A reply (or error: m NULL, failed) to a search's query. */
void sh_dht_search_reply(struct sh_dht *d, struct sh_dht_search *s, const struct sh_dht_tx *tx,
                         const struct sh_krpc_msg *m, uint64_t now_ms);
void sh_dht_search_timeout(struct sh_dht *d, struct sh_dht_search *s, const struct sh_dht_tx *tx,
                           uint64_t now_ms);
/* Sends what searches may send, ends those that are done. */
void sh_dht_search_step_all(struct sh_dht *d, uint64_t now_ms);
void sh_dht_search_free_all(struct sh_dht *d);
/* Is a find_node lookup of our own id running for family? */
int sh_dht_self_lookup_running(const struct sh_dht *d, int family);

#endif
