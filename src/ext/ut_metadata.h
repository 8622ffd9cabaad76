/* ut_metadata (BEP 9): a torrent added from a magnet link fetches its
 * metadata (the info dict) from peers, and every torrent serves its own.
 *
 * Fetching: one peer at a time is the source: all pieces are asked of it
 * (SH_UTM_WINDOW at a time), so metadata that does not hash to the
 * info-hash has one author, who is dropped (closed, struck off the peer
 * list, a strike towards a ban) while the others are tried. A peer that
 * rejects, or stays silent for SH_UTM_TIMEOUT_MS, is asked again only after
 * SH_UTM_RETRY_MS. Sizes over SH_UTM_MAX_SIZE are refused. The verified
 * metadata becomes a .torrent (meta/magnet.c: the magnet's trackers and web
 * seeds around the info dict's exact bytes), which the torrent takes
 * (sh_torrent_set_metadata) before it starts; that .torrent then travels
 * in its resume data.
 *
 * Serving: `metadata_size` in our extension handshake once we have the
 * metadata, data for each request, a reject for a piece we do not have or
 * past a peer's allowance (the metadata's pieces four times over, plus 16:
 * BEP 9's flood protection).
 *
 * The codec (sh_utm_parse, sh_utm_put) is pure and fuzzed (fuzz_ut_metadata
 * drives the whole handler through the engine). */
#ifndef SHOAL_EXT_UT_METADATA_H
#define SHOAL_EXT_UT_METADATA_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct shoal_session;

#define SH_UTM_PIECE 16384u          /* BEP 9: metadata travels in 16 KiB pieces */
/* The largest metadata we fetch: 16 MiB, far above real info dicts (800,000
 * piece hashes: 200 GiB in 256 KiB pieces) and what one torrent's fetch may
 * hold in memory; a larger torrent must be added from its .torrent file. */
#define SH_UTM_MAX_SIZE (16u << 20)
#define SH_UTM_WINDOW 8              /* pieces asked of the source at once */
#define SH_UTM_TIMEOUT_MS 15000u     /* a silent source is given up */
#define SH_UTM_RETRY_MS 30000u       /* before a peer that failed is asked again */
#define SH_UTM_MAX_UNASKED 16        /* data we did not ask for before we hang up */

enum sh_utm_type { SH_UTM_REQUEST = 0, SH_UTM_DATA = 1, SH_UTM_REJECT = 2 };

struct sh_utm_msg {
  int64_t type;         /* enum sh_utm_type; others are to be ignored (BEP 9) */
  uint32_t piece;
  int64_t total_size;   /* data: the metadata's size; -1 when absent */
  const uint8_t *data;  /* data: the piece, after the dictionary (borrowed) */
  size_t len;
};

/* Decodes one message (the payload after the extension id). Returns 0, or
 * SH_EPROTO with *why: not a bencoded dictionary, no msg_type, a request,
 * data or reject without a piece in range, data without total_size. An
 * unknown msg_type decodes (for the caller to ignore, BEP 9) with nothing
 * else read. Bytes after the dictionary are the data of a data message,
 * and ignored after the others. */
int sh_utm_parse(const uint8_t *p, size_t n, struct sh_utm_msg *m, const char **why);
/* Appends a message's dictionary (total_size >= 0 only for data); a data
 * message's piece bytes follow it. */
void sh_utm_put(struct sh_buf *b, enum sh_utm_type type, uint32_t piece, int64_t total_size);

/* Registers ut_metadata with the session's extension registry. Returns its
 * local id, or -1 (the registry is full, or out of memory). */
int sh_ut_metadata_register(struct shoal_session *s);

#endif
