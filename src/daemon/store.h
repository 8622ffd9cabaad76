/* The daemon's state in one SQLite database (state.db): the torrents with
 * their settings, .torrent bytes and resume data, and cumulative
 * statistics. WAL mode with synchronous=FULL: a call that returns 0 has
 * committed, so a torrent the RPC reported added survives a crash, and one
 * reported removed stays gone.
 *
 * The schema is versioned (PRAGMA user_version) and each version is a
 * migration from the one before, run in one transaction at open; a
 * database from a newer shoal is refused.
 *
 * Ownership: sh_store_open allocates the store, sh_store_close frees it.
 * Blobs handed to sh_store_each's callback are borrowed for the call. */
#ifndef SHOAL_DAEMON_STORE_H
#define SHOAL_DAEMON_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/daemon.h"

struct sh_store;

/* The schema's current version: the number of migrations. */
int sh_store_latest_version(void);
/* Opens or creates path and migrates it to `version` (0: the latest; tests
 * build older databases with a lower one). */
int sh_store_open(const char *path, int version, struct sh_store **out, char *err, size_t errlen);
void sh_store_close(struct sh_store *s);
int sh_store_version(struct sh_store *s);

/* Every torrent, in RPC-id order: t has the settings, torrent and resume
 * the blobs (resume may be NULL). A negative return from fn stops, and is
 * returned. */
typedef int (*sh_store_row_fn)(void *ud, struct dtor *t, const void *torrent, size_t tlen,
                               const void *resume, size_t rlen, const char *dir);
int sh_store_each(struct sh_store *s, sh_store_row_fn fn, void *ud);
/* The next at most `limit` rows after RPC id *after, in order (the daemon
 * loads in batches between loop turns: each batch is its own query, so
 * no read stays open while the RPC writes). *after becomes the last id
 * read; returns the number of rows read (fewer than limit: no more), or
 * a negative code (fn's). */
int sh_store_batch(struct sh_store *s, int64_t *after, int limit, sh_store_row_fn fn, void *ud);

/* A new row: sets t->rid. */
int sh_store_insert(struct sh_store *s, struct dtor *t, const void *torrent, size_t tlen,
                    const char *dir);
/* The settings columns of t's row. */
int sh_store_update(struct sh_store *s, const struct dtor *t);
int sh_store_set_dir(struct sh_store *s, int64_t rid, const char *dir);
/* A magnet link's torrent: the link when added, the .torrent once fetched
 * (each commits). t->magnet is read back by sh_store_each. */
int sh_store_set_magnet(struct sh_store *s, int64_t rid, const char *link);
int sh_store_set_torrent(struct sh_store *s, int64_t rid, const void *torrent, size_t len);
/* The trackers torrent-set chose, as trackerList's text (commits); t->trackers
 * is read back by sh_store_each. */
int sh_store_set_trackers(struct sh_store *s, int64_t rid, const char *text);
/* torrent-rename-path's renames so far, a JSON array of [path, name]
 * (commits); read back into t->renames. */
int sh_store_set_renames(struct sh_store *s, int64_t rid, const char *json);
/* Resume data and totals, and whether every piece is verified in it
 * (read back into t->whole); inside sh_store_begin/_commit for a batch. */
int sh_store_set_resume(struct sh_store *s, int64_t rid, const void *resume, size_t len,
                        uint64_t up, uint64_t down, int whole);
int sh_store_delete(struct sh_store *s, int64_t rid);
/* Gives back the page cache's memory (after the start read every row:
 * up to the 2 MB cache SQLite keeps by default). */
void sh_store_release_memory(struct sh_store *s);
int sh_store_begin(struct sh_store *s);
int sh_store_commit(struct sh_store *s);

/* Named counters (session-stats' cumulative figures). */
int64_t sh_store_stat(struct sh_store *s, const char *key);
int sh_store_set_stat(struct sh_store *s, const char *key, int64_t v);

#endif
