/* A UDP tracker client (BEP 15) on a libuv loop: one per udp:// tracker.
 * It resolves the host asynchronously (uv_getaddrinfo), keeps one socket
 * while in use (closed after 60 s idle, so idle trackers hold no
 * descriptor), caches the connection id for 60 s (BEP 15: usable for one
 * minute after it was received), retransmits after base * 2^n ms (n reset
 * by each reply, up to max_tries sends per step), and ignores datagrams
 * from any address but the tracker's and replies with another transaction
 * id.
 *
 * Ownership: the announcer creates it with ann_udpc_new() and ends it with
 * ann_udpc_close(), which frees it once its handles are closed. A
 * transaction (struct ann_udpx) belongs to the client: its callback is called
 * exactly once unless it is cancelled first; it is freed after that. The
 * reply passed to the callback is borrowed for the call. */
#ifndef SHOAL_ANN_UDPC_H
#define SHOAL_ANN_UDPC_H

#include <stdint.h>
#include <uv.h>

#include "announce/ann_msg.h"

struct sh_scrape_info;
struct ann_udpc;
struct ann_udpx;

/* err: 0, SH_ETIMEOUT (no reply after the last retransmission), SH_ETRACKER
 * (error packet; msg is its text), SH_EPROTO (malformed reply), or a
 * negative errno (resolution or socket failure); msg says which. */
typedef void (*ann_udpc_announce_cb)(void *ud, int err, const char *msg, struct ann_reply *r);
typedef void (*ann_udpc_scrape_cb)(void *ud, int err, const char *msg,
                                   const struct sh_scrape_info *s);

/* url: udp://host:port[/path?query]. Returns NULL with *err = SH_EURL for a
 * malformed URL or -ENOMEM. */
struct ann_udpc *ann_udpc_new(uv_loop_t *loop, const char *url, uint32_t base_ms,
                              uint32_t max_tries, int *err);
/* Start an announce (q is copied; q->trackerid is not used by UDP) or a
 * scrape. NULL when out of memory or closing (cb is then never called).
 * max_tries, when nonzero and below the client's, shortens this announce's
 * schedule (the tier walk does not wait two hours on one dead tracker). */
struct ann_udpx *ann_udpc_announce(struct ann_udpc *u, const struct ann_req *q,
                                   uint32_t max_tries, ann_udpc_announce_cb cb, void *ud);
struct ann_udpx *ann_udpc_scrape(struct ann_udpc *u, const uint8_t info_hash[20],
                                 ann_udpc_scrape_cb cb, void *ud);
void ann_udpc_cancel(struct ann_udpx *x);
/* Cancels every transaction, closes the socket and frees u; done(ud) runs
 * from the loop afterwards (may be NULL). */
void ann_udpc_close(struct ann_udpc *u, void (*done)(void *ud), void *ud);

/* A random 32-bit number from the OS (transaction ids, keys). */
uint32_t ann_random_u32(void);

#endif
