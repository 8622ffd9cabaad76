/* The UDP tracker protocol (BEP 15) as pure packet encoders and decoders,
 * plus the BEP 41 URLData option. All integers are big-endian on the wire.
 * Replies are untrusted: every decoder checks length, action and
 * transaction id before reading a field. */
#ifndef SHOAL_ANN_UDP_H
#define SHOAL_ANN_UDP_H

#include <stddef.h>
#include <stdint.h>

#include "announce/ann_msg.h"

struct sh_scrape_info;

#define ANN_UDP_PROTOCOL_ID 0x41727101980ULL /* BEP 15's magic constant */

enum ann_udp_action { ANN_UDP_CONNECT = 0, ANN_UDP_ANNOUNCE = 1, ANN_UDP_SCRAPE = 2,
                      ANN_UDP_ERROR = 3 };

#define ANN_UDP_CONNECT_LEN 16
#define ANN_UDP_ANNOUNCE_LEN 98
/* BEP 15: "up to about 74 torrents can be scraped at once" (16 + 74 * 20
 * bytes still fits a 1500-byte Ethernet frame). */
#define ANN_UDP_MAX_SCRAPE 74
/* A request never exceeds this: announce + BEP 41 options for a URL path of
 * up to 1024 bytes (4 chunks of 255 plus headers). */
#define ANN_UDP_MAX_REQ 1200

/* Splits "udp://host:port[/path][?query]" (host may be "[v6 literal]").
 * host gets the name without brackets; *path_query points into url at the
 * path (or at "" when there is none). Returns 0 or SH_EURL (no port, port 0
 * or above 65535, empty or too long host). */
int ann_udp_parse_url(const char *url, char *host, size_t hostlen, uint16_t *port,
                      const char **path_query);

/* Encoders write into out (which must hold the sizes above) and return the
 * packet length. */
size_t ann_udp_connect_req(uint8_t *out, uint32_t tid);
/* path_query: the URL's path and query for BEP 41 (e.g. "/announce?x=1"), or
 * NULL/"" for none; longer than 1024 bytes is cut (trackers match on prefix
 * at most). */
size_t ann_udp_announce_req(uint8_t *out, uint64_t conn_id, uint32_t tid,
                            const struct ann_req *q, const char *path_query);
size_t ann_udp_scrape_req(uint8_t *out, uint64_t conn_id, uint32_t tid,
                          const uint8_t (*hashes)[20], size_t n);

/* First check of any reply. Returns:
 *   1           the packet is not ours (too short to say, or another tid):
 *               ignore it and keep waiting;
 *   0           action == want and the length suits it;
 *   SH_ETRACKER an error reply for our tid: msg gets the tracker's text;
 *   SH_EPROTO   our tid but a wrong action or a truncated body: msg says. */
int ann_udp_check(const uint8_t *p, size_t n, uint32_t tid, enum ann_udp_action want,
                  char *msg, size_t msglen);

/* Decoders for replies that passed ann_udp_check with the same action. */
uint64_t ann_udp_connect_id(const uint8_t *p);
/* ipv6: the reply came over IPv6, so entries are 18 bytes (BEP 15). r is
 * initialised here. Returns 0 or -ENOMEM. */
int ann_udp_announce_reply(const uint8_t *p, size_t n, int ipv6, struct ann_reply *r);
/* Fills up to max entries (one per hash asked, in order) and returns how
 * many the reply held. */
size_t ann_udp_scrape_reply(const uint8_t *p, size_t n, struct sh_scrape_info *s, size_t max);

#endif
