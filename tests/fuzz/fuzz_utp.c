/* libFuzzer target: the uTP core's packet handler. An endpoint dials a
 * peer whose every packet comes from the fuzzer: records of [ctl][len]
 * then len packet bytes. ctl can patch the packet so it reaches the
 * connection (its receive id, an ack of our last packet, the next
 * sequence number it expects), send it from another address, let time
 * pass and run the timers, write, stop or start reading, or close.
 * Invariants: nothing crashes or leaks, the packet buffers stay within the
 * budget, connections and half-open connections within their caps, every
 * packet the endpoint sends parses, and bytes reach the reader in order
 * (the reader checks they are what the peer's in-order packets carried
 * when the test sends them in order itself). */
#include <stdlib.h>
#include <string.h>

#include "utp/utp_int.h"

static struct sh_utp *ep;
static struct sh_utp_conn *conn;
static int adopted;
static uint64_t now;
static size_t read_bytes;

static void on_send(void *ud, const struct sh_addr *to, const uint8_t *p, size_t n, int stable)
{
  struct sh_utp_pkt pk;
  /* a stable packet is a data packet (or SYN/FIN) in one of our buffers */
  if (stable && n > UTP_BUF)
    abort();
  const char *why;
  if (sh_utp_pkt_parse(p, n, &pk, &why) < 0 || n > UTP_BUF)
    abort();
}

static void on_accept(void *ud, struct sh_utp_conn *c)
{
  if (adopted++ & 1)
    sh_utp_set_ud(c, &adopted); /* every other one is taken, then closed at once */
}

static void on_connect(void *cud) {}
static size_t on_data(void *cud, const uint8_t *p, size_t n)
{
  if (cud == &conn) {
    read_bytes += n;
    return n;
  }
  if (cud == &adopted) {
    /* an accepted connection: read half, leave the rest held */
    return n / 2;
  }
  abort();
}
static void on_writable(void *cud) {}
static void on_error(void *cud, int err)
{
  if (cud == &conn)
    conn = NULL; /* over: closed below */
}

static const struct sh_utp_cb cb = {on_send, on_accept, on_connect, on_data, on_writable,
                                    on_error};

static void check(void)
{
  struct sh_utp_stats st;
  sh_utp_stats(ep, &st);
  if (st.conns > ep->o.max_conns || st.half_open > ep->o.max_half_open)
    abort();
  /* the budget, plus one forced buffer per connection and its block */
  if (st.mem_bytes > ep->o.mem_max + (st.conns + 2) * (size_t)UTP_POOL_BLOCK * UTP_BUF)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct sh_utp_opts o;
  sh_utp_opts_default(&o);
  o.max_half_open = 4;
  o.max_conns = 16;
  o.mem_max = 256 * UTP_BUF;
  o.rcvbuf = 64 * 1024;
  o.seed = 1;
  if (sh_utp_new(&o, &cb, NULL, &ep) < 0)
    return 0;
  now = 1000000;
  adopted = 0;
  read_bytes = 0;
  struct sh_addr peer = {.family = 4, .ip = {10, 0, 0, 2}, .port = 6881};
  struct sh_addr other = {.family = 6, .ip = {0x20, 0x01, 0xd, 0xb8, [15] = 7}, .port = 1};
  struct sh_utp_conn *mine = NULL;
  if (sh_utp_connect(ep, &peer, &conn, now, &mine) < 0)
    abort();
  struct sh_utp_conn *held = mine; /* still ours to close */
  static uint8_t wbuf[3000];
  size_t off = 0;
  while (off + 2 <= size) {
    uint8_t ctl = data[off], len = data[off + 1];
    off += 2;
    size_t n = size - off < len ? size - off : len;
    uint8_t p[256];
    memcpy(p, data + off, n);
    off += n;
    if (held && !held->reaped && n >= 20) {
      if (ctl & 1)
        sh_utp_wr16(p + 2, (ctl & 2) ? held->send_id : held->recv_id);
      if (ctl & 4)
        sh_utp_wr16(p + 18, (uint16_t)(held->seq_nr - 1));
      if (ctl & 8)
        sh_utp_wr16(p + 16, (uint16_t)(held->ack_nr + 1));
    }
    sh_utp_input(ep, p, n, (ctl & 16) ? &other : &peer, now);
    if (ctl & 32) {
      now += (uint64_t)len * 10000;
      sh_utp_tick(ep, now);
    }
    if (held && conn && (ctl & 64)) {
      struct iovec v = {wbuf, (size_t)len * 12};
      sh_utp_write(held, &v, 1, now);
    }
    if (held && (ctl & 128)) {
      if (len & 1) {
        sh_utp_set_reading(held, len & 2);
        if (conn && (len & 2))
          sh_utp_deliver(held, now);
      } else {
        sh_utp_close(held, len & 4, now);
        held = NULL;
        conn = NULL;
      }
    }
    if (held && !conn && !held->reaped && held->state == UTP_DEAD) {
      sh_utp_close(held, 0, now);
      held = NULL;
    }
    sh_utp_flush(ep, now);
    check();
  }
  /* accepted connections were adopted with a pointer of ours: close them */
  for (size_t i = ep->nconns; i-- > 0;)
    if (i < ep->nconns && ep->conns[i]->ud == &adopted)
      sh_utp_close(ep->conns[i], 0, now);
  now += 100000000;
  sh_utp_tick(ep, now);
  check();
  sh_utp_free(ep);
  ep = NULL;
  conn = NULL;
  return 0;
}
