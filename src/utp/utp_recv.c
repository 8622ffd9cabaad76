/* uTP receiving: data in order straight to the reader, the rest held by
 * sequence number until it can be read, acks (with a selective ack when
 * packets are missing), the peer's FIN. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "utp/utp_int.h"

static struct utp_in *slot(const struct sh_utp_conn *c, uint16_t seq)
{
  return &c->in[seq & (c->in_cap - 1)];
}

/* Makes the ring hold packets rd_seq .. rd_seq + need - 1. */
static int ring_in(struct sh_utp_conn *c, uint32_t need)
{
  if (need <= c->in_cap)
    return 0;
  if (need > UTP_RING_MAX)
    return SH_ELIMIT;
  uint32_t cap = c->in_cap ? c->in_cap : UTP_RING_MIN;
  while (cap < need)
    cap *= 2;
  struct utp_in *r = calloc(cap, sizeof *r);
  if (!r)
    return -ENOMEM;
  for (uint32_t i = 0; i < c->in_cap; i++) {
    uint16_t s = (uint16_t)(c->rd_seq + i);
    r[s & (cap - 1)] = *slot(c, s);
  }
  free(c->in);
  c->in = r;
  c->in_cap = cap;
  return 0;
}

void sh_utp_free_in(struct sh_utp_conn *c)
{
  for (uint32_t i = 0; i < c->in_cap; i++)
    if (c->in[i].buf)
      sh_utp_buf_put(c->u, c->in[i].buf);
  free(c->in);
  c->in = NULL;
  c->in_cap = 0;
}

/* Keeps a packet's bytes until they can be read. force: the reader took
 * part of an in-order packet already, so the rest must be kept whatever the
 * budget says (at most one packet over it per connection). */
static int hold(struct sh_utp_conn *c, uint16_t seq, const uint8_t *p, size_t n, int fin,
                int force)
{
  if (ring_in(c, (uint16_t)(seq - c->rd_seq) + 1u) < 0)
    return -1;
  if (!force && c->held + n > c->u->o.rcvbuf + UTP_BUF)
    return -1; /* beyond the window we advertised */
  uint8_t *b = NULL;
  if (n) {
    if (n > UTP_BUF || !(b = sh_utp_buf_get(c->u, force)))
      return -1;
    memcpy(b, p, n);
  }
  *slot(c, seq) = (struct utp_in){.buf = b, .len = (uint16_t)n, .present = 1, .fin = (uint8_t)fin};
  c->held += (uint32_t)n;
  return 0;
}

/* Offers held data in order; stops when the reader takes less. */
static void deliver(struct sh_utp_conn *c)
{
  struct sh_utp *u = c->u;
  while (c->ud && c->reading && sh_utp_seq_lt(c->rd_seq, (uint16_t)(c->ack_nr + 1))) {
    struct utp_in *in = slot(c, c->rd_seq);
    if (in->fin || !in->present)
      return;
    if (in->off < in->len) {
      size_t took = u->cb.on_data(c->ud, in->buf + in->off, (size_t)(in->len - in->off));
      if (c->reaped)
        return;
      in = slot(c, c->rd_seq); /* the callback may have grown the ring */
      in->off = (uint16_t)(in->off + took);
      c->held -= (uint32_t)took;
      if (in->off < in->len)
        return;
    }
    if (in->buf)
      sh_utp_buf_put(u, in->buf);
    *in = (struct utp_in){0};
    c->rd_seq++;
  }
}

void sh_utp_check_eof(struct sh_utp_conn *c)
{
  deliver(c);
  if (c->reaped || !c->ud || !c->got_fin || c->eof_cb)
    return;
  /* everything before the FIN arrived and was read */
  if (c->ack_nr == c->eof_seq && c->rd_seq == c->eof_seq && !c->held) {
    c->eof_cb = 1;
    if (!c->error_cb) {
      c->error_cb = 1;
      c->u->cb.on_error(c->ud, SH_ECLOSED);
    }
  }
}

/* Moves ack_nr over the packets already held after it. */
static void advance(struct sh_utp_conn *c)
{
  while (c->in_cap && sh_utp_seq_lt(c->ack_nr, c->in_hi) &&
         (uint16_t)(c->ack_nr + 1 - c->rd_seq) < c->in_cap &&
         slot(c, (uint16_t)(c->ack_nr + 1))->present)
    c->ack_nr++;
  if (sh_utp_seq_lt(c->in_hi, c->ack_nr))
    c->in_hi = c->ack_nr;
}

/* An in-order data packet: to the reader at once when nothing is held
 * before it, else held. Returns -1 when it could not be kept. */
static int in_order(struct sh_utp_conn *c, uint16_t seq, const uint8_t *p, size_t n)
{
  struct sh_utp *u = c->u;
  if (c->rd_seq == seq && c->reading && c->ud) {
    size_t took = u->cb.on_data(c->ud, p, n);
    if (c->reaped)
      return 0;
    if (took < n && hold(c, seq, p + took, n - took, 0, 1) < 0) {
      /* the reader has part of it; the rest cannot be kept: over */
      sh_utp_error(c, -ENOMEM);
      return 0;
    }
    if (took == n)
      c->rd_seq = (uint16_t)(seq + 1);
    return 0;
  }
  return hold(c, seq, p, n, 0, 0);
}

void sh_utp_on_data(struct sh_utp_conn *c, const struct sh_utp_pkt *pk, uint64_t now)
{
  struct sh_utp *u = c->u;
  uint16_t seq = pk->h.seq;
  int fin = pk->h.type == SH_UTP_FIN;
  /* FIN takes no payload (BEP 29); one that carries some is read as a FIN */
  size_t n = fin ? 0 : pk->len;
  if (c->got_fin && sh_utp_seq_lt(c->eof_seq, seq))
    return; /* nothing comes after the FIN */
  c->ack_due = 1;
  sh_utp_list(c);
  if (!sh_utp_seq_lt(c->ack_nr, seq))
    return; /* a duplicate: our ack was lost, the ack above answers it */
  if ((uint16_t)(seq - c->rd_seq) >= UTP_RING_MAX) {
    u->st.dropped_window++;
    sh_debug("uTP: sequence number %u far out of the window (reading %u): dropped", seq,
             c->rd_seq);
    return;
  }
  if (fin && !c->got_fin) {
    c->got_fin = 1;
    c->eof_seq = seq;
  }
  if (seq == (uint16_t)(c->ack_nr + 1)) {
    int rc = fin ? hold(c, seq, NULL, 0, 1, 1) : in_order(c, seq, pk->payload, n);
    if (c->reaped || c->state == UTP_DEAD)
      return;
    if (rc < 0) {
      u->st.dropped_window++;
      return; /* not acked: it comes again */
    }
    c->ack_nr = seq;
    advance(c);
  } else {
    if (c->in_cap && (uint16_t)(seq - c->rd_seq) < c->in_cap && slot(c, seq)->present)
      return; /* held already */
    if (hold(c, seq, pk->payload, n, fin, 0) < 0) {
      u->st.dropped_window++;
      return;
    }
    if (sh_utp_seq_lt(c->in_hi, seq))
      c->in_hi = seq;
  }
  c->unacked += (uint32_t)n;
  if (c->unacked >= UTP_ACK_BYTES)
    sh_utp_send_state(c, now, 0);
  sh_utp_check_eof(c);
}

/* A STATE: our ack (with a selective ack of what is held past a hole), or
 * with keepalive an ack one behind, which the peer ignores (it is older
 * than what it has) but which keeps a NAT's mapping open. */
void sh_utp_send_state(struct sh_utp_conn *c, uint64_t now, int keepalive)
{
  uint8_t p[SH_UTP_HDR + 2 + SH_UTP_SACK_MAX];
  size_t n = SH_UTP_HDR;
  uint8_t ext = 0;
  if (!keepalive && sh_utp_seq_lt(c->ack_nr, c->in_hi) && c->in_cap) {
    /* bit i: packet ack_nr + 2 + i (BEP 29) */
    uint32_t span = (uint16_t)(c->in_hi - c->ack_nr - 1);
    size_t len = (span + 31) / 32 * 4;
    if (len > SH_UTP_SACK_MAX)
      len = SH_UTP_SACK_MAX;
    uint8_t *m = p + SH_UTP_HDR + 2;
    memset(m, 0, len);
    for (uint32_t i = 0; i < len * 8; i++) {
      uint16_t s = (uint16_t)(c->ack_nr + 2 + i);
      if ((uint16_t)(s - c->rd_seq) < c->in_cap && slot(c, s)->present)
        m[i / 8] |= (uint8_t)(1u << (i % 8));
    }
    ext = SH_UTP_EXT_SACK;
    n += sh_utp_ext_put(p + SH_UTP_HDR, 0, m, (uint8_t)len);
  }
  struct sh_utp_hdr h = {.type = SH_UTP_STATE, .ext = ext, .conn_id = c->send_id,
                         .ts_us = sh_utp_now32(now), .ts_diff_us = c->reply_micro,
                         .wnd = sh_utp_wnd(c), .seq = c->seq_nr,
                         .ack = keepalive ? (uint16_t)(c->ack_nr - 1) : c->ack_nr};
  sh_utp_hdr_put(p, &h);
  if (!keepalive) {
    c->ack_due = 0;
    c->unacked = 0;
  }
  sh_utp_emit(c, p, n, 0, now);
}
