/* Magnet links (BEP 9, BEP 53): the parser, the link of a torrent, and the
 * .torrent a magnet's torrent is saved as once its metadata is fetched.
 *
 * magnet:?xt=urn:btih:<40 hex | 32 base32>&dn=<name>&tr=<tracker>...
 *        &ws=<web seed>...&x.pe=<host:port>...&so=<0,2,4-6>
 *
 * Pure: strings in, strings and bytes out; no sockets, no DNS (x.pe peers
 * are kept as text, validated as HOST:PORT). sh_magnet_parse() allocates
 * one object that owns everything it points to; sh_magnet_free() releases
 * it. The input is untrusted (fuzzed: fuzz_magnet.c). */
#ifndef SHOAL_MAGNET_H
#define SHOAL_MAGNET_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "meta/metainfo.h"

/* Bounds on what one link may bring, far above real links (a handful of
 * trackers): more entries of one kind are dropped, not refused. */
#define SH_MAGNET_MAX_LEN (64u * 1024)  /* longer links are refused */
#define SH_MAGNET_MAX_URLS 64           /* tr, ws */
#define SH_MAGNET_MAX_PEERS 64          /* x.pe */
#define SH_MAGNET_MAX_RANGES 1024       /* so */
#define SH_MAGNET_MAX_INDEX 10000000u   /* so: no torrent has this many files */

/* An inclusive range of file indices (BEP 53: zero-based, as the info
 * dict's file list counts them, padding files included). */
struct sh_magnet_range {
  uint32_t first, last;
};

struct sh_magnet {
  uint8_t info_hash[20];
  char info_hash_hex[41];
  int has_v2;                   /* a urn:btmh (BEP 52) topic was given too:
                                   ignored until v2 torrents are supported */
  char *name;                   /* dn, or NULL */
  char **trackers;              /* tr, in order, duplicates dropped */
  size_t num_trackers;
  char **web_seeds;             /* ws */
  size_t num_web_seeds;
  char **peers;                 /* x.pe: "host:port", "1.2.3.4:port", "[::1]:port" */
  size_t num_peers;
  struct sh_magnet_range *select; /* so, as given (ranges may overlap) */
  size_t num_select;
  size_t dropped;               /* entries over the bounds above, not kept */
};

/* Parses a magnet link. Returns 0 with *out set, or on failure a negative
 * code with a sentence in err and *out NULL: SH_EURL for what is not a
 * BitTorrent magnet link (no xt, an info-hash of the wrong length or
 * alphabet, two different info-hashes, only other URNs, a malformed so or
 * x.pe, a bad %-escape), -ENOTSUP for a v2-only link (urn:btmh without
 * urn:btih), -ENOMEM. */
int sh_magnet_parse(const char *uri, struct sh_magnet **out, char *err, size_t errlen);
void sh_magnet_free(struct sh_magnet *m);

/* Appends the magnet link of a torrent: xt, dn, one tr per tracker (tiers
 * in order) and one ws per web seed, each value %-escaped. */
void sh_magnet_format(struct sh_buf *b, const uint8_t info_hash[20], const char *name,
                      const struct sh_tier *tiers, size_t ntiers, char *const *web_seeds,
                      size_t nweb);

/* Appends "&so=0,2,4-6" for a selection (nothing when n is 0). */
void sh_magnet_format_select(struct sh_buf *b, const struct sh_magnet_range *r, size_t n);

/* The .torrent of fetched metadata: a dictionary holding announce and
 * announce-list (one tier per tracker, BEP 12), the info dict's exact
 * bytes (so its hash is the info-hash), and url-list (BEP 19) when web
 * seeds are given. Appends to b; b->oom on failure. */
void sh_magnet_torrent(struct sh_buf *b, const uint8_t *info, size_t info_len,
                       const char *const *trackers, size_t ntrackers,
                       const char *const *web_seeds, size_t nweb);

/* Per-file priorities (1 wanted, 0 not) from a selection, for a torrent of
 * nfiles files; indices past the last file are ignored. Returns how many
 * files are selected. */
size_t sh_magnet_select(const struct sh_magnet_range *r, size_t n, size_t nfiles,
                        uint8_t *wanted);

#endif
