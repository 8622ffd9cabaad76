/* uTP sending: packetizing writes, the ring of packets in flight, acks
 * (cumulative and selective), loss detection and retransmission, the RTT
 * and its timeout, LEDBAT, and MTU probes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "utp/utp_int.h"

static struct utp_out *slot(const struct sh_utp_conn *c, uint16_t seq)
{
  return &c->out[seq & (c->out_cap - 1)];
}

/* Packets sent and not yet cumulatively acked. */
static uint32_t outstanding(const struct sh_utp_conn *c)
{
  return (uint16_t)(c->seq_nr - c->acked - 1);
}

/* Makes the ring hold `need` packets from acked + 1 on. */
int sh_utp_ring_out(struct sh_utp_conn *c, uint32_t need)
{
  if (need <= c->out_cap)
    return 0;
  if (need > UTP_RING_MAX)
    return SH_ELIMIT;
  uint32_t cap = c->out_cap ? c->out_cap : UTP_RING_MIN;
  while (cap < need)
    cap *= 2;
  struct utp_out *r = calloc(cap, sizeof *r);
  if (!r)
    return -ENOMEM;
  for (uint16_t s = (uint16_t)(c->acked + 1); s != c->seq_nr; s++)
    r[s & (cap - 1)] = *slot(c, s);
  free(c->out);
  c->out = r;
  c->out_cap = cap;
  return 0;
}

void sh_utp_free_out(struct sh_utp_conn *c)
{
  for (uint32_t i = 0; i < c->out_cap; i++)
    if (c->out[i].buf)
      sh_utp_buf_put(c->u, c->out[i].buf);
  free(c->out);
  c->out = NULL;
  c->out_cap = 0;
}

static uint32_t window(const struct sh_utp_conn *c)
{
  uint32_t w = c->cwnd < c->peer_wnd ? c->cwnd : c->peer_wnd;
  return w < c->u->o.sndbuf ? w : c->u->o.sndbuf;
}

/* (Re)writes the header of packet seq and sends it. */
static void transmit(struct sh_utp_conn *c, uint16_t seq, uint64_t now)
{
  struct utp_out *o = slot(c, seq);
  struct sh_utp_hdr h = {
      .type = o->type,
      .ext = o->hdr > SH_UTP_HDR ? SH_UTP_EXT_PAD : 0,
      /* a SYN names the id we receive on; everything else the peer's */
      .conn_id = o->type == SH_UTP_SYN ? c->recv_id : c->send_id,
      .ts_us = sh_utp_now32(now),
      .ts_diff_us = c->reply_micro,
      .wnd = sh_utp_wnd(c),
      .seq = seq,
      .ack = o->type == SH_UTP_SYN ? 0 : c->ack_nr,
  };
  sh_utp_hdr_put(o->buf, &h);
  o->tx++;
  o->sent_us = now;
  if (o->tx > 1)
    c->u->st.resent++;
  if (!c->rto_at) {
    c->rto_at = now + c->rto_us;
    sh_utp_arm(c->u, c->rto_at);
  }
  /* the ack it carries is as good as a STATE, unless a selective ack is due */
  if (o->type != SH_UTP_SYN && c->ack_due && !sh_utp_seq_lt(c->ack_nr, c->in_hi)) {
    c->ack_due = 0;
    c->unacked = 0;
  }
  /* the packet stays in its buffer until acked: the caller may send from it */
  sh_utp_emit(c, o->buf, (size_t)o->hdr + o->payload, 1, now);
}

/* A packet without payload that takes a sequence number (SYN, FIN). */
static int send_control(struct sh_utp_conn *c, uint8_t type, uint64_t now)
{
  if (sh_utp_ring_out(c, outstanding(c) + 1) < 0)
    return -ENOMEM;
  uint8_t *b = sh_utp_buf_get(c->u, 1);
  if (!b)
    return -ENOMEM;
  uint16_t seq = c->seq_nr++;
  struct utp_out *o = slot(c, seq);
  *o = (struct utp_out){.buf = b, .hdr = SH_UTP_HDR, .type = type, .used = 1};
  transmit(c, seq, now);
  return 0;
}

void sh_utp_send_syn(struct sh_utp_conn *c, uint64_t now)
{
  send_control(c, SH_UTP_SYN, now);
}

void sh_utp_send_fin(struct sh_utp_conn *c, uint64_t now)
{
  c->fin_seq = c->seq_nr;
  if (send_control(c, SH_UTP_FIN, now) == 0)
    c->fin_sent = 1;
}

void sh_utp_send_reset(struct sh_utp *u, const struct sh_addr *to, uint16_t id, uint16_t seq,
                       uint16_t ack, uint64_t now)
{
  uint8_t p[SH_UTP_HDR];
  struct sh_utp_hdr h = {.type = SH_UTP_RESET, .conn_id = id, .ts_us = sh_utp_now32(now),
                         .seq = seq, .ack = ack};
  sh_utp_hdr_put(p, &h);
  u->st.out++;
  u->st.resets_out++;
  u->st.bytes_out += sizeof p;
  u->cb.send(u->ud, to, p, sizeof p, 0);
}

/* ---- writing ---- */

int sh_utp_can_write(const struct sh_utp_conn *c)
{
  if (c->state != UTP_CONNECTED || c->nlost)
    return 0;
  uint32_t full = (uint32_t)c->pkt - SH_UTP_HDR;
  return c->inflight + full <= window(c) || (c->force_one && !c->inflight);
}

/* Whether the next full packet should probe a larger size: when none is in
 * flight, the ceiling is some way off, and the window holds a few packets
 * around it (so its loss is told from congestion). */
static uint16_t probe_size(struct sh_utp_conn *c, uint64_t now)
{
  if (c->probing || c->pkt + 8 > c->pkt_ceil || c->cwnd < 4u * c->pkt || now < c->reprobe_us)
    return 0;
  return (uint16_t)((c->pkt + c->pkt_ceil + 1) / 2);
}

static void copy_iov(uint8_t *dst, const struct iovec *iov, int cnt, size_t *vi, size_t *vo,
                     size_t n)
{
  while (n) {
    const uint8_t *src = (const uint8_t *)iov[*vi].iov_base + *vo;
    size_t k = iov[*vi].iov_len - *vo;
    if (k > n)
      k = n;
    memcpy(dst, src, k);
    dst += k;
    n -= k;
    *vo += k;
    if (*vo == iov[*vi].iov_len && (int)*vi + 1 < cnt) {
      (*vi)++;
      *vo = 0;
    }
  }
}

/* One data packet of up to `left` bytes from the iovec, if the windows,
 * the ring and the pool allow. Returns its payload bytes, or 0. */
static size_t packetize(struct sh_utp_conn *c, const struct iovec *iov, int cnt, size_t *vi,
                        size_t *vo, size_t left, uint64_t now)
{
  size_t full = (size_t)c->pkt - SH_UTP_HDR;
  size_t plen = left < full ? left : full;
  int forced = c->force_one && !c->inflight;
  if (c->inflight + plen > window(c) && !forced)
    return 0;
  if (sh_utp_ring_out(c, outstanding(c) + 1) < 0)
    return 0;
  uint8_t *b = sh_utp_buf_get(c->u, 0);
  if (!b)
    return 0;
  c->force_one = 0;
  uint16_t probe = plen == full ? probe_size(c, now) : 0;
  size_t hdr = SH_UTP_HDR;
  if (probe) {
    /* pad to the probed size with one or more padding extensions */
    size_t pad = probe - c->pkt;
    uint8_t *p = b + SH_UTP_HDR;
    while (pad) {
      size_t body = pad - 2 > 255 ? 255 : pad - 2;
      if (pad - 2 - body == 1)
        body--; /* never leave a single byte: an extension takes two */
      pad -= 2 + body;
      p += sh_utp_ext_put(p, pad ? SH_UTP_EXT_PAD : 0, NULL, (uint8_t)body);
    }
    hdr = (size_t)(p - b);
  }
  copy_iov(b + hdr, iov, cnt, vi, vo, plen);
  uint16_t seq = c->seq_nr++;
  struct utp_out *o = slot(c, seq);
  *o = (struct utp_out){.buf = b, .payload = (uint16_t)plen, .hdr = (uint8_t)hdr,
                        .type = SH_UTP_DATA, .used = 1, .probe = !!probe};
  if (probe) {
    c->probing = 1;
    c->probe_seq = seq;
  }
  c->inflight += (uint32_t)plen;
  transmit(c, seq, now);
  return plen;
}

/* Nothing in flight and no room for a packet: the window is shut. A timer
 * lets one packet probe it (BEP 29's timeout rule), and how long it stays
 * shut is counted (utp.c gives up after UTP_ZERO_WND_US). */
static void shut_window(struct sh_utp_conn *c, uint64_t now)
{
  if (!c->want_write || outstanding(c) || (uint32_t)c->pkt - SH_UTP_HDR <= window(c))
    return;
  if (!c->zero_wnd_since)
    c->zero_wnd_since = now;
  if (!c->rto_at) {
    c->rto_at = now + c->rto_us;
    sh_utp_arm(c->u, c->rto_at);
  }
}

ssize_t sh_utp_write(struct sh_utp_conn *c, const struct iovec *iov, int cnt, uint64_t now)
{
  if (c->state == UTP_DEAD)
    return c->err ? c->err : -ECONNRESET;
  if (c->state != UTP_CONNECTED)
    return c->state == UTP_CLOSING ? -EPIPE : -ENOTCONN;
  size_t left = 0;
  for (int i = 0; i < cnt; i++)
    left += iov[i].iov_len;
  size_t vi = 0, vo = 0, took = 0;
  while (cnt && !iov[vi].iov_len && (int)vi + 1 < cnt)
    vi++;
  if (c->nlost)
    sh_utp_resend_lost(c, now);
  while (left && !c->nlost) {
    size_t n = packetize(c, iov, cnt, &vi, &vo, left, now);
    if (!n)
      break;
    took += n;
    left -= n;
  }
  if (left) {
    c->want_write = 1;
    shut_window(c, now);
  }
  return (ssize_t)took;
}

/* ---- acks ---- */

static void rtt_sample(struct sh_utp_conn *c, uint64_t sample)
{
  uint32_t s = sample > UTP_RTO_MAX_US ? UTP_RTO_MAX_US : (uint32_t)sample;
  if (!c->rtt_us) {
    c->rtt_us = s ? s : 1;
    c->rttvar_us = s / 2;
  } else {
    /* BEP 29: rtt_var += (|rtt - packet_rtt| - rtt_var) / 4;
     *         rtt += (packet_rtt - rtt) / 8 */
    int32_t delta = (int32_t)c->rtt_us - (int32_t)s;
    int32_t ad = delta < 0 ? -delta : delta;
    c->rttvar_us = (uint32_t)((int32_t)c->rttvar_us + (ad - (int32_t)c->rttvar_us) / 4);
    c->rtt_us = (uint32_t)((int32_t)c->rtt_us + ((int32_t)s - (int32_t)c->rtt_us) / 8);
  }
  uint32_t rto = c->rtt_us + 4 * c->rttvar_us;
  c->rto_us = rto < UTP_RTO_MIN_US ? UTP_RTO_MIN_US : rto;
}

/* Packet seq arrived (cumulatively or selectively acked). */
static void acked_one(struct sh_utp_conn *c, struct utp_out *o, uint16_t seq, uint64_t now,
                      uint32_t *bytes, uint64_t *min_rtt)
{
  if (o->lost)
    c->nlost--;
  else
    c->inflight -= o->payload;
  o->lost = 0;
  *bytes += o->payload;
  if (o->tx == 1) {
    uint64_t r = now - o->sent_us;
    rtt_sample(c, r);
    if (r < *min_rtt)
      *min_rtt = r;
  }
  if (o->probe && c->probing && seq == c->probe_seq) {
    /* the probe got through: packets of its size do */
    c->pkt = (uint16_t)(o->hdr + o->payload);
    c->probing = 0;
    if (c->pkt + 8 > c->pkt_ceil)
      c->reprobe_us = now + UTP_REPROBE_US;
  }
  sh_utp_buf_put(c->u, o->buf);
  o->buf = NULL;
}

/* The probe was lost: the path does not carry its size. It goes again
 * without its padding, as the ordinary packet it also is. */
static void probe_lost(struct sh_utp_conn *c, struct utp_out *o, uint64_t now)
{
  c->pkt_ceil = (uint16_t)(o->hdr + o->payload - 1);
  memmove(o->buf + SH_UTP_HDR, o->buf + o->hdr, o->payload);
  o->hdr = SH_UTP_HDR;
  o->probe = 0;
  c->probing = 0;
  if (c->pkt + 8 > c->pkt_ceil)
    c->reprobe_us = now + UTP_REPROBE_US;
}

/* Marks packet seq lost; the first loss in a window halves it (BEP 29:
 * max_window * 0.5, like TCP), a lost probe does not. */
static void mark_lost(struct sh_utp_conn *c, struct utp_out *o, uint16_t seq, uint64_t now,
                      int timeout)
{
  o->lost = 1;
  c->nlost++;
  c->inflight -= o->payload;
  if (o->probe) {
    probe_lost(c, o, now);
    return;
  }
  if (timeout || !sh_utp_seq_lt(c->loss_seq, seq))
    return;
  c->u->st.fast_resends++;
  uint32_t w = c->cwnd / 2;
  c->cwnd = w > c->pkt ? w : c->pkt;
  c->ssthresh = c->cwnd;
  c->slow_start = 0;
  c->loss_seq = (uint16_t)(c->seq_nr - 1);
}

/* A packet may be called lost again only a round trip after it was sent. */
static int may_lose(const struct sh_utp_conn *c, const struct utp_out *o, uint64_t now)
{
  return o->used && o->buf && !o->sacked && !o->lost && o->type == SH_UTP_DATA &&
         (o->tx == 1 || now - o->sent_us >= c->rtt_us);
}

static void sack(struct sh_utp_conn *c, const struct sh_utp_pkt *pk, uint64_t now,
                 uint32_t *bytes, uint64_t *min_rtt)
{
  uint16_t hi = c->acked;
  for (size_t i = 0; i < pk->sack_len * 8; i++) {
    if (!(pk->sack[i / 8] >> (i % 8) & 1))
      continue;
    uint16_t s = (uint16_t)(pk->h.ack + 2 + i);
    if (!sh_utp_seq_lt(c->acked, s) || !sh_utp_seq_lt(s, c->seq_nr))
      continue;
    struct utp_out *o = slot(c, s);
    hi = s;
    if (!o->used || o->sacked)
      continue;
    o->sacked = 1;
    if (o->buf)
      acked_one(c, o, s, now, bytes, min_rtt);
  }
  /* BEP 29: a packet with three or more packets acked after it is lost */
  int after = 0;
  for (uint16_t s = hi; s != c->acked; s--) {
    struct utp_out *o = slot(c, s);
    if (o->used && o->sacked)
      after++;
    else if (after >= UTP_DUP_ACKS && may_lose(c, o, now))
      mark_lost(c, o, s, now, 0);
  }
}

static void delay_sample(struct sh_utp_conn *c, uint32_t s, uint64_t now)
{
  if (!(c->base_valid & 1) || now - c->base_minute >= 60000000u) {
    /* a new minute: the base is the least of this one and the last */
    c->base_min[1] = c->base_min[0];
    c->base_valid = (uint8_t)((c->base_valid & 1) << 1 | 1);
    c->base_min[0] = s;
    c->base_minute = now;
  } else if ((int32_t)(s - c->base_min[0]) < 0) {
    c->base_min[0] = s;
  }
  c->cur[c->icur] = s;
  c->icur = (uint8_t)((c->icur + 1) % 3);
  if (c->ncur < 3)
    c->ncur++;
}

uint32_t sh_utp_base_delay(const struct sh_utp_conn *c)
{
  uint32_t base = c->base_min[0];
  if (c->base_valid & 2 && (int32_t)(c->base_min[1] - base) < 0)
    base = c->base_min[1];
  return base;
}

/* The queueing delay: the least of the last three samples over the base. */
uint32_t sh_utp_our_delay(const struct sh_utp_conn *c)
{
  uint32_t base = sh_utp_base_delay(c);
  uint32_t m = c->cur[0];
  for (int i = 1; i < c->ncur; i++)
    if ((int32_t)(c->cur[i] - m) < 0)
      m = c->cur[i];
  int32_t d = (int32_t)(m - base);
  return d > 0 ? (uint32_t)d : 0;
}

/* LEDBAT (BEP 29): the window grows by up to UTP_GAIN_BYTES a round trip,
 * scaled by how far below the target the queueing delay is, and shrinks
 * as far above it; in slow start it grows by the bytes acked (doubling a
 * round trip) until the delay reaches the target or a loss. */
static void ledbat(struct sh_utp_conn *c, uint32_t bytes, uint32_t delay, uint32_t before)
{
  int64_t target = c->u->o.target_us ? c->u->o.target_us : 1;
  int64_t off = target - (int64_t)delay;
  int64_t gain = (int64_t)UTP_GAIN_BYTES * off / target * bytes / (before ? before : 1);
  if (delay >= target && c->slow_start) {
    c->ssthresh = c->cwnd / 2;
    c->slow_start = 0;
  }
  /* a window the writer does not fill says nothing about the path */
  int saturated = before + c->pkt > c->cwnd;
  if (!saturated && gain > 0)
    gain = 0;
  else if (c->slow_start && saturated) {
    if (c->ssthresh && c->cwnd + bytes > c->ssthresh)
      c->slow_start = 0;
    else if ((int64_t)bytes > gain)
      gain = bytes;
  }
  int64_t w = (int64_t)c->cwnd + gain;
  int64_t hi = c->u->o.sndbuf;
  if (w < c->pkt)
    w = c->pkt;
  c->cwnd = (uint32_t)(w > hi ? hi : w);
}

void sh_utp_on_ack(struct sh_utp_conn *c, const struct sh_utp_pkt *pk, uint64_t now)
{
  uint32_t bytes = 0, before = c->inflight;
  uint64_t min_rtt = UINT64_MAX;
  int progress = 0;
  if (sh_utp_seq_lt(c->acked, pk->h.ack)) {
    for (uint16_t s = (uint16_t)(c->acked + 1); s != (uint16_t)(pk->h.ack + 1); s++) {
      struct utp_out *o = slot(c, s);
      if (o->buf)
        acked_one(c, o, s, now, &bytes, &min_rtt);
      *o = (struct utp_out){0};
    }
    c->acked = pk->h.ack;
    progress = 1;
    c->dup_acks = 0;
  } else if (pk->h.ack == c->acked && pk->h.type == SH_UTP_STATE && outstanding(c) &&
             !pk->len) {
    c->dup_acks++;
  }
  if (pk->sack)
    sack(c, pk, now, &bytes, &min_rtt);
  if (c->dup_acks >= UTP_DUP_ACKS) {
    c->dup_acks = 0;
    uint16_t s = (uint16_t)(c->acked + 1);
    struct utp_out *o = slot(c, s);
    if (outstanding(c) && may_lose(c, o, now))
      mark_lost(c, o, s, now, 0);
  }
  if (progress || bytes) {
    c->ntimeouts = 0;
    c->rto_at = outstanding(c) ? now + c->rto_us : 0;
    sh_utp_arm(c->u, c->rto_at);
  }
  uint32_t s = pk->h.ts_diff_us;
  if (s && s != 0x7fffffffu) /* uTorrent once sent INT_MAX for "none" */
    delay_sample(c, s, now);
  if (bytes && before) {
    /* no sample yet (or a peer that never sends one): no queueing seen,
     * so the window grows as TCP's would and losses alone shrink it */
    uint32_t d = c->ncur ? sh_utp_our_delay(c) : 0;
    /* a one-way delay cannot exceed the round trip */
    if (min_rtt != UINT64_MAX && d > min_rtt)
      d = (uint32_t)min_rtt;
    ledbat(c, bytes, d, before);
  }
  if (c->peer_wnd >= c->pkt)
    c->zero_wnd_since = 0;
  if (c->nlost)
    sh_utp_resend_lost(c, now);
  if (c->want_write && sh_utp_can_write(c))
    sh_utp_list(c);
  shut_window(c, now);
}

void sh_utp_resend_lost(struct sh_utp_conn *c, uint64_t now)
{
  for (uint16_t s = (uint16_t)(c->acked + 1); c->nlost && s != c->seq_nr; s++) {
    struct utp_out *o = slot(c, s);
    if (!o->used || !o->lost)
      continue;
    if (c->inflight && c->inflight + o->payload > window(c))
      return;
    o->lost = 0;
    c->nlost--;
    c->inflight += o->payload;
    transmit(c, s, now);
  }
}

void sh_utp_on_timeout(struct sh_utp_conn *c, uint64_t now)
{
  struct sh_utp *u = c->u;
  c->rto_at = 0;
  if (!outstanding(c)) {
    /* a shut window: let one packet through to learn if it opened */
    if (c->want_write && c->ud) {
      c->force_one = 1;
      sh_utp_list(c);
    }
    return;
  }
  u->st.timeouts++;
  c->ntimeouts++;
  sh_debug("uTP: timeout %d (state %d): %u packets out, %u bytes in flight, window %u, "
           "peer window %u, rto %u us", c->ntimeouts, c->state, outstanding(c), c->inflight,
           c->cwnd, c->peer_wnd, c->rto_us);
  if (c->state == UTP_SYN_SENT ? c->ntimeouts >= UTP_SYN_TRIES
                               : c->ntimeouts > UTP_MAX_TIMEOUTS) {
    sh_debug("uTP: %d timeouts in a row: giving up", c->ntimeouts);
    if (c->state == UTP_CLOSING)
      sh_utp_conn_drop(c);
    else
      sh_utp_error(c, -ETIMEDOUT);
    return;
  }
  /* BEP 29: back to one packet, and the timeout doubles */
  c->loss_seq = (uint16_t)(c->seq_nr - 1);
  uint32_t half = c->cwnd / 2;
  c->ssthresh = half > 2u * c->pkt ? half : 2u * c->pkt;
  c->cwnd = c->pkt;
  c->slow_start = 1;
  for (uint16_t s = (uint16_t)(c->acked + 1); s != c->seq_nr; s++) {
    struct utp_out *o = slot(c, s);
    if (o->used && o->buf && !o->sacked && !o->lost)
      mark_lost(c, o, s, now, 1);
  }
  uint64_t rto = (uint64_t)c->rto_us * 2;
  c->rto_us = rto > UTP_RTO_MAX_US ? UTP_RTO_MAX_US : (uint32_t)rto;
  sh_utp_resend_lost(c, now);
  if (!c->rto_at) {
    c->rto_at = now + c->rto_us;
    sh_utp_arm(u, c->rto_at);
  }
}
