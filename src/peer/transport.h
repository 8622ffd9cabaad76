/* A byte-stream transport under a peer connection: TCP (tcp.c), uTP
 * (utp.c), an in-memory pair for tests (memio.c); an MSE filter wrapping
 * another transport plugs in here later. The connection (conn.c) drives it
 * through the operations table and hears back through the callbacks; a
 * transport knows nothing of torrents or of the peer protocol.
 *
 * Reading is libuv-stream-like: while reading is on, the transport asks
 * its owner for space (alloc) and reports what it put there (on_read).
 * Writing is pull-style, so the connection keeps its own ordered queue:
 * writev/sendfile write what the transport takes now and return the count,
 * or -EAGAIN when it takes nothing; then poll_writable(1) asks for one
 * on_writable once it can take more.
 *
 * Ownership: whoever creates a transport (sh_tcp_*, sh_memio_pair) hands
 * it to a connection, which ends it with ops->close. The transport then
 * calls cb->on_closed exactly once, from the loop, never from inside close,
 * after which its memory is gone. No other callback runs after close. */
#ifndef SHOAL_PEER_TRANSPORT_H
#define SHOAL_PEER_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "base/addr.h"

struct sh_transport;

struct sh_transport_cb {
  /* Space for the next read: at most *len bytes at *buf. A zero *len
   * pauses nothing; the read is reported as 0 bytes. */
  void (*alloc)(void *ud, uint8_t **buf, size_t *len);
  /* n > 0: bytes read into the last alloc'd space; n < 0: the stream
   * ended (SH_ECLOSED for an orderly end, or -errno / a libuv code). */
  void (*on_read)(void *ud, ssize_t n);
  /* After poll_writable(1): the transport can take more. */
  void (*on_writable)(void *ud);
  /* An outgoing transport's connect finished (status 0) or failed. */
  void (*on_connect)(void *ud, int status);
  /* After ops->close; the last callback. */
  void (*on_closed)(void *ud);
};

struct sh_transport_ops {
  const char *name;
  int (*read_start)(struct sh_transport *t);
  void (*read_stop)(struct sh_transport *t);
  /* Bytes written (> 0), -EAGAIN when nothing fits now, or another
   * negative code: the stream is broken. more: further bytes follow at
   * once, so the transport may hold these back to fill a packet. */
  ssize_t (*writev)(struct sh_transport *t, const struct iovec *iov, int iovcnt, int more);
  /* Optional (NULL: the connection copies file bytes into memory). Writes
   * up to len bytes of fd at off straight from the page cache; returns as
   * writev, or -EINVAL/-ENOSYS when this file cannot be spliced. */
  ssize_t (*sendfile)(struct sh_transport *t, int fd, uint64_t off, size_t len);
  int (*poll_writable)(struct sh_transport *t, int on);
  void (*close)(struct sh_transport *t);
};

/* The transport runs to a peer on this host (loopback or our own address):
 * sendfile saves nothing there (see sh_transport_can_sendfile). */
#define SH_TRANSPORT_LOCAL 1u
/* Use sendfile even to a peer on this host (shoal_settings.local_sendfile). */
#define SH_TRANSPORT_LOCAL_SENDFILE 2u

struct sh_transport {
  const struct sh_transport_ops *ops;
  const struct sh_transport_cb *cb;
  void *ud;                /* the owner's, passed to every callback */
  struct sh_addr remote;   /* the peer's address (zeroed when unknown) */
  unsigned flags;          /* SH_TRANSPORT_* */
};

/* Should uploads on this transport go out by sendfile? Only when it can,
 * and the peer is not on this host: there the receiving kernel copies out
 * of our page-cache pages (cold in the CPU cache) instead of out of a
 * buffer still warm, and a sendfile per 16 KiB block costs more than one
 * sendmsg of up to 32 blocks from memory (0.3 CPU s per 2 GiB on each side
 * on loopback). */
static inline int sh_transport_can_sendfile(const struct sh_transport *t)
{
  return t->ops->sendfile &&
         (!(t->flags & SH_TRANSPORT_LOCAL) || (t->flags & SH_TRANSPORT_LOCAL_SENDFILE));
}

#endif
