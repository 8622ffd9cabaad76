/* Parsing of the tracker's HTTP query strings: announce (BEP 3, BEP 7,
 * BEP 23) and scrape (BEP 48). Pure: bytes in, a struct or a failure reason
 * out. The reasons are static sentences that go verbatim into a bencoded
 * `failure reason`, so they name the offending parameter.
 *
 * Rules (documented for users in docs/tracker.md):
 * - values are percent-decoded with '+' as a space (form encoding, which
 *   Python's urlencode and some clients use; a real '+' arrives as %2B);
 * - info_hash and peer_id must decode to exactly 20 bytes;
 * - port must be 1..65535; uploaded, downloaded, left are decimal 0..2^63-1;
 * - info_hash, peer_id, port and left are required;
 * - a parameter given twice is refused (which value would be meant?), except
 *   info_hash in a scrape, which is how BEP 48 asks for several torrents;
 * - numwant is clipped to the configured maximum; a negative one means the
 *   default; unknown parameters are ignored (clients add their own). */
#ifndef SHOAL_TRACKER_QUERY_H
#define SHOAL_TRACKER_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "tracker/store.h"

struct query_announce {
  uint8_t info_hash[20];
  uint8_t peer_id[20];
  uint16_t port;
  uint64_t uploaded, downloaded, left;
  enum store_event event;
  int64_t numwant;     /* -1 when absent */
  int compact;         /* -1 when absent, else 0 or 1 */
  int no_peer_id;
  int has_key;
  uint32_t key;        /* hex or decimal as clients send it, folded to 32 bits */
  char ip[64];         /* the `ip` parameter, decoded, NUL-terminated; "" if absent */
  uint8_t trackerid[64];
  size_t trackerid_len;
};

/* Returns 0, or -1 with *why set to a static sentence. */
int query_parse_announce(const char *q, size_t n, struct query_announce *a, const char **why);

/* Collects the info_hash parameters of a scrape into out (at most cap; more
 * is refused, naming the limit). *count 0 means "full scrape". */
int query_parse_scrape(const char *q, size_t n, uint8_t (*out)[20], uint32_t cap, uint32_t *count,
                       const char **why);

#endif
