/* libshoal's public API: a session (listening sockets, settings, shared
 * limits) holding torrents that download and seed.
 *
 * The library never runs the loop: the caller owns a uv_loop_t, creates a
 * session on it, and calls uv_run(). Every function here must be called on
 * the loop's thread. Callbacks are invoked on that thread too.
 *
 * Errors are negative codes (see src/base/error.h, sh_strerror()). */
#ifndef SHOAL_H
#define SHOAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

struct sh_metainfo;
typedef struct shoal_session shoal_session;
typedef struct shoal_torrent shoal_torrent;

struct shoal_settings {
  const char *bind[4];          /* listen addresses, NULL-terminated; all NULL
                                   means "0.0.0.0" and "::" */
  uint16_t port;                /* listen port; 0 lets the OS choose */
  int max_peers_per_torrent;    /* default 80 */
  int max_peers_total;          /* default 400 */
  int max_pieces_in_flight;     /* partial pieces held in memory per torrent,
                                   default 48 (48 MiB with 1 MiB pieces: a hash
                                   group of 16 waiting leaves 32 to download) */
  int64_t upload_rate;          /* bytes/s, 0 = unlimited */
  int64_t download_rate;        /* bytes/s, 0 = unlimited */
  int upload_slots;             /* regular unchoke slots, default 4; at least
                                   8 when upload_rate is unlimited */
  size_t read_cache_bytes;      /* upload read cache, default 32 MiB */
  int hash_threads;             /* start-up check threads, 0 = all cores */
  int buffered_writes;          /* 1: write pieces through the page cache;
                                   default 0: aligned pieces go to disk with
                                   O_DIRECT (see src/disk/storage.c) */
  int local_sendfile;           /* 1: upload to peers on this host with
                                   sendfile too; default 0: a peer on this host
                                   (loopback, or our own address) is served
                                   from the read cache, which costs both ends
                                   less there (see src/torrent_peer.c) */
  const char *resume_dir;       /* where resume files live; NULL = no resume */
  int announce;                 /* contact trackers (default 1) */
  /* Timeouts (the defaults follow common clients; tests shrink them). */
  uint32_t handshake_timeout_ms; /* connect + handshake, default 20000 */
  uint32_t request_timeout_ms;   /* no block for this long: snubbed, default 60000 */
  uint32_t stall_timeout_ms;     /* snubbed and silent this long: dropped, default 180000 */
  uint32_t idle_timeout_ms;      /* nothing received at all, default 180000 */
  uint32_t tick_ms;              /* housekeeping period, default 1000 */
};

/* Fills s with the defaults above. */
void shoal_settings_default(struct shoal_settings *s);

enum shoal_state {
  SHOAL_CHECKING = 0,   /* verifying existing data */
  SHOAL_DOWNLOADING,
  SHOAL_SEEDING,        /* every wanted piece is verified on disk */
  SHOAL_STOPPING,
  SHOAL_STOPPED,
  SHOAL_ERROR,          /* see status.error; the session keeps running */
};

struct shoal_status {
  enum shoal_state state;
  uint32_t num_pieces, pieces_have;
  uint64_t wanted_bytes, have_bytes;  /* of the wanted files */
  uint64_t downloaded, uploaded;      /* payload bytes this session */
  uint64_t down_rate, up_rate;        /* bytes/s, smoothed over ~5 s */
  int peers, seeds;                   /* connected */
  uint32_t check_done;                /* pieces checked so far (CHECKING) */
  int hash_failures, banned_peers;
  char error[256];                    /* SHOAL_ERROR: what went wrong */
  char tracker_msg[256];              /* last tracker error/warning, or "" */
};

struct shoal_torrent_callbacks {
  void (*on_complete)(shoal_torrent *t, void *ud); /* all wanted data verified */
  void (*on_error)(shoal_torrent *t, int err, const char *msg, void *ud);
  void (*on_stopped)(shoal_torrent *t, void *ud);  /* after shoal_torrent_stop */
  void *ud;
};

struct shoal_add_opts {
  const char *save_dir;         /* folder holding the content under its name */
  const uint8_t *wanted_files;  /* NULL = all, else num_files flags (0/1) */
  int seed_only;                /* never download: the data must be complete */
  struct shoal_torrent_callbacks cb;
};

/* Creates a session and starts listening. On failure returns a negative code
 * and writes a sentence into err. The process must ignore SIGPIPE
 * (signal(SIGPIPE, SIG_IGN)): uploads use sendfile(2), which cannot be told
 * not to raise it when a peer hangs up, and the EPIPE error is handled. */
int shoal_session_new(uv_loop_t *loop, const struct shoal_settings *s, shoal_session **out,
                      char *err, size_t errlen);
/* The port actually bound (useful with port 0). */
uint16_t shoal_session_port(const shoal_session *s);
/* Stops every torrent gracefully (announce `stopped`, flush, save resume
 * data), closes every handle, frees the session, then calls done. */
void shoal_session_close(shoal_session *s, void (*done)(void *ud), void *ud);

/* Adds a torrent; the session takes ownership of m (even on failure). It
 * starts by checking existing data (or loading resume data), then downloads
 * and seeds. */
int shoal_torrent_add(shoal_session *s, struct sh_metainfo *m, const struct shoal_add_opts *o,
                      shoal_torrent **out);
/* Dial a peer by hand (`--peer HOST:PORT`). */
int shoal_torrent_add_peer(shoal_torrent *t, const struct sockaddr *addr);
void shoal_torrent_status(const shoal_torrent *t, struct shoal_status *st);
/* Graceful stop of one torrent; on_stopped fires when done. */
void shoal_torrent_stop(shoal_torrent *t);
const struct sh_metainfo *shoal_torrent_metainfo(const shoal_torrent *t);

/* ---- The tracker server ----
 *
 * An HTTP and UDP BitTorrent tracker (BEP 3, 7, 15, 23, 48) that also hosts
 * .torrent files on a web page. Like the session, it never runs a loop and
 * never installs a signal handler: the app owns the loops, the threads and
 * the signals (shoal tracker's are in cli/cmd_tracker.c).
 *
 * Threads. The tracker serves on one or more loops, its workers. Each worker
 * has its own sockets on the same ports (SO_REUSEPORT when there is more
 * than one, so the kernel spreads clients over them); all share one swarm
 * store (a lock per bucket), one access policy and one set of hosted
 * torrents. shoal_tracker_new() makes worker 0 on the caller's loop, which
 * also carries the tracker's timers (peer expiry, request rates). Every
 * other worker is a loop the app creates and runs on a thread of its own,
 * attached with shoal_tracker_attach_worker() on that thread. The other
 * functions are called on worker 0's thread.
 *
 * Stopping. shoal_tracker_close() asks every worker to close its handles;
 * each worker loop then has nothing left and uv_run() returns on its thread
 * (the app joins those threads). When all of them are closed, the tracker
 * frees itself on worker 0's loop and calls done.
 *
 * Errors are negative codes (errno values, or those of src/base/error.h)
 * with a sentence in err naming the address, file or setting involved. */
typedef struct shoal_tracker shoal_tracker;

#define SHOAL_TRACKER_MAX_BINDS 8    /* listen addresses */
#define SHOAL_TRACKER_MAX_WORKERS 64 /* loops serving one tracker */
/* Peers in one reply: 200 caps it at 1.2 KB of IPv4 or 3.6 KB of IPv6 peers;
 * a request without numwant gets 50 (BEP 3's suggestion), or fewer when
 * numwant_max is lower. */
#define SHOAL_TRACKER_MAX_NUMWANT 200

/* What the tracker serves and how. Read only by shoal_tracker_new(): the
 * tracker copies what it keeps, so the strings and arrays may be freed once
 * it returns. shoal_tracker_config_default() fills in the defaults below. */
struct shoal_tracker_config {
  const char *data_dir;        /* required: hosted torrents live in
                                  DATA/torrents/<info-hash hex>.torrent
                                  (created when missing) */
  const char *const *bind;     /* nbind listen addresses, IPv4 or IPv6
                                  ("::1" or "[::1]"), at most
                                  SHOAL_TRACKER_MAX_BINDS; none (default)
                                  means 0.0.0.0 and ::, and IPv4 only on a
                                  host without IPv6 */
  size_t nbind;
  int http_port;               /* default 6969; 0: a free port; -1: no HTTP */
  int udp_port;                /* default 6969; 0: the HTTP port when HTTP
                                  is on, else a free one; -1: no UDP */
  int workers;                 /* loops that will serve, worker 0 included:
                                  1 (default) to SHOAL_TRACKER_MAX_WORKERS */
  const char *upload_token;    /* enables POST /upload and the form on /,
                                  guarded by this token; NULL (default):
                                  uploads are refused (403) */
  const char *blocklist;       /* info-hashes never tracked, one 40-digit hex
                                  hash per line, '#' comments; NULL (default):
                                  DATA/blocklist when it exists; "": none */
  const char *const *add;      /* nadd .torrent files hosted from the start
                                  (validated, then copied into DATA/torrents) */
  size_t nadd;
  int hosted_only;             /* 1: track only hosted torrents; 0 (default):
                                  any info-hash not blocked */
  uint32_t interval;           /* seconds between announces asked of
                                  clients; default 1800, what most public
                                  trackers ask */
  uint32_t min_interval;       /* seconds clients must wait at least; 0
                                  (default): interval / 2; never above
                                  interval */
  uint32_t peer_timeout;       /* a peer not heard from for this many seconds
                                  is dropped; 0 (default): 2 x interval, so a
                                  peer that misses two announces is gone */
  uint32_t numwant_max;        /* most peers in one reply; default and
                                  limit SHOAL_TRACKER_MAX_NUMWANT */
  int full_scrape;             /* 1 (default): /scrape without info_hash
                                  lists every torrent; 0: refused */
  int trust_ip;                /* 1: honour the announce `ip` parameter and
                                  the UDP IP field (behind a proxy); default
                                  0: the socket's address */
  uint32_t idle_timeout_ms;    /* an HTTP request must be complete this long
                                  after the connection opened or the previous
                                  reply; default 15000 */
  uint32_t max_conns;          /* HTTP connections per worker, default 4096;
                                  more are accepted and closed at once. Each
                                  takes a descriptor, and the library leaves
                                  RLIMIT_NOFILE alone: the app raises it */
};

/* Fills c with the defaults above (data_dir NULL: the app chooses it). */
void shoal_tracker_config_default(struct shoal_tracker_config *c);

/* Loads the hosted torrents and the blocklist, binds worker 0's sockets on
 * loop and starts the tracker's timers there. Returns 0, or a negative code
 * with a sentence in err and *out NULL. On failure, handles already opened on
 * loop are closing: run the loop until it is empty before uv_loop_close(). */
int shoal_tracker_new(uv_loop_t *loop, const struct shoal_tracker_config *c, shoal_tracker **out,
                      char *err, size_t errlen);

/* Makes loop one more worker: binds its sockets (same ports as worker 0).
 * Call on the thread that will run loop, before running it; at most
 * c->workers - 1 times (then -EINVAL). Safe while worker 0's loop runs; the
 * app must not call shoal_tracker_close() before every attach it started
 * has returned (shoal tracker waits for each thread's result). Returns 0, or
 * a negative code with err filled; on failure, handles already opened on
 * loop are closing: run it until it is empty. The tracker logs a summary
 * line (data directory, mode, interval, workers) once every worker is
 * attached: from then on all of them serve. */
int shoal_tracker_attach_worker(shoal_tracker *t, uv_loop_t *loop, char *err, size_t errlen);

/* The ports actually bound (useful with port 0); 0 when that side is off. */
uint16_t shoal_tracker_http_port(const shoal_tracker *t);
uint16_t shoal_tracker_udp_port(const shoal_tracker *t);

/* Re-reads DATA/torrents (the hosted set becomes what is on disk) and the
 * blocklist (what SIGHUP does to shoal tracker). Returns the number of
 * torrents hosted, or a negative code with err (may be NULL with errlen 0)
 * filled when the directory could not be read: then the old set is kept and
 * only the blocklist is re-read. The outcome is logged either way. */
int shoal_tracker_reload(shoal_tracker *t, char *err, size_t errlen);

/* Stops serving: every worker closes its sockets and connections, and its
 * loop ends once it has nothing left. When all workers are closed the
 * tracker logs its totals, frees itself and calls done (may be NULL) on
 * worker 0's loop. t must not be used after this call. */
void shoal_tracker_close(shoal_tracker *t, void (*done)(void *ud), void *ud);

#endif
