/* BEP 15, the UDP tracker protocol, as a pure function: a datagram, the
 * sender's address, the time and a random number in; the reply datagram out
 * (or nothing, when the datagram deserves no answer).
 *
 * Connection IDs hold no state: an ID is SipHash-2-4 of the client's IP
 * address under a key derived from the tracker's secret and the current
 * 2-minute window (K_w = SipHash(secret, w)), so the key rotates every
 * window. IDs from the current and the previous window are accepted: an ID
 * lives 2 to 4 minutes, more than the 1 minute BEP 15 lets a client use it
 * and the 2 minutes it asks the server to accept. A forged ID passes with
 * probability 2^-64.
 *
 * Amplification: a reply to a datagram that does not carry a valid
 * connection ID (connect replies and errors) is never longer than the
 * datagram itself. Announce and scrape replies go only to a proven address. */
#ifndef SHOAL_TRACKER_UDP_PROTO_H
#define SHOAL_TRACKER_UDP_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "tracker/tracker.h"

#define UDP_PROTO_MAGIC 0x41727101980ULL
#define UDP_PROTO_WINDOW 120 /* seconds per connection-ID window */
#define UDP_PROTO_MAX_SCRAPE 74 /* BEP 15: "up to about 74 torrents" */
/* Largest reply: 20-byte header + 200 IPv6 peers of 18 bytes. */
#define UDP_PROTO_MAX_REPLY (20 + TRACKER_MAX_NUMWANT * 18)

enum { UDP_ACT_CONNECT = 0, UDP_ACT_ANNOUNCE = 1, UDP_ACT_SCRAPE = 2, UDP_ACT_ERROR = 3 };

/* The connection ID the tracker hands to `from` at time now. */
uint64_t udp_proto_conn_id(const struct tracker *t, const struct tracker_addr *from, uint32_t now);

/* Handles one datagram. out must hold UDP_PROTO_MAX_REPLY bytes. Returns the
 * reply's length, or 0 to send nothing (too short to carry a transaction ID,
 * or a connect without the protocol magic). */
size_t udp_proto_handle(struct tracker *t, const uint8_t *pkt, size_t len,
                        const struct tracker_addr *from, uint32_t now, uint32_t rnd,
                        uint8_t *out);

#endif
