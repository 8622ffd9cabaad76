/* The MSE handshake (see mse_hs.h for the protocol and its limits).
 * OpenSSL's BIGNUM does the Diffie-Hellman arithmetic: two modular
 * exponentiations per handshake, each well under a millisecond. */
#include "peer/mse_hs.h"

#include <errno.h>
#include <openssl/bn.h>
#include <string.h>

#include "base/error.h"
#include "base/sha1.h"

/* The prime both sides use, generator 2. */
static const uint8_t P[SH_MSE_KEY_LEN] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC9, 0x0F, 0xDA, 0xA2, 0x21, 0x68, 0xC2, 0x34,
    0xC4, 0xC6, 0x62, 0x8B, 0x80, 0xDC, 0x1C, 0xD1, 0x29, 0x02, 0x4E, 0x08, 0x8A, 0x67, 0xCC, 0x74,
    0x02, 0x0B, 0xBE, 0xA6, 0x3B, 0x13, 0x9B, 0x22, 0x51, 0x4A, 0x08, 0x79, 0x8E, 0x34, 0x04, 0xDD,
    0xEF, 0x95, 0x19, 0xB3, 0xCD, 0x3A, 0x43, 0x1B, 0x30, 0x2B, 0x0A, 0x6D, 0xF2, 0x5F, 0x14, 0x37,
    0x4F, 0xE1, 0x35, 0x6D, 0x6D, 0x51, 0xC2, 0x45, 0xE4, 0x85, 0xB5, 0x76, 0x62, 0x5E, 0x7E, 0xC6,
    0xF4, 0x4C, 0x42, 0xE9, 0xA6, 0x3A, 0x36, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x05, 0x63,
};

#define VC_LEN 8
/* The 1024 key-stream bytes both sides throw away. */
#define DISCARD 1024

enum {
  I_START = 0, /* initiator: step 1 not written yet */
  I_KEY,       /* waiting for Yb */
  I_SYNC,      /* looking for ENCRYPT(VC) after PadB */
  I_SELECT,    /* crypto_select, len(PadD) */
  I_PADD,
  R_KEY,       /* responder: waiting for Ya */
  R_SYNC,      /* looking for HASH('req1', S) after PadA */
  R_SKEY,      /* HASH('req2', SKEY) xor HASH('req3', S) */
  R_VC,        /* VC, crypto_provide, len(PadC) */
  R_PADC,      /* PadC, len(IA) */
  R_IA,
  DONE,
  FAILED,
};

static int fail(struct sh_mse_hs *h, const char *why)
{
  h->state = FAILED;
  h->why = why;
  return SH_EPROTO;
}

/* HASH(tag, a, b): SHA-1 of a 4-byte tag and up to 96 + 20 bytes. */
static void hash(const char *tag, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                 uint8_t out[20])
{
  uint8_t buf[4 + SH_MSE_KEY_LEN + 20];
  memcpy(buf, tag, 4);
  memcpy(buf + 4, a, alen);
  if (blen)
    memcpy(buf + 4 + alen, b, blen);
  sh_sha1(buf, 4 + alen + blen, out);
}

void sh_mse_req2(const uint8_t info_hash[20], uint8_t out[20])
{
  hash("req2", info_hash, 20, NULL, 0, out);
}

/* out = base^exp mod P, 96 big-endian bytes; base NULL means 2. Refuses
 * (returns 1) a base outside 2..P-2: 0, 1 and P-1 would give a secret
 * anyone can guess. Returns 0, 1, or -ENOMEM. */
static int modexp(const uint8_t *base, const uint8_t *exp, size_t elen, uint8_t out[SH_MSE_KEY_LEN])
{
  BN_CTX *ctx = BN_CTX_new();
  BIGNUM *p = BN_bin2bn(P, sizeof P, NULL), *b = BN_new(), *e = BN_bin2bn(exp, (int)elen, NULL);
  BIGNUM *r = BN_new(), *pm1 = BN_new();
  int rc = -ENOMEM;
  if (!ctx || !p || !b || !e || !r || !pm1)
    goto done;
  if (base ? !BN_bin2bn(base, SH_MSE_KEY_LEN, b) : !BN_set_word(b, 2))
    goto done;
  if (!BN_copy(pm1, p) || !BN_sub_word(pm1, 1))
    goto done;
  if (BN_cmp(b, BN_value_one()) <= 0 || BN_cmp(b, pm1) >= 0) {
    rc = 1;
    goto done;
  }
  BN_set_flags(e, BN_FLG_CONSTTIME);
  if (BN_mod_exp(r, b, e, p, ctx) && BN_bn2binpad(r, out, SH_MSE_KEY_LEN) == SH_MSE_KEY_LEN)
    rc = 0;
done:
  BN_free(p);
  BN_free(b);
  BN_clear_free(e);
  BN_clear_free(r);
  BN_free(pm1);
  BN_CTX_free(ctx);
  return rc;
}

int sh_mse_hs_init(struct sh_mse_hs *h, const struct sh_mse_hs_cfg *cfg, const uint8_t *rnd)
{
  memset(h, 0, sizeof *h);
  h->cfg = *cfg;
  if (cfg->initiator && cfg->skey)
    memcpy(h->skey, cfg->skey, 20);
  h->cfg.skey = NULL; /* copied: the caller's may go */
  memcpy(h->priv, rnd, SH_MSE_PRIV_LEN);
  memcpy(h->pad, rnd + SH_MSE_PRIV_LEN, SH_MSE_PAD_MAX);
  const uint8_t *lens = rnd + SH_MSE_PRIV_LEN + SH_MSE_PAD_MAX;
  h->pad_len[0] = sh_rd16(lens) % (SH_MSE_PAD_MAX + 1);
  h->pad_len[1] = sh_rd16(lens + 2) % (SH_MSE_PAD_MAX + 1);
  h->state = cfg->initiator ? I_START : R_KEY;
  return modexp(NULL, h->priv, sizeof h->priv, h->pub) ? -ENOMEM : 0;
}

void sh_mse_hs_free(struct sh_mse_hs *h)
{
  sh_rc4_free(&h->enc);
  sh_rc4_free(&h->dec);
  sh_buf_free(&h->in);
  memset(h->priv, 0, sizeof h->priv);
  memset(h->secret, 0, sizeof h->secret);
}

void sh_mse_hs_start(struct sh_mse_hs *h, struct sh_buf *out)
{
  if (h->state != I_START)
    return;
  sh_buf_append(out, h->pub, SH_MSE_KEY_LEN);
  sh_buf_append(out, h->pad, h->pad_len[0]);
  h->state = I_KEY;
}

size_t sh_mse_hs_offer_ia(struct sh_mse_hs *h, const uint8_t *p, size_t n)
{
  if (!h->cfg.initiator || (h->state != I_START && h->state != I_KEY))
    return 0;
  size_t room = SH_MSE_IA_MAX - h->ia_len;
  if (n > room)
    n = room;
  memcpy(h->ia + h->ia_len, p, n);
  h->ia_len = (uint16_t)(h->ia_len + n);
  return n;
}

/* The peer's public key is the first 96 bytes of `in`: S, and the RC4
 * streams (A encrypts with keyA, B with keyB). */
static int take_key(struct sh_mse_hs *h)
{
  int rc = modexp(h->in.data, h->priv, sizeof h->priv, h->secret);
  if (rc < 0)
    return rc;
  if (rc > 0)
    return fail(h, "the peer's Diffie-Hellman key is degenerate");
  sh_buf_consume(&h->in, SH_MSE_KEY_LEN);
  hash("req3", h->secret, SH_MSE_KEY_LEN, NULL, 0, h->req3);
  return 0;
}

static int keys(struct sh_mse_hs *h)
{
  uint8_t ka[20], kb[20];
  hash("keyA", h->secret, SH_MSE_KEY_LEN, h->skey, 20, ka);
  hash("keyB", h->secret, SH_MSE_KEY_LEN, h->skey, 20, kb);
  int i = h->cfg.initiator;
  if (sh_rc4_init(&h->enc, i ? ka : kb, 20) < 0 || sh_rc4_init(&h->dec, i ? kb : ka, 20) < 0)
    return -ENOMEM;
  sh_rc4_skip(&h->enc, DISCARD);
  sh_rc4_skip(&h->dec, DISCARD);
  return 0;
}

/* Where sync[0..len) starts within the first max + len bytes of `in`:
 * its offset, -1 while it may still come, -2 once it cannot. */
static long find_sync(const struct sh_mse_hs *h, size_t len, size_t max)
{
  const uint8_t *p = h->in.data;
  for (size_t k = 0; k <= max && k + len <= h->in.len; k++)
    if (p[k] == h->sync[0] && !memcmp(p + k, h->sync, len))
      return (long)k;
  return h->in.len >= max + len ? -2 : -1;
}

/* Appends ENCRYPT(VC, field, len(pad), pad [, len(IA), IA]) to out. */
static void put_vc(struct sh_mse_hs *h, uint32_t field, int with_ia, struct sh_buf *out)
{
  uint8_t m[VC_LEN + 4 + 2 + SH_MSE_PAD_MAX + 2 + SH_MSE_IA_MAX];
  size_t n = 0, pad = h->pad_len[1];
  memset(m, 0, VC_LEN);
  n += VC_LEN;
  sh_wr32(m + n, field);
  sh_wr16(m + n + 4, (uint16_t)pad);
  n += 6;
  memcpy(m + n, h->pad, pad);
  n += pad;
  if (with_ia) {
    sh_wr16(m + n, h->ia_len);
    memcpy(m + n + 2, h->ia, h->ia_len);
    n += 2 + (size_t)h->ia_len;
  }
  sh_rc4_crypt(&h->enc, m, m, n);
  sh_buf_append(out, m, n);
}

/* Initiator: Yb has come; step 3 goes out. */
static int step3(struct sh_mse_hs *h, struct sh_buf *out)
{
  int rc = take_key(h);
  if (rc < 0 || (rc = keys(h)) < 0)
    return rc;
  uint8_t req1[20], req2[20];
  hash("req1", h->secret, SH_MSE_KEY_LEN, NULL, 0, req1);
  sh_mse_req2(h->skey, req2);
  for (int i = 0; i < 20; i++)
    req2[i] ^= h->req3[i];
  sh_buf_append(out, req1, 20);
  sh_buf_append(out, req2, 20);
  put_vc(h, h->cfg.allow & (SH_MSE_PLAIN | SH_MSE_RC4), 1, out);
  /* B's reply starts with ENCRYPT(VC): eight bytes of its key stream */
  memset(h->sync, 0, VC_LEN);
  sh_rc4_crypt(&h->dec, h->sync, h->sync, VC_LEN);
  h->state = I_SYNC;
  return 0;
}

/* The handshake is over: what is left of `in` is the stream. */
static int finish(struct sh_mse_hs *h, uint32_t method, size_t clear)
{
  h->method = method;
  h->state = DONE;
  if (method == SH_MSE_RC4 && h->in.len > clear)
    sh_rc4_crypt(&h->dec, h->in.data + clear, h->in.data + clear, h->in.len - clear);
  return SH_MSE_HS_DONE;
}

static int initiator_step(struct sh_mse_hs *h, struct sh_buf *out)
{
  uint8_t *p = h->in.data;
  switch (h->state) {
  case I_KEY:
    return h->in.len < SH_MSE_KEY_LEN ? SH_MSE_HS_MORE : step3(h, out);
  case I_SYNC: {
    long k = find_sync(h, VC_LEN, SH_MSE_PAD_MAX);
    if (k == -2)
      return fail(h, "no verification constant within 512 bytes after the peer's key");
    if (k >= 0) {
      sh_buf_consume(&h->in, (size_t)k + VC_LEN);
      h->state = I_SELECT;
    }
    return SH_MSE_HS_MORE;
  }
  case I_SELECT: {
    if (h->in.len < 6)
      return SH_MSE_HS_MORE;
    sh_rc4_crypt(&h->dec, p, p, 6);
    h->provide = sh_rd32(p);
    h->need = sh_rd16(p + 4);
    sh_buf_consume(&h->in, 6);
    uint32_t ok = h->cfg.allow & (SH_MSE_PLAIN | SH_MSE_RC4);
    if ((h->provide != SH_MSE_PLAIN && h->provide != SH_MSE_RC4) || !(h->provide & ok))
      return fail(h, "the peer selected an encryption method we did not offer");
    if (h->need > SH_MSE_PAD_MAX)
      return fail(h, "PadD is longer than 512 bytes");
    h->state = I_PADD;
    return SH_MSE_HS_MORE;
  }
  case I_PADD:
    if (h->in.len < h->need)
      return SH_MSE_HS_MORE;
    sh_rc4_crypt(&h->dec, p, p, h->need);
    sh_buf_consume(&h->in, h->need);
    return finish(h, h->provide, 0);
  }
  return fail(h, "handshake in a wrong state");
}

/* Responder: the peer's provide is known; which method do we take? */
static uint32_t choose(const struct sh_mse_hs *h)
{
  uint32_t can = h->provide & h->cfg.allow & (SH_MSE_PLAIN | SH_MSE_RC4);
  if ((can & SH_MSE_PLAIN) && (h->cfg.prefer_plain || !(can & SH_MSE_RC4)))
    return SH_MSE_PLAIN;
  return can & SH_MSE_RC4;
}

static int responder_key(struct sh_mse_hs *h, struct sh_buf *out)
{
  if (h->in.len < SH_MSE_KEY_LEN)
    return SH_MSE_HS_MORE;
  int rc = take_key(h);
  if (rc < 0)
    return rc;
  hash("req1", h->secret, SH_MSE_KEY_LEN, NULL, 0, h->sync);
  sh_buf_append(out, h->pub, SH_MSE_KEY_LEN);
  sh_buf_append(out, h->pad, h->pad_len[0]);
  h->state = R_SYNC;
  return SH_MSE_HS_MORE;
}

static int responder_skey(struct sh_mse_hs *h)
{
  if (h->in.len < 20)
    return SH_MSE_HS_MORE;
  uint8_t req2[20];
  for (int i = 0; i < 20; i++)
    req2[i] = h->in.data[i] ^ h->req3[i];
  if (!h->cfg.find_skey || h->cfg.find_skey(h->cfg.ud, req2, h->skey) < 0)
    return fail(h, "no torrent here matches the encrypted handshake (unknown SKEY)");
  sh_buf_consume(&h->in, 20);
  int rc = keys(h);
  if (rc < 0)
    return rc;
  h->state = R_VC;
  return SH_MSE_HS_MORE;
}

static int responder_vc(struct sh_mse_hs *h)
{
  static const uint8_t vc[VC_LEN];
  uint8_t *p = h->in.data;
  if (h->in.len < VC_LEN + 6)
    return SH_MSE_HS_MORE;
  sh_rc4_crypt(&h->dec, p, p, VC_LEN + 6);
  if (memcmp(p, vc, VC_LEN))
    return fail(h, "wrong verification constant");
  h->provide = sh_rd32(p + VC_LEN);
  h->need = sh_rd16(p + VC_LEN + 4);
  sh_buf_consume(&h->in, VC_LEN + 6);
  if (!choose(h))
    return fail(h, "crypto_provide offers no method we accept");
  if (h->need > SH_MSE_PAD_MAX)
    return fail(h, "PadC is longer than 512 bytes");
  h->state = R_PADC;
  return SH_MSE_HS_MORE;
}

static int responder_step(struct sh_mse_hs *h, struct sh_buf *out)
{
  uint8_t *p = h->in.data;
  switch (h->state) {
  case R_KEY:
    return responder_key(h, out);
  case R_SYNC: {
    long k = find_sync(h, 20, SH_MSE_PAD_MAX);
    if (k == -2)
      return fail(h, "no HASH('req1', S) within 512 bytes after the peer's key");
    if (k >= 0) {
      sh_buf_consume(&h->in, (size_t)k + 20);
      h->state = R_SKEY;
    }
    return SH_MSE_HS_MORE;
  }
  case R_SKEY:
    return responder_skey(h);
  case R_VC:
    return responder_vc(h);
  case R_PADC: {
    size_t n = (size_t)h->need + 2;
    if (h->in.len < n)
      return SH_MSE_HS_MORE;
    sh_rc4_crypt(&h->dec, p, p, n);
    h->need = sh_rd16(p + n - 2); /* len(IA) */
    sh_buf_consume(&h->in, n);
    h->state = R_IA;
    return SH_MSE_HS_MORE;
  }
  case R_IA: {
    if (h->in.len < h->need)
      return SH_MSE_HS_MORE;
    /* IA is RC4 whatever is selected; it stays in `in`, the stream's start */
    sh_rc4_crypt(&h->dec, p, p, h->need);
    uint32_t method = choose(h);
    put_vc(h, method, 0, out);
    return finish(h, method, h->need);
  }
  }
  return fail(h, "handshake in a wrong state");
}

int sh_mse_hs_feed(struct sh_mse_hs *h, const uint8_t *p, size_t n, struct sh_buf *out)
{
  if (h->state == DONE || h->state == FAILED || h->state == I_START)
    return fail(h, "handshake fed out of turn");
  sh_buf_append(&h->in, p, n);
  if (h->in.oom)
    return -ENOMEM;
  for (;;) {
    int before = h->state;
    size_t len = h->in.len;
    int rc = h->cfg.initiator ? initiator_step(h, out) : responder_step(h, out);
    if (rc != SH_MSE_HS_MORE || out->oom)
      return out->oom ? -ENOMEM : rc;
    if (h->state == before && h->in.len == len)
      return SH_MSE_HS_MORE; /* waiting for bytes */
  }
}
