/* The HTTP tracker protocol as pure functions: announce URL building (BEP 3,
 * 23), reply parsing (BEP 3, 7, 23), scrape URL derivation and scrape reply
 * parsing (BEP 48). Input bytes are untrusted; nothing here allocates an
 * amount read from them (see ANN_MAX_PEERS). */
#ifndef SHOAL_ANN_HTTP_H
#define SHOAL_ANN_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "announce/ann_msg.h"
#include "base/buf.h"

struct sh_scrape_info;

/* Appends n bytes percent-encoded: RFC 3986 unreserved characters stay raw,
 * every other byte becomes %XX (upper-case hex). */
void ann_http_escape(struct sh_buf *b, const uint8_t *p, size_t n);

/* Appends the full announce URL for `base` (which may already carry a query
 * string: then parameters follow with '&'). event is omitted for regular
 * announces; trackerid only when set. Check b->oom afterwards. */
void ann_http_announce_url(struct sh_buf *b, const char *base, const struct ann_req *q);

/* Parses a tracker's announce reply body into r (initialised here).
 * Returns 0 (r filled; r->warning may be set), SH_ETRACKER when the tracker
 * sent a "failure reason" (err holds it), SH_EBENCODE/SH_EPROTO for a body
 * that is not a bencoded dictionary or has fields of the wrong type (err says
 * what), or -ENOMEM. err always gets a sentence on failure (never the URL:
 * the caller adds it). r is valid for ann_reply_free() in every case. */
int ann_http_parse(const uint8_t *body, size_t len, struct ann_reply *r, char *err,
                   size_t errlen);

/* BEP 48: the scrape URL is the announce URL with the last path segment's
 * leading "announce" replaced by "scrape". Appends it (with the info_hash
 * parameter) to b and returns 0, or SH_EURL when the URL has no such segment
 * (the tracker then does not support scrape). */
int ann_http_scrape_url(struct sh_buf *b, const char *announce, const uint8_t info_hash[20]);

/* Parses a scrape reply and picks the entry for info_hash. Returns 0,
 * SH_ETRACKER (failure reason, or the torrent is not in the reply),
 * SH_EBENCODE/SH_EPROTO; err as for ann_http_parse. */
int ann_http_parse_scrape(const uint8_t *body, size_t len, const uint8_t info_hash[20],
                          struct sh_scrape_info *s, char *err, size_t errlen);

#endif
