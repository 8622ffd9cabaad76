/* The tracker's protocol core: one object that holds the settings, the swarm
 * store, the access policy and the counters, and turns parsed HTTP requests
 * (BEP 3, 7, 23, 48) into bencoded replies. The UDP side (BEP 15) is in
 * udp_proto.h and works on the same object.
 *
 * Pure in the STYLE.md sense: the caller passes the client's address, the
 * time and random numbers; nothing here reads a clock or touches a socket.
 * Safe to call from several threads at once (the store and policy lock
 * themselves; the counters are atomic). The caller owns the struct tracker
 * (tracker_init/tracker_destroy); the replies are appended to caller buffers. */
#ifndef SHOAL_TRACKER_TRACKER_H
#define SHOAL_TRACKER_TRACKER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "tracker/policy.h"
#include "tracker/query.h"
#include "tracker/store.h"

/* Defaults. 30 minutes is the interval most public trackers use; peers that
 * miss two announces are gone, but never sooner than 45 minutes (as
 * opentracker keeps them): qBittorrent and rtorrent re-announce every 30
 * minutes or so whatever a short interval asks, and would vanish from the
 * swarm between two announces. 50 peers is BEP 3's suggested default reply
 * size; 200 caps a reply at 1.2 KB of IPv4 or 3.6 KB of IPv6 peers. */
#define TRACKER_DEFAULT_INTERVAL 1800
#define TRACKER_PEER_TIMEOUT_MIN 2700
#define TRACKER_DEFAULT_NUMWANT 50
#define TRACKER_MAX_NUMWANT 200
/* An HTTP scrape of more hashes than this is refused; 8 KiB of URL holds
 * about 130 percent-encoded hashes, so real clients stay far below. */
#define TRACKER_MAX_SCRAPE 256

struct tracker_config {
  uint32_t interval;      /* seconds between announces we ask for */
  uint32_t min_interval;  /* seconds clients must wait at least */
  uint32_t peer_timeout;  /* peers unseen this long are dropped */
  uint32_t numwant_default, numwant_max;
  int hosted_only;        /* track only hosted torrents */
  int trust_ip_param;     /* honour the `ip` parameter / UDP IP field */
  int full_scrape;        /* allow /scrape without info_hash */
};

enum tracker_stat {
  TRK_HTTP_ANNOUNCE, TRK_HTTP_SCRAPE, TRK_HTTP_OTHER, TRK_UDP_CONNECT, TRK_UDP_ANNOUNCE,
  TRK_UDP_SCRAPE, TRK_HTTP_FAILURE, TRK_UDP_ERROR, TRK_UDP_DROPPED, TRK_UPLOAD,
  TRK_STAT_COUNT
};
extern const char *const tracker_stat_names[TRK_STAT_COUNT];

struct tracker {
  struct tracker_config cfg;
  struct store *store;
  struct policy *policy;
  uint8_t udp_secret[16]; /* key for UDP connection IDs; set by the caller */
  _Atomic uint64_t stat[TRK_STAT_COUNT];
};

/* A client's address as the socket saw it (IPv4-mapped IPv6 already turned
 * into IPv4 by the caller). ip holds 4 or 16 bytes. */
struct tracker_addr {
  enum store_family family;
  uint8_t ip[16];
};

void tracker_config_defaults(struct tracker_config *c);
/* Creates the store and policy. Returns 0 or -ENOMEM. */
int tracker_init(struct tracker *t, const struct tracker_config *c);
void tracker_destroy(struct tracker *t);

static inline void tracker_count(struct tracker *t, enum tracker_stat s)
{
  atomic_fetch_add_explicit(&t->stat[s], 1, memory_order_relaxed);
}

/* Appends a bencoded {failure reason: why} to out. */
void tracker_failure(struct sh_buf *out, const char *why);

/* Handles /announce?query: appends a bencoded reply (possibly a failure
 * reason) to out. rnd is any random number (it picks which peers to hand
 * out). Returns 0, or -1 when the reply is a failure. */
int tracker_http_announce(struct tracker *t, const char *query, size_t qlen,
                          const struct tracker_addr *from, uint32_t now, uint32_t rnd,
                          struct sh_buf *out);

/* Handles /scrape?query (BEP 48). Returns 0, or -1 on a failure reply. */
int tracker_http_scrape(struct tracker *t, const char *query, size_t qlen, struct sh_buf *out);

/* Parses a textual IPv4 or IPv6 address (the `ip` parameter). Returns 0. */
int tracker_parse_ip(const char *s, struct tracker_addr *a);

/* The peer's compact form (base/compact.h), the store's key: writes 6 or
 * 18 bytes to out and returns how many. */
uint32_t tracker_wire_addr(uint8_t out[18], const struct tracker_addr *a, uint16_t port);

#endif
