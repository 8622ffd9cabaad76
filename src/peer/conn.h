/* A peer connection on libuv TCP: connect/accept, the BEP 3 handshake,
 * framing with the wire codec, a batched send queue, and the per-peer
 * protocol state the torrent's message handlers (torrent_peer.c) work on.
 *
 * Ownership: the session allocates every sh_peer (dialled or accepted) and
 * keeps it in its list; a torrent borrows it once the handshake names that
 * torrent. sh_conn_close() starts the end: the torrent forgets the peer at
 * once, the socket is closed, and the memory is freed when the close
 * callback has run and the last reference (disk reads, queued writes) is
 * dropped. Code that may outlive a callback takes sh_conn_ref(). */
#ifndef SHOAL_PEER_CONN_H
#define SHOAL_PEER_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "peer/wire.h"
#include "swarm/peers.h"
#include "swarm/picker.h"

struct shoal_session;
struct shoal_torrent;
struct sh_disk_ref;

enum sh_conn_state {
  SH_CONN_CONNECTING = 0, /* outgoing TCP connect in progress */
  SH_CONN_HANDSHAKE,      /* waiting for the peer's 68-byte handshake */
  SH_CONN_ACTIVE,         /* handshake done, messages flow */
  SH_CONN_CLOSING,
};

/* The read buffer: one 256 KiB buffer per connection, reused for its whole
 * life, so a fast peer delivers ~16 blocks per read() syscall. */
#define SH_CONN_RBUF (256u * 1024)
/* Stop serving new requests while more than 4 MiB wait in the send queue:
 * 256 blocks, about 4 ms at 1 GB/s, enough to keep the socket busy. */
#define SH_CONN_SEND_WATERMARK (4u * 1024 * 1024)
/* Disk reads in flight per peer for uploads. */
#define SH_CONN_MAX_READS 64
/* The `reqq` we advertise in the extension handshake (BEP 10), which
 * libtorrent honours as a cap on its requests outstanding to us. 2000 is
 * what libtorrent itself advertises: with 500, a libtorrent leecher kept
 * only ~500 requests (8 MiB) in flight to a shoal seed against ~2000 to a
 * libtorrent seed. Also our own pipeline depth limit toward any peer.
 * Requests we accept queued from one peer before calling it a flood: twice
 * this. */
#define SH_CONN_REQQ 2000
#define SH_CONN_MAX_INREQ (2 * SH_CONN_REQQ)
/* Pieces we never asked for before we hang up (endgame cancels race with
 * the blocks already on the wire, so a few are normal). */
#define SH_CONN_MAX_UNEXPECTED 64

/* A request we sent. */
struct sh_req {
  uint32_t piece, begin, length;
  uint64_t sent_ms;
};

/* An upload read in flight on the thread pool. */
struct sh_upload {
  struct sh_peer *p;
  uint32_t piece, begin, length;
  uint8_t in_use, cancelled;
  uint8_t ready;              /* read finished; waits for the slots before it */
  int rc;                     /* the read's result, kept until it is sent */
  const uint8_t *data;
  struct sh_disk_ref *ref;
};

/* One part of a pending write: bytes in the batch's `small` buffer (data
 * NULL, file 0), bytes in memory (a block pinned in the disk cache, zeros
 * for padding, or `own`, a copy), or, with file set, len bytes at offset
 * foff of the descriptor fd, sent with sendfile(2) straight from the page
 * cache. ref (the disk cache pin that also keeps fd open) is released when
 * the batch is written. */
struct sh_seg {
  const uint8_t *data;
  struct sh_disk_ref *ref;
  uint32_t off, len;
  int file, fd;
  uint64_t foff;
  uint8_t *own;
};

/* A batch of segments: filled while a loop iteration runs (p->cur), then
 * queued (p->wq_head) and written in order by conn.c itself. */
struct sh_wbatch {
  struct sh_wbatch *next;
  struct sh_buf small;    /* small messages and 13-byte piece headers */
  size_t small_mark;      /* small bytes already covered by segs */
  struct sh_seg *segs;
  size_t nsegs, cap;
  size_t pos;             /* queued: the first segment not fully written */
  uint32_t done;          /* bytes of segs[pos] written */
  size_t total;           /* all bytes of the batch */
  size_t bytes;           /* payload bytes (blocks) in this batch */
  size_t files;           /* segments sent with sendfile */
};

struct sh_peer {
  uv_tcp_t tcp;           /* tcp.data = this */
  uv_connect_t connect_req;
  struct shoal_session *sess;
  struct shoal_torrent *tor; /* NULL until the handshake names a torrent */
  struct sh_addr addr;
  char name[64];          /* "ip:port", for log lines */
  int outgoing;
  enum sh_conn_state state;
  int refs;               /* close pending + disk reads + writes in flight */
  int handle_closed;
  size_t sess_idx, tor_idx;

  /* reading */
  uint8_t *rbuf;
  size_t rlen, rcap;
  int reading;            /* uv_read_start active */
  int throttled;          /* reading paused by the download rate limit */
  int up_waiting;         /* serving paused by the upload rate limit */
  int rl_listed;          /* in the session's rate-limit wait list */
  size_t rl_grant;        /* download tokens granted for the pending read */

  /* from the handshake */
  uint8_t peer_id[20];
  int fast, extended;
  char client[64];
  uint32_t reqq;          /* their `reqq`, 250 when not given (BEP 10) */
  int local;              /* on this host: uploads from memory, not sendfile */
  uint16_t listen_port;

  /* BEP 3 state */
  int am_choking, am_interested, peer_choking, peer_interested;
  uint8_t *bf;            /* pieces the peer has (NULL until allocated) */
  uint32_t have_count;
  int have_all;           /* sent have_all, or its bitfield is complete */
  int got_bitfield;       /* a bitfield/have_all/have_none arrived */
  uint32_t allowed_in[16]; /* allowed-fast pieces the peer gave us (BEP 6) */
  int n_allowed_in;
  uint32_t allowed_out[10]; /* allowed-fast pieces we gave it: served while choked */
  int n_allowed_out;

  /* our requests to the peer, oldest first */
  struct sh_req *out;
  size_t n_out, cap_out;
  uint32_t depth;         /* pipeline depth target, in blocks */
  struct sh_block cancelled[32]; /* recently cancelled, to excuse late blocks */
  unsigned n_cancelled;
  int unexpected;
  uint32_t cancels_sent;  /* each may still be answered by a late block */
  uint64_t last_block_ms; /* last block received (for snubbing) */
  uint64_t stall_since_ms;/* requests outstanding and nothing received */
  int snubbed;

  /* the peer's requests to us, oldest first */
  struct sh_block *in;
  size_t in_head, n_in, cap_in;
  /* a ring, in request order: blocks leave in the order they were asked
   * for, whichever read finishes first */
  struct sh_upload up[SH_CONN_MAX_READS];
  int n_reads;
  int up_tail;            /* oldest slot in flight */

  /* writing: libuv streams cannot sendfile, so the socket is written here
   * with sendmsg/sendfile while the uv_tcp_t only reads; a uv_poll_t on a
   * duplicate of the descriptor (its own epoll entry) says when a full
   * socket becomes writable again. */
  struct sh_wbatch *cur;  /* being filled; NULL when nothing pending */
  struct sh_wbatch *wq_head, *wq_tail; /* flushed, being written, in order */
  size_t queued;          /* bytes flushed, not yet written */
  int dirty;              /* in the session's flush list */
  uv_poll_t *wpoll;       /* NULL until the socket first fills up */
  int wpolling, pumping;

  /* accounting and timers */
  uint64_t connected_ms, last_recv_ms, last_send_ms, unchoked_ms;
  uint64_t down_bytes, up_bytes;       /* payload, totals */
  uint64_t down_tick, up_tick;         /* payload since the last tick */
  uint64_t down_rate, up_rate;         /* smoothed bytes/s */
  int optimistic;
};

/* Who the peer is for strikes and bans: its address, with the port it
 * listens on when we know it (dialled, or `p` of its extension handshake). */
struct sh_addr sh_conn_identity(const struct sh_peer *p);
/* Dials addr for torrent t. The peer is added to the session's list.
 * Returns 0 or a negative code (then nothing was allocated). */
int sh_conn_connect(struct shoal_session *s, struct shoal_torrent *t, const struct sh_addr *addr,
                    struct sh_peer **out);
/* Accepts one pending connection on a listening socket. */
int sh_conn_accept(struct shoal_session *s, uv_stream_t *server);
/* Logs why (naming the peer) and starts closing; idempotent. */
void sh_conn_close(struct sh_peer *p, const char *why);
void sh_conn_ref(struct sh_peer *p);
void sh_conn_unref(struct sh_peer *p);

/* The sendfile(2) that uploads use. Tests replace it to play a file system
 * that cannot splice (EINVAL), whose fallback no real one here exercises. */
extern ssize_t (*sh_conn_sendfile)(int out_fd, int in_fd, off_t *offset, size_t count);

/* The buffer to append small messages to (sh_wire_put_*); they go out in the
 * next flush, which the session runs once per loop iteration. Returns NULL
 * when the peer is closing or out of memory. */
struct sh_buf *sh_conn_msgbuf(struct sh_peer *p);
/* Queues a piece message: header + block from a pinned cache entry; ref is
 * released once written (or at once if the peer is closing). */
void sh_conn_send_block(struct sh_peer *p, uint32_t piece, uint32_t begin, uint32_t len,
                        const uint8_t *data, struct sh_disk_ref *ref);
/* Submits the pending batch now. */
void sh_conn_flush(struct sh_peer *p);
/* Bytes queued (pending batch + in flight): compare to the watermark. */
size_t sh_conn_backlog(const struct sh_peer *p);
/* Pause or resume reading (download rate limit). */
void sh_conn_pause(struct sh_peer *p);
void sh_conn_resume(struct sh_peer *p);
/* Between conn.c and conn_write.c: drop every unsent batch (free), and
 * also stop waiting for the socket (stop, when closing). */
void sh_conn_write_free(struct sh_peer *p);
void sh_conn_write_stop(struct sh_peer *p);
/* Sends our handshake (after an incoming peer's handshake matched a torrent,
 * or right after connecting). */
void sh_conn_send_handshake(struct sh_peer *p);

#endif
