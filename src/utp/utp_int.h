/* Inside the uTP core: the endpoint, a connection, and what utp.c,
 * utp_send.c and utp_recv.c share. Nothing outside src/utp/ includes this. */
#ifndef SHOAL_UTP_INT_H
#define SHOAL_UTP_INT_H

#include "base/tab.h"
#include "utp/utp.h"
#include "utp/utp_pkt.h"

/* Packet buffers: every packet we keep (sent and not yet acked, received
 * and not yet read) sits in one of these, taken from the endpoint's pool.
 * 1536 bytes hold any packet of a 1500-byte link; larger ones from a peer
 * are only passed straight to the reader, never kept. */
#define UTP_BUF 1536
#define UTP_POOL_BLOCK 64        /* buffers per allocation (96 KiB) */
/* Sequence number rings grow by doubling from 64 to 2048 entries: 2048
 * packets of 1452 bytes are 2.9 MB in flight, several times what 1 GB/s
 * needs at loopback round trips of about a millisecond, and well inside
 * the half of the 16-bit space where comparisons are unambiguous. */
#define UTP_RING_MIN 64
#define UTP_RING_MAX 2048
/* BEP 29: the initial timeout, its floor, and the gain of LEDBAT. */
#define UTP_RTO_INIT_US 1000000u
#define UTP_RTO_MIN_US 500000u
#define UTP_RTO_MAX_US 60000000u
#define UTP_GAIN_BYTES 3000      /* MAX_CWND_INCREASE_BYTES_PER_RTT */
#define UTP_MAX_TIMEOUTS 6       /* consecutive: 0.5 + 1 + ... + 16 s at least */
#define UTP_SYN_TRIES 4          /* SYN sent at 0, 1, 3, 7 s; given up at 15 s */
#define UTP_KEEPALIVE_US 29000000u   /* under the 30 s many NATs forget UDP in */
#define UTP_HALF_OPEN_US 10000000u   /* an answered SYN waits this long for data */
#define UTP_LINGER_US 30000000u      /* a closed connection gives up its FIN then */
#define UTP_ZERO_WND_US 120000000u   /* a window shut this long with data waiting */
#define UTP_REPROBE_US 600000000u    /* probe the MTU again after 10 min */
/* Acks go out at the end of each input batch, or sooner once this much
 * data is unacknowledged (a GRO batch of 64 KiB gets about one ack). */
#define UTP_ACK_BYTES 65536u
#define UTP_DUP_ACKS 3

enum utp_state {
  UTP_SYN_SENT = 1,  /* our SYN is out */
  UTP_SYN_RECV,      /* we answered a SYN; its data has not come yet */
  UTP_CONNECTED,
  UTP_CLOSING,       /* the owner closed: our FIN goes out, then we go */
  UTP_DEAD,          /* reset, timed out or refused: waits for the owner */
};

/* A packet we sent and the peer has not acked. buf: [header | pad | payload]. */
struct utp_out {
  uint8_t *buf;        /* NULL: acked (selectively) or an empty slot */
  uint64_t sent_us;    /* last transmission */
  uint16_t payload;    /* bytes of data */
  uint8_t hdr;         /* header bytes incl. padding: 20, or more for a probe */
  uint8_t type;        /* DATA, SYN or FIN */
  uint8_t tx;          /* transmissions */
  uint8_t sacked, lost, probe, used;
};

/* A packet received and not yet read (or not yet in order). */
struct utp_in {
  uint8_t *buf;        /* payload; NULL for a FIN or an empty slot */
  uint16_t len, off;   /* payload bytes, bytes already read */
  uint8_t present, fin;
};

struct utp_pool {
  uint8_t **free;
  size_t nfree, cap_free;
  void **blocks;
  size_t nblocks, cap_blocks;
  size_t max_bufs;
};

struct sh_utp_conn {
  struct sh_utp *u;
  void *ud;                  /* the owner's; NULL once closed */
  struct sh_addr peer;
  uint16_t recv_id, send_id;
  uint8_t state;             /* enum utp_state */
  uint8_t reading, in_tab, reaped;
  uint8_t listed;            /* in the endpoint's flush list */
  uint8_t ack_due, want_write, connected_cb, error_cb, eof_cb;
  uint8_t outgoing;          /* we sent the SYN */
  uint8_t force_one;         /* the window is shut: one packet may probe it */
  int err;                   /* the error reported once DEAD */
  size_t idx;                /* in u->conns */
  uint64_t created_us, last_send_us, last_recv_us;

  /* sending */
  uint16_t seq_nr;           /* the next sequence number to use */
  uint16_t acked;            /* everything up to here is acked */
  uint16_t fin_seq;
  uint8_t fin_sent;
  struct utp_out *out;       /* ring by seq_nr & (out_cap - 1) */
  uint32_t out_cap;
  uint32_t inflight;         /* payload bytes sent, not acked, not lost */
  uint32_t cwnd, ssthresh, peer_wnd;
  uint8_t slow_start, dup_acks, ntimeouts, nlost;
  uint16_t loss_seq;         /* a loss before this cut the window already */
  uint16_t pkt;              /* size of new packets (header + payload) */
  uint16_t pkt_ceil;         /* the largest that may get through */
  uint16_t probe_seq;        /* the MTU probe in flight */
  uint8_t probing;
  uint64_t reprobe_us;
  uint32_t rtt_us, rttvar_us, rto_us;
  uint64_t rto_at;           /* 0: no timer */
  uint64_t zero_wnd_since;
  /* delay: their samples of our packets' one-way delay */
  uint32_t base_min[2];      /* minima of this minute and the one before */
  uint8_t base_valid;        /* bits: which base_min entries hold a sample */
  uint64_t base_minute;      /* start of the current minute */
  uint32_t cur[3];           /* the last three samples */
  uint8_t ncur, icur;
  uint32_t reply_micro;      /* our sample of their packets, sent back */

  /* receiving */
  uint16_t ack_nr;           /* everything up to here has arrived */
  uint16_t rd_seq;           /* the first packet not fully read */
  uint16_t in_hi;            /* the highest sequence number held */
  uint16_t eof_seq;
  uint8_t got_fin;
  struct utp_in *in;         /* ring by seq & (in_cap - 1) */
  uint32_t in_cap;
  uint32_t held;             /* payload bytes held in `in` */
  uint32_t unacked;          /* bytes received since our last ack */
};

struct sh_utp {
  struct sh_utp_opts o;
  struct sh_utp_cb cb;
  void *ud;
  struct sh_tab tab;         /* (peer, recv_id) -> connection */
  struct sh_utp_conn **conns;
  size_t nconns, cap_conns;
  struct sh_utp_conn **half; /* half-open, oldest first */
  size_t nhalf;
  struct sh_utp_conn **flush;/* connections with an ack or writer due */
  size_t nflush, cap_flush;
  struct sh_utp_conn *last;  /* the connection of the last packet */
  struct utp_pool pool;
  uint64_t rng;
  uint64_t next_us;          /* earliest deadline known */
  uint64_t rst_window_us;
  uint32_t rst_count;
  int in_call;               /* >0 while running: frees wait for the end */
  struct sh_utp_conn **reap;
  size_t nreap, cap_reap;
  struct sh_utp_stats st;
};

/* utp.c */
uint8_t *sh_utp_buf_get(struct sh_utp *u, int force);
void sh_utp_buf_put(struct sh_utp *u, uint8_t *b);
void sh_utp_list(struct sh_utp_conn *c);   /* into the flush list */
void sh_utp_arm(struct sh_utp *u, uint64_t at);
void sh_utp_error(struct sh_utp_conn *c, int err);
void sh_utp_emit(struct sh_utp_conn *c, const uint8_t *p, size_t n, int stable, uint64_t now);
uint32_t sh_utp_wnd(const struct sh_utp_conn *c);
void sh_utp_conn_drop(struct sh_utp_conn *c);

/* utp_send.c */
int sh_utp_ring_out(struct sh_utp_conn *c, uint32_t need);
void sh_utp_send_syn(struct sh_utp_conn *c, uint64_t now);
void sh_utp_send_fin(struct sh_utp_conn *c, uint64_t now);
void sh_utp_send_reset(struct sh_utp *u, const struct sh_addr *to, uint16_t id, uint16_t seq,
                       uint16_t ack, uint64_t now);
void sh_utp_on_ack(struct sh_utp_conn *c, const struct sh_utp_pkt *pk, uint64_t now);
void sh_utp_resend_lost(struct sh_utp_conn *c, uint64_t now);
void sh_utp_on_timeout(struct sh_utp_conn *c, uint64_t now);
void sh_utp_free_out(struct sh_utp_conn *c);
int sh_utp_can_write(const struct sh_utp_conn *c);
uint32_t sh_utp_base_delay(const struct sh_utp_conn *c);
uint32_t sh_utp_our_delay(const struct sh_utp_conn *c);

/* utp_recv.c */
void sh_utp_on_data(struct sh_utp_conn *c, const struct sh_utp_pkt *pk, uint64_t now);
void sh_utp_send_state(struct sh_utp_conn *c, uint64_t now, int keepalive);
void sh_utp_free_in(struct sh_utp_conn *c);
void sh_utp_check_eof(struct sh_utp_conn *c);

static inline uint32_t sh_utp_now32(uint64_t now) { return (uint32_t)now; }

#endif
