/* The uTP transport: peer connections over BEP 29 (the pure core in
 * src/utp/) on the session's shared UDP socket (net/udp.c, consumer
 * SH_UDP_UTP), behind the same operations table as TCP (transport.h).
 *
 * One endpoint per UDP socket holds the core and what drives it: a timer
 * for its deadlines, an idle handle for work deferred to the next loop turn
 * (held data offered again after read_start, close callbacks), and a
 * staging buffer where the packets of one call are gathered into runs of
 * equal size to one peer, each leaving in one system call (UDP GSO). Data
 * read is copied once, from the socket's buffer into the space the
 * connection gave (alloc), and reported once per batch of datagrams
 * (on_read), so a connection sees a read of up to 64 KiB, not one per
 * packet. No sendfile: uploads go through memory.
 *
 * Ownership: the session opens an endpoint on each UDP socket and closes
 * it, after every connection, before the socket. A transport (dialled, or
 * accepted and handed to on_accept) belongs to the connection that closes
 * it (transport.h); closed, the core finishes it alone (its FIN). Loop
 * thread only. */
#ifndef SHOAL_PEER_UTP_H
#define SHOAL_PEER_UTP_H

#include <uv.h>

#include "net/udp.h"
#include "peer/transport.h"
#include "utp/utp.h"

struct sh_utp_ep;

/* A peer's connection sent its first data: tr waits for its owner to set
 * cb and ud (sh_session_accept does, through the hub) or close it. */
typedef void (*sh_utp_accept_cb)(void *ud, struct sh_transport *tr);

/* Takes over the socket's uTP datagrams (and turns on GRO and DF for it).
 * o NULL: the core's defaults, with a seed from the kernel. Returns 0 or a
 * negative code. */
int sh_utp_ep_open(uv_loop_t *loop, struct sh_udp *udp, const struct sh_utp_opts *o,
                   sh_utp_accept_cb on_accept, void *ud, struct sh_utp_ep **out);
/* Stops taking datagrams, drops what the core still holds, and calls
 * done(ud) from the loop once its handles are closed. */
void sh_utp_ep_close(struct sh_utp_ep *ep, void (*done)(void *ud), void *ud);
/* Dials `to` (the SYN leaves now); cb->on_connect reports the result.
 * Returns 0, or a negative code (then nothing was allocated and no
 * callback runs). */
int sh_utp_ep_dial(struct sh_utp_ep *ep, const struct sh_addr *to,
                   const struct sh_transport_cb *cb, void *ud, struct sh_transport **out);
int sh_utp_ep_family(const struct sh_utp_ep *ep); /* 4 or 6 */
void sh_utp_ep_stats(const struct sh_utp_ep *ep, struct sh_utp_stats *st);

#endif
