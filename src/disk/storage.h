/* Storage: maps a torrent's byte space onto its files under a root directory
 * (the folder that holds the content under its name, as in `shoal get -o DIR`).
 *
 * Calls are synchronous and meant for worker threads (the uv thread pool, the
 * checker's threads), never the loop thread. Different pieces may be read and
 * written concurrently; the object serialises only its file-descriptor cache.
 *
 * Files are created, sparse, only when first written, together with their
 * parent directories. BEP 47 padding files are never created: reads of them
 * yield zeros. A symlink file is created as a symlink when all pieces are
 * done (sh_storage_finish). */
#ifndef SHOAL_STORAGE_H
#define SHOAL_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "meta/metainfo.h"

struct sh_storage;

/* READONLY: never create or write. BUFFERED: write every piece through the
 * page cache (by default aligned ranges are written with O_DIRECT, see
 * storage.c; piece buffers should then be 4096-byte aligned). */
enum { SH_STORAGE_READONLY = 1, SH_STORAGE_BUFFERED = 2 };

/* The metainfo must outlive the storage. Never touches the disk itself. */
int sh_storage_open(const struct sh_metainfo *m, const char *root, int flags,
                    struct sh_storage **out);
void sh_storage_close(struct sh_storage *s);

/* Writes a whole verified piece (sh_piece_size bytes) with one pwritev per
 * file it spans. Returns 0 or -errno; *bad_file (may be NULL) gets the index
 * of the file that failed. */
int sh_storage_write_piece(struct sh_storage *s, uint32_t piece, const uint8_t *data,
                           size_t *bad_file);

/* Reads len bytes at offset off inside a piece. A missing or short file gives
 * -ENOENT or SH_EINCOMPLETE (and *bad_file), never garbage. */
int sh_storage_read(struct sh_storage *s, uint32_t piece, uint32_t off, uint8_t *buf,
                    uint32_t len, size_t *bad_file);

/* A part of a piece range as it lies on disk, for zero-copy sends
 * (sendfile): len bytes at offset off of the file open on fd, or, with fd
 * -1, len zero bytes (a BEP 47 padding file, which is never on disk). */
struct sh_extent {
  int fd;
  uint64_t off;
  uint32_t len;
};
/* Leases read descriptors for len bytes at off inside a piece: fills up to
 * max extents in order and returns their count, or -E2BIG when the range
 * spans more than max parts, -EINVAL for a range outside the piece, -ENOENT
 * or SH_EINCOMPLETE (and *bad_file) when a file is missing or shorter than
 * the range. Each fd is the caller's own duplicate, valid after the storage
 * is closed; give the lease back with sh_storage_lease_return(). */
int sh_storage_lease(struct sh_storage *s, uint32_t piece, uint32_t off, uint32_t len,
                     struct sh_extent *ext, int max, size_t *bad_file);
/* Closes the descriptors of n extents from sh_storage_lease (fd -1 skipped). */
void sh_storage_lease_return(struct sh_extent *ext, int n);

/* Closes every cached descriptor that no call is using: an idle torrent
 * (checked, no peers) holds none, so 10,000 of them do not exhaust the
 * process's descriptors. Later calls open files again. Any thread; a
 * close of an unused descriptor does not wait on the disk (its writes were
 * fsynced by sh_storage_flush or stay in the page cache). */
void sh_storage_release(struct sh_storage *s);

/* The size on disk of every file, in size[num_files]: 0 for a file that is
 * missing (or a directory above it), unreadable, or not a regular file, and
 * for BEP 47 padding files, which are never stored (not looked up).
 * Follows no symlinks, as the reads do not. Files of one directory cost one
 * directory open between them, and a missing directory none per file. */
void sh_storage_file_sizes(struct sh_storage *s, uint64_t *size);

/* Index range [first, last] of the files that piece touches (padding too). */
void sh_storage_piece_files(const struct sh_metainfo *m, uint32_t piece, size_t *first,
                            size_t *last);

/* How far into an aligned block a buffer for `piece` should start (below
 * SH_STORAGE_BUF_ALIGN): then the whole blocks of the file holding most of
 * the piece are aligned in memory as in the file, and sh_storage_write_piece
 * writes them with O_DIRECT without copying. 0 for single-file torrents.
 * Allocate SH_STORAGE_BUF_ALIGN more than the piece, aligned to it. */
#define SH_STORAGE_BUF_ALIGN 4096u
size_t sh_storage_buf_shift(const struct sh_metainfo *m, uint32_t piece);

/* fsyncs files written since the last flush (since open at first); a file
 * whose fsync fails stays pending for the next flush. Returns the first error. */
int sh_storage_flush(struct sh_storage *s);

/* Call once every piece is verified: creates what no piece write creates
 * (zero-length files and BEP 47 symlinks, as relative links; existing entries
 * are kept), then flushes. -EROFS for a read-only storage. */
int sh_storage_finish(struct sh_storage *s, size_t *bad_file);

/* Whether piece writes go to disk with O_DIRECT (not --buffered-writes, and
 * the file system has not refused it). */
int sh_storage_is_direct(const struct sh_storage *s);
/* Bytes written with O_DIRECT so far (the rest went through the page cache):
 * for tests and status displays. */
uint64_t sh_storage_direct_bytes(const struct sh_storage *s);
/* The absolute-or-root-relative path of file i, e.g. for messages. Owned by s. */
const char *sh_storage_file_path(struct sh_storage *s, size_t i);

#endif
