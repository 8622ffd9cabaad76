/* Message Stream Encryption (MSE/PE), the handshake alone: bytes in, bytes
 * out and a decision, no sockets, no clock, no randomness of its own (the
 * caller hands in SH_MSE_RAND_LEN random bytes). peer/mse.c runs it inside
 * a transport.
 *
 * MSE is not a BEP; its facts, as the common clients implement them:
 *
 *   A->B  Ya, PadA
 *   B->A  Yb, PadB
 *   A->B  HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
 *         ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
 *   B->A  ENCRYPT(VC, crypto_select, len(PadD), PadD), then the stream
 *   A->B  the stream
 *
 * Y = 2^X mod P, the 768-bit prime below, as 96 big-endian bytes; S is
 * the shared secret Yb^Xa = Ya^Xb mod P, also 96 bytes; SKEY is the
 * torrent's info-hash; HASH is SHA-1. ENCRYPT is RC4 keyed with
 * HASH('keyA', S, SKEY) from A to B and HASH('keyB', S, SKEY) from B to A,
 * the first 1024 bytes of each key stream thrown away. VC is 8 zero bytes;
 * crypto_provide and crypto_select are 32-bit fields (1: plaintext, 2:
 * RC4), lengths 16-bit, big-endian; pads are 0 to 512 random bytes. IA,
 * A's first bytes of the stream (its BitTorrent handshake), is RC4
 * encrypted whatever is selected; after the handshake the stream is RC4 or,
 * with plaintext selected ("header-only"), not encrypted at all.
 *
 * The byte limits the spec implies are enforced: B must find HASH('req1',
 * S) within 512 + 20 bytes after Ya, A the encrypted VC within 512 + 8
 * bytes after Yb, and PadC/PadD may not exceed 512 bytes. A peer that
 * does not keep to them is dropped, so the bytes held here stay under
 * 96 + 532 + 34 + 512 + 65535 (the largest IA) plus one read.
 *
 * Ownership: the caller embeds a struct sh_mse_hs, sets it up with
 * sh_mse_hs_init and releases it with sh_mse_hs_free (after a failed init
 * too). Once the handshake is done, the caller may take the two RC4 states
 * (enc, dec: struct copies; then zero them here) and the bytes left in
 * `in`. */
#ifndef SHOAL_PEER_MSE_HS_H
#define SHOAL_PEER_MSE_HS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/rc4.h"

#define SH_MSE_KEY_LEN 96       /* Ya, Yb and S: 768 bits */
#define SH_MSE_PRIV_LEN 32      /* our private exponent: 256 bits (the spec asks 160 or more) */
#define SH_MSE_PAD_MAX 512
#define SH_MSE_IA_MAX 1024      /* what we send as IA: a handshake is 68 bytes */
/* Random bytes for sh_mse_hs_init: the private key, the pad bytes, and two
 * 16-bit pad lengths (each taken modulo 513): the first for PadA or PadB,
 * the second for PadC or PadD. */
#define SH_MSE_RAND_LEN (SH_MSE_PRIV_LEN + SH_MSE_PAD_MAX + 4)

/* crypto_provide / crypto_select bits */
#define SH_MSE_PLAIN 0x01u
#define SH_MSE_RC4 0x02u

enum { SH_MSE_HS_MORE = 0, SH_MSE_HS_DONE = 1 };

struct sh_mse_hs_cfg {
  int initiator;
  /* Initiator: crypto_provide, and what crypto_select may be.
   * Responder: what we accept of the peer's crypto_provide. */
  uint32_t allow;
  /* Responder: choose plaintext when both are offered and allowed (it
   * costs nothing after the handshake); otherwise RC4 wins. */
  int prefer_plain;
  const uint8_t *skey;    /* initiator: the info-hash, 20 bytes (copied) */
  /* Responder: the info-hash whose HASH('req2', info-hash) is req2, into
   * skey. Returns 0, or -1 when no torrent has it. */
  int (*find_skey)(void *ud, const uint8_t req2[20], uint8_t skey[20]);
  void *ud;
};

struct sh_mse_hs {
  struct sh_mse_hs_cfg cfg;
  int state;
  uint8_t priv[SH_MSE_PRIV_LEN];
  uint8_t pub[SH_MSE_KEY_LEN];     /* our Y */
  uint8_t secret[SH_MSE_KEY_LEN];  /* S */
  uint8_t skey[20];
  uint8_t req3[20];                /* HASH('req3', S), the responder's mask */
  uint8_t sync[20];                /* what we look for: req1 (20) or VC (8) */
  uint8_t pad[SH_MSE_PAD_MAX];
  uint16_t pad_len[2];             /* PadA/B, PadC/D */
  uint8_t ia[SH_MSE_IA_MAX];       /* initiator: what goes in step 3 */
  uint16_t ia_len;
  uint16_t need;                   /* PadC/PadD length, then len(IA) */
  uint32_t provide;                /* responder: the peer's crypto_provide */
  uint32_t method;                 /* SH_MSE_PLAIN or SH_MSE_RC4 once done */
  struct sh_buf in;                /* received, not yet used; the stream once done */
  struct sh_rc4 enc, dec;
  const char *why;                 /* after an error: a static sentence */
};

/* Sets up h and computes our public key. rnd: SH_MSE_RAND_LEN random
 * bytes. Returns 0 or -ENOMEM. */
int sh_mse_hs_init(struct sh_mse_hs *h, const struct sh_mse_hs_cfg *cfg, const uint8_t *rnd);
void sh_mse_hs_free(struct sh_mse_hs *h);
/* Initiator: appends Ya and PadA to out. */
void sh_mse_hs_start(struct sh_mse_hs *h, struct sh_buf *out);
/* Initiator: the first bytes of the stream, sent RC4-encrypted inside step
 * 3 (IA). Takes what fits while step 3 has not been written; returns how
 * many bytes it took (0 once it is too late). */
size_t sh_mse_hs_offer_ia(struct sh_mse_hs *h, const uint8_t *p, size_t n);
/* Bytes from the peer. Appends what to send to out and returns
 * SH_MSE_HS_MORE, SH_MSE_HS_DONE (then h->method is the method, and h->in
 * holds the stream's first bytes, decrypted: for a responder IA first), or
 * a negative code (SH_EPROTO with h->why, -ENOMEM). After DONE or an error
 * it must not be called again. */
int sh_mse_hs_feed(struct sh_mse_hs *h, const uint8_t *p, size_t n, struct sh_buf *out);
/* HASH('req2', info_hash): how a responder finds a torrent from step 3. */
void sh_mse_req2(const uint8_t info_hash[20], uint8_t out[20]);

#endif
