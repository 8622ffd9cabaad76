/* The MSE handshake core (peer/mse_hs.h) and RC4 (base/rc4.h) against
 * values worked out independently: tests/data/make_mse_vectors.py computes
 * them with Python's hashlib, pow and its own RC4, and mse_vectors.txt
 * holds the result. Every wire byte of three handshakes must match, fed
 * whole and byte by byte; then the limits and every refusal. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/rc4.h"
#include "base/sha1.h"
#include "peer/mse_hs.h"

/* ---- the vectors file ---- */

struct vec {
  char name[48];
  uint8_t *v;
  size_t n;
};
static struct vec V[128];
static size_t NV;

static void load(void)
{
  if (NV)
    return;
  const char *dir = getenv("SHOAL_TEST_DATA");
  cr_assert(dir, "SHOAL_TEST_DATA not set");
  char path[512], line[8192];
  snprintf(path, sizeof path, "%s/mse_vectors.txt", dir);
  FILE *f = fopen(path, "r");
  cr_assert(f, "cannot open %s", path);
  while (fgets(line, sizeof line, f) && NV < 128) {
    char *sp = strchr(line, ' ');
    if (line[0] == '#' || !sp)
      continue;
    *sp = 0;
    char *hex = sp + 1;
    hex[strcspn(hex, "\n")] = 0;
    struct vec *x = &V[NV++];
    cr_assert_lt(strlen(line), sizeof x->name);
    memcpy(x->name, line, strlen(line) + 1);
    x->n = strlen(hex) / 2;
    x->v = malloc(x->n + 1);
    cr_assert_eq(sh_unhex(hex, x->v, x->n), 0, "%s", line);
  }
  fclose(f);
}

static const struct vec *get(const char *c, const char *field)
{
  char name[48];
  snprintf(name, sizeof name, "%s.%s", c, field);
  load();
  for (size_t i = 0; i < NV; i++)
    if (!strcmp(V[i].name, name))
      return &V[i];
  cr_assert_fail("no vector %s", name);
  return NULL;
}

static uint32_t get32(const char *c, const char *field) { return sh_rd32(get(c, field)->v); }

static void expect_bytes(const uint8_t *p, size_t n, const char *c, const char *field)
{
  const struct vec *x = get(c, field);
  cr_assert_eq(n, x->n, "%s.%s: %zu bytes, expected %zu", c, field, n, x->n);
  cr_assert(!memcmp(p, x->v, n), "%s.%s differs", c, field);
}

/* ---- RC4 ---- */

static void rc4_known(void)
{
  /* the classic published vectors (no bytes discarded) */
  static const struct {
    const char *key, *plain, *cipher;
  } k[] = {{"Key", "Plaintext", "bbf316e8d940af0ad3"},
           {"Wiki", "pedia", "1021bf0420"},
           {"Secret", "Attack at dawn", "45a01f645fc35b383552544b9bf5"}};
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
    struct sh_rc4 r;
    size_t n = strlen(k[i].plain);
    uint8_t out[32], want[32];
    cr_assert_eq(sh_rc4_init(&r, (const uint8_t *)k[i].key, strlen(k[i].key)), 0);
    sh_rc4_crypt(&r, out, (const uint8_t *)k[i].plain, n);
    sh_rc4_free(&r);
    sh_unhex(k[i].cipher, want, n);
    cr_expect(!memcmp(out, want, n), "RC4(%s) with %s", k[i].key, sh_rc4_impl());
  }
}

Test(rc4, known_vectors_openssl) { rc4_known(); }

Test(rc4, known_vectors_c_loop)
{
  sh_rc4_force_c(1);
  cr_assert_str_eq(sh_rc4_impl(), "c");
  rc4_known();
}

Test(rc4, openssl_legacy_provider_is_there)
{
  /* Debian 12's libssl3 ships it; without it we would be on the slower
   * C loop, which the docs say is the exception */
  cr_expect_str_eq(sh_rc4_impl(), "openssl");
}

Test(rc4, both_implementations_agree_on_long_streams_in_odd_pieces)
{
  static uint8_t a[100000], b[100000], in[100000];
  for (size_t i = 0; i < sizeof in; i++)
    in[i] = (uint8_t)(i * 31 + 7);
  const uint8_t key[20] = "an mse key of twenty";
  struct sh_rc4 x, y;
  cr_assert_eq(sh_rc4_init(&x, key, 20), 0);
  sh_rc4_force_c(1);
  cr_assert_eq(sh_rc4_init(&y, key, 20), 0);
  sh_rc4_force_c(0);
  cr_assert(x.evp && !y.evp);
  sh_rc4_skip(&x, 1024);
  sh_rc4_skip(&y, 1024);
  for (size_t off = 0, step = 1; off < sizeof in; off += step, step = step * 3 % 4099 + 1) {
    size_t n = off + step > sizeof in ? sizeof in - off : step;
    sh_rc4_crypt(&x, a + off, in + off, n);
    memcpy(b + off, in + off, n);
    sh_rc4_crypt(&y, b + off, b + off, n); /* in place */
  }
  cr_expect(!memcmp(a, b, sizeof a));
  sh_rc4_free(&x);
  sh_rc4_free(&y);
}

/* ---- key derivation ---- */

Test(mse, key_streams_match_the_independent_derivation)
{
  const char *cases[] = {"rc4", "plain", "forced"};
  for (int c = 0; c < 3; c++) {
    uint8_t ks[16] = {0};
    struct sh_rc4 r;
    cr_assert_eq(sh_rc4_init(&r, get(cases[c], "key_a")->v, 20), 0);
    sh_rc4_skip(&r, 1024);
    sh_rc4_crypt(&r, ks, ks, 16);
    sh_rc4_free(&r);
    expect_bytes(ks, 16, cases[c], "keystream_a");
    uint8_t req2[20];
    sh_mse_req2(get(cases[c], "skey")->v, req2);
    expect_bytes(req2, 20, cases[c], "req2");
  }
}

/* ---- whole handshakes ---- */

static const char *cur; /* the case whose torrent the responder knows */

static int find_skey(void *ud, const uint8_t req2[20], uint8_t skey[20])
{
  (void)ud;
  if (memcmp(req2, get(cur, "req2")->v, 20))
    return -1;
  memcpy(skey, get(cur, "skey")->v, 20);
  return 0;
}

struct pair {
  struct sh_mse_hs a, b;
};

static void pair_init(struct pair *p, const char *c)
{
  cur = c;
  struct sh_mse_hs_cfg ca = {.initiator = 1, .allow = get32(c, "provide"),
                             .skey = get(c, "skey")->v};
  struct sh_mse_hs_cfg cb = {.allow = get32(c, "allow_b"),
                             .prefer_plain = get(c, "prefer_plain")->v[0],
                             .find_skey = find_skey};
  cr_assert_eq(sh_mse_hs_init(&p->a, &ca, get(c, "rnd_a")->v), 0);
  cr_assert_eq(sh_mse_hs_init(&p->b, &cb, get(c, "rnd_b")->v), 0);
  expect_bytes(p->a.pub, 96, c, "ya");
  expect_bytes(p->b.pub, 96, c, "yb");
}

static void pair_free(struct pair *p)
{
  sh_mse_hs_free(&p->a);
  sh_mse_hs_free(&p->b);
}

/* Feeds msg to h whole (bytewise 0) or a byte at a time; returns the last
 * result, the output collected in out. */
static int feed(struct sh_mse_hs *h, const uint8_t *msg, size_t n, int bytewise, struct sh_buf *out)
{
  if (!bytewise)
    return sh_mse_hs_feed(h, msg, n, out);
  int rc = SH_MSE_HS_MORE;
  for (size_t i = 0; i < n && rc == SH_MSE_HS_MORE; i++)
    rc = sh_mse_hs_feed(h, msg + i, 1, out);
  return rc;
}

static void run_case(const char *c, int bytewise)
{
  struct pair p;
  pair_init(&p, c);
  struct sh_buf o = SH_BUF_INIT;
  const struct vec *ia = get(c, "ia");

  sh_mse_hs_start(&p.a, &o);
  expect_bytes(o.data, o.len, c, "step1");
  cr_assert_eq(sh_mse_hs_offer_ia(&p.a, ia->v, ia->n), ia->n);
  sh_buf_reset(&o);

  cr_assert_eq(feed(&p.b, get(c, "step1")->v, get(c, "step1")->n, bytewise, &o), SH_MSE_HS_MORE);
  expect_bytes(o.data, o.len, c, "step2");
  expect_bytes(p.b.secret, 96, c, "s");
  sh_buf_reset(&o);

  cr_assert_eq(feed(&p.a, get(c, "step2")->v, get(c, "step2")->n, bytewise, &o), SH_MSE_HS_MORE);
  expect_bytes(o.data, o.len, c, "step3");
  expect_bytes(p.a.secret, 96, c, "s");
  cr_expect_eq(sh_mse_hs_offer_ia(&p.a, ia->v, 1), 0, "IA is closed once step 3 is out");
  sh_buf_reset(&o);

  cr_assert_eq(feed(&p.b, get(c, "step3")->v, get(c, "step3")->n, bytewise, &o), SH_MSE_HS_DONE,
               "%s", p.b.why ? p.b.why : "");
  expect_bytes(o.data, o.len, c, "step4");
  cr_expect_eq(p.b.method, get32(c, "select"));
  expect_bytes(p.b.in.data, p.b.in.len, c, "ia"); /* IA, decrypted: the stream's start */
  sh_buf_reset(&o);

  cr_assert_eq(feed(&p.a, get(c, "step4")->v, get(c, "step4")->n, bytewise, &o), SH_MSE_HS_DONE,
               "%s", p.a.why ? p.a.why : "");
  cr_expect_eq(o.len, 0);
  cr_expect_eq(p.a.method, get32(c, "select"));
  cr_expect_eq(p.a.in.len, 0);

  /* the stream after the handshake, each way */
  int rc4 = p.a.method == SH_MSE_RC4;
  const struct vec *ma = get(c, "msg_a"), *mb = get(c, "msg_b");
  uint8_t buf[64];
  memcpy(buf, ma->v, ma->n);
  if (rc4)
    sh_rc4_crypt(&p.a.enc, buf, buf, ma->n);
  expect_bytes(buf, ma->n, c, "wire_a");
  if (rc4)
    sh_rc4_crypt(&p.b.dec, buf, buf, ma->n);
  cr_expect(!memcmp(buf, ma->v, ma->n));
  memcpy(buf, mb->v, mb->n);
  if (rc4)
    sh_rc4_crypt(&p.b.enc, buf, buf, mb->n);
  expect_bytes(buf, mb->n, c, "wire_b");
  sh_buf_free(&o);
  pair_free(&p);
}

Test(mse, rc4_selected_every_wire_byte) { run_case("rc4", 0); }
Test(mse, rc4_selected_fed_byte_by_byte) { run_case("rc4", 1); }
Test(mse, header_only_when_the_responder_prefers_plaintext) { run_case("plain", 0); }
Test(mse, header_only_fed_byte_by_byte) { run_case("plain", 1); }
Test(mse, rc4_forced_by_the_initiator_wins_over_a_plaintext_preference) { run_case("forced", 0); }

Test(mse, stream_bytes_behind_the_handshake_arrive_decrypted)
{
  /* step 3 and A's first stream bytes in one read at B; step 4 and B's
   * answer in one read at A */
  struct pair p;
  pair_init(&p, "rc4");
  struct sh_buf o = SH_BUF_INIT, m = SH_BUF_INIT;
  sh_mse_hs_start(&p.a, &o);
  sh_mse_hs_offer_ia(&p.a, get("rc4", "ia")->v, get("rc4", "ia")->n);
  sh_buf_reset(&o);
  sh_mse_hs_feed(&p.b, get("rc4", "step1")->v, get("rc4", "step1")->n, &o);
  sh_buf_reset(&o);
  sh_mse_hs_feed(&p.a, get("rc4", "step2")->v, get("rc4", "step2")->n, &o);
  sh_buf_append(&m, get("rc4", "step3")->v, get("rc4", "step3")->n);
  sh_buf_append(&m, get("rc4", "wire_a")->v, get("rc4", "wire_a")->n);
  sh_buf_reset(&o);
  cr_assert_eq(sh_mse_hs_feed(&p.b, m.data, m.len, &o), SH_MSE_HS_DONE);
  const struct vec *ia = get("rc4", "ia"), *ma = get("rc4", "msg_a");
  cr_assert_eq(p.b.in.len, ia->n + ma->n);
  cr_expect(!memcmp(p.b.in.data, ia->v, ia->n));
  cr_expect(!memcmp(p.b.in.data + ia->n, ma->v, ma->n));
  sh_buf_reset(&m);
  sh_buf_append(&m, get("rc4", "step4")->v, get("rc4", "step4")->n);
  sh_buf_append(&m, get("rc4", "wire_b")->v, get("rc4", "wire_b")->n);
  sh_buf_reset(&o);
  cr_assert_eq(sh_mse_hs_feed(&p.a, m.data, m.len, &o), SH_MSE_HS_DONE);
  expect_bytes(p.a.in.data, p.a.in.len, "rc4", "msg_b");
  sh_buf_free(&o);
  sh_buf_free(&m);
  pair_free(&p);
}

/* ---- refusals and limits ---- */

/* B has had step 1 of case c; returns the responder ready for step 3. */
static void responder_after_step1(struct pair *p, const char *c, struct sh_buf *o)
{
  pair_init(p, c);
  cr_assert_eq(sh_mse_hs_feed(&p->b, get(c, "step1")->v, get(c, "step1")->n, o), SH_MSE_HS_MORE);
  sh_buf_reset(o);
}

static void expect_refused(struct sh_mse_hs *h, const uint8_t *m, size_t n, const char *why)
{
  struct sh_buf o = SH_BUF_INIT;
  int rc = sh_mse_hs_feed(h, m, n, &o);
  cr_expect_eq(rc, SH_EPROTO);
  cr_expect(h->why && strstr(h->why, why), "why: %s (expected %s)", h->why ? h->why : "-", why);
  cr_expect_eq(o.len, 0, "nothing is sent after a refusal");
  sh_buf_free(&o);
}

Test(mse, ten_megabytes_of_padding_are_refused_after_512)
{
  struct pair p;
  struct sh_buf o = SH_BUF_INIT;
  pair_init(&p, "rc4");
  cr_assert_eq(sh_mse_hs_feed(&p.b, get("rc4", "ya")->v, 96, &o), SH_MSE_HS_MORE);
  /* bytes where PadA and HASH('req1', S) should be, that never hold it */
  static uint8_t junk[4096];
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (uint8_t)(i * 151 + 13);
  int rc = sh_mse_hs_feed(&p.b, junk, 531, &o);
  cr_expect_eq(rc, SH_MSE_HS_MORE, "531 bytes may still hold 511 of pad and the hash");
  rc = sh_mse_hs_feed(&p.b, junk + 531, 1, &o);
  cr_expect_eq(rc, SH_EPROTO);
  cr_expect(strstr(p.b.why, "512 bytes"));
  cr_expect_leq(p.b.in.len, 532, "nothing more is kept");
  sh_buf_free(&o);
  pair_free(&p);

  /* the initiator side: PadB that never ends */
  pair_init(&p, "rc4");
  sh_mse_hs_start(&p.a, &o);
  sh_buf_reset(&o);
  struct sh_buf m = SH_BUF_INIT;
  sh_buf_append(&m, get("rc4", "yb")->v, 96);
  sh_buf_append(&m, junk, 520);
  cr_expect_eq(sh_mse_hs_feed(&p.a, m.data, m.len, &o), SH_EPROTO);
  cr_expect(strstr(p.a.why, "verification constant"));
  sh_buf_free(&m);
  sh_buf_free(&o);
  pair_free(&p);
}

/* Builds step 3 of case "rc4" by hand: req1, the SKEY hash, then
 * ENCRYPT(VC (broken if bad_vc), provide, len(PadC), PadC, len(IA), IA). */
static void forge_step3(struct sh_buf *m, uint32_t provide, uint16_t padc, uint16_t ialen)
{
  sh_buf_append(m, get("rc4", "req1")->v, 20);
  sh_buf_append(m, get("rc4", "req2_xor_req3")->v, 20);
  size_t n = 8 + 4 + 2 + padc + 2 + ialen;
  uint8_t *e = calloc(1, n);
  sh_wr32(e + 8, provide);
  sh_wr16(e + 12, padc);
  sh_wr16(e + 14 + padc, ialen);
  struct sh_rc4 r;
  sh_rc4_init(&r, get("rc4", "key_a")->v, 20);
  sh_rc4_skip(&r, 1024);
  sh_rc4_crypt(&r, e, e, n);
  sh_rc4_free(&r);
  sh_buf_append(m, e, n);
  free(e);
}

/* B, accepting `allow` and knowing only the torrent of case `knows`, has
 * had step 1 of case "rc4"; it gets m as step 3 and refuses it with why. */
static void step3_refused(uint32_t allow, const char *knows, const uint8_t *m, size_t n,
                          const char *why)
{
  struct pair p;
  struct sh_buf o = SH_BUF_INIT;
  responder_after_step1(&p, "rc4", &o);
  p.b.cfg.allow = allow;
  cur = knows;
  expect_refused(&p.b, m, n, why);
  sh_buf_free(&o);
  pair_free(&p);
}

Test(mse, wrong_verification_constant)
{
  const struct vec *s3 = get("rc4", "step3");
  uint8_t *m = malloc(s3->n);
  memcpy(m, s3->v, s3->n);
  m[40 + 3] ^= 0x20; /* inside ENCRYPT(VC) */
  step3_refused(3, "rc4", m, s3->n, "wrong verification constant");
  free(m);
}

Test(mse, unknown_skey)
{
  step3_refused(3, "plain", get("rc4", "step3")->v, get("rc4", "step3")->n, "unknown SKEY");
}

/* A forged step 3 (see forge_step3), refused with why. */
static void forged_refused(uint32_t allow, uint32_t provide, uint16_t padc, const char *why)
{
  struct sh_buf m = SH_BUF_INIT;
  forge_step3(&m, provide, padc, 0);
  /* a long PadC is refused from its length, before the pad arrives */
  step3_refused(allow, "rc4", m.data, padc > SH_MSE_PAD_MAX ? 40 + 14 : m.len, why);
  sh_buf_free(&m);
}

Test(mse, crypto_provide_of_zero_or_unknown_bits)
{
  uint32_t bad[] = {0, 4, 0x80000000u};
  for (int i = 0; i < 3; i++)
    forged_refused(SH_MSE_PLAIN | SH_MSE_RC4, bad[i], 0, "crypto_provide offers no method");
}

Test(mse, a_responder_requiring_rc4_refuses_plaintext_only)
{
  forged_refused(SH_MSE_RC4, SH_MSE_PLAIN, 0, "no method we accept");
}

Test(mse, padc_over_512_bytes)
{
  forged_refused(SH_MSE_PLAIN | SH_MSE_RC4, 3, 513, "PadC is longer than 512");
}

Test(mse, empty_ia_and_a_long_one)
{
  uint16_t lens[] = {0, 60000};
  for (int i = 0; i < 2; i++) {
    struct pair p;
    struct sh_buf o = SH_BUF_INIT, m = SH_BUF_INIT;
    responder_after_step1(&p, "rc4", &o);
    forge_step3(&m, 3, 0, lens[i]);
    cr_assert_eq(sh_mse_hs_feed(&p.b, m.data, m.len - 1, &o), SH_MSE_HS_MORE);
    cr_expect_eq(sh_mse_hs_feed(&p.b, m.data + m.len - 1, 1, &o), SH_MSE_HS_DONE);
    cr_expect_eq(p.b.in.len, lens[i]);
    cr_expect_eq(p.b.method, SH_MSE_RC4);
    sh_buf_free(&m);
    sh_buf_free(&o);
    pair_free(&p);
  }
}

Test(mse, initiator_refuses_a_selection_it_did_not_offer_and_long_padd)
{
  /* step 4 forged with B's key: select plaintext to an initiator that
   * offered RC4 only, then a legal select with PadD of 513 */
  struct {
    uint32_t sel;
    uint16_t padd;
    const char *why;
  } k[] = {{SH_MSE_PLAIN, 0, "did not offer"}, {3, 0, "did not offer"},
           {SH_MSE_RC4, 513, "PadD is longer"}};
  for (int i = 0; i < 3; i++) {
    struct pair p;
    pair_init(&p, "rc4");
    p.a.cfg.allow = SH_MSE_RC4;
    struct sh_buf o = SH_BUF_INIT;
    sh_mse_hs_start(&p.a, &o);
    cr_assert_eq(sh_mse_hs_feed(&p.a, get("rc4", "step2")->v, get("rc4", "step2")->n, &o), 0);
    uint8_t e[14] = {0};
    sh_wr32(e + 8, k[i].sel);
    sh_wr16(e + 12, k[i].padd);
    struct sh_rc4 r;
    sh_rc4_init(&r, get("rc4", "key_b")->v, 20);
    sh_rc4_skip(&r, 1024);
    sh_rc4_crypt(&r, e, e, sizeof e);
    sh_rc4_free(&r);
    expect_refused(&p.a, e, sizeof e, k[i].why);
    sh_buf_free(&o);
    pair_free(&p);
  }
}

Test(mse, degenerate_public_keys)
{
  uint8_t y[96];
  for (int v = 0; v < 3; v++) {
    struct pair p;
    pair_init(&p, "rc4");
    memset(y, 0, sizeof y);
    if (v == 1)
      y[95] = 1;
    if (v == 2) { /* P - 1 */
      static const char pm1[] =
          "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
          "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
          "4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090562";
      sh_unhex(pm1, y, 96);
    }
    expect_refused(&p.b, y, sizeof y, "degenerate");
    pair_free(&p);
  }
}

Test(mse, fed_out_of_turn)
{
  struct pair p;
  pair_init(&p, "rc4");
  struct sh_buf o = SH_BUF_INIT;
  /* an initiator must write step 1 before it reads */
  cr_expect_eq(sh_mse_hs_feed(&p.a, (const uint8_t *)"x", 1, &o), SH_EPROTO);
  cr_expect_eq(sh_mse_hs_offer_ia(&p.b, (const uint8_t *)"x", 1), 0, "a responder sends no IA");
  sh_buf_free(&o);
  pair_free(&p);
}
