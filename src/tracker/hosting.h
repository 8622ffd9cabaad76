/* The .torrent files a tracker hosts: kept in memory for the web page and
 * downloads, and on disk under DATA/torrents/<info-hash hex>.torrent so they
 * survive a restart. Every file is validated by the metainfo parser before it
 * is accepted; a file is written to a temporary name, synced and renamed, so
 * a crash never leaves half a torrent behind.
 *
 * Thread-safe (a read-write lock): worker threads render pages and serve
 * downloads while an upload or a SIGHUP reload changes the set. The caller
 * owns the object (hosting_open / hosting_close). */
#ifndef SHOAL_TRACKER_HOSTING_H
#define SHOAL_TRACKER_HOSTING_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Uploads larger than this are refused: 4 MiB holds the piece hashes of a
 * 100 GiB torrent with 512 KiB pieces (200,000 x 20 bytes) several times. */
#define HOSTING_MAX_TORRENT (4u * 1024 * 1024)

struct hosting;

/* A snapshot of one hosted torrent, for the web page. Strings are copies
 * owned by the array hosting_list() returns. */
struct hosting_entry {
  uint8_t info_hash[20];
  char hex[41];
  char *name;
  char *comment;     /* NULL when absent */
  uint64_t size;
  uint64_t num_files;
  int64_t added;     /* file modification time, seconds since the epoch */
};

/* Creates DIR/torrents (and DIR) when missing and loads every torrent found
 * there. Files that do not parse are skipped with a warning naming them.
 * Returns 0 or a negative code with err filled. */
int hosting_open(struct hosting **out, const char *dir, char *err, size_t errlen);
void hosting_close(struct hosting *h);

/* Re-reads DIR/torrents: the set becomes exactly what is on disk. Returns the
 * number of torrents hosted, or a negative code. */
int hosting_reload(struct hosting *h, char *err, size_t errlen);

/* Validates buf as a .torrent, stores it (atomically) under DIR/torrents and
 * hosts it. Returns 1 when added, 0 when it was hosted already, or a negative
 * code (SH_EMETAINFO, SH_EBENCODE, -errno) with err naming the problem.
 * info_hash (may be NULL) receives the torrent's info-hash. */
int hosting_add(struct hosting *h, const void *buf, size_t len, uint8_t info_hash[20], char *err,
                size_t errlen);
/* hosting_add() of a file read from path; errors name the path. */
int hosting_add_file(struct hosting *h, const char *path, uint8_t info_hash[20], char *err,
                     size_t errlen);

/* Copies the raw .torrent of info_hash into out and its name into a
 * caller-freed string. Returns 1 when found, 0 when not hosted. */
int hosting_get(struct hosting *h, const uint8_t info_hash[20], struct sh_buf *out, char **name);

/* A sorted snapshot (by name) of everything hosted; free with
 * hosting_list_free(). Returns the count or -ENOMEM. */
long hosting_list(struct hosting *h, struct hosting_entry **out);
void hosting_list_free(struct hosting_entry *e, long n);

/* The hosted info-hashes (caller frees). Returns the count or -ENOMEM. */
long hosting_hashes(struct hosting *h, uint8_t (**out)[20]);

#endif
