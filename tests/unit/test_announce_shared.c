/* The session-wide UDP tracker client: the registry shares one client per
 * tracker host:port and frees it with its last user; a thousand torrents
 * on one udp:// tracker make one connect exchange and a thousand
 * announces, all from the one shared socket (the session's listen port);
 * replies with unknown transaction ids or from other addresses are
 * dropped. Against an in-process BEP 15 tracker on 127.0.0.1. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "announce/ann_udp.h"
#include "announce/ann_udpc.h"
#include "announce/announce.h"
#include "base/bencode.h"
#include "base/error.h"
#include "base/log.h"
#include "base/sha1.h"
#include "meta/metainfo.h"
#include "net/udp.h"
#include "engine/session.h" /* the session's UDP sockets, for their counters */
#include "shoal.h"
#include "test_announce_srv.h"

static uv_loop_t loop;
static uv_timer_t wd;
static struct usrv trk;
static uv_udp_t forger;

static void watchdog(uv_timer_t *t) { cr_assert_fail("test took longer than 120 s"); }

/* ---- a BEP 15 tracker that counts ---- */

#define MAXH 4096
static struct {
  int connects, announces, started, stopped;
  int wrong_port;       /* datagrams from a port other than want_port */
  uint16_t want_port;   /* host order; 0: not checked */
  int forge;            /* forge two replies to the next announce */
  int no_peers;         /* answer with an empty peer list */
  int mute;             /* take announces without answering */
  uint8_t hash[MAXH][20];
  int nh;
} bt;

static void forged_sent(uv_udp_send_t *r, int status) { free(r); }

static void forge_replies(struct usrv *s, const uint8_t *genuine, size_t n)
{
  uint8_t f[26];
  memcpy(f, genuine, 20);
  memcpy(f + 20, "\x7f\x00\x00\x63\x01\x01", 6); /* 127.0.0.99:257 */
  /* the right transaction id from another port */
  uv_udp_send_t *req = malloc(sizeof *req + sizeof f);
  memcpy(req + 1, f, sizeof f);
  uv_buf_t b = uv_buf_init((char *)(req + 1), sizeof f);
  uv_udp_send(req, &forger, &b, 1, (struct sockaddr *)&s->peer, forged_sent);
  /* from the tracker's own address, with a transaction id nobody sent */
  f[7] ^= 0x5a;
  usrv_send(s, f, sizeof f);
}

static void counting_tracker(struct usrv *s, const uint8_t *p, size_t n, struct sh_buf *out)
{
  if (bt.want_port && ntohs(((struct sockaddr_in *)&s->peer)->sin_port) != bt.want_port)
    bt.wrong_port++;
  uint8_t r[64];
  if (n >= 16 && sh_rd64(p) == ANN_UDP_PROTOCOL_ID && sh_rd32(p + 8) == 0) {
    bt.connects++;
    sh_wr32(r, 0);
    memcpy(r + 4, p + 12, 4);
    sh_wr64(r + 8, 0x0102030405060708ULL);
    sh_buf_append(out, r, 16);
    return;
  }
  if (n < 98 || sh_rd64(p) != 0x0102030405060708ULL || sh_rd32(p + 8) != 1)
    return;
  bt.announces++;
  uint32_t ev = sh_rd32(p + 80);
  if (ev == 2) {
    bt.started++;
    if (bt.nh < MAXH)
      memcpy(bt.hash[bt.nh++], p + 16, 20);
  } else if (ev == 3) {
    bt.stopped++;
  }
  if (bt.mute)
    return;
  sh_wr32(r, 1);
  memcpy(r + 4, p + 12, 4);
  sh_wr32(r + 8, 1800);
  sh_wr32(r + 12, 0);
  sh_wr32(r + 16, 1);
  memcpy(r + 20, "\x7f\x00\x00\x05\x1a\xe1", 6); /* 127.0.0.5:6881 */
  if (bt.forge) {
    bt.forge = 0;
    forge_replies(s, r, 26);
  }
  sh_buf_append(out, r, bt.no_peers ? 20 : 26);
}

static int cmp20(const void *a, const void *b) { return memcmp(a, b, 20); }

static int distinct_hashes(void)
{
  qsort(bt.hash, (size_t)bt.nh, 20, cmp20);
  int d = bt.nh > 0;
  for (int i = 1; i < bt.nh; i++)
    d += memcmp(bt.hash[i - 1], bt.hash[i], 20) != 0;
  return d;
}

static void setup(void)
{
  memset(&bt, 0, sizeof bt);
  cr_assert_eq(uv_loop_init(&loop), 0);
  uv_timer_init(&loop, &wd);
  uv_timer_start(&wd, watchdog, 120000, 0);
  usrv_start(&loop, &trk, counting_tracker);
  /* a thousand requests may arrive at once */
  int big = 4 << 20;
  uv_recv_buffer_size((uv_handle_t *)&trk.udp, &big);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_udp_init(&loop, &forger);
  uv_udp_bind(&forger, (struct sockaddr *)&a, 0);
}

static void teardown(void)
{
  usrv_stop(&trk);
  uv_close((uv_handle_t *)&forger, NULL);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_expect_eq(uv_loop_close(&loop), 0, "handles left open");
}

static void run_until(const int *v, int want)
{
  while (*v < want)
    uv_run(&loop, UV_RUN_ONCE);
}

static int closed;
static void on_closed(void *ud) { closed++; }

/* ---- the registry ---- */

Test(announce_shared, one_client_per_host_and_port, .init = setup, .fini = teardown)
{
  struct ann_udpc_reg *r = ann_udpc_reg_new(&loop, NULL, 0);
  cr_assert_not_null(r);
  int err;
  const char *pa, *pb, *pc;
  struct ann_udpc *a = ann_udpc_acquire(r, "udp://Tracker.Example:6969/announce", &pa, &err);
  struct ann_udpc *b =
      ann_udpc_acquire(r, "udp://tracker.example:6969/announce?passkey=x", &pb, &err);
  struct ann_udpc *c = ann_udpc_acquire(r, "udp://tracker.example:6970/announce", &pc, &err);
  cr_assert(a && b && c);
  cr_expect_eq(a, b, "same host (in any case) and port: one client");
  cr_expect_neq(a, c, "another port: another client");
  cr_expect_str_eq(pa, "/announce");
  cr_expect_str_eq(pb, "/announce?passkey=x", "each URL keeps its own BEP 41 path");
  cr_expect_eq(ann_udpc_reg_count(r), 2);
  cr_expect_null(ann_udpc_acquire(r, "udp://tracker.example/announce", &pa, &err));
  cr_expect_eq(err, SH_EURL, "no port");

  ann_udpc_release(a);
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_expect_eq(ann_udpc_reg_count(r), 2, "b still uses it");
  ann_udpc_release(b);
  ann_udpc_release(c);
  /* freed once their timers have closed */
  for (int i = 0; i < 3; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  cr_expect_eq(ann_udpc_reg_count(r), 0, "the last user leaving frees a client");
  closed = 0;
  ann_udpc_reg_close(r, on_closed, NULL);
  cr_expect_eq(closed, 0, "done never runs inside the call");
  run_until(&closed, 1);
}

Test(announce_shared, closing_registry_waits_for_its_users, .init = setup, .fini = teardown)
{
  struct ann_udpc_reg *r = ann_udpc_reg_new(&loop, NULL, 0);
  int err;
  const char *pq;
  struct ann_udpc *a = ann_udpc_acquire(r, "udp://127.0.0.1:1/", &pq, &err);
  closed = 0;
  ann_udpc_reg_close(r, on_closed, NULL);
  cr_expect_null(ann_udpc_acquire(r, "udp://127.0.0.1:2/", &pq, &err));
  cr_expect_eq(err, -ECANCELED);
  for (int i = 0; i < 3; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  cr_expect_eq(closed, 0, "a is still in use");
  ann_udpc_release(a);
  run_until(&closed, 1);
}

/* ---- announcers on one shared socket ---- */

struct tor {
  int announced, npeers, forged, done, failed;
};

static void t_stats(void *ud, uint64_t *u, uint64_t *d, uint64_t *l)
{
  *u = *d = 0;
  *l = 1000;
}

static void t_peers(void *ud, const struct sockaddr_storage *a, size_t n)
{
  struct tor *t = ud;
  for (size_t i = 0; i < n; i++) {
    const struct sockaddr_in *p = (const struct sockaddr_in *)&a[i];
    t->npeers++;
    if (ntohs(p->sin_port) == 257)
      t->forged++;
  }
}

static int nannounced, ndone, nfailed;
static void t_announced(void *ud, const struct sh_announce_info *i)
{
  ((struct tor *)ud)->announced++;
  nannounced++;
}
static void t_status(void *ud, const char *url, int err, const char *msg)
{
  if (err < 0) {
    ((struct tor *)ud)->failed++;
    nfailed++;
    if (!bt.mute)
      cr_log_warn("%s: %s", url, msg);
    else
      fprintf(stderr, "%s\n", msg);
  }
}
static void t_done(void *ud)
{
  ((struct tor *)ud)->done++;
  ndone++;
}

static struct sh_announcer *announcer(struct sh_announce_ctx *ctx, const char *url, int i,
                                      struct tor *t)
{
  char *urls[1] = {(char *)url};
  struct sh_tier tier = {urls, 1};
  uint8_t ih[20] = {0};
  sh_wr32(ih, (uint32_t)i + 1);
  struct sh_announce_callbacks cb = {t, t_stats, t_peers, t_status, t_announced, NULL, NULL};
  struct sh_announcer *a =
      sh_announcer_new(&loop, ctx, &tier, 1, ih, (const uint8_t *)"-SH0100-abcdefghijkl", 6881,
                       &cb, NULL);
  cr_assert_not_null(a);
  return a;
}

Test(announce_shared, two_announcers_share_a_client, .init = setup, .fini = teardown)
{
  struct ann_udpc_reg *r = ann_udpc_reg_new(&loop, NULL, 0);
  struct sh_announce_ctx ctx = {NULL, r};
  char url[64];
  snprintf(url, sizeof url, "udp://127.0.0.1:%u/announce", trk.port);
  struct tor t[2];
  memset(t, 0, sizeof t);
  nannounced = ndone = 0;
  struct sh_announcer *a = announcer(&ctx, url, 0, &t[0]);
  struct sh_announcer *b = announcer(&ctx, url, 1, &t[1]);
  sh_announcer_start(a);
  sh_announcer_start(b);
  run_until(&nannounced, 2);
  cr_expect_eq(ann_udpc_reg_count(r), 1);
  cr_expect_eq(bt.connects, 1, "one connect for both");
  cr_expect_eq(bt.started, 2);
  sh_announcer_stop(a, t_done, &t[0]);
  run_until(&ndone, 1);
  cr_expect_eq(ann_udpc_reg_count(r), 1, "b still uses it");
  sh_announcer_stop(b, t_done, &t[1]);
  run_until(&ndone, 2);
  for (int i = 0; i < 3; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  cr_expect_eq(ann_udpc_reg_count(r), 0, "the last announcer leaving freed it");
  cr_expect_eq(bt.stopped, 2);
  cr_expect_eq(bt.connects, 1, "the connection id is reused within 60 s");
  closed = 0;
  ann_udpc_reg_close(r, on_closed, NULL);
  run_until(&closed, 1);
}

#define NTOR 1000

Test(announce_shared, thousand_torrents_one_connect_one_socket, .init = setup,
     .fini = teardown)
{
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  struct sh_udp *sock;
  cr_assert_eq(sh_udp_open(&loop, (struct sockaddr *)&a, &sock), 0);
  struct sockaddr_storage local;
  sh_udp_local(sock, &local);
  bt.want_port = ntohs(((struct sockaddr_in *)&local)->sin_port);
  bt.forge = 1;
  struct ann_udpc_reg *r = ann_udpc_reg_new(&loop, &sock, 1);
  struct sh_announce_ctx ctx = {NULL, r};
  char url[64];
  snprintf(url, sizeof url, "udp://127.0.0.1:%u/announce", trk.port);
  static struct tor t[NTOR];
  static struct sh_announcer *an[NTOR];
  memset(t, 0, sizeof t);
  nannounced = ndone = nfailed = 0;
  for (int i = 0; i < NTOR; i++) {
    an[i] = announcer(&ctx, url, i, &t[i]);
    sh_announcer_start(an[i]);
  }
  run_until(&nannounced, NTOR);
  cr_expect_eq(bt.connects, 1, "one connect exchange for all");
  cr_expect_eq(bt.announces, NTOR, "one announce each, none retransmitted");
  cr_expect_eq(distinct_hashes(), NTOR);
  cr_expect_eq(bt.wrong_port, 0, "every datagram came from the shared socket's port");
  cr_expect_eq(nfailed, 0);
  int forged = 0, peers = 0;
  for (int i = 0; i < NTOR; i++) {
    forged += t[i].forged;
    peers += t[i].npeers;
  }
  cr_expect_eq(forged, 0, "the forged replies were not delivered");
  cr_expect_eq(peers, NTOR, "each got the genuine reply's one peer");
  /* the forgeries were dropped by the demultiplexer; make sure both have
   * arrived before reading the counters */
  struct sh_udp_stats st;
  for (int i = 0; i < 100; i++) {
    sh_udp_stats(sock, &st);
    if (st.dropped_in >= 2)
      break;
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_sleep(1);
  }
  cr_expect_eq(st.dropped_in, 2, "another port's reply, an unknown transaction id");
  cr_expect_eq(st.in[SH_UDP_TRACKER], 1 + NTOR);
  cr_expect_eq(st.out[SH_UDP_TRACKER], 1 + NTOR);
  cr_expect_eq(st.dropped_out, 0);

  for (int i = 0; i < NTOR; i++)
    sh_announcer_stop(an[i], t_done, &t[i]);
  run_until(&ndone, NTOR);
  cr_expect_eq(bt.stopped, NTOR);
  cr_expect_eq(bt.connects, 1, "still the same connection id");
  cr_expect_eq(bt.wrong_port, 0);
  closed = 0;
  ann_udpc_reg_close(r, on_closed, NULL);
  run_until(&closed, 1);
  sh_udp_close(sock, on_closed, NULL);
  run_until(&closed, 2);
}

/* A tracker that takes announces and never answers: only the window's
 * worth is ever in flight, the others wait their turn, and every
 * announcer still hears of the failure within its schedule. */
Test(announce_shared, window_caps_requests_in_flight, .init = setup, .fini = teardown)
{
  bt.mute = 1;
  struct ann_udpc_reg *r = ann_udpc_reg_new(&loop, NULL, 0);
  struct sh_announce_ctx ctx = {NULL, r};
  char url[64];
  snprintf(url, sizeof url, "udp://127.0.0.1:%u/announce", trk.port);
  enum { N = 100 };
  static struct tor t[N];
  static struct sh_announcer *an[N];
  memset(t, 0, sizeof t);
  nannounced = ndone = nfailed = 0;
  struct sh_announce_timing tm;
  sh_announce_timing_default(&tm);
  tm.udp_timeout_ms = 100;
  tm.udp_max_tries = 3; /* 100 + 200 + 400 ms */
  char *urls[1] = {url};
  struct sh_tier tier = {urls, 1};
  for (int i = 0; i < N; i++) {
    uint8_t ih[20] = {0};
    sh_wr32(ih, (uint32_t)i + 1);
    struct sh_announce_callbacks cb = {&t[i], t_stats, t_peers, t_status, t_announced, NULL, NULL};
    an[i] = sh_announcer_new(&loop, &ctx, &tier, 1, ih, (const uint8_t *)"-SH0100-abcdefghijkl",
                             6881, &cb, &tm);
    sh_announcer_start(an[i]);
  }
  uint64_t t0 = uv_hrtime();
  run_until(&bt.announces, ANN_UDPC_WINDOW);
  /* a little longer: nothing more may leave before a time-out */
  uint64_t until = uv_now(&loop) + 50;
  while (uv_now(&loop) < until) {
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_sleep(1);
    uv_update_time(&loop);
  }
  cr_expect_eq(bt.connects, 1);
  cr_expect_eq(bt.announces, ANN_UDPC_WINDOW, "only the window is in flight");
  run_until(&nfailed, N);
  double ms = (double)(uv_hrtime() - t0) / 1e6;
  cr_expect_geq(ms, 650, "nobody gave up before its schedule ended (%.0f ms)", ms);
  cr_expect_eq(nannounced, 0);
  for (int i = 0; i < N; i++)
    sh_announcer_stop(an[i], t_done, &t[i]);
  run_until(&ndone, N);
  closed = 0;
  ann_udpc_reg_close(r, on_closed, NULL);
  run_until(&closed, 1);
}

/* ---- through a session ---- */

/* A one-byte torrent whose name makes its info-hash unique, added to s. */
static void add_tiny_torrent(shoal_session *s, const char *url, int i, const char *dir)
{
  char name[32];
  snprintf(name, sizeof name, "t%04d.bin", i);
  uint8_t h[20];
  sh_sha1((const uint8_t *)"x", 1, h);
  struct sh_buf b = SH_BUF_INIT;
  be_put_dict(&b);
  be_put_cstr(&b, "announce");
  be_put_cstr(&b, url);
  be_put_cstr(&b, "info");
  be_put_dict(&b);
  be_put_cstr(&b, "length");
  be_put_int(&b, 1);
  be_put_cstr(&b, "name");
  be_put_cstr(&b, name);
  be_put_cstr(&b, "piece length");
  be_put_int(&b, 16384);
  be_put_cstr(&b, "pieces");
  be_put_str(&b, h, 20);
  be_put_end(&b);
  be_put_end(&b);
  struct shoal_add_params p = {.torrent = b.data, .torrent_len = b.len, .save_dir = dir};
  char err[256] = "";
  shoal_id id;
  cr_assert_eq(shoal_torrent_add(s, &p, &id, err, sizeof err), 0, "%s", err);
  sh_buf_free(&b);
}

static int sess_closed;
static void on_sess_closed(void *ud) { sess_closed = 1; }

Test(announce_shared, session_announces_from_its_listen_port, .init = setup,
     .fini = teardown)
{
  bt.no_peers = 1; /* nothing to dial */
  sh_log_set_level(SH_LOG_WARN); /* not a line per torrent */
  struct shoal_settings set;
  shoal_settings_default(&set);
  set.bind[0] = "127.0.0.1";
  shoal_session *s = NULL;
  char err[256] = "";
  cr_assert_eq(shoal_session_new(&loop, &set, &s, err, sizeof err), 0, "%s", err);
  uint16_t port = shoal_session_port(s);
  bt.want_port = port;
  /* the session holds a UDP socket on its TCP port */
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", port, &a);
  uv_udp_t probe;
  uv_udp_init(&loop, &probe);
  cr_expect_eq(uv_udp_bind(&probe, (struct sockaddr *)&a, 0), UV_EADDRINUSE);
  uv_close((uv_handle_t *)&probe, NULL);

  char dir[] = "/tmp/shoal-udpshared-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char url[64];
  snprintf(url, sizeof url, "udp://127.0.0.1:%u/announce", trk.port);
  for (int i = 0; i < NTOR; i++)
    add_tiny_torrent(s, url, i, dir);
  run_until(&bt.started, NTOR);
  /* and until every reply reached its torrent: one that has not yet seen
   * its `started` acknowledged would not send `stopped` */
  struct sh_udp_stats st;
  cr_assert_eq(s->nudp, 1, "one UDP socket for the one listen address");
  do {
    uv_run(&loop, UV_RUN_NOWAIT);
    sh_udp_stats(s->udp[0], &st);
  } while (st.in[SH_UDP_TRACKER] < 1 + NTOR);
  cr_expect_eq(bt.connects, 1, "one connect exchange for the whole session");
  cr_expect_eq(distinct_hashes(), NTOR);
  cr_expect_eq(bt.wrong_port, 0, "every datagram came from the session's listen port");
  shoal_session_close(s, on_sess_closed, NULL);
  run_until(&sess_closed, 1);
  cr_expect_eq(bt.stopped, NTOR, "each torrent said goodbye: %d", bt.stopped);
  cr_expect_eq(bt.connects, 1);
  cr_expect_eq(bt.announces, 2 * NTOR, "nothing retransmitted: %d", bt.announces);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_expect_eq(system(cmd), 0);
}
