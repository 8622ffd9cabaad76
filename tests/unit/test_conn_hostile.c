/* Hostile peers against the engine: a raw peer on the in-memory transport
 * (test_mem_peer.h) speaks bad protocol to a seeding session without
 * sockets; each case must end with the engine hanging up, and the seed
 * must keep serving others. The control cases show that a polite peer is
 * kept, so the hostile ones test what they claim. */
#include "test_mem_peer.h"

/* 5 pieces of 256 KiB and a short sixth: a 1-byte bitfield with two spare
 * bits, and pieces large enough that a 128 KiB + 1 request fits inside one. */
#define PIECE (256u * 1024)
#define NPIECES 6u
/* The raw peer's address: IPv4 (BEP 6 allowed-fast sets are IPv4 only),
 * not loopback. */
#define RAW_IP "192.0.2.7"

struct fixture {
  uv_loop_t loop;
  struct th_torrent tt;
  char *dir;
  shoal_session *seed;
  shoal_id st;
  uint8_t ih[20];
};

static uint32_t fixture_handshake_ms, fixture_idle_ms;
static int fixture_max_total, fixture_encryption;

static void seed_up(struct fixture *f)
{
  static const struct th_file files[] = {{"hostile.bin", 5 * PIECE + 1000, 0}};
  memset(f, 0, sizeof *f);
  uv_loop_init(&f->loop);
  th_torrent_build(&f->tt, "hostile.bin", files, 1, 0, PIECE);
  f->dir = th_tmpdir();
  th_write_content(&f->tt, f->dir);
  struct shoal_settings set;
  th_settings_mem(&set);
  set.handshake_timeout_ms = fixture_handshake_ms;
  set.idle_timeout_ms = fixture_idle_ms;
  set.max_peers_total = fixture_max_total;
  set.encryption = fixture_encryption;
  f->seed = th_session(&f->loop, &set);
  f->st = th_add(f->seed, &f->tt, f->dir, 1);
  struct shoal_status st = th_status(f->seed, f->st);
  memcpy(f->ih, st.info_hash, 20);
  cr_assert_eq(st.num_pieces, NPIECES);
  cr_assert(th_wait_event(&f->loop, f->seed, f->st, SHOAL_EVENT_FINISHED, 20000), "seed ready");
}

static void seed_down(struct fixture *f)
{
  th_close(&f->loop, &f->seed, 1);
  cr_expect_eq(uv_loop_close(&f->loop), 0);
  th_torrent_free(&f->tt);
  th_rmtree(f->dir);
}

/* Runs one raw peer against the seed: it sends hs (when given) and msg,
 * then waits up to wait_ms. Returns whether the engine hung up. */
static int run_raw(struct fixture *f, const uint8_t *hs, const uint8_t *msg, size_t len,
                   uint64_t wait_ms)
{
  struct th_mpeer m;
  th_mpeer_accept(&m, &f->loop, f->seed, RAW_IP, 51000);
  if (hs)
    th_mpeer_send(&m, hs, 68);
  if (len)
    th_mpeer_send(&m, msg, len);
  int closed = th_run_until(&f->loop, NULL, th_mpeer_is_closed, &m, wait_ms);
  th_mpeer_close(&m, &f->loop);
  return closed;
}

/* The seed still serves a well-behaved leecher after the abuse. */
static void seed_still_serves(struct fixture *f)
{
  struct shoal_settings set;
  th_settings_mem(&set);
  set.encryption = fixture_encryption; /* a link refused is not redialled */
  shoal_session *l = th_session(&f->loop, &set);
  char *ldir = th_tmpdir();
  shoal_id lt = th_add(l, &f->tt, ldir, 0);
  th_link(&f->loop, l, lt, "192.0.2.8", f->seed, "192.0.2.1");
  cr_assert(th_wait_event(&f->loop, l, lt, SHOAL_EVENT_FINISHED, 30000),
            "download after the abuse");
  th_close(&f->loop, &l, 1);
  cr_expect(th_content_equal(&f->tt, ldir));
  th_rmtree(ldir);
}

static void hostile_case(const uint8_t *msg, size_t len, int fast, int good_hash)
{
  struct fixture f;
  seed_up(&f);
  uint8_t hs[68], ih[20];
  memcpy(ih, f.ih, 20);
  if (!good_hash)
    ih[0] ^= 0xff;
  th_handshake(hs, ih, "-XX0000-hostile00001", fast);
  cr_expect(run_raw(&f, hs, msg, len, 5000), "the engine hung up on the hostile peer");
  seed_still_serves(&f);
  seed_down(&f);
}

static size_t put_msg(uint8_t *out, uint8_t id, const uint32_t *ints, int n)
{
  sh_wr32(out, (uint32_t)(1 + 4 * n));
  out[4] = id;
  for (int i = 0; i < n; i++)
    sh_wr32(out + 5 + 4 * i, ints[i]);
  return 5 + 4 * (size_t)n;
}

Test(conn_hostile, control_well_behaved_peer_stays, .timeout = 60)
{
  /* The control: a correct handshake and `interested` is not hung up on
   * (so the cases below really test what they claim). */
  struct fixture f;
  seed_up(&f);
  uint8_t hs[68], msg[16];
  th_handshake(hs, f.ih, "-XX0000-goodpeer0001", 1);
  size_t n = put_msg(msg, 2, NULL, 0);
  cr_expect_not(run_raw(&f, hs, msg, n, 500), "a polite peer keeps its connection");
  seed_down(&f);
}

Test(conn_hostile, wrong_info_hash, .timeout = 60) { hostile_case(NULL, 0, 1, 0); }

Test(conn_hostile, bad_protocol_string, .timeout = 60)
{
  struct fixture f;
  seed_up(&f);
  uint8_t hs[68];
  th_handshake(hs, f.ih, "-XX0000-hostile00002", 1);
  memcpy(hs + 1, "BitTorrent protocoX", 19);
  cr_expect(run_raw(&f, hs, NULL, 0, 5000));
  seed_still_serves(&f);
  seed_down(&f);
}

Test(conn_hostile, message_longer_than_allowed, .timeout = 60)
{
  /* a 1 MiB `piece` frame: more than any block we would ever ask for */
  uint8_t msg[5];
  sh_wr32(msg, 1u << 20);
  msg[4] = 7;
  hostile_case(msg, sizeof msg, 1, 1);
}

Test(conn_hostile, request_past_the_last_piece, .timeout = 60)
{
  uint8_t msg[64];
  size_t n = put_msg(msg, 2, NULL, 0);
  uint32_t req[3] = {NPIECES, 0, 16384};
  n += put_msg(msg + n, 6, req, 3);
  hostile_case(msg, n, 1, 1);
}

Test(conn_hostile, request_larger_than_128k, .timeout = 60)
{
  uint8_t msg[64];
  size_t n = put_msg(msg, 2, NULL, 0);
  uint32_t req[3] = {0, 0, 128 * 1024 + 1};
  n += put_msg(msg + n, 6, req, 3);
  hostile_case(msg, n, 1, 1);
}

Test(conn_hostile, request_past_the_end_of_a_piece, .timeout = 60)
{
  uint8_t msg[64];
  size_t n = put_msg(msg, 2, NULL, 0);
  uint32_t req[3] = {NPIECES - 1, 0, 16384}; /* the last piece is 1000 bytes */
  n += put_msg(msg + n, 6, req, 3);
  hostile_case(msg, n, 1, 1);
}

Test(conn_hostile, bitfield_of_the_wrong_length, .timeout = 60)
{
  uint8_t msg[8] = {0, 0, 0, 3, 5, 0xfc, 0x00};
  hostile_case(msg, 7, 1, 1);
}

Test(conn_hostile, bitfield_with_spare_bits_set, .timeout = 60)
{
  /* 6 pieces: the low two bits of the byte must be zero (BEP 3) */
  uint8_t msg[6] = {0, 0, 0, 2, 5, 0xff};
  hostile_case(msg, 6, 1, 1);
}

Test(conn_hostile, fast_message_without_fast_extension, .timeout = 60)
{
  uint8_t msg[5] = {0, 0, 0, 1, 0x0e}; /* have_all */
  hostile_case(msg, 5, 0, 1);
}

Test(conn_hostile, second_bitfield_replaces_the_first, .timeout = 60)
{
  /* Not hostile: aria2 sends have_none and then a bitfield. The newest
   * wins and the connection stays. */
  struct fixture f;
  seed_up(&f);
  uint8_t hs[68];
  th_handshake(hs, f.ih, "-XX0000-twobitfield1", 1);
  uint8_t msg[17] = {0, 0, 0, 1, 0x0f, 0, 0, 0, 2, 5, 0x80, 0, 0, 0, 2, 5, 0x40};
  cr_expect_not(run_raw(&f, hs, msg, sizeof msg, 500), "kept after have_none + 2 bitfields");
  seed_down(&f);
}

Test(conn_hostile, many_unrequested_blocks, .timeout = 60)
{
  /* 80 `piece` messages the seed never asked for */
  size_t one = 13 + 16384, n = 80;
  uint8_t *msg = calloc(n, one);
  for (size_t i = 0; i < n; i++) {
    uint8_t *p = msg + i * one;
    sh_wr32(p, 9 + 16384);
    p[4] = 7;
    sh_wr32(p + 5, (uint32_t)(i % 5));
    sh_wr32(p + 9, (uint32_t)(i % 16) * 16384);
  }
  hostile_case(msg, n * one, 1, 1);
  free(msg);
}

/* n bytes of 0xee where a handshake should be: hung up on within 5 s. */
static void garbage_case(size_t n, int then_serve)
{
  struct fixture f;
  seed_up(&f);
  uint8_t *g = malloc(n);
  memset(g, 0xee, n);
  cr_expect(run_raw(&f, g, g + 68, n - 68, 5000), "hung up on %zu bytes of garbage", n);
  free(g);
  if (then_serve)
    seed_still_serves(&f);
  seed_down(&f);
}

Test(conn_hostile, garbage_instead_of_a_handshake, .timeout = 60)
{
  /* with encryption off nothing but a plaintext handshake may come: 68
   * bytes of garbage are refused as they arrive */
  fixture_encryption = SHOAL_ENC_OFF;
  garbage_case(68, 1);
}

/* Accepting encrypted handshakes (the default), garbage is the start of a
 * Diffie-Hellman key until MSE's limits say otherwise: 96 bytes of key
 * and at most 512 of padding before HASH('req1', S). */
Test(conn_hostile, garbage_past_the_encrypted_handshake_limit, .timeout = 60)
{
  garbage_case(68 + 96 + 532, 1); /* the default 20 s timeout is not what closes it */
}

Test(conn_hostile, short_garbage_waits_for_the_handshake_timeout, .timeout = 60)
{
  fixture_handshake_ms = 300; /* a key that never completes */
  garbage_case(68, 0);
}

Test(conn_hostile, silent_connection_times_out_in_the_handshake, .timeout = 60)
{
  fixture_handshake_ms = 300;
  struct fixture f;
  seed_up(&f);
  cr_expect(run_raw(&f, NULL, NULL, 0, 5000), "a connection that never sends a handshake is closed");
  seed_down(&f);
}

Test(conn_hostile, idle_peer_times_out, .timeout = 60)
{
  /* a handshake and then silence: dropped after the idle timeout */
  fixture_idle_ms = 300;
  struct fixture f;
  seed_up(&f);
  uint8_t hs[68];
  th_handshake(hs, f.ih, "-XX0000-idlepeer0001", 1);
  cr_expect(run_raw(&f, hs, NULL, 0, 5000), "an idle peer is closed");
  seed_down(&f);
}

/* BEP 6: a choked peer may fetch its allowed-fast pieces. The raw peer
 * never says `interested`, so it stays choked, and asks for a block of the
 * first piece the seed offered in allowed_fast. */
struct fast_job {
  int allowed, served, rejected;
  int32_t first;
};

static void fast_msg(struct th_mpeer *m, int id, const uint8_t *p, uint32_t len)
{
  struct fast_job *j = m->ud;
  if (id == 0x11 && len == 4) {
    j->allowed++;
    if (j->first < 0) {
      j->first = (int32_t)sh_rd32(p);
      uint8_t req[17];
      sh_wr32(req, 13);
      req[4] = 6;
      sh_wr32(req + 5, (uint32_t)j->first);
      sh_wr32(req + 9, 0);
      sh_wr32(req + 13, 16384);
      th_mpeer_send(m, req, sizeof req);
    }
  } else if (id == 7 && len == 8 + 16384 && sh_rd32(p) == (uint32_t)j->first) {
    j->served = 1;
  } else if (id == 0x10) {
    j->rejected = 1;
  }
}

static int fast_done(void *ud)
{
  struct th_mpeer *m = ud;
  struct fast_job *j = m->ud;
  return m->closed || j->served || j->rejected;
}

Test(conn_hostile, choked_fast_peer_gets_its_allowed_fast_pieces, .timeout = 60)
{
  struct fixture f;
  seed_up(&f);
  struct fast_job j = {.first = -1};
  struct th_mpeer m;
  th_mpeer_accept(&m, &f.loop, f.seed, RAW_IP, 51001);
  m.on_msg = fast_msg;
  m.ud = &j;
  uint8_t hs[68];
  th_handshake(hs, f.ih, "-XX0000-fastpeer0001", 1);
  th_mpeer_send(&m, hs, 68);
  th_run_until(&f.loop, NULL, fast_done, &m, 10000);
  th_mpeer_close(&m, &f.loop);
  cr_expect_eq(j.allowed, (int)NPIECES, "allowed_fast for every piece of a 6-piece torrent");
  cr_expect(j.served, "the block was served while choked");
  cr_expect_not(j.rejected);
  seed_down(&f);
}

/* A flood of silent connections: past twice max_peers_total, new ones are
 * shut at once instead of each holding a read buffer until its handshake
 * timeout (20 s by default). */
Test(conn_hostile, connection_flood_is_capped, .timeout = 60)
{
  fixture_max_total = 2;
  struct fixture f;
  seed_up(&f);
  struct th_mpeer m[6];
  for (int i = 0; i < 6; i++)
    th_mpeer_accept(&m[i], &f.loop, f.seed, RAW_IP, (uint16_t)(52000 + i));
  /* 2 * 2 = 4 are allowed: the fifth and sixth are over the limit */
  cr_expect(th_run_until(&f.loop, NULL, th_mpeer_is_closed, &m[5], 1000),
            "the connection over the limit was shut at once");
  cr_expect(m[4].closed);
  for (int i = 0; i < 4; i++)
    cr_expect_not(m[i].closed, "connection %d within the limit stays", i);
  for (int i = 0; i < 6; i++)
    th_mpeer_close(&m[i], &f.loop);
  seed_down(&f);
}
