/* The peer wire codec (BEP 3, BEP 6 fast extension, BEP 10 extension
 * protocol): pure functions from bytes to messages and back. No sockets, no
 * clocks, no allocation except where a function says so.
 *
 * Framing: <length:u32 BE><id:u8><payload>. A zero length is a keep-alive. */
#ifndef SHOAL_WIRE_H
#define SHOAL_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "base/block.h"
#include "base/buf.h"

#define SH_HANDSHAKE_LEN 68
#define SH_MAX_REQUEST_LEN (128u * 1024) /* BEP 3: larger requests are refused */

/* reserved-byte flags of the handshake */
#define SH_RESERVED_EXTENDED_BYTE 5 /* BEP 10: reserved[5] & 0x10 */
#define SH_RESERVED_EXTENDED_BIT 0x10
#define SH_RESERVED_FAST_BYTE 7     /* BEP 6: reserved[7] & 0x04 */
#define SH_RESERVED_FAST_BIT 0x04
#define SH_RESERVED_DHT_BIT 0x01    /* BEP 5: reserved[7] & 0x01 */

enum sh_msg_id {
  SH_MSG_KEEPALIVE = -1,
  SH_MSG_CHOKE = 0,
  SH_MSG_UNCHOKE = 1,
  SH_MSG_INTERESTED = 2,
  SH_MSG_NOT_INTERESTED = 3,
  SH_MSG_HAVE = 4,
  SH_MSG_BITFIELD = 5,
  SH_MSG_REQUEST = 6,
  SH_MSG_PIECE = 7,
  SH_MSG_CANCEL = 8,
  SH_MSG_PORT = 9,            /* BEP 5 */
  SH_MSG_SUGGEST = 0x0d,      /* BEP 6 */
  SH_MSG_HAVE_ALL = 0x0e,
  SH_MSG_HAVE_NONE = 0x0f,
  SH_MSG_REJECT = 0x10,
  SH_MSG_ALLOWED_FAST = 0x11,
  SH_MSG_EXTENDED = 20,       /* BEP 10 */
};

struct sh_handshake {
  uint8_t reserved[8];
  uint8_t info_hash[20];
  uint8_t peer_id[20];
};

/* A decoded message. Pointers borrow from the input buffer. */
struct sh_msg {
  int id;                 /* enum sh_msg_id, or an unknown id (>= 0) */
  uint32_t index, begin, length; /* have/request/cancel/reject/suggest/allowed_fast/piece */
  const uint8_t *data;    /* bitfield bytes, piece block, extended payload, unknown payload */
  uint32_t data_len;
  uint8_t ext_id;         /* extended: 0 = handshake */
  uint16_t port;          /* port message */
};

void sh_wire_handshake_encode(uint8_t out[SH_HANDSHAKE_LEN], const struct sh_handshake *h);
/* Returns SH_HANDSHAKE_LEN when complete, 0 when more bytes are needed, or
 * SH_EPROTO (with *why) when the protocol string is wrong. */
int sh_wire_handshake_decode(const uint8_t *in, size_t len, struct sh_handshake *h,
                             const char **why);

/* Decodes one message from the front of buf. Returns the bytes it occupies
 * (> 0), 0 when incomplete, or SH_EPROTO with *why when the frame is longer
 * than max_len or a known message has the wrong size. max_len bounds what a
 * peer can make us buffer: the caller passes max(16 KiB block + 9, bitfield
 * size + 1, extension limit). */
int sh_wire_decode(const uint8_t *buf, size_t len, uint32_t max_len, struct sh_msg *m,
                   const char **why);

/* Range checks that need the torrent: index < num_pieces, begin+length inside
 * the piece, request length in (0, 128 KiB], bitfield size and spare bits,
 * piece data not empty. Returns 0 or SH_EPROTO with *why.
 * num_pieces == 0 means the size is not known yet (magnet link before the
 * metadata): only the size-free checks are made, and the caller must keep
 * index-bearing messages (bitfield, have) until it can validate them. */
int sh_wire_validate(const struct sh_msg *m, uint32_t num_pieces, uint32_t piece_length,
                     uint64_t total_length, const char **why);

/* Encoders append a whole message to b. */
void sh_wire_put_simple(struct sh_buf *b, int id); /* choke..not_interested, have_all/none */
void sh_wire_put_keepalive(struct sh_buf *b);
void sh_wire_put_have(struct sh_buf *b, uint32_t index);
void sh_wire_put_index(struct sh_buf *b, int id, uint32_t index); /* have, suggest, allowed_fast */
void sh_wire_put_request(struct sh_buf *b, int id, uint32_t index, uint32_t begin,
                         uint32_t length);                         /* request/cancel/reject */
void sh_wire_put_bitfield(struct sh_buf *b, const uint8_t *bf, uint32_t num_pieces); /* clears spare bits */
void sh_wire_put_extended(struct sh_buf *b, uint8_t ext_id, const void *payload, size_t len);
void sh_wire_put_port(struct sh_buf *b, uint16_t port);
/* The 13-byte header of a piece message, so the block itself can go out
 * from its own buffer in a second iovec without a copy. */
void sh_wire_piece_header(uint8_t out[13], uint32_t index, uint32_t begin, uint32_t block_len);

/* BEP 10 extension handshake. Unknown keys are ignored, and so is a known key
 * of the wrong type or out of range (an `m` id outside 0..255, a port outside
 * 1..65535, a `yourip` that is not 4 or 16 bytes): it reads as absent.
 * Refused (SH_EPROTO, *why) only when the payload is not a bencoded dict.
 * metadata_size is reported as sent; the metadata fetcher caps it.
 * `m` keeps at most SH_EXT_MAX entries whose names are 1..SH_EXT_NAME_MAX
 * printable bytes (real clients send a handful; the rest are dropped).
 * The encoder writes `m` always, sorted by name with zero ids left out,
 * the other keys only when set (metadata_size > 0, non-empty client,
 * yourip_len 4 or 16). */
#define SH_EXT_MAX 16
#define SH_EXT_NAME_MAX 31
struct sh_ext_id {
  char name[SH_EXT_NAME_MAX + 1];
  uint8_t id;                    /* 1..255 enables, 0 disables (BEP 10) */
};
struct sh_ext_handshake {
  struct sh_ext_id m[SH_EXT_MAX];
  int nm;
  char client[64];               /* `v`, NUL-terminated, sanitised to printable */
  uint16_t listen_port;          /* `p`, 0 when absent */
  uint32_t reqq;                 /* `reqq`, 0 when absent */
  uint8_t yourip[16];            /* `yourip` */
  uint8_t yourip_len;            /* 4, 16, or 0 */
  int64_t metadata_size;         /* -1 when absent */
};
int sh_wire_ext_handshake_decode(const uint8_t *p, size_t len, struct sh_ext_handshake *h,
                                 const char **why);
void sh_wire_ext_handshake_encode(struct sh_buf *b, const struct sh_ext_handshake *h);
/* The id `m` gives name; 0 when absent or disabled. */
uint8_t sh_wire_ext_id(const struct sh_ext_handshake *h, const char *name);
/* Adds (or replaces) name -> id in h->m; -1 when full or the name too long. */
int sh_wire_ext_set(struct sh_ext_handshake *h, const char *name, uint8_t id);

/* BEP 6 allowed-fast set for a peer at IPv4 address ip (network order bytes):
 * writes up to k piece indices into out, returns how many. */
int sh_wire_allowed_fast(const uint8_t ip[4], const uint8_t info_hash[20], uint32_t num_pieces,
                         uint32_t *out, int k);

#endif
