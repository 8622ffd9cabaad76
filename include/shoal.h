/* libshoal's public API: a session (listening sockets, settings, shared
 * limits and budgets) holding torrents that download and seed, addressed
 * by id; an event queue the application drains.
 *
 * The library never runs the loop and installs no signal handler: the
 * caller owns a uv_loop_t, creates a session on it, and calls uv_run().
 * Every function here must be called on the loop's thread.
 *
 * Errors are negative codes (-errno where one fits, else shoal's own);
 * shoal_strerror() turns one into a sentence. Strings and arrays passed in
 * are copied unless a comment says otherwise. */
#ifndef SHOAL_H
#define SHOAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

typedef struct shoal_session shoal_session;
/* A torrent's id: unique within its session for the session's life (ids
 * are not reused), from 1; 0 means none. */
typedef uint32_t shoal_id;

struct shoal_settings {
  const char *bind[4];          /* listen addresses, NULL-terminated; all NULL
                                   means "0.0.0.0" and "::" */
  uint16_t port;                /* listen port; 0 lets the OS choose */
  int no_listen;                /* 1: open no listening socket, only dial out */
  int max_peers_per_torrent;    /* default 80 */
  int max_peers_total;          /* default 400 */
  int max_pieces_in_flight;     /* partial pieces held in memory per torrent,
                                   default 48 (48 MiB with 1 MiB pieces: a hash
                                   group of 16 waiting leaves 32 to download) */
  int64_t upload_rate;          /* bytes/s, 0 = unlimited */
  int64_t download_rate;        /* bytes/s, 0 = unlimited */
  int upload_slots;             /* regular unchoke slots, default 4; at least
                                   8 when upload_rate is unlimited */
  size_t read_cache_bytes;      /* upload read cache shared by all torrents,
                                   default 32 MiB */
  size_t piece_buffer_bytes;    /* memory for pieces being downloaded, shared
                                   by all torrents, default 256 MiB; a torrent
                                   may always hold two pieces, so none starves */
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
  /* Events (see shoal_session_events): at most event_queue_len wait to be
   * drained (default 1024; older ones are dropped and counted). on_event,
   * when set, is called on the loop thread once events are waiting, from a
   * loop callback of its own, so it may call any function here. */
  size_t event_queue_len;
  void (*on_event)(void *ud);
  void *event_ud;
};

/* Fills s with the defaults above. */
void shoal_settings_default(struct shoal_settings *s);

enum shoal_state {
  SHOAL_METADATA = 0,   /* waiting for the metadata (added by info-hash) */
  SHOAL_CHECKING,       /* verifying existing data */
  SHOAL_DOWNLOADING,
  SHOAL_SEEDING,        /* every wanted piece is verified on disk */
  SHOAL_STOPPING,       /* pausing, removing or moving: peers closed, the
                           trackers told, data flushed */
  SHOAL_PAUSED,
  SHOAL_ERROR,          /* see status.error; shoal_torrent_resume retries */
};

struct shoal_status {
  shoal_id id;
  uint8_t info_hash[20];
  char name[256];                     /* from the metadata, else as added */
  enum shoal_state state;
  int has_metadata;
  uint32_t num_pieces, pieces_have;   /* 0 until the metadata is known */
  uint64_t total_bytes;               /* content size, padding excluded */
  uint64_t wanted_bytes, have_bytes;  /* of the wanted files */
  uint64_t downloaded, uploaded;      /* payload bytes since added */
  uint64_t down_rate, up_rate;        /* bytes/s, smoothed over ~5 s */
  int peers, seeds;                   /* connected */
  uint32_t check_done;                /* pieces checked so far (CHECKING) */
  int hash_failures, banned_peers;
  char error[256];                    /* SHOAL_ERROR: what went wrong */
  char tracker_msg[256];              /* last tracker error/warning, or "" */
};

/* File priorities: what to download. SKIP is not downloaded (pieces it
 * shares with a wanted file are); the other levels are kept and reported,
 * and fetched alike (rarest first) until the picker learns to order by
 * them. */
enum shoal_priority {
  SHOAL_PRIO_SKIP = 0,
  SHOAL_PRIO_LOW = 1,
  SHOAL_PRIO_NORMAL = 4,
  SHOAL_PRIO_HIGH = 7,
};

/* What to add: a .torrent's bytes, or an info-hash alone (the metadata
 * comes later from peers: magnet links), or resume data from
 * shoal_torrent_resume_data (which holds the metadata and the settings
 * below, so nothing else is needed). */
struct shoal_add_params {
  const void *torrent;          /* .torrent file bytes */
  size_t torrent_len;
  const uint8_t *info_hash;     /* 20 bytes, when torrent is NULL */
  const char *name;             /* display name until the metadata is known */
  const void *resume;           /* resume data */
  size_t resume_len;
  const char *save_dir;         /* folder holding the content under its name;
                                   NULL: "." (or the resume data's) */
  const uint8_t *priorities;    /* per file (enum shoal_priority), NULL = all
                                   NORMAL; must match the file count */
  size_t num_priorities;
  int paused;                   /* add without starting */
  int seed_only;                /* never download: the data must be complete */
};

/* One connected peer (shoal_torrent_peers). */
struct shoal_peer_info {
  char addr[64];                /* "ip:port" */
  char client[64];              /* from its extension handshake, or "" */
  uint64_t downloaded, uploaded;/* payload from and to it */
  uint64_t down_rate, up_rate;  /* bytes/s */
  uint32_t pieces;              /* pieces it has */
  unsigned incoming : 1, seed : 1, am_choking : 1, am_interested : 1, peer_choking : 1,
      peer_interested : 1, snubbed : 1, optimistic : 1;
};

/* One file (shoal_torrent_files). path is borrowed: valid until the
 * torrent is removed. */
struct shoal_file_info {
  const char *path;             /* relative to the save folder, '/' separated */
  uint64_t length, offset;
  uint64_t have_bytes;          /* verified */
  uint8_t priority;             /* enum shoal_priority */
  uint8_t padding;              /* BEP 47 padding: never on disk */
};

/* One tracker (shoal_torrent_trackers). */
struct shoal_tracker_info {
  char url[512];
  int tier;
  int64_t seeders, leechers;    /* from its last reply; -1 unknown */
  uint32_t next_announce_s;     /* 0: none scheduled */
  char last_error[256];         /* "" when the last announce worked */
};

enum shoal_event_type {
  SHOAL_EVENT_ADDED = 1,
  SHOAL_EVENT_METADATA,         /* the metadata arrived (or was given) */
  SHOAL_EVENT_CHECKED,          /* the start-up check or resume data is done */
  SHOAL_EVENT_FINISHED,         /* every wanted piece is verified on disk */
  SHOAL_EVENT_ERROR,            /* err and text say what went wrong */
  SHOAL_EVENT_PAUSED,
  SHOAL_EVENT_RESUMED,
  SHOAL_EVENT_REMOVED,          /* the id is gone */
  SHOAL_EVENT_RESUME_DATA,      /* fresh resume data (shoal_torrent_resume_data) */
  SHOAL_EVENT_TRACKER_REPLY,    /* text: the tracker and what it said */
  SHOAL_EVENT_TRACKER_ERROR,
  SHOAL_EVENT_PEER_BANNED,      /* text: the address */
  SHOAL_EVENT_STORAGE_MOVED,    /* text: the new folder */
};

struct shoal_event {
  enum shoal_event_type type;
  shoal_id id;                  /* the torrent */
  int err;                      /* ERROR, TRACKER_ERROR: a negative code */
  char text[256];
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

/* The session-wide limits, changed on the fly (bytes/s, 0 = unlimited). */
void shoal_session_set_rates(shoal_session *s, int64_t upload, int64_t download);

/* Takes up to cap waiting events, oldest first; returns how many. */
size_t shoal_session_events(shoal_session *s, struct shoal_event *out, size_t cap);
/* Events dropped because the queue was full, since the session began. */
uint64_t shoal_session_events_dropped(const shoal_session *s);

/* Adds a torrent and starts it (unless p->paused): it checks existing data
 * or trusts valid resume data, then downloads and seeds. On failure
 * returns a negative code with a sentence in err (a malformed .torrent,
 * one already added: -EEXIST with *id set to it, ...). */
int shoal_torrent_add(shoal_session *s, const struct shoal_add_params *p, shoal_id *id, char *err,
                      size_t errlen);
/* The torrent with this info-hash, in constant time. -ENOENT if none. */
int shoal_torrent_find(const shoal_session *s, const uint8_t info_hash[20], shoal_id *id);
/* Graceful pause (peers closed, trackers told, data flushed, resume data
 * saved): SHOAL_EVENT_PAUSED when done. */
int shoal_torrent_pause(shoal_session *s, shoal_id id);
/* Starts a paused (or failed) torrent again: resume data if it still
 * matches the files, else a check. */
int shoal_torrent_resume(shoal_session *s, shoal_id id);
/* Stops the torrent, forgets it (and its resume file), and with
 * delete_data also deletes its files and the folders they leave empty:
 * SHOAL_EVENT_REMOVED when done. The id is invalid from this call on. */
int shoal_torrent_remove(shoal_session *s, shoal_id id, int delete_data);
/* Verifies the data on disk again (pauses, checks, goes on as it was). */
int shoal_torrent_recheck(shoal_session *s, shoal_id id);
/* prio[n] per file (enum shoal_priority); n must be the file count. */
int shoal_torrent_set_priorities(shoal_session *s, shoal_id id, const uint8_t *prio, size_t n);
/* Moves the content to dir (rename, or copy across file systems), then
 * goes on from there: SHOAL_EVENT_STORAGE_MOVED, or ERROR with the data
 * left where it was. */
int shoal_torrent_move_storage(shoal_session *s, shoal_id id, const char *dir);
/* Dial a peer by hand (`--peer HOST:PORT`). */
int shoal_torrent_add_peer(shoal_session *s, shoal_id id, const struct sockaddr *addr);

int shoal_torrent_status(const shoal_session *s, shoal_id id, struct shoal_status *st);
/* Status of every torrent, in the order they were added: fills up to cap
 * and returns how many torrents there are. */
size_t shoal_torrent_status_all(const shoal_session *s, struct shoal_status *out, size_t cap);
/* Lists: fill up to cap entries, return how many there are (0 for an
 * unknown id). Files are known once the metadata is. */
size_t shoal_torrent_peers(const shoal_session *s, shoal_id id, struct shoal_peer_info *out,
                           size_t cap);
size_t shoal_torrent_files(const shoal_session *s, shoal_id id, struct shoal_file_info *out,
                           size_t cap);
size_t shoal_torrent_trackers(const shoal_session *s, shoal_id id, struct shoal_tracker_info *out,
                              size_t cap);
/* A copy of the .torrent (once the metadata is known) or of the latest
 * resume data, malloc'd: the caller frees *out with free(). */
int shoal_torrent_file(const shoal_session *s, shoal_id id, void **out, size_t *len);
int shoal_torrent_resume_data(const shoal_session *s, shoal_id id, void **out, size_t *len);

#endif
