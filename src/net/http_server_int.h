/* Inside the HTTP server: one connection, shared by http_server.c (sockets,
 * the fast path, sending, closing) and http_request.c (llhttp's callbacks:
 * requests, limits, the early answer, request bodies). Private to those
 * two files.
 *
 * Ownership: a connection belongs to its server (conn_get, conn_close); its
 * buffers are its own. The request built at the end of the headers points
 * into url and hdr, which nothing grows after that point (trailers of a
 * chunked body are not kept). */
#ifndef SHOAL_HTTP_SERVER_INT_H
#define SHOAL_HTTP_SERVER_INT_H

#include <llhttp.h>

#include "net/http_server.h"

struct http_conn {
  uv_tcp_t tcp; /* first: the handle's address is the connection's */
  uv_timer_t timer;
  struct http_server *srv;
  struct http_conn *prev, *next;
  llhttp_t parser;
  struct sh_buf url, hdr, body;
  uint32_t hoff[HTTP_SERVER_MAX_HEADERS * 2]; /* name/value offsets into hdr */
  int nhdr;
  int in_field;     /* inside a header name */
  int head_done;    /* this message's headers are complete (req is built) */
  size_t body_held; /* bytes of the body budget this connection holds */
  struct http_request req; /* built at the end of the headers */
  int closing;      /* no more requests: close after pending writes */
  int linger;       /* answered before its body: the rest is read and dropped */
  int writes;       /* uv_write requests in flight */
  int handles_open; /* tcp + timer, for the close callback */
  int error_status; /* a limit was hit: answer with this status */
  const char *error_why;
  int fd;           /* the accepted socket */
  int fast;         /* not (yet) a libuv handle: served by hand */
  int drained;      /* fast path: the first read emptied the socket */
  struct sockaddr_storage peer; /* from accept4, so no getpeername */
  struct http_later *later; /* a deferred reply is pending (then closing) */
};

/* A deferred reply's handle: points at its connection until the reply is
 * sent or the connection goes (then NULL); freed by http_server_reply. */
struct http_later {
  struct http_conn *c;
  int head_only; /* the request was a HEAD */
};

/* Buffers above this are freed after a reply instead of kept for the next
 * one (a .torrent download may be megabytes; an announce is < 1 KiB). */
#define HTTP_KEEP_BUF_MAX (64 * 1024)

/* http_server.c */
void http_conn_send_response(struct http_conn *c, struct http_response *res, int keep_alive,
                             int head_only);
void http_conn_answer_error(struct http_conn *c, int status, const char *why);
/* Restarts the idle timeout (after a reply on a kept-alive connection). */
void http_conn_arm_timer(struct http_conn *c);

/* http_request.c */
const llhttp_settings_t *http_parser_settings(void);
/* Frees the request body and gives its memory back to the budget. */
void http_conn_body_free(struct http_conn *c);

#endif
