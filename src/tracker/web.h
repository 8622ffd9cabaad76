/* The tracker's pages: the HTML index of hosted torrents, /stats (JSON) and
 * /metrics (Prometheus text format 0.0.4). Pure renderers: they read the
 * tracker, the hosting set and precomputed rates, and append to a buffer. */
#ifndef SHOAL_TRACKER_WEB_H
#define SHOAL_TRACKER_WEB_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "tracker/hosting.h"
#include "tracker/tracker.h"

struct web_ctx {
  struct tracker *t;
  struct hosting *h;
  const char *host;       /* the request's Host header (untrusted), or NULL */
  int upload_enabled;     /* show the upload form */
  int udp_port;           /* for the udp:// announce URL; 0 when not served */
  const double *rates;    /* TRK_STAT_COUNT requests per second, or NULL */
  uint64_t uptime;        /* seconds */
  /* request bodies (uploads) held in memory across all workers, the cap on
   * them, and requests refused (503) for want of room */
  uint64_t body_held, body_cap, body_refused;
};

/* Hosted torrents that are also blocklisted are not listed (nor served:
 * serve.c refuses their .torrent). */
void web_index(const struct web_ctx *w, struct sh_buf *out);
void web_stats_json(const struct web_ctx *w, struct sh_buf *out);
void web_metrics(const struct web_ctx *w, struct sh_buf *out);

/* HTML-escapes s[0..n) (& < > " ') so torrent names cannot inject markup. */
void web_html_escape(struct sh_buf *out, const char *s, size_t n);
/* 1 when a Host header is a plain host[:port] safe to put in a URL. */
int web_host_ok(const char *host);

#endif
