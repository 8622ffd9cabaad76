/* A small HTTP/1.0 and HTTP/1.1 server: llhttp parses, libuv moves bytes.
 * General enough for the tracker and the daemon's RPC/web UI: the caller
 * gives one handler that turns a complete request into a response on the
 * loop thread, synchronously, or defers it (see "Deferred replies").
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
 *   reply_timeout  120 s    a deferred reply not sent by then is answered
 *                           503 by the server (twice the daemon's 60 s
 *                           fetch, so its own error normally comes first)
 *   budget         none     bytes of request bodies held at once, shared by
 *                           every server given the same budget (a tracker's
 *                           workers); a body that would pass it gets 503
 *
 * Bodies. A request is decided from its request line and headers before
 * any of its body is read: on_head (optional) sees the request without a
 * body and may answer at once (401, 403, 404, 405, 413, ...); the body is
 * then never stored, the connection answers with "Connection: close",
 * half-closes, and reads and drops what the client still sends for up to
 * 2 s (a client that is still sending would otherwise get a reset instead
 * of the answer). A body that is read is held in memory, counted against
 * max_body and the budget, and freed as soon as its handler returns; a
 * request without a body allocates nothing for one.
 *
 * Deferred replies. A handler that cannot answer yet (the daemon's
 * torrent-add of a URL waits for the fetch) calls http_server_later() and
 * returns; whatever it put in res is dropped. Later, from the loop thread,
 * http_server_reply() sends the answer. Meanwhile:
 *   - the connection serves nothing after that request: the reply goes out
 *     with "Connection: close", and requests pipelined behind it are read
 *     and dropped, never answered (a client retries them on a new
 *     connection, as it must after any close);
 *   - the connection is read only to see the client go: a client that
 *     closes (or half-closes) its side is taken as gone, the connection is
 *     closed at once, and the reply, when it comes, is dropped;
 *   - the idle timeout does not apply; reply_timeout (below) does;
 *   - a fast-path connection is handed to libuv first, so it can wait.
 * http_server_close() answers every pending reply 503 on the spot (best
 * effort, as the connection closes right after) and detaches its handle.
 * In every case the handle stays valid until http_server_reply() is
 * called for it, exactly once, which frees it.
 *
 * Ownership: the caller embeds struct http_server, calls http_server_init(),
 * http_server_listen() for each address, and http_server_close() before
 * freeing it; the close callback says when it may. A request and everything
 * it points to are borrowed for the duration of the handler call (also by
 * one that defers: copy what the reply needs). A deferred reply's handle
 * is the caller's, and may outlive the connection and the server. */
#ifndef SHOAL_HTTP_SERVER_H
#define SHOAL_HTTP_SERVER_H

#include <stdatomic.h>
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
  const uint8_t *body;     /* "" (never NULL) when there is none; NULL in on_head */
  size_t body_len;
  int64_t content_length;  /* from the header; -1 when absent (or chunked) */
  int chunked;             /* Transfer-Encoding: chunked */
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
 * 413, 503, 400), e.g. a tracker's bencoded failure reason. req is the
 * request without its body once its headers were read, NULL before. */
typedef void (*http_error_fn)(struct http_server *s, const struct http_request *req, int status,
                              const char *why, struct http_response *res);
/* Optional: called once the headers are in, before any body is read (req
 * has no body: body NULL). Leaving res->status 0 lets the request go on
 * (its body is read, then the handler runs); setting it answers with res
 * now, and the body is never stored. res->body is the server's, as for
 * the handler. */
typedef void (*http_head_fn)(struct http_server *s, const struct http_request *req,
                             struct http_response *res);

/* Memory for request bodies, shared by the servers given it (each worker
 * of a tracker has its own server): bytes held now, the cap, and how many
 * requests were refused (503) for want of room. Owned by the caller; it
 * must outlive the servers. Any thread. */
struct http_body_budget {
  _Atomic size_t used;
  size_t cap;
  _Atomic uint64_t refused;
};

struct http_server_config {
  size_t max_url, max_headers, max_body;
  unsigned idle_timeout_ms;
  unsigned max_conns;
  unsigned reply_timeout_ms;
  http_handler_fn handler;
  http_error_fn on_error;
  http_head_fn on_head;
  struct http_body_budget *budget; /* NULL: bodies limited by max_body only */
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
  struct http_conn *serving; /* whose handler runs now, for http_server_later */
  int closing;
  int pending_closes;
  void (*close_cb)(struct http_server *s);
  uint64_t requests, errors, rejected_conns;
  uint64_t early_answers; /* answered from the headers, body never stored */
  uint64_t fast_conns; /* connections served whole on the fast path */
  uint64_t later_replies, later_dropped; /* deferred; of those, never delivered */
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

/* A reply to come (see "Deferred replies" above). Opaque; the caller's
 * from http_server_later() until http_server_reply() frees it. */
struct http_later;
/* Only from inside the handler, for the request it was called with: the
 * reply will be sent by http_server_reply() instead of from res. NULL
 * outside a handler, when asked twice for one request, or out of memory:
 * then the handler answers through res as usual. */
struct http_later *http_server_later(struct http_server *s);
/* Sends res as the deferred reply, with "Connection: close", or drops it
 * when the client or the server is gone; frees h either way. Loop thread,
 * not from inside the handler call that took h. res is borrowed for the
 * call (its body stays the caller's); res->close is implied. */
void http_server_reply(struct http_later *h, struct http_response *res);

/* Case-insensitive header lookup; NULL when absent. */
const char *http_request_header(const struct http_request *r, const char *name);
const char *http_status_text(int status);

/* Creates a socket bound to addr with SO_REUSEADDR (and SO_REUSEPORT when
 * asked; IPV6_V6ONLY for IPv6). Returns the fd or -errno. Shared with the
 * UDP front ends. */
int http_server_bind_socket(const struct sockaddr *addr, int type, int reuseport);

#endif
