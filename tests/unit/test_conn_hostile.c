/* Hostile peers against the engine: a raw TCP client (in a thread, plain
 * blocking sockets) speaks bad protocol to a seeding session; each case must
 * end with the engine hanging up, and the seed must keep serving others. */
#include "test_engine_harness.h"

/* 5 pieces of 256 KiB and a short sixth: a 1-byte bitfield with two spare
 * bits, and pieces large enough that a 128 KiB + 1 request fits inside one. */
#define PIECE (256u * 1024)
#define NPIECES 6u

struct fixture {
  uv_loop_t loop;
  struct th_torrent tt;
  char *dir;
  shoal_session *seed;
  shoal_torrent *st;
  uint8_t ih[20];
  volatile int complete;
};

static void on_complete(shoal_torrent *t, void *ud)
{
  (void)t;
  *(volatile int *)ud = 1;
}

static uint32_t fixture_handshake_ms, fixture_idle_ms;
static int fixture_max_total;

static void seed_up(struct fixture *f)
{
  static const struct th_file files[] = {{"hostile.bin", 5 * PIECE + 1000, 0}};
  uv_loop_init(&f->loop);
  th_torrent_build(&f->tt, "hostile.bin", files, 1, 0, PIECE);
  f->dir = th_tmpdir();
  th_write_content(&f->tt, f->dir);
  struct shoal_settings set;
  th_settings(&set);
  set.handshake_timeout_ms = fixture_handshake_ms;
  set.idle_timeout_ms = fixture_idle_ms;
  set.max_peers_total = fixture_max_total;
  f->seed = th_session(&f->loop, &set);
  struct sh_metainfo *m = th_metainfo(&f->tt);
  memcpy(f->ih, m->info_hash, 20);
  cr_assert_eq(m->num_pieces, NPIECES);
  struct shoal_add_opts o = {f->dir, NULL, 1, {on_complete, NULL, NULL, (void *)&f->complete}};
  cr_assert_eq(shoal_torrent_add(f->seed, m, &o, &f->st), 0);
  cr_assert(th_run_until(&f->loop, &f->complete, NULL, NULL, 20000), "seed ready");
}

static void seed_down(struct fixture *f)
{
  th_close(&f->loop, &f->seed, 1);
  cr_expect_eq(uv_loop_close(&f->loop), 0);
  th_torrent_free(&f->tt);
  th_rmtree(f->dir);
}

struct raw_job {
  uint16_t port;
  int silent;         /* connect and send nothing at all */
  uint8_t hs[68];
  const uint8_t *msg;
  size_t len;
  int wait_s;
  int closed;         /* out: the engine hung up */
  atomic_int done;
};

static void *raw_client(void *arg)
{
  struct raw_job *j = arg;
  int fd = th_connect(j->port);
  if (fd < 0) {
    atomic_store(&j->done, 1);
    return NULL;
  }
  if (j->silent)
    j->closed = th_wait_eof(fd, j->wait_s);
  else if (th_send_all(fd, j->hs, 68) < 0 || (j->len && th_send_all(fd, j->msg, j->len) < 0))
    j->closed = 1; /* it hung up while we were still talking */
  else
    j->closed = th_wait_eof(fd, j->wait_s);
  close(fd);
  atomic_store(&j->done, 1);
  return NULL;
}

static int job_done(void *ud) { return atomic_load(&((struct raw_job *)ud)->done); }

/* Runs one raw client against the seed; returns whether it was hung up on. */
static int run_raw(struct fixture *f, const uint8_t *hs, const uint8_t *msg, size_t len,
                   int wait_s)
{
  struct raw_job j = {.port = shoal_session_port(f->seed), .msg = msg, .len = len,
                      .wait_s = wait_s};
  memcpy(j.hs, hs, 68);
  atomic_init(&j.done, 0);
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, raw_client, &j), 0);
  th_run_until(&f->loop, NULL, job_done, &j, (uint64_t)wait_s * 1000 + 10000);
  pthread_join(th, NULL);
  return j.closed;
}

/* The seed still serves a well-behaved leecher after the abuse. */
static void seed_still_serves(struct fixture *f)
{
  struct shoal_settings set;
  th_settings(&set);
  shoal_session *l = th_session(&f->loop, &set);
  char *ldir = th_tmpdir();
  volatile int done = 0;
  struct shoal_add_opts o = {ldir, NULL, 0, {on_complete, NULL, NULL, (void *)&done}};
  shoal_torrent *lt;
  cr_assert_eq(shoal_torrent_add(l, th_metainfo(&f->tt), &o, &lt), 0);
  th_add_peer(lt, shoal_session_port(f->seed));
  cr_assert(th_run_until(&f->loop, &done, NULL, NULL, 30000), "download after the abuse");
  th_close(&f->loop, &l, 1);
  cr_expect(th_content_equal(&f->tt, ldir));
  th_rmtree(ldir);
}

static void hostile_case(const uint8_t *msg, size_t len, int fast, int good_hash)
{
  struct fixture f;
  memset(&f, 0, sizeof f);
  seed_up(&f);
  uint8_t hs[68], ih[20];
  memcpy(ih, f.ih, 20);
  if (!good_hash)
    ih[0] ^= 0xff;
  th_handshake(hs, ih, "-XX0000-hostile00001", fast);
  cr_expect(run_raw(&f, hs, msg, len, 10), "the engine hung up on the hostile peer");
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
  memset(&f, 0, sizeof f);
  seed_up(&f);
  uint8_t hs[68], msg[16];
  th_handshake(hs, f.ih, "-XX0000-goodpeer0001", 1);
  size_t n = put_msg(msg, 2, NULL, 0);
  cr_expect_not(run_raw(&f, hs, msg, n, 3), "a polite peer keeps its connection");
  seed_down(&f);
}

Test(conn_hostile, wrong_info_hash, .timeout = 60) { hostile_case(NULL, 0, 1, 0); }

Test(conn_hostile, bad_protocol_string, .timeout = 60)
{
  struct fixture f;
  memset(&f, 0, sizeof f);
  seed_up(&f);
  uint8_t hs[68];
  th_handshake(hs, f.ih, "-XX0000-hostile00002", 1);
  memcpy(hs + 1, "BitTorrent protocoX", 19);
  cr_expect(run_raw(&f, hs, NULL, 0, 10));
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
  memset(&f, 0, sizeof f);
  seed_up(&f);
  uint8_t hs[68];
  th_handshake(hs, f.ih, "-XX0000-twobitfield1", 1);
  uint8_t msg[17] = {0, 0, 0, 1, 0x0f, 0, 0, 0, 2, 5, 0x80, 0, 0, 0, 2, 5, 0x40};
  cr_expect_not(run_raw(&f, hs, msg, sizeof msg, 3), "kept after have_none + 2 bitfields");
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

Test(conn_hostile, garbage_instead_of_a_handshake, .timeout = 60)
{
  struct fixture f;
  memset(&f, 0, sizeof f);
  seed_up(&f);
  uint8_t hs[68];
  memset(hs, 0xee, sizeof hs);
  cr_expect(run_raw(&f, hs, NULL, 0, 10));
  seed_still_serves(&f);
  seed_down(&f);
}

Test(conn_hostile, silent_connection_times_out_in_the_handshake, .timeout = 60)
{
  fixture_handshake_ms = 1000;
  struct fixture f;
  memset(&f, 0, sizeof f);
  seed_up(&f);
  struct raw_job j = {.port = shoal_session_port(f.seed), .silent = 1, .wait_s = 15};
  atomic_init(&j.done, 0);
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, raw_client, &j), 0);
  th_run_until(&f.loop, NULL, job_done, &j, 25000);
  pthread_join(th, NULL);
  cr_expect(j.closed, "a connection that never sends a handshake is closed");
  seed_down(&f);
}

Test(conn_hostile, idle_peer_times_out, .timeout = 60)
{
  /* a handshake and then silence: dropped after the idle timeout */
  fixture_idle_ms = 1500;
  struct fixture f;
  memset(&f, 0, sizeof f);
  seed_up(&f);
  uint8_t hs[68];
  th_handshake(hs, f.ih, "-XX0000-idlepeer0001", 1);
  cr_expect(run_raw(&f, hs, NULL, 0, 15), "an idle peer is closed");
  seed_down(&f);
}

/* BEP 6: a choked peer may fetch its allowed-fast pieces. The raw peer
 * never says `interested`, so it stays choked, and asks for a block of the
 * first piece the seed offered in allowed_fast. */
struct fast_job {
  uint16_t port;
  uint8_t ih[20];
  int allowed, served, rejected;
  atomic_int done;
};

static void *fast_client(void *arg)
{
  struct fast_job *j = arg;
  int fd = th_connect(j->port);
  uint8_t hs[68], buf[20000];
  th_handshake(hs, j->ih, "-XX0000-fastpeer0001", 1);
  if (fd < 0 || th_send_all(fd, hs, 68) < 0 || th_recv_all(fd, hs, 68) < 0)
    goto out;
  int32_t first = -1;
  for (int i = 0; i < 40 && (first < 0 || (!j->served && !j->rejected)); i++) {
    uint32_t len = 0;
    int id = th_read_msg(fd, buf, sizeof buf, &len);
    if (id == -2)
      break;
    if (id == 0x11 && len == 4) {
      j->allowed++;
      if (first < 0) {
        first = (int32_t)sh_rd32(buf);
        uint8_t req[17];
        sh_wr32(req, 13);
        req[4] = 6;
        sh_wr32(req + 5, (uint32_t)first);
        sh_wr32(req + 9, 0);
        sh_wr32(req + 13, 16384);
        if (th_send_all(fd, req, sizeof req) < 0)
          break;
      }
    } else if (id == 7 && len == 8 + 16384 && sh_rd32(buf) == (uint32_t)first) {
      j->served = 1;
    } else if (id == 0x10) {
      j->rejected = 1;
    }
  }
out:
  if (fd >= 0)
    close(fd);
  atomic_store(&j->done, 1);
  return NULL;
}

static int fast_done(void *ud) { return atomic_load(&((struct fast_job *)ud)->done); }

Test(conn_hostile, choked_fast_peer_gets_its_allowed_fast_pieces, .timeout = 60)
{
  struct fixture f;
  memset(&f, 0, sizeof f);
  seed_up(&f);
  struct fast_job j = {.port = shoal_session_port(f.seed)};
  memcpy(j.ih, f.ih, 20);
  atomic_init(&j.done, 0);
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, fast_client, &j), 0);
  th_run_until(&f.loop, NULL, fast_done, &j, 30000);
  pthread_join(th, NULL);
  cr_expect_eq(j.allowed, (int)NPIECES, "allowed_fast for every piece of a 6-piece torrent");
  cr_expect(j.served, "the block was served while choked");
  cr_expect_not(j.rejected);
  seed_down(&f);
}

/* A flood of silent sockets: past twice max_peers_total, new ones are shut
 * at once instead of each holding a read buffer until its handshake
 * timeout (20 s by default). */
struct flood_job {
  uint16_t port;
  int closed_fast;
  atomic_int done;
};

static void *flood_client(void *arg)
{
  struct flood_job *j = arg;
  int fds[6];
  for (int i = 0; i < 6; i++)
    fds[i] = th_connect(j->port);
  /* 2 * 2 = 4 are allowed: the fifth and sixth are over the limit */
  j->closed_fast = fds[5] >= 0 && th_wait_eof(fds[5], 5);
  for (int i = 0; i < 6; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  atomic_store(&j->done, 1);
  return NULL;
}

static int flood_done(void *ud) { return atomic_load(&((struct flood_job *)ud)->done); }

Test(conn_hostile, connection_flood_is_capped, .timeout = 60)
{
  fixture_max_total = 2;
  struct fixture f;
  memset(&f, 0, sizeof f);
  seed_up(&f);
  struct flood_job j = {.port = shoal_session_port(f.seed)};
  atomic_init(&j.done, 0);
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, flood_client, &j), 0);
  th_run_until(&f.loop, NULL, flood_done, &j, 20000);
  pthread_join(th, NULL);
  cr_expect(j.closed_fast, "the connection over the limit was shut within 5 s");
  seed_down(&f);
}
