/* Sessions over uTP on 127.0.0.1: a transfer with uTP only on both sides;
 * the dial race falling back to uTP when the peer takes TCP connections
 * and drops them (as libtorrent does with TCP turned off); what the peer
 * list remembers; and no uTP at all when it is off. */
#include "test_engine_harness.h"
#include "engine/torrent.h"
#include "peer/utp.h"

static const struct th_file one_file[] = {{"data.bin", 3 * 1024 * 1024 + 777, 0}};

struct run {
  uv_loop_t loop;
  struct th_torrent tt;
  char *seed_dir, *leech_dir;
  shoal_session *seed, *leech;
  shoal_id st, lt;
};

static void start(struct run *r, const struct shoal_settings *seed_set,
                  const struct shoal_settings *leech_set)
{
  uv_loop_init(&r->loop);
  th_torrent_build(&r->tt, "data.bin", one_file, 1, 0, 256 * 1024);
  r->seed_dir = th_tmpdir();
  r->leech_dir = th_tmpdir();
  th_write_content(&r->tt, r->seed_dir);
  r->seed = th_session(&r->loop, seed_set);
  r->st = th_add(r->seed, &r->tt, r->seed_dir, 1);
  cr_assert(th_wait_event(&r->loop, r->seed, r->st, SHOAL_EVENT_FINISHED, 20000));
  r->leech = th_session(&r->loop, leech_set);
  r->lt = th_add(r->leech, &r->tt, r->leech_dir, 0);
  th_add_peer(r->leech, r->lt, shoal_session_port(r->seed));
}

static void finish(struct run *r)
{
  cr_assert(th_wait_event(&r->loop, r->leech, r->lt, SHOAL_EVENT_FINISHED, 60000),
            "leecher completed (%s)", th_event_text(r->leech, r->lt, SHOAL_EVENT_ERROR));
  cr_expect_eq(th_status(r->leech, r->lt).hash_failures, 0);
}

static void stop(struct run *r)
{
  shoal_session *all[2] = {r->seed, r->leech};
  th_close(&r->loop, all, 2);
  cr_expect(th_content_equal(&r->tt, r->leech_dir), "identical content");
  th_rmtree(r->seed_dir);
  th_rmtree(r->leech_dir);
  th_torrent_free(&r->tt);
  cr_expect_eq(uv_loop_close(&r->loop), 0, "every handle was closed");
}

static struct sh_utp_stats utp_stats(shoal_session *s)
{
  struct sh_utp_stats st = {0};
  cr_assert_gt(s->nutp, 0, "a uTP endpoint");
  sh_utp_ep_stats(s->utp[0], &st);
  return st;
}

static int peer_over_utp(shoal_session *s, shoal_id id)
{
  struct shoal_peer_info pi[4];
  size_t n = shoal_torrent_peers(s, id, pi, 4);
  for (size_t i = 0; i < n && i < 4; i++)
    if (pi[i].utp)
      return 1;
  return 0;
}

static int leech_has_utp_peer(void *ud)
{
  struct run *r = ud;
  return peer_over_utp(r->leech, r->lt);
}

Test(engine_utp, utp_only_both_sides, .timeout = 120)
{
  struct shoal_settings set;
  th_settings(&set);
  set.utp_only = 1;
  struct run r;
  start(&r, &set, &set);
  cr_assert(th_run_until(&r.loop, NULL, leech_has_utp_peer, &r, 20000), "a uTP peer");
  finish(&r);
  struct sh_utp_stats ss = utp_stats(r.seed), ls = utp_stats(r.leech);
  /* 3 MiB in packets of about 1.4 kB */
  cr_expect_gt(ss.out, 2000);
  cr_expect_gt(ls.in, 2000);
  cr_expect_eq(ss.dropped_bad + ls.dropped_bad, 0);
  stop(&r);
}

static int rc4_peer(struct run *r, int utp)
{
  struct shoal_peer_info pi[4];
  size_t n = shoal_torrent_peers(r->leech, r->lt, pi, 4);
  for (size_t i = 0; i < n && i < 4; i++)
    if ((pi[i].utp || !utp) && pi[i].encrypted && pi[i].rc4)
      return 1;
  return 0;
}

static int leech_has_rc4_utp_peer(void *ud) { return rc4_peer(ud, 1); }
static int leech_has_rc4_peer(void *ud) { return rc4_peer(ud, 0); }

/* MSE over uTP: RC4 required both ways, uTP only; the data arrives whole. */
Test(engine_utp, rc4_over_utp, .timeout = 120)
{
  struct shoal_settings set;
  th_settings(&set);
  set.utp_only = 1;
  set.encryption = SHOAL_ENC_REQUIRE;
  struct run r;
  start(&r, &set, &set);
  cr_assert(th_run_until(&r.loop, NULL, leech_has_rc4_utp_peer, &r, 20000),
            "an RC4 peer over uTP");
  finish(&r);
  struct sh_utp_stats ss = utp_stats(r.seed);
  cr_expect_gt(ss.out, 2000);
  stop(&r);
}

/* Both dialled at once with encryption preferred: whichever of TCP and uTP
 * connects first carries the encrypted handshake. */
Test(engine_utp, dial_race_encrypted, .timeout = 120)
{
  struct shoal_settings set;
  th_settings(&set);
  set.encryption = SHOAL_ENC_REQUIRE;
  struct run r;
  start(&r, &set, &set);
  cr_assert(th_run_until(&r.loop, NULL, leech_has_rc4_peer, &r, 20000), "an RC4 peer");
  finish(&r);
  stop(&r);
}

/* The seed takes TCP connections and closes them at once (uTP only): the
 * leecher, dialling both at once, goes on over uTP, and remembers it. */
Test(engine_utp, tcp_dropped_falls_back_to_utp, .timeout = 120)
{
  struct shoal_settings seed_set, leech_set;
  th_settings(&seed_set);
  seed_set.utp_only = 1;
  th_settings(&leech_set);
  struct run r;
  start(&r, &seed_set, &leech_set);
  finish(&r);
  struct sh_utp_stats ss = utp_stats(r.seed);
  cr_expect_gt(ss.out, 2000, "the data came over uTP");
  const struct shoal_torrent *t = sh_torrent_by_id(r.leech, r.lt);
  struct sh_addr a = {.family = 4, .ip = {127, 0, 0, 1}, .port = shoal_session_port(r.seed)};
  const struct sh_peer_entry *e = sh_peers_find((struct sh_peers *)&t->plist, &a);
  cr_assert_not_null(e);
  cr_expect_eq(e->utp, SH_PE_UTP_YES);
  stop(&r);
}

/* The session's download limit over uTP: the connection stops reading
 * when out of allowance, the transport holds what arrives (the window it
 * advertises shrinks) and offers it again when reading resumes. */
Test(engine_utp, download_limit_holds_and_resumes, .timeout = 120)
{
  struct shoal_settings seed_set, leech_set;
  th_settings(&seed_set);
  seed_set.utp_only = 1;
  leech_set = seed_set;
  leech_set.download_rate = 2 << 20;
  struct run r;
  start(&r, &seed_set, &leech_set);
  uint64_t t0 = uv_now(&r.loop);
  finish(&r);
  double secs = (double)(uv_now(&r.loop) - t0) / 1000.0;
  /* 3 MiB at 2 MiB/s, less the first second's burst */
  cr_expect_gt(secs, 0.9, "took %.2f s", secs);
  struct sh_utp_stats ls = utp_stats(r.leech);
  cr_expect_eq(ls.dropped_bad, 0);
  stop(&r);
}

/* While a leecher downloads over uTP, another socket throws at the seed's
 * port what a hostile or broken peer might: a flood of SYNs (each a new
 * connection id), data for connections that do not exist, acks of packets
 * never sent, garbage of the uTP shape. The transfer completes, every bad
 * packet is dropped and counted, the half-open connections stay within
 * their bound and the packet buffers within their budget. */
struct flood {
  int fd;
  struct sockaddr_in to;
  uint32_t n;
  uv_timer_t timer;
};

static void flood_burst(uv_timer_t *h)
{
  struct flood *f = h->data;
  uint8_t p[64];
  for (int i = 0; i < 100; i++, f->n++) {
    memset(p, 0, sizeof p);
    size_t len = 20;
    switch (f->n % 4) {
    case 0: /* SYN, a new id each time */
      p[0] = 0x41;
      break;
    case 1: /* DATA to an id nobody has */
      p[0] = 0x01;
      len = 64;
      break;
    case 2: /* a STATE acking far ahead */
      p[0] = 0x21;
      p[18] = 0x7f;
      break;
    default: /* uTP-shaped garbage: an extension running past the end */
      p[0] = 0x01;
      p[1] = 1;
      len = 21;
      break;
    }
    /* ids apart, so the data does not confirm one of the SYNs */
    uint16_t id = (uint16_t)(f->n % 4 ? f->n | 0x8000 : f->n & 0x7fff);
    p[2] = (uint8_t)(id >> 8);
    p[3] = (uint8_t)id;
    p[17] = (uint8_t)f->n;
    sendto(f->fd, p, len, 0, (struct sockaddr *)&f->to, sizeof f->to);
  }
}

Test(engine_utp, hostile_packets_while_transferring, .timeout = 120)
{
  struct shoal_settings set;
  th_settings(&set);
  set.utp_only = 1;
  struct run r;
  start(&r, &set, &set);
  struct flood f = {.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0)};
  cr_assert_geq(f.fd, 0);
  uv_ip4_addr("127.0.0.1", shoal_session_port(r.seed), &f.to);
  uv_timer_init(&r.loop, &f.timer);
  f.timer.data = &f;
  /* a burst of 1000 first (250 SYNs: past the half-open bound), then
   * 100 packets every 5 ms for as long as the transfer runs */
  for (int k = 0; k < 10; k++)
    flood_burst(&f.timer);
  uv_timer_start(&f.timer, flood_burst, 0, 5);
  finish(&r);
  uv_timer_stop(&f.timer);
  uv_close((uv_handle_t *)&f.timer, NULL);
  close(f.fd);
  struct sh_utp_stats st = utp_stats(r.seed);
  cr_expect_geq(f.n, 1000u, "the flood ran during the transfer (%u packets)", f.n);
  cr_expect_gt(st.dropped_bad, 0);
  cr_expect_gt(st.dropped_unknown, 0);
  cr_expect_gt(st.half_open_evicted, 0);
  cr_expect_leq(st.half_open, 64);
  cr_expect_leq(st.resets_out, 100 * 30, "RESETs rate-limited");
  cr_expect_leq(st.mem_bytes, (size_t)64 << 20);
  stop(&r);
}

Test(engine_utp, off_means_no_endpoint, .timeout = 60)
{
  struct shoal_settings set;
  th_settings(&set);
  set.utp = 0;
  uv_loop_t loop;
  uv_loop_init(&loop);
  shoal_session *s = th_session(&loop, &set);
  cr_expect_eq(s->nutp, 0);
  cr_expect_gt(s->nudp, 0, "the UDP socket is there all the same");
  th_close(&loop, &s, 1);
  cr_expect_eq(uv_loop_close(&loop), 0);
}
