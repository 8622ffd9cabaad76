/* Private structures of the engine: the session and its torrents. Only the
 * engine's own files (src/engine/) include this.
 *
 * Ownership: the session owns its torrents (freed in shoal_session_close),
 * the connection hub (every connection, peer/conn.h), the listening
 * sockets (TCP and UDP), the HTTP client, the UDP tracker registry, the
 * DHT node and the ban list. A torrent owns its metainfo,
 * storage, disk jobs, picker, peer list, piece buffers and announcer; it
 * borrows the peers attached to it. Everything runs on the loop thread. */
#ifndef SHOAL_ENGINE_SESSION_H
#define SHOAL_ENGINE_SESSION_H

#include <stdint.h>
#include <uv.h>

#include "shoal.h"
#include "base/buf.h"
#include "base/rate.h"
#include "base/slab.h"
#include "base/tab.h"
#include "disk/io.h"
#include "engine/ext.h"
#include "peer/conn.h"
#include "swarm/choker.h"
#include "swarm/peers.h"
#include "base/ratelimit.h"

struct sh_peer;
struct sh_picker;
struct sh_storage;
struct sh_disk;
struct sh_announcer;
struct sh_http_client;
struct sh_udp;
struct sh_utp_ep;
struct ann_udpc_reg;
struct sh_dht_uv;
struct sh_lsd;

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
  struct sh_hub hub;            /* every connection, the flush, the rate limits */
  struct shoal_torrent **tor;   /* in the order they were added */
  size_t ntor, cap_tor;
  struct sh_tab by_id, by_hash; /* lookups in constant time */
  struct sh_tab by_req2;        /* by HASH('req2', info-hash): incoming MSE */
  uint32_t next_id;
  struct sh_disk_cache cache;   /* the read cache's budget, for all torrents */
  size_t bufs_used;             /* piece buffers held, bytes, all torrents */
  size_t npeers, nconnecting;   /* attached peers and dials, all torrents:
                                   the session's connection limit in O(1) */
  /* events (events.c): a ring of set.event_queue_len */
  struct shoal_event *ev;
  size_t ev_head, ev_len;
  uint64_t ev_dropped;
  uv_idle_t ev_idle;            /* calls set.on_event outside other calls */
  struct sh_ext_registry ext;   /* BEP 10 extensions */
  struct sh_bans bans;
  struct sh_http_client *http;
  /* one UDP socket per listen address, on the TCP port, and the UDP
   * tracker clients sharing them (session.c: udp_open, udp_close) */
  struct sh_udp *udp[SH_MAX_LISTEN];
  int nudp;
  struct sh_utp_ep *utp[SH_MAX_LISTEN]; /* uTP on each (set.utp), same order */
  int nutp;
  struct ann_udpc_reg *udp_trackers;
  /* the DHT node on those sockets (tdht.c), and its bootstrap nodes */
  struct sh_dht_uv *dht;
  char **dht_boot;
  size_t ndht_boot;
  int dht_starts;               /* searches started in this tick */
  struct sh_lsd *lsd;           /* local service discovery (set.lsd), or NULL */
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

/* What the trackers last said (swarm.c keeps it from the announcer's
 * callbacks; shoal_torrent_trackers lists it). */
struct sh_trk_state {
  const char *url;              /* borrowed from the metainfo's tiers */
  int tier;
  int64_t seeders, leechers;
  uint64_t next_ms;             /* loop time of the next announce, 0 none */
  int failing, err;             /* failed, or unanswered for a while (UDP) */
  char error[256];
};

/* What a stop leads to once peers, trackers and disk are done with. */
enum sh_after_stop {
  SH_AFTER_NONE = 0,    /* stay paused */
  SH_AFTER_RESTART,     /* resume (after a recheck, move or error retry) */
  SH_AFTER_REMOVE,
};

struct shoal_torrent {
  struct shoal_session *sess;
  shoal_id id;
  size_t sess_idx;              /* in sess->tor */
  uint8_t ih[20];               /* the swarm's identity (v1 info-hash) */
  uint8_t ih2[32];              /* BEP 52 v2 info-hash (SHA-256) of a hybrid or
                                   v2 torrent, once those are supported; its
                                   first 20 bytes then name the v2 swarm */
  int has_ih2;
  uint8_t req2[20];             /* HASH('req2', ih): an encrypted handshake's key */
  char ih_hex[41];
  char *name;                   /* for logs and status: printable; never
                                   NULL (ih_hex when out of memory) */
  struct sh_metainfo *m;        /* NULL until the metadata is known */
  uint8_t *raw;                 /* the .torrent bytes, with m */
  size_t raw_len;
  char *save_dir;
  uint8_t *prio;                /* num_files priorities (with m), or NULL */
  uint8_t *pending_prio;        /* given before the metadata: applied then */
  size_t npending_prio;
  /* What a magnet link brought (api.c): trackers (one tier each, used by
   * the announcer until the metadata is known), web seeds (for the
   * .torrent ut_metadata builds) and a file selection (BEP 53: applied as
   * priorities once the metadata is known) */
  char **mtrackers, **mweb;
  size_t nmtrackers, nmweb;
  struct sh_tier *mtiers;       /* nmtrackers tiers over mtrackers */
  struct shoal_file_range *select;
  size_t nselect;
  /* Trackers the app set (shoal_torrent_set_trackers, trackers.c): while
   * otiers_set they replace the metainfo's or the magnet link's */
  char **otrackers;
  struct sh_tier *otiers;       /* notiers tiers over otrackers */
  size_t notrackers, notiers;
  int otiers_set;
  void *ext[SH_EXT_MAX];        /* each extension's state (ext.h) */
  int seed_only;
  int super_seed;               /* BEP 16 while seeding (superseed.c) */
  uint32_t *ss_revealed;        /* per piece: times revealed, while super-seeding */
  uint64_t ss_rng;
  enum shoal_state state;
  /* Texts on the heap, NULL when none (sh_torrent_set_text): an idle
   * torrent has none, and 10,000 of them held 640 bytes each of buffers */
  char *error;
  char *tracker_msg;
  char *tracker_reason;         /* tracker_msg without its URL, while failing */

  struct sh_storage *st;
  struct sh_disk *disk;
  struct sh_picker *picker;
  struct sh_choker choker;
  struct sh_announcer *ann;
  struct sh_trk_state *trk;     /* one per tracker URL of the metainfo */
  size_t ntrk;

  uint8_t *have;                /* verified and written pieces (bitfield) */
  uint32_t have_count;
  uint8_t *check_state;         /* start-up check result */
  uint32_t check_done;
  int force_check;              /* next start ignores resume data */

  int32_t *slot_of;             /* piece -> index in parts, or -1 */
  struct sh_partial *parts;
  size_t nparts;
  struct sh_slab bufs;          /* piece buffers: max_pieces_in_flight slots,
                                   reserved on first use, freed when done */
  size_t bufs_held;             /* of the session's budget, bytes */
  int hashing;                  /* pieces queued for or in sh_disk_hash_write */
  int hash_running;             /* of which in the thread pool */
  uint32_t *hashq;              /* complete pieces waiting for a job, FIFO */
  size_t nhashq, cap_hashq;
  uint64_t hashq_ms;            /* when the oldest of them was queued */

  struct sh_peer **peers;       /* attached peers */
  size_t npeers, cap_peers;
  struct sh_peers plist;
  int connecting;               /* outgoing dials in progress */

  uint64_t downloaded, uploaded, wanted_bytes, have_bytes, total_bytes;
  struct sh_rate rate_down, rate_up; /* payload rates, smoothed */
  struct sh_hub_group rl;       /* its own limits (shoal_torrent_set_rates) */
  int max_peers;                /* its own connection cap (shoal_torrent_set_peer_limit);
                                   0: the session's max_peers_per_torrent */
  int hash_failures, banned_peers;
  uint32_t peers_closed_early;  /* dials closed right after our handshake */
  uint64_t last_choke_ms, last_optimistic_ms, last_resume_ms, started_ms;
  int resume_dirty;
  struct sh_buf resume;         /* the latest resume data */
  int resume_lock;              /* sh_resume_lock's descriptor, or -1 */

  int stop_requested;           /* SH_STOP_* bits */
  enum sh_after_stop after_stop;
  int delete_data;              /* with SH_AFTER_REMOVE */
  int unload;                   /* with SH_AFTER_REMOVE: shoal_torrent_unload */
  char *move_to;                /* a move_storage waiting for the stop */
  char *rename_path, *rename_name; /* a rename waiting for the stop (paths.c) */
  char *locate_to;              /* a set_location waiting for the stop (paths.c) */
  int user_paused;              /* stays paused after a stop */
  int pause_after_check;        /* a recheck of a paused torrent */
  int ann_stopping;             /* announcers saying event=stopped */
  int flush_pending, flushed, disk_closing, finish_pending, moving;

  uint64_t dht_next_ms;         /* the next DHT lookup and announce (tdht.c) */
  int dht_seed;                 /* the last announce said seed (BEP 33) */
  int dht_nodes_added;          /* its `nodes` went to the DHT */
};

enum { SH_STOP_STARTED = 1, SH_STOP_USER = 2, SH_STOP_DONE = 4 };

static inline uint64_t sh_now(const struct shoal_session *s) { return uv_now(s->loop); }

/* session.c */
/* The session, listening, with an empty extension registry: what
 * shoal_session_new (src/api/session.c) builds on before it registers the
 * extensions of src/ext/. Arguments and results as for shoal_session_new. */
int sh_session_new(uv_loop_t *loop, const struct shoal_settings *set, shoal_session **out,
                   char *err, size_t errlen);
/* Is a this session's own listening address? */
int sh_session_is_self(const struct shoal_session *s, const struct sh_addr *a);
uint64_t sh_session_rand(struct shoal_session *s);
void sh_session_torrent_stopped(struct shoal_session *s, struct shoal_torrent *t);
/* events.c */
/* Queues an event (text formatted like printf; may be NULL). */
void sh_event(struct shoal_session *s, enum shoal_event_type type, shoal_id id, int err,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int sh_events_init(struct shoal_session *s);
void sh_events_close(struct shoal_session *s, uv_close_cb cb);
void sh_events_free(struct shoal_session *s);
/* Closes every connection of torrent t: attached peers, and dials or
 * handshakes still on their way (which must not outlive a removed
 * torrent). */
void sh_session_close_torrent(struct shoal_session *s, struct shoal_torrent *t, const char *why);
/* Closes every connection from an address the ban list now bans. */
void sh_session_close_banned(struct shoal_session *s);
/* peer.c: the hub's callbacks, dialling and accepting */
extern const struct sh_conn_cb sh_engine_conn_cb;
/* An incoming transport: refused at once (banned, closing, flood) or
 * handed to the hub to wait for its handshake. */
void sh_session_accept(struct shoal_session *s, struct sh_transport *tr);
/* An outgoing connection for torrent t on a transport that is already
 * connected (an in-memory pair in tests). The transport is
 * closed on failure. */
int sh_session_connect(struct shoal_session *s, struct shoal_torrent *t, struct sh_transport *tr);
/* The uTP endpoint for addresses of this family (4 or 6), or NULL. */
struct sh_utp_ep *sh_session_utp(const struct shoal_session *s, int family);
/* Dials addr for torrent t. Returns 0 or a negative code. */
int sh_session_dial(struct shoal_session *s, struct shoal_torrent *t, const struct sh_addr *addr);
/* tdht.c: the DHT node (settings.dht) */
void sh_session_dht_open(struct shoal_session *s);
/* Saves the node's state and closes it; done(s) when it is gone. Returns
 * 1 while that is under way, 0 when there was no node. */
int sh_session_dht_close(struct shoal_session *s, void (*done)(void *ud));
/* A peer of t sent a PORT message (BEP 5): ping its node. */
void sh_session_dht_port(struct shoal_session *s, const struct shoal_torrent *t,
                         const struct sh_addr *peer, uint16_t port);
/* Do we send our PORT to t's peers (a DHT node, and t not private)? */
int sh_session_dht_wants_port(const struct shoal_session *s, const struct shoal_torrent *t);
/* Once a tick: t's lookups and announces. */
void sh_torrent_dht_tick(struct shoal_torrent *t, uint64_t now_ms);

#endif
