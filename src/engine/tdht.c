/* The session's DHT node (dht/dht_uv.h) and the torrents that use it:
 * starting it on the session's UDP sockets with the saved id and nodes,
 * the bootstrap nodes of the settings and of torrents' `nodes` keys,
 * peers' PORT messages (BEP 5), a torrent's lookups and announces, the
 * peers they find, and saving the node's state at the end. Private
 * torrents (BEP 27) never use it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bencode.h"
#include "base/fs.h"
#include "base/log.h"
#include "dht/dht_uv.h"
#include "disk/resume.h"
#include "engine/torrent.h"
#include "meta/metainfo.h"
#include "swarm/peers.h"

/* BEP 5 names no interval; libtorrent and Transmission announce every 15
 * minutes, half the 30 minutes nodes keep a peer. A torrent with nobody
 * to talk to looks again after a minute. */
#define TDHT_INTERVAL_MS (15u * 60 * 1000)
#define TDHT_STARVING_MS 60000u
/* Too many searches running: try again a little later. */
#define TDHT_RETRY_MS 5000u
/* Searches started per tick, so a thousand torrents starting together
 * spread over a few minutes instead of one burst. */
#define TDHT_STARTS_PER_TICK 4
#define TDHT_STATE_FILE "dht.dat"
/* Saved nodes read back at start (sh_dht_uv_save keeps 200 per family). */
#define TDHT_MAX_SAVED 400

static int dht_allowed(const struct shoal_torrent *t)
{
  if (t->m && t->m->is_private)
    return 0; /* BEP 27 */
  return sh_torrent_running(t) || t->state == SHOAL_METADATA;
}

static void on_peers(void *ud, const uint8_t ih[20], const struct sh_addr *a, size_t n)
{
  struct shoal_session *s = ud;
  struct shoal_torrent *t = sh_torrent_find(s, ih);
  if (!t || !dht_allowed(t))
    return;
  for (size_t i = 0; i < n; i++) {
    struct sockaddr_storage ss;
    sh_addr_to_sockaddr(&a[i], &ss);
    sh_torrent_add_addr(t, (const struct sockaddr *)&ss, SH_SRC_DHT);
  }
  sh_torrent_dial(t, sh_now(s));
}

/* An announce that reached no node while the table now has good nodes
 * (the DHT filled up after it ended, or every node it asked failed) is
 * tried again soon, not in 15 minutes. A family whose table is empty (no
 * IPv6 DHT here, say) is left to the usual interval. */
static void on_search_done(void *ud, const struct sh_dht_search_info *info)
{
  struct shoal_session *s = ud;
  struct shoal_torrent *t = info->find_node ? NULL : sh_torrent_find(s, info->ih);
  uint64_t soon = sh_now(s) + TDHT_STARVING_MS;
  if (!t || info->announced || t->dht_next_ms <= soon || !s->dht)
    return;
  struct sh_dht_stats st;
  sh_dht_uv_stats(s->dht, &st);
  if (st.good[info->family == 6])
    t->dht_next_ms = soon;
}

static void state_path(const struct shoal_session *s, char *out, size_t n)
{
  snprintf(out, n, "%s/%s", s->set.resume_dir, TDHT_STATE_FILE);
}

/* The id and nodes of the last run, when there is a resume folder. */
static int load_state(struct shoal_session *s, uint8_t id[20], struct sh_addr *nodes)
{
  if (!s->set.resume_dir)
    return -ENOENT;
  char path[4096];
  state_path(s, path, sizeof path);
  uint8_t *buf;
  size_t len;
  int n = sh_read_file(path, 64 * 1024, &buf, &len);
  if (n < 0)
    return n;
  n = sh_dht_load(buf, len, id, nodes, TDHT_MAX_SAVED);
  free(buf);
  if (n < 0)
    sh_warn("DHT: %s is not a saved DHT state: starting afresh", path);
  return n;
}

static void add_bootstrap(struct shoal_session *s, const char *spec)
{
  /* HOST:PORT or [IPv6]:PORT */
  char host[256];
  const char *colon = strrchr(spec, ':');
  const char *h = spec;
  size_t hl = colon ? (size_t)(colon - spec) : 0;
  if (*spec == '[' && hl >= 2 && spec[hl - 1] == ']') {
    h++;
    hl -= 2;
  }
  char *end;
  unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
  if (!colon || !hl || hl >= sizeof host || *end || !port || port > 65535) {
    sh_warn("DHT: bootstrap node '%s' is not HOST:PORT: ignored", spec);
    return;
  }
  memcpy(host, h, hl);
  host[hl] = 0;
  int rc = sh_dht_uv_add_host(s->dht, host, (uint16_t)port);
  if (rc < 0)
    sh_warn("DHT: bootstrap node %s: %s", spec, uv_strerror(rc));
}

void sh_session_dht_open(struct shoal_session *s)
{
  if (!s->set.dht)
    return;
  if (!s->nudp) {
    sh_warn("DHT: no UDP socket on port %u: no DHT node", s->port);
    return;
  }
  uint8_t id[20];
  struct sh_addr *nodes = calloc(TDHT_MAX_SAVED, sizeof *nodes);
  int n = nodes ? load_state(s, id, nodes) : -ENOMEM;
  struct sh_dht_uv_opts o = {.id = n >= 0 ? id : NULL,
                             .nodes = nodes,
                             .nnodes = n > 0 ? (size_t)n : 0,
                             .read_only = s->set.dht_read_only,
                             .seed = sh_session_rand(s) | 1};
  struct sh_dht_uv_cb cb = {s, on_peers, on_search_done};
  int rc = sh_dht_uv_new(s->loop, s->udp, (size_t)s->nudp, &o, &cb, &s->dht);
  free(nodes);
  if (rc < 0) {
    sh_warn("DHT: cannot start the node: %s", uv_strerror(rc));
    return;
  }
  for (size_t i = 0; i < s->ndht_boot; i++)
    add_bootstrap(s, s->dht_boot[i]);
  sh_info("DHT: node on UDP port %u%s, %zu saved nodes, %zu bootstrap nodes", s->port,
          s->set.dht_read_only ? " (read-only)" : "", o.nnodes, s->ndht_boot);
}

int sh_session_dht_close(struct shoal_session *s, void (*done)(void *ud))
{
  if (!s->dht)
    return 0;
  if (s->set.resume_dir) {
    struct sh_buf b = SH_BUF_INIT;
    sh_dht_uv_save(s->dht, &b);
    char path[4096];
    state_path(s, path, sizeof path);
    int rc = b.oom ? -ENOMEM : sh_mkdir_p(s->set.resume_dir, 0755);
    if (rc == 0)
      rc = sh_resume_write(path, b.data, b.len);
    if (rc < 0)
      sh_warn("DHT: cannot save %s: %s", path, uv_strerror(rc));
    sh_buf_free(&b);
  }
  struct sh_dht_uv *u = s->dht;
  s->dht = NULL;
  s->pending++;
  sh_dht_uv_close(u, done, s);
  return 1;
}

void sh_session_dht_port(struct shoal_session *s, const struct shoal_torrent *t,
                         const struct sh_addr *peer, uint16_t port)
{
  if (!s->dht || !port || (t->m && t->m->is_private))
    return;
  struct sh_addr a = *peer;
  a.port = port;
  sh_dht_uv_ping(s->dht, &a);
}

int sh_session_dht_wants_port(const struct shoal_session *s, const struct shoal_torrent *t)
{
  return s->dht && !(t->m && t->m->is_private);
}

/* A torrent's `nodes` (BEP 5): [["host", port], ...], once. */
static void torrent_nodes(struct shoal_torrent *t)
{
  t->dht_nodes_added = 1;
  struct be_doc d;
  struct be_opts o = {.max_depth = 64, .max_tokens = 0, .strict = 0};
  if (be_parse(&d, t->m->raw, t->m->raw_len, &o) < 0 || d.tok[0].type != BE_DICT) {
    be_free(&d);
    return;
  }
  int l = be_dict_get_type(&d, 0, "nodes", BE_LIST);
  int added = 0;
  for (int c = l < 0 ? -1 : be_child(&d, l); c >= 0 && c < (int)d.tok[l].next && added < 16;
       c = (int)d.tok[c].next) {
    int h = d.tok[c].type == BE_LIST ? be_child(&d, c) : -1;
    int p = h >= 0 && (int)d.tok[h].next < (int)d.tok[c].next ? (int)d.tok[h].next : -1;
    size_t hl;
    const uint8_t *host = h >= 0 ? be_str(&d, h, &hl) : NULL;
    int64_t port;
    if (!host || p < 0 || be_int(&d, p, &port) < 0 || port < 1 || port > 65535 || !hl ||
        hl > 255)
      continue;
    char name[256];
    memcpy(name, host, hl);
    name[hl] = 0;
    added += sh_dht_uv_add_host(t->sess->dht, name, (uint16_t)port) == 0;
  }
  if (added)
    sh_info("%s: %d DHT nodes from the torrent's `nodes`", t->name, added);
  be_free(&d);
}

void sh_torrent_dht_tick(struct shoal_torrent *t, uint64_t now)
{
  struct shoal_session *s = t->sess;
  if (!s->dht || !dht_allowed(t)) {
    t->dht_next_ms = 0; /* announce at once when it runs again */
    return;
  }
  if (t->m && !t->dht_nodes_added)
    torrent_nodes(t);
  int seeding = t->state == SHOAL_SEEDING;
  if (seeding != t->dht_seed)
    t->dht_next_ms = 0; /* tell the DHT we are a seed now (BEP 33) */
  if (now < t->dht_next_ms || s->dht_starts >= TDHT_STARTS_PER_TICK)
    return;
  struct sh_dht_search_opts o = {.port = s->port, .implied_port = 1, .seed = seeding};
  int rc = sh_dht_uv_search(s->dht, t->ih, &o);
  if (rc < 0) {
    t->dht_next_ms = now + TDHT_RETRY_MS;
    return;
  }
  s->dht_starts++;
  t->dht_seed = seeding;
  int starving = !seeding && !t->npeers;
  t->dht_next_ms = now + (starving ? TDHT_STARVING_MS : TDHT_INTERVAL_MS);
}

int shoal_session_dht_status(const shoal_session *s, struct shoal_dht_status *st)
{
  memset(st, 0, sizeof *st);
  if (!s->dht)
    return -ENOENT;
  struct sh_dht_stats x;
  sh_dht_uv_stats(s->dht, &x);
  memcpy(st->id, x.id, 20);
  for (int f = 0; f < 2; f++) {
    st->nodes[f] = x.nodes[f];
    st->good[f] = x.good[f];
    st->buckets[f] = x.buckets[f];
  }
  st->stored_hashes = x.hashes;
  st->stored_peers = x.peers;
  st->searches = x.searches;
  st->outstanding = x.outstanding;
  st->queries_in = x.queries_in;
  st->replies_in = x.replies_in;
  st->errors_in = x.errors_in;
  st->queries_out = x.queries_out;
  st->replies_out = x.replies_out;
  st->errors_out = x.errors_out;
  st->dropped = x.dropped;
  st->bad_tokens = x.bad_tokens;
  st->store_refused = x.store_refused;
  if (x.external.family) {
    sh_addr_str(&x.external, st->external, sizeof st->external);
    char *colon = strrchr(st->external, ':'); /* the address, not a port */
    if (colon)
      *colon = 0;
  }
  st->id_follows_address = x.id_compliant;
  return 0;
}

int shoal_session_dht_add_node(shoal_session *s, const struct sockaddr *addr)
{
  struct sh_addr a;
  if (!s->dht)
    return -ENOENT;
  if (sh_addr_from_sockaddr(&a, addr) < 0)
    return -EAFNOSUPPORT;
  return sh_dht_uv_add_node(s->dht, &a);
}
