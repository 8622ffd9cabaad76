/* The engine's side of the connections: the hub's callbacks (which torrent
 * an incoming handshake names, attaching, messages, closes), dialling and
 * accepting with the session's bans and limits, and the life of an
 * sh_peer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitfield.h"
#include "base/error.h"
#include "base/log.h"
#include "disk/io.h"
#include "engine/ext.h"
#include "engine/torrent.h"
#include "meta/metainfo.h"
#include "peer/tcp.h"

struct sh_addr sh_peer_identity(const struct sh_peer *p)
{
  struct sh_addr a = p->c->addr;
  if (!p->outgoing && p->listen_port)
    a.port = p->listen_port;
  return a;
}

static struct sh_peer *peer_new(struct shoal_session *s, struct shoal_torrent *t, int outgoing)
{
  struct sh_peer *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->sess = s;
  p->tor = t;
  p->outgoing = outgoing;
  p->am_choking = p->peer_choking = 1;
  p->reqq = 250; /* BEP 10: libtorrent's default when `reqq` is absent */
  p->depth = 16; /* set for its transport when it attaches (tpeer.c) */
  for (int k = 0; k < SH_SUPERSEED_SLOTS; k++)
    p->ss[k] = -1;
  return p;
}

static void peer_free(struct sh_peer *p)
{
  free(p->held_bf);
  free(p->held_have);
  free(p->bf);
  free(p->out);
  free(p->in);
  free(p);
}

static unsigned transport_flags(const struct shoal_session *s)
{
  return s->set.local_sendfile ? SH_TRANSPORT_LOCAL_SENDFILE : 0;
}

int sh_session_dial(struct shoal_session *s, struct shoal_torrent *t, const struct sh_addr *addr)
{
  struct sh_peer *p = peer_new(s, t, 1);
  if (!p)
    return -ENOMEM;
  int rc = sh_conn_dial_tcp(&s->hub, addr, t->ih, transport_flags(s), p, &p->c);
  if (rc < 0) {
    peer_free(p);
    return rc;
  }
  t->connecting++;
  return 0;
}

int sh_session_connect(struct shoal_session *s, struct shoal_torrent *t, struct sh_transport *tr)
{
  struct sh_peer *p = NULL;
  int rc = sh_bans_is_banned(&s->bans, &tr->remote) ? SH_EBANNED
           : s->closing                              ? -ECANCELED
           : (p = peer_new(s, t, 1))                 ? 0
                                                     : -ENOMEM;
  if (rc < 0) {
    tr->cb = NULL;
    tr->ops->close(tr);
    return rc;
  }
  rc = sh_conn_start(&s->hub, tr, t->ih, p, &p->c);
  if (rc < 0) {
    peer_free(p);
    return rc;
  }
  t->connecting++;
  return 0;
}

/* Limits for a connection the peer opened, checked before we read a byte:
 * banned addresses, a closing session, and a flood of sockets (connections
 * still in their handshake count too: silent ones would otherwise hold
 * 256 KiB each for 20 s apiece). */
static const char *accept_refusal(struct shoal_session *s, const struct sh_addr *a)
{
  if (sh_bans_is_banned(&s->bans, a))
    return "banned address";
  if (s->closing)
    return "session is closing";
  if (s->hub.nconns >= 2 * (size_t)s->set.max_peers_total)
    return "too many connections";
  return NULL;
}

void sh_session_accept(struct shoal_session *s, struct sh_transport *tr)
{
  const char *why = accept_refusal(s, &tr->remote);
  if (why) {
    char name[64] = "incoming";
    if (tr->remote.family)
      sh_addr_str(&tr->remote, name, sizeof name);
    sh_info("peer %s: closing: %s", name, why);
    tr->cb = NULL;
    tr->ops->close(tr);
    return;
  }
  sh_conn_accept(&s->hub, tr, NULL);
}

/* ---- the hub's callbacks ---- */

static struct shoal_torrent *torrent_of(struct shoal_session *s, const struct sh_handshake *hs,
                                        const char **why)
{
  struct shoal_torrent *t = sh_torrent_find(s, hs->info_hash);
  if (!t) {
    *why = "handshake names an unknown info-hash";
    return NULL;
  }
  size_t active = 0;
  for (size_t i = 0; i < s->ntor; i++)
    active += s->tor[i]->npeers;
  if (active >= (size_t)s->set.max_peers_total) {
    *why = "session connection limit reached";
    return NULL;
  }
  if (!sh_torrent_running(t) && t->state != SHOAL_CHECKING) {
    *why = "the torrent is not running";
    return NULL;
  }
  return t;
}

static int on_handshake(void *ud, struct sh_conn *c, const struct sh_handshake *hs,
                        const char **why)
{
  struct shoal_session *s = ud;
  struct sh_peer *p = c->ud;
  if (!memcmp(hs->peer_id, s->peer_id, 20)) {
    if (p && p->outgoing)
      sh_peers_remove(&p->tor->plist, &c->addr);
    *why = "connected to ourselves";
    return SH_ELIMIT;
  }
  if (!p) {
    struct shoal_torrent *t = torrent_of(s, hs, why);
    if (!t)
      return SH_ELIMIT;
    if (!(p = peer_new(s, t, 0))) {
      *why = "out of memory";
      return -ENOMEM;
    }
    p->c = c;
    sh_conn_set_ud(c, p);
  }
  memcpy(p->peer_id, hs->peer_id, 20);
  p->fast = !!(hs->reserved[SH_RESERVED_FAST_BYTE] & SH_RESERVED_FAST_BIT);
  p->extended = !!(hs->reserved[SH_RESERVED_EXTENDED_BYTE] & SH_RESERVED_EXTENDED_BIT);
  return sh_tpeer_attach(p->tor, p, why);
}

static int on_message(void *ud, struct sh_conn *c, const struct sh_msg *m, const char **why)
{
  (void)c;
  return sh_tpeer_msg(ud, m, why);
}

static void on_read_done(void *ud, struct sh_conn *c)
{
  (void)c;
  sh_tpeer_fill(ud);
}

static void on_drained(void *ud, struct sh_conn *c)
{
  (void)c;
  sh_tpeer_serve(ud);
}

static void on_close(void *ud, struct sh_conn *c, const char *why)
{
  struct sh_peer *p = ud;
  struct shoal_torrent *t = p->tor;
  (void)c;
  (void)why;
  p->closing = 1;
  sh_ext_peer_gone(p);
  if (p->attached) {
    p->attached = 0;
    sh_tpeer_detach(t, p);
  } else if (p->outgoing) {
    /* a dial that never reached the handshake */
    t->connecting--;
    sh_peers_done(&t->plist, &p->c->addr, 1, sh_now(p->sess));
  }
  sh_tpeer_cancel_uploads(p);
}

static void on_free(void *ud, struct sh_conn *c)
{
  (void)c;
  peer_free(ud);
}

static void on_sendfile_failed(void *ud, struct sh_conn *c)
{
  struct sh_peer *p = ud;
  (void)c;
  if (p->tor->disk)
    sh_disk_no_sendfile(p->tor->disk);
}

const struct sh_conn_cb sh_engine_conn_cb = {
    .on_handshake = on_handshake,
    .on_message = on_message,
    .on_read_done = on_read_done,
    .on_drained = on_drained,
    .on_close = on_close,
    .on_free = on_free,
    .on_sendfile_failed = on_sendfile_failed,
};

void sh_session_close_torrent(struct shoal_session *s, struct shoal_torrent *t, const char *why)
{
  for (size_t k = s->hub.nconns; k-- > 0;) {
    if (k >= s->hub.nconns)
      continue;
    struct sh_conn *c = s->hub.conns[k];
    const struct sh_peer *p = c->ud;
    if (p && p->tor == t)
      sh_conn_close(c, why);
  }
}

void sh_session_close_banned(struct shoal_session *s)
{
  for (size_t k = s->hub.nconns; k-- > 0;) {
    if (k >= s->hub.nconns)
      continue;
    struct sh_conn *c = s->hub.conns[k];
    struct sh_addr a = c->ud ? sh_peer_identity(c->ud) : c->addr;
    if (sh_bans_is_banned(&s->bans, &a))
      sh_conn_close(c, "banned: sent data that failed the hash check");
  }
}
