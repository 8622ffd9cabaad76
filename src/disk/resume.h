/* Resume data: what lets a restart skip re-hashing. One bencoded file per
 * torrent (keys sorted, so the strict decoder reads it back):
 *
 *   d
 *     5:files   l d 5:mtimei<s>e 8:mtime_nsi<ns>e 4:sizei<bytes>e e ... e
 *               one entry per file that is neither padding nor a symlink,
 *               in torrent order; a file absent from disk has size -1
 *     9:info-hash 20:<binary info-hash>
 *     6:pieces  <bitfield of verified pieces, SH_BF_BYTES(num_pieces) bytes,
 *               high bit first as on the wire>
 *     7:version i1e
 *   e
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

#include "meta/metainfo.h"

/* Writes path atomically: a temporary file in the same directory, fsync,
 * rename, fsync of the directory. root is the storage root (the directory
 * holding the content under its name). have is borrowed. Returns 0 or -errno. */
int sh_resume_save(const char *path, const struct sh_metainfo *m, const char *root,
                   const uint8_t *have);

/* Reads path and, when everything matches, fills have (SH_BF_BYTES(
 * num_pieces) bytes). Returns 0, or:
 *   -ENOENT        no resume file (or another -errno reading it);
 *   SH_EBENCODE    malformed bencode (err gives the byte offset);
 *   SH_EMETAINFO   a field is missing or malformed (err names it);
 *   SH_EHASH       the resume data belongs to another torrent;
 *   -ESTALE        a file changed since the save (err names it).
 * have is left untouched on failure. */
int sh_resume_load(const char *path, const struct sh_metainfo *m, const char *root, uint8_t *have,
                   char *err, size_t errlen);

/* The same check on resume data already in memory (for tests and fuzzing). */
int sh_resume_parse(const void *buf, size_t len, const struct sh_metainfo *m, const char *root,
                    uint8_t *have, char *err, size_t errlen);

#endif
