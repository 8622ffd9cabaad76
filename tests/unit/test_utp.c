/* The uTP core packet by packet: each packet type it writes checked byte
 * for byte through a connection's life (SYN, STATE, DATA, FIN, RESET,
 * keep-alive, MTU probe), and what it does with bad input: unknown
 * connection ids, acks of packets never sent, sequence numbers far out of
 * the window, a flood of SYNs, a window that never opens, RESETs, SYNs
 * nobody answers. Two endpoints, A (0) and B (1); the test carries each
 * packet from one to the other by hand, on a clock it sets. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "utp/utp.h"
#include "utp/utp_pkt.h"

#define NCAP 8192

struct cap {
  uint8_t p[2048];
  size_t n;
  struct sh_addr to;
};

struct app {
  struct sh_utp_conn *c;
  int connected, got_err, err, writable;
  uint8_t data[1 << 16];
  size_t got;
  size_t take;     /* most bytes on_data takes per call; 0: all */
  int refuse;      /* accept: leave the connection */
};

static struct cap *out[2];
static size_t nout[2], sent_pos[2];
static struct sh_utp *ep[2];
static struct app app[2];
static struct sh_addr addr[2];
static uint64_t now = 5000000;
static int sides[2] = {0, 1};

static void on_send(void *ud, const struct sh_addr *to, const uint8_t *p, size_t n, int stable)
{
  int i = *(int *)ud;
  cr_assert_lt(nout[i], NCAP);
  cr_assert_leq(n, sizeof out[i][0].p);
  memcpy(out[i][nout[i]].p, p, n);
  out[i][nout[i]].n = n;
  out[i][nout[i]].to = *to;
  nout[i]++;
}

static void on_accept(void *ud, struct sh_utp_conn *c)
{
  int i = *(int *)ud;
  if (app[i].refuse)
    return;
  app[i].c = c;
  app[i].connected = 1;
  sh_utp_set_ud(c, &app[i]);
}

static void on_connect(void *cud) { ((struct app *)cud)->connected = 1; }

static size_t on_data(void *cud, const uint8_t *p, size_t n)
{
  struct app *a = cud;
  if (a->take && n > a->take)
    n = a->take;
  if (a->got + n > sizeof a->data)
    n = sizeof a->data - a->got;
  memcpy(a->data + a->got, p, n);
  a->got += n;
  return n;
}

static void on_writable(void *cud) { ((struct app *)cud)->writable++; }

static void on_error(void *cud, int err)
{
  struct app *a = cud;
  a->got_err++;
  a->err = err;
}

static const struct sh_utp_cb cb = {on_send, on_accept, on_connect, on_data, on_writable, on_error};

static void setup(void)
{
  memset(app, 0, sizeof app);
  for (int i = 0; i < 2; i++) {
    out[i] = calloc(NCAP, sizeof *out[i]);
    nout[i] = sent_pos[i] = 0;
    struct sh_utp_opts o;
    sh_utp_opts_default(&o);
    o.seed = 1000u + (unsigned)i;
    o.max_half_open = 8;
    o.rcvbuf = 64 * 1024;
    cr_assert_eq(sh_utp_new(&o, &cb, &sides[i], &ep[i]), 0);
    addr[i] = (struct sh_addr){.family = 4, .ip = {192, 168, 1, (uint8_t)(10 + i)},
                               .port = (uint16_t)(50000 + i)};
  }
  now = 5000000;
}

static void teardown(void)
{
  for (int i = 0; i < 2; i++) {
    sh_utp_free(ep[i]);
    free(out[i]);
  }
}

TestSuite(utp, .init = setup, .fini = teardown);

/* The packets side i sent since the last call: carried to the other side. */
static void carry(int i)
{
  while (sent_pos[i] < nout[i]) {
    struct cap *k = &out[i][sent_pos[i]++];
    sh_utp_input(ep[1 - i], k->p, k->n, &addr[i], now);
  }
  sh_utp_flush(ep[1 - i], now);
}

static void carry_both(void)
{
  for (int r = 0; r < 8 && (sent_pos[0] < nout[0] || sent_pos[1] < nout[1]); r++) {
    carry(0);
    carry(1);
  }
}

/* Drops side i's unsent packets. */
static void lose(int i) { sent_pos[i] = nout[i]; }

static struct sh_utp_pkt parse_last(int i)
{
  struct sh_utp_pkt pk;
  const char *why = NULL;
  cr_assert_gt(nout[i], 0);
  cr_assert_eq(sh_utp_pkt_parse(out[i][nout[i] - 1].p, out[i][nout[i] - 1].n, &pk, &why), 0,
               "%s", why);
  return pk;
}

static void connect_ab(void)
{
  cr_assert_eq(sh_utp_connect(ep[0], &addr[1], &app[0], now, &app[0].c), 0);
  carry(0);
  now += 20000;
  carry(1);
  cr_assert(app[0].connected);
}

static ssize_t write_str(int i, const char *s)
{
  struct iovec v = {(void *)s, strlen(s)};
  return sh_utp_write(app[i].c, &v, 1, now);
}

Test(utp, connection_byte_for_byte)
{
  cr_assert_eq(sh_utp_connect(ep[0], &addr[1], &app[0], now, &app[0].c), 0);
  /* SYN: type 4, our receive id, our first seq_nr, no ack, no delay yet */
  cr_assert_eq(nout[0], 1);
  const uint8_t *syn = out[0][0].p;
  cr_assert_eq(out[0][0].n, 20);
  cr_assert(sh_addr_eq(&out[0][0].to, &addr[1]));
  uint16_t rid = sh_utp_rd16(syn + 2), seq = sh_utp_rd16(syn + 16);
  uint8_t want[20] = {0x41, 0x00};
  sh_utp_wr16(want + 2, rid);
  sh_utp_wr32(want + 4, (uint32_t)now);
  sh_utp_wr32(want + 12, 64 * 1024);
  sh_utp_wr16(want + 16, seq);
  cr_assert_arr_eq(syn, want, 20);

  /* B answers with a STATE: the same id, its own seq_nr (not used up),
   * ack = the SYN's seq_nr, and its first delay sample (20 ms) */
  now += 20000;
  carry(0);
  cr_assert_eq(nout[1], 1);
  const uint8_t *st = out[1][0].p;
  uint16_t bseq = sh_utp_rd16(st + 16);
  memset(want, 0, sizeof want);
  want[0] = 0x21;
  sh_utp_wr16(want + 2, rid);
  sh_utp_wr32(want + 4, (uint32_t)now);
  sh_utp_wr32(want + 8, 20000);
  sh_utp_wr32(want + 12, 64 * 1024);
  sh_utp_wr16(want + 16, bseq);
  sh_utp_wr16(want + 18, seq);
  cr_assert_arr_eq(st, want, 20);
  cr_assert_null(app[1].c, "not accepted before its first data");

  /* A is connected; its DATA uses the send id (rid + 1), the next seq_nr,
   * and acks bseq - 1 (a STATE's seq_nr is the next one) */
  now += 20000;
  carry(1);
  cr_assert(app[0].connected);
  cr_assert_eq(write_str(0, "hello"), 5);
  cr_assert_eq(out[0][1].n, 25);
  const uint8_t *d = out[0][1].p;
  memset(want, 0, sizeof want);
  want[0] = 0x01;
  sh_utp_wr16(want + 2, (uint16_t)(rid + 1));
  sh_utp_wr32(want + 4, (uint32_t)now);
  sh_utp_wr32(want + 8, 20000);
  sh_utp_wr32(want + 12, 64 * 1024);
  sh_utp_wr16(want + 16, (uint16_t)(seq + 1));
  sh_utp_wr16(want + 18, (uint16_t)(bseq - 1));
  cr_assert_arr_eq(d, want, 20);
  cr_assert_eq(memcmp(d + 20, "hello", 5), 0);

  /* B accepts on the data and reads it; its ack goes out at the flush */
  now += 20000;
  carry(0);
  cr_assert_not_null(app[1].c);
  cr_assert_eq(app[1].got, 5);
  cr_assert_eq(memcmp(app[1].data, "hello", 5), 0);
  struct sh_utp_pkt pk = parse_last(1);
  cr_assert_eq(pk.h.type, SH_UTP_STATE);
  cr_assert_eq(pk.h.ack, (uint16_t)(seq + 1));
  cr_assert_eq(pk.h.seq, bseq);
  cr_assert_eq(pk.h.conn_id, rid);

  /* B's data: seq_nr bseq, acking A's data */
  cr_assert_eq(write_str(1, "world!"), 6);
  pk = parse_last(1);
  cr_assert_eq(pk.h.type, SH_UTP_DATA);
  cr_assert_eq(pk.h.seq, bseq);
  cr_assert_eq(pk.h.ack, (uint16_t)(seq + 1));
  cr_assert_eq(pk.len, 6);
  carry(1);
  cr_assert_eq(app[0].got, 6);

  /* A closes: FIN (type 1) at the next seq_nr; B reads the end of stream */
  sh_utp_close(app[0].c, 0, now);
  pk = parse_last(0);
  cr_assert_eq(pk.h.type, SH_UTP_FIN);
  cr_assert_eq(out[0][nout[0] - 1].p[0], 0x11);
  cr_assert_eq(pk.h.seq, (uint16_t)(seq + 2));
  cr_assert_eq(pk.h.conn_id, (uint16_t)(rid + 1));
  cr_assert_eq(pk.len, 0);
  carry(0);
  cr_assert_eq(app[1].got_err, 1);
  cr_assert_eq(app[1].err, SH_ECLOSED);
  pk = parse_last(1);
  cr_assert_eq(pk.h.type, SH_UTP_STATE);
  cr_assert_eq(pk.h.ack, (uint16_t)(seq + 2), "the FIN is acked");
  /* A's side is gone once its FIN is acked */
  carry(1);
  struct sh_utp_stats s0;
  sh_utp_stats(ep[0], &s0);
  cr_assert_eq(s0.conns, 0);
  /* B closes too: its FIN gets a RESET from A, who forgot the connection */
  sh_utp_close(app[1].c, 0, now);
  pk = parse_last(1);
  cr_assert_eq(pk.h.type, SH_UTP_FIN);
  cr_assert_eq(pk.h.seq, (uint16_t)(bseq + 1));
  carry(1);
  pk = parse_last(0);
  cr_assert_eq(pk.h.type, SH_UTP_RESET);
  cr_assert_eq(out[0][nout[0] - 1].p[0], 0x31);
  cr_assert_eq(pk.h.conn_id, rid, "the id the FIN carried");
  cr_assert_eq(pk.h.ack, (uint16_t)(bseq + 1), "the FIN's seq_nr");
  carry(0);
  struct sh_utp_stats s1;
  sh_utp_stats(ep[1], &s1);
  cr_assert_eq(s1.conns, 0);
}

Test(utp, keepalive_acks_one_behind)
{
  connect_ab();
  write_str(0, "x");
  carry_both();
  cr_assert_not_null(app[1].c);
  size_t before = nout[1];
  now += 30000000; /* 30 s of silence */
  sh_utp_tick(ep[1], now);
  cr_assert_eq(nout[1], before + 1);
  struct sh_utp_pkt pk = parse_last(1);
  cr_assert_eq(pk.h.type, SH_UTP_STATE);
  /* one behind: older than what A has, so A neither counts it as a
   * duplicate ack nor acts on it */
  uint16_t seq_a = sh_utp_rd16(out[0][1].p + 16);
  cr_assert_eq(pk.h.ack, (uint16_t)(seq_a - 1));
  carry(1);
  cr_assert_eq(app[0].got_err, 0);
}

Test(utp, syn_unanswered_times_out)
{
  cr_assert_eq(sh_utp_connect(ep[0], &addr[1], &app[0], now, &app[0].c), 0);
  lose(0);
  int syns = 1;
  for (int k = 0; k < 40 && !app[0].got_err; k++) {
    uint64_t d = sh_utp_deadline(ep[0]);
    cr_assert(d > now);
    now = d;
    sh_utp_tick(ep[0], now);
    syns += (int)(nout[0] - sent_pos[0]);
    lose(0);
  }
  cr_assert_eq(app[0].err, -ETIMEDOUT);
  cr_assert_eq(syns, 4, "SYN sent %d times", syns);
  cr_assert_lt(now, 5000000 + 20000000, "gave up after %llu us", (unsigned long long)now);
  for (size_t i = 0; i < nout[0]; i++)
    cr_assert_eq(out[0][i].p[0], 0x41);
  sh_utp_close(app[0].c, 0, now);
}

Test(utp, reset_refuses_syn)
{
  app[1].refuse = 1;
  connect_ab();
  cr_assert_eq(write_str(0, "let me in"), 9);
  carry(0);
  /* B would not take it: RESET with A's receive id */
  struct sh_utp_pkt pk = parse_last(1);
  cr_assert_eq(pk.h.type, SH_UTP_RESET);
  carry(1);
  cr_assert_eq(app[0].got_err, 1);
  cr_assert_eq(app[0].err, -ECONNRESET);
  cr_assert_lt(write_str(0, "more"), 0);
  sh_utp_close(app[0].c, 0, now);
  struct sh_utp_stats s;
  sh_utp_stats(ep[0], &s);
  cr_assert_eq(s.conns, 0);
}

Test(utp, reset_to_a_syn_is_a_refusal)
{
  cr_assert_eq(sh_utp_connect(ep[0], &addr[1], &app[0], now, &app[0].c), 0);
  uint16_t rid = sh_utp_rd16(out[0][0].p + 2);
  lose(0);
  uint8_t rst[20];
  struct sh_utp_hdr h = {.type = SH_UTP_RESET, .conn_id = rid};
  sh_utp_hdr_put(rst, &h);
  sh_utp_input(ep[0], rst, 20, &addr[1], now);
  cr_assert_eq(app[0].err, -ECONNREFUSED);
}

Test(utp, icmp_error_fails_a_dial_only)
{
  /* an error quoting another address's SYN, or a connected connection's
   * packet, changes nothing; one quoting our SYN fails the dial at once */
  cr_assert_eq(sh_utp_connect(ep[0], &addr[1], &app[0], now, &app[0].c), 0);
  uint8_t syn[20];
  memcpy(syn, out[0][0].p, 20);
  lose(0);
  sh_utp_unreachable(ep[0], &addr[0], syn, 20, -ECONNREFUSED);
  cr_assert_eq(app[0].got_err, 0);
  sh_utp_unreachable(ep[0], &addr[1], syn, 12, -ECONNREFUSED); /* cut short */
  cr_assert_eq(app[0].got_err, 0);
  sh_utp_unreachable(ep[0], &addr[1], syn, 20, -ECONNREFUSED);
  cr_assert_eq(app[0].got_err, 1);
  cr_assert_eq(app[0].err, -ECONNREFUSED);
  struct sh_utp_stats s;
  sh_utp_stats(ep[0], &s);
  cr_assert_eq(s.syn_unreachable, 1);
  sh_utp_close(app[0].c, 0, now);
}

Test(utp, icmp_error_spares_a_connection)
{
  cr_assert_eq(sh_utp_connect(ep[0], &addr[1], &app[0], now, &app[0].c), 0);
  uint8_t syn[20];
  memcpy(syn, out[0][0].p, 20);
  carry(0);
  now += 20000;
  carry(1);
  cr_assert(app[0].connected);
  sh_utp_unreachable(ep[0], &addr[1], syn, 20, -ECONNREFUSED);
  cr_assert_eq(app[0].got_err, 0);
  cr_assert_eq(write_str(0, "still here"), 10);
}

Test(utp, unknown_connection_gets_rate_limited_resets)
{
  uint8_t p[24];
  struct sh_utp_hdr h = {.type = SH_UTP_DATA, .conn_id = 777, .seq = 9};
  sh_utp_hdr_put(p, &h);
  for (int i = 0; i < 1000; i++)
    sh_utp_input(ep[1], p, sizeof p, &addr[0], now);
  struct sh_utp_stats s;
  sh_utp_stats(ep[1], &s);
  cr_assert_eq(s.dropped_unknown, 1000);
  cr_assert_eq(s.resets_out, 100, "at most 100 RESETs a second");
  struct sh_utp_pkt pk = parse_last(1);
  cr_assert_eq(pk.h.type, SH_UTP_RESET);
  cr_assert_eq(pk.h.conn_id, 777);
  cr_assert_eq(pk.h.ack, 9);
  /* nobody answers a RESET with a RESET */
  h.type = SH_UTP_RESET;
  sh_utp_hdr_put(p, &h);
  now += 2000000;
  sh_utp_input(ep[1], p, 20, &addr[0], now);
  sh_utp_stats(ep[1], &s);
  cr_assert_eq(s.resets_out, 100);
  cr_assert_eq(s.conns, 0);
}

Test(utp, ack_of_unsent_packet_ignored)
{
  connect_ab();
  write_str(0, "abc");
  carry_both();
  struct sh_utp_pkt last = parse_last(1);
  /* a STATE acking 100 packets A never sent, with data riding on a DATA */
  uint8_t p[25];
  struct sh_utp_hdr h = {.type = SH_UTP_DATA, .conn_id = sh_utp_rd16(out[0][0].p + 2),
                         .seq = (uint16_t)(last.h.seq), .ack = (uint16_t)(last.h.ack + 100),
                         .wnd = 65536};
  sh_utp_hdr_put(p, &h);
  memcpy(p + 20, "EVIL!", 5);
  sh_utp_input(ep[0], p, sizeof p, &addr[1], now);
  struct sh_utp_stats s;
  sh_utp_stats(ep[0], &s);
  cr_assert_eq(s.dropped_ack, 1);
  cr_assert_eq(app[0].got, 0, "its data is not read either");
  cr_assert_eq(app[0].got_err, 0);
  /* the connection goes on */
  cr_assert_eq(write_str(0, "def"), 3);
  carry_both();
  cr_assert_eq(app[1].got, 6);
}

Test(utp, sequence_far_out_of_window_dropped)
{
  connect_ab();
  write_str(0, "a");
  carry_both();
  struct sh_utp_pkt first;
  const char *why;
  sh_utp_pkt_parse(out[0][1].p, out[0][1].n, &first, &why);
  uint8_t p[21];
  struct sh_utp_hdr h = first.h;
  h.seq = (uint16_t)(first.h.seq + 30000);
  sh_utp_hdr_put(p, &h);
  p[20] = 'z';
  sh_utp_input(ep[1], p, sizeof p, &addr[0], now);
  struct sh_utp_stats s;
  sh_utp_stats(ep[1], &s);
  cr_assert_eq(s.dropped_window, 1);
  cr_assert_eq(app[1].got, 1);
  /* nor is it held: later data in order still reads right */
  write_str(0, "bc");
  carry_both();
  cr_assert_eq(app[1].got, 3);
  cr_assert_eq(memcmp(app[1].data, "abc", 3), 0);
}

Test(utp, syn_flood_bounded)
{
  /* 1000 SYNs from as many ports: at most 8 half-open connections stay */
  for (int i = 0; i < 1000; i++) {
    uint8_t p[20];
    struct sh_utp_hdr h = {.type = SH_UTP_SYN, .conn_id = (uint16_t)(i * 7), .seq = 1};
    sh_utp_hdr_put(p, &h);
    struct sh_addr a = {.family = 4, .ip = {10, 9, (uint8_t)(i >> 8), (uint8_t)i},
                        .port = (uint16_t)(1024 + i)};
    sh_utp_input(ep[1], p, 20, &a, now);
  }
  struct sh_utp_stats s;
  sh_utp_stats(ep[1], &s);
  cr_assert_eq(s.half_open, 8);
  cr_assert_leq(s.conns, 8);
  cr_assert_eq(s.half_open_evicted, 992);
  cr_assert_eq(s.mem_bytes, 0, "no packet buffer held for a SYN");
  /* a real peer still gets through */
  connect_ab();
  write_str(0, "real");
  carry_both();
  cr_assert_eq(app[1].got, 4);
  /* and the half-open ones expire */
  now += 11000000;
  sh_utp_tick(ep[1], now);
  sh_utp_stats(ep[1], &s);
  cr_assert_eq(s.half_open, 0);
  cr_assert_eq(s.conns, 1);
}

/* B stops reading for good: its window shuts, A holds its data (B keeps
 * at most its 64 KiB window), A probes the window now and then, and gives
 * up after two minutes. */
Test(utp, zero_window_forever)
{
  connect_ab();
  write_str(0, "x");
  carry_both();
  sh_utp_set_reading(app[1].c, 0);
  static uint8_t big[256 * 1024];
  size_t taken = 0;
  for (int k = 0; k < 2000 && !app[0].got_err; k++) {
    struct iovec v = {big, sizeof big};
    ssize_t w = sh_utp_write(app[0].c, &v, 1, now);
    if (w > 0)
      taken += (size_t)w;
    carry_both();
    now += 100000;
    if (sh_utp_deadline(ep[0]) && sh_utp_deadline(ep[0]) <= now)
      sh_utp_tick(ep[0], now);
    sh_utp_flush(ep[0], now);
    sh_utp_tick(ep[1], now);
  }
  cr_assert(app[0].got_err, "gave up");
  cr_assert_eq(app[0].err, -ETIMEDOUT);
  cr_assert_leq(now - 5000000, 130000000);
  struct sh_utp_conn_info ci;
  sh_utp_conn_info(app[1].c, &ci);
  cr_assert_leq(ci.held, 64 * 1024 + 1536, "held %u", ci.held);
  cr_assert_lt(taken, 64 * 1024 + 64 * 1500, "A took %zu", taken);
  struct sh_utp_stats s;
  sh_utp_stats(ep[1], &s);
  cr_assert_leq(s.mem_bytes, 2 * 64 * 1536 + 64 * 1024);
}

Test(utp, fast_retransmit_on_duplicate_acks)
{
  connect_ab();
  static uint8_t data[20000];
  for (size_t i = 0; i < sizeof data; i++)
    data[i] = (uint8_t)(i * 7);
  /* slow start opens the window first */
  struct sh_utp_conn_info ci;
  for (int r = 0; r < 20; r++) {
    sh_utp_conn_info(app[0].c, &ci);
    if (ci.cwnd >= 8 * 1400)
      break;
    struct iovec v = {data, sizeof data};
    sh_utp_write(app[0].c, &v, 1, now);
    carry_both();
    now += 20000;
  }
  cr_assert_geq(ci.cwnd, 8 * 1400);
  size_t base = app[1].got, size = 6 * (size_t)(ci.pkt - 20);
  struct iovec v = {data, size};
  cr_assert_eq(sh_utp_write(app[0].c, &v, 1, now), (ssize_t)size);
  /* the first of six packets is lost */
  sent_pos[0]++;
  carry(0);
  struct sh_utp_stats s;
  sh_utp_stats(ep[0], &s);
  uint64_t resent0 = s.resent;
  carry(1);
  sh_utp_stats(ep[0], &s);
  cr_assert_eq(s.resent, resent0 + 1, "resent at once, no timeout");
  cr_assert_eq(s.timeouts, 0);
  carry_both();
  cr_assert_eq(app[1].got, base + size);
  cr_assert_eq(memcmp(app[1].data + base, data, size), 0);
}

/* Once the window holds a few packets, a full packet goes out padded to
 * the size being probed; acked, it becomes the packet size. A lost probe
 * comes again unpadded and lowers the ceiling. */
Test(utp, mtu_probe_padded_then_resent_unpadded)
{
  connect_ab();
  static uint8_t data[200000];
  int probes = 0;
  uint16_t probe_size = 0;
  for (int r = 0; r < 40 && !probes; r++) {
    struct iovec v = {data, sizeof data};
    sh_utp_write(app[0].c, &v, 1, now);
    for (size_t i = sent_pos[0]; i < nout[0]; i++)
      if (out[0][i].p[1] == SH_UTP_EXT_PAD) {
        struct sh_utp_pkt pk;
        const char *why;
        cr_assert_eq(sh_utp_pkt_parse(out[0][i].p, out[0][i].n, &pk, &why), 0);
        cr_assert_eq(pk.len, 1380, "the payload of an ordinary packet");
        probe_size = (uint16_t)out[0][i].n;
        probes++;
        /* drop the probe */
        memmove(out[0] + i, out[0] + i + 1, (nout[0] - i - 1) * sizeof *out[0]);
        nout[0]--;
        break;
      }
    carry_both();
    now += 20000;
  }
  struct sh_utp_conn_info ci0;
  sh_utp_conn_info(app[0].c, &ci0);
  cr_assert_eq(probes, 1, "cwnd %u pkt %u ceil %u peer %u", ci0.cwnd, ci0.pkt, ci0.pkt_ceil, ci0.peer_wnd);
  cr_assert_eq(probe_size, (1400 + 1472 + 1) / 2);
  /* the loss is found by the acks after it, and the packet resent */
  for (int r = 0; r < 10; r++) {
    carry_both();
    now += 20000;
    sh_utp_tick(ep[0], now);
  }
  struct sh_utp_conn_info ci;
  sh_utp_conn_info(app[0].c, &ci);
  cr_assert_eq(ci.pkt_ceil, probe_size - 1);
  cr_assert_eq(ci.pkt, 1400);
  int unpadded_resend = 0;
  for (size_t i = 0; i < nout[0]; i++)
    if (out[0][i].n == 1400 && out[0][i].p[1] == 0)
      unpadded_resend = 1;
  cr_assert(unpadded_resend);
}

Test(utp, held_data_offered_again)
{
  connect_ab();
  app[1].take = 0;
  write_str(0, "0123456789");
  carry_both();
  app[1].take = 3;
  ssize_t w2 = write_str(0, "abcdefghij");
  carry(0);
  /* offered twice in that input: the reader took 3, then 3 more */
  cr_assert_eq(app[1].got, 16, "got %zu w2 %zd", app[1].got, w2);
  cr_assert(sh_utp_pending(app[1].c));
  sh_utp_deliver(app[1].c, now);
  cr_assert_eq(app[1].got, 19);
  app[1].take = 0;
  sh_utp_deliver(app[1].c, now);
  cr_assert_eq(app[1].got, 20);
  cr_assert_eq(memcmp(app[1].data, "0123456789abcdefghij", 20), 0);
  cr_assert(!sh_utp_pending(app[1].c));
}
