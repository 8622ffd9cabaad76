/* libshoal's public API: a session (listening sockets, settings, shared
 * limits and budgets) holding torrents that download and seed, addressed
 * by id, and an event queue the application drains; and, in the sections
 * at the end, errors, logging, .torrent files, creating them and
 * verifying data against them.
 *
 * The library never runs the loop and installs no signal handler: the
 * caller owns a uv_loop_t, creates a session on it, and calls uv_run().
 * Every session and torrent function must be called on the loop's thread;
 * the later sections say which threads they may be used from.
 *
 * Errors are negative codes (see "Errors" below, shoal_strerror()).
 * Strings and arrays passed in are copied unless a comment says
 * otherwise. */
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

/* Message Stream Encryption (MSE/PE) of peer connections. */
enum shoal_encryption {
  SHOAL_ENC_PREFER = 0, /* dial encrypted (RC4, or just the handshake if the
                           peer picks that), fall back to plaintext once if
                           the peer refuses and remember it; accept both */
  SHOAL_ENC_REQUIRE,    /* RC4 only, both ways */
  SHOAL_ENC_OFF,        /* plaintext only; refuse encrypted handshakes */
};

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
  int utp;                      /* 1 (default): uTP (BEP 29) too, on the UDP
                                   socket of each listen address: peers are
                                   dialled over TCP and uTP at once, the first
                                   to connect kept; 0: TCP only */
  int utp_only;                 /* 1: uTP only, no TCP dialled or accepted
                                   (for tests); default 0 */
  int encryption;               /* enum shoal_encryption, default PREFER.
                                   RC4 uploads cannot use sendfile: they are
                                   read into memory and encrypted there */
  const char *resume_dir;       /* where resume files live; NULL = no resume */
  int announce;                 /* contact trackers (default 1) */
  int pex;                      /* exchange peer lists with peers (BEP 11,
                                   ut_pex; never for private torrents,
                                   BEP 27): default 1 */
  int lsd;                      /* local service discovery (BEP 14): announce
                                   our torrents by multicast on the local
                                   network and take the peers announced there
                                   (never private torrents); default 0, as in
                                   Transmission and aria2: it talks to the LAN */
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
  /* DHT (BEP 5, 32, 33, 42, 43, 51): a node on the UDP socket of the
   * listen port, for every torrent that is not private (BEP 27). Off by
   * default, and the library contacts no node it was not given: shoal get
   * and shoal seed turn it on with the public routers as bootstrap. */
  int dht;
  const char *const *dht_bootstrap; /* "HOST:PORT" or "[IPv6]:PORT", NULL-
                                   terminated (copied): asked for our first
                                   nodes, and again until one answers */
  int dht_read_only;            /* BEP 43: look up and announce, answer nothing */
  /* An incoming handshake names a torrent the session does not hold, by
   * its info-hash (plaintext) or by HASH('req2', info-hash) (encrypted;
   * then info_hash is NULL). An app that keeps torrents out of the
   * session while nothing needs them (shoal_torrent_unload) may add the
   * torrent from inside this call and return 0: the handshake goes on
   * with it. Anything else refuses the peer. NULL: refused. */
  int (*on_unknown_torrent)(void *ud, const uint8_t *info_hash, const uint8_t *req2);
  void *unknown_ud;
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
  /* METADATA: fetching it from peers (BEP 9) */
  uint32_t metadata_asked;            /* peers asked for it so far */
  uint32_t metadata_size;             /* bytes, once a peer said; else 0 */
  uint32_t metadata_have;             /* bytes received from the peer asked now */
  int hash_failures, banned_peers;
  uint32_t peers_closed_early;        /* connections we opened that the peer
                                         closed right after our handshake,
                                         before its own (as a peer that
                                         requires encryption does) */
  int peers_all_close_early;          /* every known peer did so 3 times in a
                                         row: none will talk to us as we are
                                         (they are still retried) */
  char error[256];                    /* SHOAL_ERROR: what went wrong */
  char tracker_msg[256];              /* last tracker error/warning with its
                                         URL, or "" */
  /* The trackers summed up, for a progress line or a give-up rule
   * (shoal_torrent_trackers lists each). A tracker is failing from its
   * first failed announce, or from the first unanswered interval of a UDP
   * one (BEP 15 retries for hours), until it answers. */
  int trackers;                       /* tracker URLs being announced to;
                                         0: none (or announcing is off) */
  int trackers_failing;               /* of which failing now */
  uint32_t tracker_retry_s;           /* next announce in this many seconds;
                                         0: one is in flight, or none due */
  char tracker_error[128];            /* the latest failure, without the URL
                                         ("connection refused: ...", "no
                                         connect reply after 2 tries"); ""
                                         when no tracker is failing */
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

/* An inclusive range of file indices: zero-based, counted as the info
 * dict lists the files, padding included (BEP 53, libtorrent). */
struct shoal_file_range {
  uint32_t first, last;
};

/* What to add: a .torrent's bytes, or an info-hash alone (the metadata
 * comes later from peers: magnet links, see shoal_add_params_magnet), or
 * resume data from shoal_torrent_resume_data (which holds the metadata and
 * the settings below, so nothing else is needed).
 *
 * An info-hash alone with a session resume_dir holding resume data for it
 * that contains the .torrent (a magnet fetched before) takes the metadata
 * from there: a restart does not fetch it again. */
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
  /* What a magnet link brings (BEP 9): */
  const char *const *trackers;  /* each its own tier (BEP 12), used while the
                                   metadata is fetched and kept in the .torrent
                                   it is saved as; ignored when the metadata
                                   is given (a .torrent's own trackers win) */
  size_t num_trackers;
  const char *const *web_seeds; /* BEP 19, kept in that .torrent likewise */
  size_t num_web_seeds;
  const char *const *peers;     /* peers to dial: "1.2.3.4:PORT" or
                                   "[IPv6]:PORT"; a host name is skipped (and
                                   logged): resolve it and call
                                   shoal_torrent_add_peer */
  size_t num_peers;
  const struct shoal_file_range *select; /* BEP 53 `so`: only these files
                                   are wanted (the others SKIP), applied once
                                   the metadata is known; ignored with
                                   priorities; indices past the last file are
                                   ignored */
  size_t num_select;
  int super_seed;               /* while seeding, reveal pieces one by one to
                                   each peer (BEP 16): for a first seed with
                                   a thin uplink; not for general use */
};

/* One connected peer (shoal_torrent_peers). */
struct shoal_peer_info {
  char addr[64];                /* "ip:port" */
  char client[64];              /* from its extension handshake, or "" */
  uint64_t downloaded, uploaded;/* payload from and to it */
  uint64_t down_rate, up_rate;  /* bytes/s */
  uint32_t pieces;              /* pieces it has */
  unsigned incoming : 1, seed : 1, am_choking : 1, am_interested : 1, peer_choking : 1,
      peer_interested : 1, snubbed : 1, optimistic : 1,
      utp : 1;                  /* over uTP (else TCP) */
  unsigned encrypted : 1;       /* MSE handshake; the stream too when rc4 */
  unsigned rc4 : 1;
};

/* One file of a torrent in the session (shoal_torrent_files). path is
 * borrowed: valid until the torrent is removed. */
struct shoal_file_status {
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
  int failing;                  /* its last announce failed, or is unanswered
                                   for a while (UDP) */
  int err;                      /* with failing: a negative code, e.g.
                                   -ECONNREFUSED, SHOAL_ETIMEOUT */
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
 * one already added: -EEXIST with *id set to it, and then the files a
 * `select` names are wanted too, as BEP 53 asks; ...). */
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
/* Takes the torrent out of the session for a while, as remove does but
 * without a word to the trackers (the swarm still counts on us) and
 * keeping its resume file: an app that holds many idle seeds unloads
 * them and adds them again from their resume data when a peer asks for
 * one (settings.on_unknown_torrent) or an announce falls due. The id is
 * invalid from this call on; SHOAL_EVENT_REMOVED when it is gone. */
int shoal_torrent_unload(shoal_session *s, shoal_id id);
/* Verifies the data on disk again (pauses, checks, goes on as it was). */
int shoal_torrent_recheck(shoal_session *s, shoal_id id);
/* prio[n] per file (enum shoal_priority); n must be the file count. */
int shoal_torrent_set_priorities(shoal_session *s, shoal_id id, const uint8_t *prio, size_t n);
/* Moves the content to dir (rename, or copy across file systems), then
 * goes on from there: SHOAL_EVENT_STORAGE_MOVED, or ERROR with the data
 * left where it was. */
int shoal_torrent_move_storage(shoal_session *s, shoal_id id, const char *dir);
/* Points the torrent at dir, where its content already is (nothing is
 * moved), and checks the data there; goes on as it was (a paused torrent
 * pauses again after the check). -EBUSY while a move, rename or new
 * location waits. */
int shoal_torrent_set_location(shoal_session *s, shoal_id id, const char *dir);
/* The torrent's own limits (bytes/s, 0 = unlimited), inside the
 * session's: its peers share them fairly, as they share the session's. */
int shoal_torrent_set_rates(shoal_session *s, shoal_id id, int64_t upload, int64_t download);
/* honors 0: the session's limits no longer apply to the torrent (its own
 * still do); 1, as every torrent starts: they apply again. */
int shoal_torrent_honor_session_limits(shoal_session *s, shoal_id id, int honors);
/* The torrent's own cap on connected peers (0: the session's
 * max_peers_per_torrent). Lowering it closes the peers over it, the
 * latest to connect first. */
int shoal_torrent_set_peer_limit(shoal_session *s, shoal_id id, int max);
/* Dial a peer by hand (`--peer HOST:PORT`). */
int shoal_torrent_add_peer(shoal_session *s, shoal_id id, const struct sockaddr *addr);

int shoal_torrent_status(const shoal_session *s, shoal_id id, struct shoal_status *st);
/* Status of every torrent, in the order they were added: fills up to cap
 * and returns how many torrents there are. */
size_t shoal_torrent_status_all(const shoal_session *s, struct shoal_status *out, size_t cap);
/* The ids of the torrents doing something: checking, fetching metadata,
 * downloading, stopping, or seeding with a peer, a dial or a rate not yet
 * decayed to zero. An idle seed or a paused torrent changes only through
 * an event, so an app polling thousands of torrents asks only these. Fills
 * up to cap, returns how many there are; a pass over flags, no copies. */
size_t shoal_session_busy(const shoal_session *s, shoal_id *out, size_t cap);
/* Lists: fill up to cap entries, return how many there are (0 for an
 * unknown id). Files are known once the metadata is. */
size_t shoal_torrent_peers(const shoal_session *s, shoal_id id, struct shoal_peer_info *out,
                           size_t cap);
size_t shoal_torrent_files(const shoal_session *s, shoal_id id, struct shoal_file_status *out,
                           size_t cap);
size_t shoal_torrent_trackers(const shoal_session *s, shoal_id id, struct shoal_tracker_info *out,
                              size_t cap);
/* A copy of the .torrent (once the metadata is known) or of the latest
 * resume data, malloc'd: the caller frees *out with free(). */
int shoal_torrent_file(const shoal_session *s, shoal_id id, void **out, size_t *len);
int shoal_torrent_resume_data(const shoal_session *s, shoal_id id, void **out, size_t *len);
/* The verified pieces as a BitTorrent bitfield (piece 0 in the high bit of
 * byte 0): copies up to cap bytes, returns the bitfield's size (0 for an
 * unknown id or before the metadata). */
size_t shoal_torrent_pieces(const shoal_session *s, shoal_id id, uint8_t *bf, size_t cap);
/* Renames the file or folder at path (as shoal_torrent_files names them,
 * or a folder above them; the top one renames the torrent) to name, one
 * element: on disk under the save folder and in the file list. A paused
 * torrent renames at once; a running one stops, renames and starts again
 * (the rename is logged if the disk refuses it then). Data not yet on disk
 * renames the paths only. -EINVAL for a path not in the torrent or a name
 * with '/', "." or ".."; -EEXIST when the new path is taken (in the
 * torrent or on disk); -EBUSY while a rename, move or new location waits;
 * -EAGAIN before the metadata. */
int shoal_torrent_rename_path(shoal_session *s, shoal_id id, const char *path, const char *name);
/* Asks the trackers for peers now (within their minimum interval). */
int shoal_torrent_reannounce(shoal_session *s, shoal_id id);
/* Replaces the trackers the torrent announces to with these BEP 12 tiers
 * (copied; empty tiers dropped; n = 0: none at all); tiers = NULL goes
 * back to the torrent's own (metainfo or magnet link). A running torrent
 * restarts its announcer: event=stopped to the old list, started to the
 * new. shoal_torrent_trackers lists the new list at once. -EINVAL for a
 * NULL or empty URL, -ENOENT for an unknown id. */
struct shoal_tracker_tier; /* below, with the metainfo */
int shoal_torrent_set_trackers(shoal_session *s, shoal_id id,
                               const struct shoal_tracker_tier *tiers, size_t n);

/* The session's DHT node (settings.dht). Its id and good nodes are kept
 * in resume_dir/dht.dat across restarts. */
struct shoal_dht_status {
  uint8_t id[20];
  size_t nodes[2], good[2];     /* routing tables: [0] IPv4, [1] IPv6 */
  size_t buckets[2];
  size_t stored_hashes, stored_peers; /* what other peers announced to us */
  size_t searches;              /* lookups and announces running */
  size_t outstanding;           /* our queries awaiting replies */
  uint64_t queries_in, replies_in, errors_in;
  uint64_t queries_out, replies_out, errors_out;
  uint64_t dropped;             /* malformed, or replies nobody asked for */
  uint64_t bad_tokens;          /* announces refused (BEP 5 tokens) */
  uint64_t store_refused;       /* announces past the storage bounds */
  char external[64];            /* our address as other nodes see it (BEP 42
                                   `ip`, by majority), or "" */
  int id_follows_address;       /* BEP 42: our id is valid for `external` */
};
/* -ENOENT when the session runs no DHT node. */
int shoal_session_dht_status(const shoal_session *s, struct shoal_dht_status *st);
/* Asks the node at addr for nodes near ours (a bootstrap node learnt after
 * the start). -ENOENT without a DHT node, -EAFNOSUPPORT for a family it
 * does not speak. */
int shoal_session_dht_add_node(shoal_session *s, const struct sockaddr *addr);

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
  SHOAL_ECLOSED = -10013,     /* connection closed by the peer */
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
 * sink the application installed; with no sink it stays silent. Messages
 * carry names, paths and reasons that torrents, peers and trackers chose:
 * before the sink sees a message it goes through shoal_text_safe() below,
 * so no control character or escape sequence reaches a terminal or a log
 * file, and a message is always one line.
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

/* The library's one sanitiser for text that others supplied (a torrent's
 * name, paths, comment; a tracker's failure reason; a peer's client name):
 * writes a copy of src to dst (cap bytes, always NUL-terminated when cap >
 * 0, cut at a character boundary) in which every C0 or C1 control
 * character, DEL, byte that is not well-formed UTF-8, line or paragraph
 * separator and bidirectional override or isolate is one '?'. Other UTF-8
 * is kept. dst may be src. Returns the length written. Apps run everything
 * of that kind through it before printing it (the status name, event text,
 * errors); log messages already are. Any thread. */
size_t shoal_text_safe(char *dst, size_t cap, const char *src);

/* ======================================================================
 * Torrent files: a read-only view of a .torrent
 *
 * BEP 3 (v1), BEP 12 (tracker tiers), BEP 19 (web seeds), BEP 27 (private),
 * BEP 47 (padding files, attributes, symlinks). Parsing validates everything
 * a client relies on: safe relative paths, contiguous files, a piece count
 * that matches the length, sane limits.
 *
 * Ownership: shoal_torrent_info_parse() and _load() allocate one object that
 * owns every string and array it points to, and a copy of the file's bytes.
 * All of it stays valid, unchanged, until shoal_torrent_info_free(). The
 * object is never modified after creation, so any number of threads may
 * read it at once. These functions may be called from any thread. */

enum shoal_file_attr {
  SHOAL_FILE_PAD = 1,     /* BEP 47 'p': padding, all zeros, never on disk */
  SHOAL_FILE_EXEC = 2,    /* 'x': executable */
  SHOAL_FILE_HIDDEN = 4,  /* 'h': hidden */
  SHOAL_FILE_SYMLINK = 8, /* 'l': a symbolic link, see symlink_target */
};

struct shoal_file_info {
  const char *path;           /* '/'-separated, relative: "NAME" for a
                                 single-file torrent, "NAME/dir/file" for a
                                 multi-file one; never "..", never absolute */
  uint64_t length;
  uint64_t offset;            /* where the file starts in the torrent's bytes */
  unsigned attr;              /* enum shoal_file_attr bits */
  const char *symlink_target; /* SHOAL_FILE_SYMLINK: the target in the same
                                 form as path, '..' resolved, never outside
                                 the torrent; NULL otherwise */
};

/* One BEP 12 tier: trackers tried in order, the next tier only when all of
 * these fail. */
struct shoal_tracker_tier {
  const char *const *urls;
  size_t num_urls;
};

struct shoal_torrent_info {
  const char *name;                 /* the content's name (a file or folder) */
  uint8_t info_hash[20];            /* SHA-1 of the exact bytes of `info` */
  char info_hash_hex[41];           /* lower-case hex, NUL-terminated */
  uint64_t total_length;            /* sum of the file lengths, padding included
                                       (what the pieces cover; the content is
                                       the sum over files without
                                       SHOAL_FILE_PAD) */
  uint32_t piece_length;
  uint32_t num_pieces;              /* the last piece may be shorter */
  const uint8_t *piece_hashes;      /* 20 * num_pieces bytes */
  int is_private;                   /* BEP 27: no DHT, PEX or other trackers */
  int multi_file;                   /* 1 when the info dict has `files` */
  int hybrid;                       /* BEP 52 hybrid (v1 + v2): read and
                                       downloaded through its v1 part. A
                                       v2-only torrent is refused (not
                                       supported yet) */
  const struct shoal_tracker_tier *tiers; /* announce-list, or a single tier
                                             holding `announce`; none: 0 */
  size_t num_tiers;
  const char *const *web_seeds;     /* BEP 19 url-list */
  size_t num_web_seeds;
  const char *comment, *created_by, *source; /* NULL when absent */
  int64_t creation_date;            /* Unix time; 0 when absent */
  const struct shoal_file_info *files; /* in torrent order, padding included */
  size_t num_files;
  const uint8_t *raw;               /* the whole .torrent, as given */
  size_t raw_len;
  size_t info_off, info_len;        /* the `info` dict's bytes inside raw */
};

/* Parses and validates a .torrent held in memory (len bytes at buf, copied:
 * buf may be freed afterwards). On success *out is a new object. On failure
 * *out is NULL and the return is SHOAL_EBENCODE, SHOAL_EMETAINFO or -ENOMEM,
 * with a sentence in err (when errlen > 0) naming the field, or the byte
 * offset of a bencode error, e.g. "bencode error at byte 14: ...". A file
 * over 32 MiB, or of more than 2,000,000 bencode values, is refused with
 * the limit named (libtorrent's defaults are 10 MB and 3 M). */
int shoal_torrent_info_parse(const void *buf, size_t len, struct shoal_torrent_info **out,
                             char *err, size_t errlen);
/* Reads and parses the file at path (at most 32 MiB). Errors as for _parse,
 * plus -errno when it cannot be read; err then starts with the path. */
int shoal_torrent_info_load(const char *path, struct shoal_torrent_info **out, char *err,
                            size_t errlen);
/* Frees the object and everything it points to; NULL is a no-op. */
void shoal_torrent_info_free(struct shoal_torrent_info *ti);

/* Size of piece i < num_pieces (only the last one may be short). */
uint32_t shoal_torrent_info_piece_size(const struct shoal_torrent_info *ti, uint32_t piece);
/* The files piece i < num_pieces covers: indices [*first, *last] into
 * files (padding and empty files at its edges included). */
void shoal_torrent_info_piece_files(const struct shoal_torrent_info *ti, uint32_t piece,
                                    size_t *first, size_t *last);

/* ======================================================================
 * Magnet links (BEP 9, BEP 53)
 *
 * magnet:?xt=urn:btih:<40 hex or 32 base32>&dn=<name>&tr=<tracker>...
 *        &ws=<web seed>...&x.pe=<HOST:PORT>...&so=<0,2,4-6>
 *
 * shoal_magnet_parse() allocates one object owning everything it points
 * to, valid and unchanged until shoal_magnet_free(); any thread. Entries
 * past 64 trackers, 64 web seeds, 64 peers or 1024 `so` ranges are dropped
 * (and counted), not refused. */
struct shoal_magnet {
  uint8_t info_hash[20];
  char info_hash_hex[41];         /* lower-case hex */
  const char *name;               /* dn, or NULL */
  const char *const *trackers;    /* tr, in order, duplicates dropped */
  size_t num_trackers;
  const char *const *web_seeds;   /* ws */
  size_t num_web_seeds;
  const char *const *peers;       /* x.pe, as given: HOST:PORT, [IPv6]:PORT */
  size_t num_peers;
  const struct shoal_file_range *select; /* so: files to download */
  size_t num_select;
  int has_v2;                     /* it also had a urn:btmh (v2) topic,
                                     ignored until v2 torrents are supported */
  size_t dropped;                 /* entries over the bounds, not kept */
};

/* Parses a magnet link. Returns 0 with *out set, or a negative code with a
 * sentence in err and *out NULL: SHOAL_EURL when it is not a BitTorrent
 * magnet link (no xt, an info-hash of the wrong length, other URNs, a
 * malformed so or x.pe), -ENOTSUP for a v2-only link (urn:btmh alone),
 * -ENOMEM. */
int shoal_magnet_parse(const char *uri, struct shoal_magnet **out, char *err, size_t errlen);
void shoal_magnet_free(struct shoal_magnet *m);
/* Sets what m brings in p (info-hash, name, trackers, web seeds, peers,
 * selection), leaving the other fields alone. p borrows from m: keep m
 * until shoal_torrent_add returns. */
void shoal_add_params_magnet(struct shoal_add_params *p, const struct shoal_magnet *m);
/* A torrent's magnet link (xt, dn, every tracker, web seeds), as a new
 * string the caller frees with free(); NULL when out of memory. */
char *shoal_magnet_link(const struct shoal_torrent_info *ti);

/* ======================================================================
 * Making a .torrent
 *
 * shoal_create() scans a file or a directory, hashes it on several threads
 * and returns the bencoded .torrent. It blocks the calling thread until done:
 * call it from a thread of your own (or uv_queue_work), not from the loop
 * thread of a running session.
 *
 * A directory's files are taken in byte-wise sorted path order, which gives
 * the same info-hash as mktorrent for the same tree. Hidden and empty files
 * are included; symbolic links and other non-regular entries are skipped
 * with a warning through the log sink (following them could hash data from
 * outside the tree, or block forever on a fifo). */

#define SHOAL_CREATE_MIN_PIECE (16u << 10)
#define SHOAL_CREATE_MAX_PIECE (16u << 20)

/* Zero-initialise, then fill: zero or NULL fields take their defaults. The
 * strings and arrays are borrowed for the call. */
struct shoal_create_opts {
  const char *path;              /* file or directory to share (required) */
  const char *name;              /* NULL: shoal_create_default_name(path) */
  uint32_t piece_length;         /* a power of two in SHOAL_CREATE_MIN_PIECE..
                                    _MAX_PIECE; 0: shoal_create_piece_length() */
  const struct shoal_tracker_tier *tiers; /* BEP 12; the first URL also
                                             becomes `announce` */
  size_t num_tiers;
  const char *const *web_seeds;  /* BEP 19 url-list */
  size_t num_web_seeds;
  int is_private;                /* BEP 27 */
  const char *comment;           /* NULL: none */
  const char *source;            /* inside `info`: changes the info-hash */
  const char *created_by;        /* e.g. "myapp 1.0"; NULL: none */
  int64_t creation_date;         /* Unix time; 0: none */
  int threads;                   /* hashing threads; 0: all cores */
  /* Called after each piece from the hashing threads, serialised; may be
   * NULL. done and total count bytes. */
  void (*progress)(void *ud, uint64_t done, uint64_t total);
  void *ud;
};

/* On success *out is the .torrent's bytes (the caller frees them with
 * free()) and *out_len their count; they always parse with
 * shoal_torrent_info_parse(). On failure *out is NULL and the return is a
 * negative code, with a sentence naming the path involved in err: -ENOENT,
 * -EACCES and other -errno (unreadable), SHOAL_EUSAGE (empty directory,
 * nothing to hash, bad name or piece length), SHOAL_ELIMIT (too many files
 * or pieces), SHOAL_EINCOMPLETE (a file shrank while hashing), -ENOMEM. */
int shoal_create(const struct shoal_create_opts *o, uint8_t **out, size_t *out_len, char *err,
                 size_t errlen);

/* Writes len bytes to path atomically: a temporary file in the same
 * directory, fsync, then rename, mode 0644. Without overwrite an existing
 * path is refused with -EEXIST (atomically too). Returns 0 or -errno. */
int shoal_create_save(const char *path, const void *data, size_t len, int overwrite);

/* The default piece length for total bytes: the smallest power of two from
 * 16 KiB to 16 MiB that keeps the piece count at or below 2000. */
uint32_t shoal_create_piece_length(uint64_t total);
/* The name a torrent of path gets by default: its last element ("dir" for
 * "a/dir/"), or the real directory's name for "." and "..". A new string
 * the caller frees with free(), or NULL when out of memory. */
char *shoal_create_default_name(const char *path);

/* ======================================================================
 * Checking data on disk against a torrent
 *
 * shoal_verify() hashes the data under a folder against the piece hashes,
 * on several threads, and says what is missing or corrupt, by piece and by
 * file. It only reads (symbolic links are not followed) and blocks the
 * calling thread until done, like shoal_create(). */

enum shoal_piece_state {
  SHOAL_PIECE_OK = 0,
  SHOAL_PIECE_MISSING = 1, /* some of its bytes are not on disk */
  SHOAL_PIECE_CORRUPT = 2, /* all there, but the SHA-1 does not match */
};

/* What a file looks like on disk, before any hashing. */
enum shoal_disk_state {
  SHOAL_DISK_OK = 0,       /* a regular file at least as long as the torrent's */
  SHOAL_DISK_MISSING,
  SHOAL_DISK_SHORT,        /* shorter: see size_on_disk */
  SHOAL_DISK_NOT_REGULAR,  /* a link, directory or other: not read */
  SHOAL_DISK_NOT_STORED,   /* padding or a BEP 47 symlink: never looked at */
};

struct shoal_verify_opts {
  int threads;              /* 0: all cores */
  /* After each piece, from the hashing threads, serialised; may be NULL.
   * done of total pieces, bytes of data covered so far. */
  void (*progress)(void *ud, uint32_t done, uint32_t total, uint64_t bytes);
  void *ud;
  volatile int *cancel;     /* set non-zero (from any thread) to stop early:
                               shoal_verify() then returns -ECANCELED; NULL:
                               runs to the end */
};

struct shoal_verify_file {
  enum shoal_disk_state disk;
  uint64_t size_on_disk;    /* SHOAL_DISK_OK and _SHORT: the file's size */
  uint32_t corrupt_pieces;  /* corrupt pieces holding bytes of this file
                               (never counted for padding or empty files) */
};

/* The outcome; one allocation, freed with shoal_verify_result_free(). */
struct shoal_verify_result {
  uint32_t num_pieces;
  const uint8_t *pieces;    /* num_pieces enum shoal_piece_state values */
  uint32_t pieces_ok, pieces_missing, pieces_corrupt;
  size_t num_files;         /* the torrent's, padding included */
  const struct shoal_verify_file *files; /* in the order of ti->files */
};

/* Checks the content of ti under dir: the folder holding it under its name
 * (dir/NAME for a single file, dir/NAME/... for several). Returns 0 with
 * *out set whatever the data looks like (missing and corrupt pieces are a
 * result, not an error). Fails with *out NULL and a sentence in err:
 * -ENOENT, -ENOTDIR and other -errno when dir is not a usable folder,
 * -ECANCELED when cancelled, -ENOMEM. ti must stay alive during the call. */
int shoal_verify(const struct shoal_torrent_info *ti, const char *dir,
                 const struct shoal_verify_opts *o, struct shoal_verify_result **out, char *err,
                 size_t errlen);
void shoal_verify_result_free(struct shoal_verify_result *r);

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
  const char *blocklist;       /* info-hashes never tracked (nor listed or
                                  served when hosted), one 40-digit hex hash
                                  per line, '#' comments; NULL (default):
                                  DATA/blocklist when it exists; "": none. A
                                  file named here that cannot be read fails
                                  shoal_tracker_new() */
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
                                  is dropped; 0 (default): the larger of
                                  peer_timeout_min and 2 x interval */
  uint32_t peer_timeout_min;   /* the floor of that default: 2700 s (45 min,
                                  opentracker's), since clients re-announce on
                                  their own schedule (qBittorrent, rtorrent:
                                  every 30 min or more, whatever a short
                                  interval asks) and must not vanish between
                                  announces; 0 takes the default */
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
  size_t upload_memory;        /* bytes of upload bodies held at once, all
                                  workers together; default 16 MiB (three
                                  uploads of the largest .torrent, or dozens
                                  of usual ones). An upload that would pass it
                                  gets 503; every other request is decided
                                  from its headers and never has its body
                                  read (see docs/tracker.md) */
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

/* ======================================================================
 * The daemon: a session driven by Transmission's RPC, with a web page and
 * its state in SQLite
 *
 * shoal_daemon_new() opens (or creates) the state database, brings back
 * every torrent it lists, and serves POST /transmission/rpc (RPC version
 * 17: Transmission's clients, `transmission-remote`, automation tools)
 * and the web page at / on its own HTTP listener. Like the session it
 * runs no loop and installs no signal handler: the app owns both
 * (`shoal daemon`, cli/cmd_daemon.c). All calls on the loop's thread.
 *
 * Every RPC that changes a torrent is committed to the database before
 * it is answered; resume data is written in batches (resume_interval_s).
 *
 * Limits and speeds follow Transmission's settings.json: speeds in
 * kB/s (1000 bytes), ratios as doubles, times in minutes. */
typedef struct shoal_daemon shoal_daemon;

struct shoal_daemon_config {
  const char *state_dir;        /* required: state.db (and torrents/) here */
  const char *download_dir;     /* default for new torrents (required) */
  const char *incomplete_dir;   /* downloads live here until done, then move */
  int incomplete_dir_enabled;
  const char *watch_dir;        /* .torrent files dropped here are added */
  int watch_dir_enabled;
  int trash_original;           /* 1: delete an added watch file, 0: rename
                                   it FILE.added */
  int start_added_torrents;     /* default 1 */
  /* RPC */
  const char *rpc_bind;         /* default "127.0.0.1" */
  int rpc_port;                 /* default 9091; 0: a free port */
  int rpc_auth;                 /* HTTP Basic with rpc_username/_password */
  const char *rpc_username, *rpc_password;
  int rpc_whitelist_enabled;    /* default 1 */
  const char *rpc_whitelist;    /* client addresses, comma separated, '*'
                                   wildcards; default "127.0.0.1,::1" */
  int rpc_host_whitelist_enabled; /* default 1: Host must be an address,
                                     localhost or listed (DNS rebinding) */
  const char *rpc_host_whitelist; /* names, comma separated, '*' wildcards */
  const char *web_root;         /* serve this folder at / instead of the
                                   built-in page (e.g. Transmission's web
                                   client); NULL: the built-in page */
  size_t rpc_max_body;          /* default 64 MiB: base64 metainfo of a big
                                   torrent */
  const char *settings_file;    /* session-set writes what it changes here
                                   (settings.json, Transmission's keys);
                                   NULL: changes last until the exit */
  /* speeds and queues (Transmission's names, units as there) */
  int speed_limit_up, speed_limit_down;           /* kB/s */
  int speed_limit_up_enabled, speed_limit_down_enabled;
  int alt_speed_up, alt_speed_down;               /* kB/s */
  int alt_speed_enabled;
  int alt_speed_time_enabled;   /* the schedule below switches alt speed */
  int alt_speed_time_begin, alt_speed_time_end;   /* minutes after midnight */
  int alt_speed_time_day;       /* bits: Sunday 1, Monday 2, ... Saturday 64 */
  int download_queue_enabled, download_queue_size; /* default on, 5 */
  int seed_queue_enabled, seed_queue_size;         /* default off, 10 */
  int queue_stalled_enabled, queue_stalled_minutes;/* default on, 30 */
  int ratio_limit_enabled;      /* seeding stops at ratio_limit */
  double ratio_limit;           /* default 2.0 */
  int idle_seeding_limit_enabled; /* seeding stops after this many idle */
  int idle_seeding_limit;       /* minutes, default 30 */
  uint32_t resume_interval_s;   /* resume data batched this often, default 60 */
  int dormant_after_s;          /* a seed with every piece, no peer and no
                                   announce due for this long leaves the
                                   engine (memory) until a peer, an announce
                                   or a request needs it; default 30, 0:
                                   never (nor with DHT or local discovery on) */
  uint32_t tick_ms;             /* queue and limit checks, default 1000 */
  /* session-close asks the app to stop (it calls shoal_daemon_close) */
  void (*on_close_request)(void *ud);
  void *ud;
  struct shoal_settings session; /* the engine (peer port, limits, ...) */
};

/* Fills c with the defaults above; the caller sets the directories. */
void shoal_daemon_config_default(struct shoal_daemon_config *c);
/* Opens the database (migrating an older schema), starts the session and
 * the RPC listener, adds every stored torrent. Returns 0, or a negative
 * code with a sentence in err; on failure, handles already opened are
 * closing: run the loop until it is empty. The config's strings are
 * copied. */
int shoal_daemon_new(uv_loop_t *loop, const struct shoal_daemon_config *c, shoal_daemon **out,
                     char *err, size_t errlen);
/* The RPC port actually bound. */
uint16_t shoal_daemon_rpc_port(const shoal_daemon *d);
/* The torrent session, for what the RPC does not cover. */
shoal_session *shoal_daemon_session(shoal_daemon *d);
/* Applies new settings (what SIGHUP does after re-reading settings.json):
 * speeds, queues, limits, RPC access lists and credentials, folders. The
 * listeners and the engine's ports stay. */
int shoal_daemon_reconfigure(shoal_daemon *d, const struct shoal_daemon_config *c, char *err,
                             size_t errlen);
/* One RPC request (the JSON body of a POST) answered without HTTP: what
 * /transmission/rpc does. *reply is a malloc'd JSON object the caller
 * frees; always set unless the return is -ENOMEM. */
int shoal_daemon_rpc(shoal_daemon *d, const char *req, size_t len, char **reply,
                     size_t *reply_len);
/* Saves resume data and state, stops every torrent (announcing `stopped`),
 * closes the listener and the session, frees d, then calls done. */
void shoal_daemon_close(shoal_daemon *d, void (*done)(void *ud), void *ud);

#endif
