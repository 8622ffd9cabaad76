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

/* torrent.c */
struct shoal_torrent *sh_torrent_find(struct shoal_session *s, const uint8_t info_hash[20]);
/* Is the torrent exchanging data (downloading or seeding)? */
int sh_torrent_running(const struct shoal_torrent *t);
int sh_torrent_have(const struct shoal_torrent *t, uint32_t piece);
/* The buffer for a piece we are about to request, allocated on first use.
 * NULL when out of memory. */
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
/* Puts the torrent into SHOAL_ERROR with a message; closes its peers. */
void sh_torrent_fail(struct shoal_torrent *t, int err, const char *msg);
/* torrent_stop.c */
/* Flushes the files in a worker, then saves resume data. */
void sh_torrent_save_resume_async(struct shoal_torrent *t);
/* The next step of a stop, when the one it waited for is done. */
void sh_torrent_stop_continue(struct shoal_torrent *t);
/* resume_dir/<info-hash hex>.resume */
void sh_torrent_resume_path(const struct shoal_torrent *t, char *out, size_t n);
/* Frees what the torrent still holds once it is stopped (session close). */
void sh_torrent_free(struct shoal_torrent *t);
/* Stop for the session's close: like shoal_torrent_stop, without callback. */
void sh_torrent_stop_internal(struct shoal_torrent *t);

/* swarm.c */
void sh_torrent_tick(struct shoal_torrent *t, uint64_t now_ms, uint64_t dt_ms);
/* Sends every completed piece waiting for a full hash group to the pool. */
void sh_torrent_hash_flush(struct shoal_torrent *t);
void sh_torrent_choke_round(struct shoal_torrent *t, uint64_t now_ms);
/* A peer became interested: unchoke at once if a slot is free, so a new
 * leecher does not wait for the next 10 s round. */
void sh_torrent_maybe_unchoke(struct shoal_torrent *t, struct sh_peer *p);
/* Dials known peers up to the connection limits. */
void sh_torrent_dial(struct shoal_torrent *t, uint64_t now_ms);
/* Starts the announcer (after the start-up check). */
void sh_torrent_announce_start(struct shoal_torrent *t);
void sh_torrent_add_addr(struct shoal_torrent *t, const struct sockaddr *sa, int source);

#endif
