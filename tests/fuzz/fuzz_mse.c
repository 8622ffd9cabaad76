/* libFuzzer target: the MSE handshake core (peer/mse_hs.h).
 *
 * Raw bytes rarely get past a Diffie-Hellman key and a hash the fuzzer
 * cannot compute, so the harness runs an honest initiator and responder
 * once, keeps each side's state at every step, and lets the input be
 * what the other side says next, keyed correctly where the protocol
 * encrypts: the fuzzer writes plaintext fields (VC, crypto_provide or
 * crypto_select, pad lengths, IA, stream bytes) that the harness encrypts
 * with the right RC4 stream.
 *
 * Byte 0 picks the case (mod 4): 0, the responder fed raw bytes where Ya
 * and PadA go; 1, the initiator fed raw bytes where Yb and PadB go; 2, the
 * responder after Ya, fed n garbage bytes (byte 1) of PadA, then the true
 * HASH('req1', S) and SKEY hash, then the rest RC4-encrypted with keyA;
 * 3, the initiator after step 3, fed n garbage bytes of PadB, then the rest
 * encrypted with keyB. Byte 2 bit 0 narrows what the side accepts to RC4
 * only, bit 1 makes a responder prefer plaintext; the input is fed in
 * chunks of (byte 3 % 64) + 1 bytes. Invariants: every call returns more,
 * done or a refusal with a reason; once done the method is one the side
 * accepts; nothing is held beyond what came in. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/rc4.h"
#include "base/sha1.h"
#include "peer/mse_hs.h"

static const uint8_t IH[20] = "fuzzing info-hash!!!";

static int find_skey(void *ud, const uint8_t req2[20], uint8_t skey[20])
{
  uint8_t want[20];
  (void)ud;
  sh_mse_req2(IH, want);
  if (memcmp(req2, want, 20))
    return -1;
  memcpy(skey, IH, 20);
  return 0;
}

/* Snapshots: each side fresh, and after each honest step. */
static struct sh_mse_hs a_key, b_key, b_sync, a_sync;
static uint8_t key_a[20], key_b[20], req1[20], req2x[20];

static void hash(const char *tag, const uint8_t *p, size_t n, const uint8_t *q, size_t m,
                 uint8_t out[20])
{
  uint8_t buf[4 + 96 + 20];
  memcpy(buf, tag, 4);
  memcpy(buf + 4, p, n);
  memcpy(buf + 4 + n, q, m);
  sh_sha1(buf, 4 + n + m, out);
}

static void copy(struct sh_mse_hs *to, const struct sh_mse_hs *from)
{
  *to = *from; /* RC4 states are plain bytes: the C loop is forced */
  memset(&to->in, 0, sizeof to->in);
  sh_buf_append(&to->in, from->in.data, from->in.len);
}

static void setup(void)
{
  sh_rc4_force_c(1);
  uint8_t ra[SH_MSE_RAND_LEN], rb[SH_MSE_RAND_LEN];
  for (size_t i = 0; i < sizeof ra; i++) {
    ra[i] = (uint8_t)(i * 7 + 1);
    rb[i] = (uint8_t)(i * 11 + 3);
  }
  struct sh_mse_hs_cfg ca = {.initiator = 1, .allow = SH_MSE_PLAIN | SH_MSE_RC4, .skey = IH};
  struct sh_mse_hs_cfg cb = {.allow = SH_MSE_PLAIN | SH_MSE_RC4, .find_skey = find_skey};
  struct sh_mse_hs a, b;
  struct sh_buf s1 = SH_BUF_INIT, s2 = SH_BUF_INIT, s3 = SH_BUF_INIT;
  if (sh_mse_hs_init(&a, &ca, ra) || sh_mse_hs_init(&b, &cb, rb))
    abort();
  copy(&b_key, &b);
  sh_mse_hs_start(&a, &s1);
  copy(&a_key, &a);
  if (sh_mse_hs_feed(&b, s1.data, 96, &s2) != SH_MSE_HS_MORE) /* Ya alone */
    abort();
  copy(&b_sync, &b);
  if (sh_mse_hs_feed(&a, s2.data, s2.len, &s3) != SH_MSE_HS_MORE)
    abort();
  copy(&a_sync, &a);
  hash("keyA", a.secret, 96, IH, 20, key_a);
  hash("keyB", a.secret, 96, IH, 20, key_b);
  memcpy(req1, s3.data, 20);
  memcpy(req2x, s3.data + 20, 20);
  sh_mse_hs_free(&a);
  sh_mse_hs_free(&b);
  sh_buf_free(&s1);
  sh_buf_free(&s2);
  sh_buf_free(&s3);
}

/* Appends p encrypted with key's stream (1024 bytes thrown away). */
static void put_encrypted(struct sh_buf *m, const uint8_t key[20], const uint8_t *p, size_t n)
{
  struct sh_rc4 r;
  if (sh_rc4_init(&r, key, 20) < 0 || sh_buf_reserve(m, n) < 0)
    abort();
  sh_rc4_skip(&r, 1024);
  sh_rc4_crypt(&r, m->data + m->len, p, n);
  m->len += n;
  sh_rc4_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int ready;
  if (!ready) {
    setup();
    ready = 1;
  }
  if (size < 4)
    return 0;
  int mode = data[0] % 4;
  size_t garbage = data[1], chunk = (size_t)(data[3] % 64) + 1;
  const uint8_t *p = data + 4;
  size_t n = size - 4;
  struct sh_mse_hs h;
  copy(&h, mode == 0 ? &b_key : mode == 1 ? &a_key : mode == 2 ? &b_sync : &a_sync);
  if (data[2] & 1)
    h.cfg.allow = SH_MSE_RC4;
  h.cfg.prefer_plain = !!(data[2] & 2);
  struct sh_buf msg = SH_BUF_INIT, out = SH_BUF_INIT;
  if (mode >= 2) {
    if (garbage > n)
      garbage = n;
    sh_buf_append(&msg, p, garbage);
    if (mode == 2) {
      sh_buf_append(&msg, req1, 20);
      sh_buf_append(&msg, req2x, 20);
    }
    put_encrypted(&msg, mode == 2 ? key_a : key_b, p + garbage, n - garbage);
  } else {
    sh_buf_append(&msg, p, n);
  }
  size_t held = h.in.len;
  int rc = SH_MSE_HS_MORE;
  for (size_t off = 0; off < msg.len && rc == SH_MSE_HS_MORE; off += chunk) {
    size_t k = msg.len - off < chunk ? msg.len - off : chunk;
    rc = sh_mse_hs_feed(&h, msg.data + off, k, &out);
    if (rc == SH_EPROTO && !h.why)
      abort();
    if (rc < 0 && rc != SH_EPROTO)
      abort();
    if (h.in.len > held + off + k)
      abort(); /* never more than came in */
  }
  if (rc == SH_MSE_HS_DONE && h.method != SH_MSE_PLAIN && h.method != SH_MSE_RC4)
    abort();
  if (rc == SH_MSE_HS_DONE && !(h.method & h.cfg.allow))
    abort();
  sh_mse_hs_free(&h);
  sh_buf_free(&msg);
  sh_buf_free(&out);
  return 0;
}
