/* The tracker client: one announcer per torrent talks to the torrent's
 * trackers over HTTP (BEP 3, 7, 23, 48) and UDP (BEP 15, 41), walking the
 * announce-list tiers as BEP 12 says: each tier is shuffled once, its
 * trackers are tried in order, one that answers moves to the front of its
 * tier, and the next tier is tried only when every tracker of a tier failed.
 *
 * Ownership: the caller (the torrent) creates the announcer with
 * sh_announcer_new() on its loop and ends it with sh_announcer_stop(), which
 * frees it asynchronously. The tiers and their URL strings are copied. The
 * session's context (the shared HTTP client and the registry of UDP
 * tracker clients, announce/ann_udpc.h) is borrowed and must outlive every
 * announcer using it: all torrents on one udp:// tracker share its client,
 * its connection id and the session's UDP socket.
 * Callbacks run on the loop thread; pointers they receive are borrowed for
 * the call only. No callback is invoked after sh_announcer_stop() except its
 * own `done`.
 *
 * Everything happens in the background: announce failures are reported via
 * cb->status and retried with back-off (15 s, 30 s, 60 s ... capped at the
 * tracker's interval), never returned. A UDP tracker refused by ICMP (port
 * unreachable: nothing listens there) fails at once instead of waiting out
 * BEP 15's schedule; one that stays silent is reported through cb->stalled
 * after each unanswered interval. */
#ifndef SHOAL_ANNOUNCE_H
#define SHOAL_ANNOUNCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "meta/metainfo.h" /* struct sh_tier */

struct sh_http_client;
struct ann_udpc_reg;
struct sh_announcer;

/* What a session shares among its announcers (borrowed). */
struct sh_announce_ctx {
  struct sh_http_client *http; /* http:// and https:// trackers */
  struct ann_udpc_reg *udp;    /* udp:// trackers (BEP 15) */
};

/* What a successful announce told us (besides the peers). */
struct sh_announce_info {
  const char *url;       /* the tracker that answered */
  uint32_t interval;     /* seconds until the next regular announce (clamped) */
  uint32_t min_interval; /* seconds; 0 when the tracker gave none */
  int64_t seeders;       /* "complete"; -1 when unknown */
  int64_t leechers;      /* "incomplete"; -1 when unknown */
  size_t num_peers;      /* how many peers were delivered via cb->peers */
};

struct sh_scrape_info {
  int64_t seeders, completed, leechers; /* -1 when the tracker left one out */
};

struct sh_announce_callbacks {
  void *ud;
  /* Required. Asked right before every announce. */
  void (*stats)(void *ud, uint64_t *uploaded, uint64_t *downloaded, uint64_t *left);
  /* Required. Peers from a reply, IPv4 (sockaddr_in) and IPv6 (sockaddr_in6),
   * port 0 and unparsable entries already dropped. May be called with n = 0. */
  void (*peers)(void *ud, const struct sockaddr_storage *addrs, size_t n);
  /* Optional. err < 0: a failure (msg names the tracker URL and the reason,
   * e.g. the tracker's "failure reason"); err == 0: a warning message. */
  void (*status)(void *ud, const char *url, int err, const char *msg);
  /* Optional. After each successful announce. */
  void (*announced)(void *ud, const struct sh_announce_info *info);
  /* Optional. Result of sh_announcer_scrape(): err < 0 with s == NULL on
   * failure (SH_ETRACKER, SH_EURL when the tracker does not support scrape). */
  void (*scraped)(void *ud, const char *url, int err, const struct sh_scrape_info *s);
  /* Optional. A UDP announce has gone unanswered for `tries` intervals of
   * BEP 15's schedule and is still being retried (msg names the URL): the
   * tracker is failing for any display or give-up rule, long before the
   * schedule's 2 h 7 min end with a status() failure. Its next reply, or
   * failure, comes through announced() or status() as usual. */
  void (*stalled)(void *ud, const char *url, uint32_t tries, const char *msg);
};

/* Timings; the defaults come from the BEPs, tests shrink them. */
struct sh_announce_timing {
  uint32_t udp_timeout_ms;   /* BEP 15 retransmit base: 15 * 2^n s, default 15000
                                (the env var SHOAL_UDP_TIMEOUT_MS overrides it) */
  uint32_t udp_max_tries;    /* n runs 0..8 per BEP 15, so 9 sends; default 9 */
  uint32_t udp_walk_tries;   /* sends before giving up on a UDP tracker when
                                the torrent has other trackers to walk to;
                                default 3 (15 + 30 + 60 = 105 s); 0 = all */
  uint32_t http_timeout_ms;  /* per HTTP request, default 30000 */
  uint32_t retry_base_ms;    /* first back-off after a failed round, default 15000 */
  uint32_t stop_timeout_ms;  /* how long `stopped` may take at shutdown, default 5000 */
  uint32_t min_interval_s;   /* interval clamp, default 30 */
  uint32_t max_interval_s;   /* interval clamp, default 7200 */
  int numwant;               /* default 80 */
};

void sh_announce_timing_default(struct sh_announce_timing *t);

/* Creates an idle announcer. tiers may hold http://, https:// and udp://
 * URLs; others are skipped (reported via cb->status at start). cb and ctx
 * are copied.
 * timing may be NULL for the defaults. Returns NULL when out of memory. */
struct sh_announcer *sh_announcer_new(uv_loop_t *loop, const struct sh_announce_ctx *ctx,
                                      const struct sh_tier *tiers, size_t ntiers,
                                      const uint8_t info_hash[20], const uint8_t peer_id[20],
                                      uint16_t listen_port, const struct sh_announce_callbacks *cb,
                                      const struct sh_announce_timing *timing);

/* Sends event=started (to whichever tracker of the tiers answers first),
 * then re-announces every interval. Calling it twice is harmless. */
void sh_announcer_start(struct sh_announcer *a);
/* Sends event=completed once per announcer: now, or right after the first
 * acknowledged `started`. A torrent that was complete when it started should
 * not call it (BEP 3: completed is not sent in that case). */
void sh_announcer_completed(struct sh_announcer *a);
/* Asks for peers early, but never sooner than the tracker's min interval
 * (or 30 s when it gave none) after the previous announce. */
void sh_announcer_more_peers(struct sh_announcer *a);
/* Scrapes the first tracker of the walk (the one that answered last, or the
 * first of tier 0); result via cb->scraped, which may be called from inside
 * this call when the tracker cannot scrape (SH_EURL). */
void sh_announcer_scrape(struct sh_announcer *a);
/* Milliseconds until the next announce is sent (a retry after a failure,
 * or the next regular one); 0 while one is in flight or none is due. */
uint64_t sh_announcer_next_ms(const struct sh_announcer *a);
/* Sends event=stopped to every tracker that acknowledged `started` (a
 * pending or in-flight `completed` goes first, so a download that ends the
 * program is still counted), all within timing.stop_timeout_ms; then closes
 * everything, frees a, and calls done(ud) from the loop (never from inside
 * this call). done may be NULL. */
void sh_announcer_stop(struct sh_announcer *a, void (*done)(void *ud), void *ud);
/* As sh_announcer_stop, but tells no tracker anything: the torrent only
 * leaves memory for a while (shoal_torrent_unload) and stays in the swarm. */
void sh_announcer_drop(struct sh_announcer *a, void (*done)(void *ud), void *ud);

#endif
