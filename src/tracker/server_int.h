/* Inside the tracker server (include/shoal.h, "The tracker server"): the
 * object behind shoal_tracker and its workers, shared by server.c (start,
 * workers, sockets, timers, stop) and serve.c (what each request gets).
 * Private to those two files.
 *
 * Ownership: shoal_tracker_new() allocates struct shoal_tracker with room for
 * every configured worker; a worker's handles live in its slot and belong to
 * the loop it was attached to. Nothing is freed before every worker has
 * closed all its handles (see server.c's "stopping"). */
#ifndef SHOAL_TRACKER_SERVER_INT_H
#define SHOAL_TRACKER_SERVER_INT_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "net/http_server.h"
#include "shoal.h"
#include "tracker/hosting.h"
#include "tracker/tracker.h"

/* libuv reads up to this many datagrams per recvmmsg() call; each gets a
 * 64 KiB slot (libuv's chunk size), so 16 slots is 1 MiB per worker. */
#define UDP_BATCH 16
#define RATE_WINDOW 10 /* seconds over which /stats averages request rates */

struct worker {
  struct shoal_tracker *srv;
  int idx;
  uv_loop_t *loop;  /* the app's */
  uv_async_t stop;  /* shoal_tracker_close() wakes the worker's loop */
  struct http_server http;
  int http_on;
  uv_udp_t udp[SHOAL_TRACKER_MAX_BINDS];
  int nudp;
  int stopped;      /* its handles are closing (under srv->lock) */
  int pending;      /* handles still to report closed */
  uint64_t rng;
  uint8_t *udp_buf;
};

struct shoal_tracker {
  /* the configuration, with copies of its strings (freed at the end) */
  struct shoal_tracker_config cfg;
  const char *binds[SHOAL_TRACKER_MAX_BINDS];
  char blocklist[4096]; /* the file read at start and on reload */
  struct http_server_config hc;
  struct http_body_budget bodies; /* upload bodies held, all workers */

  struct tracker trk;
  struct hosting *host;
  uv_loop_t *loop;      /* worker 0's: timers, and where the end runs */
  struct worker *w;     /* cfg.workers slots */

  /* Attaching and stopping workers happen on different threads. */
  pthread_mutex_t lock;
  int nw;               /* slots taken */
  int ready;            /* workers serving */
  int open;             /* workers with handles not yet closed */
  int closing;          /* shoal_tracker_close() was called (or new() failed) */

  uv_async_t all_closed; /* sent by the last worker to finish closing */
  uv_timer_t expire_timer, rate_timer;
  int main_pending;     /* of all_closed and the timers, still closing */
  int started;          /* shoal_tracker_new() succeeded */
  void (*done)(void *ud);
  void *done_ud;

  pthread_mutex_t rate_lock;
  double rates[TRK_STAT_COUNT];
  uint64_t snap[RATE_WINDOW + 1][TRK_STAT_COUNT];
  unsigned nsnap;
  uint64_t start;
  int http_port, udp_port; /* as bound by worker 0; 0 when off */
};

/* Seconds on the monotonic clock: the tracker core's "now". Inline: it is
 * read once per request. */
static inline uint32_t server_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint32_t)ts.tv_sec;
}

/* serve.c: the handlers every worker's sockets call. */
void serve_http(struct http_server *hs, const struct http_request *req, struct http_response *res);
void serve_http_head(struct http_server *hs, const struct http_request *req,
                     struct http_response *res);
void serve_http_error(struct http_server *hs, const struct http_request *req, int status,
                      const char *why, struct http_response *res);
void serve_udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
void serve_udp(uv_udp_t *u, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
               unsigned flags);

#endif
