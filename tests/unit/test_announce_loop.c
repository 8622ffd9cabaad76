/* The announcer on a real libuv loop against in-process trackers on
 * 127.0.0.1: an HTTP responder and a BEP 15 UDP responder. Checks the
 * queries and packets they receive and the peers, statuses and scrapes the
 * announcer delivers. Timings are shrunk (50 ms UDP retransmits, 100 ms
 * back-off) so nothing waits for BEP 15's 15 s. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "announce/ann_udp.h"
#include "announce/announce.h"
#include "base/error.h"
#include "net/http_client.h"
#include "test_announce_srv.h"

static uv_loop_t loop;
static uv_timer_t wd;
static struct sh_http_client *http;
static struct tsrv hsrv;
static struct usrv usrv;

/* what the callbacks saw */
static struct {
  int peers_calls, npeers;
  struct sockaddr_storage peer[16];
  int nstatus, nfail, nwarn;
  char status[8][600];
  int status_err[8];
  int announced;
  struct sh_announce_info info;
  char info_url[256];
  int scraped, scrape_err;
  struct sh_scrape_info scrape;
  int done;
  uint64_t up, down, left;
} seen;

static void st_stats(void *ud, uint64_t *u, uint64_t *d, uint64_t *l)
{
  *u = seen.up;
  *d = seen.down;
  *l = seen.left;
}

static void st_peers(void *ud, const struct sockaddr_storage *a, size_t n)
{
  seen.peers_calls++;
  for (size_t i = 0; i < n && seen.npeers < 16; i++)
    seen.peer[seen.npeers++] = a[i];
}

static void st_status(void *ud, const char *url, int err, const char *msg)
{
  if (seen.nstatus < 8) {
    snprintf(seen.status[seen.nstatus], sizeof seen.status[0], "%s", msg);
    seen.status_err[seen.nstatus] = err;
  }
  seen.nstatus++;
  if (err < 0)
    seen.nfail++;
  else
    seen.nwarn++;
}

static void st_announced(void *ud, const struct sh_announce_info *i)
{
  seen.announced++;
  seen.info = *i;
  snprintf(seen.info_url, sizeof seen.info_url, "%s", i->url);
}

static void st_scraped(void *ud, const char *url, int err, const struct sh_scrape_info *s)
{
  seen.scraped++;
  seen.scrape_err = err;
  if (s)
    seen.scrape = *s;
}

static void st_done(void *ud) { seen.done++; }

static const struct sh_announce_callbacks CB = {NULL, st_stats, st_peers, st_status,
                                                st_announced, st_scraped};

static const uint8_t IH[20] = "\xaa\xbb\xcc\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11";
static const uint8_t PID[20] = "-SH0010-123456789012";

static void watchdog(uv_timer_t *t) { cr_assert_fail("test took longer than 30 s"); }

static void start_all(tsrv_fn hf, usrv_fn uf)
{
  memset(&seen, 0, sizeof seen);
  seen.left = 1000;
  cr_assert_eq(uv_loop_init(&loop), 0);
  uv_timer_init(&loop, &wd);
  uv_timer_start(&wd, watchdog, 30000, 0);
  http = sh_http_client_new(&loop);
  cr_assert_not_null(http);
  tsrv_start(&loop, &hsrv, hf);
  usrv_start(&loop, &usrv, uf);
}

static void run_until(int *flag, int value)
{
  while (*flag < value)
    uv_run(&loop, UV_RUN_ONCE);
}

static int http_closed;
static void on_http_closed(void *ud) { http_closed = 1; }

static void stop_all(void)
{
  sh_http_client_close(http, on_http_closed, NULL);
  tsrv_stop(&hsrv);
  usrv_stop(&usrv);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_expect(http_closed);
  cr_expect_eq(uv_loop_close(&loop), 0, "handles left open");
}

static struct sh_announce_timing fast(void)
{
  struct sh_announce_timing t;
  sh_announce_timing_default(&t);
  t.udp_timeout_ms = 50;
  t.udp_max_tries = 5;  /* a lone tracker: the whole (shrunk) schedule */
  t.udp_walk_tries = 2; /* others left to try: move on sooner */
  t.http_timeout_ms = 3000;
  t.retry_base_ms = 100;
  t.stop_timeout_ms = 500;
  return t;
}

static struct sh_announcer *make(char **urls, size_t *per_tier, size_t ntiers)
{
  struct sh_tier tiers[4];
  for (size_t i = 0, k = 0; i < ntiers; k += per_tier[i], i++) {
    tiers[i].urls = urls + k;
    tiers[i].n = per_tier[i];
  }
  struct sh_announce_timing t = fast();
  struct sh_announcer *a = sh_announcer_new(&loop, http, tiers, ntiers, IH, PID, 51413, &CB, &t);
  cr_assert_not_null(a);
  return a;
}

static char *http_url(const char *path)
{
  char *u = malloc(128);
  snprintf(u, 128, "http://127.0.0.1:%u%s", hsrv.port, path);
  return u;
}

static char *udp_url(uint16_t port)
{
  char *u = malloc(128);
  snprintf(u, 128, "udp://127.0.0.1:%u/announce", port);
  return u;
}

/* ---- an HTTP tracker ---- */

static const char PEERS2[] = "\x7f\x00\x00\x01\x1a\xe1\x7f\x00\x00\x02\x1a\xe2";

static void http_tracker(struct tsrv *s, const char *req, struct sh_buf *out)
{
  struct sh_buf b = SH_BUF_INIT;
  if (strncmp(req, "GET /fail", 9) == 0) {
    sh_buf_puts(&b, "d14:failure reason12:unregisterede");
  } else if (strncmp(req, "GET /html", 9) == 0) {
    tsrv_reply(out, "502 Bad Gateway", "<html>down</html>", 17);
    return;
  } else if (strncmp(req, "GET /silent", 11) == 0) {
    return;
  } else if (strncmp(req, "GET /scrape", 11) == 0) {
    sh_buf_puts(&b, "d5:filesd20:");
    sh_buf_append(&b, IH, 20);
    sh_buf_puts(&b, "d8:completei7e10:downloadedi70e10:incompletei3eeee");
  } else if (strncmp(req, "GET /quick", 10) == 0) {
    sh_buf_puts(&b, "d8:intervali1e5:peers6:");
    sh_buf_append(&b, "\x7f\x00\x00\x09\x00\x09", 6);
    sh_buf_putc(&b, 'e');
  } else if (strncmp(req, "GET /eager", 10) == 0) {
    sh_buf_puts(&b, "d8:intervali1800e12:min intervali1e5:peers0:e");
  } else if (strncmp(req, "GET /flaky", 10) == 0 && s->nreq == 1) {
    sh_buf_puts(&b, "d14:failure reason4:busye");
  } else {
    sh_buf_puts(&b, "d8:completei4e10:incompletei2e8:intervali900e12:min intervali60e"
                    "5:peers12:");
    sh_buf_append(&b, PEERS2, 12);
    sh_buf_puts(&b, "10:tracker id4:tid715:warning message9:be gentlee");
  }
  tsrv_reply(out, "200 OK", b.data, b.len);
  sh_buf_free(&b);
}

static void no_udp(struct usrv *s, const uint8_t *p, size_t n, struct sh_buf *out) {}

static const char *line(int i)
{
  static char buf[2048];
  const char *p = hsrv.all;
  for (; i > 0 && p; i--) {
    p = strchr(p, '\n');
    if (p)
      p++;
  }
  cr_assert(p && *p, "request %d missing; all:\n%s", i, hsrv.all);
  size_t n = strcspn(p, "\n");
  snprintf(buf, sizeof buf, "%.*s", (int)n, p);
  return buf;
}

Test(announce_loop, http_started_completed_stopped)
{
  start_all(http_tracker, no_udp);
  char *u[] = {http_url("/announce")};
  size_t per[] = {1};
  struct sh_announcer *a = make(u, per, 1);
  sh_announcer_start(a);
  run_until(&seen.announced, 1);
  cr_expect_eq(seen.npeers, 2);
  const struct sockaddr_in *p0 = (const struct sockaddr_in *)&seen.peer[0];
  cr_expect_eq(ntohl(p0->sin_addr.s_addr), 0x7f000001);
  cr_expect_eq(ntohs(p0->sin_port), 6881);
  cr_expect_eq(seen.info.interval, 900);
  cr_expect_eq(seen.info.min_interval, 60);
  cr_expect_eq(seen.info.seeders, 4);
  cr_expect_eq(seen.info.leechers, 2);
  cr_expect_str_eq(seen.info_url, u[0]);
  cr_expect_eq(seen.nwarn, 1);
  cr_expect(strstr(seen.status[0], "be gentle") != NULL, "%s", seen.status[0]);
  const char *l0 = line(0);
  cr_expect(strstr(l0, "GET /announce?info_hash=%AA%BB%CC%01%02%03%04%05%06%07%08%09%0A%0B%0C"
                       "%0D%0E%0F%10%11&peer_id=-SH0010-123456789012&port=51413&uploaded=0"
                       "&downloaded=0&left=1000&compact=1&numwant=80&key=") == l0,
            "%s", l0);
  cr_expect(strstr(l0, "&event=started") != NULL);
  cr_expect(strstr(l0, "trackerid") == NULL);

  seen.left = 0;
  seen.down = 1000;
  sh_announcer_completed(a);
  sh_announcer_completed(a); /* once only */
  run_until(&seen.announced, 2);
  const char *l1 = line(1);
  cr_expect(strstr(l1, "&left=0&") && strstr(l1, "&downloaded=1000&"), "%s", l1);
  cr_expect(strstr(l1, "&event=completed") != NULL, "%s", l1);
  cr_expect(strstr(l1, "&trackerid=tid7") != NULL, "tracker id echoed: %s", l1);

  sh_announcer_stop(a, st_done, NULL);
  cr_expect_eq(seen.done, 0, "done must not run inside stop()");
  run_until(&seen.done, 1);
  cr_expect_eq(hsrv.nreq, 3);
  const char *l2 = line(2);
  cr_expect(strstr(l2, "&numwant=0&") && strstr(l2, "&event=stopped"), "%s", l2);
  /* same key in every request */
  cr_expect_eq(seen.announced, 2, "no callbacks for the stopped reply");
  free(u[0]);
  stop_all();
}

Test(announce_loop, tiers_failure_then_next_tier)
{
  start_all(http_tracker, no_udp);
  /* tier 0: a failure reason and an HTML error page; tier 1: a good one */
  char *u[] = {http_url("/fail/announce"), http_url("/html/announce"), http_url("/announce")};
  size_t per[] = {2, 1};
  struct sh_announcer *a = make(u, per, 2);
  sh_announcer_start(a);
  run_until(&seen.announced, 1);
  cr_expect_eq(seen.nfail, 2, "both tier-0 trackers reported");
  cr_expect_eq(hsrv.nreq, 3);
  int saw_reason = 0, saw_html = 0;
  for (int i = 0; i < seen.nstatus && i < 8; i++) {
    if (seen.status_err[i] == SH_ETRACKER && strstr(seen.status[i], "unregistered") &&
        strstr(seen.status[i], "/fail/announce"))
      saw_reason = 1;
    if (seen.status_err[i] < 0 && strstr(seen.status[i], "502") &&
        strstr(seen.status[i], "/html/announce"))
      saw_html = 1;
  }
  cr_expect(saw_reason, "failure reason with its URL");
  cr_expect(saw_html, "HTTP 502 with its URL");
  /* every attempt carried started: it goes to whichever tracker answers */
  for (int i = 0; i < 3; i++)
    cr_expect(strstr(line(i), "&event=started") != NULL, "%s", line(i));
  cr_expect_str_eq(seen.info_url, u[2]);
  cr_expect_eq(seen.npeers, 2);
  /* a scrape goes to the tracker that answered, not to the dead tier 0 */
  sh_announcer_scrape(a);
  run_until(&seen.scraped, 1);
  cr_expect_eq(seen.scrape_err, 0);
  cr_expect_eq(seen.scrape.seeders, 7);
  cr_expect(strncmp(line(3), "GET /scrape?", 12) == 0, "%s", line(3));
  sh_announcer_stop(a, st_done, NULL);
  run_until(&seen.done, 1);
  /* stopped only to the tracker that saw started */
  cr_expect_eq(hsrv.nreq, 5);
  cr_expect(strstr(line(4), "GET /announce?") && strstr(line(4), "event=stopped"), "%s",
            line(4));
  for (int i = 0; i < 3; i++)
    free(u[i]);
  stop_all();
}

Test(announce_loop, failed_round_backs_off_and_retries)
{
  start_all(http_tracker, no_udp);
  char *u[] = {http_url("/flaky/announce")};
  size_t per[] = {1};
  struct sh_announcer *a = make(u, per, 1);
  uint64_t t0 = uv_hrtime();
  sh_announcer_start(a);
  run_until(&seen.announced, 1);
  double ms = (double)(uv_hrtime() - t0) / 1e6;
  cr_expect_eq(hsrv.nreq, 2);
  cr_expect_eq(seen.nfail, 1);
  cr_expect(strstr(seen.status[0], "busy") != NULL, "%s", seen.status[0]);
  cr_expect(ms >= 90, "the retry waited the 100 ms back-off (%.0f ms)", ms);
  sh_announcer_stop(a, st_done, NULL);
  run_until(&seen.done, 1);
  free(u[0]);
  stop_all();
}

static void silent_tracker(struct tsrv *s, const char *req, struct sh_buf *out) {}

Test(announce_loop, stop_timeout_with_silent_tracker)
{
  start_all(http_tracker, no_udp);
  char *u[] = {http_url("/announce")};
  size_t per[] = {1};
  struct sh_announcer *a = make(u, per, 1);
  sh_announcer_start(a);
  run_until(&seen.announced, 1);
  hsrv.fn = silent_tracker;
  uint64_t t0 = uv_hrtime();
  sh_announcer_stop(a, st_done, NULL);
  run_until(&seen.done, 1);
  double ms = (double)(uv_hrtime() - t0) / 1e6;
  cr_expect_eq(hsrv.nreq, 2, "stopped was sent");
  cr_expect(ms >= 450 && ms < 8000, "stop took %.0f ms, 500 expected", ms);
  free(u[0]);
  stop_all();
}

Test(announce_loop, reannounce_on_interval_without_event)
{
  start_all(http_tracker, no_udp);
  char *u[] = {http_url("/quick/announce")};
  size_t per[] = {1};
  struct sh_tier tier = {u, 1};
  struct sh_announce_timing t = fast();
  t.min_interval_s = 1; /* the tracker's interval of 1 s stands */
  struct sh_announcer *a = sh_announcer_new(&loop, http, &tier, 1, IH, PID, 51413, &CB, &t);
  (void)per;
  uint64_t t0 = uv_hrtime();
  sh_announcer_start(a);
  run_until(&seen.announced, 2);
  double ms = (double)(uv_hrtime() - t0) / 1e6;
  cr_expect(ms >= 950, "second announce after the 1 s interval (%.0f ms)", ms);
  cr_expect_eq(seen.info.interval, 1);
  cr_expect(strstr(line(0), "event=started") != NULL);
  cr_expect(strstr(line(1), "event=") == NULL, "regular announce has no event: %s", line(1));
  cr_expect_eq(seen.npeers, 2);
  sh_announcer_stop(a, st_done, NULL);
  run_until(&seen.done, 1);
  free(u[0]);
  stop_all();
}

Test(announce_loop, http_scrape)
{
  start_all(http_tracker, no_udp);
  char *u[] = {http_url("/announce")};
  size_t per[] = {1};
  struct sh_announcer *a = make(u, per, 1);
  sh_announcer_scrape(a);
  run_until(&seen.scraped, 1);
  cr_expect_eq(seen.scrape_err, 0);
  cr_expect_eq(seen.scrape.seeders, 7);
  cr_expect_eq(seen.scrape.completed, 70);
  cr_expect_eq(seen.scrape.leechers, 3);
  cr_expect(strncmp(line(0), "GET /scrape?info_hash=%AA%BB%CC%01", 34) == 0, "%s", line(0));
  sh_announcer_stop(a, st_done, NULL);
  run_until(&seen.done, 1);
  cr_expect_eq(hsrv.nreq, 1, "never started, so no stopped");
  free(u[0]);
  stop_all();
}

Test(announce_loop, no_usable_tracker)
{
  start_all(http_tracker, no_udp);
  char *u[] = {"wss://x/announce"};
  size_t per[] = {1};
  struct sh_announcer *a = make(u, per, 1);
  sh_announcer_start(a);
  cr_expect_eq(seen.nfail, 1);
  sh_announcer_more_peers(a);
  sh_announcer_completed(a);
  sh_announcer_stop(a, st_done, NULL);
  run_until(&seen.done, 1);
  stop_all();
}

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
  char *u[] = {udp_url(usrv.port)};
  size_t per[] = {1};
  struct sh_announcer *a = make(u, per, 1);
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

  sh_announcer_stop(a, st_done, NULL);
  run_until(&seen.done, 1);
  cr_expect_eq(ut.announces, 2);
  cr_expect_eq(ut.last_event, 3);
  cr_expect_eq(ut.last_numwant, 0);
  cr_expect_eq(ut.last_key, key, "one key per announcer");
  cr_expect_eq(ut.connects, 1, "the connection id is reused within 60 s");
  free(u[0]);
  udp_teardown();
}

Test(announce_loop, udp_retransmits_and_ignores_strangers)
{
  udp_setup();
  ut.drop_connects = 1;
  ut.forge = 1;
  char *u[] = {udp_url(usrv.port)};
  size_t per[] = {1};
  struct sh_announcer *a = make(u, per, 1);
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
  sh_announcer_stop(a, st_done, NULL);
  run_until(&seen.done, 1);
  free(u[0]);
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
  sh_announcer_stop(a, st_done, NULL);
  run_until(&seen.done, 1);
  udp_teardown();
}

Test(announce_loop, more_peers_respects_min_interval)
{
  udp_setup();
  char *u[] = {http_url("/announce")};
  size_t per[] = {1};
  struct sh_announcer *a = make(u, per, 1);
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
  sh_announcer_stop(a, st_done, NULL);
  run_until(&seen.done, 1);
  free(u[0]);
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
  http = sh_http_client_new(&loop);
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
  sh_announcer_stop(a, st_done, NULL);
  run_until(&seen.done, 1);
  cr_expect_eq(ut.last_event, 3);
  stop_all();
}

/* After a whole BEP 15 schedule without a reply, the next attempt resolves
 * the name again and connects afresh. */
Test(announce_loop, udp_gives_up_then_recovers)
{
  udp_setup();
  ut.drop_connects = 5; /* exactly one whole schedule of 5 tries */
  char *u[] = {udp_url(usrv.port)};
  size_t per[] = {1};
  struct sh_announcer *a = make(u, per, 1);
  sh_announcer_start(a);
  run_until(&seen.nfail, 1);
  cr_expect_eq(seen.status_err[0], SH_ETIMEOUT, "%s", seen.status[0]);
  cr_expect_eq(ut.connects, 5, "a lone tracker gets the whole schedule");
  /* the back-off (100 ms) then a new round that succeeds */
  run_until(&seen.announced, 1);
  cr_expect_eq(ut.connects, 6);
  cr_expect_eq(ut.last_event, 2, "started again, since nobody acknowledged it");
  sh_announcer_stop(a, st_done, NULL);
  run_until(&seen.done, 1);
  free(u[0]);
  udp_teardown();
}

Test(announce_loop, more_peers_announces_once_min_interval_passed)
{
  start_all(http_tracker, no_udp);
  char *u[] = {http_url("/eager/announce")};
  size_t per[] = {1};
  struct sh_announcer *a = make(u, per, 1);
  sh_announcer_start(a);
  run_until(&seen.announced, 1);
  uint64_t t0 = uv_hrtime();
  sh_announcer_more_peers(a); /* interval is 30 min, min interval 1 s */
  sh_announcer_more_peers(a); /* asking twice changes nothing */
  run_until(&seen.announced, 2);
  double ms = (double)(uv_hrtime() - t0) / 1e6;
  cr_expect(ms >= 800 && ms < 10000, "early announce after the 1 s min interval (%.0f ms)", ms);
  cr_expect_eq(hsrv.nreq, 2);
  cr_expect(strstr(line(1), "event=") == NULL, "%s", line(1));
  sh_announcer_stop(a, st_done, NULL);
  run_until(&seen.done, 1);
  free(u[0]);
  stop_all();
}

/* `get --no-seed` completes and stops at once: the tracker must still see
 * completed (it counts downloads from it), then stopped. */
Test(announce_loop, stop_right_after_completion_sends_completed_then_stopped)
{
  start_all(http_tracker, no_udp);
  char *u[] = {http_url("/announce")};
  size_t per[] = {1};
  struct sh_announcer *a = make(u, per, 1);
  sh_announcer_start(a);
  run_until(&seen.announced, 1);
  seen.left = 0;
  sh_announcer_completed(a);
  sh_announcer_stop(a, st_done, NULL);
  run_until(&seen.done, 1);
  cr_assert_eq(hsrv.nreq, 3, "%s", hsrv.all);
  cr_expect(strstr(line(1), "&left=0&") && strstr(line(1), "&event=completed"), "%s", line(1));
  cr_expect(strstr(line(2), "&event=stopped"), "%s", line(2));
  free(u[0]);
  stop_all();
}

/* The session may close the shared HTTP client while an announcer that was
 * stopped without waiting still has its stopped in flight: the request
 * completes with -ECANCELED and the announcer finishes cleanly. */
Test(announce_loop, http_client_closed_under_a_stopping_announcer)
{
  start_all(http_tracker, no_udp);
  char *u[] = {http_url("/announce")};
  size_t per[] = {1};
  struct sh_announcer *a = make(u, per, 1);
  sh_announcer_start(a);
  run_until(&seen.announced, 1);
  hsrv.fn = silent_tracker;
  sh_announcer_stop(a, st_done, NULL);
  while (hsrv.nreq < 2)
    uv_run(&loop, UV_RUN_ONCE);
  /* closes the HTTP client with the stopped request pending; the
   * announcer must not touch the freed request afterwards (the sanitizer
   * build catches it if it does) */
  stop_all();
  cr_expect_eq(seen.done, 1);
  free(u[0]);
}
