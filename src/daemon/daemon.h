/* Private structures of the daemon (include/shoal.h, "The daemon"): an
 * application of the public torrent API, in the library so that it can
 * serve on the library's HTTP server. Only src/daemon/ includes this.
 *
 * daemon.c     life: the database, the session, events, the tick (queues,
 *              ratio and idle limits, the alt-speed schedule, resume data
 *              batches, the watch folder)
 * daemon_load.c  the stored torrents back in batches after a start,
 *              while the RPC already answers
 * store.c      the SQLite database: schema, migrations, one row per torrent
 * rpc.c        the method table and the session methods
 * rpc_torrent.c  torrent-* methods; rpc_get.c torrent-get's fields
 * dormant.c    idle seeds out of the engine until a peer or request comes
 * dpool.c      the records' memory, apart from the engine's heap
 * web.c        the HTTP front end: session id, auth, allow-lists, files
 *
 * Ownership: the daemon owns its session, its HTTP server, its database
 * and one struct dtor per torrent (the array `tor`, in RPC-id order; hash
 * tables find one by RPC id, engine id, info-hash and req2 hash). Loop
 * thread only. */
#ifndef SHOAL_DAEMON_H
#define SHOAL_DAEMON_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "shoal.h"
#include "base/buf.h"
#include "base/tab.h"
#include "net/http_server.h"

struct sh_store;
struct sh_http_client;

/* Transmission's torrent status codes (RPC spec, "status"). */
enum {
  TR_STOPPED = 0, TR_CHECK_WAIT, TR_CHECK, TR_DOWNLOAD_WAIT, TR_DOWNLOAD, TR_SEED_WAIT, TR_SEED
};

/* Per-torrent modes of ratio and idle limits (Transmission's). */
enum { TR_MODE_GLOBAL = 0, TR_MODE_SINGLE = 1, TR_MODE_UNLIMITED = 2 };

#define DT_MAX_LABELS 16

/* One torrent as the daemon knows it: what the engine does not keep. */
struct dtor {
  int64_t rid;                  /* the RPC id: the database row, never reused */
  shoal_id eid;                 /* the engine's id (0 while not in the engine) */
  uint8_t ih[20];
  char hash_hex[41];
  char *dir;                    /* downloadDir: where the data ends up */
  int in_incomplete;            /* data in the incomplete folder until done */
  int start_now;                /* started with torrent-start-now: no queue */
  int checking;                 /* new: checked before it queues, so the queue
                                   knows a seed from a download */
  int64_t added_date, done_date, activity_date, start_date, changed_date;
  int64_t queue_pos;
  int stopped;                  /* the user's stop (not the queue's) */
  int queued;                   /* waits for a queue slot (paused in the engine) */
  int limit_stopped;            /* stopped by the ratio or idle limit */
  int bandwidth_priority;       /* -1, 0, 1 */
  int ratio_mode, idle_mode;    /* TR_MODE_* */
  double ratio_limit;
  int idle_limit;               /* minutes */
  int up_limit, down_limit;     /* kB/s */
  int up_limited, down_limited, honors_session;
  int peer_limit;
  char **labels;                /* nlabels of them, or NULL */
  int nlabels;
  char *comment, *creator;      /* from the .torrent */
  int64_t date_created;
  int is_private;
  uint32_t piece_size;
  char *magnet;                 /* the magnet link that added it, or NULL */
  char *trackers;               /* only while loading: the trackers torrent-set
                                   chose (trackerList's text), or NULL */
  char *renames;                /* torrent-rename-path's renames in order, a
                                   JSON array of [path, name], or NULL */
  uint64_t up_base, down_base;  /* totals from before this run */
  uint64_t corrupt;
  uint64_t last_up, last_down;  /* for activity_date */
  int64_t last_announce;        /* a tracker's last reply (s), 0 none */
  int64_t idle_since;           /* seeding without upload since (s), 0 none */
  int64_t stalled_since;
  int resume_dirty;
  int resume_ok;                /* its resume data says something true: it came
                                   from the database or a check ended; until
                                   then none is saved (it would claim no piece
                                   and be trusted) */
  uint32_t saved_have;           /* pieces in the resume data last saved */
  int complete;                 /* every wanted piece there, as last seen (the
                                   queues count seeds and downloads by it) */
  char *error;                  /* the engine's last error, or NULL: memory
                                   only for the few that have one (10,000
                                   fixed buffers were 2.5 MB) */
  int removing;
  uint64_t polled;              /* the tick that last looked at it */
  /* Dormant (dormant.c): a seed with every piece, no peer and nothing due
   * for a while is out of the engine (eid 0) until a peer, an announce
   * or a request needs it; then these stand in for the engine's status. */
  int whole;                    /* every piece verified, as last saved */
  int dormant;
  int64_t quiet_since;          /* live, seeding, nobody there since (s) */
  uint64_t quiet_up;            /* its upload counter then */
  int64_t wake_at;              /* dormant: an announce due then (s), 0 none */
  char *name;                   /* dormant: the name shown */
  char *trk;                    /* dormant: its trackers (trackerList's
                                   text), NULL when none */
  uint64_t total_bytes;         /* dormant */
  uint32_t num_pieces;          /* dormant */
  uint8_t req2[20];             /* HASH('req2', ih): an encrypted peer's key */
};

/* Every piece verified (a status's): what a dormant seed must be. */
#define SH_WHOLE(st) ((st)->has_metadata && (st)->num_pieces && \
                      (st)->pieces_have == (st)->num_pieces)

#define SH_RAW_PREFIX "{\"arguments\":"

/* A torrent-get answer's field: name and how to write it. */
struct shoal_daemon {
  uv_loop_t *loop;
  struct shoal_daemon_config cfg;
  char *strs[24];               /* copies of cfg's strings */
  shoal_session *sess;
  struct sh_store *db;
  struct http_server http;
  int http_up;
  struct sh_http_client *fetch; /* torrent-add by URL */
  char session_id[49];
  uv_timer_t *tick;             /* freed in its close callback */
  int web_closing;              /* the HTTP server's close is pending */
  int engine_closed;            /* the session and the fetcher are closed */
  int64_t last_resume_flush;
  struct dtor **tor;            /* ordered by rid */
  size_t ntor, cap_tor;
  struct sh_tab by_rid, by_eid;
  struct sh_tab by_ih, by_req2; /* every torrent, dormant ones too */
  int64_t dormant_scan;         /* the last pass over the live seeds (s) */
  int dormant_trim;             /* seeds went to sleep: give their memory
                                   back at the next pass (they leave the
                                   engine in the meantime) */
  /* recently removed, for torrent-get ids "recently-active" */
  struct dt_removed {
    int64_t rid, at;
  } *removed;
  size_t nremoved, cap_removed;
  /* a method that wrote its arguments object as text (torrent-get),
   * after SH_RAW_PREFIX: shoal_daemon_rpc writes the rest of the reply
   * behind it and hands the buffer on, not a copy */
  struct sh_buf raw_args;
  /* the running request's tag, borrowed for the method call: a method that
   * answers later (torrent-add of a URL) keeps a copy for its reply */
  json_t *rpc_tag;
  /* What the tick looks at (daemon_tick.c): the engine's busy torrents and
   * those an event named since (engine ids), not all 10,000; every one
   * when an idle limit falls due or events were dropped. */
  shoal_id *polls, *busy;
  size_t npolls, cap_polls, cap_busy;
  uint64_t ticks, events_dropped;
  int64_t idle_due;             /* earliest idle-limit stop due, 0: unknown */
  /* the alt-speed schedule's last decision, to switch only at its edges */
  int sched_active;
  /* session-stats */
  uint64_t up_total, down_total; /* cumulative, from the database */
  int64_t started_at, seconds_active;
  uint64_t files_added, sessions;
  /* failed Basic auth: a slow-down */
  uint32_t auth_failures;
  uint64_t auth_block_until_ms;
  /* Loading the database (daemon_load.c): the RPC answers from the
   * start, and the stored torrents come back in batches between loop
   * turns, in RPC-id order; rows up to load_after are in. */
  uv_idle_t *loader;            /* freed in its close callback */
  int loading;                  /* rows are still to be read */
  int loader_closing;           /* its close is pending */
  int64_t load_after;
  uint64_t load_started_ms;
  int64_t loaded_at;            /* when the last row came back (s) */
  int closing;                  /* pausing every torrent before the close */
  uint64_t close_started_ms;
  void (*done)(void *ud);
  void *done_ud;
};

/* daemon.c */
struct dtor *sh_daemon_by_rid(const struct shoal_daemon *d, int64_t rid);
struct dtor *sh_daemon_by_eid(const struct shoal_daemon *d, shoal_id eid);
struct dtor *sh_daemon_by_hash(const struct shoal_daemon *d, const uint8_t ih[20]);
/* Adds a torrent from its .torrent bytes or a magnet link. On success
 * *out is the new record; -EEXIST sets *out to the torrent already there. */
struct dt_add {
  const void *torrent;
  size_t len;
  const char *magnet;           /* instead of torrent */
  const char *download_dir;
  int paused;
  const uint8_t *prio;          /* per file, or NULL */
  size_t nprio;
  const char *const *labels;
  int nlabels;
  int bandwidth_priority;
};
int sh_daemon_add(struct shoal_daemon *d, const struct dt_add *a, struct dtor **out, char *err,
                  size_t errlen);
int sh_daemon_remove(struct shoal_daemon *d, struct dtor *t, int delete_data);
int sh_daemon_start(struct shoal_daemon *d, struct dtor *t, int now);
int sh_daemon_stop(struct shoal_daemon *d, struct dtor *t);
/* The torrent's own speed limits (torrent-set's uploadLimit and the
 * rest) and peer limit into the engine. */
void sh_daemon_apply_limits(struct shoal_daemon *d, const struct dtor *t);
/* Writes the record's settings to the database (commits). */
int sh_daemon_save(struct shoal_daemon *d, struct dtor *t);
/* Transmission's status code of the torrent. */
int sh_daemon_status(const struct shoal_daemon *d, const struct dtor *t,
                     const struct shoal_status *st);
/* The session's limits again, after a speed setting or the schedule. */
void sh_daemon_apply_speeds(struct shoal_daemon *d);
/* The next tick looks at t (its state may have changed without the engine
 * calling it busy). */
void sh_daemon_poll(struct shoal_daemon *d, const struct dtor *t);
/* Queue positions 0..n-1 in the order of queue_pos, then runs the queues. */
void sh_daemon_queue_changed(struct shoal_daemon *d);
int sh_daemon_set_labels(struct dtor *t, json_t *arr);
/* Replaces t's labels with copies of v[0..n-1] (at most DT_MAX_LABELS). */
int sh_daemon_copy_labels(struct dtor *t, const char *const *v, int n);
/* Whether the alt-speed schedule says "on" at this local time. */
int sh_daemon_schedule_on(const struct shoal_daemon_config *c, int weekday, int minute);
int64_t sh_daemon_now(void);

/* daemon_load.c: the stored torrents back into the engine, in batches
 * from the loop (sh_daemon_load_start), or all that remain at once, for
 * a call that needs every torrent (an add that may be a duplicate, an
 * RPC that names torrents or changes them). */
void sh_daemon_load_start(struct shoal_daemon *d);
void sh_daemon_load_all(struct shoal_daemon *d);
void sh_daemon_load_stop(struct shoal_daemon *d);
/* Whether loading is still going or brought torrents back at `since` (s)
 * or later: torrent-get's "recently-active" then lists them all, so a
 * client that polls it sees the torrents that came back after its first
 * full list. */
int sh_daemon_loaded_since(const struct shoal_daemon *d, int64_t since);
/* daemon.c: one stored row into the engine (sh_store_batch's callback) */
int sh_daemon_load_row(void *ud, struct dtor *row, const void *torrent, size_t tlen,
                       const void *resume, size_t rlen, const char *dir);

/* dormant.c */
/* Whether seeds may go dormant: the setting, and no DHT or local
 * discovery (their announces need the torrent in the engine). */
int sh_daemon_dormancy(const struct shoal_daemon *d);
/* Brings a dormant torrent back into the engine, running; 0 when it is
 * live (already, or now), else a negative code with a warning logged. */
int sh_daemon_wake(struct shoal_daemon *d, struct dtor *t, const char *why);
/* Wakes those due for an announce, and every few seconds sends seeds
 * quiet long enough to sleep. */
void sh_daemon_dormant_tick(struct shoal_daemon *d, int64_t now);
/* At load: starts t dormant instead of in the engine when it may (a
 * whole seed, running, nothing to announce). 1 when it did. */
int sh_daemon_sleep_at_load(struct shoal_daemon *d, struct dtor *t, const struct dtor *row,
                            const struct shoal_torrent_info *ti, int has_resume);
/* The engine's status of t, or what a dormant torrent's would be. */
int sh_daemon_status_of(const struct shoal_daemon *d, const struct dtor *t,
                        struct shoal_status *st);
/* The engine's hook for a handshake naming a torrent it does not hold. */
int sh_daemon_on_unknown(void *ud, const uint8_t *ih, const uint8_t *req2);
void sh_daemon_req2(const uint8_t ih[20], uint8_t out[20]);
/* daemon.c: t back into the engine from its stored row (load and wake):
 * paused or running; -EEXIST while the engine still holds it. */
int sh_daemon_engine_add(struct shoal_daemon *d, struct dtor *t, const struct dtor *row,
                         const void *torrent, size_t tlen, const void *resume, size_t rlen,
                         int paused);

/* rpc.c: one request object in, one reply object out (new reference) */
json_t *sh_rpc_call(struct shoal_daemon *d, json_t *req);
/* rpc_torrent.c: the torrent-* methods, looked up by name (NULL: none) */
typedef const char *(*sh_rpc_fn)(struct shoal_daemon *d, json_t *args, json_t *out);
sh_rpc_fn sh_rpc_torrent_method(const char *name);
/* rpc_trackers.c: torrent-set's trackerAdd, trackerRemove, trackerReplace
 * and trackerList (NULL: done or none asked); the list kept in the
 * database, given back to the engine when the daemon starts */
const char *sh_rpc_set_trackers(struct shoal_daemon *d, struct dtor *t, json_t *args);
int sh_daemon_load_trackers(struct shoal_daemon *d, const struct dtor *t, const char *text);
/* A live torrent's trackers as trackerList's text (malloc'd), NULL when
 * none; and such a text back as a list (*out malloc'd, nothing known of
 * the trackers' replies): what a dormant torrent shows. */
char *sh_daemon_trackers_text(struct shoal_daemon *d, const struct dtor *t);
size_t sh_daemon_trackers_parse(const char *text, struct shoal_tracker_info **out);
/* rpc_torrent.c: the renames kept in the database, done again (on the
 * names only: the data was renamed then) when the daemon starts */
void sh_daemon_load_renames(struct shoal_daemon *d, const struct dtor *t);
/* rpc_get.c */
const char *sh_rpc_torrent_get(struct shoal_daemon *d, json_t *args, json_t *out);
/* The torrents an `ids` argument names (absent: all), appended to *v. */
int sh_rpc_select(struct shoal_daemon *d, json_t *ids, struct dtor ***v, size_t *n);
/* A safe folder for download-dir/location: absolute, no ".." element. */
int sh_rpc_dir_ok(const char *dir);

/* web.c */
int sh_web_start(struct shoal_daemon *d, char *err, size_t errlen);
void sh_web_close(struct shoal_daemon *d);

#endif
