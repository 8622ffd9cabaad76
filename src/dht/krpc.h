/* KRPC, the DHT's messages (BEP 5), with the keys of BEP 32 (IPv6: nodes6,
 * want), BEP 33 (scrape: seed, noseed, scrape, BFsd, BFpe), BEP 42 (the
 * requester's address `ip`), BEP 43 (read-only `ro`) and BEP 51
 * (sample_infohashes): one struct for every message, decoded from a
 * datagram and encoded back to one.
 *
 * Pure: bytes in, a struct out and back; no socket, no clock. Decoding
 * takes untrusted bytes (fuzzed: fuzz_krpc.c) and never allocates beyond
 * the bencode parser's token array, which is bounded by the datagram.
 *
 * Ownership: a decoded message borrows from the datagram (tid, token,
 * nodes, nodes6, samples, the Bloom filters, the error text, `v`), which
 * must outlive it; `values` points into the message itself (vbuf). To
 * encode, the caller fills a struct whose pointers it owns for the call. */
#ifndef SHOAL_DHT_KRPC_H
#define SHOAL_DHT_KRPC_H

#include <stddef.h>
#include <stdint.h>

#include "base/addr.h"
#include "base/buf.h"

#define SH_DHT_ID_LEN 20
/* Compact node info: a 20-byte id and a compact address (BEP 5, BEP 32). */
#define SH_KRPC_NODE4_LEN 26
#define SH_KRPC_NODE6_LEN 38
/* BEP 33: two 256-byte Bloom filters of addresses (k = 2, m = 2048). */
#define SH_KRPC_BLOOM_LEN 256
/* Transaction ids are "a short string" (BEP 5): 2 bytes in libtorrent, 4
 * here; longer than 16 is refused as nonsense. Tokens are opaque: 4 to 20
 * bytes in the wild; longer than 64 is refused. */
#define SH_KRPC_MAX_TID 16
#define SH_KRPC_MAX_TOKEN 64
/* Peers read from one `values` list. A 4 KiB receive slot holds at most
 * 511 IPv4 entries; no client sends more than about 100 (which is already
 * over the 1024-byte payload BEP 32 allows); the rest are ignored. */
#define SH_KRPC_MAX_VALUES 128

enum sh_krpc_type { SH_KRPC_QUERY = 1, SH_KRPC_RESPONSE, SH_KRPC_ERROR };

enum sh_krpc_method {
  SH_KRPC_NONE = 0,
  SH_KRPC_PING,
  SH_KRPC_FIND_NODE,
  SH_KRPC_GET_PEERS,
  SH_KRPC_ANNOUNCE_PEER,
  SH_KRPC_SAMPLE_INFOHASHES, /* BEP 51 */
  SH_KRPC_UNKNOWN,           /* a query we do not know: answered by 204 */
};

/* BEP 32 `want` */
#define SH_KRPC_WANT_N4 1
#define SH_KRPC_WANT_N6 2

/* BEP 5 error codes */
enum {
  SH_KRPC_E_GENERIC = 201,
  SH_KRPC_E_SERVER = 202,
  SH_KRPC_E_PROTOCOL = 203,
  SH_KRPC_E_METHOD = 204,
};

struct sh_krpc_msg {
  uint8_t type;                 /* enum sh_krpc_type */
  uint8_t method;               /* queries: enum sh_krpc_method */
  uint8_t tid_len;
  const uint8_t *tid;
  const uint8_t *v;             /* `v`: client and version (BEP 5), or NULL */
  size_t v_len;
  uint8_t has_ip, ro;           /* BEP 42 `ip`, BEP 43 `ro` */
  struct sh_addr ip;            /* the requester's address as the responder saw it */

  /* arguments (queries) and return values (responses) */
  uint8_t has_id, has_target;
  uint8_t id[SH_DHT_ID_LEN];
  uint8_t target[SH_DHT_ID_LEN]; /* find_node and sample_infohashes `target`,
                                    get_peers and announce_peer `info_hash` */
  const uint8_t *token;
  size_t token_len;             /* 0: no token */
  uint16_t port;                /* announce_peer */
  uint8_t implied_port;         /* announce_peer (BEP 5) */
  uint8_t want;                 /* SH_KRPC_WANT_* bits, 0 when absent */
  uint8_t seed, noseed, scrape; /* BEP 33 */
  uint8_t has_nodes, has_nodes6;
  const uint8_t *nodes;         /* compact node info, a multiple of 26 bytes */
  size_t nodes_len;
  const uint8_t *nodes6;        /* a multiple of 38 bytes */
  size_t nodes6_len;
  const struct sh_addr *values; /* peers (get_peers); NULL when absent */
  size_t nvalues;
  size_t values_dropped;        /* entries ignored: past the cap or malformed */
  const uint8_t *bf_seeds, *bf_peers; /* BEP 33 `BFsd`, `BFpe`: 256 bytes each */
  uint8_t has_samples;          /* BEP 51 */
  const uint8_t *samples;       /* a multiple of 20 bytes */
  size_t samples_len;
  int64_t num, interval;

  /* errors */
  int64_t err_code;
  const uint8_t *err_msg;
  size_t err_len;

  struct sh_addr vbuf[SH_KRPC_MAX_VALUES]; /* where decoded values live */
};

/* Decodes one datagram. Returns 0, or SH_EPROTO with *why: not bencode,
 * not a dictionary, no `t` or `y`, a query without a method or arguments,
 * a missing or malformed `id` (queries, responses), a 20-byte argument of
 * another size, `nodes`/`nodes6` whose length is not a multiple of an
 * entry, a port outside 1..65535 without implied_port, a Bloom filter that
 * is not 256 bytes. Unknown keys are ignored, so are `values` entries of
 * another length than 6 or 18 (counted in values_dropped). For a query,
 * a failure after the transaction id was read still leaves m->tid set, so
 * the caller can answer with error 203. */
int sh_krpc_decode(const uint8_t *p, size_t n, struct sh_krpc_msg *m, const char **why);

/* Appends m bencoded to b, keys sorted as bencode requires; only what is
 * set is written (a field is set when its has_ flag, pointer, or non-zero
 * value says so). b->oom says when memory ran out. */
void sh_krpc_encode(struct sh_buf *b, const struct sh_krpc_msg *m);

/* The method's name on the wire ("ping", "find_node", ...), or NULL. */
const char *sh_krpc_method_name(int method);

/* One compact node entry (26 or 38 bytes at p) into id and addr. */
void sh_krpc_node_get(const uint8_t *p, int family, uint8_t id[SH_DHT_ID_LEN],
                      struct sh_addr *addr);
/* Writes one entry at out; returns its length (26 or 38). */
size_t sh_krpc_node_put(uint8_t *out, const uint8_t id[SH_DHT_ID_LEN], const struct sh_addr *a);

#endif
