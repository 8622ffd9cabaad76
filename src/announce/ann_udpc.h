/* The session-wide UDP tracker client (BEP 15) on a libuv loop.
 *
 * A registry (struct ann_udpc_reg, one per session) holds one client per
 * tracker host:port, shared by every announcer whose torrents use that
 * tracker and refcounted by them: a thousand torrents on one tracker make
 * one name lookup and share one connection id. A client resolves its host
 * asynchronously (uv_getaddrinfo), runs one connect exchange at a time for
 * all of its transactions, caches the connection id for 60 s (BEP 15:
 * usable for one minute after it was received), and keeps at most
 * ANN_UDPC_WINDOW requests in flight (the rest wait their turn, so a
 * thousand announces do not leave as one burst that overruns socket
 * buffers). Each transaction retransmits after base * 2^n ms (n reset by
 * each reply, up to max_tries sends or waits, whichever stage it is in).
 *
 * Datagrams go out and come back on the session's shared UDP sockets
 * (net/udp.c), the one whose family matches the tracker's address; each
 * request registers its transaction id for the tracker's address there,
 * so a reply with another id, or from any other address, never reaches a
 * client. A registry given no socket of a family opens one of its own for
 * it (port chosen by the kernel) on first use and closes it with the
 * registry: callers without a session, such as tests, still work.
 *
 * Ownership: the session creates the registry (ann_udpc_reg_new) and
 * closes it (ann_udpc_reg_close) after its announcers stopped; the sockets
 * it is given are borrowed and must outlive it. An announcer takes a client
 * with ann_udpc_acquire() and gives it back with ann_udpc_release() after
 * cancelling its transactions; the last release frees the client. A
 * transaction (struct ann_udpx) belongs to its client: its callback is
 * called exactly once, never from inside the call that started it, unless
 * it is cancelled first; it is freed after that. The reply passed to the
 * callback is borrowed for the call. */
#ifndef SHOAL_ANN_UDPC_H
#define SHOAL_ANN_UDPC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "announce/ann_msg.h"

struct sh_scrape_info;
struct sh_udp;
struct ann_udpc_reg;
struct ann_udpc;
struct ann_udpx;

/* Requests in flight per tracker: 32 of at most 1.2 KB each stay far below
 * the default 208 KiB socket buffers at either end, and still make 320
 * announces a second over a 100 ms round trip. */
#define ANN_UDPC_WINDOW 32

/* err: 0, SH_ETIMEOUT (no reply after the last retransmission), SH_ETRACKER
 * (error packet; msg is its text), SH_EPROTO (malformed reply), or a
 * negative errno (resolution or socket failure); msg says which. */
typedef void (*ann_udpc_announce_cb)(void *ud, int err, const char *msg, struct ann_reply *r);
typedef void (*ann_udpc_scrape_cb)(void *ud, int err, const char *msg,
                                   const struct sh_scrape_info *s);

/* socks: the session's UDP sockets (any families, may be NULL with n = 0),
 * copied as a list and borrowed. NULL when out of memory. */
struct ann_udpc_reg *ann_udpc_reg_new(uv_loop_t *loop, struct sh_udp *const *socks, size_t n);
/* Frees the registry once every client has been released and its own
 * sockets are closed; done(ud) runs from the loop afterwards (may be
 * NULL), never inside this call. */
void ann_udpc_reg_close(struct ann_udpc_reg *r, void (*done)(void *ud), void *ud);
/* Clients alive (acquired, or released and still closing): for tests. */
size_t ann_udpc_reg_count(const struct ann_udpc_reg *r);

/* The client for url's host:port (udp://host:port[/path?query]), created
 * on first use. *path_query points into url at its path and query (BEP 41
 * URLData), "" when none. NULL with *err = SH_EURL for a malformed URL,
 * -ENOMEM, or -ECANCELED when the registry is closing. */
struct ann_udpc *ann_udpc_acquire(struct ann_udpc_reg *r, const char *url,
                                  const char **path_query, int *err);
/* Drops one reference; the caller has cancelled its transactions. */
void ann_udpc_release(struct ann_udpc *u);

/* How one transaction retransmits: the BEP 15 base (15 s) and how many
 * sends (or waits, before it could send) it gets. stalled (may be NULL) is
 * told each time an interval passes unanswered and the transaction goes
 * on (tries: the intervals gone so far), from the transaction's timer:
 * BEP 15's whole schedule is 2 h 7 min, and a tracker silent for its first
 * intervals is worth showing as failing long before that. It may cancel
 * the transaction. */
typedef void (*ann_udpc_stall_cb)(void *ud, uint32_t tries, const char *msg);
struct ann_udpc_sched {
  uint32_t base_ms;
  uint32_t max_tries;
  ann_udpc_stall_cb stalled;
};

/* Start an announce (q is copied; q->trackerid is not used by UDP;
 * path_query as from ann_udpc_acquire, borrowed until the transaction
 * ends) or a scrape. NULL when out of memory (cb is then never called). */
struct ann_udpx *ann_udpc_announce(struct ann_udpc *u, const struct ann_req *q,
                                   const char *path_query, struct ann_udpc_sched s,
                                   ann_udpc_announce_cb cb, void *ud);
struct ann_udpx *ann_udpc_scrape(struct ann_udpc *u, const uint8_t info_hash[20],
                                 struct ann_udpc_sched s, ann_udpc_scrape_cb cb, void *ud);
void ann_udpc_cancel(struct ann_udpx *x);

/* An ICMP error reported for a datagram sent to `to` (net/udp.h's error
 * consumer): every transaction of the tracker at that address fails at
 * once with err (-ECONNREFUSED for "port unreachable", -EHOSTUNREACH, ...)
 * instead of waiting out its schedule. Reported from their timers. */
void ann_udpc_reg_icmp(struct ann_udpc_reg *r, const struct sockaddr *to, int err);

/* A random 32-bit number from the OS (transaction ids, keys). */
uint32_t ann_random_u32(void);

#endif
