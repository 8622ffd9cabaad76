/* The uTP packet format (see utp_pkt.h). */
#include "utp/utp_pkt.h"

#include <string.h>

#include "base/error.h"

int sh_utp_pkt_parse(const uint8_t *p, size_t n, struct sh_utp_pkt *out, const char **why)
{
  memset(out, 0, sizeof *out);
  if (n < SH_UTP_HDR)
    return *why = "shorter than a uTP header", SH_EPROTO;
  if ((p[0] & 15) != SH_UTP_VERSION)
    return *why = "not uTP version 1", SH_EPROTO;
  struct sh_utp_hdr *h = &out->h;
  h->type = p[0] >> 4;
  if (h->type > SH_UTP_SYN)
    return *why = "unknown packet type", SH_EPROTO;
  h->ext = p[1];
  h->conn_id = sh_utp_rd16(p + 2);
  h->ts_us = sh_utp_rd32(p + 4);
  h->ts_diff_us = sh_utp_rd32(p + 8);
  h->wnd = sh_utp_rd32(p + 12);
  h->seq = sh_utp_rd16(p + 16);
  h->ack = sh_utp_rd16(p + 18);
  size_t off = SH_UTP_HDR;
  /* each extension takes at least its 2-byte header, so this ends */
  for (uint8_t ext = h->ext; ext;) {
    if (n - off < 2)
      return *why = "extension header past the end", SH_EPROTO;
    uint8_t next = p[off], len = p[off + 1];
    off += 2;
    if (n - off < len)
      return *why = "extension past the end", SH_EPROTO;
    /* BEP 29 asks for multiples of 4 bytes; libtorrent sends as many bytes
     * as its holes need, so any length is read (an empty one is none) */
    if (ext == SH_UTP_EXT_SACK && !out->sack && len) {
      out->sack = p + off;
      out->sack_len = len < SH_UTP_SACK_MAX ? len : SH_UTP_SACK_MAX;
    }
    off += len;
    ext = next;
  }
  out->payload = p + off;
  out->len = n - off;
  return 0;
}

size_t sh_utp_hdr_put(uint8_t *o, const struct sh_utp_hdr *h)
{
  o[0] = (uint8_t)(h->type << 4 | SH_UTP_VERSION);
  o[1] = h->ext;
  sh_utp_wr16(o + 2, h->conn_id);
  sh_utp_wr32(o + 4, h->ts_us);
  sh_utp_wr32(o + 8, h->ts_diff_us);
  sh_utp_wr32(o + 12, h->wnd);
  sh_utp_wr16(o + 16, h->seq);
  sh_utp_wr16(o + 18, h->ack);
  return SH_UTP_HDR;
}

size_t sh_utp_ext_put(uint8_t *o, uint8_t next, const uint8_t *body, uint8_t len)
{
  o[0] = next;
  o[1] = len;
  if (body)
    memcpy(o + 2, body, len);
  else
    memset(o + 2, 0, len);
  return 2u + len;
}
