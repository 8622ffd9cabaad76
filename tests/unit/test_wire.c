/* Peer wire codec: every message byte for byte in both directions, partial
 * input, hostile frames, the BEP 6 allowed-fast vectors and the BEP 10
 * extension handshake. */
#include <criterion/criterion.h>
#include <string.h>

#include "base/bitfield.h"
#include "base/error.h"
#include "peer/wire.h"

#define MAXLEN (SH_BLOCK_SIZE + 9)

/* A frame as it appears on the wire, and what decoding it must give. */
struct vec {
  const char *name;
  const uint8_t *bytes;
  size_t len;
  int id;
  uint32_t index, begin, length;
  uint32_t data_off, data_len; /* data = bytes + data_off */
  uint8_t ext_id;
  uint16_t port;
};

#define B(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

static const struct vec vecs[] = {
    {"keepalive", B(0, 0, 0, 0), SH_MSG_KEEPALIVE, 0, 0, 0, 0, 0, 0, 0},
    {"choke", B(0, 0, 0, 1, 0), SH_MSG_CHOKE, 0, 0, 0, 0, 0, 0, 0},
    {"unchoke", B(0, 0, 0, 1, 1), SH_MSG_UNCHOKE, 0, 0, 0, 0, 0, 0, 0},
    {"interested", B(0, 0, 0, 1, 2), SH_MSG_INTERESTED, 0, 0, 0, 0, 0, 0, 0},
    {"not_interested", B(0, 0, 0, 1, 3), SH_MSG_NOT_INTERESTED, 0, 0, 0, 0, 0, 0, 0},
    {"have", B(0, 0, 0, 5, 4, 0, 0, 0x12, 0x34), SH_MSG_HAVE, 0x1234, 0, 0, 0, 0, 0, 0},
    {"bitfield", B(0, 0, 0, 3, 5, 0xa5, 0xc0), SH_MSG_BITFIELD, 0, 0, 0, 5, 2, 0, 0},
    {"request", B(0, 0, 0, 13, 6, 0, 0, 0, 7, 0, 0, 0x40, 0, 0, 0, 0x40, 0), SH_MSG_REQUEST, 7,
     0x4000, 0x4000, 0, 0, 0, 0},
    {"piece", B(0, 0, 0, 12, 7, 0, 0, 0, 2, 0, 0, 0, 0, 'a', 'b', 'c'), SH_MSG_PIECE, 2, 0, 3,
     13, 3, 0, 0},
    {"cancel", B(0, 0, 0, 13, 8, 0, 0, 1, 0, 0, 0, 0x80, 0, 0, 0, 0x40, 0), SH_MSG_CANCEL, 256,
     0x8000, 0x4000, 0, 0, 0, 0},
    {"port", B(0, 0, 0, 3, 9, 0x1a, 0xe1), SH_MSG_PORT, 0, 0, 0, 0, 0, 0, 6881},
    {"suggest", B(0, 0, 0, 5, 0x0d, 0, 0, 0, 9), SH_MSG_SUGGEST, 9, 0, 0, 0, 0, 0, 0},
    {"have_all", B(0, 0, 0, 1, 0x0e), SH_MSG_HAVE_ALL, 0, 0, 0, 0, 0, 0, 0},
    {"have_none", B(0, 0, 0, 1, 0x0f), SH_MSG_HAVE_NONE, 0, 0, 0, 0, 0, 0, 0},
    {"reject", B(0, 0, 0, 13, 0x10, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0x40, 0), SH_MSG_REJECT, 3, 0,
     0x4000, 0, 0, 0, 0},
    {"allowed_fast", B(0, 0, 0, 5, 0x11, 0, 0, 4, 0), SH_MSG_ALLOWED_FAST, 1024, 0, 0, 0, 0, 0,
     0},
    {"extended", B(0, 0, 0, 4, 20, 3, 'd', 'e'), SH_MSG_EXTENDED, 0, 0, 0, 6, 2, 3, 0},
    {"unknown", B(0, 0, 0, 3, 0x42, 1, 2), 0x42, 0, 0, 0, 5, 2, 0, 0},
};
#define NVEC (sizeof vecs / sizeof vecs[0])

Test(wire, decode_every_message)
{
  for (size_t i = 0; i < NVEC; i++) {
    const struct vec *v = &vecs[i];
    struct sh_msg m;
    const char *why = NULL;
    int rc = sh_wire_decode(v->bytes, v->len, MAXLEN, &m, &why);
    cr_assert_eq(rc, (int)v->len, "%s: rc %d (%s)", v->name, rc, why ? why : "");
    cr_expect_eq(m.id, v->id, "%s: id", v->name);
    cr_expect_eq(m.index, v->index, "%s: index", v->name);
    cr_expect_eq(m.begin, v->begin, "%s: begin", v->name);
    cr_expect_eq(m.length, v->length, "%s: length", v->name);
    cr_expect_eq(m.data_len, v->data_len, "%s: data_len", v->name);
    if (v->data_len)
      cr_expect_eq(m.data, v->bytes + v->data_off, "%s: data borrows the input", v->name);
    cr_expect_eq(m.ext_id, v->ext_id, "%s: ext_id", v->name);
    cr_expect_eq(m.port, v->port, "%s: port", v->name);
  }
}

/* Encodes what vecs[i] describes with the public encoders. */
static void encode(struct sh_buf *b, const struct vec *v)
{
  switch (v->id) {
  case SH_MSG_KEEPALIVE: sh_wire_put_keepalive(b); break;
  case SH_MSG_HAVE: sh_wire_put_have(b, v->index); break;
  case SH_MSG_SUGGEST:
  case SH_MSG_ALLOWED_FAST: sh_wire_put_index(b, v->id, v->index); break;
  case SH_MSG_REQUEST:
  case SH_MSG_CANCEL:
  case SH_MSG_REJECT: sh_wire_put_request(b, v->id, v->index, v->begin, v->length); break;
  case SH_MSG_BITFIELD: sh_wire_put_bitfield(b, v->bytes + 5, 10); break;
  case SH_MSG_PORT: sh_wire_put_port(b, v->port); break;
  case SH_MSG_EXTENDED: sh_wire_put_extended(b, v->ext_id, v->bytes + 6, v->data_len); break;
  case SH_MSG_PIECE: {
    uint8_t h[13];
    sh_wire_piece_header(h, v->index, v->begin, v->data_len);
    sh_buf_append(b, h, 13);
    sh_buf_append(b, v->bytes + 13, v->data_len);
    break;
  }
  default: sh_wire_put_simple(b, v->id); break;
  }
}

Test(wire, encode_every_message)
{
  for (size_t i = 0; i < NVEC; i++) {
    const struct vec *v = &vecs[i];
    if (v->id == 0x42)
      continue; /* we never send unknown messages */
    struct sh_buf b = SH_BUF_INIT;
    encode(&b, v);
    cr_assert_eq(b.len, v->len, "%s: %zu bytes, expected %zu", v->name, b.len, v->len);
    cr_expect(memcmp(b.data, v->bytes, v->len) == 0, "%s: bytes differ", v->name);
    sh_buf_free(&b);
  }
}

Test(wire, every_prefix_is_incomplete)
{
  for (size_t i = 0; i < NVEC; i++) {
    const struct vec *v = &vecs[i];
    for (size_t n = 0; n < v->len; n++) {
      struct sh_msg m;
      const char *why = NULL;
      cr_expect_eq(sh_wire_decode(v->bytes, n, MAXLEN, &m, &why), 0, "%s: prefix of %zu",
                   v->name, n);
    }
  }
}

Test(wire, stream_of_messages)
{
  struct sh_buf b = SH_BUF_INIT;
  for (size_t i = 0; i < NVEC; i++)
    sh_buf_append(&b, vecs[i].bytes, vecs[i].len);
  size_t off = 0, k = 0;
  while (off < b.len) {
    struct sh_msg m;
    const char *why;
    int rc = sh_wire_decode(b.data + off, b.len - off, MAXLEN, &m, &why);
    cr_assert_gt(rc, 0);
    cr_expect_eq(m.id, vecs[k].id, "message %zu", k);
    off += (size_t)rc;
    k++;
  }
  cr_expect_eq(k, NVEC);
  sh_buf_free(&b);
}

static void refuse(const uint8_t *p, size_t len, uint32_t max_len, const char *why_expected)
{
  struct sh_msg m;
  const char *why = NULL;
  int rc = sh_wire_decode(p, len, max_len, &m, &why);
  cr_expect_eq(rc, SH_EPROTO, "expected refusal '%s', got %d", why_expected, rc);
  cr_expect(why && strcmp(why, why_expected) == 0, "why: '%s', expected '%s'", why ? why : "(null)",
            why_expected);
}

Test(wire, oversized_frame_refused_from_the_prefix)
{
  /* only the 4 length bytes are present: refused without waiting for data */
  refuse(B(0, 1, 0, 0), 0x4000, "message length exceeds the limit for this connection");
  refuse(B(0xff, 0xff, 0xff, 0xff), MAXLEN, "message length exceeds the limit for this connection");
  /* whatever the caller's limit, a frame must fit the int return value */
  refuse(B(0x7f, 0xff, 0xff, 0xff), UINT32_MAX, "message length exceeds the limit for this connection");
  refuse(B(0xff, 0xff, 0xff, 0xff), UINT32_MAX, "message length exceeds the limit for this connection");
  /* exactly max_len is fine, and then incomplete */
  struct sh_msg m;
  const char *why;
  cr_expect_eq(sh_wire_decode(B(0, 0, 0x40, 0x09, 7), MAXLEN, &m, &why), 0);
}

Test(wire, wrong_sizes_refused_as_soon_as_the_id_is_in)
{
  refuse(B(0, 0, 0, 2, 0), MAXLEN, "choke message is not 1 byte long");
  refuse(B(0, 0, 0, 5, 1), MAXLEN, "unchoke message is not 1 byte long");
  refuse(B(0, 0, 0, 2, 2, 0), MAXLEN, "interested message is not 1 byte long");
  refuse(B(0, 0, 0, 9, 3), MAXLEN, "not-interested message is not 1 byte long");
  refuse(B(0, 0, 0, 4, 4, 0, 0, 1), MAXLEN, "have message is not 5 bytes long");
  refuse(B(0, 0, 0, 6, 4), MAXLEN, "have message is not 5 bytes long");
  refuse(B(0, 0, 0, 12, 6), MAXLEN, "request message is not 13 bytes long");
  refuse(B(0, 0, 0, 14, 8), MAXLEN, "cancel message is not 13 bytes long");
  refuse(B(0, 0, 0, 1, 0x10), MAXLEN, "reject message is not 13 bytes long");
  refuse(B(0, 0, 0, 8, 7), MAXLEN, "piece message shorter than its 9-byte header");
  refuse(B(0, 0, 0, 2, 9, 1), MAXLEN, "port message is not 3 bytes long");
  refuse(B(0, 0, 0, 1, 20), MAXLEN, "extended message without its extension id");
  refuse(B(0, 0, 0, 2, 0x0e), MAXLEN, "have-all message is not 1 byte long");
  refuse(B(0, 0, 0, 2, 0x0f), MAXLEN, "have-none message is not 1 byte long");
  refuse(B(0, 0, 0, 1, 0x0d), MAXLEN, "suggest message is not 5 bytes long");
  refuse(B(0, 0, 0, 1, 0x11), MAXLEN, "allowed-fast message is not 5 bytes long");
}

Test(wire, zero_length_piece_data_is_refused_by_validate)
{
  struct sh_msg m;
  const char *why = NULL;
  cr_assert_eq(sh_wire_decode(B(0, 0, 0, 9, 7, 0, 0, 0, 0, 0, 0, 0, 0), MAXLEN, &m, &why), 13);
  cr_expect_eq(sh_wire_validate(&m, 10, 32768, 10 * 32768, &why), SH_EPROTO);
  cr_expect_str_eq(why, "piece message carries no data");
}

/* A torrent of 10 pieces of 40000 bytes (not a multiple of 16 KiB), the
 * last piece 12345 bytes long. */
#define NP 10
#define PL 40000u
#define TL (9ull * PL + 12345)

static int val(int id, uint32_t index, uint32_t begin, uint32_t length, const char **why)
{
  struct sh_msg m = {0};
  m.id = id;
  m.index = index;
  m.begin = begin;
  m.length = length;
  if (id == SH_MSG_PIECE)
    m.data_len = length;
  return sh_wire_validate(&m, NP, PL, TL, why);
}

static void val_ok(int id, uint32_t index, uint32_t begin, uint32_t length)
{
  const char *why = NULL;
  int rc = val(id, index, begin, length, &why);
  cr_expect_eq(rc, 0, "id %d %u/%u/%u refused: %s", id, index, begin, length, why ? why : "");
}

static void val_bad(int id, uint32_t index, uint32_t begin, uint32_t length, const char *expect)
{
  const char *why = NULL;
  cr_expect_eq(val(id, index, begin, length, &why), SH_EPROTO, "id %d %u/%u/%u accepted", id,
               index, begin, length);
  cr_expect(why && strcmp(why, expect) == 0, "why '%s', expected '%s'", why ? why : "(null)",
            expect);
}

Test(wire, validate_requests)
{
  val_ok(SH_MSG_REQUEST, 0, 0, 16384);
  val_ok(SH_MSG_REQUEST, 0, 32768, PL - 32768); /* short last block of a piece */
  val_ok(SH_MSG_REQUEST, 9, 0, 12345);          /* the whole short last piece */
  val_ok(SH_MSG_REQUEST, 0, 0, PL);             /* 40000 <= 128 KiB */
  val_bad(SH_MSG_REQUEST, 0, 0, 0, "request for zero bytes");
  val_bad(SH_MSG_REQUEST, 10, 0, 16384, "request for a piece index past the end");
  val_bad(SH_MSG_REQUEST, 0xffffffffu, 0, 16384, "request for a piece index past the end");
  val_bad(SH_MSG_REQUEST, 0, 32768, 16384, "request runs past the end of its piece");
  val_bad(SH_MSG_REQUEST, 9, 0, 12346, "request runs past the end of its piece");
  val_bad(SH_MSG_REQUEST, 0, 0xffffc000u, 16384, "request runs past the end of its piece");
  val_bad(SH_MSG_REQUEST, 0, 0, 128 * 1024 + 1, "request larger than 128 KiB");
  val_bad(SH_MSG_CANCEL, 0, 0, 0, "request for zero bytes");
  val_bad(SH_MSG_REJECT, 11, 0, 1, "request for a piece index past the end");
  val_ok(SH_MSG_CANCEL, 3, 16384, 16384);
  val_ok(SH_MSG_REJECT, 9, 12344, 1);
}

Test(wire, validate_pieces_and_indices)
{
  val_ok(SH_MSG_PIECE, 9, 0, 12345);
  val_bad(SH_MSG_PIECE, 9, 1, 12345, "piece message data runs past the end of its piece");
  val_bad(SH_MSG_PIECE, NP, 0, 1, "piece message for an index past the end");
  val_ok(SH_MSG_HAVE, 9, 0, 0);
  val_bad(SH_MSG_HAVE, 10, 0, 0, "have for a piece index past the end");
  val_bad(SH_MSG_SUGGEST, 10, 0, 0, "suggest for a piece index past the end");
  val_bad(SH_MSG_ALLOWED_FAST, 10, 0, 0, "allowed-fast for a piece index past the end");
  val_ok(SH_MSG_CHOKE, 12345, 0, 0); /* no index in a choke: nothing to check */
}

Test(wire, validate_bitfield)
{
  const char *why = NULL;
  struct sh_msg m = {0};
  uint8_t bf[3] = {0xff, 0xc0, 0};
  m.id = SH_MSG_BITFIELD;
  m.data = bf;
  m.data_len = 2;
  cr_expect_eq(sh_wire_validate(&m, NP, PL, TL, &why), 0, "10 pieces in 2 bytes");
  bf[1] = 0xe0;
  cr_expect_eq(sh_wire_validate(&m, NP, PL, TL, &why), SH_EPROTO);
  cr_expect_str_eq(why, "bitfield has spare bits set past the last piece");
  bf[1] = 0xc1;
  cr_expect_eq(sh_wire_validate(&m, NP, PL, TL, &why), SH_EPROTO, "lowest spare bit");
  bf[1] = 0xc0;
  m.data_len = 3;
  cr_expect_eq(sh_wire_validate(&m, NP, PL, TL, &why), SH_EPROTO);
  cr_expect_str_eq(why, "bitfield length does not match the number of pieces");
  m.data_len = 1;
  cr_expect_eq(sh_wire_validate(&m, NP, PL, TL, &why), SH_EPROTO);
  /* 16 pieces: no spare bits at all */
  m.data_len = 2;
  bf[1] = 0xff;
  cr_expect_eq(sh_wire_validate(&m, 16, 16384, 16 * 16384, &why), 0);
}

Test(wire, validate_before_metadata_is_known)
{
  const char *why = NULL;
  struct sh_msg m = {0};
  m.id = SH_MSG_HAVE;
  m.index = 123456;
  cr_expect_eq(sh_wire_validate(&m, 0, 0, 0, &why), 0, "no size yet: the caller holds it");
  m.id = SH_MSG_REQUEST;
  m.length = 200000;
  cr_expect_eq(sh_wire_validate(&m, 0, 0, 0, &why), SH_EPROTO, "size limits still apply");
}

Test(wire, put_bitfield_clears_spare_bits)
{
  uint8_t bf[2] = {0xff, 0xff};
  struct sh_buf b = SH_BUF_INIT;
  sh_wire_put_bitfield(&b, bf, 10);
  const uint8_t want[] = {0, 0, 0, 3, 5, 0xff, 0xc0};
  cr_assert_eq(b.len, sizeof want);
  cr_expect(memcmp(b.data, want, sizeof want) == 0);
  sh_buf_free(&b);
}

static const uint8_t hs_bytes[SH_HANDSHAKE_LEN] = {
    19, 'B', 'i', 't', 'T', 'o', 'r', 'r', 'e', 'n', 't', ' ', 'p', 'r', 'o', 't', 'o', 'c', 'o',
    'l',
    /* reserved: extension protocol (byte 5, 0x10), fast + DHT (byte 7, 0x05) */
    0, 0, 0, 0, 0, 0x10, 0, 0x05,
    /* info hash */
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
    /* peer id, BEP 20 style */
    '-', 'S', 'H', '0', '1', '0', '0', '-', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k',
    'l'};

Test(wire, handshake_roundtrip_with_reserved_bits)
{
  struct sh_handshake h;
  const char *why = NULL;
  cr_assert_eq(sh_wire_handshake_decode(hs_bytes, sizeof hs_bytes, &h, &why), SH_HANDSHAKE_LEN);
  cr_expect(h.reserved[SH_RESERVED_EXTENDED_BYTE] & SH_RESERVED_EXTENDED_BIT);
  cr_expect(h.reserved[SH_RESERVED_FAST_BYTE] & SH_RESERVED_FAST_BIT);
  cr_expect(h.reserved[SH_RESERVED_FAST_BYTE] & SH_RESERVED_DHT_BIT);
  cr_expect_eq(h.info_hash[0], 1);
  cr_expect_eq(h.info_hash[19], 20);
  cr_expect(memcmp(h.peer_id, "-SH0100-abcdefghijkl", 20) == 0);
  uint8_t out[SH_HANDSHAKE_LEN];
  sh_wire_handshake_encode(out, &h);
  cr_expect(memcmp(out, hs_bytes, sizeof out) == 0);
  /* followed by messages: only the 68 bytes are consumed */
  uint8_t more[SH_HANDSHAKE_LEN + 5];
  memcpy(more, hs_bytes, SH_HANDSHAKE_LEN);
  memcpy(more + SH_HANDSHAKE_LEN, (uint8_t[]){0, 0, 0, 1, 2}, 5);
  cr_expect_eq(sh_wire_handshake_decode(more, sizeof more, &h, &why), SH_HANDSHAKE_LEN);
}

Test(wire, handshake_prefixes_and_garbage)
{
  struct sh_handshake h;
  const char *why = NULL;
  for (size_t n = 0; n < SH_HANDSHAKE_LEN; n++)
    cr_expect_eq(sh_wire_handshake_decode(hs_bytes, n, &h, &why), 0, "prefix %zu", n);
  uint8_t bad[SH_HANDSHAKE_LEN];
  memcpy(bad, hs_bytes, sizeof bad);
  bad[0] = 18;
  cr_expect_eq(sh_wire_handshake_decode(bad, 1, &h, &why), SH_EPROTO, "refused at byte 1");
  memcpy(bad, hs_bytes, sizeof bad);
  bad[11] = 'X';
  cr_expect_eq(sh_wire_handshake_decode(bad, 11, &h, &why), 0, "good so far");
  cr_expect_eq(sh_wire_handshake_decode(bad, 12, &h, &why), SH_EPROTO, "refused at the bad byte");
  cr_expect_str_eq(why, "handshake protocol name is not \"BitTorrent protocol\"");
  cr_expect_eq(sh_wire_handshake_decode((const uint8_t *)"GET / HTTP/1.1\r\n", 16, &h, &why),
               SH_EPROTO);
}

/* BEP 6 "Example results": 1313 pieces, info hash 0xaa * 20, IP 80.4.4.200. */
Test(wire, allowed_fast_bep6_vectors)
{
  uint8_t ih[20];
  memset(ih, 0xaa, sizeof ih);
  const uint8_t ip[4] = {80, 4, 4, 200};
  uint32_t out[9];
  const uint32_t seven[] = {1059, 431, 808, 1217, 287, 376, 1188};
  cr_assert_eq(sh_wire_allowed_fast(ip, ih, 1313, out, 7), 7);
  for (int i = 0; i < 7; i++)
    cr_expect_eq(out[i], seven[i], "[%d] = %u, expected %u", i, out[i], seven[i]);
  /* "if one offers k+1 it will be the same k plus one more": the 9-set of
   * the same example is the 7-set followed by 353, 508 */
  const uint32_t nine[] = {1059, 431, 808, 1217, 287, 376, 1188, 353, 508};
  cr_assert_eq(sh_wire_allowed_fast(ip, ih, 1313, out, 9), 9);
  for (int i = 0; i < 9; i++)
    cr_expect_eq(out[i], nine[i], "[%d] = %u, expected %u", i, out[i], nine[i]);
  /* only the /24 counts */
  const uint8_t ip2[4] = {80, 4, 4, 1};
  uint32_t out2[9];
  cr_assert_eq(sh_wire_allowed_fast(ip2, ih, 1313, out2, 9), 9);
  cr_expect(memcmp(out, out2, sizeof out) == 0);
}

Test(wire, allowed_fast_small_torrents)
{
  uint8_t ih[20];
  memset(ih, 0xaa, sizeof ih);
  const uint8_t ip[4] = {127, 0, 0, 1};
  uint32_t out[10];
  /* 3 pieces: the set holds at most 3 distinct indices, and terminates */
  int n = sh_wire_allowed_fast(ip, ih, 3, out, 10);
  cr_assert_eq(n, 3);
  cr_expect(out[0] != out[1] && out[1] != out[2] && out[0] != out[2]);
  for (int i = 0; i < n; i++)
    cr_expect_lt(out[i], 3);
  cr_expect_eq(sh_wire_allowed_fast(ip, ih, 0, out, 10), 0);
  cr_expect_eq(sh_wire_allowed_fast(ip, ih, 1, out, 10), 1);
  cr_expect_eq(out[0], 0);
}

static int ext_decode(const char *s, struct sh_ext_handshake *h, const char **why)
{
  return sh_wire_ext_handshake_decode((const uint8_t *)s, strlen(s), h, why);
}

Test(wire, ext_handshake_decode_full)
{
  struct sh_ext_handshake h;
  const char *why = NULL;
  const char *s = "d1:md11:ut_metadatai3e6:ut_pexi1e11:lt_donthavei7ee13:metadata_sizei31235e"
                  "1:pi6881e4:reqqi500e1:v17:libtorrent 2.0.10"
                  "6:yourip4:\x0a\x01\x02\x03"
                  "12:unknown_junkli1ei2eee";
  cr_assert_eq(ext_decode(s, &h, &why), 0, "%s", why ? why : "");
  cr_expect_eq(sh_wire_ext_id(&h, "ut_metadata"), 3);
  cr_expect_eq(sh_wire_ext_id(&h, "ut_pex"), 1);
  cr_expect_eq(h.metadata_size, 31235);
  cr_expect_eq(h.listen_port, 6881);
  cr_expect_eq(h.reqq, 500);
  cr_expect_str_eq(h.client, "libtorrent 2.0.10");
  cr_expect_eq(h.yourip_len, 4);
  cr_expect(memcmp(h.yourip, "\x0a\x01\x02\x03", 4) == 0);
}

Test(wire, ext_handshake_bep10_example)
{
  /* the example of BEP 10: unknown extension names are ignored, the
   * client name is UTF-8 and survives intact */
  struct sh_ext_handshake h;
  const char *why = NULL;
  const char *s = "d1:md11:LT_metadatai1e7:\xc2\xb5T_PEXi2ee1:pi6881e1:v13:\xc2\xb5Torrent 1.2e";
  cr_assert_eq(ext_decode(s, &h, &why), 0, "%s", why ? why : "");
  cr_expect_eq(sh_wire_ext_id(&h, "ut_metadata"), 0);
  cr_expect_eq(sh_wire_ext_id(&h, "ut_pex"), 0);
  cr_expect_eq(h.listen_port, 6881);
  cr_expect_str_eq(h.client, "\xc2\xb5Torrent 1.2");
  cr_expect_eq(h.metadata_size, -1);
  cr_expect_eq(h.reqq, 0);
  cr_expect_eq(h.yourip_len, 0);
}

Test(wire, ext_handshake_bad_types_are_ignored)
{
  struct sh_ext_handshake h;
  const char *why = NULL;
  const char *s = "d1:mli1ee13:metadata_size3:abc1:pi70000e4:reqqi-5e1:vi5e6:yourip3:abce";
  cr_assert_eq(ext_decode(s, &h, &why), 0);
  cr_expect_eq(sh_wire_ext_id(&h, "ut_metadata"), 0);
  cr_expect_eq(h.metadata_size, -1);
  cr_expect_eq(h.listen_port, 0, "port 70000 is not a port");
  cr_expect_eq(h.reqq, 0);
  cr_expect_str_eq(h.client, "");
  cr_expect_eq(h.yourip_len, 0, "3-byte address");
  s = "d1:md11:ut_metadatai256e6:ut_pexi-1eee";
  cr_assert_eq(ext_decode(s, &h, &why), 0);
  cr_expect_eq(sh_wire_ext_id(&h, "ut_metadata"), 0, "id 256 cannot be sent in one byte");
  cr_expect_eq(sh_wire_ext_id(&h, "ut_pex"), 0);
  s = "d1:md11:ut_metadata1:1e1:v3:a\x01\x7f"
      "e";
  cr_assert_eq(ext_decode(s, &h, &why), 0);
  cr_expect_eq(sh_wire_ext_id(&h, "ut_metadata"), 0);
  cr_expect_str_eq(h.client, "a??", "control bytes are replaced");
}

Test(wire, ext_handshake_m_is_bounded_and_clean)
{
  /* 20 extensions: the first 16 are kept; names with spaces, empty names
   * and names over 31 bytes are dropped */
  struct sh_buf b = SH_BUF_INIT;
  sh_buf_puts(&b, "d1:md");
  for (int i = 0; i < 20; i++)
    sh_buf_printf(&b, "4:x_%02di%de", i, i + 1);
  sh_buf_puts(&b, "e1:pi1ee");
  struct sh_ext_handshake h;
  const char *why = NULL;
  cr_assert_eq(sh_wire_ext_handshake_decode(b.data, b.len, &h, &why), 0);
  cr_expect_eq(h.nm, SH_EXT_MAX);
  cr_expect_eq(sh_wire_ext_id(&h, "x_00"), 1);
  cr_expect_eq(sh_wire_ext_id(&h, "x_15"), 16);
  cr_expect_eq(sh_wire_ext_id(&h, "x_16"), 0, "past the cap");
  sh_buf_free(&b);
  const char *s = "d1:md0:i1e3:a bi2e32:abcdefghijklmnopqrstuvwxyz012345i3e4:goodi4eee";
  cr_assert_eq(ext_decode(s, &h, &why), 0);
  cr_expect_eq(h.nm, 1);
  cr_expect_eq(sh_wire_ext_id(&h, "good"), 4);
  cr_expect_eq(sh_wire_ext_set(&h, "abcdefghijklmnopqrstuvwxyz012345", 9), -1, "name too long");
}

Test(wire, ext_handshake_refusals)
{
  struct sh_ext_handshake h;
  const char *why = NULL;
  cr_expect_eq(ext_decode("li1ee", &h, &why), SH_EPROTO);
  cr_expect_str_eq(why, "extension handshake is not a dictionary");
  cr_expect_eq(ext_decode("d1:m", &h, &why), SH_EPROTO);
  cr_expect_str_eq(why, "extension handshake is not valid bencode");
  cr_expect_eq(sh_wire_ext_handshake_decode((const uint8_t *)"", 0, &h, &why), SH_EPROTO);
  cr_expect_eq(ext_decode("d1:pi1eexx", &h, &why), SH_EPROTO, "trailing bytes");
}

Test(wire, ext_handshake_huge_v_is_cut)
{
  /* 10000-byte client name: cut to the field, NUL-terminated */
  struct sh_buf b = SH_BUF_INIT;
  sh_buf_puts(&b, "d1:v10000:");
  for (int i = 0; i < 10000; i++)
    sh_buf_putc(&b, 'x');
  sh_buf_puts(&b, "e");
  struct sh_ext_handshake h;
  const char *why = NULL;
  cr_assert_eq(sh_wire_ext_handshake_decode(b.data, b.len, &h, &why), 0);
  cr_expect_eq(strlen(h.client), sizeof h.client - 1);
  sh_buf_free(&b);
  /* a multi-byte character is not split at the cut: 31 x "é" (2 bytes)
   * plus one more would need 64 bytes + NUL */
  sh_buf_puts(&b, "d1:v66:");
  for (int i = 0; i < 33; i++)
    sh_buf_puts(&b, "\xc3\xa9");
  sh_buf_puts(&b, "e");
  cr_assert_eq(sh_wire_ext_handshake_decode(b.data, b.len, &h, &why), 0);
  cr_expect_eq(strlen(h.client), 62);
  sh_buf_free(&b);
  /* broken UTF-8 becomes '?' */
  cr_assert_eq(ext_decode("d1:v4:a\xc3(be", &h, &why), 0);
  cr_expect_str_eq(h.client, "a?(b");
}

Test(wire, ext_handshake_encode_roundtrip)
{
  struct sh_ext_handshake h = {0};
  /* set out of order: the encoder sorts `m` */
  sh_wire_ext_set(&h, "ut_pex", 1);
  sh_wire_ext_set(&h, "ut_metadata", 2);
  sh_wire_ext_set(&h, "lt_donthave", 0); /* disabled: left out */
  h.listen_port = 51413;
  h.reqq = 250;
  h.metadata_size = 4096;
  strcpy(h.client, "shoal 0.1.0");
  memcpy(h.yourip, "\x7f\x00\x00\x01", 4);
  h.yourip_len = 4;
  struct sh_buf b = SH_BUF_INIT;
  sh_wire_ext_handshake_encode(&b, &h);
  static const char want[] = "d1:md11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei4096e"
                             "1:pi51413e4:reqqi250e1:v11:shoal 0.1.06:yourip4:\x7f\x00\x00\x01"
                             "e";
  size_t wl = sizeof want - 1;
  cr_assert_eq(b.len, wl, "%zu bytes: %.*s", b.len, (int)b.len, b.data);
  cr_expect(memcmp(b.data, want, wl) == 0, "%.*s", (int)b.len, b.data);
  struct sh_ext_handshake g;
  const char *why = NULL;
  cr_assert_eq(sh_wire_ext_handshake_decode(b.data, b.len, &g, &why), 0);
  cr_expect_eq(sh_wire_ext_id(&g, "ut_metadata"), 2);
  cr_expect_eq(sh_wire_ext_id(&g, "ut_pex"), 1);
  cr_expect_eq(g.nm, 2);
  cr_expect_eq(g.listen_port, 51413);
  cr_expect_eq(g.reqq, 250);
  cr_expect_eq(g.metadata_size, 4096);
  cr_expect_str_eq(g.client, "shoal 0.1.0");
  sh_buf_free(&b);
  /* a minimal one: an empty `m` and nothing else */
  struct sh_ext_handshake z = {0};
  z.metadata_size = -1;
  sh_wire_ext_handshake_encode(&b, &z);
  cr_assert_eq(b.len, 7);
  cr_expect(memcmp(b.data, "d1:mdee", 7) == 0);
  sh_buf_free(&b);
}
