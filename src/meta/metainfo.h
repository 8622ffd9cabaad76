/* Metainfo (.torrent) files: BEP 3 (v1 single- and multi-file), BEP 12
 * (announce-list tiers), BEP 19 (url-list web seeds), BEP 27 (private),
 * BEP 47 (padding files, attributes, symlinks).
 *
 * sh_metainfo_parse() validates everything a client relies on (see
 * metainfo.c for the limits) and fills one heap object that owns all of its
 * strings and a copy of the file's bytes. The info-hash is the SHA-1 of the
 * exact bytes of the `info` value, never a re-encoding. */
#ifndef SHOAL_METAINFO_H
#define SHOAL_METAINFO_H

#include <stddef.h>
#include <stdint.h>

enum sh_file_attr {
  SH_FILE_PAD = 1,     /* 'p': padding, all zeros, never written to disk */
  SH_FILE_EXEC = 2,    /* 'x' */
  SH_FILE_HIDDEN = 4,  /* 'h' */
  SH_FILE_SYMLINK = 8, /* 'l': symlink_target holds the validated target */
};

/* The most pieces a torrent may have: 4 M (80 MB of hashes), far beyond
 * any real one; bounds what a peer's bitfield may make us hold before the
 * metadata is known. (A .torrent holding them would pass the size limit
 * below: that one binds first, at 1.6 M pieces.) */
#define SH_METAINFO_MAX_PIECES 4000000u

/* Limits on a .torrent as a whole, checked as it is parsed, like other
 * clients' (libtorrent refuses past 10 MB and 3 M bencode values by
 * default, qBittorrent raises both): 32 MiB holds 1.6 M piece hashes (a
 * 400 GiB torrent in 256 KiB pieces), and 2 M bencode values some 200,000
 * files. At 24 bytes a value, the decoder never takes more than 48 MB, and
 * a file of 9 MB holding 3 M values of junk is refused, the limit named,
 * instead of costing 100 MB to accept. */
#define SH_METAINFO_MAX_BYTES (32u << 20)
#define SH_METAINFO_MAX_TOKENS 2000000u

struct sh_file {
  char *path;           /* relative, '/'-separated: "NAME" for a single-file
                           torrent, "NAME/dir/file" for a multi-file one */
  uint64_t length;
  uint64_t offset;      /* where the file starts in the torrent's byte space */
  unsigned attr;        /* enum sh_file_attr bits */
  char *symlink_target; /* SH_FILE_SYMLINK only: the target in the same form
                           as path ("NAME/dir/file" for multi-file), '..'
                           resolved, never escaping the root; NULL otherwise */
};

struct sh_tier {
  char **urls;
  size_t n;
};

struct sh_metainfo {
  uint8_t info_hash[20];
  char info_hash_hex[41];
  char *name;
  uint32_t piece_length;
  uint32_t num_pieces;
  uint64_t total_length;     /* sum of all file lengths, padding included */
  uint8_t *piece_hashes;     /* 20 * num_pieces bytes */
  struct sh_file *files;
  size_t num_files;
  int multi_file;            /* 1 when the info dict has `files` */
  struct sh_tier *tiers;     /* announce-list, or one tier of `announce` */
  size_t num_tiers;
  char **web_seeds;
  size_t num_web_seeds;
  int is_private;
  char *comment, *created_by, *source; /* NULL when absent */
  int64_t creation_date;     /* 0 when absent */
  int hybrid;                /* BEP 52 `meta version` 2 beside the v1 keys:
                                used through its v1 part */
  uint8_t *raw;              /* the whole .torrent file, owned */
  size_t raw_len;
  size_t info_off, info_len; /* the info dict's exact bytes inside raw */
};

/* Parses and validates a .torrent held in memory. On failure returns
 * SH_EBENCODE or SH_EMETAINFO (or -ENOMEM) and writes a sentence naming the
 * field (and byte offset for bencode errors) into err. */
int sh_metainfo_parse(const void *buf, size_t len, struct sh_metainfo **out, char *err,
                      size_t errlen);
/* Reads and parses a file; errors name the path. */
int sh_metainfo_load(const char *path, struct sh_metainfo **out, char *err, size_t errlen);
void sh_metainfo_free(struct sh_metainfo *m);

/* Size of piece i (the last one may be short). */
static inline uint32_t sh_piece_size(const struct sh_metainfo *m, uint32_t i)
{
  if (i + 1 < m->num_pieces)
    return m->piece_length;
  uint64_t rest = m->total_length - (uint64_t)i * m->piece_length;
  return (uint32_t)rest;
}

#endif
