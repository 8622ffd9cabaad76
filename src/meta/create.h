/* Torrent creation (BEP 3 v1, with BEP 12 tiers, BEP 19 web seeds and BEP 27
 * private flag): scan a file or directory, hash it with several threads, and
 * produce the bencoded .torrent.
 *
 * File order for a directory: byte-wise sorted relative paths (strcmp on
 * "dir/file"), which is what mktorrent does, so the same tree gives the same
 * info-hash. Hidden files (leading '.') and empty files are included;
 * symlinks and other non-regular entries (fifos, sockets, devices) are
 * skipped with a warning through sh_warn, because following them could hash
 * data outside the tree or block forever. */
#ifndef SHOAL_CREATE_H
#define SHOAL_CREATE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "meta/metainfo.h"

#define SH_CREATE_MIN_PIECE (16u << 10)
#define SH_CREATE_MAX_PIECE (16u << 20)

struct sh_create_opts {
  const char *path;              /* file or directory to share */
  const char *name;              /* NULL: the last element of path */
  uint32_t piece_length;         /* 0: sh_create_piece_length(total) */
  const struct sh_tier *tiers;   /* announce-list; tiers[0].urls[0] also
                                    becomes `announce` */
  size_t num_tiers;
  const char *const *web_seeds;  /* BEP 19 url-list */
  size_t num_web_seeds;
  int is_private;                /* BEP 27 */
  const char *comment, *source, *created_by; /* NULL: omitted */
  int64_t creation_date;         /* 0: omitted */
  int threads;                   /* 0: all cores */
  /* Called from hashing threads, serialised, after each piece. */
  void (*progress)(void *ud, uint64_t done, uint64_t total);
  void *ud;
};

/* The default piece length for total bytes: the smallest power of two in
 * 16 KiB..16 MiB that keeps the piece count at or below 2000 (so between
 * 1000 and 2000 pieces unless clamped): few enough hashes to keep the
 * .torrent small, enough pieces for a swarm to spread. */
uint32_t sh_create_piece_length(uint64_t total);

/* The name a torrent of path gets without -n: its last element ("dir" for
 * "a/dir/"), or the real directory's name for "." and "..". Heap string, or
 * NULL when out of memory. */
char *sh_create_default_name(const char *path);

/* Builds the torrent into out (appended; the caller owns and frees it).
 * Returns 0, or a negative code with err naming the path involved:
 * -ENOENT (missing), -EACCES (unreadable), SH_EUSAGE (empty directory,
 * nothing to hash, bad name or piece length), SH_ELIMIT (too many files or
 * pieces), -ENOMEM. */
int sh_create(const struct sh_create_opts *o, struct sh_buf *out, char *err, size_t errlen);

/* Writes data to path atomically (temporary file in the same directory,
 * fsync, then rename). Without overwrite an existing path is refused with
 * -EEXIST, also atomically (link(2) never replaces). */
int sh_create_save(const char *path, const void *data, size_t len, int overwrite);

#endif
