/* The tracker request and reply as plain data, shared by the HTTP (BEP 3)
 * and UDP (BEP 15) codecs. Pure: no sockets, no clock.
 *
 * Ownership: a struct ann_reply is owned by whoever declared it (usually on
 * the stack, zeroed or ann_reply_init()) and freed with ann_reply_free(),
 * which releases the peer array and the strings. */
#ifndef SHOAL_ANN_MSG_H
#define SHOAL_ANN_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/addr.h"

/* Numbering of BEP 15, so the UDP codec can write it as is. */
enum ann_event { ANN_EV_NONE = 0, ANN_EV_COMPLETED = 1, ANN_EV_STARTED = 2, ANN_EV_STOPPED = 3 };

/* One reply carries at most this many peers; the rest are ignored. 2000
 * entries is 25 times a normal numwant of 80 and keeps a hostile 4 MiB
 * compact string from costing 90 MB of sockaddr_storage. */
#define ANN_MAX_PEERS 2000

struct ann_req {
  uint8_t info_hash[20];
  uint8_t peer_id[20];
  uint64_t uploaded, downloaded, left;
  enum ann_event event;
  uint32_t key;          /* random per session; lets a tracker recognise us
                            across address changes (BEP 3, BEP 15) */
  int32_t numwant;       /* -1: tracker's default */
  uint16_t port;
  const char *trackerid; /* borrowed; NULL when the tracker gave none */
};

struct ann_reply {
  uint32_t interval;     /* raw from the tracker, 0 when absent; the
                            announcer clamps it (ann_interval_clamp) */
  uint32_t min_interval; /* 0 when absent */
  int64_t complete, incomplete; /* -1 when absent */
  char *tracker_id;      /* owned, NUL-terminated, or NULL */
  char *warning;         /* owned, printable, or NULL */
  struct sockaddr_storage *peers; /* owned array */
  size_t npeers, cap;
  size_t dropped;        /* entries ignored: port 0, bad ip, partial, over the cap */
  int partial;           /* a compact string had a trailing partial entry */
};

void ann_reply_init(struct ann_reply *r);
void ann_reply_free(struct ann_reply *r);
/* Append a peer; port 0 and entries beyond ANN_MAX_PEERS are counted in
 * `dropped`. Returns 0 or -ENOMEM. */
int ann_reply_add(struct ann_reply *r, const struct sh_addr *a);
/* Appends every whole entry of a compact list of n bytes (base/compact.h;
 * family 4: BEP 23 "peers", family 6: BEP 7 "peers6", or the peers of a
 * BEP 15 announce reply). A truncated last entry sets `partial` and counts
 * in `dropped`. Returns 0 or -ENOMEM. */
int ann_reply_add_compact(struct ann_reply *r, const uint8_t *p, size_t n, int family);

/* Copies at most n bytes of untrusted text into a new NUL-terminated string,
 * replacing control and non-ASCII bytes with '?' and cutting at 200 bytes,
 * so tracker messages are safe to print. NULL when out of memory. */
char *ann_sanitize(const uint8_t *p, size_t n);

#endif
