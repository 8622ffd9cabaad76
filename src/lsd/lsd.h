/* Local service discovery (BEP 14): announce our torrents to the local
 * network by multicast, and hear others' announces.
 *
 * Two sockets bound to port 6771 (shared with other programs on the host:
 * SO_REUSEADDR), joined to 239.192.152.143 and ff15::efc0:988f; a family
 * the host cannot join is left out (logged). Multicast TTL 1, as
 * Transmission sends: these are announces for the local link, and TTL 1
 * keeps them there.
 *
 * Announcing: a round sends one packet per family holding as many of the
 * torrents to announce as fit (about 25, lsd_msg.h), the next ones in the
 * next round. Rounds go at most once a minute (BEP 14: no multicast
 * storms) and every 5 minutes once every torrent was announced; a torrent
 * that was not in the previous round brings the next one forward, to a
 * minute after the last. Our cookie, random per instance, is how our own
 * announces are known when they loop back to us.
 *
 * Hearing: at most SH_LSD_MAX_IN announces a second are read (a flood is
 * dropped and counted, logged once a minute); each info-hash of an
 * announce that is not ours goes to the owner with the sender's address
 * and announced port. IPv6 link-local senders are skipped: their address
 * means nothing without the interface, which a peer list does not keep.
 *
 * Ownership: sh_lsd_new allocates; sh_lsd_close stops it at once (no
 * callback after it) and frees it from the loop, then calls done. The
 * callbacks run on the loop thread. The owner never calls this from a
 * test outside a network namespace of its own: the announces go to the
 * LAN. */
#ifndef SHOAL_LSD_H
#define SHOAL_LSD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#define SH_LSD_INTERVAL_MS (5u * 60 * 1000)  /* BEP 14: every 5 minutes */
#define SH_LSD_MIN_GAP_MS (60u * 1000)       /* BEP 14: no more than one a minute */
#define SH_LSD_MAX_IN 20                     /* announces read per second */
#define SH_LSD_MAX_TORRENTS 1024             /* asked of collect per round */

struct sh_lsd;

struct sh_lsd_cb {
  void *ud;
  /* The info-hashes to announce now, up to cap; returns how many. */
  size_t (*collect)(void *ud, uint8_t (*ih)[20], size_t cap);
  /* A peer on the local network announced ih; addr is where it listens. */
  void (*peer)(void *ud, const uint8_t ih[20], const struct sockaddr *addr);
};

/* Starts on loop; port is the TCP port we listen on. Returns 0, or a
 * negative errno when neither family could be set up. cb is copied. */
int sh_lsd_new(uv_loop_t *loop, uint16_t port, const struct sh_lsd_cb *cb, struct sh_lsd **out);
void sh_lsd_close(struct sh_lsd *l, void (*done)(void *ud), void *ud);

/* Counters, for logs and tests. */
struct sh_lsd_stats {
  uint64_t sent, received, own, malformed, flood_dropped, peers;
};
void sh_lsd_stats(const struct sh_lsd *l, struct sh_lsd_stats *st);

#endif
