/* Shared fixture of the announcer loop tests (test_announce_loop*.c): a
 * loop with a watchdog, the shared HTTP client, an in-process HTTP tracker
 * and UDP responder on 127.0.0.1 port 0, callbacks that record what the
 * announcer delivers, and shrunk timings (50 ms UDP retransmits, 100 ms
 * back-off) so nothing waits for BEP 15's 15 s. Header-only, included once
 * per test executable. */
#ifndef SHOAL_TEST_ANNOUNCE_FIXTURE_H
#define SHOAL_TEST_ANNOUNCE_FIXTURE_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "announce/ann_udp.h"
#include "announce/ann_udpc.h"
#include "announce/announce.h"
#include "base/error.h"
#include "net/http_client.h"
#include "test_announce_srv.h"

static uv_loop_t loop;
static uv_timer_t wd;
static struct sh_http_client *http;
static struct ann_udpc_reg *ureg; /* no shared socket: it opens its own */
static struct sh_announce_ctx actx;
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
  int stalled;
  uint32_t stall_tries;
  char stall_msg[600];
} seen;

static inline void st_stats(void *ud, uint64_t *u, uint64_t *d, uint64_t *l)
{
  *u = seen.up;
  *d = seen.down;
  *l = seen.left;
}

static inline void st_peers(void *ud, const struct sockaddr_storage *a, size_t n)
{
  seen.peers_calls++;
  for (size_t i = 0; i < n && seen.npeers < 16; i++)
    seen.peer[seen.npeers++] = a[i];
}

static inline void st_status(void *ud, const char *url, int err, const char *msg)
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

static inline void st_announced(void *ud, const struct sh_announce_info *i)
{
  seen.announced++;
  seen.info = *i;
  snprintf(seen.info_url, sizeof seen.info_url, "%s", i->url);
}

static inline void st_scraped(void *ud, const char *url, int err, const struct sh_scrape_info *s)
{
  seen.scraped++;
  seen.scrape_err = err;
  if (s)
    seen.scrape = *s;
}

static inline void st_done(void *ud) { seen.done++; }

static inline void st_stalled(void *ud, const char *url, uint32_t tries, const char *msg)
{
  seen.stalled++;
  seen.stall_tries = tries;
  snprintf(seen.stall_msg, sizeof seen.stall_msg, "%s", msg);
}

static const struct sh_announce_callbacks CB = {NULL, st_stats, st_peers, st_status,
                                                st_announced, st_scraped, st_stalled};

static const uint8_t IH[20] = "\xaa\xbb\xcc\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11";
static const uint8_t PID[20] = "-SH0010-123456789012";

static inline void watchdog(uv_timer_t *t) { cr_assert_fail("test took longer than 30 s"); }

/* The session's shared clients, without a session. */
static inline void ctx_start(void)
{
  http = sh_http_client_new(&loop);
  cr_assert_not_null(http);
  ureg = ann_udpc_reg_new(&loop, NULL, 0);
  cr_assert_not_null(ureg);
  actx.http = http;
  actx.udp = ureg;
}

static inline void start_all(tsrv_fn hf, usrv_fn uf)
{
  memset(&seen, 0, sizeof seen);
  seen.left = 1000;
  cr_assert_eq(uv_loop_init(&loop), 0);
  uv_timer_init(&loop, &wd);
  uv_timer_start(&wd, watchdog, 30000, 0);
  ctx_start();
  tsrv_start(&loop, &hsrv, hf);
  usrv_start(&loop, &usrv, uf);
}

static inline void run_until(int *flag, int value)
{
  while (*flag < value)
    uv_run(&loop, UV_RUN_ONCE);
}

static int http_closed, ureg_closed;
static inline void on_http_closed(void *ud) { http_closed = 1; }
static inline void on_ureg_closed(void *ud) { ureg_closed = 1; }

static inline void stop_all(void)
{
  sh_http_client_close(http, on_http_closed, NULL);
  ann_udpc_reg_close(ureg, on_ureg_closed, NULL);
  tsrv_stop(&hsrv);
  usrv_stop(&usrv);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_expect(http_closed);
  cr_expect(ureg_closed);
  cr_expect_eq(uv_loop_close(&loop), 0, "handles left open");
}

static inline struct sh_announce_timing fast(void)
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

static inline struct sh_announcer *make(char **urls, size_t *per_tier, size_t ntiers)
{
  struct sh_tier tiers[4];
  for (size_t i = 0, k = 0; i < ntiers; k += per_tier[i], i++) {
    tiers[i].urls = urls + k;
    tiers[i].n = per_tier[i];
  }
  struct sh_announce_timing t = fast();
  struct sh_announcer *a = sh_announcer_new(&loop, &actx, tiers, ntiers, IH, PID, 51413, &CB, &t);
  cr_assert_not_null(a);
  return a;
}

/* One tracker in one tier. The announcer copies its URLs, so a URL made by
 * http_url()/udp_url() is freed right here. */
static inline struct sh_announcer *make_one_owned(char *url)
{
  size_t per = 1;
  struct sh_announcer *a = make(&url, &per, 1);
  free(url);
  return a;
}

/* Stops the announcer and runs the loop until its done callback. */
static inline void stop_and_wait(struct sh_announcer *a)
{
  sh_announcer_stop(a, st_done, NULL);
  run_until(&seen.done, 1);
}

static inline char *http_url(const char *path)
{
  char *u = malloc(128);
  snprintf(u, 128, "http://127.0.0.1:%u%s", hsrv.port, path);
  return u;
}

static inline char *udp_url(uint16_t port)
{
  char *u = malloc(128);
  snprintf(u, 128, "udp://127.0.0.1:%u/announce", port);
  return u;
}

/* ---- an HTTP tracker ---- */

static const char PEERS2[] = "\x7f\x00\x00\x01\x1a\xe1\x7f\x00\x00\x02\x1a\xe2";

static inline void http_tracker(struct tsrv *s, const char *req, struct sh_buf *out)
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

static inline void no_udp(struct usrv *s, const uint8_t *p, size_t n, struct sh_buf *out) {}

static inline const char *line(int i)
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
static inline void silent_tracker(struct tsrv *s, const char *req, struct sh_buf *out) {}

#endif
