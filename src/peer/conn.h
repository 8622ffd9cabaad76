/* A peer connection over any transport (transport.h): the BEP 3 handshake
 * bytes, framing with the wire codec, a batched and ordered send queue,
 * reference counting, and the scheduling shared by all connections of a
 * session (the hub): one flush per loop iteration, the session-wide rate
 * limits, handshake timeouts.
 *
 * The connection knows no torrent. It talks up through the hub's callback
 * table (struct sh_conn_cb): the handshake (whose torrent, or a refusal),
 * each message, "you may send more", and the close. What a message means
 * (choking, bitfields, requests) is the engine's business.
 *
 * Ownership: the hub owns every connection and the engine borrows them.
 * An upper layer attaches its own object with sh_conn_set_ud (at dial
 * time, or in on_handshake for an incoming connection). sh_conn_close()
 * starts the end: on_close runs at once (the upper layer forgets the
 * peer), the transport closes, and once the last reference is dropped
 * (sh_conn_ref/unref around disk reads, queued writes) on_free lets the
 * upper layer free its object and the connection is freed. Everything runs
 * on the loop thread. Outside conn.c and conn_write.c the struct's fields
 * are read-only. */
#ifndef SHOAL_PEER_CONN_H
#define SHOAL_PEER_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "peer/mse.h"
#include "peer/transport.h"
#include "peer/wire.h"
#include "base/fair.h"

struct sh_conn;
struct sh_hub;

/* Limits a group of connections shares inside the hub's (a torrent's
 * upload and download limits): a connection in a group needs the
 * allowance of both. The upper layer owns it (embedded in its torrent),
 * sets rates with sh_hub_group_set_rates and removes it with
 * sh_hub_group_remove once no connection is in it (a closing connection
 * leaves its group). */
struct sh_hub_group {
  struct sh_fair up, down;
  int registered;           /* in the hub's list, whose timer serves it */
  int own_only;             /* the hub's (session-wide) limits do not apply */
};

enum sh_conn_state {
  SH_CONN_CONNECTING = 0, /* outgoing connect in progress */
  SH_CONN_HANDSHAKE,      /* waiting for the peer's 68-byte handshake */
  SH_CONN_ACTIVE,         /* handshake done, messages flow */
  SH_CONN_CLOSING,
};

/* The read buffer: one 256 KiB buffer per connection, reused for its whole
 * life, so a fast peer delivers ~16 blocks per read. */
#define SH_CONN_RBUF (256u * 1024)
/* The largest frame before the upper layer says otherwise: a 16 KiB block
 * plus its header, or a 64 KiB extension message (BEP 10 handshakes are a
 * few hundred bytes; BEP 9 pieces 16 KiB). */
#define SH_CONN_DEFAULT_MAX_FRAME 65536u
/* A dial's second transport, when the first connected and then died before
 * the peer's handshake, must connect within this (checked on the hub's
 * tick, so up to a second more). */
#define SH_CONN_ALT_GRACE_MS 2000u

struct sh_conn_cb {
  /* The peer's handshake arrived (for a dialled connection it names the
   * info-hash we sent; for an incoming one our answer, with the same
   * info-hash, is queued but not yet sent). Return 0 to go on (for an
   * incoming connection after attaching with sh_conn_set_ud), or a negative
   * code with *why to refuse: the connection closes and nothing is sent. */
  int (*on_handshake)(void *hub_ud, struct sh_conn *c, const struct sh_handshake *hs,
                      const char **why);
  /* One decoded message. Return 0, or a negative code with *why to hang up. */
  int (*on_message)(void *ud, struct sh_conn *c, const struct sh_msg *m, const char **why);
  /* After the messages of one read (a good time to top up requests). */
  void (*on_read_done)(void *ud, struct sh_conn *c);
  /* Queued data was written, or the upload allowance refilled: the upper
   * layer may queue more. */
  void (*on_drained)(void *ud, struct sh_conn *c);
  /* The connection is closing (once); why names the reason. */
  void (*on_close)(void *ud, struct sh_conn *c, const char *why);
  /* The last reference is gone: free what ud holds. */
  void (*on_free)(void *ud, struct sh_conn *c);
  /* Optional: sendfile could not send a file (a file system without
   * splice): the bytes went through memory instead. */
  void (*on_sendfile_failed)(void *ud, struct sh_conn *c);
  /* Optional: the info-hash of a torrent by HASH('req2', info-hash), for
   * an incoming encrypted handshake (peer/mse_hs.h). Returns 0, or -1 when
   * there is none. Without it incoming MSE is refused. */
  int (*find_skey)(void *hub_ud, const uint8_t req2[20], uint8_t info_hash[20]);
};

/* Settings every connection of a hub shares. */
struct sh_hub_opts {
  uint8_t peer_id[20];
  uint8_t reserved[8];             /* handshake reserved bits we send */
  uint32_t handshake_timeout_ms;   /* connect + handshake (MSE's included) */
  enum sh_mse_policy encryption;   /* incoming: what is accepted (dials choose
                                      with sh_conn_encrypt) */
  uint64_t up_rate, down_rate;     /* bytes/s, 0 = unlimited */
};

struct sh_hub {
  uv_loop_t *loop;
  const struct sh_conn_cb *cb;
  void *ud;                       /* the upper layer's (the session) */
  struct sh_hub_opts o;
  struct sh_conn **conns;         /* every connection, in any state */
  size_t nconns, cap_conns;
  struct sh_conn **dirty;         /* connections with unsent messages */
  size_t ndirty, cap_dirty;
  uv_prepare_t flusher;           /* sends batched messages once per iteration */
  /* session-wide limits: reading (download) and sending blocks (upload),
   * shared fairly (base/fair.h); connections out of allowance wait in
   * their queues, and rl_timer hands out what refills (conn_limit.c) */
  struct sh_fair down, up;
  struct sh_hub_group **groups;   /* groups with limits, also served by rl_timer */
  size_t ngroups, cap_groups;
  uv_timer_t rl_timer;
  int regroup;                    /* a group stopped answering to the hub's
                                     limits: rl_timer lets its queued ones go */
  int closing, handles_open;
  void (*closed)(void *ud);
  void *closed_ud;
};

/* A block's bytes for sh_conn_send_block: in memory, or where they lie in
 * files (fd < 0 stands for zeros: BEP 47 padding, never on disk). */
struct sh_conn_extent {
  int fd;
  uint64_t off;
  uint32_t len;
};
struct sh_conn_block {
  const uint8_t *data;              /* NULL: the extents */
  const struct sh_conn_extent *ext;
  int next;
  /* Keeps data or the descriptors valid; called once the block is written
   * or dropped. May be NULL. */
  void (*release)(void *pin);
  void *pin;
};

/* One part of a pending write: bytes in the batch's `small` buffer (data
 * NULL, fd -1), bytes in memory (a pinned block, zeros for padding, or
 * `own`, a copy), or, with fd set, len bytes at foff of a file sent with
 * sendfile. release(pin) runs when the batch is written or dropped. */
struct sh_seg {
  const uint8_t *data;
  uint32_t off, len;
  int fd;
  uint64_t foff;
  uint8_t *own;
  void (*release)(void *pin);
  void *pin;
};

/* A batch of segments: filled while a loop iteration runs (c->cur), then
 * queued (c->wq_head) and written in order. */
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
};

/* Encryption of a connection (Message Stream Encryption, peer/mse.h). */
enum sh_conn_enc {
  SH_CONN_ENC_NONE = 0,  /* plaintext */
  SH_CONN_ENC_PENDING,   /* the MSE handshake is under way */
  SH_CONN_ENC_RC4,       /* RC4 both ways */
  SH_CONN_ENC_HEADER,    /* encrypted handshake, then plaintext */
};

struct sh_conn {
  struct sh_hub *hub;
  struct sh_transport *tr; /* NULL once its close callback ran */
  /* A dial over TCP and uTP at once: the transport that connected second
   * (or has not yet), kept idle until the peer's handshake arrives on the
   * first, and used instead if the first dies before it (a peer that
   * takes TCP connections and closes them, having turned TCP off). */
  struct sh_transport *alt;
  uint8_t alt_connected;
  /* The first transport connected and died before the peer's handshake
   * while the other had not connected: it gets until then (see use_alt). */
  uint64_t alt_deadline_ms;
  uint8_t utp_failed;     /* a uTP dial of this connection failed */
  uint8_t over_utp;       /* the transport that connected is uTP's */
  uint8_t closed_early;   /* a transport was closed by the peer after our
                             handshake, before a byte of its own */
  void *ud;               /* the upper layer's, see sh_conn_set_ud */
  struct sh_addr addr;
  char name[64];          /* "ip:port", for log lines */
  int outgoing;
  enum sh_conn_state state;
  int refs;               /* transport + disk reads + writes in flight */
  size_t hub_idx;
  uint8_t info_hash[20];  /* dialled: what we sent; incoming: the peer's */
  struct sh_handshake peer_hs; /* once received */
  uint32_t max_frame;
  uint8_t enc;            /* enum sh_conn_enc */
  uint8_t enc_wanted;     /* a dial to wrap in MSE once a transport connects
                             (of TCP and uTP, whichever carries the handshake) */
  uint8_t sniffed;        /* incoming: the first bytes said plaintext or MSE */
  uint8_t mse_failed;     /* a transport this dial gave up for the other (TCP,
                             uTP) died in the MSE handshake */
  uint8_t hs_failed_alt;  /* ... or connected, before the peer's handshake */
  uint8_t hs_failed;      /* closed once connected, before the peer's handshake
                             (on this transport or one given up for it)
                             (for the upper layer's fallback decisions) */

  /* reading */
  uint8_t *rbuf;
  size_t rlen, rcap;
  int reading;            /* the transport is reading */
  int throttled;          /* reading paused by a download limit */
  int up_waiting;         /* waiting for upload allowance */
  size_t rl_grant, rl_ggrant; /* download allowance granted for the pending
                             read: the hub's, the group's */
  struct sh_hub_group *grp; /* NULL, or the group whose limits apply too */
  struct sh_fair_flow fl_up, fl_down, fl_gup, fl_gdown; /* in hub, group */

  /* writing */
  struct sh_wbatch *cur;  /* being filled; NULL when nothing pending */
  struct sh_wbatch *wq_head, *wq_tail; /* flushed, being written, in order */
  size_t queued;          /* bytes flushed, not yet written */
  uint64_t written;       /* bytes the transport took, in all */
  int dirty;              /* in the hub's flush list */
  int pumping, wpolling;

  uint64_t connected_ms, last_recv_ms, last_send_ms;
};

/* ---- the hub ---- */

/* Sets up h on loop (the caller embeds it); cb is borrowed, opts copied. */
void sh_hub_init(struct sh_hub *h, uv_loop_t *loop, const struct sh_conn_cb *cb, void *ud,
                 const struct sh_hub_opts *opts);
/* Closes connections that never finished their handshake in time. */
void sh_hub_tick(struct sh_hub *h, uint64_t now_ms);
/* Closes every connection that is not ACTIVE (dials, handshakes). */
void sh_hub_close_pending(struct sh_hub *h, const char *why);
/* Changes the session-wide limits on the fly. */
void sh_hub_set_rates(struct sh_hub *h, uint64_t up_rate, uint64_t down_rate);
/* Once every connection is gone, closes the hub's handles and calls
 * closed(ud) from the loop. */
void sh_hub_close(struct sh_hub *h, void (*closed)(void *ud), void *ud);

/* ---- opening ---- */

/* How to dial a peer: TCP, uTP through an endpoint (peer/utp.h), or both
 * at once, keeping the first that connects (see sh_conn.alt). */
struct sh_utp_ep;
struct sh_conn_how {
  int tcp;
  struct sh_utp_ep *utp; /* NULL: no uTP */
};
/* Dials addr for info_hash as `how` says; ud is attached at once. Returns
 * 0, or a negative code when no dial could start (then nothing was
 * allocated and no callback runs). */
int sh_conn_dial(struct sh_hub *h, const struct sh_addr *addr, const uint8_t info_hash[20],
                 unsigned tflags, const struct sh_conn_how *how, void *ud, struct sh_conn **out);
/* The connection runs over uTP (not TCP). */
int sh_conn_is_utp(const struct sh_conn *c);
/* An incoming connection on transport tr (any kind): waits for the peer's
 * handshake. On failure the transport is closed. */
int sh_conn_accept(struct sh_hub *h, struct sh_transport *tr, struct sh_conn **out);
/* An outgoing connection on an already connected transport (an in-memory
 * pair): sends our handshake at once. */
int sh_conn_start(struct sh_hub *h, struct sh_transport *tr, const uint8_t info_hash[20], void *ud,
                  struct sh_conn **out);
/* Makes a connection just opened by sh_conn_dial or sh_conn_start
 * (before the loop runs again) encrypted: its transport is wrapped in MSE
 * (a dial's when it connects: the one of TCP and uTP that comes first, or
 * the other if that one dies before the peer's handshake),
 * offering RC4 only when the hub's policy is SH_MSE_REQUIRE, else RC4 and
 * header-only. Our handshake then goes inside MSE's step 3. Returns 0 or
 * a negative code (the connection is unchanged; the caller may close it). */
int sh_conn_encrypt(struct sh_conn *c);

/* ---- life ---- */

static inline void sh_conn_set_ud(struct sh_conn *c, void *ud) { c->ud = ud; }
/* Bounds the frames the peer may send (a bitfield of a large torrent). */
static inline void sh_conn_set_max_frame(struct sh_conn *c, uint32_t n)
{
  c->max_frame = n > SH_CONN_DEFAULT_MAX_FRAME ? n : SH_CONN_DEFAULT_MAX_FRAME;
}
static inline int sh_conn_active(const struct sh_conn *c) { return c->state == SH_CONN_ACTIVE; }
/* Uploads should use sendfile on this connection (see transport.h). */
static inline int sh_conn_can_sendfile(const struct sh_conn *c)
{
  return c->tr && sh_transport_can_sendfile(c->tr);
}
/* Logs why (naming the peer) and starts closing; idempotent. */
void sh_conn_close(struct sh_conn *c, const char *why);
void sh_conn_ref(struct sh_conn *c);
void sh_conn_unref(struct sh_conn *c);

/* ---- sending ---- */

/* The buffer to append small messages to (sh_wire_put_*); they go out in
 * the hub's next flush, once per loop iteration. NULL when the connection
 * is closing, not yet connected, or out of memory. */
struct sh_buf *sh_conn_msgbuf(struct sh_conn *c);
/* Queues a piece message: header plus the block's bytes from b (released
 * once written, or at once if the connection is closing). */
void sh_conn_send_block(struct sh_conn *c, uint32_t piece, uint32_t begin, uint32_t len,
                        const struct sh_conn_block *b);
/* Submits the pending batch now. */
void sh_conn_flush(struct sh_conn *c);
/* Bytes queued (pending batch + in flight): compare to a watermark. */
size_t sh_conn_backlog(const struct sh_conn *c);
/* Takes `bytes` of the upload allowance (the session's, and the group's
 * if any): 1 when granted, 0 when short (nothing taken; on_drained runs
 * once its fair turn has come). */
int sh_conn_upload_allowed(struct sh_conn *c, uint64_t bytes);

/* ---- groups (conn_limit.c) ---- */

/* Zero limits, not yet registered. */
void sh_hub_group_init(struct sh_hub_group *g, uint64_t now_ms);
/* bytes/s, 0 = unlimited; registers g with the hub on first use.
 * 0 or -ENOMEM. */
int sh_hub_group_set_rates(struct sh_hub *h, struct sh_hub_group *g, uint64_t up, uint64_t down);
/* Unregisters g and frees its queues; no connection may be in it. */
void sh_hub_group_remove(struct sh_hub *h, struct sh_hub_group *g);
/* on: the group's connections answer to its own limits only, not the
 * hub's (Transmission's honorsSessionLimits off); off again: to both.
 * Connections already queued for the hub's allowance leave its queue. */
void sh_hub_group_set_own_only(struct sh_hub *h, struct sh_hub_group *g, int on);
/* Puts c in group g (NULL: none), leaving its previous one. */
void sh_conn_set_group(struct sh_conn *c, struct sh_hub_group *g);

/* Between the hub and its connections (hub.c, conn.c, conn_write.c). */
int sh_hub_add(struct sh_hub *h, struct sh_conn *c);
void sh_hub_remove(struct sh_hub *h, struct sh_conn *c);
int sh_hub_mark_dirty(struct sh_hub *h, struct sh_conn *c);
void sh_conn_write_free(struct sh_conn *c);
void sh_conn_pump(struct sh_conn *c);
void sh_conn_read_start(struct sh_conn *c);
/* conn_limit.c: the download grant of a read and its settlement, the
 * limits' timer, a closing connection leaving every queue */
size_t sh_conn_read_grant(struct sh_conn *c, size_t space);
void sh_conn_read_settle(struct sh_conn *c, size_t used);
void sh_conn_read_throttle(struct sh_conn *c);
void sh_conn_limit_leave(struct sh_conn *c);
void sh_hub_limits_init(struct sh_hub *h);
void sh_hub_limits_close(struct sh_hub *h);
extern const struct sh_transport_cb sh_conn_transport_cb;
extern const struct sh_transport_cb sh_conn_alt_cb;

#endif
