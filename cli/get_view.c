/* What shoal get shows: the status lines (live on a terminal, plain every
 * few seconds otherwise), --json lines, messages, the summary. Every text
 * that a torrent, a tracker or a peer supplied goes through the library's
 * sanitiser (cli_safe, cli_say). See get.h. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "get.h"
#include "report.h"
#include "util.h"

const char *get_size_str(uint64_t n, char *buf, size_t len)
{
  cli_human_size(n, buf, len);
  return buf;
}

/* ---- display ---- */

void get_clear_live(struct get *g)
{
  if (!g->tty || !g->drawn)
    return;
  /* back to the first live line, then clear to the end of the screen */
  if (g->drawn > 1)
    printf("\033[%dA", g->drawn - 1);
  printf("\r\033[J");
  fflush(stdout);
  g->drawn = 0;
}

void get_say(struct get *g, FILE *f, const char *fmt, ...)
{
  get_clear_live(g);
  va_list ap;
  va_start(ap, fmt);
  cli_vsay(f, fmt, ap); /* names and reasons come from torrents and trackers */
  va_end(ap);
  fflush(f);
}

/* Reads a live torrent's status into j->last; a finished job keeps its last
 * one, since its torrent may be gone. */
const struct shoal_status *get_snap(struct job *j)
{
  if (j->t && !j->finished && j->g->run.sess)
    shoal_torrent_status(j->g->run.sess, j->t, &j->last);
  return &j->last;
}

void get_snap_all(struct get *g)
{
  for (size_t i = 0; i < g->njobs; i++)
    get_snap(&g->jobs[i]);
}


/* Why nothing may be coming, for the progress line ("" when all is well):
 * peers that hang up on us, or every tracker failing and when it retries. */
static void trouble(const struct get *g, const struct shoal_status *st, char *out, size_t n)
{
  out[0] = 0;
  if (st->peers)
    return;
  if (st->peers_all_close_early) {
    snprintf(out, n, "  %s", get_closers_msg(g));
    return;
  }
  if (!st->trackers || st->trackers_failing < st->trackers)
    return;
  char t[32];
  if (st->tracker_retry_s)
    snprintf(out, n, "  tracker%s: %s, retry in %s", st->trackers > 1 ? "s" : "",
             st->tracker_error, netopts_fmt_duration(st->tracker_retry_s, t, sizeof t));
  else
    snprintf(out, n, "  tracker%s: %s", st->trackers > 1 ? "s" : "", st->tracker_error);
}

static void status_line(struct job *j, char *out, size_t len)
{
  struct shoal_status st = *get_snap(j);
  char a[32], b[32], d[32];
  if (j->failed) {
    snprintf(out, len, "%-20s failed", j->name);
    return;
  }
  if (st.state == SHOAL_CHECKING) {
    double pct = st.num_pieces ? 100.0 * st.check_done / st.num_pieces : 100;
    snprintf(out, len, "%-20s checking %5.1f%%", j->name, pct);
    return;
  }
  if (st.state == SHOAL_METADATA) {
    char got[96] = "";
    if (st.metadata_size)
      snprintf(got, sizeof got, "  %s of %s", get_size_str(st.metadata_have, a, sizeof a),
               get_size_str(st.metadata_size, b, sizeof b));
    snprintf(out, len, "%-20s fetching metadata: %u peer%s asked%s  peers %d", j->name,
             st.metadata_asked, st.metadata_asked == 1 ? "" : "s", got, st.peers);
    return;
  }
  double pct = st.wanted_bytes ? 100.0 * (double)st.have_bytes / (double)st.wanted_bytes : 100;
  if (j->complete && (j->finished || j->stopping)) {
    double ratio = st.downloaded ? (double)st.uploaded / (double)st.downloaded : 0;
    snprintf(out, len, "%-20s done     uploaded %9s  ratio %.2f", j->name,
             get_size_str(st.uploaded, b, sizeof b), ratio);
    return;
  }
  if (j->complete) {
    double ratio = st.downloaded ? (double)st.uploaded / (double)st.downloaded : 0;
    snprintf(out, len, "%-20s seeding  up %10s  uploaded %9s  ratio %.2f  peers %d", j->name,
             netopts_fmt_rate(st.up_rate, a, sizeof a), get_size_str(st.uploaded, b, sizeof b),
             ratio, st.peers);
    return;
  }
  const char *eta = "--";
  if (st.down_rate > 0 && st.wanted_bytes > st.have_bytes)
    eta = netopts_fmt_duration((st.wanted_bytes - st.have_bytes) / st.down_rate, d, sizeof d);
  char why[200];
  trouble(j->g, &st, why, sizeof why);
  if (why[0]) /* no peer, so no rate to show: the reason takes their place */
    snprintf(out, len, "%-20s %5.1f%%%s", j->name, pct, why);
  else
    snprintf(out, len, "%-20s %5.1f%%  down %10s  up %10s  peers %3d  ETA %s", j->name, pct,
             netopts_fmt_rate(st.down_rate, a, sizeof a),
             netopts_fmt_rate(st.up_rate, b, sizeof b), st.peers, eta);
}

/* --json: every torrent as one line of JSON (cli/report.h), the same
 * figures a daemon's status call gives, with its peers. */
void get_draw_json(struct get *g)
{
  /* the last report comes after the loop has closed: its end time then */
  uint64_t now = g->run.end_ms ? g->run.end_ms : uv_now(g->run.loop);
  g->json_ms = now;
  for (size_t i = 0; i < g->njobs; i++) {
    struct job *j = &g->jobs[i];
    const struct shoal_status *st = get_snap(j);
    const char *state = j->failed ? "error" : j->finished ? "done" : NULL;
    cli_report_json(stdout, j->finished ? NULL : g->run.sess, j->t, st, state,
                    (double)(now - g->start_ms) / 1000.0);
  }
}

void get_draw(struct get *g)
{
  if (g->json) {
    if (uv_now(g->run.loop) - g->json_ms >= g->no.json_every_ms)
      get_draw_json(g);
    return;
  }
  if (g->quiet)
    return;
  char line[256];
  if (g->tty) {
    get_clear_live(g);
    for (size_t i = 0; i < g->njobs; i++) {
      status_line(&g->jobs[i], line, sizeof line);
      cli_safe(line, sizeof line, line);
      /* never wider than the terminal would wrap and break the redraw */
      printf("%s%.*s", i ? "\n" : "", g->tty, line);
    }
    fflush(stdout);
    g->drawn = (int)g->njobs;
  } else if (g->ticks % GET_PLAIN_EVERY == 0) {
    for (size_t i = 0; i < g->njobs; i++) {
      status_line(&g->jobs[i], line, sizeof line);
      printf("%s\n", cli_safe(line, sizeof line, line));
    }
    fflush(stdout);
  }
}

void get_summary(struct get *g)
{
  if (g->quiet)
    return;
  FILE *f = g->json ? stderr : stdout; /* stdout holds only JSON then */
  for (size_t i = 0; i < g->njobs; i++) {
    struct job *j = &g->jobs[i];
    const struct shoal_status *st = &j->last;
    if (!j->t || j->failed)
      continue; /* the reason was printed when it failed */
    char a[32], b[32], c[32], d[32], e[32];
    if (j->complete && !j->dl_at_complete) {
      fprintf(f, "%s: done, %s already on disk; uploaded %s\n", j->name,
             get_size_str(st->wanted_bytes, a, sizeof a), get_size_str(st->uploaded, e, sizeof e));
    } else if (j->complete) {
      double secs = (double)(j->complete_ms - j->start_ms) / 1000.0;
      fprintf(f, "%s: done, %s; downloaded %s in %s (%s average), uploaded %s, ratio %.2f\n", j->name,
             get_size_str(st->wanted_bytes, a, sizeof a),
             get_size_str(st->downloaded, b, sizeof b),
             netopts_fmt_duration((uint64_t)llround(secs), c, sizeof c),
             netopts_fmt_rate(secs > 0 ? (uint64_t)((double)j->dl_at_complete / secs) : 0, d,
                              sizeof d),
             get_size_str(st->uploaded, e, sizeof e),
             st->downloaded ? (double)st->uploaded / (double)st->downloaded : 0.0);
    } else {
      double pct = st->wanted_bytes ? 100.0 * (double)st->have_bytes / (double)st->wanted_bytes : 0;
      fprintf(f, "%s: incomplete, %s of %s (%.1f%%); run again to resume\n", j->name,
             get_size_str(st->have_bytes, a, sizeof a),
             get_size_str(st->wanted_bytes, b, sizeof b), pct);
    }
  }
  fflush(f);
}

