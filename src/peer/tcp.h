/* The TCP transport: libuv reads, connects, accepts and closes; writes go
 * to the descriptor with this module's own sendmsg and sendfile calls.
 *
 * Why not libuv's writes: a libuv stream cannot sendfile, and a 1 GiB
 * upload through pread + write cost the seed two copies per byte (~30 % of
 * its CPU). The uv_tcp_t only reads; when the socket is full, a uv_poll_t
 * on a dup() of the descriptor (an epoll registration of its own, so the
 * two handles never share a watcher) reports when it drains.
 *
 * Ownership: sh_tcp_connect and sh_tcp_accept allocate the transport; the
 * connection that receives it ends it with ops->close (see transport.h). */
#ifndef SHOAL_PEER_TCP_H
#define SHOAL_PEER_TCP_H

#include <sys/types.h>
#include <uv.h>

#include "peer/transport.h"

/* Starts connecting to addr; cb->on_connect reports the result. flags:
 * SH_TRANSPORT_LOCAL_SENDFILE or 0 (SH_TRANSPORT_LOCAL is found out here).
 * Returns 0 or a negative code (then nothing was allocated and no callback
 * runs). */
int sh_tcp_connect(uv_loop_t *loop, const struct sh_addr *addr, unsigned flags,
                   const struct sh_transport_cb *cb, void *ud, struct sh_transport **out);
/* Accepts one pending connection of a listening socket. The transport
 * starts without callbacks: the caller sets cb and ud before reading. */
int sh_tcp_accept(uv_loop_t *loop, uv_stream_t *server, unsigned flags, struct sh_transport **out);

/* The sendfile(2) that uploads use. Tests replace it to play a file system
 * that cannot splice (EINVAL), whose fallback no real one here exercises. */
extern ssize_t (*sh_tcp_sendfile_fn)(int out_fd, int in_fd, off_t *offset, size_t count);

#endif
