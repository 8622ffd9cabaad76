/* One peer of a torrent as the engine sees it: the BEP 3 state (choking,
 * interest, the pieces it has), BEP 6 (allowed-fast sets), BEP 10 (its
 * extension handshake), our requests to it and its requests to us, and the
 * accounting. The bytes travel over a connection (peer/conn.h) that knows
 * none of this.
 *
 * Ownership: the engine allocates an sh_peer when it dials (outgoing) or
 * when an incoming handshake names one of its torrents, and attaches it to
 * the connection (sh_conn_set_ud). It is freed from the connection's
 * on_free, after the connection closed and the last disk read or queued
 * write holding a reference to it finished. A torrent borrows it while it
 * is attached (in t->peers). */
#ifndef SHOAL_ENGINE_PEER_H
#define SHOAL_ENGINE_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "base/rate.h"
#include "peer/conn.h"
#include "peer/wire.h"
#include "swarm/peers.h"
#include "swarm/picker.h"
#include "swarm/superseed.h"

struct shoal_session;
struct shoal_torrent;
struct sh_disk_ref;

/* Stop serving new requests while more than the connection took in the
 * last half second waits in its send queue, between 256 KiB and 4 MiB.
 * 4 MiB is about 4 ms at 1 GB/s, enough to keep a fast socket busy; but
 * on a 4 MiB/s uplink shared by seven peers the same 4 MiB per peer
 * queued 8 s of blocks ahead of every HAVE, INTERESTED and REQUEST we
 * sent that peer, and the swarm traded on news seconds old. */
#define SH_PEER_SEND_WATERMARK (4u * 1024 * 1024)
#define SH_PEER_SEND_MIN (256u * 1024)
#define SH_PEER_SEND_WINDOW_MS 250
/* Disk reads in flight per peer for uploads. */
#define SH_PEER_MAX_READS 64
/* The `reqq` we advertise in the extension handshake (BEP 10), which
 * libtorrent honours as a cap on its requests outstanding to us. 2000 is
 * what libtorrent itself advertises: with 500, a libtorrent leecher kept
 * only ~500 requests (8 MiB) in flight to a shoal seed against ~2000 to a
 * libtorrent seed. Also our own pipeline depth limit toward any peer.
 * Requests we accept queued from one peer before calling it a flood: twice
 * this. */
#define SH_PEER_REQQ 2000
#define SH_PEER_MAX_INREQ (2 * SH_PEER_REQQ)
/* Pieces we never asked for before we hang up (endgame cancels race with
 * the blocks already on the wire, so a few are normal). */
#define SH_PEER_MAX_UNEXPECTED 64

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

struct sh_peer {
  struct sh_conn *c;
  struct shoal_session *sess;
  struct shoal_torrent *tor;
  int outgoing;
  int attached;           /* in tor->peers */
  int closing;            /* its connection is closing */
  size_t tor_idx;

  /* from the handshake */
  uint8_t peer_id[20];
  int fast, extended;
  int dht;                /* reserved bit 0x01 of byte 7: it takes PORT (BEP 5) */
  char client[64];
  uint32_t reqq;          /* their `reqq`, 250 when not given (BEP 10) */
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
  /* what it said it has before we knew the piece count (tpeer_meta.c) */
  uint8_t *held_bf, *held_have;
  size_t held_bf_len, held_have_len;
  int held_all;

  /* BEP 16: pieces a super-seeding torrent revealed to it, -1 none */
  int64_t ss[SH_SUPERSEED_SLOTS];

  /* BEP 10: the ids the peer gave our extensions (index = ours - 1), and
   * each extension's state for this peer (ext.h: sh_ext_peer_slot) */
  uint8_t ext_ids[SH_EXT_MAX];
  void *ext[SH_EXT_MAX];

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
  struct sh_upload up[SH_PEER_MAX_READS];
  int n_reads;
  int up_tail;            /* oldest slot in flight */

  /* what the connection took lately, for the send watermark: bytes in
   * the last window and the current one (tpeer_upload.c) */
  uint64_t wm_prev, wm_mark, wm_ms;

  /* accounting */
  uint64_t attached_ms, unchoked_ms;
  uint64_t down_bytes, up_bytes;       /* payload, totals */
  struct sh_rate rate_down, rate_up;   /* payload rates, smoothed */
  int optimistic;
};

/* Who the peer is for strikes and bans: its address, with the port it
 * listens on when we know it (dialled, or `p` of its extension handshake). */
struct sh_addr sh_peer_identity(const struct sh_peer *p);

/* tpeer.c: the messages */
/* Attaches a peer whose handshake matched t. Returns 0, or a negative code
 * with *why when the torrent refuses it (limits, duplicate). */
int sh_tpeer_attach(struct shoal_torrent *t, struct sh_peer *p, const char **why);
/* Sends what we have: bitfield, have_all or have_none (once, after the
 * handshake, or when the start-up check that delayed it is done). */
void sh_tpeer_send_bitfield(struct sh_peer *p);
/* Forgets a closing peer: its requests go back to the picker. */
void sh_tpeer_detach(struct shoal_torrent *t, struct sh_peer *p);
/* One decoded message. Returns 0, or a negative code with *why to hang up. */
int sh_tpeer_msg(struct sh_peer *p, const struct sh_msg *m, const char **why);
/* Sends requests up to the pipeline depth. */
void sh_tpeer_fill(struct sh_peer *p);
void sh_tpeer_set_choke(struct sh_peer *p, int choke);
/* Re-evaluates our interest in p. */
void sh_tpeer_update_interest(struct sh_peer *p);
/* We now have piece: tell p. */
void sh_tpeer_have(struct sh_peer *p, uint32_t piece);
/* Cancels p's request for a block another peer delivered (endgame). */
void sh_tpeer_cancel_dup(struct sh_peer *p, uint32_t piece, uint32_t begin);
/* Once a tick: timeouts, keep-alive, pipeline depth. Returns non-zero if it
 * closed the peer. */
int sh_tpeer_tick(struct sh_peer *p, uint64_t now_ms, uint64_t dt_ms);
/* Drops our requests to p (choke without the fast extension, snub). */
void sh_tpeer_abort_all(struct sh_peer *p);
/* It told us it has every piece. */
int sh_tpeer_is_seed(const struct sh_peer *p);

/* tpeer_meta.c: a torrent without metadata */
/* A message that needs the piece count, while the torrent has none:
 * bitfields and haves are held (bounded), requests rejected. */
int sh_tpeer_msg_early(struct sh_peer *p, const struct sh_msg *m, const char **why);
/* The metadata arrived: the held messages are checked against it and
 * applied (a bitfield of the wrong size closes the connection). */
void sh_tpeer_metadata_known(struct sh_peer *p);

/* tpeer_upload.c: the peer's requests to us */
/* Starts disk reads for queued requests while the send queue has room. */
void sh_tpeer_serve(struct sh_peer *p);
int sh_tpeer_on_request(struct sh_peer *p, const struct sh_msg *m, const char **why);
void sh_tpeer_on_cancel(struct sh_peer *p, const struct sh_msg *m);
/* Rejects the peer's pending requests on a choke (BEP 6), except
 * allowed-fast ones. */
void sh_tpeer_choke_uploads(struct sh_peer *p);
void sh_tpeer_send_reject(struct sh_peer *p, uint32_t piece, uint32_t begin, uint32_t len);
/* The connection is closing: reads in flight finish into the void. */
void sh_tpeer_cancel_uploads(struct sh_peer *p);
int sh_tpeer_allowed_fast_out(const struct sh_peer *p, uint32_t piece);

#endif
