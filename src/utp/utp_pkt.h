/* The uTP packet format (BEP 29), as pure code: a 20-byte header, a
 * linked list of extensions, then the payload. Parsing takes a datagram
 * and returns views into it; writing fills a caller's buffer. No state, no
 * allocation, so every packet type is unit-tested byte for byte and the
 * parser is fuzzed.
 *
 *   byte 0      type (high nibble) and version 1 (low nibble)
 *   byte 1      first extension type (0: none)
 *   bytes 2-3   connection id
 *   bytes 4-7   timestamp, microseconds (the sender's clock, low 32 bits)
 *   bytes 8-11  timestamp difference: the sender's latest one-way delay
 *               sample of our packets
 *   bytes 12-15 advertised receive window, bytes
 *   bytes 16-17 seq_nr, bytes 18-19 ack_nr
 * all big-endian. Each extension is [next type][len] and len bytes.
 *
 * Extensions: 1 is the selective ACK (a bitmask of at least 4 bytes, in
 * multiples of 4, bit 0 of byte 0 standing for ack_nr + 2; we write it so
 * and read any length). Others are
 * skipped, as BEP 29 asks; we send one of our own, SH_UTP_EXT_PAD, only to
 * grow an MTU probe to the size being probed (see utp.h): its bytes are
 * zeros and mean nothing, so a peer that skips it loses nothing. */
#ifndef SHOAL_UTP_PKT_H
#define SHOAL_UTP_PKT_H

#include <stddef.h>
#include <stdint.h>

enum sh_utp_type {
  SH_UTP_DATA = 0,  /* payload, consumes a sequence number */
  SH_UTP_FIN = 1,   /* the last sequence number of this direction */
  SH_UTP_STATE = 2, /* an ack; carries the next seq_nr but does not use it */
  SH_UTP_RESET = 3, /* the sender has no state for this connection */
  SH_UTP_SYN = 4,   /* opens a connection */
};

#define SH_UTP_VERSION 1
#define SH_UTP_HDR 20
#define SH_UTP_EXT_SACK 1
/* Padding for MTU probes (0x53, 'S'): a number no implementation we know
 * gives a meaning (libutp uses 2, libtorrent 3). */
#define SH_UTP_EXT_PAD 0x53
/* The longest selective ACK we write or read: 1024 packets past ack_nr + 1
 * (128 bytes), far more than a receive window of ours holds. */
#define SH_UTP_SACK_MAX 128

struct sh_utp_hdr {
  uint8_t type;        /* enum sh_utp_type */
  uint8_t ext;         /* the first extension's type, 0 for none */
  uint16_t conn_id;
  uint32_t ts_us;
  uint32_t ts_diff_us;
  uint32_t wnd;
  uint16_t seq;
  uint16_t ack;
};

/* A parsed packet: views into the datagram it came from. */
struct sh_utp_pkt {
  struct sh_utp_hdr h;
  const uint8_t *sack;  /* the first selective ACK's mask, or NULL */
  size_t sack_len;      /* bytes, a multiple of 4 */
  const uint8_t *payload;
  size_t len;
};

/* Parses a datagram. Returns 0, or SH_EPROTO with *why saying what is
 * wrong: shorter than a header, not version 1, an unknown type, an
 * extension running past the end. A selective ACK of any length is read
 * (libtorrent's are not always multiples of 4; longer ones are cut to
 * SH_UTP_SACK_MAX; an empty one counts as none). */
int sh_utp_pkt_parse(const uint8_t *p, size_t n, struct sh_utp_pkt *out, const char **why);

/* Writes the 20-byte header; returns SH_UTP_HDR. */
size_t sh_utp_hdr_put(uint8_t *out, const struct sh_utp_hdr *h);
/* Writes one extension: [next][len] and len bytes of body (body NULL:
 * zeros). Returns 2 + len. */
size_t sh_utp_ext_put(uint8_t *out, uint8_t next, const uint8_t *body, uint8_t len);

static inline uint16_t sh_utp_rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t sh_utp_rd32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void sh_utp_wr16(uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void sh_utp_wr32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* Sequence numbers wrap at 2^16: a is before b when a - b, read as a
 * signed 16-bit number, is negative (b is at most 32768 ahead). */
static inline int sh_utp_seq_lt(uint16_t a, uint16_t b) { return (int16_t)(uint16_t)(a - b) < 0; }

#endif
