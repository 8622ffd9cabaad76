/* Pages; see web.h. No external assets: the page must work offline and on a
 * phone, so the style sheet is inline and the layout collapses to cards on
 * narrow screens. */
#include "tracker/web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/url.h"
#include "tracker/policy.h"

void web_html_escape(struct sh_buf *out, const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    switch (s[i]) {
    case '&': sh_buf_puts(out, "&amp;"); break;
    case '<': sh_buf_puts(out, "&lt;"); break;
    case '>': sh_buf_puts(out, "&gt;"); break;
    case '"': sh_buf_puts(out, "&quot;"); break;
    case '\'': sh_buf_puts(out, "&#39;"); break;
    default: sh_buf_putc(out, (uint8_t)s[i]);
    }
  }
}

static void esc(struct sh_buf *out, const char *s) { web_html_escape(out, s, strlen(s)); }

int web_host_ok(const char *host)
{
  if (!host || !*host || strlen(host) > 255)
    return 0;
  for (const char *p = host; *p; p++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '-' || c == ':' || c == '[' || c == ']'))
      return 0;
  }
  return 1;
}

static void human_size(char *out, size_t cap, uint64_t n)
{
  static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = (double)n;
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(out, cap, "%llu B", (unsigned long long)n);
  else
    snprintf(out, cap, "%.1f %s", v, unit[u]);
}

/* host without port, for udp:// which has its own port */
static void host_only(const char *host, char *out, size_t cap)
{
  size_t n = strlen(host);
  const char *colon = NULL;
  if (host[0] == '[') {
    const char *rb = strchr(host, ']');
    n = rb ? (size_t)(rb - host) + 1 : n;
  } else if ((colon = strchr(host, ':')) && !strchr(colon + 1, ':')) {
    n = (size_t)(colon - host);
  }
  if (n >= cap)
    n = cap - 1;
  memcpy(out, host, n);
  out[n] = 0;
}

static const char style[] =
    "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:72em;padding:1em;"
    "color:#222;background:#fafafa}h1{font-size:1.5em}table{border-collapse:collapse;width:100%}"
    "th,td{text-align:left;padding:.4em .5em;border-bottom:1px solid #ddd;vertical-align:top}"
    /* a name or comment with no break opportunity (a hash, a long word)
     * would widen its column past the screen: let it break anywhere */
    "td{overflow-wrap:anywhere;word-break:break-word}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}a{color:#0645ad}"
    ".c{color:#666;font-size:.9em}code{word-break:break-all}"
    "form{margin:1em 0;padding:.8em;border:1px solid #ddd;background:#fff}"
    "@media(max-width:40em){thead{display:none}tr{display:block;margin:0 0 1em;"
    "background:#fff;border:1px solid #ddd}td{display:block;border:0;padding:.2em .5em}"
    "td.n{text-align:left}td[data-l]:before{content:attr(data-l) \": \";color:#666}}";

void web_index(const struct web_ctx *w, struct sh_buf *out)
{
  struct hosting_entry *e = NULL;
  long n = w->h ? hosting_list(w->h, &e) : 0;
  long shown = 0;
  for (long i = 0; i < n; i++)
    shown += policy_check(w->t->policy, e[i].info_hash, 0) != POLICY_BLOCKED;
  int host_ok = web_host_ok(w->host);
  struct sh_buf ann = SH_BUF_INIT;
  if (host_ok)
    sh_buf_printf(&ann, "http://%s/announce", w->host);

  sh_buf_puts(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                   "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                   "<title>shoal tracker</title><style>");
  sh_buf_puts(out, style);
  sh_buf_puts(out, "</style></head><body><h1>shoal tracker</h1>\n");
  if (host_ok) {
    char h[300];
    host_only(w->host, h, sizeof h);
    sh_buf_puts(out, "<p class=\"c\">Announce: <code>");
    esc(out, (const char *)ann.data);
    sh_buf_puts(out, "</code>");
    if (w->udp_port) {
      sh_buf_puts(out, " or <code>udp://");
      esc(out, h);
      sh_buf_printf(out, ":%d/announce</code>", w->udp_port);
    }
    sh_buf_puts(out, "</p>\n");
  }
  struct store_totals tot;
  store_totals(w->t->store, &tot);
  sh_buf_printf(out, "<p class=\"c\">%ld hosted torrents; tracking %llu torrents, %llu peers.</p>\n",
                shown, (unsigned long long)tot.torrents, (unsigned long long)tot.peers);
  if (n < 0) {
    sh_buf_puts(out, "<p>Out of memory listing torrents.</p>");
    n = 0;
  }
  if (shown == 0) {
    sh_buf_puts(out, "<p>No torrents are hosted here yet.</p>\n");
  } else {
    sh_buf_puts(out, "<table><thead><tr><th>Name</th><th>Size</th><th>Files</th><th>Seeders</th>"
                     "<th>Leechers</th><th>Completed</th><th>Get</th></tr></thead><tbody>\n");
    for (long i = 0; i < n; i++) {
      struct store_counts c;
      char size[32];
      if (policy_check(w->t->policy, e[i].info_hash, 0) == POLICY_BLOCKED)
        continue;
      store_scrape(w->t->store, e[i].info_hash, &c);
      human_size(size, sizeof size, e[i].size);
      sh_buf_puts(out, "<tr><td>");
      esc(out, e[i].name);
      if (e[i].comment) {
        sh_buf_puts(out, "<div class=\"c\">");
        esc(out, e[i].comment);
        sh_buf_puts(out, "</div>");
      }
      sh_buf_printf(out,
                    "<div class=\"c\"><code>%s</code></div></td><td class=\"n\" data-l=\"Size\">%s"
                    "</td><td class=\"n\" data-l=\"Files\">%llu</td><td class=\"n\" "
                    "data-l=\"Seeders\">%u</td><td class=\"n\" data-l=\"Leechers\">%u</td>"
                    "<td class=\"n\" data-l=\"Completed\">%u</td>",
                    e[i].hex, size, (unsigned long long)e[i].num_files, c.complete, c.incomplete,
                    c.downloaded);
      /* magnet link (BEP 9): xt, dn and tr percent-encoded, then HTML-escaped */
      struct sh_buf mag = SH_BUF_INIT;
      sh_buf_printf(&mag, "magnet:?xt=urn:btih:%s&dn=", e[i].hex);
      url_encode(&mag, e[i].name, strlen(e[i].name));
      if (host_ok) {
        sh_buf_puts(&mag, "&tr=");
        url_encode(&mag, ann.data, ann.len);
      }
      sh_buf_printf(out, "<td><a href=\"/torrents/%s.torrent\" download>.torrent</a> &middot; "
                         "<a href=\"", e[i].hex);
      web_html_escape(out, (const char *)mag.data, mag.len);
      sh_buf_puts(out, "\">magnet</a></td></tr>\n");
      sh_buf_free(&mag);
    }
    sh_buf_puts(out, "</tbody></table>\n");
  }
  if (w->upload_enabled)
    sh_buf_puts(out, "<form method=\"post\" action=\"/upload\" enctype=\"multipart/form-data\">"
                     "<strong>Add a torrent</strong><br><input type=\"file\" name=\"torrent\" "
                     "accept=\".torrent,application/x-bittorrent\" required> "
                     "<input type=\"password\" name=\"token\" placeholder=\"upload token\" required> "
                     "<button type=\"submit\">Upload</button></form>\n");
  sh_buf_puts(out, "<p class=\"c\"><a href=\"/stats\">stats</a> &middot; "
                   "<a href=\"/metrics\">metrics</a></p></body></html>\n");
  sh_buf_free(&ann);
  if (e)
    hosting_list_free(e, n);
}

static uint64_t stat_of(const struct tracker *t, int i)
{
  return atomic_load_explicit(&((struct tracker *)t)->stat[i], memory_order_relaxed);
}

static long hosted_count(const struct web_ctx *w)
{
  if (!w->h)
    return 0;
  uint8_t (*hs)[20];
  long n = hosting_hashes(w->h, &hs);
  if (n >= 0)
    free(hs);
  return n < 0 ? 0 : n;
}

void web_stats_json(const struct web_ctx *w, struct sh_buf *out)
{
  struct store_totals tot;
  store_totals(w->t->store, &tot);
  sh_buf_printf(out,
                "{\"uptime\":%llu,\"torrents\":%llu,\"hosted\":%ld,\"peers\":%llu,"
                "\"peers_ipv6\":%llu,\"seeders\":%llu,\"leechers\":%llu,\"requests\":{",
                (unsigned long long)w->uptime, (unsigned long long)tot.torrents, hosted_count(w),
                (unsigned long long)tot.peers, (unsigned long long)tot.peers6,
                (unsigned long long)tot.seeders, (unsigned long long)(tot.peers - tot.seeders));
  for (int i = 0; i < TRK_STAT_COUNT; i++)
    sh_buf_printf(out, "%s\"%s\":%llu", i ? "," : "", tracker_stat_names[i],
                  (unsigned long long)stat_of(w->t, i));
  sh_buf_puts(out, "},\"requests_per_second\":{");
  for (int i = 0; i < TRK_STAT_COUNT; i++)
    sh_buf_printf(out, "%s\"%s\":%.1f", i ? "," : "", tracker_stat_names[i],
                  w->rates ? w->rates[i] : 0.0);
  sh_buf_printf(out, "},\"upload_memory\":{\"held\":%llu,\"cap\":%llu,\"refused\":%llu}",
                (unsigned long long)w->body_held, (unsigned long long)w->body_cap,
                (unsigned long long)w->body_refused);
  sh_buf_printf(out, ",\"errors\":%llu}\n",
                (unsigned long long)(stat_of(w->t, TRK_HTTP_FAILURE) + stat_of(w->t, TRK_UDP_ERROR) +
                                     stat_of(w->t, TRK_UDP_DROPPED)));
}

void web_metrics(const struct web_ctx *w, struct sh_buf *out)
{
  struct store_totals tot;
  store_totals(w->t->store, &tot);
  sh_buf_printf(out,
                "# HELP shoal_tracker_torrents Torrents with peers.\n"
                "# TYPE shoal_tracker_torrents gauge\nshoal_tracker_torrents %llu\n"
                "# HELP shoal_tracker_hosted Hosted .torrent files.\n"
                "# TYPE shoal_tracker_hosted gauge\nshoal_tracker_hosted %ld\n"
                "# HELP shoal_tracker_peers Peers by kind.\n"
                "# TYPE shoal_tracker_peers gauge\n"
                "shoal_tracker_peers{kind=\"seeder\"} %llu\n"
                "shoal_tracker_peers{kind=\"leecher\"} %llu\n"
                "# HELP shoal_tracker_requests_total Requests by kind.\n"
                "# TYPE shoal_tracker_requests_total counter\n",
                (unsigned long long)tot.torrents, hosted_count(w), (unsigned long long)tot.seeders,
                (unsigned long long)(tot.peers - tot.seeders));
  for (int i = 0; i < TRK_STAT_COUNT; i++)
    sh_buf_printf(out, "shoal_tracker_requests_total{kind=\"%s\"} %llu\n", tracker_stat_names[i],
                  (unsigned long long)stat_of(w->t, i));
  sh_buf_puts(out, "# HELP shoal_tracker_requests_per_second Requests per second over the last "
                   "10 s.\n# TYPE shoal_tracker_requests_per_second gauge\n");
  for (int i = 0; i < TRK_STAT_COUNT; i++)
    sh_buf_printf(out, "shoal_tracker_requests_per_second{kind=\"%s\"} %.1f\n",
                  tracker_stat_names[i], w->rates ? w->rates[i] : 0.0);
  sh_buf_printf(out, "# HELP shoal_tracker_upload_memory_bytes Upload bodies held in memory.\n"
                     "# TYPE shoal_tracker_upload_memory_bytes gauge\n"
                     "shoal_tracker_upload_memory_bytes %llu\n"
                     "# HELP shoal_tracker_upload_memory_refused_total Requests refused for want "
                     "of upload memory.\n"
                     "# TYPE shoal_tracker_upload_memory_refused_total counter\n"
                     "shoal_tracker_upload_memory_refused_total %llu\n",
                (unsigned long long)w->body_held, (unsigned long long)w->body_refused);
  sh_buf_printf(out, "# HELP shoal_tracker_uptime_seconds Seconds since start.\n"
                     "# TYPE shoal_tracker_uptime_seconds counter\nshoal_tracker_uptime_seconds %llu\n",
                (unsigned long long)w->uptime);
}
