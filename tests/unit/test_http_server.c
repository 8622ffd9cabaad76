/* The HTTP server: keep-alive and HTTP/1.0 close, pipelining, bodies, the
 * limits (long URL, garbage, idle timeout, connection cap), each answered
 * while the server keeps serving, and deferred replies (answered later, the
 * client gone first, the server closed first, a request pipelined behind,
 * the reply timeout). A server runs on its own loop in a thread;
 * the test talks to it with plain blocking sockets. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/http_server.h"

static uv_loop_t loop;
static struct http_server srv;
static uv_async_t stopper;
static pthread_t thr;
static int port;

static void handler(struct http_server *s, const struct http_request *r, struct http_response *res)
{
  const char *x = http_request_header(r, "X-Test");
  sh_buf_printf(&res->body, "%s %.*s q=%.*s x=%s body=%.*s", r->method, (int)r->path_len, r->path,
                (int)r->query_len, r->query ? r->query : "", x ? x : "-", (int)r->body_len,
                (const char *)r->body);
}

static void on_error(struct http_server *s, const struct http_request *req, int status,
                     const char *why, struct http_response *res)
{
  sh_buf_printf(&res->body, "custom:%d:%s", status, why);
}

/* Deferred replies: GET /later takes a handle (loop thread only), and the
 * test thread asks the loop to answer it through `replier`. */
static uv_async_t replier;
static struct http_later *pending;
static atomic_int conns_at_reply;

static void on_reply(uv_async_t *a)
{
  (void)a;
  struct http_response res = {.status = 200};
  sh_buf_puts(&res.body, "the later reply");
  atomic_store(&conns_at_reply, (int)srv.nconns);
  http_server_reply(pending, &res);
  pending = NULL;
  sh_buf_free(&res.body);
}

static void on_stop(uv_async_t *a)
{
  http_server_close(&srv, NULL);
  uv_close((uv_handle_t *)a, NULL);
  uv_close((uv_handle_t *)&replier, NULL);
}

static void *run(void *arg)
{
  uv_run(&loop, UV_RUN_DEFAULT);
  return NULL;
}

/* Refuses POST /deny from its headers alone. */
static atomic_int handled;
static void head(struct http_server *s, const struct http_request *r, struct http_response *res)
{
  cr_expect_null(r->body);
  if (r->path_len == 5 && !memcmp(r->path, "/deny", 5)) {
    res->status = 401;
    sh_buf_printf(&res->body, "denied from the headers, length %lld", (long long)r->content_length);
  }
}

static void counting_handler(struct http_server *s, const struct http_request *r,
                             struct http_response *res)
{
  atomic_fetch_add(&handled, 1);
  handler(s, r, res);
}

static struct http_body_budget budget;

static void start_with(struct http_server_config *c);

static void start(unsigned idle_ms, unsigned max_conns)
{
  struct http_server_config c;
  http_server_config_defaults(&c);
  c.handler = handler;
  c.on_error = on_error;
  c.idle_timeout_ms = idle_ms;
  c.max_conns = max_conns;
  c.max_url = 1024;
  c.max_body = 1000;
  start_with(&c);
}

static void start_with(struct http_server_config *c)
{
  cr_assert_eq(uv_loop_init(&loop), 0);
  cr_assert_eq(http_server_init(&srv, &loop, c), 0);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  cr_assert_eq(http_server_listen(&srv, (struct sockaddr *)&a, 0), 0);
  port = http_server_port(&srv, 0);
  cr_assert_gt(port, 0);
  uv_async_init(&loop, &stopper, on_stop);
  uv_async_init(&loop, &replier, on_reply);
  pthread_create(&thr, NULL, run, NULL);
}

static void stop(void)
{
  uv_async_send(&stopper);
  pthread_join(thr, NULL);
  cr_expect_eq(uv_loop_close(&loop), 0, "every handle closed");
}

static int dial(void)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
  while (n) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
    if (w <= 0)
      return; /* the server may close early on purpose */
    s += w;
    n -= (size_t)w;
  }
}

/* Reads until `want` occurrences of "HTTP/1." and their bodies arrived, or
 * EOF, or 10 s passed. Returns bytes read; *eof tells whether it closed. */
static size_t recv_until(int fd, char *buf, size_t cap, const char *until, int *eof)
{
  size_t n = 0;
  *eof = 0;
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0)
      break;
    ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
    if (r <= 0) {
      *eof = 1;
      break;
    }
    n += (size_t)r;
    buf[n] = 0;
    if (until && strstr(buf, until))
      break;
  }
  buf[n] = 0;
  return n;
}

Test(http_server, keep_alive_and_pipelining)
{
  start(5000, 100);
  int fd = dial();
  char buf[8192];
  int eof;
  const char *r1 = "GET /a?x=1 HTTP/1.1\r\nHost: h\r\nX-Test: yes\r\n\r\n";
  send_all(fd, r1, strlen(r1));
  recv_until(fd, buf, sizeof buf, "body=", &eof);
  cr_expect_not_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
  cr_expect_not_null(strstr(buf, "GET /a q=x=1 x=yes body="));
  cr_expect_null(strstr(buf, "Connection: close"));
  /* same connection, two pipelined requests, answered in order */
  const char *r2 = "GET /b HTTP/1.1\r\nHost: h\r\n\r\nPOST /c HTTP/1.1\r\nHost: h\r\n"
                   "Content-Length: 5\r\n\r\nhello";
  send_all(fd, r2, strlen(r2));
  recv_until(fd, buf, sizeof buf, "body=hello", &eof);
  char *b = strstr(buf, "GET /b"), *c = strstr(buf, "POST /c q= x=- body=hello");
  cr_expect(b && c && b < c, "two replies in order: %s", buf);
  close(fd);
  stop();
}

Test(http_server, http10_closes_unless_keep_alive)
{
  start(5000, 100);
  char buf[8192];
  int eof;
  int fd = dial();
  send_all(fd, "GET / HTTP/1.0\r\n\r\n", 18);
  recv_until(fd, buf, sizeof buf, NULL, &eof);
  cr_expect(eof, "HTTP/1.0 closes");
  cr_expect_not_null(strstr(buf, "HTTP/1.0 200 OK"));
  close(fd);
  fd = dial();
  const char *ka = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
  send_all(fd, ka, strlen(ka));
  recv_until(fd, buf, sizeof buf, "body=", &eof);
  cr_expect(!eof);
  cr_expect_not_null(strstr(buf, "Connection: keep-alive"));
  close(fd);
  stop();
}

Test(http_server, limits_answer_and_keep_serving)
{
  start(5000, 100);
  char buf[8192];
  int eof;
  /* a 100 KB URL: 414 with the caller's error body, then close */
  int fd = dial();
  size_t n = 100 * 1024;
  char *big = malloc(n + 64);
  memcpy(big, "GET /", 5);
  memset(big + 5, 'a', n);
  strcpy(big + 5 + n, " HTTP/1.1\r\n\r\n");
  send_all(fd, big, strlen(big));
  free(big);
  recv_until(fd, buf, sizeof buf, NULL, &eof);
  cr_expect_not_null(strstr(buf, "HTTP/1.1 414"), "%s", buf);
  cr_expect_not_null(strstr(buf, "custom:414:request URL too long"));
  close(fd);
  /* garbage: 400 */
  fd = dial();
  send_all(fd, "\x01\x02garbage\r\n\r\n", 13);
  recv_until(fd, buf, sizeof buf, NULL, &eof);
  cr_expect_not_null(strstr(buf, " 400 "), "%s", buf);
  close(fd);
  /* body over the limit: 413 */
  fd = dial();
  const char *post = "POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n";
  send_all(fd, post, strlen(post));
  recv_until(fd, buf, sizeof buf, NULL, &eof);
  cr_expect_not_null(strstr(buf, " 413 "), "%s", buf);
  close(fd);
  /* and a normal request still works */
  fd = dial();
  send_all(fd, "GET /ok HTTP/1.1\r\n\r\n", 20);
  recv_until(fd, buf, sizeof buf, "body=", &eof);
  cr_expect_not_null(strstr(buf, "GET /ok"));
  close(fd);
  stop();
}

Test(http_server, unfinished_request_times_out)
{
  start(300, 100);
  char buf[256];
  int eof;
  int fd = dial();
  send_all(fd, "GET / HTTP/1.1\r\nHost:", 21);
  recv_until(fd, buf, sizeof buf, NULL, &eof);
  cr_expect(eof, "an unfinished request is closed after the idle timeout");
  close(fd);
  /* trickling bytes does not extend the deadline */
  fd = dial();
  int closed = 0;
  for (int i = 0; i < 20 && !closed; i++) {
    usleep(50000);
    if (send(fd, "X", 1, MSG_NOSIGNAL) < 0)
      closed = 1;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 0) > 0 && recv(fd, buf, sizeof buf, 0) <= 0)
      closed = 1;
  }
  cr_expect(closed, "a trickled request is cut off");
  close(fd);
  stop();
}

Test(http_server, connection_cap)
{
  start(5000, 2);
  char buf[256];
  int eof;
  int a = dial(), b = dial();
  /* make sure both are accepted before the third */
  send_all(a, "GET / HTTP/1.1\r\n\r\n", 18);
  recv_until(a, buf, sizeof buf, "body=", &eof);
  send_all(b, "GET / HTTP/1.1\r\n\r\n", 18);
  recv_until(b, buf, sizeof buf, "body=", &eof);
  int c = dial();
  recv_until(c, buf, sizeof buf, NULL, &eof);
  cr_expect(eof, "the connection over the cap is closed");
  cr_expect_eq(buf[0], 0);
  close(a);
  close(b);
  close(c);
  stop();
}

Test(http_server, upgrade_is_answered_once_then_closed)
{
  start(5000, 100);
  char buf[4096];
  int eof;
  int fd = dial();
  const char *r = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
  send_all(fd, r, strlen(r));
  recv_until(fd, buf, sizeof buf, NULL, &eof);
  cr_expect(eof);
  cr_expect_not_null(strstr(buf, "GET /ws"));
  cr_expect_null(strstr(buf, " 400 "), "no second, error reply: %s", buf);
  close(fd);
  stop();
}

/* A server deciding from the headers, with 10,000 bytes for bodies. */
static void start_deciding(void)
{
  struct http_server_config c;
  http_server_config_defaults(&c);
  c.handler = counting_handler;
  c.on_error = on_error;
  c.on_head = head;
  c.max_body = 1 << 20;
  memset(&budget, 0, sizeof budget);
  budget.cap = 10000;
  c.budget = &budget;
  atomic_store(&handled, 0);
  start_with(&c);
}

Test(http_server, refused_from_the_headers_before_the_body_is_read)
{
  start_deciding();
  char buf[4096];
  int eof;
  /* 1 MiB announced, 64 KiB sent, the rest held back: the answer comes at
   * once, and nothing of the body is held */
  int fd = dial();
  const char *h = "POST /deny HTTP/1.1\r\nHost: h\r\nContent-Length: 1048576\r\n\r\n";
  send_all(fd, h, strlen(h));
  static char chunk[65536];
  memset(chunk, 'x', sizeof chunk);
  send_all(fd, chunk, sizeof chunk);
  recv_until(fd, buf, sizeof buf, "length 1048576", &eof);
  cr_expect_not_null(strstr(buf, "HTTP/1.1 401 Unauthorized\r\n"), "%s", buf);
  cr_expect_not_null(strstr(buf, "Connection: close"));
  cr_expect_eq(atomic_load(&budget.used), 0, "no body memory held");
  cr_expect_eq(atomic_load(&handled), 0, "the handler never ran");
  /* the client goes on sending for a moment: it is read and dropped, then
   * the server's FIN arrives (a reset would lose the answer) */
  for (int i = 0; i < 4; i++)
    send_all(fd, chunk, sizeof chunk);
  recv_until(fd, buf, sizeof buf, NULL, &eof);
  cr_expect(eof, "closed once the client stops (or after the linger)");
  close(fd);
  /* and the server goes on serving */
  fd = dial();
  const char *ok = "POST /ok HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  send_all(fd, ok, strlen(ok));
  recv_until(fd, buf, sizeof buf, "body=hello", &eof);
  cr_expect_not_null(strstr(buf, "POST /ok q= x=- body=hello"), "%s", buf);
  cr_expect_eq(atomic_load(&budget.used), 0, "a served body's memory is given back at once");
  close(fd);
  stop();
}

Test(http_server, bodies_in_flight_stay_within_the_budget)
{
  start_deciding();
  char buf[4096];
  int eof;
  /* 6,000 of 8,000 bytes sent and held: the first body takes its room */
  int a = dial();
  const char *h = "POST /ok HTTP/1.1\r\nContent-Length: 8000\r\n\r\n";
  send_all(a, h, strlen(h));
  static char chunk[6000];
  memset(chunk, 'y', sizeof chunk);
  send_all(a, chunk, sizeof chunk);
  for (int i = 0; i < 100 && atomic_load(&budget.used) == 0; i++)
    usleep(10000);
  size_t held = atomic_load(&budget.used);
  cr_expect(held >= 8000 && held <= 10000, "held %zu", held);
  /* a second one does not fit: 503 from its headers */
  int b = dial();
  send_all(b, h, strlen(h));
  recv_until(b, buf, sizeof buf, NULL, &eof);
  cr_expect_not_null(strstr(buf, "HTTP/1.1 503 "), "%s", buf);
  cr_expect_eq(atomic_load(&budget.refused), 1);
  close(b);
  /* a chunked body that outgrows the room is cut off too */
  b = dial();
  const char *ch = "POST /ok HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n";
  send_all(b, ch, strlen(ch));
  static char big[4096];
  memset(big, 'z', sizeof big);
  send_all(b, big, sizeof big);
  recv_until(b, buf, sizeof buf, NULL, &eof);
  cr_expect_not_null(strstr(buf, "HTTP/1.1 503 "), "%s", buf);
  close(b);
  /* the first one completes, and its room is free again */
  send_all(a, chunk, 2000);
  recv_until(a, buf, sizeof buf, "body=", &eof);
  cr_expect_not_null(strstr(buf, "HTTP/1.1 200 OK"), "%s", buf);
  cr_expect_eq(atomic_load(&budget.used), 0);
  cr_expect_eq(atomic_load(&handled), 1);
  close(a);
  stop();
}

/* ---- deferred replies ---- */

static void later_handler(struct http_server *s, const struct http_request *r,
                          struct http_response *res)
{
  atomic_fetch_add(&handled, 1);
  if (r->path_len == 6 && !memcmp(r->path, "/later", 6)) {
    pending = http_server_later(s);
    cr_expect_not_null(pending);
    cr_expect_null(http_server_later(s), "one handle per request");
    sh_buf_puts(&res->body, "never sent"); /* a deferring handler's res is dropped */
    return;
  }
  handler(s, r, res);
}

static void start_later(unsigned idle_ms, unsigned reply_ms)
{
  struct http_server_config c;
  http_server_config_defaults(&c);
  c.handler = later_handler;
  c.on_error = on_error;
  c.idle_timeout_ms = idle_ms;
  c.reply_timeout_ms = reply_ms;
  atomic_store(&handled, 0);
  atomic_store(&conns_at_reply, -1);
  pending = NULL;
  start_with(&c);
}

/* Nothing arrives on fd within ms. */
static int silent_for(int fd, int ms)
{
  struct pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, ms) == 0;
}

/* The handle exists once the loop ran the handler (the test thread only
 * reads the counter, set after). */
static void wait_handled(int n)
{
  for (int i = 0; i < 500 && atomic_load(&handled) < n; i++)
    usleep(10000);
  usleep(20000);
}

/* A new connection whose request (the first: handled n times in all) the
 * server deferred. */
static int dial_deferred(const char *req, int n)
{
  int fd = dial();
  send_all(fd, req, strlen(req));
  wait_handled(n);
  return fd;
}

Test(http_server, deferred_reply_answered_later)
{
  start_later(5000, 10000);
  char buf[8192];
  int eof;
  /* the first request of a connection: deferred on the fast path */
  int a = dial_deferred("GET /later HTTP/1.1\r\nHost: h\r\n\r\n", 1);
  cr_expect(silent_for(a, 300), "no answer before the reply");
  /* the server goes on serving others meanwhile */
  int b = dial();
  send_all(b, "GET /other HTTP/1.1\r\n\r\n", 23);
  recv_until(b, buf, sizeof buf, "body=", &eof);
  cr_expect_not_null(strstr(buf, "GET /other"), "%s", buf);
  uv_async_send(&replier);
  recv_until(a, buf, sizeof buf, NULL, &eof);
  cr_expect_not_null(strstr(buf, "HTTP/1.1 200 OK\r\n"), "%s", buf);
  cr_expect_not_null(strstr(buf, "Connection: close\r\n"));
  cr_expect_not_null(strstr(buf, "\r\n\r\nthe later reply"));
  cr_expect_null(strstr(buf, "never sent"));
  cr_expect(eof, "the connection closes after the deferred reply");
  close(a);
  /* a kept-alive connection (served by libuv) defers its second request */
  send_all(b, "GET /later HTTP/1.1\r\n\r\n", 23);
  wait_handled(3);
  cr_expect(silent_for(b, 200));
  uv_async_send(&replier);
  recv_until(b, buf, sizeof buf, NULL, &eof);
  cr_expect_not_null(strstr(buf, "the later reply"), "%s", buf);
  cr_expect(eof);
  close(b);
  stop();
  cr_expect_eq(srv.later_replies, 2);
  cr_expect_eq(srv.later_dropped, 0);
}

Test(http_server, deferred_reply_client_gone_first)
{
  start_later(5000, 10000);
  int a = dial_deferred("GET /later HTTP/1.1\r\n\r\n", 1);
  close(a);
  usleep(200000);
  uv_async_send(&replier); /* the handle is still valid: the reply is dropped */
  for (int i = 0; i < 200 && atomic_load(&conns_at_reply) < 0; i++)
    usleep(10000);
  cr_expect_eq(atomic_load(&conns_at_reply), 0, "the connection closed when the client went");
  stop();
  cr_expect_eq(srv.later_dropped, 1);
}

Test(http_server, deferred_reply_server_closed_first)
{
  start_later(5000, 10000);
  char buf[4096];
  int eof;
  int a = dial_deferred("GET /later HTTP/1.1\r\n\r\n", 1);
  stop(); /* every handle closed, though the reply is still to come */
  recv_until(a, buf, sizeof buf, NULL, &eof);
  cr_expect_not_null(strstr(buf, "HTTP/1.1 503 "), "answered at the close: %s", buf);
  cr_expect_not_null(strstr(buf, "custom:503:the server is closing"));
  cr_expect(eof);
  close(a);
  cr_assert_not_null(pending);
  struct http_response res = {.status = 200};
  sh_buf_puts(&res.body, "too late");
  http_server_reply(pending, &res); /* dropped, and the handle freed */
  sh_buf_free(&res.body);
}

Test(http_server, deferred_reply_with_a_request_pipelined_behind)
{
  start_later(5000, 10000);
  char buf[8192];
  int eof;
  int a = dial_deferred("GET /later HTTP/1.1\r\n\r\nGET /behind HTTP/1.1\r\n\r\n", 1);
  send_all(a, "GET /third HTTP/1.1\r\n\r\n", 23); /* read and dropped */
  cr_expect(silent_for(a, 200));
  uv_async_send(&replier);
  recv_until(a, buf, sizeof buf, NULL, &eof);
  cr_expect(eof);
  cr_expect_not_null(strstr(buf, "the later reply"), "%s", buf);
  cr_expect_not_null(strstr(buf, "Connection: close"));
  cr_expect_null(strstr(buf + 1, "HTTP/1."), "one reply only: %s", buf);
  cr_expect_eq(atomic_load(&handled), 1, "nothing behind the deferred request is served");
  close(a);
  stop();
}

Test(http_server, deferred_reply_outlives_idle_timeout_until_its_own)
{
  start_later(100, 800);
  char buf[4096];
  int eof;
  int a = dial_deferred("HEAD /later HTTP/1.1\r\n\r\n", 1);
  cr_expect(silent_for(a, 400), "open past the 100 ms idle timeout");
  recv_until(a, buf, sizeof buf, NULL, &eof);
  cr_expect_not_null(strstr(buf, "HTTP/1.1 503 "), "the server answers in time: %s", buf);
  cr_expect_not_null(strstr(buf, "Content-Length: 27\r\n"), "%s", buf);
  cr_expect_null(strstr(buf, "custom:"), "HEAD: no body");
  cr_expect(eof);
  close(a);
  uv_async_send(&replier); /* dropped: the server answered already */
  for (int i = 0; i < 200 && atomic_load(&conns_at_reply) < 0; i++)
    usleep(10000);
  stop();
  cr_expect_null(pending);
}
/* A reply far bigger than the socket takes at once goes out from its own
 * buffer: whole, byte for byte, and before the next pipelined reply. */
#define BIG_LEN (4u << 20)
static void big_handler(struct http_server *s, const struct http_request *r,
                        struct http_response *res)
{
  if (r->path_len != 4 || memcmp(r->path, "/big", 4)) {
    handler(s, r, res);
    return;
  }
  cr_assert_eq(sh_buf_reserve(&res->body, BIG_LEN), 0);
  for (size_t i = 0; i < BIG_LEN; i++)
    res->body.data[i] = (uint8_t)('a' + i % 26);
  res->body.len = BIG_LEN;
}

Test(http_server, big_reply_whole_and_in_order)
{
  struct http_server_config c;
  http_server_config_defaults(&c);
  c.handler = big_handler;
  start_with(&c);
  int fd = dial();
  const char *rq = "GET /big HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n";
  send_all(fd, rq, strlen(rq));
  usleep(200 * 1000); /* the socket fills: the rest of the body waits in the server */
  size_t cap = BIG_LEN + 4096;
  char *buf = malloc(cap);
  int eof;
  size_t n = recv_until(fd, buf, cap, "GET /after", &eof);
  char *body = strstr(buf, "\r\n\r\n");
  cr_assert(body, "no head");
  cr_expect_not_null(strstr(buf, "Content-Length: 4194304\r\n"));
  body += 4;
  cr_assert_geq(n - (size_t)(body - buf), BIG_LEN, "body cut short");
  for (size_t i = 0; i < BIG_LEN; i++)
    if (body[i] != 'a' + (char)(i % 26))
      cr_assert_fail("byte %zu of the body is wrong", i);
  cr_expect_not_null(strstr(body + BIG_LEN, "HTTP/1.1 200 OK\r\n"), "the next reply follows");
  free(buf);
  close(fd);
  stop();
}
