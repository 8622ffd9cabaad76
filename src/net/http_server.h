/* A small HTTP/1.0 and HTTP/1.1 server: llhttp parses, libuv moves bytes.
 * General enough for the tracker today and a daemon's RPC/web UI later: the
 * caller gives one handler that turns a complete request into a response,
 * synchronously, on the loop thread.
 *
 * Keep-alive follows llhttp_should_keep_alive() (HTTP/1.1 unless
 * "Connection: close", HTTP/1.0 only with "Connection: keep-alive");
 * pipelined requests are answered in order.
 *
 * Limits (defaults in http_server_config_defaults; every one answers with a
 * status and closes, and the server keeps serving everyone else):
 *   max_url        16 KiB   request target; longer gets 414
 *   max_headers    16 KiB   all header names and values; more gets 431
 *   max_body       4 MiB    request body; more gets 413
 *   idle_timeout   15 s     a request must be complete within this long of
 *                           the connection opening or the previous reply
 *                           (so a request trickled a byte at a time cannot
 *                           hold a connection forever); then it is closed
 *   max_conns      4096     connections over this are accepted and closed
 *
 * Ownership: the caller embeds struct http_server, calls http_server_init(),
 * http_server_listen() for each address, and http_server_close() before
 * freeing it; the close callback says when it may. A request and everything
 * it points to are borrowed for the duration of the handler call. */
#ifndef SHOAL_HTTP_SERVER_H
#define SHOAL_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "base/buf.h"

#define HTTP_SERVER_MAX_HEADERS 64
#define HTTP_SERVER_MAX_LISTEN 16

struct http_header {
  const char *name, *value; /* NUL-terminated */
};

struct http_request {
  const char *method;  /* "GET", "POST", ... */
  const char *target;  /* as sent, NUL-terminated: "/path?query" */
  size_t target_len;
  const char *path, *query; /* slices of target; query NULL when absent */
  size_t path_len, query_len;
  struct http_header headers[HTTP_SERVER_MAX_HEADERS];
  int nheaders;
  const uint8_t *body;
  size_t body_len;
  int http_major, http_minor;
  struct sockaddr_storage peer; /* the client's address */
};

/* The handler fills this; the server sends it. body is pre-initialised and
 * owned by the server. */
struct http_response {
  int status;
  const char *content_type; /* static string; NULL means text/plain */
  struct sh_buf body;
  char headers[512];        /* extra header lines, each ending in \r\n */
  int close;                /* close the connection after this reply */
};

struct http_server;
typedef void (*http_handler_fn)(struct http_server *s, const struct http_request *req,
                                struct http_response *res);
/* Optional: builds the body of an error the server itself answers (414, 431,
 * 413, 400), e.g. a tracker's bencoded failure reason. */
typedef void (*http_error_fn)(struct http_server *s, int status, const char *why,
                              struct http_response *res);

struct http_server_config {
  size_t max_url, max_headers, max_body;
  unsigned idle_timeout_ms;
  unsigned max_conns;
  http_handler_fn handler;
  http_error_fn on_error;
};

struct http_server {
  void *data; /* the caller's */
  uv_loop_t *loop;
  struct http_server_config cfg;
  /* Listeners are polled and accepted by hand, not with uv_listen: see
   * the fast path in http_server.c. */
  uv_poll_t listen[HTTP_SERVER_MAX_LISTEN];
  int listen_fd[HTTP_SERVER_MAX_LISTEN];
  int nlisten;
  struct http_conn *spare; /* one reusable connection for the fast path */
  int paused;              /* listeners stopped: out of descriptors */
  struct sh_buf obuf, resbody; /* reused for every reply */
  unsigned nconns;
  struct http_conn *conns; /* doubly linked, for shutdown */
  int closing;
  int pending_closes;
  void (*close_cb)(struct http_server *s);
  uint64_t requests, errors, rejected_conns;
  uint64_t fast_conns; /* connections served whole on the fast path */
  char rbuf[65536]; /* one read buffer per loop: reads are handled at once */
};

void http_server_config_defaults(struct http_server_config *c);
int http_server_init(struct http_server *s, uv_loop_t *loop, const struct http_server_config *c);
/* Binds and listens; reuseport sets SO_REUSEPORT so several loops (threads)
 * can share the port. IPv6 sockets are IPv6-only. Returns 0 or -errno. */
int http_server_listen(struct http_server *s, const struct sockaddr *addr, int reuseport);
/* The port actually bound by listener i (useful after binding port 0). */
int http_server_port(struct http_server *s, int i);
/* Closes listeners and connections; cb (may be NULL) runs when all are closed. */
void http_server_close(struct http_server *s, void (*cb)(struct http_server *s));

/* Case-insensitive header lookup; NULL when absent. */
const char *http_request_header(const struct http_request *r, const char *name);
const char *http_status_text(int status);

/* Creates a socket bound to addr with SO_REUSEADDR (and SO_REUSEPORT when
 * asked; IPV6_V6ONLY for IPv6). Returns the fd or -errno. Shared with the
 * UDP front ends. */
int http_server_bind_socket(const struct sockaddr *addr, int type, int reuseport);

#endif
