/* An in-memory transport pair: what one end writes, the other reads, on
 * the loop's next turn. No sockets, so connection and engine tests (and
 * fuzz_conn) run a peer in the same thread, fast and deterministically.
 *
 * Each end holds an inbox of SH_MEMIO_WINDOW bytes, like a socket's
 * receive buffer: a write takes what fits and returns -EAGAIN when the
 * other end's inbox is full, and poll_writable reports when it drains. An
 * end whose owner never sets callbacks can be driven by hand (raw): the
 * test writes with sh_memio_write and takes what arrived with
 * sh_memio_read. Closing one end delivers an orderly end of stream
 * (SH_ECLOSED) to the other once its inbox is read.
 *
 * Ownership: sh_memio_pair allocates both ends. An end given to a
 * connection is closed by it (ops->close); a raw end is closed by the test
 * with sh_memio_close. Each frees itself after its close callback. */
#ifndef SHOAL_PEER_MEMIO_H
#define SHOAL_PEER_MEMIO_H

#include <stddef.h>
#include <uv.h>

#include "peer/transport.h"

#define SH_MEMIO_WINDOW (256u * 1024)

/* a_addr/b_addr: each end's own address (the other end's `remote`); NULL
 * leaves it zero. Returns 0 or -ENOMEM. */
int sh_memio_pair(uv_loop_t *loop, const struct sh_addr *a_addr, const struct sh_addr *b_addr,
                  struct sh_transport **a, struct sh_transport **b);

/* Gives the end a sendfile that reads the file (pread) into the other
 * end's inbox, so the upload path that names file extents runs too. */
void sh_memio_set_sendfile(struct sh_transport *t, int on);

/* Raw use of an end without callbacks. */
ssize_t sh_memio_write(struct sh_transport *t, const void *data, size_t len);
/* Takes up to cap bytes that arrived; 0 when none. */
size_t sh_memio_read(struct sh_transport *t, void *buf, size_t cap);
size_t sh_memio_pending(const struct sh_transport *t);
/* The other end was closed (everything it wrote is in the inbox). */
int sh_memio_peer_closed(const struct sh_transport *t);
void sh_memio_close(struct sh_transport *t);

#endif
