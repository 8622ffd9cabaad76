/* Private structures of the engine: the session and its torrents. Only the
 * engine's own files (session.c, torrent*.c, peer/conn.c) include this.
 *
 * Ownership: the session owns its torrents (freed in shoal_session_close),
 * every connection (sh_peer), the listening sockets (TCP and UDP), the HTTP
 * client, the UDP tracker registry and the ban list. A torrent owns its
 * metainfo, storage, disk jobs, picker, peer list, piece buffers and
 * announcer; it borrows the connections attached to it. Everything runs on
 * the loop thread. */
#ifndef SHOAL_SESSION_INT_H
#define SHOAL_SESSION_INT_H

#include <stdint.h>
#include <uv.h>

#include "shoal.h"
#include "base/slab.h"
#include "swarm/choker.h"
#include "swarm/peers.h"
#include "swarm/ratelimit.h"

struct sh_peer;
struct sh_picker;
struct sh_storage;
struct sh_disk;
struct sh_announcer;
struct sh_http_client;
struct sh_udp;
struct ann_udpc_reg;

#define SH_MAX_LISTEN 4

struct shoal_session {
  uv_loop_t *loop;
  struct shoal_settings set;
  char *bind_copy[SH_MAX_LISTEN];
  char *resume_copy;
  uint8_t peer_id[20];          /* BEP 20: "-SH0100-" + 12 random bytes */
  uv_tcp_t *listen[SH_MAX_LISTEN]; /* each freed in its close callback */
  struct sh_addr listen_addr[SH_MAX_LISTEN];
  int nlisten;
  uint16_t port;
  uv_timer_t tick;
  uv_prepare_t flusher;         /* sends batched messages once per iteration */
  struct shoal_torrent **tor;
  size_t ntor, cap_tor;
  struct sh_peer **peers;       /* every connection, in any state */
  size_t npeers, cap_peers;
  struct sh_peer **dirty;       /* connections with unsent messages */
  size_t ndirty, cap_dirty;
  struct sh_bans bans;
  struct sh_http_client *http;
  /* one UDP socket per listen address, on the TCP port, and the UDP
   * tracker clients sharing them (session.c: udp_open, udp_close) */
  struct sh_udp *udp[SH_MAX_LISTEN];
  int nudp;
  struct ann_udpc_reg *udp_trackers;
  /* session-wide rate limits: reading from sockets (download) and sending
   * blocks (upload); peers out of tokens wait in these lists for rl_timer */
  struct sh_ratelimit down, up;
  uv_timer_t rl_timer;
  struct sh_peer **rl_wait;
  size_t nrl_wait, cap_rl_wait;
  uint64_t rng;
  int closing;                  /* 1 closing, 2 done, 3 failed to start */
  int handles_closed;
  int pending;                  /* handles, torrents and clients still closing */
  void (*done)(void *ud);
  void *done_ud;
};

/* A piece being downloaded: its buffer and who sent its blocks. */
#define SH_PART_SENDERS 8
struct sh_partial {
  uint32_t piece;
  uint8_t *buf;                 /* the piece's bytes: mem + sh_storage_buf_shift */
  uint8_t *mem;                 /* a slot of bufs, or its own allocation */
  struct sh_addr senders[SH_PART_SENDERS];
  uint8_t nsenders;
  uint8_t many;                 /* more distinct senders than fit */
  uint8_t hashing;              /* handed to sh_disk_hash_write */
  uint8_t used;
  uint32_t inflight;            /* requests out for its blocks, all peers */
  uint32_t got;                 /* blocks received */
};

struct shoal_torrent {
  struct shoal_session *sess;
  struct sh_metainfo *m;
  char *save_dir;
  uint8_t *wanted_files;        /* num_files flags */
  int seed_only;
  struct shoal_torrent_callbacks cb;
  enum shoal_state state;
  char error[256];
  char tracker_msg[256];

  struct sh_storage *st;
  struct sh_disk *disk;
  struct sh_picker *picker;
  struct sh_choker choker;
  struct sh_announcer *ann;

  uint8_t *have;                /* verified and written pieces (bitfield) */
  uint32_t have_count;
  uint8_t *check_state;         /* start-up check result */
  uint32_t check_done;

  int32_t *slot_of;             /* piece -> index in parts, or -1 */
  struct sh_partial *parts;
  size_t nparts;
  struct sh_slab bufs;          /* piece buffers: max_pieces_in_flight slots,
                                   reserved on first use, freed when done */
  int hashing;                  /* pieces queued for or in sh_disk_hash_write */
  int hash_running;             /* of which in the thread pool */
  uint32_t *hashq;              /* complete pieces waiting for a job, FIFO */
  size_t nhashq, cap_hashq;

  struct sh_peer **peers;       /* attached connections (ACTIVE) */
  size_t npeers, cap_peers;
  struct sh_peers plist;
  int connecting;               /* outgoing dials in progress */

  uint64_t downloaded, uploaded, wanted_bytes, have_bytes;
  uint64_t down_tick, up_tick, down_rate, up_rate;
  int hash_failures, banned_peers;
  uint64_t last_choke_ms, last_optimistic_ms, last_resume_ms, started_ms;
  int resume_dirty;

  int stop_requested;           /* SH_STOP_* bits */
  int ann_stopping, flush_pending, flushed, disk_closing, finish_pending;
};

enum { SH_STOP_STARTED = 1, SH_STOP_USER = 2, SH_STOP_DONE = 4 };

static inline uint64_t sh_now(const struct shoal_session *s) { return uv_now(s->loop); }

/* session.c */
void sh_session_mark_dirty(struct shoal_session *s, struct sh_peer *p);
void sh_session_peer_add(struct shoal_session *s, struct sh_peer *p);
void sh_session_peer_remove(struct shoal_session *s, struct sh_peer *p);
/* Is a this session's own listening address? */
int sh_session_is_self(const struct shoal_session *s, const struct sh_addr *a);
uint64_t sh_session_rand(struct shoal_session *s);
/* Runs when a connection's handshake arrived: finds the torrent. Returns 0 or
 * a negative code with *why set. */
int sh_session_route(struct shoal_session *s, struct sh_peer *p, const char **why);
void sh_session_torrent_stopped(struct shoal_session *s, struct shoal_torrent *t);
/* p ran out of download (up = 0) or upload (up = 1) tokens: resume it when
 * the bucket has refilled. */
void sh_session_rl_wait(struct shoal_session *s, struct sh_peer *p, int up);

#endif
