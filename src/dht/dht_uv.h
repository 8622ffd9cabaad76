/* A DHT node on a libuv loop: the pure core (dht.h) fed by the session's
 * shared UDP sockets (net/udp.h, consumer SH_UDP_DHT) and a timer, with
 * bootstrap host names resolved on the loop.
 *
 * One socket per address family carries the DHT: the first IPv4 and the
 * first IPv6 socket given. A reply must leave from the address the query
 * reached, and the node has one address per family that other nodes know
 * it by; datagrams reaching other sockets find no DHT consumer there.
 *
 * Ownership: the session creates it after its UDP sockets and closes it
 * before them. sh_dht_uv_close() stops delivery at once and frees the
 * node from the loop once its timer and name lookups are done (then
 * done(ud)). Everything runs on the loop thread; the peers callback's
 * arguments are borrowed for the call. */
#ifndef SHOAL_DHT_DHT_UV_H
#define SHOAL_DHT_DHT_UV_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/addr.h"
#include "base/buf.h"
#include "dht/dht.h"

struct sh_udp;
struct sh_dht_uv;

struct sh_dht_uv_opts {
  const uint8_t *id;            /* a saved id, or NULL: a random one */
  const struct sh_addr *nodes;  /* saved nodes to bootstrap from */
  size_t nnodes;
  int read_only;                /* BEP 43 */
  uint64_t seed;                /* the core's random generator */
};

struct sh_dht_uv_cb {
  void *ud;
  void (*peers)(void *ud, const uint8_t ih[SH_DHT_ID_LEN], const struct sh_addr *a, size_t n);
  void (*search_done)(void *ud, const struct sh_dht_search_info *info); /* may be NULL */
};

/* Starts a node on the sockets (at least one). Returns 0, -EINVAL (no
 * socket) or -ENOMEM. */
int sh_dht_uv_new(uv_loop_t *loop, struct sh_udp *const *udp, size_t nudp,
                  const struct sh_dht_uv_opts *o, const struct sh_dht_uv_cb *cb,
                  struct sh_dht_uv **out);
void sh_dht_uv_close(struct sh_dht_uv *u, void (*done)(void *ud), void *ud);

/* Bootstraps from a node given by address, or by name ("router.example",
 * "1.2.3.4", "::1") and port: the name is resolved on the loop first and
 * every address of a family the node speaks is used. Returns 0 or a
 * negative code (no family for it, a lookup that could not start). */
int sh_dht_uv_add_node(struct sh_dht_uv *u, const struct sh_addr *a);
int sh_dht_uv_add_host(struct sh_dht_uv *u, const char *host, uint16_t port);
/* A peer's PORT message (BEP 5): ping its node. */
void sh_dht_uv_ping(struct sh_dht_uv *u, const struct sh_addr *a);
/* A search on every family the node speaks (see sh_dht_search). Returns
 * 0 when at least one started, else the last error. */
int sh_dht_uv_search(struct sh_dht_uv *u, const uint8_t ih[SH_DHT_ID_LEN],
                     const struct sh_dht_search_opts *o);

void sh_dht_uv_stats(const struct sh_dht_uv *u, struct sh_dht_stats *st);
/* The id and good nodes, for the next start (sh_dht_load reads it). */
void sh_dht_uv_save(const struct sh_dht_uv *u, struct sh_buf *b);

#endif
