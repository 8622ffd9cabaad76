/* JSON lines of torrent and peer statistics; see report.h. */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *state_name(enum shoal_state s)
{
  static const char *names[] = {"metadata", "checking", "downloading", "seeding",
                                "stopping", "paused",   "error"};
  return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

void cli_peer_flags(const struct shoal_peer_info *p, char *out)
{
  char *o = out;
  if (p->optimistic)
    *o++ = 'O';
  if (p->am_interested && !p->peer_choking)
    *o++ = 'D';
  else if (p->am_interested)
    *o++ = 'd';
  if (p->peer_interested && !p->am_choking)
    *o++ = 'U';
  else if (p->peer_interested)
    *o++ = 'u';
  if (!p->am_interested && !p->peer_choking)
    *o++ = 'K';
  if (!p->peer_interested && !p->am_choking)
    *o++ = '?';
  if (p->incoming)
    *o++ = 'I';
  if (p->snubbed)
    *o++ = 'S';
  *o = 0;
}

static void str(FILE *f, const char *key, const char *v)
{
  fprintf(f, "\"%s\":", key);
  cli_json_str(f, v, strlen(v));
}

static void peer_json(FILE *f, const struct shoal_peer_info *p, uint32_t num_pieces)
{
  char flags[16];
  cli_peer_flags(p, flags);
  fputc('{', f);
  str(f, "addr", p->addr);
  fputc(',', f);
  str(f, "client", p->client);
  fprintf(f, ",\"downloaded\":%llu,\"uploaded\":%llu,\"down_rate\":%llu,\"up_rate\":%llu,"
             "\"progress\":%.4f,",
          (unsigned long long)p->downloaded, (unsigned long long)p->uploaded,
          (unsigned long long)p->down_rate, (unsigned long long)p->up_rate,
          num_pieces ? (double)p->pieces / num_pieces : 0.0);
  str(f, "flags", flags);
  fprintf(f, ",\"am_choking\":%s,\"am_interested\":%s,\"peer_choking\":%s,"
             "\"peer_interested\":%s,\"snubbed\":%s,\"optimistic\":%s,\"incoming\":%s,"
             "\"seed\":%s,\"encrypted\":%s,\"rc4\":%s,\"utp\":%s}",
          p->am_choking ? "true" : "false", p->am_interested ? "true" : "false",
          p->peer_choking ? "true" : "false", p->peer_interested ? "true" : "false",
          p->snubbed ? "true" : "false", p->optimistic ? "true" : "false",
          p->incoming ? "true" : "false", p->seed ? "true" : "false",
          p->encrypted ? "true" : "false", p->rc4 ? "true" : "false", p->utp ? "true" : "false");
}

void cli_report_json(FILE *f, shoal_session *s, shoal_id id, const struct shoal_status *st,
                     const char *state, double t)
{
  size_t cap = 64, n = 0;
  struct shoal_peer_info *pi = NULL;
  while (s && id) {
    struct shoal_peer_info *np = realloc(pi, cap * sizeof *pi);
    if (!np)
      break; /* the line goes out without its peers */
    pi = np;
    n = shoal_torrent_peers(s, id, pi, cap);
    if (n <= cap)
      break;
    cap = n;
  }
  char hex[41];
  for (int i = 0; i < 20; i++)
    snprintf(hex + 2 * i, 3, "%02x", st->info_hash[i]);
  fprintf(f, "{\"t\":%.3f,\"torrent\":{\"id\":%u,", t, (unsigned)st->id);
  str(f, "name", st->name);
  fputc(',', f);
  str(f, "info_hash", hex);
  fputc(',', f);
  str(f, "state", state ? state : state_name(st->state));
  fprintf(f, ",\"have_bytes\":%llu,\"wanted_bytes\":%llu,\"downloaded\":%llu,"
             "\"uploaded\":%llu,\"down_rate\":%llu,\"up_rate\":%llu,\"peers\":%d,\"seeds\":%d,"
             "\"peers_closed_after_handshake\":%u,",
          (unsigned long long)st->have_bytes, (unsigned long long)st->wanted_bytes,
          (unsigned long long)st->downloaded, (unsigned long long)st->uploaded,
          (unsigned long long)st->down_rate, (unsigned long long)st->up_rate, st->peers,
          st->seeds, st->peers_closed_early);
  str(f, "error", st->error);
  fprintf(f, ",\"trackers\":{\"total\":%d,\"failing\":%d,\"retry_s\":%u,", st->trackers,
          st->trackers_failing, st->tracker_retry_s);
  str(f, "error", st->tracker_error);
  fputc(',', f);
  str(f, "message", st->tracker_msg);
  fputs("}},\"peers\":[", f);
  for (size_t i = 0; i < n; i++) {
    if (i)
      fputc(',', f);
    peer_json(f, &pi[i], st->num_pieces);
  }
  fputs("]}\n", f);
  fflush(f);
  free(pi);
}
