/* Encrypted connections (peer/mse.h under peer/conn.h): two hubs, A that
 * dials and B that accepts, over the in-memory pair and over loopback TCP;
 * what each policy pair settles on, data through RC4 with back-pressure,
 * and raw peers that break the handshake in every way the spec allows us
 * to notice, each checked against a bound. No session, no torrent. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/error.h"
#include "base/sha1.h"
#include "peer/conn.h"
#include "peer/memio.h"
#include "peer/mse_hs.h"
#include "peer/tcp.h"

struct side {
  int handshakes, messages, closes, frees;
  int closed_enc, closed_hs_failed; /* what the connection said when it closed */
  uint64_t bytes;          /* piece payload received */
  uint32_t bad;            /* payload bytes that were not what was sent */
  char why[200];
  struct sh_conn *c;
};

static struct side SA, SB; /* A dials, B accepts */
static uv_loop_t loop;
static struct sh_hub ha, hb;
static const uint8_t IH[20] = "0123456789abcdefghij";
static int know_ih = 1;    /* B's find_skey knows IH */
static int b_refuses;      /* B's upper layer refuses the BitTorrent handshake */

static int cb_handshake(void *ud, struct sh_conn *c, const struct sh_handshake *hs,
                        const char **why)
{
  struct side *s = ud;
  (void)hs;
  if (s == &SB && b_refuses) {
    *why = "refused by the test";
    return SH_ELIMIT;
  }
  s->handshakes++;
  s->c = c;
  if (!c->ud)
    sh_conn_set_ud(c, s);
  return 0;
}

/* Payload byte k of the stream A sends is (k * 7 + 1) mod 251. */
static uint8_t pattern(uint64_t k) { return (uint8_t)((k * 7 + 1) % 251); }

static int cb_message(void *ud, struct sh_conn *c, const struct sh_msg *m, const char **why)
{
  struct side *s = ud;
  (void)c;
  (void)why;
  s->messages++;
  if (m->id == SH_MSG_PIECE) {
    for (uint32_t i = 0; i < m->data_len; i++)
      s->bad += m->data[i] != pattern(s->bytes + i);
    s->bytes += m->data_len;
  }
  return 0;
}

static void cb_nop(void *ud, struct sh_conn *c) { (void)ud, (void)c; }
static void cb_close(void *ud, struct sh_conn *c, const char *why)
{
  struct side *s = ud;
  s->closes++;
  s->closed_enc = c->enc;
  s->closed_hs_failed = c->hs_failed;
  snprintf(s->why, sizeof s->why, "%s", why);
}
static void cb_free(void *ud, struct sh_conn *c) { (void)c, ((struct side *)ud)->frees++; }

static int find_skey(void *ud, const uint8_t req2[20], uint8_t ih[20])
{
  uint8_t want[20];
  (void)ud;
  sh_mse_req2(IH, want);
  if (!know_ih || memcmp(req2, want, 20))
    return -1;
  memcpy(ih, IH, 20);
  return 0;
}

static const struct sh_conn_cb CB = {.on_handshake = cb_handshake,
                                     .on_message = cb_message,
                                     .on_read_done = cb_nop,
                                     .on_drained = cb_nop,
                                     .on_close = cb_close,
                                     .on_free = cb_free,
                                     .find_skey = find_skey};

static void hubs(enum sh_mse_policy a, enum sh_mse_policy b)
{
  struct sh_hub_opts o = {.handshake_timeout_ms = 200, .encryption = a};
  memcpy(o.peer_id, "-SH0100-aaaaaaaaaaaa", 20);
  sh_hub_init(&ha, &loop, &CB, &SA, &o);
  o.encryption = b;
  memcpy(o.peer_id, "-SH0100-bbbbbbbbbbbb", 20);
  sh_hub_init(&hb, &loop, &CB, &SB, &o);
}

static void setup(void)
{
  memset(&SA, 0, sizeof SA);
  memset(&SB, 0, sizeof SB);
  know_ih = 1;
  b_refuses = 0;
  sh_rc4_force_c(0);
  uv_loop_init(&loop);
}

static int closed;
static void on_hub_closed(void *ud) { (void)ud, closed++; }

static void close_hub(struct sh_hub *h)
{
  sh_hub_close_pending(h, "test over");
  for (size_t i = h->nconns; i-- > 0;)
    sh_conn_close(h->conns[i], "test over");
  sh_hub_close(h, on_hub_closed, NULL);
}

static void teardown(void)
{
  closed = 0;
  close_hub(&ha);
  close_hub(&hb);
  for (int i = 0; i < 200 && closed < 2; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  cr_expect_eq(closed, 2, "both hubs closed once their connections were gone");
  cr_expect_eq(uv_loop_close(&loop), 0, "every handle closed");
}

TestSuite(conn_mse, .init = setup, .fini = teardown, .timeout = 30);

static void on_tick(uv_timer_t *t) { (void)t; }

/* Runs the loop until cond() or ms milliseconds pass. */
static int run_until(int (*cond)(void), uint64_t ms)
{
  uv_timer_t tick; /* makes UV_RUN_ONCE return now and then */
  uv_timer_init(&loop, &tick);
  uv_timer_start(&tick, on_tick, 5, 5);
  uint64_t end = uv_now(&loop) + ms;
  while (!cond() && uv_now(&loop) < end) {
    uv_timer_again(&tick);
    uv_run(&loop, UV_RUN_ONCE);
  }
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  return cond();
}

static int both_active(void) { return SA.handshakes && SB.handshakes; }
static int a_closed(void) { return SA.closes > 0; }
static uint64_t want_bytes;
static int b_has_bytes(void) { return SB.bytes >= want_bytes || SB.closes; }

/* A dials B over an in-memory pair: A encrypted or not. */
static void link_mem(int encrypt)
{
  struct sh_transport *a, *b;
  cr_assert_eq(sh_memio_pair(&loop, NULL, NULL, &a, &b), 0);
  cr_assert_eq(sh_conn_accept(&hb, b, NULL), 0);
  struct sh_conn *c;
  cr_assert_eq(sh_conn_start(&ha, a, IH, &SA, &c), 0);
  if (encrypt)
    cr_assert_eq(sh_conn_encrypt(c), 0);
}

static void expect_settled(enum sh_mse_policy pa, enum sh_mse_policy pb, int encrypt,
                           enum sh_conn_enc want)
{
  hubs(pa, pb);
  link_mem(encrypt);
  cr_assert(run_until(both_active, 2000), "both handshakes (A: %s; B: %s)", SA.why, SB.why);
  cr_expect_eq(SA.c->enc, want, "A: %d", SA.c->enc);
  cr_expect_eq(SB.c->enc, want, "B: %d", SB.c->enc);
}

Test(conn_mse, prefer_dials_and_prefer_accepts_header_only)
{
  expect_settled(SH_MSE_PREFER, SH_MSE_PREFER, 1, SH_CONN_ENC_HEADER);
  /* header-only passes file extents through: sendfile stays possible */
  cr_expect(SA.c->tr->ops->sendfile == NULL, "memio has none, so neither has the wrapper");
}

Test(conn_mse, require_on_either_side_means_rc4)
{
  expect_settled(SH_MSE_REQUIRE, SH_MSE_PREFER, 1, SH_CONN_ENC_RC4);
}

Test(conn_mse, require_accepting_picks_rc4_from_an_offer_of_both)
{
  expect_settled(SH_MSE_PREFER, SH_MSE_REQUIRE, 1, SH_CONN_ENC_RC4);
  cr_expect(SA.c->tr->ops->sendfile == NULL, "no sendfile under RC4");
}

Test(conn_mse, plaintext_dial_to_prefer_stays_plaintext)
{
  expect_settled(SH_MSE_OFF, SH_MSE_PREFER, 0, SH_CONN_ENC_NONE);
}

Test(conn_mse, plaintext_refused_by_require)
{
  hubs(SH_MSE_OFF, SH_MSE_REQUIRE);
  link_mem(0);
  cr_assert(run_until(a_closed, 2000));
  cr_expect(strstr(SB.why, "") && SB.closes == 0, "B attached nothing");
  cr_expect(SA.c == NULL && SA.handshakes == 0);
  cr_expect(strstr(SA.why, "closed by the peer"), "A: %s", SA.why);
  cr_expect_eq(hb.nconns, 0);
}

Test(conn_mse, encrypted_dial_refused_by_off_fails_inside_mse)
{
  hubs(SH_MSE_PREFER, SH_MSE_OFF);
  link_mem(1);
  cr_assert(run_until(a_closed, 2000));
  cr_expect(strstr(SA.why, "encrypted handshake failed"), "A: %s", SA.why);
  cr_expect(SA.closed_hs_failed && SA.closed_enc == SH_CONN_ENC_PENDING,
            "what the engine reads to fall back to plaintext");
}

Test(conn_mse, a_refusal_after_the_encrypted_handshake_is_no_encryption_failure)
{
  /* B completes MSE, then refuses the BitTorrent handshake: A must not
   * take it for a peer that refuses encryption */
  b_refuses = 1;
  hubs(SH_MSE_PREFER, SH_MSE_PREFER);
  link_mem(1);
  cr_assert(run_until(a_closed, 2000));
  cr_expect(SA.closed_hs_failed, "closed before the peer's handshake");
  cr_expect_eq(SA.closed_enc, SH_CONN_ENC_HEADER, "but the encryption had worked");
}

Test(conn_mse, unknown_torrent_is_refused_by_its_key)
{
  know_ih = 0;
  hubs(SH_MSE_PREFER, SH_MSE_PREFER);
  link_mem(1);
  cr_assert(run_until(a_closed, 2000));
  cr_expect_eq(SB.handshakes, 0);
  cr_expect(strstr(SA.why, "encrypted handshake failed"), "A: %s", SA.why);
}

/* A sends `total` payload bytes to B in 16 KiB blocks as fast as the
 * transport takes them. */
static uint64_t sent;
static void pump_blocks(struct sh_conn *c, uint64_t total)
{
  static uint8_t blk[16384];
  while (sent < total && sh_conn_backlog(c) < 1024 * 1024) {
    uint32_t n = total - sent < sizeof blk ? (uint32_t)(total - sent) : (uint32_t)sizeof blk;
    for (uint32_t i = 0; i < n; i++)
      blk[i] = pattern(sent + i);
    /* a copy per block: the test's buffer is reused */
    uint8_t *copy = malloc(n);
    memcpy(copy, blk, n);
    struct sh_conn_block b = {.data = copy, .release = free, .pin = copy};
    sh_conn_send_block(c, 0, (uint32_t)(sent % (1u << 20)), n, &b);
    sent += n;
  }
}

static struct sh_conn *sender;
static uint64_t send_total;
static void on_check(uv_check_t *h)
{
  (void)h;
  if (sender && sender->state == SH_CONN_ACTIVE)
    pump_blocks(sender, send_total);
}

static void transfer(uint64_t total)
{
  static uv_check_t chk; /* closed on a later loop turn, after we return */
  uv_check_init(&loop, &chk);
  uv_check_start(&chk, on_check);
  sent = 0;
  sender = SA.c;
  send_total = want_bytes = total;
  cr_assert(run_until(b_has_bytes, 20000), "B got %llu of %llu bytes",
            (unsigned long long)SB.bytes, (unsigned long long)total);
  uv_close((uv_handle_t *)&chk, NULL);
  cr_expect_eq(SB.bytes, total);
  cr_expect_eq(SB.bad, 0, "every byte decrypted to what was sent");
  cr_expect_eq(SB.closes, 0, "%s", SB.why);
}

Test(conn_mse, rc4_stream_of_eight_megabytes_over_the_memory_pair)
{
  expect_settled(SH_MSE_REQUIRE, SH_MSE_REQUIRE, 1, SH_CONN_ENC_RC4);
  transfer(8u << 20);
}

Test(conn_mse, rc4_with_the_c_loop_too)
{
  sh_rc4_force_c(1);
  expect_settled(SH_MSE_REQUIRE, SH_MSE_REQUIRE, 1, SH_CONN_ENC_RC4);
  transfer(1u << 20);
}

Test(conn_mse, header_only_stream_of_eight_megabytes)
{
  expect_settled(SH_MSE_PREFER, SH_MSE_PREFER, 1, SH_CONN_ENC_HEADER);
  transfer(8u << 20);
}

/* ---- over loopback TCP: the dial path (connect, then MSE) ---- */

static uv_tcp_t server;
static void on_conn(uv_stream_t *s, int status)
{
  struct sh_transport *tr;
  cr_assert_eq(status, 0);
  cr_assert_eq(sh_tcp_accept(&loop, s, 0, &tr), 0);
  cr_assert_eq(sh_conn_accept(&hb, tr, NULL), 0);
}

Test(conn_mse, rc4_over_tcp_dialled_then_sixty_four_megabytes)
{
  hubs(SH_MSE_REQUIRE, SH_MSE_PREFER);
  struct sockaddr_in sin;
  uv_ip4_addr("127.0.0.1", 0, &sin);
  uv_tcp_init(&loop, &server);
  cr_assert_eq(uv_tcp_bind(&server, (struct sockaddr *)&sin, 0), 0);
  cr_assert_eq(uv_listen((uv_stream_t *)&server, 8, on_conn), 0);
  struct sockaddr_storage ss;
  int len = sizeof ss;
  uv_tcp_getsockname(&server, (struct sockaddr *)&ss, &len);
  struct sh_addr addr;
  sh_addr_from_sockaddr(&addr, (struct sockaddr *)&ss);
  struct sh_conn *c;
  cr_assert_eq(sh_conn_dial(&ha, &addr, IH, 0, &(struct sh_conn_how){.tcp = 1}, &SA, &c), 0);
  cr_assert_eq(sh_conn_encrypt(c), 0);
  cr_assert(run_until(both_active, 5000), "A: %s; B: %s", SA.why, SB.why);
  cr_expect_eq(SA.c->enc, SH_CONN_ENC_RC4);
  cr_expect_eq(SB.c->enc, SH_CONN_ENC_RC4);
  transfer(64u << 20);
  uv_close((uv_handle_t *)&server, NULL);
}

/* ---- raw peers that break the handshake ---- */

static struct sh_transport *raw_to_b(void)
{
  hubs(SH_MSE_PREFER, SH_MSE_PREFER);
  struct sh_transport *a, *b;
  cr_assert_eq(sh_memio_pair(&loop, NULL, NULL, &a, &b), 0);
  cr_assert_eq(sh_conn_accept(&hb, b, NULL), 0);
  return a;
}

static void spin(int n)
{
  for (int i = 0; i < n; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* B's close reason is only logged (nothing was attached): watch the hub. */
static int b_empty(void) { return hb.nconns == 0; }

Test(conn_mse, ten_megabytes_of_padding_are_cut_off)
{
  struct sh_transport *raw = raw_to_b();
  static uint8_t junk[65536];
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (uint8_t)(i * 151 + 13 + (i >> 8));
  size_t sent_bytes = 0;
  for (int i = 0; i < 160 && !sh_memio_peer_closed(raw); i++) {
    ssize_t w = sh_memio_write(raw, junk, sizeof junk);
    sent_bytes += w > 0 ? (size_t)w : 0;
    spin(2);
    uint8_t sink[4096];
    while (sh_memio_read(raw, sink, sizeof sink))
      ;
  }
  cr_expect(sh_memio_peer_closed(raw), "hung up");
  cr_expect(run_until(b_empty, 1000));
  cr_expect_lt(sent_bytes, 1u << 20, "within the first reads, not after 10 MB");
  sh_memio_close(raw);
}

Test(conn_mse, a_handshake_that_never_finishes_times_out)
{
  struct sh_transport *raw = raw_to_b();
  uint8_t ya[96];
  memset(ya, 0x5a, sizeof ya);
  sh_memio_write(raw, ya, sizeof ya);
  spin(5);
  uint8_t back[700];
  size_t got = sh_memio_read(raw, back, sizeof back);
  cr_expect_geq(got, 96, "B answered with its key");
  cr_expect_not(sh_memio_peer_closed(raw));
  sh_hub_tick(&hb, uv_now(&loop) + 300);
  spin(3);
  cr_expect(sh_memio_peer_closed(raw), "closed after the 200 ms handshake timeout");
  sh_memio_close(raw);
}

/* A raw initiator built on the core, to send what a real one would and
 * then break or extend it. */
struct rawpeer {
  struct sh_transport *raw;
  struct sh_mse_hs hs;
  struct sh_buf out;
};

static void raw_start(struct rawpeer *r, uint32_t provide, const uint8_t *skey, const uint8_t *ia,
                      size_t ialen)
{
  memset(r, 0, sizeof *r);
  r->raw = raw_to_b();
  uint8_t rnd[SH_MSE_RAND_LEN];
  for (size_t i = 0; i < sizeof rnd; i++)
    rnd[i] = (uint8_t)(i * 13 + 5);
  struct sh_mse_hs_cfg cfg = {.initiator = 1, .allow = provide, .skey = skey};
  cr_assert_eq(sh_mse_hs_init(&r->hs, &cfg, rnd), 0);
  sh_mse_hs_start(&r->hs, &r->out);
  if (ialen)
    sh_mse_hs_offer_ia(&r->hs, ia, ialen);
  sh_memio_write(r->raw, r->out.data, r->out.len);
  sh_buf_reset(&r->out);
}

/* Reads B's replies into the core until step 3 is ready (or done). */
static int raw_turn(struct rawpeer *r)
{
  int rc = SH_MSE_HS_MORE;
  for (int i = 0; i < 100 && rc == SH_MSE_HS_MORE && !r->out.len; i++) {
    spin(1);
    uint8_t buf[4096];
    size_t n = sh_memio_read(r->raw, buf, sizeof buf);
    if (n)
      rc = sh_mse_hs_feed(&r->hs, buf, n, &r->out);
  }
  return rc;
}

static void raw_free(struct rawpeer *r)
{
  sh_memio_close(r->raw);
  sh_mse_hs_free(&r->hs);
  sh_buf_free(&r->out);
}

/* A BitTorrent handshake for ih from a peer with no reserved bits. */
static void bt_handshake(uint8_t out[68], const uint8_t ih[20])
{
  struct sh_handshake h = {.peer_id = "-XX0000-farendfarend"};
  memcpy(h.info_hash, ih, 20);
  sh_wire_handshake_encode(out, &h);
}

Test(conn_mse, stream_bytes_right_behind_ia_arrive_in_order)
{
  /* IA holds the handshake; five HAVEs follow in the same write as step
   * 3, so B gets them with the handshake's last bytes */
  uint8_t hs[68];
  bt_handshake(hs, IH);
  struct rawpeer r;
  raw_start(&r, SH_MSE_RC4, IH, hs, sizeof hs);
  cr_assert_eq(raw_turn(&r), SH_MSE_HS_MORE);
  cr_assert_gt(r.out.len, 0, "step 3 ready");
  uint8_t haves[5 * 9];
  for (int i = 0; i < 5; i++) {
    sh_wr32(haves + 9 * i, 5);
    haves[9 * i + 4] = SH_MSG_HAVE;
    sh_wr32(haves + 9 * i + 5, (uint32_t)i);
  }
  /* the stream after the handshake is RC4 under the same key stream */
  sh_rc4_crypt(&r.hs.enc, haves, haves, sizeof haves);
  sh_buf_append(&r.out, haves, sizeof haves);
  sh_memio_write(r.raw, r.out.data, r.out.len);
  spin(10);
  cr_expect_eq(SB.handshakes, 1, "%s", SB.why);
  cr_expect_eq(SB.messages, 5);
  cr_expect_eq(SB.c ? SB.c->enc : -1, SH_CONN_ENC_RC4);
  raw_free(&r);
}

Test(conn_mse, handshake_naming_another_torrent_than_the_key)
{
  uint8_t hs[68], other[20];
  memcpy(other, IH, 20);
  other[19] ^= 1;
  bt_handshake(hs, other);
  struct rawpeer r;
  raw_start(&r, SH_MSE_RC4, IH, hs, sizeof hs);
  raw_turn(&r);
  sh_memio_write(r.raw, r.out.data, r.out.len);
  cr_expect(run_until(b_empty, 1000));
  cr_expect_eq(SB.handshakes, 0);
  raw_free(&r);
}

Test(conn_mse, crypto_provide_zero_is_refused)
{
  struct rawpeer r;
  raw_start(&r, 0, IH, NULL, 0);
  raw_turn(&r);
  sh_memio_write(r.raw, r.out.data, r.out.len);
  cr_expect(run_until(b_empty, 1000));
  cr_expect(sh_memio_peer_closed(r.raw));
  raw_free(&r);
}

static int got_blocks(void) { return SB.messages >= 40 || SB.closes; }

Test(conn_mse, a_throttled_reader_gets_the_held_bytes_later)
{
  /* B's download allowance is spent when the handshake ends, so its
   * first read takes one byte and stops reading; the rest of the stream
   * bytes that came with the handshake wait in the wrapper until the
   * allowance refills (16 KiB at 200 KB/s: about 80 ms) */
  hubs(SH_MSE_PREFER, SH_MSE_PREFER);
  sh_hub_set_rates(&hb, 0, 200000);
  uint8_t hs[68];
  bt_handshake(hs, IH);
  struct sh_transport *a, *b;
  cr_assert_eq(sh_memio_pair(&loop, NULL, NULL, &a, &b), 0);
  cr_assert_eq(sh_conn_accept(&hb, b, NULL), 0);
  struct rawpeer r;
  memset(&r, 0, sizeof r);
  r.raw = a;
  uint8_t rnd[SH_MSE_RAND_LEN] = {7};
  struct sh_mse_hs_cfg cfg = {.initiator = 1, .allow = SH_MSE_RC4, .skey = IH};
  cr_assert_eq(sh_mse_hs_init(&r.hs, &cfg, rnd), 0);
  sh_mse_hs_start(&r.hs, &r.out);
  sh_mse_hs_offer_ia(&r.hs, hs, sizeof hs);
  sh_memio_write(r.raw, r.out.data, r.out.len);
  sh_buf_reset(&r.out);
  raw_turn(&r);
  uint8_t msgs[40 * 5]; /* 40 interested messages: 200 bytes */
  for (int i = 0; i < 40; i++) {
    sh_wr32(msgs + 5 * i, 1);
    msgs[5 * i + 4] = SH_MSG_INTERESTED;
  }
  sh_rc4_crypt(&r.hs.enc, msgs, msgs, sizeof msgs);
  sh_buf_append(&r.out, msgs, sizeof msgs);
  sh_ratelimit_take(&hb.down.bucket, uv_now(&loop), 1u << 20);
  sh_memio_write(r.raw, r.out.data, r.out.len);
  cr_assert(run_until(got_blocks, 5000), "B got %d messages: %s", SB.messages, SB.why);
  cr_expect_eq(SB.messages, 40);
  cr_expect_eq(SB.closes, 0, "%s", SB.why);
  raw_free(&r);
}
