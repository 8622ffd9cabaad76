/* libshoal's public API: a session (listening sockets, settings, shared
 * limits) holding torrents that download and seed; and, in the sections at
 * the end, errors, logging, .torrent files, creating them and verifying
 * data against them.
 *
 * The library never runs the loop: the caller owns a uv_loop_t, creates a
 * session on it, and calls uv_run(). Every session and torrent function
 * must be called on the loop's thread. Callbacks are invoked on that thread
 * too. The later sections say which threads they may be used from.
 *
 * Errors are negative codes (see "Errors" below, shoal_strerror()). */
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

/* ======================================================================
 * Errors
 *
 * Every fallible function returns 0 (or a count) on success and a negative
 * code on failure: -errno where one fits (-ENOENT, -ENOMEM, ...), or one of
 * the codes below, all beyond errno's range. */
enum {
  SHOAL_EBENCODE = -10001,    /* malformed bencode */
  SHOAL_EMETAINFO = -10002,   /* invalid torrent file */
  SHOAL_EHASH = -10003,       /* data does not match its SHA-1 hash */
  SHOAL_ETRACKER = -10004,    /* tracker returned an error */
  SHOAL_EPROTO = -10005,      /* peer broke the protocol */
  SHOAL_ELIMIT = -10006,      /* a configured limit was exceeded */
  SHOAL_EUSAGE = -10007,      /* bad usage (an option or argument) */
  SHOAL_EINCOMPLETE = -10008, /* data is incomplete */
  SHOAL_EBANNED = -10009,     /* peer is banned */
  SHOAL_ETIMEOUT = -10010,    /* timed out */
  SHOAL_EURL = -10011,        /* malformed URL */
  SHOAL_EHTTP = -10012,       /* HTTP request failed */
};

/* A sentence for any code (negative errno or SHOAL_E*), e.g. "invalid
 * torrent file"; static, never NULL. The caller adds the file, peer or URL
 * involved. Any thread. */
const char *shoal_strerror(int code);
/* The code's short name, e.g. "ENOENT" or "EMETAINFO"; static, never NULL. */
const char *shoal_errname(int code);

/* ======================================================================
 * Logging
 *
 * The library never writes to stdout or stderr. It formats each message (one
 * line without a trailing newline, cut at 1023 bytes) and hands it to the
 * sink the application installed; with no sink it stays silent.
 *
 * Threads: messages come from the loop thread, libuv's thread-pool workers
 * and the hashing threads of shoal_create() and shoal_verify(), so the sink
 * runs on any of them. Calls to it are serialised (never two at once, so it
 * needs no lock of its own, and lines never interleave). msg is borrowed for
 * the call. The sink should be quick (it holds up the thread that logs) and
 * must not call into libshoal: a message logged from inside the sink is
 * dropped. */
enum shoal_log_level {
  SHOAL_LOG_ERROR = 0,
  SHOAL_LOG_WARN,
  SHOAL_LOG_INFO, /* the default threshold */
  SHOAL_LOG_DEBUG,
};
typedef void (*shoal_log_fn)(void *ud, enum shoal_log_level level, const char *msg);

/* Installs fn (NULL: none, silence). From any thread, at any time: when it
 * returns, the previous sink is neither running nor ever called again, so
 * its ud may be freed (from inside that sink itself, the swap happens at
 * once and the running call simply finishes). */
void shoal_log_set_sink(shoal_log_fn fn, void *ud);
/* Messages less severe than level (a greater value) are dropped before
 * being formatted. Any thread. */
void shoal_log_set_level(enum shoal_log_level level);
enum shoal_log_level shoal_log_get_level(void);

#endif
