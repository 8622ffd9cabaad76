/* The session: listening sockets, the peer id, the connection hub, the
 * housekeeping tick, the shared HTTP client and the ban list; and the
 * graceful close. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "announce/ann_udpc.h"
#include "base/error.h"
#include "base/log.h"
#include "net/http_client.h"
#include "engine/torrent.h"
#include "lsd/lsd.h"
#include "meta/metainfo.h"
#include "net/udp.h"
#include "peer/tcp.h"
#include "peer/utp.h"

void shoal_settings_default(struct shoal_settings *s)
{
  memset(s, 0, sizeof *s);
  s->max_peers_per_torrent = 80;
  s->max_peers_total = 400;
  s->max_pieces_in_flight = 48;
  s->upload_slots = 4;
  s->read_cache_bytes = 32u << 20;
  s->piece_buffer_bytes = 256u << 20;
  s->event_queue_len = 1024;
  s->announce = 1;
  s->handshake_timeout_ms = 20000;
  s->request_timeout_ms = 60000;
  s->stall_timeout_ms = 180000;
  s->idle_timeout_ms = 180000;
  s->tick_ms = 1000;
  s->pex = 1;
  s->utp = 1;
}

uint64_t sh_session_rand(struct shoal_session *s)
{
  /* xorshift64*: fast, and seeded from the kernel */
  s->rng ^= s->rng >> 12;
  s->rng ^= s->rng << 25;
  s->rng ^= s->rng >> 27;
  return s->rng * 2685821657736338717ull;
}

static void maybe_finish(struct shoal_session *s);
static void on_connection(uv_stream_t *server, int status);
static void session_free(struct shoal_session *s);
static void fail_start(struct shoal_session *s);

int sh_session_is_self(const struct shoal_session *s, const struct sh_addr *a)
{
  if (a->port != s->port)
    return 0;
  static const uint8_t any[16];
  for (int i = 0; i < s->nlisten; i++) {
    const struct sh_addr *l = &s->listen_addr[i];
    if (sh_addr_same_ip(l, a))
      return 1;
    /* bound to every address: loopback is us too */
    if (l->family == a->family && !memcmp(l->ip, any, l->family == 4 ? 4 : 16)) {
      if (a->family == 4 && a->ip[0] == 127)
        return 1;
      static const uint8_t lo6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
      if (a->family == 6 && !memcmp(a->ip, lo6, 16))
        return 1;
    }
  }
  return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
  struct shoal_session *s = server->data;
  if (status < 0) {
    sh_warn("accepting a connection failed: %s", uv_strerror(status));
    return;
  }
  struct sh_transport *tr;
  int rc = sh_tcp_accept(s->loop, server,
                         s->set.local_sendfile ? SH_TRANSPORT_LOCAL_SENDFILE : 0, &tr);
  if (rc < 0) {
    sh_warn("accepting a connection failed: %s", sh_strerror(rc));
    return;
  }
  sh_session_accept(s, tr);
}

static void on_tick(uv_timer_t *h)
{
  struct shoal_session *s = h->data;
  uint64_t now = sh_now(s);
  uint64_t dt = s->set.tick_ms;
  s->dht_starts = 0;
  for (size_t i = 0; i < s->ntor; i++)
    sh_torrent_tick(s->tor[i], now, dt);
  sh_hub_tick(&s->hub, now);
}

static void on_listener_closed(uv_handle_t *h)
{
  struct shoal_session *s = h->data;
  free(h);
  s->pending--;
  if (s->closing == 3) {
    if (!s->pending)
      session_free(s);
    return;
  }
  maybe_finish(s);
}

static int listen_one(struct shoal_session *s, const char *host, int quiet, char *err,
                      size_t errlen)
{
  if (s->nlisten >= SH_MAX_LISTEN)
    return 0;
  struct sockaddr_storage ss;
  int v6 = strchr(host, ':') != NULL;
  int rc = v6 ? uv_ip6_addr(host, s->port, (struct sockaddr_in6 *)&ss)
              : uv_ip4_addr(host, s->port, (struct sockaddr_in *)&ss);
  if (rc < 0) {
    snprintf(err, errlen, "bad listen address '%s'", host);
    return -EINVAL;
  }
  uv_tcp_t *h = malloc(sizeof *h);
  if (!h) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  uv_tcp_init(s->loop, h);
  h->data = s;
  rc = uv_tcp_bind(h, (struct sockaddr *)&ss, v6 ? UV_TCP_IPV6ONLY : 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)h, 128, on_connection);
  if (rc < 0) {
    s->pending++;
    uv_close((uv_handle_t *)h, on_listener_closed);
    if (quiet) {
      sh_info("not listening on %s port %u: %s", host, s->port, uv_strerror(rc));
      return 0;
    }
    snprintf(err, errlen, "cannot listen on %s port %u: %s", host, s->port, uv_strerror(rc));
    return rc;
  }
  struct sockaddr_storage bound;
  int len = sizeof bound;
  uv_tcp_getsockname(h, (struct sockaddr *)&bound, &len);
  sh_addr_from_sockaddr(&s->listen_addr[s->nlisten], (struct sockaddr *)&bound);
  if (!s->port)
    s->port = s->listen_addr[s->nlisten].port; /* the others reuse it */
  s->listen[s->nlisten++] = h;
  return 0;
}

/* ---- the shared UDP sockets ---- */

static void on_utp_accept(void *ud, struct sh_transport *tr) { sh_session_accept(ud, tr); }

/* uTP on every UDP socket: incoming connections go to the hub like
 * accepted TCP ones, and dials use the endpoint of the peer's family. */
static void utp_open(struct shoal_session *s)
{
  for (int i = 0; i < s->nudp; i++) {
    int rc = sh_utp_ep_open(s->loop, s->udp[i], NULL, on_utp_accept, s, &s->utp[s->nutp]);
    if (rc < 0) {
      sh_warn("no uTP on UDP socket %d: %s", i, sh_strerror(rc));
      continue;
    }
    s->nutp++;
  }
}

struct sh_utp_ep *sh_session_utp(const struct shoal_session *s, int family)
{
  for (int i = 0; i < s->nutp; i++)
    if (sh_utp_ep_family(s->utp[i]) == family)
      return s->utp[i];
  return NULL;
}

/* One UDP socket per TCP listen address, on the same port (DHT nodes and
 * uTP peers reach a client at the port it announces), and the registry of
 * UDP tracker clients sending from them. A port that another program holds
 * costs only that socket: the registry then opens one of its own for the
 * family. */
static void udp_open(struct shoal_session *s)
{
  for (int i = 0; i < s->nlisten; i++) {
    struct sockaddr_storage ss;
    sh_addr_to_sockaddr(&s->listen_addr[i], &ss);
    int rc = sh_udp_open(s->loop, (const struct sockaddr *)&ss, &s->udp[s->nudp]);
    if (rc < 0) {
      char name[64];
      sh_addr_str(&s->listen_addr[i], name, sizeof name);
      sh_warn("no UDP socket on %s: %s", name, uv_strerror(rc));
      continue;
    }
    s->nudp++;
  }
  if (s->set.announce)
    s->udp_trackers = ann_udpc_reg_new(s->loop, s->udp, (size_t)s->nudp);
  if (s->set.utp || s->set.utp_only)
    utp_open(s);
}

static void on_udp_part_closed(void *ud);

/* Closes the tracker registry, then the sockets under it. Returns 1 while
 * that is under way: maybe_finish runs again as each part is done. */
static int udp_close(struct shoal_session *s)
{
  if (s->nutp) {
    /* connections are gone: uTP goes first, from the sockets under it */
    for (int i = 0; i < s->nutp; i++) {
      struct sh_utp_stats st;
      sh_utp_ep_stats(s->utp[i], &st);
      sh_debug("uTP endpoint %d: %llu packets in, %llu out, %llu resent, %llu timeouts, "
               "%llu dropped (bad %llu, unknown %llu, window %llu, ack %llu)", i,
               (unsigned long long)st.in, (unsigned long long)st.out,
               (unsigned long long)st.resent, (unsigned long long)st.timeouts,
               (unsigned long long)(st.dropped_bad + st.dropped_unknown + st.dropped_window +
                                    st.dropped_ack),
               (unsigned long long)st.dropped_bad, (unsigned long long)st.dropped_unknown,
               (unsigned long long)st.dropped_window, (unsigned long long)st.dropped_ack);
      s->pending++;
      sh_utp_ep_close(s->utp[i], on_udp_part_closed, s);
    }
    s->nutp = 0;
    return 1;
  }
  if (s->udp_trackers) {
    struct ann_udpc_reg *r = s->udp_trackers;
    s->udp_trackers = NULL;
    s->pending++;
    ann_udpc_reg_close(r, on_udp_part_closed, s);
    return 1;
  }
  if (!s->nudp)
    return 0;
  for (int i = 0; i < s->nudp; i++) {
    struct sh_udp_stats st;
    sh_udp_stats(s->udp[i], &st);
    sh_debug("UDP socket %d: tracker %llu in %llu out, %llu dropped in, %llu unclassified, "
             "%llu truncated, %llu dropped out", i, (unsigned long long)st.in[SH_UDP_TRACKER],
             (unsigned long long)st.out[SH_UDP_TRACKER], (unsigned long long)st.dropped_in,
             (unsigned long long)st.unclassified, (unsigned long long)st.truncated,
             (unsigned long long)st.dropped_out);
    s->pending++;
    sh_udp_close(s->udp[i], on_udp_part_closed, s);
  }
  s->nudp = 0;
  return 1;
}

/* ---- local service discovery (BEP 14) ---- */

/* Torrents that take part: public ones (BEP 27) fetching their metadata,
 * downloading or seeding. */
static int lsd_wanted(const struct shoal_torrent *t)
{
  return (sh_torrent_running(t) || t->state == SHOAL_METADATA) && !(t->m && t->m->is_private);
}

static size_t lsd_collect(void *ud, uint8_t (*ih)[20], size_t cap)
{
  struct shoal_session *s = ud;
  size_t n = 0;
  for (size_t i = 0; i < s->ntor && n < cap; i++)
    if (lsd_wanted(s->tor[i]))
      memcpy(ih[n++], s->tor[i]->ih, 20);
  return n;
}

static void lsd_peer(void *ud, const uint8_t ih[20], const struct sockaddr *addr)
{
  struct shoal_session *s = ud;
  struct shoal_torrent *t = sh_torrent_find(s, ih);
  if (!t || !lsd_wanted(t))
    return;
  sh_torrent_add_addr(t, addr, SH_SRC_LSD);
  sh_torrent_dial(t, sh_now(s));
}

static void lsd_open(struct shoal_session *s)
{
  struct sh_lsd_cb cb = {s, lsd_collect, lsd_peer};
  int rc = sh_lsd_new(s->loop, s->port, &cb, &s->lsd);
  if (rc < 0)
    sh_warn("local service discovery is off: %s", uv_strerror(rc));
}

static void on_lsd_closed(void *ud);

/* A session that could not start: its listeners close on the loop's next
 * turn, and it is freed then. */
static void fail_start(struct shoal_session *s)
{
  s->closing = 3;
  for (int i = 0; i < s->nlisten; i++) {
    s->pending++;
    uv_close((uv_handle_t *)s->listen[i], on_listener_closed);
  }
  s->nlisten = 0;
  if (!s->pending)
    session_free(s);
}

static void session_free(struct shoal_session *s)
{
  while (s->ntor)
    sh_torrent_free(s->tor[s->ntor - 1]);
  sh_disk_cache_free(&s->cache);
  sh_ext_free(s);
  free(s->tor);
  sh_tab_free(&s->by_id);
  sh_tab_free(&s->by_hash);
  sh_tab_free(&s->by_req2);
  sh_events_free(s);
  for (int i = 0; i < SH_MAX_LISTEN; i++)
    free(s->bind_copy[i]);
  free(s->resume_copy);
  for (size_t i = 0; i < s->ndht_boot; i++)
    free(s->dht_boot[i]);
  free(s->dht_boot);
  sh_bans_free(&s->bans);
  free(s);
}

/* A NULL-terminated array of strings into an owned array of copies. */
static int copy_strings(const char *const *in, char ***out, size_t *n)
{
  size_t k = 0;
  while (in && in[k])
    k++;
  *n = 0;
  if (!k)
    return 0;
  if (!(*out = calloc(k, sizeof **out)))
    return -ENOMEM;
  for (; *n < k; (*n)++)
    if (!((*out)[*n] = strdup(in[*n])))
      return -ENOMEM;
  return 0;
}

int sh_session_new(uv_loop_t *loop, const struct shoal_settings *set, shoal_session **out,
                   char *err, size_t errlen)
{
  *out = NULL;
  if (set->encryption < SHOAL_ENC_PREFER || set->encryption > SHOAL_ENC_OFF)
    return sh_errf(err, errlen, -EINVAL, "unknown encryption setting %d", set->encryption);
  struct shoal_session *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  s->loop = loop;
  s->set = *set;
  struct shoal_settings def;
  shoal_settings_default(&def);
  /* zero means "default" for every limit, so old callers keep working */
#define DEF(f)                                                                                    \
  if (!s->set.f)                                                                                  \
  s->set.f = def.f
  DEF(max_peers_per_torrent);
  DEF(max_peers_total);
  DEF(max_pieces_in_flight);
  DEF(upload_slots);
  DEF(read_cache_bytes);
  DEF(piece_buffer_bytes);
  DEF(event_queue_len);
  DEF(handshake_timeout_ms);
  DEF(request_timeout_ms);
  DEF(stall_timeout_ms);
  DEF(idle_timeout_ms);
  DEF(tick_ms);
#undef DEF
  for (int i = 0; i < SH_MAX_LISTEN; i++) {
    s->set.bind[i] = NULL;
    if (i < 4 && set->bind[i]) {
      s->bind_copy[i] = strdup(set->bind[i]);
      s->set.bind[i] = s->bind_copy[i];
    }
    if (i < 4 && !set->bind[i])
      break;
  }
  if (set->resume_dir)
    s->set.resume_dir = s->resume_copy = strdup(set->resume_dir);
  s->set.dht_bootstrap = NULL; /* copied into dht_boot */
  if (copy_strings(set->dht_bootstrap, &s->dht_boot, &s->ndht_boot) < 0) {
    session_free(s);
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  sh_bans_init(&s->bans);
  uint8_t rnd[20];
  if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
    uint64_t h = uv_hrtime();
    for (size_t i = 0; i < sizeof rnd; i++)
      rnd[i] = (uint8_t)(h >> (8 * (i % 8)) ^ i);
  }
  /* BEP 20 Azureus-style peer id: client "SH", version 0.1.0.0 */
  memcpy(s->peer_id, "-SH0100-", 8);
  memcpy(s->peer_id + 8, rnd, 12);
  memcpy(&s->rng, rnd + 12, 8);
  s->rng |= 1;
  s->port = set->port;
  int rc = 0;
  if (set->no_listen) {
    /* nothing to bind */
  } else if (!set->bind[0]) {
    rc = listen_one(s, "0.0.0.0", 0, err, errlen);
    if (rc == 0)
      rc = listen_one(s, "::", 1, err, errlen);
  } else {
    for (int i = 0; i < SH_MAX_LISTEN && s->set.bind[i] && rc == 0; i++)
      rc = listen_one(s, s->set.bind[i], 0, err, errlen);
  }
  if (rc == 0 && sh_events_init(s) < 0)
    rc = sh_errf(err, errlen, -ENOMEM, "out of memory");
  if (rc < 0) {
    fail_start(s);
    return rc;
  }
  sh_disk_cache_init(&s->cache, s->set.read_cache_bytes);
  uv_timer_init(loop, &s->tick);
  s->tick.data = s;
  uv_timer_start(&s->tick, on_tick, s->set.tick_ms, s->set.tick_ms);
  struct sh_hub_opts ho = {.handshake_timeout_ms = s->set.handshake_timeout_ms,
                           .up_rate = (uint64_t)(set->upload_rate > 0 ? set->upload_rate : 0),
                           .down_rate =
                               (uint64_t)(set->download_rate > 0 ? set->download_rate : 0)};
  /* the public names, in the peer layer's terms */
  _Static_assert((int)SHOAL_ENC_PREFER == SH_MSE_PREFER && (int)SHOAL_ENC_REQUIRE == SH_MSE_REQUIRE &&
                     (int)SHOAL_ENC_OFF == SH_MSE_OFF,
                 "encryption policies");
  ho.encryption = (enum sh_mse_policy)s->set.encryption;
  memcpy(ho.peer_id, s->peer_id, 20);
  ho.reserved[SH_RESERVED_EXTENDED_BYTE] |= SH_RESERVED_EXTENDED_BIT;
  ho.reserved[SH_RESERVED_FAST_BYTE] |= SH_RESERVED_FAST_BIT;
  if (s->set.dht) /* BEP 5: we take PORT messages */
    ho.reserved[SH_RESERVED_FAST_BYTE] |= SH_RESERVED_DHT_BIT;
  sh_hub_init(&s->hub, loop, &sh_engine_conn_cb, s, &ho);
  if (s->set.announce)
    s->http = sh_http_client_new(loop);
  udp_open(s);
  sh_session_dht_open(s);
  if (s->set.lsd && s->port)
    lsd_open(s);
  *out = s;
  return 0;
}

uint16_t shoal_session_port(const shoal_session *s) { return s->port; }

void shoal_session_set_rates(shoal_session *s, int64_t upload, int64_t download)
{
  s->set.upload_rate = upload > 0 ? upload : 0;
  s->set.download_rate = download > 0 ? download : 0;
  sh_hub_set_rates(&s->hub, (uint64_t)s->set.upload_rate, (uint64_t)s->set.download_rate);
}

static void on_handle_closed(uv_handle_t *h)
{
  struct shoal_session *s = h->data;
  s->pending--;
  maybe_finish(s);
}

static void on_hub_closed(void *ud)
{
  struct shoal_session *s = ud;
  s->pending--;
  maybe_finish(s);
}

static void on_http_closed(void *ud)
{
  struct shoal_session *s = ud;
  s->pending--;
  maybe_finish(s);
}

static void on_udp_part_closed(void *ud) { on_http_closed(ud); }
static void on_lsd_closed(void *ud) { on_http_closed(ud); }

static int all_torrents_stopped(const struct shoal_session *s)
{
  for (size_t i = 0; i < s->ntor; i++)
    if (!(s->tor[i]->stop_requested & SH_STOP_DONE))
      return 0;
  return 1;
}

static void maybe_finish(struct shoal_session *s)
{
  if (s->closing != 1)
    return;
  if (!all_torrents_stopped(s))
    return;
  if (s->closing == 1 && !s->pending && s->http) {
    struct sh_http_client *c = s->http;
    s->http = NULL;
    s->pending++;
    sh_http_client_close(c, on_http_closed, s);
    return;
  }
  if (!s->pending && (sh_session_dht_close(s, on_udp_part_closed) || udp_close(s)))
    return;
  if (s->pending)
    return;
  if (!s->handles_closed) {
    /* the hub reports once its last connection is gone */
    s->handles_closed = 1;
    s->pending += 3;
    sh_hub_close(&s->hub, on_hub_closed, s);
    uv_close((uv_handle_t *)&s->tick, on_handle_closed);
    sh_events_close(s, on_handle_closed);
    return;
  }
  s->closing = 2;
  void (*done)(void *) = s->done;
  void *ud = s->done_ud;
  session_free(s);
  if (done)
    done(ud);
}

void sh_session_torrent_stopped(struct shoal_session *s, struct shoal_torrent *t)
{
  (void)t;
  if (s->closing == 1)
    maybe_finish(s);
}

void shoal_session_close(shoal_session *s, void (*done)(void *ud), void *ud)
{
  if (s->closing)
    return;
  s->closing = 1;
  s->done = done;
  s->done_ud = ud;
  for (int i = 0; i < s->nlisten; i++) {
    s->pending++;
    uv_close((uv_handle_t *)s->listen[i], on_listener_closed);
  }
  s->nlisten = 0;
  if (s->lsd) {
    s->pending++;
    sh_lsd_close(s->lsd, on_lsd_closed, s);
    s->lsd = NULL;
  }
  sh_hub_close_pending(&s->hub, "session closing");
  s->pending++; /* hold off finishing while we stop the torrents */
  for (size_t i = s->ntor; i-- > 0;)
    if (i < s->ntor && !(s->tor[i]->stop_requested & SH_STOP_STARTED))
      sh_torrent_stop(s->tor[i], SH_AFTER_NONE);
  s->pending--;
  maybe_finish(s);
}
