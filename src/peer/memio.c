/* The in-memory transport pair (see memio.h). */
#include "peer/memio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"

struct mem_end {
  struct sh_transport t;  /* first: the ops get a struct sh_transport * */
  struct mem_end *peer;   /* NULL once the other end closed */
  uv_timer_t kick;        /* delivery on the loop's next turn */
  uint8_t *inbox;         /* SH_MEMIO_WINDOW bytes, a FIFO from in_head */
  size_t in_head, in_len;
  int reading, closing, want_writable, peer_gone, eof_sent;
};

static const struct sh_transport_ops mem_ops;

static struct mem_end *end_of(struct sh_transport *t) { return (struct mem_end *)t; }

static void on_kick(uv_timer_t *h);

static void kick(struct mem_end *e)
{
  if (!e->closing && !uv_is_active((uv_handle_t *)&e->kick))
    uv_timer_start(&e->kick, on_kick, 0, 0);
}

/* Copies from the inbox FIFO (it wraps around the window). */
static size_t inbox_take(struct mem_end *e, uint8_t *out, size_t cap)
{
  size_t n = e->in_len < cap ? e->in_len : cap, done = 0;
  while (done < n) {
    size_t run = SH_MEMIO_WINDOW - e->in_head;
    if (run > n - done)
      run = n - done;
    memcpy(out + done, e->inbox + e->in_head, run);
    e->in_head = (e->in_head + run) % SH_MEMIO_WINDOW;
    done += run;
  }
  e->in_len -= n;
  if (n && e->peer && e->peer->want_writable)
    kick(e->peer);
  return n;
}

static size_t inbox_put(struct mem_end *e, const uint8_t *in, size_t len)
{
  size_t room = SH_MEMIO_WINDOW - e->in_len;
  size_t n = len < room ? len : room, done = 0;
  while (done < n) {
    size_t tail = (e->in_head + e->in_len) % SH_MEMIO_WINDOW;
    size_t run = SH_MEMIO_WINDOW - tail;
    if (run > n - done)
      run = n - done;
    memcpy(e->inbox + tail, in + done, run);
    e->in_len += run;
    done += run;
  }
  if (n)
    kick(e);
  return n;
}

/* Delivers what arrived to a reading owner, then the end of the stream. */
static void deliver(struct mem_end *e)
{
  while (e->reading && !e->closing && e->in_len) {
    uint8_t *buf = NULL;
    size_t cap = 0;
    e->t.cb->alloc(e->t.ud, &buf, &cap);
    size_t n = cap ? inbox_take(e, buf, cap) : 0;
    e->t.cb->on_read(e->t.ud, (ssize_t)n);
    if (!n)
      return;
  }
  if (e->reading && !e->closing && !e->in_len && e->peer_gone && !e->eof_sent) {
    e->eof_sent = 1;
    e->t.cb->on_read(e->t.ud, SH_ECLOSED);
  }
}

static void on_kick(uv_timer_t *h)
{
  struct mem_end *e = h->data;
  if (!e->t.cb)
    return; /* raw: the test reads by hand */
  deliver(e);
  if (!e->closing && e->want_writable && (e->peer_gone || (e->peer && e->peer->in_len <
                                                                          SH_MEMIO_WINDOW))) {
    e->want_writable = 0;
    e->t.cb->on_writable(e->t.ud);
  }
}

static void on_kick_closed(uv_handle_t *h)
{
  struct mem_end *e = h->data;
  if (e->t.cb && e->t.cb->on_closed)
    e->t.cb->on_closed(e->t.ud);
  free(e->inbox);
  free(e);
}

static struct mem_end *end_new(uv_loop_t *loop)
{
  struct mem_end *e = calloc(1, sizeof *e);
  if (!e)
    return NULL;
  e->inbox = malloc(SH_MEMIO_WINDOW);
  if (!e->inbox) {
    free(e);
    return NULL;
  }
  uv_timer_init(loop, &e->kick);
  e->kick.data = e;
  e->t.ops = &mem_ops;
  e->t.flags = SH_TRANSPORT_LOCAL;
  return e;
}

int sh_memio_pair(uv_loop_t *loop, const struct sh_addr *a_addr, const struct sh_addr *b_addr,
                  struct sh_transport **a, struct sh_transport **b)
{
  struct mem_end *x = end_new(loop), *y = x ? end_new(loop) : NULL;
  if (!y) {
    if (x) {
      x->closing = 1;
      uv_close((uv_handle_t *)&x->kick, on_kick_closed);
    }
    return -ENOMEM;
  }
  x->peer = y;
  y->peer = x;
  if (b_addr)
    x->t.remote = *b_addr;
  if (a_addr)
    y->t.remote = *a_addr;
  *a = &x->t;
  *b = &y->t;
  return 0;
}

static int mem_read_start(struct sh_transport *t)
{
  struct mem_end *e = end_of(t);
  e->reading = 1;
  if (e->in_len || e->peer_gone)
    kick(e);
  return 0;
}

static void mem_read_stop(struct sh_transport *t) { end_of(t)->reading = 0; }

static ssize_t mem_writev(struct sh_transport *t, const struct iovec *iov, int iovcnt, int more)
{
  struct mem_end *e = end_of(t);
  (void)more;
  if (!e->peer)
    return -EPIPE;
  size_t total = 0;
  for (int i = 0; i < iovcnt; i++) {
    size_t n = inbox_put(e->peer, iov[i].iov_base, iov[i].iov_len);
    total += n;
    if (n < iov[i].iov_len)
      break;
  }
  return total ? (ssize_t)total : -EAGAIN;
}

static int mem_poll_writable(struct sh_transport *t, int on)
{
  struct mem_end *e = end_of(t);
  e->want_writable = on;
  if (on && (!e->peer || e->peer->in_len < SH_MEMIO_WINDOW))
    kick(e);
  return 0;
}

static void mem_close(struct sh_transport *t)
{
  struct mem_end *e = end_of(t);
  if (e->closing)
    return;
  e->closing = 1;
  e->reading = 0;
  if (e->peer) {
    e->peer->peer = NULL;
    e->peer->peer_gone = 1;
    kick(e->peer);
    e->peer = NULL;
  }
  uv_close((uv_handle_t *)&e->kick, on_kick_closed);
}

/* What sendfile would do, by pread: lets tests and fuzz_conn run the
 * upload path that names file extents without a socket. */
static ssize_t mem_sendfile(struct sh_transport *t, int fd, uint64_t off, size_t len)
{
  struct mem_end *e = end_of(t);
  if (!e->peer)
    return -EPIPE;
  size_t room = SH_MEMIO_WINDOW - e->peer->in_len;
  if (len > room)
    len = room;
  if (!len)
    return -EAGAIN;
  uint8_t *tmp = malloc(len);
  if (!tmp)
    return -ENOMEM;
  ssize_t r = pread(fd, tmp, len, (off_t)off);
  if (r > 0)
    inbox_put(e->peer, tmp, (size_t)r);
  free(tmp);
  return r < 0 ? -errno : r ? r : SH_EINCOMPLETE;
}

static const struct sh_transport_ops mem_ops = {
    .name = "memory",
    .read_start = mem_read_start,
    .read_stop = mem_read_stop,
    .writev = mem_writev,
    .sendfile = NULL,
    .poll_writable = mem_poll_writable,
    .close = mem_close,
};

static const struct sh_transport_ops mem_sendfile_ops = {
    .name = "memory",
    .read_start = mem_read_start,
    .read_stop = mem_read_stop,
    .writev = mem_writev,
    .sendfile = mem_sendfile,
    .poll_writable = mem_poll_writable,
    .close = mem_close,
};

void sh_memio_set_sendfile(struct sh_transport *t, int on)
{
  t->ops = on ? &mem_sendfile_ops : &mem_ops;
  if (on)
    t->flags |= SH_TRANSPORT_LOCAL_SENDFILE;
  else
    t->flags &= ~SH_TRANSPORT_LOCAL_SENDFILE;
}

ssize_t sh_memio_write(struct sh_transport *t, const void *data, size_t len)
{
  struct iovec iov = {(void *)data, len};
  return mem_writev(t, &iov, 1, 0);
}

size_t sh_memio_read(struct sh_transport *t, void *buf, size_t cap)
{
  return inbox_take(end_of(t), buf, cap);
}

size_t sh_memio_pending(const struct sh_transport *t)
{
  return ((const struct mem_end *)t)->in_len;
}

int sh_memio_peer_closed(const struct sh_transport *t)
{
  return ((const struct mem_end *)t)->peer_gone;
}

void sh_memio_close(struct sh_transport *t) { mem_close(t); }
