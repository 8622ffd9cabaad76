/* The announcer on a real libuv loop against an in-process BEP 15 tracker
 * on 127.0.0.1 (and ::1): packets it receives, retransmission, foreign
 * datagrams, error replies, time-outs falling through to the next tier. */
#include "test_announce_fixture.h"

/* ---- a UDP tracker (BEP 15) ---- */

static struct {
  int drop_connects;      /* ignore this many connect requests */
  int error;              /* answer announces with an error packet */
  int forge;              /* first send a forged reply from another socket */
  int connects, announces, scrapes;
  uint32_t last_event, last_key, last_numwant;
  uint16_t last_port;
  size_t last_len;
} ut;

static uv_udp_t forger;

static void forged_sent(uv_udp_send_t *r, int status) { free(r); }

static void udp_tracker(struct usrv *s, const uint8_t *p, size_t n, struct sh_buf *out)
{
  uint8_t r[64];
  if (n >= 16 && sh_rd64(p) == ANN_UDP_PROTOCOL_ID && sh_rd32(p + 8) == 0) {
    ut.connects++;
    if (ut.drop_connects > 0) {
      ut.drop_connects--;
      return;
    }
    sh_wr32(r, 0);
    memcpy(r + 4, p + 12, 4);
    sh_wr64(r + 8, 0x1122334455667788ULL);
    sh_buf_append(out, r, 16);
    return;
  }
  if (n < 16 || sh_rd64(p) != 0x1122334455667788ULL)
    return; /* a real tracker ignores a bad connection id */
  uint32_t action = sh_rd32(p + 8);
  if (action == 1 && n >= 98) {
    ut.announces++;
    ut.last_event = sh_rd32(p + 80);
    ut.last_key = sh_rd32(p + 88);
    ut.last_numwant = sh_rd32(p + 92);
    ut.last_port = sh_rd16(p + 96);
    ut.last_len = n;
    if (ut.error) {
      sh_wr32(r, 3);
      memcpy(r + 4, p + 12, 4);
      memcpy(r + 8, "no such torrent", 15);
      sh_buf_append(out, r, 23);
      return;
    }
    sh_wr32(r, 1);
    memcpy(r + 4, p + 12, 4);
    sh_wr32(r + 8, 1200);
    sh_wr32(r + 12, 5);
    sh_wr32(r + 16, 6);
    memcpy(r + 20, "\x0a\x00\x00\x01\x00\x50\x0a\x00\x00\x02\x00\x51\x0a\x00\x00\x03\x00\x00", 18);
    if (ut.forge) {
      /* the same transaction id with other peers, from another port: must
       * be ignored */
      ut.forge = 0;
      uint8_t f[26];
      memcpy(f, r, 20);
      memcpy(f + 20, "\x01\x01\x01\x01\x01\x01", 6);
      uv_udp_send_t *req = malloc(sizeof *req + sizeof f);
      memcpy(req + 1, f, sizeof f);
      uv_buf_t b = uv_buf_init((char *)(req + 1), sizeof f);
      uv_udp_send(req, &forger, &b, 1, (struct sockaddr *)&s->peer, forged_sent);
    }
    sh_buf_append(out, r, 38);
    return;
  }
  if (action == 2 && n >= 36) {
    ut.scrapes++;
    sh_wr32(r, 2);
    memcpy(r + 4, p + 12, 4);
    sh_wr32(r + 8, 11);
    sh_wr32(r + 12, 22);
    sh_wr32(r + 16, 33);
    sh_buf_append(out, r, 20);
  }
}

static void udp_setup(void)
{
  memset(&ut, 0, sizeof ut);
  start_all(http_tracker, udp_tracker);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_udp_init(&loop, &forger);
  uv_udp_bind(&forger, (struct sockaddr *)&a, 0);
}

static void udp_teardown(void)
{
  uv_close((uv_handle_t *)&forger, NULL);
  stop_all();
}

Test(announce_loop, udp_announce_cycle)
{
  udp_setup();
  struct sh_announcer *a = make_one_owned(udp_url(usrv.port));
  sh_announcer_start(a);
  run_until(&seen.announced, 1);
  cr_expect_eq(ut.connects, 1);
  cr_expect_eq(ut.announces, 1);
  cr_expect_eq(ut.last_event, 2);
  cr_expect_eq(ut.last_numwant, 80);
  cr_expect_eq(ut.last_port, 51413);
  cr_expect_eq(ut.last_len, 98 + 2 + 9, "BEP 41 URLData \"/announce\" appended");
  cr_expect_eq(seen.npeers, 2, "port-0 entry dropped");
  cr_expect_eq(ntohs(((struct sockaddr_in *)&seen.peer[1])->sin_port), 0x51);
  cr_expect_eq(seen.info.interval, 1200);
  cr_expect_eq(seen.info.leechers, 5);
  cr_expect_eq(seen.info.seeders, 6);
  uint32_t key = ut.last_key;

  /* the request packet itself, byte for byte where it is predictable */
  const uint8_t *pk = usrv.pkt[1];
  cr_expect_eq(sh_rd64(pk), 0x1122334455667788ULL);
  cr_expect(memcmp(pk + 16, IH, 20) == 0 && memcmp(pk + 36, PID, 20) == 0);
  cr_expect_eq(sh_rd64(pk + 64), 1000, "left");

  sh_announcer_scrape(a);
  run_until(&seen.scraped, 1);
  cr_expect_eq(seen.scrape_err, 0);
  cr_expect_eq(seen.scrape.seeders, 11);
  cr_expect_eq(seen.scrape.completed, 22);
  cr_expect_eq(seen.scrape.leechers, 33);

  stop_and_wait(a);
  cr_expect_eq(ut.announces, 2);
  cr_expect_eq(ut.last_event, 3);
  cr_expect_eq(ut.last_numwant, 0);
  cr_expect_eq(ut.last_key, key, "one key per announcer");
  cr_expect_eq(ut.connects, 1, "the connection id is reused within 60 s");
  udp_teardown();
}

Test(announce_loop, udp_retransmits_and_ignores_strangers)
{
  udp_setup();
  ut.drop_connects = 1;
  ut.forge = 1;
  struct sh_announcer *a = make_one_owned(udp_url(usrv.port));
  uint64_t t0 = uv_hrtime();
  sh_announcer_start(a);
  run_until(&seen.announced, 1);
  double ms = (double)(uv_hrtime() - t0) / 1e6;
  cr_expect_eq(ut.connects, 2, "one lost connect, one retransmission");
  cr_expect(ms >= 45, "retransmitted after the 50 ms timeout (%.0f ms)", ms);
  cr_expect_eq(seen.npeers, 2, "the forged reply from another port was ignored");
  const struct sockaddr_in *p0 = (const struct sockaddr_in *)&seen.peer[0];
  cr_expect_eq(ntohl(p0->sin_addr.s_addr), 0x0a000001);
  /* same transaction id on retransmission: the two connect packets match */
  cr_expect(memcmp(usrv.pkt[0], usrv.pkt[1], 16) == 0);
  stop_and_wait(a);
  udp_teardown();
}

Test(announce_loop, udp_error_and_timeout_fall_through_to_next_tier)
{
  udp_setup();
  ut.error = 1;
  /* a bound socket that never answers: the timeout case */
  uv_udp_t mute;
  struct sockaddr_in a4, b4;
  uv_ip4_addr("127.0.0.1", 0, &a4);
  uv_udp_init(&loop, &mute);
  uv_udp_bind(&mute, (struct sockaddr *)&a4, 0);
  int len = sizeof b4;
  uv_udp_getsockname(&mute, (struct sockaddr *)&b4, &len);
  char *u[] = {udp_url(ntohs(b4.sin_port)), udp_url(usrv.port), http_url("/announce")};
  size_t per[] = {1, 1, 1};
  struct sh_announcer *an = make(u, per, 3);
  sh_announcer_start(an);
  run_until(&seen.announced, 1);
  cr_expect_str_eq(seen.info_url, u[2]);
  cr_assert_geq(seen.nstatus, 2);
  cr_expect_eq(seen.status_err[0], SH_ETIMEOUT, "%s", seen.status[0]);
  /* two more trackers were left to try, so the walk gave up after 2 sends */
  cr_expect(strstr(seen.status[0], "no connect reply after 2 tries") != NULL, "%s",
            seen.status[0]);
  cr_expect_eq(seen.status_err[1], SH_ETRACKER, "%s", seen.status[1]);
  cr_expect(strstr(seen.status[1], "no such torrent") && strstr(seen.status[1], u[1]), "%s",
            seen.status[1]);
  sh_announcer_stop(an, st_done, NULL);
  run_until(&seen.done, 1);
  uv_close((uv_handle_t *)&mute, NULL);
  for (int i = 0; i < 3; i++)
    free(u[i]);
  udp_teardown();
}

Test(announce_loop, udp_unresolvable_host)
{
  udp_setup();
  char *u[] = {"udp://no-such-host.invalid:6969/announce"};
  size_t per[] = {1};
  struct sh_announcer *a = make(u, per, 1);
  sh_announcer_start(a);
  run_until(&seen.nfail, 1);
  cr_expect(strstr(seen.status[0], "cannot resolve no-such-host.invalid") != NULL, "%s",
            seen.status[0]);
  stop_and_wait(a);
  udp_teardown();
}

Test(announce_loop, more_peers_respects_min_interval)
{
  udp_setup();
  struct sh_announcer *a = make_one_owned(http_url("/announce"));
  sh_announcer_start(a);
  run_until(&seen.announced, 1);
  /* min interval is 60 s: asking again now must not send anything soon */
  sh_announcer_more_peers(a);
  uint64_t until = uv_now(&loop) + 300;
  while (uv_now(&loop) < until) {
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_sleep(10);
    uv_update_time(&loop);
  }
  cr_expect_eq(hsrv.nreq, 1);
  stop_and_wait(a);
  udp_teardown();
}

/* BEP 15 over IPv6: the reply's peers are 18-byte entries because the
 * packet came over IPv6, and the URL's host is a bracketed literal. */
static void udp6_tracker(struct usrv *s, const uint8_t *p, size_t n, struct sh_buf *out)
{
  uint8_t r[64];
  if (n >= 16 && sh_rd64(p) == ANN_UDP_PROTOCOL_ID && sh_rd32(p + 8) == 0) {
    ut.connects++;
    sh_wr32(r, 0);
    memcpy(r + 4, p + 12, 4);
    sh_wr64(r + 8, 77);
    sh_buf_append(out, r, 16);
  } else if (n >= 98 && sh_rd64(p) == 77 && sh_rd32(p + 8) == 1) {
    ut.announces++;
    ut.last_event = sh_rd32(p + 80);
    sh_wr32(r, 1);
    memcpy(r + 4, p + 12, 4);
    sh_wr32(r + 8, 600);
    sh_wr32(r + 12, 1);
    sh_wr32(r + 16, 2);
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 7};
    memcpy(r + 20, v6, 16);
    sh_wr16(r + 36, 6999);
    sh_buf_append(out, r, 38);
  }
}

Test(announce_loop, udp_over_ipv6)
{
  memset(&ut, 0, sizeof ut);
  memset(&seen, 0, sizeof seen);
  cr_assert_eq(uv_loop_init(&loop), 0);
  uv_timer_init(&loop, &wd);
  uv_timer_start(&wd, watchdog, 30000, 0);
  ctx_start();
  tsrv_start(&loop, &hsrv, http_tracker);
  if (usrv_start_af(&loop, &usrv, udp6_tracker, 1) < 0) {
    stop_all();
    cr_skip_test("no IPv6 loopback here");
  }
  char url[64];
  snprintf(url, sizeof url, "udp://[::1]:%u/announce", usrv.port);
  char *u[] = {url};
  size_t per[] = {1};
  struct sh_announcer *a = make(u, per, 1);
  sh_announcer_start(a);
  run_until(&seen.announced, 1);
  cr_expect_eq(ut.connects, 1);
  cr_expect_eq(ut.last_event, 2);
  cr_assert_eq(seen.npeers, 1);
  const struct sockaddr_in6 *p6 = (const struct sockaddr_in6 *)&seen.peer[0];
  cr_expect_eq(p6->sin6_family, AF_INET6);
  cr_expect_eq(p6->sin6_addr.s6_addr[0], 0x20);
  cr_expect_eq(p6->sin6_addr.s6_addr[15], 7);
  cr_expect_eq(ntohs(p6->sin6_port), 6999);
  cr_expect_eq(seen.info.interval, 600);
  stop_and_wait(a);
  cr_expect_eq(ut.last_event, 3);
  stop_all();
}

/* After a whole BEP 15 schedule without a reply, the next attempt resolves
 * the name again and connects afresh. */
Test(announce_loop, udp_gives_up_then_recovers)
{
  udp_setup();
  ut.drop_connects = 5; /* exactly one whole schedule of 5 tries */
  struct sh_announcer *a = make_one_owned(udp_url(usrv.port));
  sh_announcer_start(a);
  run_until(&seen.nfail, 1);
  cr_expect_eq(seen.status_err[0], SH_ETIMEOUT, "%s", seen.status[0]);
  cr_expect_eq(ut.connects, 5, "a lone tracker gets the whole schedule");
  /* the back-off (100 ms) then a new round that succeeds */
  run_until(&seen.announced, 1);
  cr_expect_eq(ut.connects, 6);
  cr_expect_eq(ut.last_event, 2, "started again, since nobody acknowledged it");
  stop_and_wait(a);
  udp_teardown();
}

/* Name resolution runs in libuv's thread pool; when disk jobs keep every
 * worker busy it must still end within the BEP 15 schedule. The pool's 4
 * threads are held for 4 s here while the whole (shrunk) schedule of 5
 * waits is 50 + 100 + 200 + 400 + 800 ms. A numeric host goes through
 * the pool too (and, unlike "localhost", cannot turn out to be ::1). */
static void hold(uv_work_t *w) { uv_sleep(4000); }
static void held(uv_work_t *w, int status) {}

Test(announce_loop, udp_resolution_stuck_in_a_busy_pool_times_out)
{
  udp_setup();
  uv_work_t busy[4];
  for (int i = 0; i < 4; i++)
    uv_queue_work(&loop, &busy[i], hold, held);
  char url[64];
  snprintf(url, sizeof url, "udp://127.0.0.1:%u/announce", usrv.port);
  char *u[] = {url};
  size_t per[] = {1};
  struct sh_announcer *a = make(u, per, 1);
  uint64_t t0 = uv_hrtime();
  sh_announcer_start(a);
  run_until(&seen.nfail, 1);
  double ms = (double)(uv_hrtime() - t0) / 1e6;
  cr_expect_eq(seen.status_err[0], SH_ETIMEOUT, "%s", seen.status[0]);
  cr_expect(strstr(seen.status[0], "cannot resolve 127.0.0.1") != NULL, "%s", seen.status[0]);
  cr_expect(ms < 3800, "gave up before the pool freed up (%.0f ms)", ms);
  /* once the pool is free the next round resolves and announces */
  run_until(&seen.announced, 1);
  cr_expect_eq(ut.announces, 1);
  stop_and_wait(a);
  udp_teardown();
}

/* Nothing listens on the tracker's port: loopback answers with an ICMP
 * port unreachable, and the announce fails at once instead of waiting out
 * BEP 15's schedule (here 10 s for the first retry alone). */
Test(announce_loop, udp_port_unreachable_fails_at_once)
{
  udp_setup();
  uv_udp_t gone;
  struct sockaddr_in a4, b4;
  uv_ip4_addr("127.0.0.1", 0, &a4);
  uv_udp_init(&loop, &gone);
  uv_udp_bind(&gone, (struct sockaddr *)&a4, 0);
  int len = sizeof b4;
  uv_udp_getsockname(&gone, (struct sockaddr *)&b4, &len);
  uv_close((uv_handle_t *)&gone, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  char *u[] = {udp_url(ntohs(b4.sin_port))};
  size_t per[] = {1};
  struct sh_tier tier = {u, 1};
  struct sh_announce_timing t = fast();
  t.udp_timeout_ms = 10000;
  struct sh_announcer *an = sh_announcer_new(&loop, &actx, &tier, 1, IH, PID, 51413, &CB, &t);
  (void)per;
  uint64_t t0 = uv_hrtime();
  sh_announcer_start(an);
  run_until(&seen.nfail, 1);
  double ms = (double)(uv_hrtime() - t0) / 1e6;
  cr_expect(ms < 2000, "failed after %.0f ms", ms);
  cr_expect_eq(seen.status_err[0], -ECONNREFUSED, "%s", seen.status[0]);
  cr_expect(strstr(seen.status[0], "connection refused") && strstr(seen.status[0], u[0]), "%s",
            seen.status[0]);
  stop_and_wait(an);
  free(u[0]);
  udp_teardown();
}

/* A tracker that is there but silent: after the first unanswered interval
 * the announcer says so (stalled), and keeps trying as BEP 15 asks. */
Test(announce_loop, udp_silence_is_reported_after_the_first_interval)
{
  udp_setup();
  uv_udp_t mute;
  struct sockaddr_in a4, b4;
  uv_ip4_addr("127.0.0.1", 0, &a4);
  uv_udp_init(&loop, &mute);
  uv_udp_bind(&mute, (struct sockaddr *)&a4, 0);
  int len = sizeof b4;
  uv_udp_getsockname(&mute, (struct sockaddr *)&b4, &len);
  struct sh_announcer *an = make_one_owned(udp_url(ntohs(b4.sin_port)));
  sh_announcer_start(an);
  run_until(&seen.stalled, 1);
  cr_expect_eq(seen.stall_tries, 1);
  cr_expect(strstr(seen.stall_msg, "no connect reply after 1 try; still trying") &&
                strstr(seen.stall_msg, "udp://127.0.0.1:"),
            "%s", seen.stall_msg);
  cr_expect_eq(seen.nfail, 0, "not given up: the schedule goes on");
  run_until(&seen.stalled, 2);
  cr_expect_eq(seen.stall_tries, 2);
  stop_and_wait(an);
  uv_close((uv_handle_t *)&mute, NULL);
  udp_teardown();
}
