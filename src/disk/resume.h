/* Resume data: what lets a restart skip re-hashing, and what a session
 * needs to add the torrent again by itself. One bencoded dictionary per
 * torrent (keys sorted, so the strict decoder reads it back):
 *
 *   d
 *     8:checksum 20:<SHA-1 of this whole dictionary with these 20 bytes
 *               taken as zeros>                   version 3
 *     10:downloaded  i<payload bytes>e            version 2
 *     5:files   l d 5:mtimei<s>e 8:mtime_nsi<ns>e 4:sizei<bytes>e e ... e
 *               one entry per file that is neither padding nor a symlink,
 *               in torrent order; a file absent from disk has size -1
 *     9:info-hash 20:<binary info-hash>
 *     6:magnet   <a magnet link>                  version 2, optional: what
 *               a torrent without metadata was added with (its trackers,
 *               web seeds, name, file selection), until the .torrent is
 *               known
 *     6:paused   i0e|i1e                          version 2
 *     6:pieces  <bitfield of verified pieces, SH_BF_BYTES(num_pieces) bytes,
 *               high bit first as on the wire>
 *     10:priorities <one byte per file>            version 2, optional
 *     8:save-dir <folder>                          version 2
 *     9:seed-only i0e|i1e                          version 2
 *     7:torrent <the .torrent file's bytes>        version 2, optional
 *     8:uploaded i<payload bytes>e                 version 2
 *     7:version i3e
 *   e
 *
 * files and pieces are absent while the metadata is unknown (a magnet
 * link's torrent), and torrent then too. The checksum makes a file damaged
 * on disk, or edited by hand (every bit of pieces set, the file stamps left
 * alone), fail: its pieces are refused with that reason and the data is
 * checked. It is no signature: whoever can write the file can compute it;
 * what is promised about the data is only what the stamps below promise.
 * Versions 1 and 2 (no checksum) are still read for their settings, but
 * their pieces are never trusted: a restart after an upgrade checks once.
 *
 * The bitfield is trusted only while every file still has the size and the
 * mtime (to the nanosecond) recorded when it was saved: any write, truncation
 * or replacement since then changes one of them and sends the engine back to
 * a full check. Save after sh_storage_flush so no later writeback moves an
 * mtime. */
#ifndef SHOAL_RESUME_H
#define SHOAL_RESUME_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "meta/metainfo.h"

/* What resume data holds besides the pieces: the torrent's settings. */
struct sh_resume_info {
  uint8_t info_hash[20];
  const uint8_t *torrent;     /* the .torrent bytes, or NULL */
  size_t torrent_len;
  const char *magnet;         /* a magnet link (not NUL-terminated), or NULL */
  size_t magnet_len;
  const char *save_dir;
  const uint8_t *priorities;  /* one per file, or NULL */
  size_t num_priorities;
  int paused, seed_only;
  uint64_t uploaded, downloaded;
};

/* Appends resume data to b: the settings in x, and, with m non-NULL, the
 * file stamps under root (the directory holding the content under its
 * name) and the have bitfield. Returns 0 or -ENOMEM. */
int sh_resume_encode(struct sh_buf *b, const struct sh_resume_info *x, const struct sh_metainfo *m,
                     const char *root, const uint8_t *have);
/* Writes len bytes to path atomically: a temporary file in the same
 * directory, fsync, rename, fsync of the directory. Returns 0 or -errno. */
int sh_resume_write(const char *path, const void *buf, size_t len);
/* Reads the settings of resume data in memory (no disk access): pointers
 * in x borrow from buf. Versions 2 and 3; a version 3 checksum that does not
 * match is refused. Returns 0, SH_EBENCODE or SH_EMETAINFO (err names
 * the field). save_dir is NUL-terminated in a copy the caller frees with
 * free(*save_dir_copy). */
int sh_resume_read_info(const void *buf, size_t len, struct sh_resume_info *x, char **save_dir_copy,
                        char *err, size_t errlen);
/* Encodes and writes in one step (version 2 with empty settings: tests and
 * tools). */
int sh_resume_save(const char *path, const struct sh_metainfo *m, const char *root,
                   const uint8_t *have);

/* Reads path and, when everything matches, fills have (SH_BF_BYTES(
 * num_pieces) bytes). Returns 0, or:
 *   -ENOENT        no resume file (or another -errno reading it);
 *   SH_EBENCODE    malformed bencode (err gives the byte offset);
 *   SH_EMETAINFO   a field is missing or malformed (err names it), the
 *                  checksum does not match, or there is none (version < 3);
 *   SH_EHASH       the resume data belongs to another torrent;
 *   -ESTALE        a file changed since the save (err names it).
 * have is left untouched on failure. */
int sh_resume_load(const char *path, const struct sh_metainfo *m, const char *root, uint8_t *have,
                   char *err, size_t errlen);

/* One session at a time per torrent and resume folder: two programs on
 * the same folder would both download into the same files and overwrite
 * each other's resume data. The lock is DIR/<hex>.lock, held with flock()
 * by the session for as long as the torrent is in it (the kernel drops it
 * when the process dies, so a crash leaves nothing stale) and holding the
 * holder's pid for messages. The resume file itself cannot carry it: it is
 * replaced by a rename at every save.
 * Returns the lock's descriptor (>= 0) to keep; -EBUSY with err naming the
 * other process when another holds it; another -errno (with err) when the
 * folder cannot be used, which the caller may treat as "no lock". */
int sh_resume_lock(const char *dir, const char *hex, char *err, size_t errlen);
/* Releases a lock from sh_resume_lock (fd < 0: none); with forget, also
 * deletes the lock file (the torrent is being removed). */
void sh_resume_unlock(int fd, const char *dir, const char *hex, int forget);

/* The same check on resume data already in memory (for tests and fuzzing). */
int sh_resume_parse(const void *buf, size_t len, const struct sh_metainfo *m, const char *root,
                    uint8_t *have, char *err, size_t errlen);

#endif
