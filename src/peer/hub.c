/* The hub: what all connections of a session share. Its list of
 * connections, the flush of every batch queued during a loop iteration
 * (one write per peer for the ~16 HAVE/REQUEST messages a read produces),
 * and handshake timeouts. The rate limits are in conn_limit.c. */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "peer/conn.h"
#include "base/vec.h"

/* Once per loop iteration, before the loop blocks: everything the
 * callbacks of this iteration queued goes out, one write per peer. */
static void on_prepare(uv_prepare_t *p)
{
  struct sh_hub *h = p->data;
  size_t n = h->ndirty;
  struct sh_conn **list = h->dirty;
  for (size_t i = 0; i < n; i++) {
    list[i]->dirty = 0;
    sh_conn_flush(list[i]);
  }
  h->ndirty = 0;
  /* unref after the loop: an unref may free a connection, never the list */
  for (size_t i = 0; i < n; i++)
    sh_conn_unref(list[i]);
}

void sh_hub_init(struct sh_hub *h, uv_loop_t *loop, const struct sh_conn_cb *cb, void *ud,
                 const struct sh_hub_opts *o)
{
  memset(h, 0, sizeof *h);
  h->loop = loop;
  h->cb = cb;
  h->ud = ud;
  h->o = *o;
  uv_prepare_init(loop, &h->flusher);
  h->flusher.data = h;
  uv_prepare_start(&h->flusher, on_prepare);
  sh_hub_limits_init(h); /* conn_limit.c: the rate limits and their timer */
  h->handles_open = 2;
}

void sh_hub_tick(struct sh_hub *h, uint64_t now)
{
  /* BEP 3 has no handshake timeout; 20 s is what common clients allow */
  for (size_t i = h->nconns; i-- > 0;) {
    if (i >= h->nconns)
      continue;
    struct sh_conn *c = h->conns[i];
    if (c->state == SH_CONN_CONNECTING && c->alt_deadline_ms && now >= c->alt_deadline_ms)
      sh_conn_close(c, "no answer over the other transport after the peer closed the first");
    else if ((c->state == SH_CONN_CONNECTING || c->state == SH_CONN_HANDSHAKE) &&
        now - c->connected_ms > h->o.handshake_timeout_ms)
      sh_conn_close(c, c->state == SH_CONN_CONNECTING ? "connect timed out"
                                                       : "handshake timed out");
  }
}

void sh_hub_close_pending(struct sh_hub *h, const char *why)
{
  for (size_t i = h->nconns; i-- > 0;)
    if (i < h->nconns && h->conns[i]->state != SH_CONN_ACTIVE)
      sh_conn_close(h->conns[i], why);
}

static void on_handle_closed(uv_handle_t *p)
{
  struct sh_hub *h = p->data;
  if (--h->handles_open)
    return;
  free(h->conns);
  free(h->dirty);
  h->conns = h->dirty = NULL;
  sh_hub_limits_close(h);
  if (h->closed)
    h->closed(h->closed_ud);
}

/* Called by sh_hub_close and whenever a connection is freed. */
static void hub_maybe_closed(struct sh_hub *h)
{
  if (h->closing != 1 || h->nconns)
    return;
  h->closing = 2;
  uv_close((uv_handle_t *)&h->flusher, on_handle_closed);
  uv_close((uv_handle_t *)&h->rl_timer, on_handle_closed);
}

void sh_hub_close(struct sh_hub *h, void (*closed)(void *ud), void *ud)
{
  if (h->closing)
    return;
  h->closing = 1;
  h->closed = closed;
  h->closed_ud = ud;
  uv_timer_stop(&h->rl_timer); /* waiting connections are closing anyway */
  hub_maybe_closed(h);
}

/* ---- the list (conn.c adds and removes) ---- */

int sh_hub_add(struct sh_hub *h, struct sh_conn *c)
{
  if (sh_vec_reserve(h->conns, h->cap_conns, h->nconns + 1, 32, SIZE_MAX) < 0)
    return -1;
  c->hub_idx = h->nconns;
  h->conns[h->nconns++] = c;
  return 0;
}

void sh_hub_remove(struct sh_hub *h, struct sh_conn *c)
{
  if (c->hub_idx < h->nconns && h->conns[c->hub_idx] == c) {
    struct sh_conn *last = h->conns[--h->nconns];
    h->conns[c->hub_idx] = last;
    last->hub_idx = c->hub_idx;
  }
  hub_maybe_closed(h);
}

int sh_hub_mark_dirty(struct sh_hub *h, struct sh_conn *c)
{
  if (sh_vec_reserve(h->dirty, h->cap_dirty, h->ndirty + 1, 32, SIZE_MAX) < 0)
    return -1;
  sh_conn_ref(c);
  h->dirty[h->ndirty++] = c;
  return 0;
}
