/* The peer wire codec: BEP 3 framing and messages, the BEP 6 fast extension,
 * and the BEP 10 extension handshake. Pure; see wire.h for the contract. */
#include "peer/wire.h"

#include <string.h>

#include "base/bencode.h"
#include "base/bitfield.h"
#include "base/error.h"
#include "base/sha1.h"

/* BEP 3: the handshake is <19>"BitTorrent protocol"<reserved:8><info_hash:20>
 * <peer_id:20>, 1 + 19 + 8 + 20 + 20 = 68 bytes. */
static const char PSTR[] = "BitTorrent protocol";
#define PSTRLEN 19

void sh_wire_handshake_encode(uint8_t out[SH_HANDSHAKE_LEN], const struct sh_handshake *h)
{
  out[0] = PSTRLEN;
  memcpy(out + 1, PSTR, PSTRLEN);
  memcpy(out + 20, h->reserved, 8);
  memcpy(out + 28, h->info_hash, 20);
  memcpy(out + 48, h->peer_id, 20);
}

int sh_wire_handshake_decode(const uint8_t *in, size_t len, struct sh_handshake *h,
                             const char **why)
{
  /* Refuse as early as the bytes allow: a peer speaking some other protocol
   * (or an HTTP client that dialled the wrong port) is told off after its
   * first byte, not after we wait for 68 of them. */
  if (len >= 1 && in[0] != PSTRLEN) {
    *why = "handshake does not start with the 19-byte protocol name length";
    return SH_EPROTO;
  }
  size_t have = len < 1 + PSTRLEN ? (len ? len - 1 : 0) : PSTRLEN;
  if (have && memcmp(in + 1, PSTR, have) != 0) {
    *why = "handshake protocol name is not \"BitTorrent protocol\"";
    return SH_EPROTO;
  }
  if (len < SH_HANDSHAKE_LEN)
    return 0;
  memcpy(h->reserved, in + 20, 8);
  memcpy(h->info_hash, in + 28, 20);
  memcpy(h->peer_id, in + 48, 20);
  return SH_HANDSHAKE_LEN;
}

/* The exact frame length (id byte included) of each fixed-size message, or
 * 0 for variable-size and unknown ones. */
static uint32_t fixed_len(int id)
{
  switch (id) {
  case SH_MSG_CHOKE:
  case SH_MSG_UNCHOKE:
  case SH_MSG_INTERESTED:
  case SH_MSG_NOT_INTERESTED:
  case SH_MSG_HAVE_ALL:
  case SH_MSG_HAVE_NONE:
    return 1;
  case SH_MSG_HAVE:
  case SH_MSG_SUGGEST:
  case SH_MSG_ALLOWED_FAST:
    return 5;
  case SH_MSG_REQUEST:
  case SH_MSG_CANCEL:
  case SH_MSG_REJECT:
    return 13;
  case SH_MSG_PORT:
    return 3;
  default:
    return 0;
  }
}

static const char *wrong_size(int id)
{
  switch (id) {
  case SH_MSG_CHOKE: return "choke message is not 1 byte long";
  case SH_MSG_UNCHOKE: return "unchoke message is not 1 byte long";
  case SH_MSG_INTERESTED: return "interested message is not 1 byte long";
  case SH_MSG_NOT_INTERESTED: return "not-interested message is not 1 byte long";
  case SH_MSG_HAVE_ALL: return "have-all message is not 1 byte long";
  case SH_MSG_HAVE_NONE: return "have-none message is not 1 byte long";
  case SH_MSG_HAVE: return "have message is not 5 bytes long";
  case SH_MSG_SUGGEST: return "suggest message is not 5 bytes long";
  case SH_MSG_ALLOWED_FAST: return "allowed-fast message is not 5 bytes long";
  case SH_MSG_REQUEST: return "request message is not 13 bytes long";
  case SH_MSG_CANCEL: return "cancel message is not 13 bytes long";
  case SH_MSG_REJECT: return "reject message is not 13 bytes long";
  case SH_MSG_PORT: return "port message is not 3 bytes long";
  case SH_MSG_PIECE: return "piece message shorter than its 9-byte header";
  case SH_MSG_EXTENDED: return "extended message without its extension id";
  default: return "message has the wrong size";
  }
}

/* Checks the frame's declared length against its id; 0 or SH_EPROTO. */
static int check_size(int id, uint32_t flen, const char **why)
{
  uint32_t fixed = fixed_len(id);
  int bad;
  if (fixed)
    bad = flen != fixed;
  else if (id == SH_MSG_PIECE)
    bad = flen < 9;
  else if (id == SH_MSG_EXTENDED)
    bad = flen < 2;
  else
    bad = 0; /* bitfield: any size here, sh_wire_validate checks it; unknown: any */
  if (bad) {
    *why = wrong_size(id);
    return SH_EPROTO;
  }
  return 0;
}

int sh_wire_decode(const uint8_t *buf, size_t len, uint32_t max_len, struct sh_msg *m,
                   const char **why)
{
  if (len < 4)
    return 0;
  uint32_t flen = sh_rd32(buf);
  /* Refused on the length prefix alone, before a single payload byte is
   * buffered: this is what bounds a peer's claim on our memory. */
  /* the byte count is returned as an int: frames near 2 GiB never fit */
  if (max_len > INT32_MAX - 4)
    max_len = INT32_MAX - 4;
  if (flen > max_len) {
    *why = "message length exceeds the limit for this connection";
    return SH_EPROTO;
  }
  memset(m, 0, sizeof *m);
  if (flen == 0) {
    m->id = SH_MSG_KEEPALIVE;
    return 4;
  }
  if (len < 5)
    return 0;
  int id = buf[4];
  /* A known message with the wrong size is refused as soon as its id is in,
   * so a 1 MiB "choke" is never waited for either. */
  int rc = check_size(id, flen, why);
  if (rc)
    return rc;
  if (len - 4 < flen)
    return 0;

  const uint8_t *p = buf + 5;
  uint32_t plen = flen - 1;
  m->id = id;
  switch (id) {
  case SH_MSG_HAVE:
  case SH_MSG_SUGGEST:
  case SH_MSG_ALLOWED_FAST:
    m->index = sh_rd32(p);
    break;
  case SH_MSG_REQUEST:
  case SH_MSG_CANCEL:
  case SH_MSG_REJECT:
    m->index = sh_rd32(p);
    m->begin = sh_rd32(p + 4);
    m->length = sh_rd32(p + 8);
    break;
  case SH_MSG_PIECE:
    m->index = sh_rd32(p);
    m->begin = sh_rd32(p + 4);
    m->data = p + 8;
    m->data_len = plen - 8;
    m->length = m->data_len;
    break;
  case SH_MSG_PORT:
    m->port = sh_rd16(p);
    break;
  case SH_MSG_EXTENDED:
    m->ext_id = p[0];
    m->data = p + 1;
    m->data_len = plen - 1;
    break;
  default:
    if (!fixed_len(id)) { /* bitfield and unknown ids: the caller reads the payload */
      m->data = p;
      m->data_len = plen;
    }
    break;
  }
  return (int)(4 + flen);
}

/* Size of piece `index`: the last one is whatever is left of
 * total_length. Defensive against inconsistent arguments: never underflows. */
static uint64_t piece_size(uint32_t index, uint32_t piece_length, uint64_t total_length)
{
  uint64_t start = (uint64_t)index * piece_length;
  if (start >= total_length)
    return 0;
  uint64_t left = total_length - start;
  return left < piece_length ? left : piece_length;
}

static int in_range(uint32_t index, uint32_t num_pieces, const char *msg, const char **why)
{
  if (index >= num_pieces) {
    *why = msg;
    return SH_EPROTO;
  }
  return 0;
}

int sh_wire_validate(const struct sh_msg *m, uint32_t num_pieces, uint32_t piece_length,
                     uint64_t total_length, const char **why)
{
  /* num_pieces == 0: the torrent's size is not known yet (a magnet link
   * before its metadata arrived). Only checks that need no size are made;
   * the caller must hold index-bearing messages until it knows. */
  int known = num_pieces != 0;
  switch (m->id) {
  case SH_MSG_HAVE:
    return known ? in_range(m->index, num_pieces, "have for a piece index past the end", why) : 0;
  case SH_MSG_SUGGEST:
    return known ? in_range(m->index, num_pieces, "suggest for a piece index past the end", why)
                 : 0;
  case SH_MSG_ALLOWED_FAST:
    return known ? in_range(m->index, num_pieces,
                            "allowed-fast for a piece index past the end", why)
                 : 0;
  case SH_MSG_BITFIELD:
    if (!known)
      return 0;
    if (m->data_len != SH_BF_BYTES(num_pieces)) {
      *why = "bitfield length does not match the number of pieces";
      return SH_EPROTO;
    }
    if (!sh_bf_spare_clear(m->data, num_pieces)) {
      *why = "bitfield has spare bits set past the last piece";
      return SH_EPROTO;
    }
    return 0;
  case SH_MSG_REQUEST:
  case SH_MSG_CANCEL:
  case SH_MSG_REJECT:
    /* BEP 3: requests are 16 KiB by convention; more than 128 KiB is
     * refused so one request cannot pin a large buffer on our side. */
    if (m->length == 0) {
      *why = "request for zero bytes";
      return SH_EPROTO;
    }
    if (m->length > SH_MAX_REQUEST_LEN) {
      *why = "request larger than 128 KiB";
      return SH_EPROTO;
    }
    if (!known)
      return 0;
    if (m->index >= num_pieces) {
      *why = "request for a piece index past the end";
      return SH_EPROTO;
    }
    if ((uint64_t)m->begin + m->length >
        piece_size(m->index, piece_length, total_length)) {
      *why = "request runs past the end of its piece";
      return SH_EPROTO;
    }
    return 0;
  case SH_MSG_PIECE:
    if (m->data_len == 0) {
      *why = "piece message carries no data";
      return SH_EPROTO;
    }
    if (!known)
      return 0;
    if (m->index >= num_pieces) {
      *why = "piece message for an index past the end";
      return SH_EPROTO;
    }
    if ((uint64_t)m->begin + m->data_len >
        piece_size(m->index, piece_length, total_length)) {
      *why = "piece message data runs past the end of its piece";
      return SH_EPROTO;
    }
    return 0;
  default:
    return 0;
  }
}

/* ---- encoders ---- */

static void put_head(struct sh_buf *b, uint32_t flen, uint8_t id)
{
  uint8_t h[5];
  sh_wr32(h, flen);
  h[4] = id;
  sh_buf_append(b, h, 5);
}

void sh_wire_put_simple(struct sh_buf *b, int id) { put_head(b, 1, (uint8_t)id); }

void sh_wire_put_keepalive(struct sh_buf *b)
{
  static const uint8_t zero[4] = {0, 0, 0, 0};
  sh_buf_append(b, zero, 4);
}

void sh_wire_put_index(struct sh_buf *b, int id, uint32_t index)
{
  uint8_t m[9];
  sh_wr32(m, 5);
  m[4] = (uint8_t)id;
  sh_wr32(m + 5, index);
  sh_buf_append(b, m, 9);
}

void sh_wire_put_have(struct sh_buf *b, uint32_t index) { sh_wire_put_index(b, SH_MSG_HAVE, index); }

void sh_wire_put_request(struct sh_buf *b, int id, uint32_t index, uint32_t begin,
                         uint32_t length)
{
  uint8_t m[17];
  sh_wr32(m, 13);
  m[4] = (uint8_t)id;
  sh_wr32(m + 5, index);
  sh_wr32(m + 9, begin);
  sh_wr32(m + 13, length);
  sh_buf_append(b, m, 17);
}

void sh_wire_put_bitfield(struct sh_buf *b, const uint8_t *bf, uint32_t num_pieces)
{
  size_t n = SH_BF_BYTES(num_pieces);
  if (sh_buf_reserve(b, 5 + n) != 0)
    return;
  size_t at = b->len;
  put_head(b, (uint32_t)(1 + n), SH_MSG_BITFIELD);
  sh_buf_append(b, bf, n);
  /* BEP 3: spare bits are zero. Cleared here so a caller's stray bit never
   * gets us disconnected by a strict peer. */
  if (n && (num_pieces & 7) && !b->oom)
    b->data[at + 5 + n - 1] &= (uint8_t)(0xff00 >> (num_pieces & 7));
}

void sh_wire_put_extended(struct sh_buf *b, uint8_t ext_id, const void *payload, size_t len)
{
  if (sh_buf_reserve(b, 6 + len) != 0)
    return;
  put_head(b, (uint32_t)(2 + len), SH_MSG_EXTENDED);
  sh_buf_putc(b, ext_id);
  sh_buf_append(b, payload, len);
}

void sh_wire_put_port(struct sh_buf *b, uint16_t port)
{
  uint8_t m[7];
  sh_wr32(m, 3);
  m[4] = SH_MSG_PORT;
  sh_wr16(m + 5, port);
  sh_buf_append(b, m, 7);
}

void sh_wire_piece_header(uint8_t out[13], uint32_t index, uint32_t begin, uint32_t block_len)
{
  sh_wr32(out, 9 + block_len);
  out[4] = SH_MSG_PIECE;
  sh_wr32(out + 5, index);
  sh_wr32(out + 9, begin);
}

/* ---- BEP 10 extension handshake ---- */

/* Length of the valid UTF-8 sequence at p (n bytes available), or 0. Only
 * shortest forms, no surrogates, nothing past U+10FFFF (RFC 3629). */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
  uint8_t c = p[0];
  size_t len;
  uint32_t cp;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    cp = cp << 6 | (p[i] & 0x3f);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

/* Copies a peer's client name so it is safe to print in a log line: control
 * bytes and broken UTF-8 become '?', and it is cut at a character boundary
 * to fit the 64-byte field. */
static void sanitise(char *dst, size_t cap, const uint8_t *s, size_t n)
{
  size_t o = 0, i = 0;
  while (i < n && o + 1 < cap) {
    size_t k = utf8_seq(s + i, n - i);
    if (k == 1 && (s[i] < 0x20 || s[i] == 0x7f))
      k = 0;
    if (k == 0) {
      dst[o++] = '?';
      i++;
      continue;
    }
    if (o + k >= cap)
      break;
    memcpy(dst + o, s + i, k);
    o += k;
    i += k;
  }
  dst[o] = '\0';
}

uint8_t sh_wire_ext_id(const struct sh_ext_handshake *h, const char *name)
{
  for (int i = 0; i < h->nm; i++)
    if (!strcmp(h->m[i].name, name))
      return h->m[i].id;
  return 0;
}

int sh_wire_ext_set(struct sh_ext_handshake *h, const char *name, uint8_t id)
{
  size_t n = strlen(name);
  if (!n || n > SH_EXT_NAME_MAX)
    return -1;
  int i = 0;
  while (i < h->nm && strcmp(h->m[i].name, name))
    i++;
  if (i == h->nm) {
    if (h->nm == SH_EXT_MAX)
      return -1;
    h->nm++;
  }
  memcpy(h->m[i].name, name, n + 1);
  h->m[i].id = id;
  return 0;
}

/* The entries of `m`: 1..255 enables, 0 disables; an id that is not an
 * integer in that range is not one we could ever send, so the entry counts
 * as absent, as does a name that is empty, too long or not printable. */
static void ext_ids(struct sh_ext_handshake *h, const struct be_doc *d, int mdict)
{
  for (int k = be_child(d, mdict); k >= 0 && k < (int)d->ntok;) {
    int v = (int)d->tok[k].next;
    if (v >= (int)d->ntok)
      break;
    size_t n;
    const uint8_t *name = be_str(d, k, &n);
    int64_t id;
    int ok = name && n >= 1 && n <= SH_EXT_NAME_MAX && be_int(d, v, &id) == 0 && id >= 0 &&
             id <= 255;
    for (size_t i = 0; ok && i < n; i++)
      ok = name[i] > 0x20 && name[i] < 0x7f;
    if (ok) {
      char tmp[SH_EXT_NAME_MAX + 1];
      memcpy(tmp, name, n);
      tmp[n] = 0;
      sh_wire_ext_set(h, tmp, (uint8_t)id);
    }
    k = (int)d->tok[v].next;
    if (k >= (int)d->tok[mdict].next)
      break;
  }
}

int sh_wire_ext_handshake_decode(const uint8_t *p, size_t len, struct sh_ext_handshake *h,
                                 const char **why)
{
  memset(h, 0, sizeof *h);
  h->metadata_size = -1;
  /* Real clients do not all sort their keys, so order is not enforced;
   * depth 32 and 64k values are far beyond any real handshake (libtorrent's
   * is about a dozen keys) and bound the work a peer can cause. */
  struct be_opts o = {32, 1u << 16, 0, 0};
  struct be_doc d;
  int rc = be_parse(&d, p, len, &o);
  if (rc != 0) {
    be_free(&d);
    *why = rc == SH_EBENCODE ? "extension handshake is not valid bencode"
                             : "out of memory decoding the extension handshake";
    return rc == SH_EBENCODE ? SH_EPROTO : rc;
  }
  if (d.tok[0].type != BE_DICT) {
    be_free(&d);
    *why = "extension handshake is not a dictionary";
    return SH_EPROTO;
  }
  /* BEP 10: every key is optional and unknown keys are ignored. A known key
   * with the wrong type is treated as absent rather than fatal: it costs us
   * nothing and old or quirky clients still get served. */
  int m = be_dict_get_type(&d, 0, "m", BE_DICT);
  if (m >= 0)
    ext_ids(h, &d, m);
  size_t n;
  const uint8_t *s = be_str(&d, be_dict_get(&d, 0, "v"), &n);
  if (s)
    sanitise(h->client, sizeof h->client, s, n);
  int64_t v;
  if (be_int(&d, be_dict_get(&d, 0, "p"), &v) == 0 && v > 0 && v <= 65535)
    h->listen_port = (uint16_t)v;
  if (be_int(&d, be_dict_get(&d, 0, "reqq"), &v) == 0 && v > 0)
    h->reqq = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
  s = be_str(&d, be_dict_get(&d, 0, "yourip"), &n);
  if (s && (n == 4 || n == 16)) {
    memcpy(h->yourip, s, n);
    h->yourip_len = (uint8_t)n;
  }
  if (be_int(&d, be_dict_get(&d, 0, "metadata_size"), &v) == 0 && v >= 0)
    h->metadata_size = v;
  be_free(&d);
  return 0;
}

void sh_wire_ext_handshake_encode(struct sh_buf *b, const struct sh_ext_handshake *h)
{
  /* Keys in byte order, as bencode requires: m, metadata_size, p, reqq, v,
   * yourip. `m` is always present (some clients expect it); zero ids are
   * left out, since a first handshake has nothing to disable. */
  be_put_dict(b);
  be_put_cstr(b, "m");
  be_put_dict(b);
  /* bencode wants the keys sorted: a selection by name, since there are at
   * most SH_EXT_MAX of them */
  const char *last = "";
  for (int done = 0; done < h->nm; done++) {
    int best = -1;
    for (int i = 0; i < h->nm; i++)
      if (strcmp(h->m[i].name, last) > 0 && (best < 0 || strcmp(h->m[i].name, h->m[best].name) < 0))
        best = i;
    if (best < 0)
      break;
    last = h->m[best].name;
    if (h->m[best].id) {
      be_put_cstr(b, h->m[best].name);
      be_put_int(b, h->m[best].id);
    }
  }
  be_put_end(b);
  if (h->metadata_size > 0) {
    be_put_cstr(b, "metadata_size");
    be_put_int(b, h->metadata_size);
  }
  if (h->listen_port) {
    be_put_cstr(b, "p");
    be_put_int(b, h->listen_port);
  }
  if (h->reqq) {
    be_put_cstr(b, "reqq");
    be_put_int(b, h->reqq);
  }
  size_t vlen = strnlen(h->client, sizeof h->client);
  if (vlen) {
    be_put_cstr(b, "v");
    be_put_str(b, h->client, vlen);
  }
  if (h->yourip_len == 4 || h->yourip_len == 16) {
    be_put_cstr(b, "yourip");
    be_put_str(b, h->yourip, h->yourip_len);
  }
  be_put_end(b);
}

/* ---- BEP 6 allowed-fast set ---- */

int sh_wire_allowed_fast(const uint8_t ip[4], const uint8_t info_hash[20], uint32_t num_pieces,
                         uint32_t *out, int k)
{
  if (num_pieces == 0 || k <= 0)
    return 0;
  /* The set cannot hold more distinct indices than the torrent has pieces;
   * without this cap a tiny torrent would loop forever. */
  if ((uint32_t)k > num_pieces)
    k = (int)num_pieces;
  /* BEP 6 steps (1)-(2): x = (ip & 0xffffff00) . info_hash; only the /24 is
   * used so several addresses on one network share one set. */
  uint8_t x[24];
  memcpy(x, ip, 3);
  x[3] = 0;
  memcpy(x + 4, info_hash, 20);
  uint8_t hsh[SH_SHA1_LEN];
  sh_sha1(x, sizeof x, hsh);
  int n = 0;
  for (;;) {
    /* steps (4)-(9): five 32-bit big-endian words per digest */
    for (int i = 0; i < 5 && n < k; i++) {
      uint32_t idx = sh_rd32(hsh + 4 * i) % num_pieces;
      int dup = 0;
      for (int j = 0; j < n; j++)
        dup |= out[j] == idx;
      if (!dup)
        out[n++] = idx;
    }
    if (n >= k)
      return n;
    /* step (3): the next digest hashes the previous one (20 bytes) */
    uint8_t prev[SH_SHA1_LEN];
    memcpy(prev, hsh, sizeof prev);
    sh_sha1(prev, sizeof prev, hsh);
  }
}
