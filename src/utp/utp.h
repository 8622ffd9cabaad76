/* uTP (BEP 29) as a pure core: packets and a clock in, packets and events
 * out. No socket, no timer, no clock of its own, so it runs the same over
 * the session's UDP socket (peer/utp.c) and over the simulated links of
 * its tests, where a seed makes every run repeat exactly.
 *
 * One endpoint (struct sh_utp) holds every connection of one UDP socket,
 * found by the peer's address and our receive connection id. It does:
 *   - connection ids and SYN / STATE / DATA / FIN / RESET, sequence and
 *     ack numbers modulo 2^16;
 *   - selective ACKs both ways, fast retransmit (three duplicate acks, or
 *     three packets selectively acked past a hole), retransmission timeouts
 *     from the RTT (BEP 29: max(rtt + 4 rttvar, 500 ms), doubled per
 *     consecutive timeout);
 *   - the receive window we advertise (what our buffer still holds) and the
 *     peer's;
 *   - LEDBAT congestion control: the one-way queueing delay over a 2-minute
 *     base is held near a 100 ms target, a loss halves the window, slow
 *     start until the delay or a loss says stop;
 *   - packet sizes: 1400 bytes to start, probed upward to what a 1500-byte
 *     link carries (1472 over IPv4, 1452 over IPv6). A probe is an ordinary
 *     data packet padded with an extension (utp_pkt.h), so a lost probe is
 *     resent unpadded: nothing is ever fragmented, and no packet ever has
 *     to be cut up (uTP cannot repacketize);
 *   - keep-alives (an empty STATE after 29 s without sending, for NATs);
 *   - bounds: a memory budget for the packet buffers of all connections,
 *     per-connection send and receive windows, a cap on connections and on
 *     half-open ones (a SYN flood evicts the oldest half-open connection),
 *     RESETs to unknown connections rate-limited.
 *
 * Time is a monotonic microsecond count passed to every call. The caller
 * delivers each datagram with sh_utp_input, calls sh_utp_flush once a batch
 * of them is in (that is when acks go out, one per connection, and writers
 * hear that their window opened), and calls sh_utp_tick when the deadline
 * it returned has come.
 *
 * Ownership: the caller owns the endpoint (sh_utp_new / sh_utp_free). A
 * connection belongs to the endpoint; its owner (whoever dialled it, or
 * adopted it from the accept callback) gets callbacks with its own pointer
 * until it calls sh_utp_close, after which the endpoint finishes the
 * connection alone (FIN, retransmissions) and frees it. Callbacks may call
 * back into the endpoint (write, close), except sh_utp_free. Buffers passed
 * to callbacks are borrowed for the call. Single-threaded. */
#ifndef SHOAL_UTP_H
#define SHOAL_UTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "base/addr.h"

struct sh_utp;
struct sh_utp_conn;

struct sh_utp_opts {
  uint32_t rcvbuf;          /* bytes a connection holds for its reader: the
                               window it advertises (default 1 MiB) */
  uint32_t sndbuf;          /* most bytes in flight per connection (4 MiB) */
  uint32_t target_us;       /* LEDBAT's queueing delay target (100 ms) */
  uint16_t pkt_start;       /* packet size to start with (1400) */
  uint16_t link_mtu;        /* the MTU probed towards (1500) */
  uint32_t max_conns;       /* connections of the endpoint (4096) */
  uint32_t max_half_open;   /* answered SYNs not yet confirmed by data (64) */
  size_t mem_max;           /* packet buffers of all connections (64 MiB) */
  uint32_t resets_per_s;    /* RESETs sent to unknown connections (100) */
  uint64_t seed;            /* connection ids and first sequence numbers */
};
void sh_utp_opts_default(struct sh_utp_opts *o);

struct sh_utp_cb {
  /* The endpoint's (ud of sh_utp_new). A packet for `to`. stable 0: p is
   * borrowed for the call. stable 1 (data packets): p lies in the
   * endpoint's buffers and stays as it is until the next call of
   * sh_utp_input, sh_utp_tick, sh_utp_close or sh_utp_free, so a caller
   * that sends before those may keep the pointer instead of a copy. */
  void (*send)(void *ud, const struct sh_addr *to, const uint8_t *p, size_t n, int stable);
  /* A connection a peer opened has sent its first data (its SYN was
   * answered before, so its address is confirmed). Adopt it with
   * sh_utp_set_ud, or leave it (or sh_utp_close it) to refuse: the peer
   * then gets a RESET. The first data follows at once through on_data. */
  void (*accept)(void *ud, struct sh_utp_conn *c);
  /* A connection's (its owner's pointer). Our SYN was answered. */
  void (*on_connect)(void *cud);
  /* Bytes in order; returns how many it took (the rest is held and
   * offered again after sh_utp_set_reading / sh_utp_deliver). */
  size_t (*on_data)(void *cud, const uint8_t *p, size_t n);
  /* After a write took less than offered: there is room again. */
  void (*on_writable)(void *cud);
  /* The connection is over: SH_ECLOSED (the peer's FIN, after all its
   * data), -ECONNRESET, -ECONNREFUSED (a RESET to our SYN) or -ETIMEDOUT.
   * The last callback; the owner still calls sh_utp_close. */
  void (*on_error)(void *cud, int err);
};

/* Counters (packets unless said). */
struct sh_utp_stats {
  uint64_t in, out, bytes_in, bytes_out, resent, timeouts, fast_resends;
  uint64_t dropped_bad;       /* not a valid packet */
  uint64_t dropped_unknown;   /* no such connection (answered by a RESET) */
  uint64_t dropped_window;    /* a sequence number too far out, or no room */
  uint64_t dropped_ack;       /* acks a packet never sent */
  uint64_t syn_refused;       /* at the connection cap */
  uint64_t half_open_evicted; /* SYN flood: the oldest half-open went */
  uint64_t syn_unreachable;   /* a dial given up on an ICMP error */
  uint64_t resets_in, resets_out;
  size_t conns, half_open, mem_bytes;
};

/* What one connection looks like now (tests, logs). */
struct sh_utp_conn_info {
  uint32_t cwnd, inflight, peer_wnd, rtt_us, rto_us, delay_us, base_delay_us;
  uint16_t pkt, pkt_ceil;
  int slow_start;
  uint32_t held;              /* received bytes not yet taken by the reader */
};

/* Returns 0 or -ENOMEM. opts NULL: the defaults. */
int sh_utp_new(const struct sh_utp_opts *o, const struct sh_utp_cb *cb, void *ud,
               struct sh_utp **out);
/* Frees every connection at once, sending nothing, calling nothing. */
void sh_utp_free(struct sh_utp *u);

void sh_utp_input(struct sh_utp *u, const uint8_t *p, size_t n, const struct sh_addr *from,
                  uint64_t now);
/* An ICMP error (err: a negative errno) for a datagram we sent to `to`,
 * quoting its first n bytes: a dial whose SYN it quotes fails at once
 * with err; nothing else changes. */
void sh_utp_unreachable(struct sh_utp *u, const struct sh_addr *to, const uint8_t *quoted,
                        size_t n, int err);
/* The end of a batch of input: acks, and on_writable for the writers whose
 * window opened. */
void sh_utp_flush(struct sh_utp *u, uint64_t now);
/* Timers: retransmissions, keep-alives, half-open and closing connections.
 * Returns when to call it next (absolute µs). */
uint64_t sh_utp_tick(struct sh_utp *u, uint64_t now);
/* The earliest time sh_utp_tick has work, as known now (it may come
 * earlier after input or writes; never later than needed). */
uint64_t sh_utp_deadline(const struct sh_utp *u);

/* Opens a connection to `to` (its SYN goes out now); cud gets the
 * callbacks. Returns 0, SH_ELIMIT at the connection cap, or -ENOMEM. */
int sh_utp_connect(struct sh_utp *u, const struct sh_addr *to, void *cud, uint64_t now,
                   struct sh_utp_conn **out);
void sh_utp_set_ud(struct sh_utp_conn *c, void *cud);
/* Packetizes what the windows allow now. Returns the bytes taken (0: full,
 * on_writable follows when there is room), or a negative code once the
 * connection is over or not yet connected (-ENOTCONN). */
ssize_t sh_utp_write(struct sh_utp_conn *c, const struct iovec *iov, int cnt, uint64_t now);
/* Reading off: data is held (and the advertised window shrinks). Back on,
 * the held data is offered by the next input, or by sh_utp_deliver. */
void sh_utp_set_reading(struct sh_utp_conn *c, int on);
/* Offers held data to on_data now; and, once everything before the
 * peer's FIN is taken, reports SH_ECLOSED. */
void sh_utp_deliver(struct sh_utp_conn *c, uint64_t now);
int sh_utp_pending(const struct sh_utp_conn *c);   /* held bytes to offer? */
/* The owner is done: no more callbacks. Graceful (abort 0): a FIN after
 * the data already taken, retransmitted as needed; abort 1: a RESET. */
void sh_utp_close(struct sh_utp_conn *c, int abort, uint64_t now);

const struct sh_addr *sh_utp_conn_peer(const struct sh_utp_conn *c);
void sh_utp_conn_info(const struct sh_utp_conn *c, struct sh_utp_conn_info *out);
void sh_utp_stats(const struct sh_utp *u, struct sh_utp_stats *out);

#endif
