/* The uTP packet codec (BEP 29's header format), byte for byte: each
 * packet type written and read back, extensions chained and skipped, the
 * selective ACK's bit order, and what the parser refuses. */
#include <criterion/criterion.h>
#include <string.h>

#include "base/error.h"
#include "utp/utp_pkt.h"

/* A header from BEP 29's diagram, field by field, big-endian. */
static const uint8_t syn_bytes[20] = {
    0x41,                   /* type 4 (SYN), version 1 */
    0x00,                   /* no extension */
    0x12, 0x34,             /* connection id */
    0x00, 0x0f, 0x42, 0x40, /* timestamp 1,000,000 us */
    0x00, 0x00, 0x00, 0x00, /* no delay sample yet */
    0x00, 0x10, 0x00, 0x00, /* window 1 MiB */
    0xab, 0xcd,             /* seq_nr */
    0x00, 0x00,             /* ack_nr */
};

Test(utp_pkt, syn_written_byte_for_byte)
{
  struct sh_utp_hdr h = {.type = SH_UTP_SYN, .conn_id = 0x1234, .ts_us = 1000000,
                         .wnd = 1 << 20, .seq = 0xabcd};
  uint8_t out[20];
  cr_assert_eq(sh_utp_hdr_put(out, &h), 20);
  cr_assert_arr_eq(out, syn_bytes, 20);
}

Test(utp_pkt, every_type_round_trips)
{
  static const uint8_t first_byte[] = {0x01, 0x11, 0x21, 0x31, 0x41};
  for (uint8_t t = SH_UTP_DATA; t <= SH_UTP_SYN; t++) {
    struct sh_utp_hdr h = {.type = t, .conn_id = 0xfffe, .ts_us = 0xdeadbeef,
                           .ts_diff_us = 0x01020304, .wnd = 0x0a0b0c0d, .seq = 0xffff,
                           .ack = 0x8000};
    uint8_t out[24];
    sh_utp_hdr_put(out, &h);
    memcpy(out + 20, "data", 4);
    cr_assert_eq(out[0], first_byte[t]);
    static const uint8_t rest[19] = {0x00, 0xff, 0xfe, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03,
                                     0x04, 0x0a, 0x0b, 0x0c, 0x0d, 0xff, 0xff, 0x80, 0x00};
    cr_assert_arr_eq(out + 1, rest, 19);
    struct sh_utp_pkt pk;
    const char *why = NULL;
    size_t n = t == SH_UTP_DATA ? 24 : 20;
    cr_assert_eq(sh_utp_pkt_parse(out, n, &pk, &why), 0, "%s", why);
    cr_assert_eq(pk.h.type, t);
    cr_assert_eq(pk.h.conn_id, 0xfffe);
    cr_assert_eq(pk.h.ts_us, 0xdeadbeef);
    cr_assert_eq(pk.h.ts_diff_us, 0x01020304);
    cr_assert_eq(pk.h.wnd, 0x0a0b0c0d);
    cr_assert_eq(pk.h.seq, 0xffff);
    cr_assert_eq(pk.h.ack, 0x8000);
    cr_assert_null(pk.sack);
    cr_assert_eq(pk.len, n - 20);
    if (n > 20)
      cr_assert_eq(memcmp(pk.payload, "data", 4), 0);
  }
}

/* A STATE with a selective ack: BEP 29's layout, where bit 0 of the first
 * byte is ack_nr + 2 and bit 7 is ack_nr + 9. */
Test(utp_pkt, selective_ack_bits)
{
  uint8_t p[20 + 2 + 4];
  struct sh_utp_hdr h = {.type = SH_UTP_STATE, .ext = SH_UTP_EXT_SACK, .conn_id = 7,
                         .seq = 100, .ack = 50};
  sh_utp_hdr_put(p, &h);
  /* packets 52 (bit 0), 59 (bit 7), 60 (bit 8) and 83 (bit 31) arrived */
  const uint8_t mask[4] = {0x81, 0x01, 0x00, 0x80};
  cr_assert_eq(sh_utp_ext_put(p + 20, 0, mask, 4), 6);
  static const uint8_t want[26] = {0x21, 0x01, 0x00, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                   0,    0x00, 0x64, 0x00, 0x32, 0x00, 0x04, 0x81, 0x01, 0x00, 0x80};
  cr_assert_arr_eq(p, want, 26);
  struct sh_utp_pkt pk;
  const char *why;
  cr_assert_eq(sh_utp_pkt_parse(p, sizeof p, &pk, &why), 0);
  cr_assert_eq(pk.sack_len, 4);
  cr_assert_eq(pk.len, 0);
  int acked[32], n = 0;
  for (int i = 0; i < 32; i++)
    if (pk.sack[i / 8] >> (i % 8) & 1)
      acked[n++] = pk.h.ack + 2 + i;
  cr_assert_eq(n, 4);
  cr_assert_eq(acked[0], 52);
  cr_assert_eq(acked[1], 59);
  cr_assert_eq(acked[2], 60);
  cr_assert_eq(acked[3], 83);
}

/* Unknown extensions (libtorrent's close reason, our padding) are skipped
 * and the payload found after them. */
Test(utp_pkt, unknown_extensions_skipped)
{
  uint8_t p[64];
  struct sh_utp_hdr h = {.type = SH_UTP_DATA, .ext = SH_UTP_EXT_PAD, .seq = 1, .ack = 2};
  size_t n = sh_utp_hdr_put(p, &h);
  n += sh_utp_ext_put(p + n, 3, NULL, 10);          /* padding, then type 3 */
  static const uint8_t reason[4] = {0, 0, 0, 5};
  n += sh_utp_ext_put(p + n, SH_UTP_EXT_SACK, reason, 4);
  static const uint8_t mask[4] = {1, 0, 0, 0};
  n += sh_utp_ext_put(p + n, 0, mask, 4);
  memcpy(p + n, "xyz", 3);
  n += 3;
  cr_assert_eq(p[1], SH_UTP_EXT_PAD);
  cr_assert_eq(p[20], 3);
  cr_assert_eq(p[21], 10);
  cr_assert_eq(p[32], SH_UTP_EXT_SACK);
  cr_assert_eq(p[33], 4);
  struct sh_utp_pkt pk;
  const char *why;
  cr_assert_eq(sh_utp_pkt_parse(p, n, &pk, &why), 0);
  cr_assert_eq(pk.len, 3);
  cr_assert_eq(memcmp(pk.payload, "xyz", 3), 0);
  cr_assert_eq(pk.sack_len, 4);
  cr_assert_eq(pk.sack[0], 1);
}

Test(utp_pkt, refused)
{
  uint8_t p[40];
  struct sh_utp_pkt pk;
  const char *why = NULL;
  struct sh_utp_hdr h = {.type = SH_UTP_STATE};
  sh_utp_hdr_put(p, &h);
  cr_expect_eq(sh_utp_pkt_parse(p, 19, &pk, &why), SH_EPROTO, "short");
  p[0] = 0x22; /* version 2 */
  cr_expect_eq(sh_utp_pkt_parse(p, 20, &pk, &why), SH_EPROTO, "version");
  p[0] = 0x51; /* type 5 */
  cr_expect_eq(sh_utp_pkt_parse(p, 20, &pk, &why), SH_EPROTO, "type");
  p[0] = 0x21;
  p[1] = SH_UTP_EXT_SACK; /* an extension with no header */
  cr_expect_eq(sh_utp_pkt_parse(p, 20, &pk, &why), SH_EPROTO, "no ext header");
  p[20] = 0;
  p[21] = 8; /* 8 bytes promised, 2 there */
  cr_expect_eq(sh_utp_pkt_parse(p, 24, &pk, &why), SH_EPROTO, "ext past the end");
  p[21] = 4;
  cr_expect_eq(sh_utp_pkt_parse(p, 26, &pk, &why), 0, "%s", why);
}

/* libtorrent writes as many mask bytes as its holes need, not multiples
 * of 4 (seen in interop): read them; an empty mask is no mask. */
Test(utp_pkt, selective_ack_of_any_length)
{
  uint8_t p[23];
  struct sh_utp_hdr h = {.type = SH_UTP_STATE, .ext = SH_UTP_EXT_SACK, .ack = 10};
  sh_utp_hdr_put(p, &h);
  p[20] = 0;
  p[21] = 1;
  p[22] = 0x05; /* packets 12 and 14 */
  struct sh_utp_pkt pk;
  const char *why = NULL;
  cr_assert_eq(sh_utp_pkt_parse(p, 23, &pk, &why), 0, "%s", why);
  cr_assert_eq(pk.sack_len, 1);
  cr_assert_eq(pk.sack[0], 0x05);
  p[21] = 0;
  cr_assert_eq(sh_utp_pkt_parse(p, 22, &pk, &why), 0);
  cr_assert_null(pk.sack);
}

Test(utp_pkt, long_sack_capped)
{
  uint8_t p[20 + 2 + 252];
  struct sh_utp_hdr h = {.type = SH_UTP_STATE, .ext = SH_UTP_EXT_SACK};
  sh_utp_hdr_put(p, &h);
  sh_utp_ext_put(p + 20, 0, NULL, 252);
  struct sh_utp_pkt pk;
  const char *why;
  cr_assert_eq(sh_utp_pkt_parse(p, sizeof p, &pk, &why), 0);
  cr_assert_eq(pk.sack_len, SH_UTP_SACK_MAX);
  cr_assert_eq(pk.len, 0);
}

Test(utp_pkt, sequence_numbers_wrap)
{
  cr_assert(sh_utp_seq_lt(0xfffe, 0xffff));
  cr_assert(sh_utp_seq_lt(0xffff, 0x0000));
  cr_assert(sh_utp_seq_lt(0xfff0, 0x0010));
  cr_assert(!sh_utp_seq_lt(0x0010, 0xfff0));
  cr_assert(!sh_utp_seq_lt(5, 5));
  cr_assert(sh_utp_seq_lt(0, 0x7fff));
  cr_assert(!sh_utp_seq_lt(0x7fff, 0));
}
