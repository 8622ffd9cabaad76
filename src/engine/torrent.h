/* The torrent inside the engine: functions the session and the peers
 * call. The public half is in include/shoal.h (shoal_torrent_*).
 *
 * torrent.c        start-up (check or resume), pieces, hashing, state
 * tpeer.c          one attached peer's messages and our requests (peer.h)
 * tpeer_upload.c   the peer's requests to us
 * swarm.c          the 1 s tick: choking, dialling, rates, the announcer
 * torrent_stop.c   the graceful stop and resume data */
#ifndef SHOAL_ENGINE_TORRENT_H
#define SHOAL_ENGINE_TORRENT_H

#include <stdint.h>

#include "engine/peer.h"
#include "engine/session.h"

/* torrent.c: life, metadata, start */
/* Replaces one of t's texts (error, tracker_msg, tracker_reason) with a
 * copy of s: NULL for "" or NULL (or when out of memory: the text is
 * only shown). sh_text reads one, "" for NULL. */
void sh_torrent_set_text(char **field, const char *s);
static inline const char *sh_text(const char *s) { return s ? s : ""; }
/* The name shown and logged: a copy of name (kept as it was when out of
 * memory). */
void sh_torrent_set_name(struct shoal_torrent *t, const char *name);
struct shoal_torrent *sh_torrent_find(const struct shoal_session *s, const uint8_t info_hash[20]);
/* The torrent an encrypted handshake names: by HASH('req2', info-hash). */
struct shoal_torrent *sh_torrent_find_req2(const struct shoal_session *s, const uint8_t req2[20]);
struct shoal_torrent *sh_torrent_by_id(const struct shoal_session *s, shoal_id id);
/* A new torrent in the session's lists (no metadata yet, not started).
 * NULL when out of memory. */
struct shoal_torrent *sh_torrent_new(struct shoal_session *s, const uint8_t ih[20],
                                     const char *name, const char *save_dir);
/* Takes m (and copies raw, the .torrent bytes) once they are known: the
 * pieces, the files and the piece count for the peers' held messages.
 * -EEXIST when the torrent has its metadata, SH_EHASH when m is another
 * torrent's (m is then not taken). Does not start the torrent. */
int sh_torrent_set_metadata(struct shoal_torrent *t, struct sh_metainfo *m, const void *raw,
                            size_t len);
/* Starts: METADATA without metadata, else storage, then resume data or a
 * check, then downloading or seeding. */
void sh_torrent_start(struct shoal_torrent *t);
/* Frees the picker and piece buffers of a stopped torrent. */
void sh_torrent_runtime_free(struct shoal_torrent *t);
/* Forgets the torrent (its lists, tables and memory); it must be stopped. */
void sh_torrent_free(struct shoal_torrent *t);
/* Is the torrent exchanging data (downloading or seeding)? */
int sh_torrent_running(const struct shoal_torrent *t);
int sh_torrent_have(const struct shoal_torrent *t, uint32_t piece);
int sh_torrent_file_wanted(const struct shoal_torrent *t, size_t file);
void sh_torrent_mark_have(struct shoal_torrent *t, uint32_t piece);
/* wanted_bytes and have_bytes again, after the priorities changed. */
void sh_torrent_recount(struct shoal_torrent *t);
/* A torrent added paused: marks what its resume data says it has, if the
 * data still matches the files, so its progress shows before it starts
 * (the start reads it again, or checks). */
void sh_torrent_show_resume(struct shoal_torrent *t);
/* Every wanted piece is verified: seeding. */
void sh_torrent_complete(struct shoal_torrent *t);
/* Puts the torrent into SHOAL_ERROR with a message; closes its peers. */
void sh_torrent_fail(struct shoal_torrent *t, int err, const char *msg);
/* resume_dir/<info-hash hex>.resume */
void sh_torrent_resume_path(const struct shoal_torrent *t, char *out, size_t n);

/* api.c: what a magnet link brings (shoal_add_params: trackers and web
 * seeds unless the metadata is known, peers, file selection). Returns 0
 * or -ENOMEM (what was copied is freed with the torrent). */
int sh_torrent_magnet_set(struct shoal_torrent *t, const struct shoal_add_params *p,
                          int has_metadata);
void sh_torrent_magnet_free(struct shoal_torrent *t);

/* pieces.c: pieces in flight */
/* The buffer for a piece we are about to request, allocated on first use.
 * NULL when out of memory or over the session's budget. */
uint8_t *sh_torrent_piece_buf(struct shoal_torrent *t, uint32_t piece);
/* Requests in flight per piece, so a piece buffer is released when the
 * picker gives the piece up (nothing received, nothing requested). */
void sh_torrent_req_add(struct shoal_torrent *t, uint32_t piece);
/* A request will not be answered (choke, reject, timeout, peer gone). */
void sh_torrent_req_abort(struct shoal_torrent *t, uint32_t piece, uint32_t begin);
/* We cancelled a duplicate request (endgame): the block arrived elsewhere. */
void sh_torrent_req_cancelled(struct shoal_torrent *t, uint32_t piece);
/* A block arrived from p: copy it into the piece buffer and hash the piece
 * when it is complete. `requested`: it answers a request still counted in
 * flight (0 for a late answer to an aborted one). */
void sh_torrent_block(struct shoal_torrent *t, struct sh_peer *p, uint32_t piece, uint32_t begin,
                      const uint8_t *data, uint32_t len, int requested);
/* Sends every completed piece waiting for a full hash group to the pool. */
void sh_torrent_hash_flush(struct shoal_torrent *t);
/* A seeding torrent's piece buffers go back once the last one is free. */
void sh_torrent_bufs_maybe_free(struct shoal_torrent *t);
/* The priorities (t->prio) as the picker's wanted pieces. */
void sh_torrent_apply_priorities(struct shoal_torrent *t);

/* torrent_stop.c */
/* Stops gracefully, then does `after`: stays paused, starts again, or
 * removes the torrent (freeing it). A later call may raise `after`. */
void sh_torrent_stop(struct shoal_torrent *t, enum sh_after_stop after);
/* The next step of a stop, when the one it waited for is done. */
void sh_torrent_stop_continue(struct shoal_torrent *t);
/* The torrent's resume data as of now, appended to b. */
int sh_torrent_encode_resume(const struct shoal_torrent *t, struct sh_buf *b);
/* Flushes the files in a worker, then saves resume data. */
void sh_torrent_save_resume_async(struct shoal_torrent *t);

/* superseed.c: BEP 16 */
/* Is t super-seeding now (asked to, and seeding)? */
int sh_superseed_on(const struct shoal_torrent *t);
/* p's pieces changed (or it just attached): reveal what it lacks. */
void sh_superseed_update(struct sh_peer *p);
/* p is leaving: what it was shown and never fetched may go to others. */
void sh_superseed_gone(struct sh_peer *p);

/* swarm.c */
void sh_torrent_tick(struct shoal_torrent *t, uint64_t now_ms, uint64_t dt_ms);
void sh_torrent_choke_round(struct shoal_torrent *t, uint64_t now_ms);
/* A peer became interested: unchoke at once if a slot is free, so a new
 * leecher does not wait for the next 10 s round. */
void sh_torrent_maybe_unchoke(struct shoal_torrent *t, struct sh_peer *p);
/* Dials known peers up to the connection limits. */
void sh_torrent_dial(struct shoal_torrent *t, uint64_t now_ms);
/* Starts the announcer (after the start-up check). */
void sh_torrent_announce_start(struct shoal_torrent *t);
/* The trackers' part of a status: how many, how many failing, why, when
 * the next try is. */
void sh_torrent_tracker_summary(const struct shoal_torrent *t, struct shoal_status *st);
void sh_torrent_add_addr(struct shoal_torrent *t, const struct sockaddr *sa, int source);

/* trackers.c: the app's tracker list (shoal_torrent_set_trackers) */
void sh_torrent_trackers_free(struct shoal_torrent *t);
/* api.c: how many peers it may have connected (its own cap, or the
 * session's per-torrent one) */
size_t sh_torrent_max_peers(const struct shoal_torrent *t);
/* paths.c: a rename or a new location asked while running, done once the
 * storage is closed (a failed rename is logged: the names stay) */
void sh_torrent_paths_pending(struct shoal_torrent *t);

#endif
