/* ut_pex (BEP 11): peer exchange. See ut_pex.h. */
#include "ext/ut_pex.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/bencode.h"
#include "base/compact.h"
#include "base/error.h"
#include "base/log.h"
#include "base/vec.h"
#include "engine/ext.h"
#include "engine/torrent.h"
#include "meta/metainfo.h"
#include "peer/conn.h"
#include "swarm/peers.h"

/* ---- the codec ---- */

/* One list of the message: whole entries of len bytes, or refused. */
static int get_list(const struct be_doc *d, const char *key, size_t len, const uint8_t **out,
                    size_t *n, const char **why)
{
  int i = be_dict_get(d, 0, key);
  if (i < 0)
    return 0;
  size_t bytes;
  const uint8_t *s = be_str(d, i, &bytes);
  if (!s || bytes % len) {
    *why = "a ut_pex list that is not whole compact entries";
    return SH_EPROTO;
  }
  *out = s;
  *n = bytes / len;
  return 0;
}

int sh_pex_parse(const uint8_t *p, size_t n, struct sh_pex_msg *m, const char **why)
{
  memset(m, 0, sizeof *m);
  struct be_doc d;
  /* six strings (and whatever a newer client adds): depth 3, 64 values */
  struct be_opts o = {.max_depth = 3, .max_tokens = 64, .strict = 0, .allow_trailing = 0};
  if (be_parse(&d, p, n, &o) < 0 || d.tok[0].type != BE_DICT) {
    be_free(&d);
    *why = "ut_pex message is not a bencoded dictionary";
    return SH_EPROTO;
  }
  int rc = get_list(&d, "added", SH_COMPACT4_LEN, &m->added, &m->n_added, why);
  if (rc == 0)
    rc = get_list(&d, "added.f", 1, &m->added_f, &m->n_added_f, why);
  if (rc == 0)
    rc = get_list(&d, "added6", SH_COMPACT6_LEN, &m->added6, &m->n_added6, why);
  if (rc == 0)
    rc = get_list(&d, "added6.f", 1, &m->added6_f, &m->n_added6_f, why);
  if (rc == 0)
    rc = get_list(&d, "dropped", SH_COMPACT4_LEN, &m->dropped, &m->n_dropped, why);
  if (rc == 0)
    rc = get_list(&d, "dropped6", SH_COMPACT6_LEN, &m->dropped6, &m->n_dropped6, why);
  int any = be_dict_get(&d, 0, "added") >= 0 || be_dict_get(&d, 0, "added6") >= 0 ||
            be_dict_get(&d, 0, "dropped") >= 0 || be_dict_get(&d, 0, "dropped6") >= 0;
  be_free(&d);
  if (rc == 0 && !any) {
    *why = "a ut_pex message with no list (BEP 11 requires one)";
    rc = SH_EPROTO;
  }
  return rc;
}

/* The entries of one family, and their flags when given. */
static void put_family(struct sh_buf *b, const char *key, const char *fkey, int family,
                       const struct sh_addr *a, const uint8_t *flags, size_t n)
{
  size_t count = 0;
  for (size_t i = 0; i < n; i++)
    count += a[i].family == family;
  if (!count)
    return;
  be_put_cstr(b, key);
  sh_buf_printf(b, "%zu:", count * sh_compact_len(family));
  uint8_t e[SH_COMPACT6_LEN];
  for (size_t i = 0; i < n; i++)
    if (a[i].family == family)
      sh_buf_append(b, e, sh_compact_put(e, &a[i]));
  if (!fkey)
    return;
  be_put_cstr(b, fkey);
  sh_buf_printf(b, "%zu:", count);
  for (size_t i = 0; i < n; i++)
    if (a[i].family == family)
      sh_buf_putc(b, flags[i]);
}

void sh_pex_put(struct sh_buf *b, const struct sh_addr *added, const uint8_t *flags, size_t nadded,
                const struct sh_addr *dropped, size_t ndropped)
{
  /* keys sorted: added, added.f, added6, added6.f, dropped, dropped6 */
  be_put_dict(b);
  put_family(b, "added", "added.f", 4, added, flags, nadded);
  put_family(b, "added6", "added6.f", 6, added, flags, nadded);
  put_family(b, "dropped", NULL, 4, dropped, NULL, ndropped);
  put_family(b, "dropped6", NULL, 6, dropped, NULL, ndropped);
  be_put_end(b);
}

/* ---- state ---- */

struct pex {
  int id;
};

struct pex_peer {
  struct sh_addr *sent;    /* what it was told of and not told gone since */
  size_t nsent, cap;
  uint64_t next_send_ms;
  uint64_t last_rx_ms;
  uint32_t received;       /* messages received */
  uint32_t ignored;        /* of which ignored */
};

static int is_private(const struct shoal_torrent *t)
{
  return t->m && t->m->is_private;
}

static struct pex_peer *peer_of(const struct pex *x, struct sh_peer *p)
{
  return *sh_ext_peer_slot(p, x->id);
}

static int has_addr(const struct sh_addr *a, size_t n, const struct sh_addr *k)
{
  for (size_t i = 0; i < n; i++)
    if (sh_addr_eq(&a[i], k))
      return 1;
  return 0;
}

/* ---- sending ---- */

/* Where peer o listens, if we know: the address we dialled, or its IP
 * with the port of its extension handshake. */
static int listen_addr(const struct sh_peer *o, struct sh_addr *a)
{
  if (o->closing || !o->attached || (!o->outgoing && !o->listen_port))
    return 0;
  *a = sh_peer_identity(o);
  return 1;
}

/* BEP 11's flags for peer o, from what its connection showed: 0x01 it
 * connected encrypted (MSE, RC4 or the handshake only: it takes encrypted
 * handshakes), 0x02 it has every piece, 0x04 it is connected over uTP (so
 * it speaks uTP), 0x10 we dialled it (it is reachable). */
static uint8_t flags_of(const struct sh_peer *o)
{
  const struct shoal_torrent *t = o->tor;
  int seed = o->have_all || (t->m && o->have_count == t->m->num_pieces);
  int enc = o->c->enc == SH_CONN_ENC_RC4 || o->c->enc == SH_CONN_ENC_HEADER;
  return (uint8_t)((enc ? SH_PEX_F_CRYPTO : 0) | (seed ? SH_PEX_F_SEED : 0) |
                   (sh_conn_is_utp(o->c) ? SH_PEX_F_UTP : 0) |
                   (o->outgoing ? SH_PEX_F_REACHABLE : 0));
}

/* Tells p what changed since its last message. Returns 1 when there was
 * something to say. */
static int send_update(struct pex *x, struct shoal_torrent *t, struct sh_peer *p,
                       struct pex_peer *q)
{
  struct sh_addr added[SH_PEX_MAX_ENTRIES], dropped[SH_PEX_MAX_ENTRIES], self, a;
  uint8_t flags[SH_PEX_MAX_ENTRIES];
  size_t na = 0, nd = 0;
  int have_self = listen_addr(p, &self);
  for (size_t i = 0; i < t->npeers && na < SH_PEX_MAX_ENTRIES; i++) {
    struct sh_peer *o = t->peers[i];
    if (o == p || !listen_addr(o, &a) || (have_self && sh_addr_eq(&a, &self)) ||
        has_addr(q->sent, q->nsent, &a) || has_addr(added, na, &a))
      continue;
    flags[na] = flags_of(o);
    added[na++] = a;
  }
  /* gone: told of before, no longer connected */
  for (size_t k = 0; k < q->nsent && nd < SH_PEX_MAX_ENTRIES;) {
    int live = 0;
    for (size_t i = 0; i < t->npeers && !live; i++)
      live = t->peers[i] != p && listen_addr(t->peers[i], &a) && sh_addr_eq(&a, &q->sent[k]);
    if (live) {
      k++;
      continue;
    }
    dropped[nd++] = q->sent[k];
    q->sent[k] = q->sent[--q->nsent];
  }
  if (!na && !nd)
    return 0; /* BEP 11: a message holds at least one list */
  if (sh_vec_reserve(q->sent, q->cap, q->nsent + na, 16, SIZE_MAX) < 0)
    return 0;
  memcpy(q->sent + q->nsent, added, na * sizeof *added);
  q->nsent += na;
  struct sh_buf b = SH_BUF_INIT;
  sh_pex_put(&b, added, flags, na, dropped, nd);
  if (!b.oom)
    sh_ext_send(p, x->id, b.data, b.len);
  sh_buf_free(&b);
  return 1;
}

/* ---- receiving ---- */

struct take {
  struct shoal_torrent *t;
  struct sh_addr seen[2 * SH_PEX_MAX_TAKE];
  size_t nseen, cap, skipped;
};

/* What an entry's flags tell of a peer, for our next dial to it. What a
 * dial of ours saw outranks what another peer says: 0x04 (it speaks uTP)
 * fills in an unknown uTP, never a failed one (a dial then goes out over
 * TCP and uTP at once, as to an unknown peer); 0x01 (it connected to the
 * sender encrypted) clears a plaintext-only mark, so the next dial tries
 * MSE first again (under `prefer`; a refusal falls back to plaintext at
 * once, not counted as a failure), the peer having changed its mind or
 * its client since; 0x02 (a seed) spares a seed of ours a dial that would
 * only end with "both sides are seeds" (what a connection shows replaces
 * it when it closes). The other flags change nothing here. */
static void learn(struct shoal_torrent *t, const struct sh_addr *a, uint8_t flags)
{
  struct sh_peer_entry *e = sh_peers_find(&t->plist, a);
  if (!e)
    return; /* banned, ourselves, or the list is full */
  if ((flags & SH_PEX_F_UTP) && e->utp == SH_PE_UTP_UNKNOWN)
    sh_peers_set_utp(&t->plist, a, SH_PE_UTP_YES);
  if (flags & SH_PEX_F_CRYPTO)
    e->crypto &= (uint8_t)~SH_PE_PLAIN;
  if (flags & SH_PEX_F_SEED)
    e->seed = 1;
}

/* One entry with its flags: used unless it repeats an IP of this message
 * (BEP 11), or the message's allowance is spent. */
static void take_one(struct take *k, const uint8_t *e, size_t len, uint8_t flags)
{
  struct sh_addr a;
  if (sh_compact_get(&a, e, len) < 0 || !a.port) {
    k->skipped++;
    return;
  }
  for (size_t i = 0; i < k->nseen; i++)
    if (sh_addr_is_loopback(&a) ? sh_addr_eq(&k->seen[i], &a) : sh_addr_same_ip(&k->seen[i], &a)) {
      k->skipped++;
      return;
    }
  if (k->nseen == k->cap) {
    k->skipped++;
    return;
  }
  k->seen[k->nseen++] = a;
  struct sockaddr_storage ss;
  sh_addr_to_sockaddr(&a, &ss);
  sh_torrent_add_addr(k->t, (struct sockaddr *)&ss, SH_SRC_PEX);
  learn(k->t, &a, flags);
}

/* An entry's flags byte, 0 past the end of a short (or missing) list. */
static uint8_t flag_at(const uint8_t *f, size_t nf, size_t i)
{
  return i < nf ? f[i] : 0;
}

static int ignore(struct pex_peer *q, struct sh_peer *p, const char *what, const char **why)
{
  sh_debug("peer %s: ut_pex message ignored: %s", p->c->name, what);
  if (++q->ignored > SH_PEX_MAX_IGNORED) {
    *why = "more than 10 ut_pex messages that had to be ignored";
    return SH_EPROTO;
  }
  return 0;
}

static int pex_on_message(void *ud, struct sh_peer *p, const uint8_t *data, size_t len,
                          const char **why)
{
  struct pex *x = ud;
  struct shoal_torrent *t = p->tor;
  struct pex_peer *q = peer_of(x, p);
  if (!q)
    return 0; /* it never said it speaks ut_pex */
  uint64_t now = sh_now(p->sess);
  if (is_private(t))
    return ignore(q, p, "a private torrent takes no peers from PEX (BEP 27)", why);
  if (q->received && now - q->last_rx_ms < SH_PEX_MIN_GAP_MS)
    return ignore(q, p, "less than 20 s after the previous one (BEP 11: one a minute)", why);
  struct sh_pex_msg m;
  const char *w = NULL;
  if (sh_pex_parse(data, len, &m, &w) < 0)
    return ignore(q, p, w, why);
  q->last_rx_ms = now;
  size_t known = t->plist.n;
  struct take k = {.t = t, .cap = q->received++ ? SH_PEX_MAX_TAKE : 2 * SH_PEX_MAX_TAKE};
  for (size_t i = 0; i < m.n_added; i++)
    take_one(&k, m.added + i * SH_COMPACT4_LEN, SH_COMPACT4_LEN,
             flag_at(m.added_f, m.n_added_f, i));
  for (size_t i = 0; i < m.n_added6; i++)
    take_one(&k, m.added6 + i * SH_COMPACT6_LEN, SH_COMPACT6_LEN,
             flag_at(m.added6_f, m.n_added6_f, i));
  if (k.skipped)
    sh_info("%s: peer %s: PEX gave %zu peers, %zu not used (repeated addresses, over %zu a "
            "message)", t->name, p->c->name, m.n_added + m.n_added6, k.skipped, k.cap);
  sh_debug("%s: peer %s: PEX named %zu peers, %zu new to us", t->name, p->c->name, k.nseen,
           t->plist.n - known);
  if (k.nseen)
    sh_torrent_dial(t, now);
  return 0;
}

/* ---- the registry's hooks ---- */

static void pex_fill_handshake(void *ud, struct sh_peer *p, struct sh_ext_handshake *eh)
{
  (void)ud;
  if (is_private(p->tor))
    sh_wire_ext_set(eh, "ut_pex", 0); /* an id of 0 leaves it out of `m` */
}

static void pex_on_handshake(void *ud, struct sh_peer *p, const struct sh_ext_handshake *eh)
{
  struct pex *x = ud;
  (void)eh;
  void **slot = sh_ext_peer_slot(p, x->id);
  if (*slot || !sh_ext_peer_supports(p, x->id))
    return;
  struct pex_peer *q = calloc(1, sizeof *q);
  if (q) {
    q->next_send_ms = sh_now(p->sess); /* the first message at the next tick */
    *slot = q;
  }
}

static void pex_on_peer_gone(void *ud, struct sh_peer *p)
{
  struct pex *x = ud;
  void **slot = sh_ext_peer_slot(p, x->id);
  struct pex_peer *q = *slot;
  if (q)
    free(q->sent);
  free(q);
  *slot = NULL;
}

static void pex_on_tick(void *ud, struct shoal_torrent *t, uint64_t now)
{
  struct pex *x = ud;
  if (is_private(t))
    return;
  for (size_t i = 0; i < t->npeers; i++) {
    struct sh_peer *p = t->peers[i];
    struct pex_peer *q = peer_of(x, p);
    if (!q || p->closing || now < q->next_send_ms || !sh_ext_peer_supports(p, x->id))
      continue;
    /* nothing to say yet (the first connections still coming): ask again
     * next tick, the minute counts from a message sent */
    if (send_update(x, t, p, q))
      q->next_send_ms = now + SH_PEX_INTERVAL_MS;
  }
}

int sh_ut_pex_register(struct shoal_session *s)
{
  struct pex *x = calloc(1, sizeof *x);
  if (!x)
    return -1;
  struct sh_ext_def d = {.name = "ut_pex",
                         .fill_handshake = pex_fill_handshake,
                         .on_handshake = pex_on_handshake,
                         .on_message = pex_on_message,
                         .on_peer_gone = pex_on_peer_gone,
                         .on_tick = pex_on_tick,
                         .on_free = free,
                         .ud = x};
  if ((x->id = sh_ext_register(s, &d)) < 0) {
    free(x);
    return -1;
  }
  return x->id;
}
