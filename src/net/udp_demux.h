/* Demultiplexing of the session's shared UDP socket (net/udp.c), as pure
 * code: bytes and a source address in, one consumer's callback (or a
 * counter) out. No socket, no clock, so it is unit-tested and fuzzed with
 * plain bytes.
 *
 * One port carries three protocols, told apart by their first bytes
 * (none of the shapes overlap):
 *   tracker  a BEP 15 reply: a big-endian 32-bit action 0..3 (so bytes
 *            0..2 are zero), then the transaction id; 8 bytes at least.
 *            Delivered only when the tracker client registered that
 *            transaction id for that source address (sh_udp_demux_expect):
 *            anything else of this shape is dropped, so a forged or late
 *            reply never reaches a parser.
 *   uTP      BEP 29: version 1 in the low nibble of byte 0, type 0..4 in
 *            the high nibble (0x01, 0x11, 0x21, 0x31, 0x41), and at least
 *            the 20-byte header.
 *   DHT      BEP 5 KRPC: a bencoded dictionary, 'd' first and 'e' last.
 * A datagram of a known shape whose consumer is not registered is dropped
 * and counted (the uTP consumer is peer/utp.c; DHT's comes with its module).
 *
 * Ownership: the demux is embedded by its owner (sh_udp) and holds no
 * pointer into datagrams. Callbacks receive the datagram and address
 * borrowed for the call; a callback may register or unregister transaction
 * ids, including the one that matched. */
#ifndef SHOAL_NET_UDP_DEMUX_H
#define SHOAL_NET_UDP_DEMUX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum sh_udp_kind { SH_UDP_TRACKER = 0, SH_UDP_DHT = 1, SH_UDP_UTP = 2, SH_UDP_NKINDS = 3 };
#define SH_UDP_NONE (-1)

/* The shape of a datagram: an enum sh_udp_kind, or SH_UDP_NONE. */
int sh_udp_classify(const uint8_t *p, size_t n);

typedef void (*sh_udp_recv_cb)(void *ud, const uint8_t *p, size_t n, const struct sockaddr *from);

/* Counters, readable for status (sh_udp_stats). Datagrams, not bytes. */
struct sh_udp_stats {
  uint64_t in[SH_UDP_NKINDS];  /* delivered to each consumer */
  uint64_t out[SH_UDP_NKINDS]; /* sent for each consumer */
  uint64_t dropped_in;         /* a known shape nobody takes: no consumer, or a
                                  tracker reply to no outstanding transaction
                                  id from that address */
  uint64_t unclassified;       /* no known shape */
  uint64_t truncated;          /* longer than a receive slot (net/udp.c) */
  uint64_t dropped_out;        /* sends that would have blocked, or failed */
  uint64_t icmp_errors;        /* ICMP errors read back (net/udp.c) */
};

/* An outstanding tracker transaction: who sent it where. */
struct sh_udp_tid {
  uint32_t tid;
  uint16_t port;               /* network order, as in the sockaddr */
  uint8_t family;              /* 0: free slot; 4 or 6 */
  uint8_t pad;
  uint8_t ip[16];
  sh_udp_recv_cb cb;
  void *ud;
};

struct sh_udp_demux {
  sh_udp_recv_cb cb[SH_UDP_NKINDS]; /* the tracker's entry is unused: per tid */
  void *ud[SH_UDP_NKINDS];
  struct sh_udp_tid *tids;     /* open addressing, linear probing */
  size_t ntids, cap;           /* cap: 0 or a power of two, at most half full */
  struct sh_udp_stats st;
};

void sh_udp_demux_init(struct sh_udp_demux *d);
void sh_udp_demux_free(struct sh_udp_demux *d);
/* Sets (or with cb NULL clears) the consumer of DHT or uTP datagrams. */
void sh_udp_demux_set(struct sh_udp_demux *d, enum sh_udp_kind k, sh_udp_recv_cb cb, void *ud);
/* A tracker reply from `from` carrying tid goes to cb(ud) until
 * unregistered. Returns 0, -EEXIST (that pair is taken: pick another tid),
 * -EAFNOSUPPORT or -ENOMEM. */
int sh_udp_demux_expect(struct sh_udp_demux *d, const struct sockaddr *from, uint32_t tid,
                        sh_udp_recv_cb cb, void *ud);
/* Returns 0 or -ENOENT. */
int sh_udp_demux_unexpect(struct sh_udp_demux *d, const struct sockaddr *from, uint32_t tid);
/* Classifies one datagram, hands it to its consumer and counts it. Returns
 * the kind it was delivered as, or SH_UDP_NONE when it was dropped. */
int sh_udp_demux_input(struct sh_udp_demux *d, const uint8_t *p, size_t n,
                       const struct sockaddr *from);

#endif
