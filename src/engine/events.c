/* The session's event queue: a ring of set.event_queue_len events that the
 * application drains (shoal_session_events). Like libtorrent's alert
 * queue it is bounded, and it counts what it had to drop rather than grow:
 * an application that stops draining costs a fixed amount of memory.
 *
 * The application hears that events wait through set.on_event, called
 * from an idle handle of the session's own on the next loop turn, so it
 * runs outside every other library call and may call any of them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/session.h"

static void on_idle(uv_idle_t *h)
{
  struct shoal_session *s = h->data;
  uv_idle_stop(h);
  if (s->ev_len && s->set.on_event)
    s->set.on_event(s->set.event_ud);
}

int sh_events_init(struct shoal_session *s)
{
  if (!s->set.event_queue_len)
    s->set.event_queue_len = 1024;
  s->ev = calloc(s->set.event_queue_len, sizeof *s->ev);
  if (!s->ev)
    return -1;
  uv_idle_init(s->loop, &s->ev_idle);
  s->ev_idle.data = s;
  return 0;
}

void sh_events_close(struct shoal_session *s, uv_close_cb cb)
{
  uv_close((uv_handle_t *)&s->ev_idle, cb);
}

void sh_events_free(struct shoal_session *s)
{
  free(s->ev);
  s->ev = NULL;
}

void sh_event(struct shoal_session *s, enum shoal_event_type type, shoal_id id, int err,
              const char *fmt, ...)
{
  if (!s->ev)
    return;
  size_t cap = s->set.event_queue_len;
  if (s->ev_len == cap) {
    /* full: the oldest goes, so the newest state is what the app sees */
    s->ev_head = (s->ev_head + 1) % cap;
    s->ev_len--;
    s->ev_dropped++;
  }
  struct shoal_event *e = &s->ev[(s->ev_head + s->ev_len++) % cap];
  e->type = type;
  e->id = id;
  e->err = err;
  e->text[0] = 0;
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
  }
  if (s->set.on_event && !s->closing)
    uv_idle_start(&s->ev_idle, on_idle);
}

size_t shoal_session_events(shoal_session *s, struct shoal_event *out, size_t cap)
{
  size_t n = 0, qcap = s->set.event_queue_len;
  while (n < cap && s->ev_len) {
    out[n++] = s->ev[s->ev_head];
    s->ev_head = (s->ev_head + 1) % qcap;
    s->ev_len--;
  }
  return n;
}

uint64_t shoal_session_events_dropped(const shoal_session *s) { return s->ev_dropped; }
