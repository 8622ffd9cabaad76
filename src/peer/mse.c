/* The MSE transport (see mse.h). Callbacks reach the owner only from the
 * inner transport's callbacks or from the `later` timer, never from inside
 * one of the owner's calls, as transport.h promises. */
#include "peer/mse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/error.h"

/* What one inner read may bring during the handshake: the largest step
 * (a responder's step 3 with a long IA) arrives over several. */
#define HS_READ 4096

struct mse {
  struct sh_transport t;      /* first: the ops get a struct sh_transport * */
  struct sh_transport *in;    /* the wrapped transport, closed with us */
  uv_timer_t later;           /* deferred delivery (see later()) */
  int open_handles;           /* the timer and the inner transport */
  struct sh_mse_hs *hs;       /* during the handshake */
  uint32_t method;            /* 0 until done */
  uint8_t skey[20];
  struct sh_rc4 enc, dec;
  const char *why;            /* the handshake's failure */
  int err;                    /* a broken stream: what writev says from now on */
  int closing;
  /* reading */
  int want_read, in_reading;
  uint8_t *abuf;              /* the owner's space for the inner read in progress */
  struct sh_buf rest;         /* stream bytes that came with the handshake */
  size_t rest_off;
  int rest_err;               /* an end of stream to report after rest */
  uint8_t hsbuf[HS_READ];
  /* writing */
  struct sh_buf hold;         /* the owner's bytes written during the handshake */
  struct sh_buf out;          /* for the inner transport, ready (encrypted) */
  size_t out_off;
  int want_writable;          /* the owner waits for on_writable */
  int writable_due;           /* ... and gets it on the next turn */
};

static const struct sh_transport_ops mse_ops, plain_ops, plain_sf_ops;
static const struct sh_transport_cb inner_cb;

static struct mse *mse_of(const struct sh_transport *t) { return (struct mse *)t; }

static void on_later(uv_timer_t *h);

static void later(struct mse *m)
{
  if (!m->closing && !uv_is_active((uv_handle_t *)&m->later))
    uv_timer_start(&m->later, on_later, 0, 0);
}

static int inner_read(struct mse *m, int on)
{
  if (on == m->in_reading || m->closing)
    return 0;
  if (!on) {
    m->in->ops->read_stop(m->in);
    m->in_reading = 0;
    return 0;
  }
  int rc = m->in->ops->read_start(m->in);
  if (rc == 0)
    m->in_reading = 1;
  return rc;
}

/* ---- writing ---- */

static int out_pending(const struct mse *m) { return m->out_off < m->out.len; }

/* Writes what waits in `out`; arranges to be told when the inner
 * transport can take the rest. Returns 0 or a broken stream's code. */
static int flush_out(struct mse *m, int more)
{
  if (m->err)
    return m->err;
  if (m->out.oom)
    return m->err = -ENOMEM;
  while (out_pending(m)) {
    struct iovec iov = {m->out.data + m->out_off, m->out.len - m->out_off};
    ssize_t n = m->in->ops->writev(m->in, &iov, 1, more);
    if (n == -EAGAIN) {
      int rc = m->in->ops->poll_writable(m->in, 1);
      return rc < 0 ? (m->err = rc) : 0;
    }
    if (n < 0)
      return m->err = (int)n;
    m->out_off += (size_t)n;
  }
  sh_buf_reset(&m->out);
  m->out_off = 0;
  return 0;
}

/* Appends n bytes of the stream to `out`, encrypted when RC4 is on. */
static void out_stream(struct mse *m, const uint8_t *p, size_t n)
{
  if (!n)
    return;
  if (sh_buf_reserve(&m->out, n) < 0)
    return; /* oom is set: flush_out reports it */
  if (m->method == SH_MSE_RC4)
    sh_rc4_crypt(&m->enc, m->out.data + m->out.len, p, n);
  else
    memcpy(m->out.data + m->out.len, p, n);
  m->out.len += n;
}

/* During the handshake: IA first (outgoing), then the hold buffer. */
static ssize_t hold_writes(struct mse *m, const struct iovec *iov, int iovcnt)
{
  size_t took = 0;
  for (int i = 0; i < iovcnt; i++) {
    const uint8_t *p = iov[i].iov_base;
    size_t n = iov[i].iov_len, k = sh_mse_hs_offer_ia(m->hs, p, n);
    took += k;
    p += k;
    n -= k;
    size_t room = SH_MSE_HOLD_MAX - m->hold.len;
    k = n < room ? n : room;
    sh_buf_append(&m->hold, p, k);
    took += k;
    if (k < n)
      break;
  }
  if (m->hold.oom)
    return m->err = -ENOMEM;
  return took ? (ssize_t)took : -EAGAIN;
}

static ssize_t mse_writev(struct sh_transport *t, const struct iovec *iov, int iovcnt, int more)
{
  struct mse *m = mse_of(t);
  if (m->err)
    return m->err;
  if (!m->method)
    return hold_writes(m, iov, iovcnt);
  int rc = flush_out(m, more);
  if (rc < 0)
    return rc;
  if (out_pending(m))
    return -EAGAIN;
  if (m->method == SH_MSE_PLAIN)
    return m->in->ops->writev(m->in, iov, iovcnt, more);
  size_t took = 0;
  for (int i = 0; i < iovcnt && took < SH_MSE_OUT_CAP; i++) {
    size_t n = iov[i].iov_len;
    if (n > SH_MSE_OUT_CAP - took)
      n = SH_MSE_OUT_CAP - took;
    out_stream(m, iov[i].iov_base, n);
    took += n;
  }
  rc = flush_out(m, more);
  return rc < 0 ? rc : (ssize_t)took;
}

/* Header-only encryption after the handshake: file bytes go out as they
 * are, by the inner transport's sendfile. */
static ssize_t mse_sendfile(struct sh_transport *t, int fd, uint64_t off, size_t len)
{
  struct mse *m = mse_of(t);
  int rc = flush_out(m, 0);
  if (rc < 0)
    return rc;
  if (out_pending(m))
    return -EAGAIN;
  return m->in->ops->sendfile(m->in, fd, off, len);
}

static int mse_poll_writable(struct sh_transport *t, int on)
{
  struct mse *m = mse_of(t);
  if (m->closing)
    return 0;
  m->want_writable = on;
  if (!on) {
    m->writable_due = 0;
    return out_pending(m) ? 0 : m->in->ops->poll_writable(m->in, 0);
  }
  if (!m->method)
    return 0; /* the hold buffer drains once the handshake is done */
  if (out_pending(m) || m->method == SH_MSE_PLAIN)
    return m->in->ops->poll_writable(m->in, 1);
  m->writable_due = 1; /* RC4 with nothing waiting: it can take more now */
  later(m);
  return 0;
}

static void in_on_writable(void *ud)
{
  struct mse *m = ud;
  if (m->closing)
    return;
  flush_out(m, 0);
  if (!m->err && out_pending(m))
    return; /* flush_out polls again */
  if (m->want_writable && m->method) {
    m->want_writable = 0;
    m->t.cb->on_writable(m->t.ud); /* an error shows in the next writev */
  }
}

/* ---- reading ---- */

/* Hands the stream bytes that came with the handshake to a reading owner,
 * then whatever ended the stream; then reads from the inner transport. */
static void deliver(struct mse *m)
{
  while (m->want_read && !m->closing && m->rest_off < m->rest.len) {
    uint8_t *buf = NULL;
    size_t cap = 0;
    m->t.cb->alloc(m->t.ud, &buf, &cap);
    if (!cap) {
      m->t.cb->on_read(m->t.ud, -ENOMEM);
      return;
    }
    size_t n = m->rest.len - m->rest_off;
    if (n > cap)
      n = cap;
    memcpy(buf, m->rest.data + m->rest_off, n);
    m->rest_off += n;
    m->t.cb->on_read(m->t.ud, (ssize_t)n);
  }
  if (m->closing || m->rest_off < m->rest.len)
    return;
  sh_buf_free(&m->rest);
  m->rest_off = 0;
  if (m->rest_err && m->want_read) {
    int e = m->rest_err;
    m->rest_err = 0;
    m->t.cb->on_read(m->t.ud, e);
    return;
  }
  if (m->want_read && inner_read(m, 1) < 0)
    m->t.cb->on_read(m->t.ud, -EIO);
}

static void on_later(uv_timer_t *h)
{
  struct mse *m = h->data;
  if (m->closing)
    return;
  deliver(m);
  if (!m->closing && m->writable_due && m->want_writable) {
    m->writable_due = m->want_writable = 0;
    m->t.cb->on_writable(m->t.ud);
  }
}

static void handshake_failed(struct mse *m, int code, const char *why)
{
  m->why = why;
  m->err = code;
  m->t.cb->on_read(m->t.ud, code);
}

/* The handshake is over: take the keys and the stream bytes it left, send
 * what the owner wrote meanwhile, hand over what came in. */
static void handshake_done(struct mse *m)
{
  struct sh_mse_hs *h = m->hs;
  m->method = h->method;
  memcpy(m->skey, h->skey, 20);
  m->enc = h->enc;
  m->dec = h->dec;
  memset(&h->enc, 0, sizeof h->enc);
  memset(&h->dec, 0, sizeof h->dec);
  m->rest = h->in;
  memset(&h->in, 0, sizeof h->in);
  m->rest_off = 0;
  sh_mse_hs_free(h);
  free(h);
  m->hs = NULL;
  m->t.flags = m->in->flags;
  if (m->method == SH_MSE_PLAIN)
    m->t.ops = m->in->ops->sendfile ? &plain_sf_ops : &plain_ops;
  out_stream(m, m->hold.data, m->hold.len);
  sh_buf_free(&m->hold);
  flush_out(m, 0);
  if (m->rest.len)
    inner_read(m, 0); /* held bytes first: the inner waits */
  deliver(m);
  if (!m->closing && m->want_writable && !out_pending(m)) {
    m->want_writable = 0;
    m->t.cb->on_writable(m->t.ud);
  }
}

static void feed(struct mse *m, const uint8_t *p, size_t n)
{
  int rc = sh_mse_hs_feed(m->hs, p, n, &m->out);
  if (rc < 0) {
    handshake_failed(m, rc, rc == SH_EPROTO ? m->hs->why : "out of memory");
    return;
  }
  if (flush_out(m, 0) < 0) {
    handshake_failed(m, m->err, "cannot write the encrypted handshake");
    return;
  }
  if (rc == SH_MSE_HS_DONE)
    handshake_done(m);
}

static void in_alloc(void *ud, uint8_t **buf, size_t *len)
{
  struct mse *m = ud;
  if (!m->method || m->rest_off < m->rest.len) {
    m->abuf = NULL;
    *buf = m->hsbuf;
    *len = sizeof m->hsbuf;
    return;
  }
  m->t.cb->alloc(m->t.ud, buf, len);
  m->abuf = *buf;
}

static void in_on_read(void *ud, ssize_t n)
{
  struct mse *m = ud;
  uint8_t *owner = m->abuf;
  m->abuf = NULL;
  if (m->closing || (m->err && !m->method))
    return;
  if (owner) { /* straight into the owner's buffer */
    if (n > 0 && m->method == SH_MSE_RC4)
      sh_rc4_crypt(&m->dec, owner, owner, (size_t)n);
    m->t.cb->on_read(m->t.ud, n);
    return;
  }
  if (n < 0 && !m->method) {
    handshake_failed(m, (int)n, n == SH_ECLOSED ? "the peer closed the connection" : NULL);
    return;
  }
  if (n < 0 || m->method) {
    /* behind bytes not yet delivered: keep the order */
    if (n < 0)
      m->rest_err = (int)n;
    else {
      if (m->method == SH_MSE_RC4)
        sh_rc4_crypt(&m->dec, m->hsbuf, m->hsbuf, (size_t)n);
      sh_buf_append(&m->rest, m->hsbuf, (size_t)n);
    }
    inner_read(m, 0);
    deliver(m);
    return;
  }
  if (n > 0)
    feed(m, m->hsbuf, (size_t)n);
}

static void in_on_connect(void *ud, int status)
{
  struct mse *m = ud;
  if (m->closing)
    return;
  if (status == 0) {
    m->t.flags = m->in->flags;
    sh_mse_hs_start(m->hs, &m->out);
    flush_out(m, 0); /* a failure shows in the first writev or read */
  }
  m->t.cb->on_connect(m->t.ud, status);
}

/* ---- life ---- */

static void free_mse(struct mse *m)
{
  if (m->hs) {
    sh_mse_hs_free(m->hs);
    free(m->hs);
  }
  sh_rc4_free(&m->enc);
  sh_rc4_free(&m->dec);
  sh_buf_free(&m->rest);
  sh_buf_free(&m->hold);
  sh_buf_free(&m->out);
  free(m);
}

static void handle_closed(struct mse *m)
{
  if (--m->open_handles)
    return;
  if (m->t.cb && m->t.cb->on_closed)
    m->t.cb->on_closed(m->t.ud);
  free_mse(m);
}

static void in_on_closed(void *ud) { handle_closed(ud); }

static void on_timer_closed(uv_handle_t *h) { handle_closed(h->data); }

static void mse_close(struct sh_transport *t)
{
  struct mse *m = mse_of(t);
  if (m->closing)
    return;
  m->closing = 1;
  uv_close((uv_handle_t *)&m->later, on_timer_closed);
  m->in->ops->close(m->in);
}

static int mse_read_start(struct sh_transport *t)
{
  struct mse *m = mse_of(t);
  if (m->closing)
    return 0;
  m->want_read = 1;
  if (m->rest_off < m->rest.len || m->rest_err) {
    later(m);
    return 0;
  }
  return inner_read(m, 1);
}

static void mse_read_stop(struct sh_transport *t)
{
  struct mse *m = mse_of(t);
  m->want_read = 0;
  inner_read(m, 0);
}

/* getrandom is atomic up to 256 bytes only; a signal may cut a longer read */
static int fill_random(uint8_t *p, size_t n)
{
  while (n) {
    ssize_t k = getrandom(p, n, 0);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

static struct mse *mse_new(struct sh_transport *inner, const struct sh_mse_opts *o,
                           const uint8_t *skey)
{
  struct mse *m = calloc(1, sizeof *m);
  struct sh_mse_hs *h = m ? calloc(1, sizeof *h) : NULL;
  uint8_t rnd[SH_MSE_RAND_LEN];
  if (!h || fill_random(rnd, sizeof rnd) < 0) {
    free(h);
    free(m);
    return NULL;
  }
  struct sh_mse_hs_cfg cfg = {
      .initiator = skey != NULL,
      .allow = o->policy == SH_MSE_REQUIRE ? SH_MSE_RC4 : SH_MSE_RC4 | SH_MSE_PLAIN,
      .prefer_plain = o->policy != SH_MSE_REQUIRE,
      .skey = skey,
      .find_skey = o->find_skey,
      .ud = o->ud};
  int rc = sh_mse_hs_init(h, &cfg, rnd);
  memset(rnd, 0, sizeof rnd);
  if (rc < 0) {
    sh_mse_hs_free(h);
    free(h);
    free(m);
    return NULL;
  }
  m->hs = h;
  m->in = inner;
  m->t.ops = &mse_ops;
  m->t.cb = inner->cb;
  m->t.ud = inner->ud;
  m->t.remote = inner->remote;
  m->t.flags = inner->flags;
  uv_timer_init(o->loop, &m->later);
  m->later.data = m;
  m->open_handles = 2;
  inner->cb = &inner_cb;
  inner->ud = m;
  return m;
}

int sh_mse_dial(struct sh_transport *inner, int connected, const uint8_t info_hash[20],
                const struct sh_mse_opts *o, struct sh_transport **out)
{
  struct mse *m = mse_new(inner, o, info_hash);
  if (!m)
    return -ENOMEM;
  if (connected) {
    sh_mse_hs_start(m->hs, &m->out);
    flush_out(m, 0);
  }
  *out = &m->t;
  return 0;
}

int sh_mse_accept(struct sh_transport *inner, const uint8_t *first, size_t n,
                  const struct sh_mse_opts *o, struct sh_transport **out, const char **why)
{
  const struct sh_transport_cb *cb = inner->cb;
  void *ud = inner->ud;
  struct mse *m = mse_new(inner, o, NULL);
  if (!m)
    return -ENOMEM;
  m->want_read = m->in_reading = 1;
  int rc = sh_mse_hs_feed(m->hs, first, n, &m->out);
  if (rc >= 0 && (rc = flush_out(m, 0)) == 0) {
    if (m->hs->method) /* cannot happen before our key went out; be safe */
      later(m);
    *out = &m->t;
    return 0;
  }
  /* give the inner transport back as it was */
  *why = rc == SH_EPROTO ? m->hs->why : "cannot write the encrypted handshake";
  inner->cb = cb;
  inner->ud = ud;
  m->in = NULL;
  m->t.cb = NULL; /* the owner hears nothing of this wrapper */
  m->open_handles = 1;
  m->closing = 1;
  uv_close((uv_handle_t *)&m->later, on_timer_closed);
  return rc;
}

uint32_t sh_mse_method(const struct sh_transport *t) { return mse_of(t)->method; }

const uint8_t *sh_mse_info_hash(const struct sh_transport *t) { return mse_of(t)->skey; }

const char *sh_mse_why(const struct sh_transport *t) { return mse_of(t)->why; }

static const struct sh_transport_cb inner_cb = {
    .alloc = in_alloc,
    .on_read = in_on_read,
    .on_writable = in_on_writable,
    .on_connect = in_on_connect,
    .on_closed = in_on_closed,
};

static const struct sh_transport_ops mse_ops = {
    .name = "mse",
    .read_start = mse_read_start,
    .read_stop = mse_read_stop,
    .writev = mse_writev,
    .sendfile = NULL, /* RC4 runs over memory */
    .poll_writable = mse_poll_writable,
    .close = mse_close,
};

static const struct sh_transport_ops plain_ops = {
    .name = "mse-header",
    .read_start = mse_read_start,
    .read_stop = mse_read_stop,
    .writev = mse_writev,
    .sendfile = NULL,
    .poll_writable = mse_poll_writable,
    .close = mse_close,
};

static const struct sh_transport_ops plain_sf_ops = {
    .name = "mse-header",
    .read_start = mse_read_start,
    .read_stop = mse_read_stop,
    .writev = mse_writev,
    .sendfile = mse_sendfile,
    .poll_writable = mse_poll_writable,
    .close = mse_close,
};
