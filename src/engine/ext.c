/* The BEP 10 extension registry (see ext.h). */
#include "engine/ext.h"

#include <errno.h>
#include <string.h>

#include "engine/torrent.h"

int sh_ext_register(struct shoal_session *s, const struct sh_ext_def *d)
{
  struct sh_ext_registry *r = &s->ext;
  if (r->n == SH_EXT_MAX || !d->name || !d->on_message || strlen(d->name) > SH_EXT_NAME_MAX)
    return -1;
  for (int i = 0; i < r->n; i++)
    if (!strcmp(r->ext[i].name, d->name))
      return -1;
  r->ext[r->n] = *d;
  return ++r->n;
}

int sh_ext_peer_supports(const struct sh_peer *p, int id)
{
  return id >= 1 && id <= SH_EXT_MAX && p->ext_ids[id - 1] != 0;
}

int sh_ext_send(struct sh_peer *p, int id, const void *payload, size_t len)
{
  if (!sh_ext_peer_supports(p, id))
    return -ENOTSUP;
  struct sh_buf *b = sh_conn_msgbuf(p->c);
  if (!b)
    return -ECONNRESET;
  sh_wire_put_extended(b, p->ext_ids[id - 1], payload, len);
  return 0;
}

void sh_ext_fill_handshake(struct sh_peer *p, struct sh_ext_handshake *eh)
{
  const struct sh_ext_registry *r = &p->sess->ext;
  for (int i = 0; i < r->n; i++) {
    sh_wire_ext_set(eh, r->ext[i].name, (uint8_t)(i + 1));
    if (r->ext[i].fill_handshake)
      r->ext[i].fill_handshake(r->ext[i].ud, p, eh);
  }
}

void sh_ext_on_handshake(struct sh_peer *p, const struct sh_ext_handshake *eh)
{
  const struct sh_ext_registry *r = &p->sess->ext;
  /* BEP 10: a later handshake may change or disable (id 0) an extension;
   * keys it leaves out keep their earlier ids */
  for (int i = 0; i < r->n; i++) {
    for (int k = 0; k < eh->nm; k++)
      if (!strcmp(eh->m[k].name, r->ext[i].name))
        p->ext_ids[i] = eh->m[k].id;
    if (r->ext[i].on_handshake)
      r->ext[i].on_handshake(r->ext[i].ud, p, eh);
  }
}

int sh_ext_dispatch(struct sh_peer *p, uint8_t ext_id, const uint8_t *data, size_t len,
                    const char **why)
{
  const struct sh_ext_registry *r = &p->sess->ext;
  if (ext_id > r->n)
    return 0; /* we advertised no such id: ignore what we did not ask for */
  const struct sh_ext_def *d = &r->ext[ext_id - 1];
  return d->on_message(d->ud, p, data, len, why);
}

void sh_ext_peer_gone(struct sh_peer *p)
{
  const struct sh_ext_registry *r = &p->sess->ext;
  for (int i = 0; i < r->n; i++)
    if (r->ext[i].on_peer_gone)
      r->ext[i].on_peer_gone(r->ext[i].ud, p);
}

void **sh_ext_peer_slot(struct sh_peer *p, int id)
{
  return &p->ext[id - 1];
}

void **sh_ext_torrent_slot(struct shoal_torrent *t, int id)
{
  return &t->ext[id - 1];
}

void sh_ext_tick(struct shoal_torrent *t, uint64_t now)
{
  const struct sh_ext_registry *r = &t->sess->ext;
  for (int i = 0; i < r->n; i++)
    if (r->ext[i].on_tick)
      r->ext[i].on_tick(r->ext[i].ud, t, now);
}

void sh_ext_torrent_gone(struct shoal_torrent *t)
{
  const struct sh_ext_registry *r = &t->sess->ext;
  for (int i = 0; i < r->n; i++)
    if (r->ext[i].on_torrent_gone)
      r->ext[i].on_torrent_gone(r->ext[i].ud, t);
}

void sh_ext_status(const struct shoal_torrent *t, struct shoal_status *st)
{
  const struct sh_ext_registry *r = &t->sess->ext;
  for (int i = 0; i < r->n; i++)
    if (r->ext[i].on_status)
      r->ext[i].on_status(r->ext[i].ud, t, st);
}

void sh_ext_free(struct shoal_session *s)
{
  struct sh_ext_registry *r = &s->ext;
  for (int i = 0; i < r->n; i++)
    if (r->ext[i].on_free)
      r->ext[i].on_free(r->ext[i].ud);
  r->n = 0;
}
