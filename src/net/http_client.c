/* libcurl's multi-socket API on a libuv loop, as curl's documentation
 * describes it: curl tells us which sockets to watch (socket callback) and
 * when to wake it (timer callback); we tell curl what happened with
 * curl_multi_socket_action() and then collect finished transfers with
 * curl_multi_info_read(). */
#include "net/http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"

#ifndef SHOAL_VERSION
#define SHOAL_VERSION "0"
#endif

struct poll_ctx {
  uv_poll_t h;
  curl_socket_t fd;
  struct sh_http_client *c;
  struct poll_ctx *next;   /* in c->polls, so close can reach every handle */
};

struct sh_http_request {
  struct sh_http_client *c;
  CURL *easy;
  char *url;
  struct sh_buf body;
  size_t max_body;
  int too_big;
  sh_http_done_cb cb;
  void *ud;
  char errbuf[CURL_ERROR_SIZE];
  int in_cb;               /* its callback is running: cancel is a no-op */
  struct sh_http_request *prev, *next;
};

struct sh_http_client {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;
  struct poll_ctx *polls;
  struct sh_http_request *reqs;
  size_t npending;
  int handles_open;        /* timer + polls not yet closed */
  int dispatching;         /* inside check_done: defer teardown */
  int closing;
  void (*done)(void *ud);
  void *done_ud;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;
static void curl_init_once(void) { curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }

static void unlink_req(struct sh_http_request *r)
{
  struct sh_http_client *c = r->c;
  if (r->prev)
    r->prev->next = r->next;
  else
    c->reqs = r->next;
  if (r->next)
    r->next->prev = r->prev;
  c->npending--;
}

/* linked: still in c->reqs (every request except one whose callback runs) */
static void free_req(struct sh_http_request *r, int linked)
{
  if (r->c->multi)
    curl_multi_remove_handle(r->c->multi, r->easy);
  curl_easy_cleanup(r->easy);
  if (linked)
    unlink_req(r);
  sh_buf_free(&r->body);
  free(r->url);
  free(r);
}

static void maybe_finish(struct sh_http_client *c)
{
  if (c->closing && c->handles_open == 0) {
    void (*done)(void *) = c->done;
    void *ud = c->done_ud;
    free(c);
    if (done)
      done(ud);
  }
}

static void on_handle_closed(uv_handle_t *h)
{
  struct sh_http_client *c = h->data;
  if (h != (uv_handle_t *)&c->timer)
    free(h); /* a poll_ctx: h is its first member */
  c->handles_open--;
  maybe_finish(c);
}

static void close_poll(struct sh_http_client *c, struct poll_ctx *p)
{
  for (struct poll_ctx **pp = &c->polls; *pp; pp = &(*pp)->next) {
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  }
  uv_poll_stop(&p->h);
  p->h.data = c;
  uv_close((uv_handle_t *)&p->h, on_handle_closed);
}

static void teardown(struct sh_http_client *c);
static void arm(struct sh_http_client *c, long timeout_ms);

static void check_done(struct sh_http_client *c)
{
  CURLMsg *m;
  int left;
  c->dispatching++;
  while (!c->closing && (m = curl_multi_info_read(c->multi, &left))) {
    if (m->msg != CURLMSG_DONE)
      continue;
    struct sh_http_request *r = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    CURLcode res = m->data.result;
    struct sh_http_response resp = {0, NULL, 0, r->url};
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &resp.status);
    int err = 0;
    const char *msg = NULL;
    if (r->too_big) {
      err = SH_ELIMIT;
      msg = "response body too large";
    } else if (res == CURLE_OPERATION_TIMEDOUT) {
      err = SH_ETIMEOUT;
      msg = r->errbuf[0] ? r->errbuf : curl_easy_strerror(res);
    } else if (res == CURLE_URL_MALFORMAT || res == CURLE_UNSUPPORTED_PROTOCOL) {
      err = SH_EURL;
      msg = r->errbuf[0] ? r->errbuf : curl_easy_strerror(res);
    } else if (res != CURLE_OK) {
      err = SH_EHTTP;
      msg = r->errbuf[0] ? r->errbuf : curl_easy_strerror(res);
    } else if (r->body.oom) {
      err = -ENOMEM;
      msg = "out of memory";
    } else {
      sh_buf_putc(&r->body, 0); /* promised NUL terminator, not counted */
      resp.body = r->body.data;
      resp.len = r->body.len - 1;
    }
    /* unlinked first, so that a close from the callback does not free it
     * under our feet; a cancel of itself from the callback is ignored */
    unlink_req(r);
    r->in_cb = 1;
    r->cb(r->ud, err, msg, &resp);
    free_req(r, 0);
  }
  if (--c->dispatching == 0 && c->closing && c->multi)
    teardown(c);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
  struct poll_ctx *p = (struct poll_ctx *)h;
  struct sh_http_client *c = p->c;
  int flags = 0;
  if (status < 0)
    flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE)
    flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE)
    flags |= CURL_CSELECT_OUT;
  int running;
  curl_multi_socket_action(c->multi, p->fd, flags, &running);
  check_done(c);
}

static void on_timer(uv_timer_t *t)
{
  struct sh_http_client *c = t->data;
  int running;
  curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  /* if we still woke curl early it changed nothing and will not call
   * timer_cb again: ask it for its deadline and re-arm ourselves */
  long next = -1;
  if (!c->closing && !uv_is_active((uv_handle_t *)&c->timer) &&
      curl_multi_timeout(c->multi, &next) == CURLM_OK && next >= 0)
    arm(c, next);
  check_done(c);
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
  struct sh_http_client *c = userp;
  struct poll_ctx *p = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (p) {
      close_poll(c, p);
      curl_multi_assign(c->multi, s, NULL);
    }
    return 0;
  }
  if (!p) {
    p = calloc(1, sizeof *p);
    if (!p)
      return -1;
    if (uv_poll_init_socket(c->loop, &p->h, s) < 0) {
      free(p);
      return -1;
    }
    p->fd = s;
    p->c = c;
    p->next = c->polls;
    c->polls = p;
    c->handles_open++;
    curl_multi_assign(c->multi, s, p);
  }
  int ev = 0;
  if (what & CURL_POLL_IN)
    ev |= UV_READABLE;
  if (what & CURL_POLL_OUT)
    ev |= UV_WRITABLE;
  uv_poll_start(&p->h, ev, on_poll);
  return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
  arm(userp, timeout_ms);
  return 0;
}

static void arm(struct sh_http_client *c, long timeout_ms)
{
  if (timeout_ms < 0) {
    uv_timer_stop(&c->timer);
    return;
  }
  /* the loop's cached clock may be stale (set before the caller spent time
   * outside the loop): a timer computed from it fires too early */
  uv_update_time(c->loop); /* 0 means "now", but curl checks its deadline in microseconds: a
        * 0 ms libuv timer can fire before it and curl then does nothing and
        * never asks again, so wait at least 1 ms (as curl's own libuv
        * example does) */
    uv_timer_start(&c->timer, on_timer, timeout_ms ? (uint64_t)timeout_ms : 1, 0);
}

struct sh_http_client *sh_http_client_new(uv_loop_t *loop)
{
  pthread_once(&curl_once, curl_init_once);
  if (!curl_ok)
    return NULL;
  struct sh_http_client *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->loop = loop;
  if (!(c->multi = curl_multi_init())) {
    free(c);
    return NULL;
  }
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  c->handles_open = 1;
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  /* a session of many torrents announces to the same few trackers: queue
   * beyond 16 connections per host (reused with keep-alive) instead of
   * opening one socket per torrent: 1,000 announcers started at once
   * against shoal tracker on loopback got their replies in 52 ms (180 ms
   * with a socket each) */
  curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
  curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 256L);
  return c;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
  struct sh_http_request *r = ud;
  size_t n = size * nmemb;
  if (r->body.len + n > r->max_body) {
    r->too_big = 1;
    return 0; /* makes curl abort the transfer with CURLE_WRITE_ERROR */
  }
  sh_buf_append(&r->body, ptr, n);
  return r->body.oom ? 0 : n;
}

struct sh_http_request *sh_http_get(struct sh_http_client *c, const char *url,
                                    const struct sh_http_opts *o, sh_http_done_cb cb, void *ud)
{
  if (c->closing || !url || !cb)
    return NULL;
  struct sh_http_opts d = {0, 0, 0, 0, NULL};
  if (!o)
    o = &d;
  struct sh_http_request *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  r->c = c;
  r->cb = cb;
  r->ud = ud;
  r->max_body = o->max_body ? o->max_body : 4u << 20;
  if (!(r->url = strdup(url)) || !(r->easy = curl_easy_init())) {
    free(r->url);
    free(r);
    return NULL;
  }
  CURL *e = r->easy;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "shoal/" SHOAL_VERSION);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* every encoding curl can undo */
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 30000L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 15000L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM in a library */
  /* only http(s), also across redirects: a tracker must not bounce us to
   * file:// or other schemes */
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  if (o->max_redirects >= 0) {
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, o->max_redirects ? o->max_redirects : 5L);
  }
  if (o->range)
    curl_easy_setopt(e, CURLOPT_RANGE, o->range);
  r->next = c->reqs;
  if (c->reqs)
    c->reqs->prev = r;
  c->reqs = r;
  c->npending++;
  if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
    free_req(r, 1);
    return NULL;
  }
  return r;
}

void sh_http_cancel(struct sh_http_request *r)
{
  if (r && !r->in_cb)
    free_req(r, 1);
}

size_t sh_http_client_pending(const struct sh_http_client *c) { return c->npending; }

static void teardown(struct sh_http_client *c)
{
  /* like libuv's requests on close: each pending one completes with
   * -ECANCELED, so no owner is left holding a pointer to a freed request */
  while (c->reqs) {
    struct sh_http_request *r = c->reqs;
    unlink_req(r);
    r->in_cb = 1;
    struct sh_http_response resp = {0, NULL, 0, r->url};
    r->cb(r->ud, -ECANCELED, "the HTTP client was closed", &resp);
    free_req(r, 0);
  }
  /* cleanup closes curl's cached connections, which calls sock_cb with
   * CURL_POLL_REMOVE for each; any poll it leaves behind we close here */
  curl_multi_cleanup(c->multi);
  c->multi = NULL;
  while (c->polls)
    close_poll(c, c->polls);
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

void sh_http_client_close(struct sh_http_client *c, void (*done)(void *ud), void *ud)
{
  if (c->closing)
    return;
  c->closing = 1;
  c->done = done;
  c->done_ud = ud;
  if (!c->dispatching) /* else check_done tears down once the callback returns */
    teardown(c);
}
