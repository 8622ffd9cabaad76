/* The curl-multi-on-libuv HTTP client against an in-process server on
 * 127.0.0.1: bodies, statuses, redirects, gzip, size limit, timeouts,
 * refused connections, cancel and close with requests in flight. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "base/error.h"
#include "net/http_client.h"
#include "test_announce_srv.h"

struct result {
  int calls;
  int err;
  long status;
  char body[4096];
  size_t len;
  char msg[256];
};

static void on_done(void *ud, int err, const char *msg, const struct sh_http_response *r)
{
  struct result *res = ud;
  res->calls++;
  res->err = err;
  res->status = r->status;
  snprintf(res->msg, sizeof res->msg, "%s", msg ? msg : "");
  if (r->body) {
    cr_expect_eq(r->body[r->len], 0, "body must be NUL-terminated");
    res->len = r->len < sizeof res->body ? r->len : sizeof res->body;
    memcpy(res->body, r->body, res->len);
  }
}

static uv_loop_t loop;
static struct tsrv srv;
static struct sh_http_client *cli;
static int closed;
static uv_timer_t wd;

static void on_closed(void *ud) { closed++; }
static void watchdog(uv_timer_t *t) { cr_assert_fail("test took longer than 20 s"); }

static void setup_with(tsrv_fn fn)
{
  cr_assert_eq(uv_loop_init(&loop), 0);
  tsrv_start(&loop, &srv, fn);
  cli = sh_http_client_new(&loop);
  cr_assert_not_null(cli);
  closed = 0;
  uv_timer_init(&loop, &wd);
}

/* Runs the loop until *flag becomes nonzero (a watchdog fails the test). */
static void run_until(int *flag)
{
  if (!uv_is_active((uv_handle_t *)&wd))
    uv_timer_start(&wd, watchdog, 20000, 0);
  while (!*flag)
    uv_run(&loop, UV_RUN_ONCE);
}

static void teardown_all(void)
{
  sh_http_client_close(cli, on_closed, NULL);
  tsrv_stop(&srv);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_expect_eq(closed, 1, "close callback ran %d times", closed);
  cr_expect_eq(uv_loop_close(&loop), 0, "handles left open");
}

static char url[256];
static const char *at(const char *path)
{
  snprintf(url, sizeof url, "http://127.0.0.1:%u%s", srv.port, path);
  return url;
}

static void routes(struct tsrv *s, const char *req, struct sh_buf *out)
{
  if (strncmp(req, "GET /ok ", 8) == 0) {
    tsrv_reply(out, "200 OK", "d8:intervali60ee", 16);
  } else if (strncmp(req, "GET /missing ", 13) == 0) {
    tsrv_reply(out, "404 Not Found", "<html>nope</html>", 17);
  } else if (strncmp(req, "GET /moved ", 11) == 0) {
    sh_buf_puts(out, "HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n");
  } else if (strncmp(req, "GET /loop ", 10) == 0) {
    sh_buf_puts(out, "HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n");
  } else if (strncmp(req, "GET /file ", 10) == 0) {
    sh_buf_puts(out, "HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n");
  } else if (strncmp(req, "GET /gzip ", 10) == 0) {
    static const char gz[] = "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\x4b\xb1\xb0\xca\xcc\x2b"
                             "\x49\x2d\x2a\x4b\xcc\xc9\x34\x33\x48\x4d\x4d\x21\x91\x0f\x00\x85"
                             "\xba\x48\xc1\x40\x00\x00\x00";
    sh_buf_printf(out, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n\r\n", sizeof gz - 1);
    sh_buf_append(out, gz, sizeof gz - 1);
  } else if (strncmp(req, "GET /big ", 9) == 0) {
    char *big = malloc(100000);
    memset(big, 'x', 100000);
    tsrv_reply(out, "200 OK", big, 100000);
    free(big);
  } else if (strncmp(req, "GET /silent ", 12) == 0) {
    /* never answer */
  } else {
    tsrv_reply(out, "400 Bad Request", "", 0);
  }
}

Test(http_client, get_body_and_headers)
{
  setup_with(routes);
  struct result r = {0};
  cr_assert_not_null(sh_http_get(cli, at("/ok"), NULL, on_done, &r));
  cr_expect_eq(sh_http_client_pending(cli), 1);
  run_until(&r.calls);
  cr_expect_eq(r.err, 0, "%s", r.msg);
  cr_expect_eq(r.status, 200);
  cr_expect_eq(r.len, 16);
  cr_expect(memcmp(r.body, "d8:intervali60ee", 16) == 0);
  cr_expect(strstr(srv.last, "User-Agent: shoal/") != NULL, "%s", srv.last);
  cr_expect(strstr(srv.last, "Accept-Encoding:") != NULL, "%s", srv.last);
  cr_expect_eq(sh_http_client_pending(cli), 0);
  teardown_all();
}

Test(http_client, error_status_is_a_response)
{
  setup_with(routes);
  struct result r = {0};
  sh_http_get(cli, at("/missing"), NULL, on_done, &r);
  run_until(&r.calls);
  cr_expect_eq(r.err, 0);
  cr_expect_eq(r.status, 404);
  cr_expect_eq(r.len, 17);
  teardown_all();
}

Test(http_client, redirects_followed_within_limits)
{
  setup_with(routes);
  struct result r = {0}, l = {0}, f = {0};
  sh_http_get(cli, at("/moved"), NULL, on_done, &r);
  struct sh_http_opts o = {0, 0, 0, 3, NULL};
  sh_http_get(cli, at("/loop"), &o, on_done, &l);
  sh_http_get(cli, at("/file"), NULL, on_done, &f);
  run_until(&r.calls);
  run_until(&l.calls);
  run_until(&f.calls);
  cr_expect_eq(r.err, 0, "%s", r.msg);
  cr_expect_eq(r.status, 200);
  cr_expect_eq(r.len, 16);
  cr_expect_eq(l.err, SH_EHTTP, "redirect loop: %d %s", l.err, l.msg);
  /* a redirect to another scheme is refused, not followed */
  cr_expect_lt(f.err, 0, "file:// redirect must fail");
  teardown_all();
}

Test(http_client, gzip_is_decoded)
{
  setup_with(routes);
  struct result r = {0};
  sh_http_get(cli, at("/gzip"), NULL, on_done, &r);
  run_until(&r.calls);
  cr_expect_eq(r.err, 0, "%s", r.msg);
  cr_expect_eq(r.len, 64);
  cr_expect(memcmp(r.body, "d8:intervali60eed8:intervali60ee", 32) == 0);
  teardown_all();
}

Test(http_client, body_limit)
{
  setup_with(routes);
  struct result r = {0};
  struct sh_http_opts o = {0, 0, 50000, 0, NULL};
  sh_http_get(cli, at("/big"), &o, on_done, &r);
  run_until(&r.calls);
  cr_expect_eq(r.err, SH_ELIMIT, "%d %s", r.err, r.msg);
  teardown_all();
}

Test(http_client, timeout)
{
  setup_with(routes);
  struct result r = {0};
  struct sh_http_opts o = {300, 0, 0, 0, NULL};
  uint64_t t0 = uv_hrtime();
  sh_http_get(cli, at("/silent"), &o, on_done, &r);
  run_until(&r.calls);
  double s = (double)(uv_hrtime() - t0) / 1e9;
  cr_expect_eq(r.err, SH_ETIMEOUT, "%d %s", r.err, r.msg);
  cr_expect(s >= 0.25 && s < 10, "took %.2f s", s);
  teardown_all();
}

Test(http_client, connection_refused)
{
  setup_with(routes);
  /* a port that was free a moment ago: bind, read it back, close */
  uv_tcp_t t;
  struct sockaddr_in a, b;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_init(&loop, &t);
  uv_tcp_bind(&t, (struct sockaddr *)&a, 0);
  int len = sizeof b;
  uv_tcp_getsockname(&t, (struct sockaddr *)&b, &len);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  char u[64];
  snprintf(u, sizeof u, "http://127.0.0.1:%u/ok", ntohs(b.sin_port));
  struct result r = {0};
  sh_http_get(cli, u, NULL, on_done, &r);
  run_until(&r.calls);
  cr_expect_eq(r.err, SH_EHTTP, "%d %s", r.err, r.msg);
  cr_expect(r.msg[0] != 0, "a message says why");
  teardown_all();
}

Test(http_client, bad_urls)
{
  setup_with(routes);
  struct result r = {0}, f = {0};
  struct sh_http_request *q = sh_http_get(cli, "gopher://127.0.0.1/", NULL, on_done, &r);
  struct sh_http_request *q2 = sh_http_get(cli, "file:///etc/hostname", NULL, on_done, &f);
  /* either refused at once (callback never runs) or failed asynchronously */
  if (q)
    run_until(&r.calls);
  if (q2)
    run_until(&f.calls);
  cr_expect(q == NULL || r.err == SH_EURL, "gopher: %d %s", r.err, r.msg);
  cr_expect(q2 == NULL || f.err == SH_EURL, "file: %d %s", f.err, f.msg);
  teardown_all();
}

Test(http_client, cancel_and_close_with_requests_in_flight)
{
  setup_with(routes);
  struct result a = {0}, b = {0}, c = {0};
  struct sh_http_request *ra = sh_http_get(cli, at("/silent"), NULL, on_done, &a);
  sh_http_get(cli, at("/silent"), NULL, on_done, &b);
  struct sh_http_request *rc = sh_http_get(cli, at("/ok"), NULL, on_done, &c);
  sh_http_cancel(ra);
  cr_expect_eq(sh_http_client_pending(cli), 2);
  run_until(&c.calls);
  (void)rc;
  /* b is still waiting for the silent server: close completes it */
  teardown_all();
  cr_expect_eq(a.calls, 0, "a cancelled request is never called back");
  cr_expect_eq(b.calls, 1);
  cr_expect_eq(b.err, -ECANCELED);
  cr_expect_eq(c.calls, 1);
}

static struct result chained;
static void close_from_callback(void *ud, int err, const char *msg,
                                const struct sh_http_response *r)
{
  on_done(&chained, err, msg, r);
  sh_http_client_close(cli, on_closed, NULL);
}

Test(http_client, close_from_inside_a_callback)
{
  setup_with(routes);
  memset(&chained, 0, sizeof chained);
  struct result other = {0};
  sh_http_get(cli, at("/ok"), NULL, close_from_callback, NULL);
  sh_http_get(cli, at("/silent"), NULL, on_done, &other);
  run_until(&chained.calls);
  tsrv_stop(&srv);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_expect_eq(closed, 1);
  cr_expect_eq(other.calls, 1, "the pending request completes on close");
  cr_expect_eq(other.err, -ECANCELED);
  cr_expect_eq(uv_loop_close(&loop), 0);
}

Test(http_client, range_header_for_web_seeds)
{
  setup_with(routes);
  struct result r = {0};
  struct sh_http_opts o = {0, 0, 0, 0, "16384-32767"};
  sh_http_get(cli, at("/ok"), &o, on_done, &r);
  run_until(&r.calls);
  cr_expect_eq(r.err, 0, "%s", r.msg);
  cr_expect(strstr(srv.last, "\r\nRange: bytes=16384-32767\r\n") != NULL, "%s", srv.last);
  teardown_all();
}

Test(http_client, many_parallel_requests)
{
  setup_with(routes);
  struct result r[40];
  memset(r, 0, sizeof r);
  int total = 0;
  for (int i = 0; i < 40; i++)
    cr_assert_not_null(sh_http_get(cli, at("/ok"), NULL, on_done, &r[i]));
  for (int i = 0; i < 40; i++) {
    run_until(&r[i].calls);
    total += r[i].status == 200;
  }
  cr_expect_eq(total, 40);
  cr_expect_eq(srv.nreq, 40);
  teardown_all();
}
