/* Private to the UDP tracker client (ann_udpc.c: clients and their
 * transactions; ann_udpc_reg.c: the registry, its sockets and the clients'
 * lifetimes). Nothing else includes this. */
#ifndef SHOAL_ANN_UDPC_INT_H
#define SHOAL_ANN_UDPC_INT_H

#include <netinet/in.h>

#include "announce/ann_udp.h"
#include "announce/ann_udpc.h"

/* The registry keeps at most this many shared sockets (the session has
 * one per listen address, SH_MAX_LISTEN = 4). */
#define ANN_UDPC_MAX_SOCKS 8

struct ann_udpc_reg {
  uv_loop_t *loop;
  struct sh_udp *shared[ANN_UDPC_MAX_SOCKS]; /* borrowed */
  size_t nshared;
  struct sh_udp *own[2];        /* [0] IPv4, [1] IPv6: opened on demand */
  struct ann_udpc *clients;     /* in use, by key; closing ones are unlinked */
  size_t nclients;              /* including closing ones */
  uv_timer_t closer;            /* closed last, so done never runs inside a call */
  int pending;                  /* own sockets still closing */
  int closing;
  void (*done)(void *ud);
  void *done_ud;
};

/* Where a transaction is: waiting for a connection id (the host's address
 * first, when unknown), for a place in the window, for the reply to its
 * request, or for its timer to report a failure that happened while it was
 * being started (callbacks never run inside the call that started it). */
enum ann_udpx_stage { X_WAIT_CONN, X_QUEUED, X_REQUESTING, X_LATE };

/* The phases of a transaction; each starts its schedule afresh, once. */
enum { PHASE_ADDR = 0, PHASE_CONNECT = 1, PHASE_REQUEST = 2 };

struct ann_udpx {
  uv_timer_t timer;             /* first: freed from its close callback */
  struct ann_udpc *u;
  struct ann_udpx *prev, *next; /* every transaction of u */
  struct ann_udpx *qprev, *qnext; /* u's queue, while X_QUEUED */
  enum ann_udpx_stage stage;
  int scrape;                   /* 0 announce, 1 scrape */
  uint32_t tid;
  int phase;                    /* PHASE_*, only ever forward */
  uint32_t n;                   /* timeouts in this phase */
  uint64_t armed_ms;            /* uv_now() when its timer was last set */
  struct ann_udpc_sched sched;
  struct ann_req req;
  const char *path_query;
  uint8_t hash[20];
  ann_udpc_announce_cb acb;
  ann_udpc_scrape_cb scb;
  void *ud;
  int doomed;                   /* marked by a failure of every waiter */
  int late_err;                 /* X_LATE: what to report */
  char *late_msg;
  struct sh_udp *sock;          /* X_REQUESTING: where its request went */
  struct sockaddr_storage to;
  uint8_t pkt[ANN_UDP_MAX_REQ];
  size_t pkt_len;
};

struct ann_udpc {
  struct ann_udpc_reg *reg;
  struct ann_udpc *next;        /* in reg->clients */
  char key[300];                /* "host:port", host in lower case */
  char host[256];
  char port[8];
  int users;                    /* ann_udpc_acquire() minus release() */
  int handles;                  /* timers and the resolution, until closed */
  int closing;
  /* the tracker's address, and the socket of its family */
  struct sockaddr_storage addr;
  int have_addr;
  int resolving;
  uv_getaddrinfo_t gai;
  struct sh_udp *sock;
  /* the connection id (BEP 15), shared by every transaction */
  uint64_t conn_id;
  uint64_t conn_expiry;         /* uv_now() ms; 0 = none */
  /* the one connect exchange in flight */
  int connecting;
  uint32_t conn_tid;
  uint64_t conn_sent_ms;        /* uv_now() of its last send */
  struct sh_udp *conn_sock;
  struct sockaddr_storage conn_to;
  uint8_t conn_pkt[ANN_UDP_CONNECT_LEN];
  uv_timer_t anchor;            /* never started: closed last, so a client is
                                   always freed from the loop, never inside a call */
  /* transactions */
  struct ann_udpx *xs;
  struct ann_udpx *qhead, *qtail;
  int nwait;                    /* in X_WAIT_CONN */
  int inflight;                 /* in X_REQUESTING */
};

/* ann_udpc_reg.c */
/* The socket to reach dest from: a shared one of its family, else the
 * registry's own (opened now). NULL with *err set when none can be had. */
struct sh_udp *ann_udpc_reg_sock(struct ann_udpc_reg *r, const struct sockaddr *dest, int *err);
/* Whether dest's family has a shared socket (preferred when resolving). */
int ann_udpc_reg_has_family(const struct ann_udpc_reg *r, int family);
/* A client's handle or request finished closing: free it when the last. */
void ann_udpc_handle_closed(struct ann_udpc *u);

/* ann_udpc.c */
/* Cancels everything of a client whose last user left. */
void ann_udpc_shutdown(struct ann_udpc *u);
/* Fails u's transactions to `to` after an ICMP error (see ann_udpc_reg_icmp). */
void ann_udpc_icmp(struct ann_udpc *u, const struct sockaddr *to, int err);

#endif
