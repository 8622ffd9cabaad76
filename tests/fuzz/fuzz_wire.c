/* libFuzzer target: the peer wire codec as a hostile peer drives it.
 *
 * Input layout: 4 parameter bytes, then (optionally) a handshake, then a
 * stream of frames.
 *   [0..1] number of pieces, big-endian (0: size unknown, as for a magnet
 *          link before its metadata)
 *   [2]    piece length: 16 KiB << (b & 7), minus (b >> 3) * 1000 bytes so
 *          lengths that are not a multiple of 16 KiB come up too
 *   [3]    max frame length: 16 KiB + 9 plus b * 1024
 * Every frame is decoded, validated against those parameters, and checked:
 * borrowed pointers stay inside the input, accepted requests are in range,
 * and known messages re-encode to exactly the bytes they came from. An
 * extension handshake (ext id 0) is decoded and must survive a round trip
 * through our encoder. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitfield.h"
#include "base/buf.h"
#include "base/error.h"
#include "peer/wire.h"

#define CHECK(c) \
  do {           \
    if (!(c))    \
      abort();   \
  } while (0)

static void reencode(const struct sh_msg *m, const uint8_t *frame, int len)
{
  struct sh_buf b = SH_BUF_INIT;
  switch (m->id) {
  case SH_MSG_KEEPALIVE: sh_wire_put_keepalive(&b); break;
  case SH_MSG_CHOKE:
  case SH_MSG_UNCHOKE:
  case SH_MSG_INTERESTED:
  case SH_MSG_NOT_INTERESTED:
  case SH_MSG_HAVE_ALL:
  case SH_MSG_HAVE_NONE: sh_wire_put_simple(&b, m->id); break;
  case SH_MSG_HAVE:
  case SH_MSG_SUGGEST:
  case SH_MSG_ALLOWED_FAST: sh_wire_put_index(&b, m->id, m->index); break;
  case SH_MSG_REQUEST:
  case SH_MSG_CANCEL:
  case SH_MSG_REJECT: sh_wire_put_request(&b, m->id, m->index, m->begin, m->length); break;
  case SH_MSG_PORT: sh_wire_put_port(&b, m->port); break;
  case SH_MSG_EXTENDED: sh_wire_put_extended(&b, m->ext_id, m->data, m->data_len); break;
  case SH_MSG_PIECE: {
    uint8_t h[13];
    sh_wire_piece_header(h, m->index, m->begin, m->data_len);
    sh_buf_append(&b, h, 13);
    sh_buf_append(&b, m->data, m->data_len);
    break;
  }
  default:
    return; /* bitfield (spare bits may differ) and unknown ids */
  }
  CHECK(!b.oom);
  CHECK(b.len == (size_t)len && memcmp(b.data, frame, b.len) == 0);
  sh_buf_free(&b);
}

static void ext_roundtrip(const uint8_t *p, size_t n)
{
  struct sh_ext_handshake h, g;
  const char *why = NULL;
  int rc = sh_wire_ext_handshake_decode(p, n, &h, &why);
  if (rc != 0) {
    CHECK(rc == SH_EPROTO || rc == -ENOMEM);
    CHECK(why != NULL);
    return;
  }
  CHECK(memchr(h.client, 0, sizeof h.client) != NULL);
  CHECK(h.yourip_len == 0 || h.yourip_len == 4 || h.yourip_len == 16);
  struct sh_buf b = SH_BUF_INIT;
  sh_wire_ext_handshake_encode(&b, &h);
  CHECK(!b.oom);
  CHECK(sh_wire_ext_handshake_decode(b.data, b.len, &g, &why) == 0);
  /* `m` survives, but for disabled (id 0) entries, which are left out */
  int enabled = 0;
  for (int i = 0; i < h.nm; i++)
    if (h.m[i].id) {
      enabled++;
      CHECK(sh_wire_ext_id(&g, h.m[i].name) == h.m[i].id);
    }
  CHECK(g.nm == enabled);
  CHECK(g.listen_port == h.listen_port && g.reqq == h.reqq);
  CHECK(strcmp(g.client, h.client) == 0);
  CHECK(g.yourip_len == h.yourip_len && memcmp(g.yourip, h.yourip, h.yourip_len) == 0);
  CHECK(g.metadata_size == (h.metadata_size > 0 ? h.metadata_size : -1));
  sh_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 4)
    return 0;
  uint32_t num_pieces = sh_rd16(data);
  uint32_t piece_length = (16384u << (data[2] & 7)) - (uint32_t)(data[2] >> 3) * 1000u;
  uint32_t max_len = SH_BLOCK_SIZE + 9 + (uint32_t)data[3] * 1024;
  /* total length: every piece full but the last, which is half (at least 1) */
  uint64_t total = num_pieces ? (uint64_t)(num_pieces - 1) * piece_length + piece_length / 2 + 1
                              : 0;
  const uint8_t *p = data + 4;
  size_t len = size - 4;

  struct sh_handshake h;
  const char *why = NULL;
  int rc = sh_wire_handshake_decode(p, len, &h, &why);
  CHECK(rc == 0 || rc == SH_HANDSHAKE_LEN || (rc == SH_EPROTO && why));
  if (rc == SH_HANDSHAKE_LEN) {
    uint8_t out[SH_HANDSHAKE_LEN];
    sh_wire_handshake_encode(out, &h);
    CHECK(memcmp(out, p, SH_HANDSHAKE_LEN) == 0);
    p += SH_HANDSHAKE_LEN;
    len -= SH_HANDSHAKE_LEN;
  }

  while (len > 0) {
    struct sh_msg m;
    why = NULL;
    rc = sh_wire_decode(p, len, max_len, &m, &why);
    if (rc == 0)
      break; /* incomplete: a real connection would wait for more */
    if (rc < 0) {
      CHECK(rc == SH_EPROTO && why);
      break; /* a real connection would close here */
    }
    CHECK((size_t)rc <= len && (uint32_t)rc <= max_len + 4);
    if (m.data_len)
      CHECK(m.data >= p && m.data + m.data_len <= p + rc);
    why = NULL;
    int v = sh_wire_validate(&m, num_pieces, piece_length, total, &why);
    CHECK(v == 0 || (v == SH_EPROTO && why));
    if (v == 0 && num_pieces) {
      switch (m.id) {
      case SH_MSG_REQUEST:
      case SH_MSG_CANCEL:
      case SH_MSG_REJECT:
        CHECK(m.index < num_pieces && m.length > 0 && m.length <= SH_MAX_REQUEST_LEN);
        CHECK((uint64_t)m.index * piece_length + m.begin + m.length <= total);
        break;
      case SH_MSG_PIECE:
        CHECK((uint64_t)m.index * piece_length + m.begin + m.data_len <= total);
        break;
      case SH_MSG_BITFIELD:
        CHECK(m.data_len == SH_BF_BYTES(num_pieces));
        CHECK(sh_bf_count(m.data, num_pieces) <= num_pieces);
        break;
      case SH_MSG_HAVE:
        CHECK(m.index < num_pieces);
        break;
      default:
        break;
      }
    }
    reencode(&m, p, rc);
    if (m.id == SH_MSG_EXTENDED && m.ext_id == 0)
      ext_roundtrip(m.data, m.data_len);
    p += rc;
    len -= (size_t)rc;
  }

  /* the allowed-fast set: any size, k up to 12, always distinct and in range */
  if (num_pieces && size >= 12) {
    uint8_t ih[20] = {0};
    memcpy(ih, data + 4, size - 4 < 20 ? size - 4 : 20);
    uint32_t set[12];
    int k = 1 + data[3] % 12;
    int n = sh_wire_allowed_fast(data + 4, ih, num_pieces, set, k);
    CHECK(n == (k < (int)num_pieces ? k : (int)num_pieces));
    for (int i = 0; i < n; i++) {
      CHECK(set[i] < num_pieces);
      for (int j = 0; j < i; j++)
        CHECK(set[i] != set[j]);
    }
  }
  return 0;
}
