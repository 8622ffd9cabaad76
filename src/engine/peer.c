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

/* How to dial, as common clients do: TCP and uTP at once to a peer not
 * known to lack uTP, keeping the first that connects (the other waits
 * until the handshake, in case the first is dropped); TCP alone with uTP
 * off or failed before; uTP alone with utp_only. */
static struct sh_conn_how dial_how(struct shoal_session *s, struct shoal_torrent *t,
                                   const struct sh_addr *a)
{
  struct sh_conn_how how = {.tcp = !s->set.utp_only};
  const struct sh_peer_entry *e = sh_peers_find(&t->plist, a);
  if (s->set.utp_only || (s->set.utp && (!e || e->utp != SH_PE_UTP_NO)))
    how.utp = sh_session_utp(s, a->family);
  return how;
}

/* Should a dial to a be encrypted? The policy says, and under PREFER what
 * the peer taught us before (it refused an encrypted handshake). */
static int dial_encrypted(const struct shoal_session *s, struct shoal_torrent *t,
                          const struct sh_addr *a)
{
  if (s->set.encryption != SHOAL_ENC_PREFER)
    return s->set.encryption == SHOAL_ENC_REQUIRE;
  const struct sh_peer_entry *e = sh_peers_find(&t->plist, a);
  return !(e && (e->crypto & SH_PE_PLAIN));
}

/* A dial just opened: counted, and wrapped in MSE when it should be. */
static void dial_opened(struct shoal_session *s, struct shoal_torrent *t, struct sh_peer *p)
{
  t->connecting++;
  s->nconnecting++;
  if (dial_encrypted(s, t, &p->c->addr) && sh_conn_encrypt(p->c) < 0)
    sh_conn_close(p->c, "out of memory for an encrypted handshake");
}

int sh_session_dial(struct shoal_session *s, struct shoal_torrent *t, const struct sh_addr *addr)
{
  struct sh_conn_how how = dial_how(s, t, addr);
  if (!how.tcp && !how.utp)
    return -EAFNOSUPPORT; /* uTP only, and no UDP socket of that family */
  struct sh_peer *p = peer_new(s, t, 1);
  if (!p)
    return -ENOMEM;
  int rc = sh_conn_dial(&s->hub, addr, t->ih, transport_flags(s), &how, p, &p->c);
  if (rc < 0) {
    peer_free(p);
    return rc;
  }
  dial_opened(s, t, p);
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
  dial_opened(s, t, p);
  return 0;
}

/* Limits for a connection the peer opened, checked before we read a byte:
 * banned addresses, a closing session, and a flood of sockets (connections
 * still in their handshake count too: silent ones would otherwise hold
 * 256 KiB each for 20 s apiece). */
static const char *accept_refusal(struct shoal_session *s, const struct sh_transport *tr)
{
  const struct sh_addr *a = &tr->remote;
  if (sh_bans_is_banned(&s->bans, a))
    return "banned address";
  if (s->set.utp_only && strcmp(tr->ops->name, "utp"))
    return "TCP is off (uTP only)";
  if (s->closing)
    return "session is closing";
  if (s->hub.nconns >= 2 * (size_t)s->set.max_peers_total)
    return "too many connections";
  return NULL;
}

void sh_session_accept(struct shoal_session *s, struct sh_transport *tr)
{
  const char *why = accept_refusal(s, tr);
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
  if (!t && s->set.on_unknown_torrent && !s->closing &&
      s->set.on_unknown_torrent(s->set.unknown_ud, hs->info_hash, NULL) == 0)
    t = sh_torrent_find(s, hs->info_hash); /* the app brought it back */
  if (!t) {
    *why = "handshake names an unknown info-hash";
    return NULL;
  }
  if (s->npeers >= (size_t)s->set.max_peers_total) {
    *why = "session connection limit reached";
    return NULL;
  }
  if (!sh_torrent_running(t) && t->state != SHOAL_CHECKING && t->state != SHOAL_METADATA) {
    *why = "the torrent is not running";
    return NULL;
  }
  return t;
}

/* What a dial taught us of the peer's uTP, for the next dial to it. */
static void remember_utp(struct shoal_torrent *t, const struct sh_conn *c)
{
  if (sh_conn_is_utp(c))
    sh_peers_set_utp(&t->plist, &c->addr, SH_PE_UTP_YES);
  else if (c->utp_failed)
    sh_peers_set_utp(&t->plist, &c->addr, SH_PE_UTP_NO);
}

static int find_skey(void *ud, const uint8_t req2[20], uint8_t info_hash[20])
{
  struct shoal_session *s = ud;
  const struct shoal_torrent *t = sh_torrent_find_req2(s, req2);
  if (!t && s->set.on_unknown_torrent && !s->closing &&
      s->set.on_unknown_torrent(s->set.unknown_ud, NULL, req2) == 0)
    t = sh_torrent_find_req2(s, req2);
  if (!t)
    return -1;
  memcpy(info_hash, t->ih, 20);
  return 0;
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
  if (p->outgoing)
    remember_utp(p->tor, c);
  memcpy(p->peer_id, hs->peer_id, 20);
  p->fast = !!(hs->reserved[SH_RESERVED_FAST_BYTE] & SH_RESERVED_FAST_BIT);
  p->extended = !!(hs->reserved[SH_RESERVED_EXTENDED_BYTE] & SH_RESERVED_EXTENDED_BIT);
  p->dht = !!(hs->reserved[SH_RESERVED_FAST_BYTE] & SH_RESERVED_DHT_BIT);
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

/* A dialled peer that took our handshake and closed (or reset) the
 * connection without a byte of its own: what a peer that requires
 * encryption does with a plain handshake. The reasons are the connection
 * layer's words for a read that ended (peer/conn.c); a connect that failed
 * or timed out reads otherwise. */
static int closed_after_our_handshake(const struct sh_conn *c, const char *why)
{
  /* c->closed_early: one of a dial's two transports (TCP, uTP) was */
  return c->rlen == 0 && (c->closed_early ||
         (why && (!strcmp(why, "connection closed by the peer") ||
                  !strcmp(why, sh_strerror(-ECONNRESET)))));
}

/* Says once per peer address, at the level users see, why it cannot be
 * reached with the encryption setting as it is. */
static void tell_once(struct sh_peer_entry *e, const char *name, const char *what)
{
  if (e->crypto & SH_PE_TOLD)
    return;
  e->crypto |= SH_PE_TOLD;
  sh_warn("peer %s: %s", name, what);
}

/* A dial that connected died before the peer's handshake: what does that
 * say about the peer's encryption? Returns 1 to dial it again at once, in
 * plaintext (PREFER falls back once, and remembers). */
static int handshake_lesson(struct sh_peer *p, const struct sh_conn *c, const char *why)
{
  struct sh_peer_entry *e = sh_peers_find(&p->tor->plist, &c->addr);
  int policy = p->sess->set.encryption;
  /* our own closes (a stop, the session's end) teach nothing */
  if (!e || !c->hs_failed || p->sess->closing || p->tor->stop_requested)
    return 0;
  /* an MSE handshake failed, on this transport or the one it replaced */
  int mse_failed = c->enc == SH_CONN_ENC_PENDING || c->mse_failed;
  if (mse_failed && policy == SHOAL_ENC_PREFER) {
    e->crypto |= SH_PE_PLAIN;
    sh_info("peer %s: %s; trying plaintext", c->name, why);
    return 1;
  }
  if (mse_failed)
    tell_once(e, c->name, "the encrypted handshake failed, and encryption is required: "
                          "not trying plaintext");
  else if (policy == SHOAL_ENC_OFF)
    tell_once(e, c->name, "the plaintext handshake failed: the peer may accept only "
                          "encrypted connections, and encryption is off");
  else
    e->crypto &= (uint8_t)~SH_PE_PLAIN; /* plaintext failed too: encrypted first next time */
  return 0;
}

static void on_close(void *ud, struct sh_conn *c, const char *why)
{
  struct sh_peer *p = ud;
  struct shoal_torrent *t = p->tor;
  p->closing = 1;
  sh_ext_peer_gone(p);
  if (p->attached) {
    p->attached = 0;
    sh_tpeer_detach(t, p);
  } else if (p->outgoing) {
    /* a dial that never reached the handshake */
    t->connecting--;
    p->sess->nconnecting--;
    remember_utp(t, c);
    if (handshake_lesson(p, c, why))
      sh_peers_retry_now(&t->plist, &c->addr, sh_now(p->sess));
    else if (closed_after_our_handshake(c, why)) {
      t->peers_closed_early++;
      sh_peers_closed_early(&t->plist, &c->addr, sh_now(p->sess));
    } else {
      sh_peers_done(&t->plist, &c->addr, 1, sh_now(p->sess));
    }
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
    .find_skey = find_skey,
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
