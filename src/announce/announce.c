/* The per-torrent announcer: chooses the tracker (ann_tier.c), builds the
 * request, sends it over HTTP (net/http_client.c, ann_http.c) or UDP
 * (ann_udpc.c: the session's client for that tracker, shared with every
 * other torrent on it), and turns replies into callbacks and the next
 * timer. */
#include "announce/announce.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "announce/ann_http.h"
#include "announce/ann_msg.h"
#include "announce/ann_tier.h"
#include "announce/ann_udpc.h"
#include "base/buf.h"
#include "base/error.h"
#include "net/http_client.h"

struct tracker {
  struct sh_announcer *a;
  const char *url;          /* owned by a->tiers (the pointer survives reorders) */
  int udp;
  struct ann_udpc *udpc;    /* the session's client, taken on first use */
  const char *udp_path;     /* BEP 41 URLData: points into url */
  char *trackerid;          /* from its last reply, echoed back (BEP 3) */
  int started;              /* it acknowledged event=started */
  /* the one announce (or, when stopping, stopped) in flight to it */
  struct sh_http_request *http;
  struct ann_udpx *udpx;
  enum ann_event event;
  /* a scrape in flight */
  struct sh_http_request *scr_http;
  struct ann_udpx *scr_udpx;
};

struct sh_announcer {
  uv_loop_t *loop;
  struct sh_http_client *http;
  struct ann_udpc_reg *udpreg;
  struct sh_announce_callbacks cb;
  struct sh_announce_timing tm;
  uint8_t info_hash[20], peer_id[20];
  uint16_t port;
  uint32_t key;
  struct ann_tiers tiers;
  struct tracker *trk;      /* one per URL in tiers, in the original order */
  size_t ntrk;
  uv_timer_t timer;         /* next announce, or the stop deadline */
  int running;              /* start() was called */
  int completed_pending, completed_sent;
  struct tracker *busy;     /* the tracker with an announce in flight */
  uint32_t interval, min_interval; /* seconds, from the last good reply */
  uint64_t last_announce;   /* uv_now() of the last request sent */
  uint32_t fail_rounds;
  int stopping;
  int stops_pending;        /* stopped events in flight */
  int refs;                 /* handles still closing */
  void (*done)(void *ud);
  void *done_ud;
};

void sh_announce_timing_default(struct sh_announce_timing *t)
{
  t->udp_timeout_ms = 15000; /* BEP 15: 15 * 2^n seconds */
  t->udp_max_tries = 9;      /* n = 0..8 */
  t->udp_walk_tries = 3;     /* 15 + 30 + 60 s before the walk moves on */
  t->http_timeout_ms = 30000;
  t->retry_base_ms = 15000;
  t->stop_timeout_ms = 5000; /* so that Ctrl-C is not held up by a dead tracker */
  t->min_interval_s = 30;
  t->max_interval_s = 7200;
  t->numwant = 80;
  const char *e = getenv("SHOAL_UDP_TIMEOUT_MS");
  if (e && atoi(e) > 0)
    t->udp_timeout_ms = (uint32_t)atoi(e);
}

static uint32_t rand_cb(void *ctx) { return ann_random_u32(); }

static struct tracker *find(struct sh_announcer *a, const char *url)
{
  for (size_t i = 0; i < a->ntrk; i++)
    if (a->trk[i].url == url)
      return &a->trk[i];
  return NULL;
}

static size_t tier_index(struct sh_announcer *a, const struct tracker *t)
{
  for (size_t i = 0; i < a->tiers.n; i++)
    if (a->tiers.url[i] == t->url)
      return i;
  return 0;
}

static void report(struct sh_announcer *a, const char *url, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report(struct sh_announcer *a, const char *url, int err, const char *fmt, ...)
{
  if (a->stopping || !a->cb.status)
    return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  a->cb.status(a->cb.ud, url, err, msg);
}

struct sh_announcer *sh_announcer_new(uv_loop_t *loop, const struct sh_announce_ctx *ctx,
                                      const struct sh_tier *tiers, size_t ntiers,
                                      const uint8_t info_hash[20], const uint8_t peer_id[20],
                                      uint16_t listen_port, const struct sh_announce_callbacks *cb,
                                      const struct sh_announce_timing *timing)
{
  struct sh_announcer *a = calloc(1, sizeof *a);
  if (!a)
    return NULL;
  size_t skipped;
  if (ann_tiers_init(&a->tiers, tiers, ntiers, rand_cb, NULL, &skipped) < 0) {
    free(a);
    return NULL;
  }
  if (a->tiers.n && !(a->trk = calloc(a->tiers.n, sizeof *a->trk))) {
    ann_tiers_free(&a->tiers);
    free(a);
    return NULL;
  }
  a->ntrk = a->tiers.n;
  for (size_t i = 0; i < a->ntrk; i++) {
    a->trk[i].a = a;
    a->trk[i].url = a->tiers.url[i];
    a->trk[i].udp = strncasecmp(a->trk[i].url, "udp://", 6) == 0;
  }
  a->loop = loop;
  a->http = ctx->http;
  a->udpreg = ctx->udp;
  a->cb = *cb;
  if (timing)
    a->tm = *timing;
  else
    sh_announce_timing_default(&a->tm);
  memcpy(a->info_hash, info_hash, 20);
  memcpy(a->peer_id, peer_id, 20);
  a->port = listen_port;
  a->key = ann_random_u32();
  a->interval = ann_interval_clamp(0, a->tm.min_interval_s, a->tm.max_interval_s);
  uv_timer_init(loop, &a->timer);
  a->timer.data = a;
  return a;
}

static void announce_now(struct sh_announcer *a);
static void on_timer(uv_timer_t *t) { announce_now(t->data); }

static void schedule(struct sh_announcer *a, uint64_t ms)
{
  uv_timer_start(&a->timer, on_timer, ms, 0);
}

static enum ann_event event_for(struct sh_announcer *a, const struct tracker *t)
{
  if (!t->started)
    return ANN_EV_STARTED;
  return a->completed_pending ? ANN_EV_COMPLETED : ANN_EV_NONE;
}

static void fill_req(struct sh_announcer *a, const struct tracker *t, enum ann_event ev,
                     struct ann_req *q)
{
  memset(q, 0, sizeof *q);
  memcpy(q->info_hash, a->info_hash, 20);
  memcpy(q->peer_id, a->peer_id, 20);
  a->cb.stats(a->cb.ud, &q->uploaded, &q->downloaded, &q->left);
  q->event = ev;
  q->key = a->key;
  q->numwant = ev == ANN_EV_STOPPED ? 0 : a->tm.numwant;
  q->port = a->port;
  q->trackerid = t->trackerid;
}

static void on_result(struct tracker *t, int err, const char *msg, struct ann_reply *r);

static void on_http(void *ud, int err, const char *msg, const struct sh_http_response *resp)
{
  struct tracker *t = ud;
  t->http = NULL;
  char why[300];
  if (err < 0) {
    on_result(t, err, msg, NULL);
    return;
  }
  struct ann_reply r;
  int rc = ann_http_parse(resp->body, resp->len, &r, why, sizeof why);
  if (rc < 0 && rc != SH_ETRACKER && resp->status != 200) {
    char m[400];
    snprintf(m, sizeof m, "HTTP status %ld (%s)", resp->status, why);
    on_result(t, SH_EHTTP, m, NULL);
  } else {
    on_result(t, rc, rc < 0 ? why : NULL, rc < 0 ? NULL : &r);
  }
  ann_reply_free(&r);
}

static void on_udp(void *ud, int err, const char *msg, struct ann_reply *r)
{
  struct tracker *t = ud;
  t->udpx = NULL;
  on_result(t, err, msg, r);
}

static int ensure_udpc(struct sh_announcer *a, struct tracker *t)
{
  if (t->udpc)
    return 0;
  if (!a->udpreg)
    return -EPROTONOSUPPORT; /* the caller shares no UDP tracker client */
  int err;
  t->udpc = ann_udpc_acquire(a->udpreg, t->url, &t->udp_path, &err);
  return t->udpc ? 0 : err;
}

/* A UDP announce still unanswered after some intervals: the tracker is
 * failing as far as anyone watching is concerned. */
static void on_udp_stall(void *ud, uint32_t tries, const char *msg)
{
  struct tracker *t = ud;
  struct sh_announcer *a = t->a;
  if (a->stopping || !a->cb.stalled)
    return;
  char m[512];
  snprintf(m, sizeof m, "%s: %s", t->url, msg);
  a->cb.stalled(a->cb.ud, t->url, tries, m);
}

/* The BEP 15 schedule for one transaction: the whole of it, or only the
 * first `tries` sends when that is shorter. */
static struct ann_udpc_sched udp_sched(const struct sh_announcer *a, uint32_t tries)
{
  struct ann_udpc_sched s = {a->tm.udp_timeout_ms, a->tm.udp_max_tries, NULL};
  if (tries && tries < s.max_tries)
    s.max_tries = tries;
  return s;
}

/* Sends one announce to t. Returns 0 or a negative code (bad URL, out of
 * memory): then nothing is in flight. */
static int send_to(struct sh_announcer *a, struct tracker *t, enum ann_event ev, uint32_t timeout)
{
  struct ann_req q;
  fill_req(a, t, ev, &q);
  t->event = ev;
  a->last_announce = uv_now(a->loop);
  if (t->udp) {
    int rc = ensure_udpc(a, t);
    if (rc < 0)
      return rc;
    /* the whole BEP 15 schedule is 2 h 7 min: only worth waiting for when
     * this is the only tracker; with others, the walk moves on and the
     * next round (after the back-off) comes back to this one */
    uint32_t tries = a->tiers.n > 1 ? a->tm.udp_walk_tries : 0;
    struct ann_udpc_sched sched = udp_sched(a, tries);
    if (ev != ANN_EV_STOPPED)
      sched.stalled = on_udp_stall;
    t->udpx = ann_udpc_announce(t->udpc, &q, t->udp_path, sched, on_udp, t);
    return t->udpx ? 0 : -ENOMEM;
  }
  struct sh_buf url = SH_BUF_INIT;
  ann_http_announce_url(&url, t->url, &q);
  if (url.oom) {
    sh_buf_free(&url);
    return -ENOMEM;
  }
  sh_buf_putc(&url, 0);
  struct sh_http_opts o = {(long)timeout, 0, 0, 0, NULL};
  t->http = sh_http_get(a->http, (const char *)url.data, &o, on_http, t);
  sh_buf_free(&url);
  return t->http ? 0 : SH_EURL;
}

static void announce_now(struct sh_announcer *a)
{
  if (a->stopping || a->busy || !a->running)
    return;
  int i = ann_tiers_current(&a->tiers);
  if (i < 0)
    return;
  struct tracker *t = find(a, a->tiers.url[i]);
  int rc = send_to(a, t, event_for(a, t), a->tm.http_timeout_ms);
  if (rc == 0) {
    a->busy = t;
    return;
  }
  /* could not even send: count it as this tracker's failure */
  a->busy = t;
  on_result(t, rc, sh_strerror(rc), NULL);
}

static void deliver(struct sh_announcer *a, struct tracker *t, struct ann_reply *r)
{
  if (r->warning)
    report(a, t->url, 0, "%s: tracker warning: %s", t->url, r->warning);
  if (r->partial)
    report(a, t->url, 0, "%s: peer list ends with a partial entry (ignored)", t->url);
  if (r->tracker_id) {
    free(t->trackerid);
    t->trackerid = r->tracker_id;
    r->tracker_id = NULL;
  }
  a->interval = ann_interval_clamp(r->interval, a->tm.min_interval_s, a->tm.max_interval_s);
  a->min_interval = r->min_interval;
  a->cb.peers(a->cb.ud, r->peers, r->npeers);
  if (a->cb.announced && !a->stopping) {
    struct sh_announce_info info = {t->url, a->interval, a->min_interval, r->complete,
                                    r->incomplete, r->npeers};
    a->cb.announced(a->cb.ud, &info);
  }
}

static void finish_stop(struct sh_announcer *a);

static void on_result(struct tracker *t, int err, const char *msg, struct ann_reply *r)
{
  struct sh_announcer *a = t->a;
  if (a->stopping) {
    /* a completed that went out before (or at) the stop: the tracker has
     * counted the download, now say goodbye on the same deadline */
    if (t->event == ANN_EV_COMPLETED && send_to(a, t, ANN_EV_STOPPED, a->tm.stop_timeout_ms) == 0)
      return;
    t->started = 0;
    if (--a->stops_pending == 0)
      finish_stop(a);
    return;
  }
  a->busy = NULL;
  if (err == -ECANCELED)
    return; /* the session closed the HTTP client: it is shutting down */
  if (err < 0) {
    report(a, t->url, err, "%s: %s%s", t->url, err == SH_ETRACKER ? "tracker says: " : "",
           msg ? msg : sh_strerror(err));
    if (a->stopping)
      return;
    if (ann_tiers_failure(&a->tiers, tier_index(a, t))) {
      schedule(a, 0); /* next tracker of the walk, right away */
    } else {
      a->fail_rounds++;
      schedule(a, ann_retry_delay_ms(a->fail_rounds, a->tm.retry_base_ms,
                                     (uint64_t)a->interval * 1000));
    }
    return;
  }
  ann_tiers_success(&a->tiers, tier_index(a, t));
  a->fail_rounds = 0;
  if (t->event == ANN_EV_STARTED)
    t->started = 1;
  if (t->event == ANN_EV_COMPLETED) {
    a->completed_pending = 0;
    a->completed_sent = 1;
  }
  deliver(a, t, r);
  if (a->stopping)
    return;
  /* a completion that happened meanwhile goes out now: events are not
   * bound by the interval */
  schedule(a, a->completed_pending ? 0 : (uint64_t)a->interval * 1000);
}

void sh_announcer_start(struct sh_announcer *a)
{
  if (a->running || a->stopping)
    return;
  a->running = 1;
  if (a->tiers.n == 0) {
    report(a, "", SH_EURL, "no usable tracker (only http://, https:// and udp:// are supported)");
    return;
  }
  schedule(a, 0);
}

uint64_t sh_announcer_next_ms(const struct sh_announcer *a)
{
  if (a->stopping || a->busy || !uv_is_active((const uv_handle_t *)&a->timer))
    return 0;
  return uv_timer_get_due_in(&a->timer);
}

void sh_announcer_completed(struct sh_announcer *a)
{
  if (a->stopping || a->completed_sent || a->completed_pending)
    return;
  a->completed_pending = 1;
  if (a->running && !a->busy && a->tiers.n)
    schedule(a, 0);
}

void sh_announcer_more_peers(struct sh_announcer *a)
{
  if (a->stopping || !a->running || a->busy || a->tiers.n == 0)
    return;
  uint64_t gap = (uint64_t)(a->min_interval ? a->min_interval : 30) * 1000;
  uint64_t now = uv_now(a->loop), next = a->last_announce + gap;
  uint64_t wait = next > now ? next - now : 0;
  if (!uv_is_active((uv_handle_t *)&a->timer) || uv_timer_get_due_in(&a->timer) > wait)
    schedule(a, wait);
}

/* ---- scrape ---- */

static void scraped(struct tracker *t, int err, const char *msg, const struct sh_scrape_info *s)
{
  struct sh_announcer *a = t->a;
  if (err < 0)
    report(a, t->url, err, "%s: scrape failed: %s", t->url, msg ? msg : sh_strerror(err));
  if (a->cb.scraped && !a->stopping)
    a->cb.scraped(a->cb.ud, t->url, err, err < 0 ? NULL : s);
}

static void on_scrape_http(void *ud, int err, const char *msg, const struct sh_http_response *r)
{
  struct tracker *t = ud;
  t->scr_http = NULL;
  if (err < 0) {
    scraped(t, err, msg, NULL);
    return;
  }
  char why[300];
  struct sh_scrape_info s = {-1, -1, -1};
  int rc = ann_http_parse_scrape(r->body, r->len, t->a->info_hash, &s, why, sizeof why);
  scraped(t, rc, why, &s);
}

static void on_scrape_udp(void *ud, int err, const char *msg, const struct sh_scrape_info *s)
{
  struct tracker *t = ud;
  t->scr_udpx = NULL;
  scraped(t, err, msg, s);
}

void sh_announcer_scrape(struct sh_announcer *a)
{
  int ci = ann_tiers_current(&a->tiers);
  if (a->stopping || ci < 0)
    return;
  struct tracker *t = find(a, a->tiers.url[ci]);
  if (t->scr_http || t->scr_udpx)
    return;
  if (t->udp) {
    int rc = ensure_udpc(a, t);
    if (rc == 0 && !(t->scr_udpx = ann_udpc_scrape(t->udpc, a->info_hash, udp_sched(a, 0),
                                                   on_scrape_udp, t)))
      rc = -ENOMEM;
    if (rc < 0)
      scraped(t, rc, sh_strerror(rc), NULL);
    return;
  }
  struct sh_buf url = SH_BUF_INIT;
  if (ann_http_scrape_url(&url, t->url, a->info_hash) < 0) {
    sh_buf_free(&url);
    scraped(t, SH_EURL, "the tracker does not support scrape (no /announce in its URL)", NULL);
    return;
  }
  sh_buf_putc(&url, 0);
  struct sh_http_opts o = {(long)a->tm.http_timeout_ms, 0, 0, 0, NULL};
  if (!url.oom)
    t->scr_http = sh_http_get(a->http, (const char *)url.data, &o, on_scrape_http, t);
  sh_buf_free(&url);
  if (!t->scr_http)
    scraped(t, SH_EURL, "cannot start the scrape request", NULL);
}

/* ---- stop ---- */

static void release(struct sh_announcer *a)
{
  if (--a->refs > 0)
    return;
  void (*done)(void *) = a->done;
  void *ud = a->done_ud;
  for (size_t i = 0; i < a->ntrk; i++)
    free(a->trk[i].trackerid);
  free(a->trk);
  ann_tiers_free(&a->tiers);
  free(a);
  if (done)
    done(ud);
}

static void on_timer_closed(uv_handle_t *h) { release(h->data); }

static void cancel_all(struct tracker *t)
{
  sh_http_cancel(t->http);
  sh_http_cancel(t->scr_http);
  if (t->udpx)
    ann_udpc_cancel(t->udpx);
  if (t->scr_udpx)
    ann_udpc_cancel(t->scr_udpx);
  t->http = t->scr_http = NULL;
  t->udpx = t->scr_udpx = NULL;
}

/* Everything is said (or the deadline passed): close and free. */
static void finish_stop(struct sh_announcer *a)
{
  a->refs = 1; /* the timer */
  for (size_t i = 0; i < a->ntrk; i++) {
    struct tracker *t = &a->trk[i];
    cancel_all(t);
    if (t->udpc) {
      ann_udpc_release(t->udpc); /* other torrents may go on using it */
      t->udpc = NULL;
    }
  }
  uv_timer_stop(&a->timer);
  uv_close((uv_handle_t *)&a->timer, on_timer_closed);
}

static void on_stop_deadline(uv_timer_t *h)
{
  struct sh_announcer *a = h->data;
  a->stops_pending = 0;
  finish_stop(a);
}

void sh_announcer_drop(struct sh_announcer *a, void (*done)(void *ud), void *ud)
{
  /* nobody saw us start: nobody is told we stop (a completed already on
   * its way is still let finish: it counts a download that happened) */
  for (size_t i = 0; i < a->ntrk; i++)
    a->trk[i].started = 0;
  a->completed_pending = 0;
  sh_announcer_stop(a, done, ud);
}

void sh_announcer_stop(struct sh_announcer *a, void (*done)(void *ud), void *ud)
{
  if (a->stopping)
    return;
  a->stopping = 1;
  a->done = done;
  a->done_ud = ud;
  uv_timer_stop(&a->timer);
  /* BEP 3: stopped goes to every tracker that saw us start, in parallel,
   * bounded by one short deadline. A completed in flight is let finish
   * first and one not yet sent goes out first (on_result then sends
   * stopped): a download that ends the program (`get --no-seed`) must
   * still be counted by the tracker. */
  struct tracker *busy = a->busy;
  int ci = ann_tiers_current(&a->tiers);
  struct tracker *cur = ci >= 0 ? find(a, a->tiers.url[ci]) : NULL;
  a->busy = NULL;
  for (size_t i = 0; i < a->ntrk; i++) {
    struct tracker *t = &a->trk[i];
    if (t == busy && t->event == ANN_EV_COMPLETED) {
      sh_http_cancel(t->scr_http);
      if (t->scr_udpx)
        ann_udpc_cancel(t->scr_udpx);
      t->scr_http = NULL;
      t->scr_udpx = NULL;
      a->stops_pending++;
      continue;
    }
    cancel_all(t);
    if (!t->started)
      continue;
    enum ann_event ev = a->completed_pending && t == cur ? ANN_EV_COMPLETED : ANN_EV_STOPPED;
    if (send_to(a, t, ev, a->tm.stop_timeout_ms) == 0)
      a->stops_pending++;
  }
  if (a->stops_pending == 0)
    finish_stop(a);
  else
    uv_timer_start(&a->timer, on_stop_deadline, a->tm.stop_timeout_ms, 0);
}
