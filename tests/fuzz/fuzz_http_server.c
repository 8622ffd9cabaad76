/* libFuzzer target: the HTTP server (llhttp's callbacks, the limits, the
 * fast path, keep-alive, pipelining and deferred replies) from bytes a
 * client sends over loopback. One server for the whole run; each input is
 * one connection: written whole, read until the server closes, or closed
 * by us once nothing moves. Requests for /later are answered through
 * http_server_later on the next loop turn (so also after the client went).
 * Every answer must start as an HTTP reply, and the server must be left
 * with no connection and no pending reply. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/http_server.h"

static uv_loop_t loop;
static struct http_server srv;
static uv_timer_t replier;
static struct http_later *pending[64];
static int npending;
static struct sockaddr_in addr;

static void on_reply(uv_timer_t *t)
{
  (void)t;
  for (int i = 0; i < npending; i++) {
    struct http_response res = {.status = 200, .content_type = "application/json"};
    sh_buf_puts(&res.body, "{\"later\":true}");
    http_server_reply(pending[i], &res);
    sh_buf_free(&res.body);
  }
  npending = 0;
}

static void handler(struct http_server *s, const struct http_request *r, struct http_response *res)
{
  if (r->path_len >= 6 && !memcmp(r->path, "/later", 6) && npending < 64) {
    struct http_later *h = http_server_later(s);
    if (h) {
      pending[npending++] = h;
      uv_timer_start(&replier, on_reply, 0, 0);
      return;
    }
  }
  sh_buf_printf(&res->body, "%s %zu %zu", r->method, r->target_len, r->body_len);
}

static void init(void)
{
  uv_loop_init(&loop);
  struct http_server_config c;
  http_server_config_defaults(&c);
  c.handler = handler;
  c.max_url = 2048;
  c.max_headers = 4096;
  c.max_body = 8192;
  if (http_server_init(&srv, &loop, &c) < 0)
    abort();
  uv_ip4_addr("127.0.0.1", 0, &addr);
  if (http_server_listen(&srv, (struct sockaddr *)&addr, 0) < 0)
    abort();
  addr.sin_port = htons((uint16_t)http_server_port(&srv, 0));
  uv_timer_init(&loop, &replier);
}

/* Reads what the server sent; 1 at EOF or a reset. */
static int drain(int fd, char *first, size_t *nfirst)
{
  char buf[65536];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
      return 1;
    if (n < 0)
      return 0;
    size_t k = *nfirst < 8 ? 8 - *nfirst : 0;
    memcpy(first + *nfirst, buf, (size_t)n < k ? (size_t)n : k);
    *nfirst += (size_t)n < k ? (size_t)n : k;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (!srv.loop)
    init();
  if (size == 0 || size > 32768)
    return 0; /* the listener wakes only once data is in (TCP_DEFER_ACCEPT) */
  /* Each input is a connection, and closed ones linger in TIME_WAIT: from
   * one source address a run of 20 s would use up the ephemeral ports
   * (connect fails with EADDRNOTAVAIL). So the client's address turns
   * over 127.0.0.0/16, which is loopback too. */
  static uint32_t nconn;
  struct sockaddr_in from = {.sin_family = AF_INET};
  from.sin_addr.s_addr = htonl(0x7f000000u | (1 + nconn++ % 65000u));
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&from, sizeof from) < 0 ||
      connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    perror("fuzz_http_server: connecting to the server");
    abort();
  }
  fcntl(fd, F_SETFL, O_NONBLOCK);
  if (send(fd, data, size, MSG_NOSIGNAL) != (ssize_t)size)
    abort(); /* loopback takes 32 KiB at once */
  char first[8];
  size_t nfirst = 0;
  int eof = 0;
  /* until the server closes, or 50 turns of the loop (it waits for more
   * of an unfinished request, or for the next of a kept-alive one) */
  for (int i = 0; i < 50 && !eof; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    eof = drain(fd, first, &nfirst);
    if (!eof && i > 5)
      usleep(100);
  }
  if (nfirst && memcmp(first, "HTTP/1.", nfirst < 7 ? nfirst : 7))
    abort(); /* whatever came back is an HTTP reply */
  close(fd);
  /* the server sees the close and lets the connection go; pending replies
   * are sent into nothing and freed */
  for (int i = 0; i < 2000 && (srv.nconns || npending); i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    if (srv.nconns || npending)
      usleep(100);
  }
  if (srv.nconns || npending)
    abort(); /* a connection or a deferred reply was left behind */
  return 0;
}
