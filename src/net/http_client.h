/* A small asynchronous HTTP(S) GET client: libcurl's multi-socket API driven
 * by a libuv loop (one uv_poll_t per socket curl asks us to watch, one
 * uv_timer_t for curl's timeouts). Used for tracker announces and scrapes,
 * later for web seeds (BEP 19, hence the optional Range).
 *
 * Ownership: the caller creates one client per session on its loop and closes
 * it with sh_http_client_close(); requests belong to the client. A request's
 * callback is called exactly once, on the loop thread, unless the request is
 * cancelled first (then never) or sh_http_get() failed (then never); closing
 * the client completes the pending ones with -ECANCELED. The
 * response body and strings passed to the callback are borrowed for the call. */
#ifndef SHOAL_NET_HTTP_CLIENT_H
#define SHOAL_NET_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct sh_http_client;
struct sh_http_request;

struct sh_http_opts {
  long timeout_ms;       /* whole transfer; 0 = 30 s */
  long connect_timeout_ms; /* 0 = 15 s */
  size_t max_body;       /* larger bodies fail with SH_ELIMIT; 0 = 4 MiB */
  long max_redirects;    /* 0 = 5; -1 = do not follow redirects */
  const char *range;     /* e.g. "0-16383", or NULL */
};

struct sh_http_response {
  long status;           /* HTTP status of the last response (after redirects) */
  const uint8_t *body;   /* decoded (gzip/deflate undone) body, NUL-terminated */
  size_t len;
  const char *url;       /* the URL as asked */
};

/* err is 0 when a response arrived (whatever its status), else SH_ETIMEOUT,
 * SH_ELIMIT (body too large), SH_EURL, SH_EHTTP or -ECANCELED (client
 * closed); msg then says what curl reported (connection refused, DNS
 * failure, ...). r is never NULL; on
 * failure r->body is NULL and r->status may be 0. */
typedef void (*sh_http_done_cb)(void *ud, int err, const char *msg,
                                const struct sh_http_response *r);

/* NULL when out of memory or curl could not be initialised. */
struct sh_http_client *sh_http_client_new(uv_loop_t *loop);
/* Completes every pending request with -ECANCELED (from inside this call,
 * or right after the running callback when called from one), closes all
 * handles, frees the client, then calls done(ud) from the loop. done may be
 * NULL. sh_http_get() fails from then on; a second close is ignored. */
void sh_http_client_close(struct sh_http_client *c, void (*done)(void *ud), void *ud);

/* Starts a GET of url. Returns the request (owned by the client, valid until
 * its callback returns or it is cancelled), or NULL when the request could
 * not be started (bad URL, out of memory): then cb is never called. o may be
 * NULL for the defaults. The User-Agent is "shoal/VERSION". */
struct sh_http_request *sh_http_get(struct sh_http_client *c, const char *url,
                                    const struct sh_http_opts *o, sh_http_done_cb cb, void *ud);
/* Aborts a pending request; its callback will not be called. */
void sh_http_cancel(struct sh_http_request *r);

/* Number of requests in flight (for tests and status). */
size_t sh_http_client_pending(const struct sh_http_client *c);

#endif
