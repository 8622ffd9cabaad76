#include "net/udp.h"

#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103 /* Linux 4.18 */
#endif
#ifndef UDP_GRO
#define UDP_GRO 104 /* Linux 5.0 */
#endif

/* recvmmsg() calls per readiness event before the loop gets a turn (the
 * poll is level-triggered, so what is left is read on the next turn):
 * 4 * 32 datagrams keeps one busy socket from starving peers and timers. */
#define READS_PER_WAKE 4
/* Socket buffers asked for (the kernel doubles it for its bookkeeping). */
#define SOCK_BUF (1 << 20)
/* With GRO on (bulk uTP): a read may hold up to 64 KiB of coalesced
 * datagrams, and the buffers hold a few uTP windows of 1 MiB. */
#define GRO_SLOT 65536
#define GRO_SOCK_BUF (4 << 20)

struct sh_udp {
  uv_poll_t poll;               /* first: the close callback gets it */
  int fd;
  int family;
  struct sockaddr_storage local;
  struct sh_udp_demux dx;
  sh_udp_error_cb ecb[SH_UDP_NKINDS]; /* ICMP error consumers */
  void *eud[SH_UDP_NKINDS];
  int corked;
  int closing;
  void (*done)(void *ud);
  void *done_ud;
  /* receive slots, reused by every recvmmsg() */
  uint8_t *rbuf;                /* SH_UDP_RECV_BATCH * rslot */
  size_t rslot;                 /* SH_UDP_RECV_SLOT, or GRO_SLOT with GRO on */
  int gro, gso_off;             /* GRO asked for; GSO refused by the kernel */
  struct mmsghdr rmsg[SH_UDP_RECV_BATCH];
  struct iovec riov[SH_UDP_RECV_BATCH];
  struct sockaddr_storage rfrom[SH_UDP_RECV_BATCH];
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    size_t align; /* struct cmsghdr's */
  } rctl[SH_UDP_RECV_BATCH];
  /* called after each batch of reads that delivered something of the kind */
  void (*batch_end[SH_UDP_NKINDS])(void *ud);
  void *batch_ud[SH_UDP_NKINDS];
  /* corked sends, waiting for one sendmmsg() */
  uint8_t *sbuf;                /* SH_UDP_SEND_BATCH * SH_UDP_SEND_SLOT */
  struct mmsghdr smsg[SH_UDP_SEND_BATCH];
  struct iovec siov[SH_UDP_SEND_BATCH];
  struct sockaddr_storage sto[SH_UDP_SEND_BATCH];
  uint8_t skind[SH_UDP_SEND_BATCH];
  int nsend;
};

static socklen_t sa_len(const struct sockaddr *sa)
{
  return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* An error the socket kept from an ICMP message (IP_RECVERR) fails the
 * next send, whatever its destination, and is gone after that: such a
 * send is tried once more. */
static int icmp_errno(int e)
{
  return e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH || e == EHOSTDOWN ||
         e == EPROTO;
}

static void flush(struct sh_udp *u)
{
  int i = 0, retried = -1;
  while (i < u->nsend) {
    int r = sendmmsg(u->fd, u->smsg + i, (unsigned)(u->nsend - i), 0);
    if (r > 0) {
      for (int k = i; k < i + r; k++)
        u->dx.st.out[u->skind[k]]++;
      i += r;
    } else if (r < 0 && (errno == EINTR || (icmp_errno(errno) && retried != i))) {
      retried = i;
      continue;
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      /* the socket buffer is full: the rest would fail the same way */
      u->dx.st.dropped_out += (uint64_t)(u->nsend - i);
      break;
    } else {
      u->dx.st.dropped_out++; /* this one datagram was refused */
      i++;
    }
  }
  u->nsend = 0;
}

static int send_now(struct sh_udp *u, enum sh_udp_kind k, const void *p, size_t n,
                    const struct sockaddr *to)
{
  for (int again = 1;;) {
    ssize_t r = sendto(u->fd, p, n, 0, to, sa_len(to));
    if (r >= 0) {
      u->dx.st.out[k]++;
      return 0;
    }
    if (icmp_errno(errno) && again--)
      continue;
    if (errno != EINTR)
      break;
  }
  int err = errno == EWOULDBLOCK ? -EAGAIN : -errno;
  u->dx.st.dropped_out++;
  return err;
}

int sh_udp_send(struct sh_udp *u, enum sh_udp_kind k, const void *p, size_t n,
                const struct sockaddr *to)
{
  if (u->closing || (unsigned)k >= SH_UDP_NKINDS)
    return -EBADF;
  if (to->sa_family != u->family) {
    u->dx.st.dropped_out++;
    return -EAFNOSUPPORT;
  }
  if (!u->corked || n > SH_UDP_SEND_SLOT) {
    flush(u); /* keep the order of datagrams */
    return send_now(u, k, p, n, to);
  }
  if (u->nsend == SH_UDP_SEND_BATCH)
    flush(u);
  int i = u->nsend++;
  memcpy(u->sbuf + (size_t)i * SH_UDP_SEND_SLOT, p, n);
  memcpy(&u->sto[i], to, sa_len(to));
  u->siov[i].iov_len = n;
  u->smsg[i].msg_hdr.msg_namelen = sa_len(to);
  u->skind[i] = (uint8_t)k;
  return 0;
}

void sh_udp_cork(struct sh_udp *u) { u->corked++; }

void sh_udp_uncork(struct sh_udp *u)
{
  if (u->corked > 0 && --u->corked == 0)
    flush(u);
}

/* Reads the socket's error queue: each ICMP error goes to the consumers
 * that asked (net/udp.h), then the socket's pending error is cleared so
 * no unrelated send fails on it. */
static void read_errors(struct sh_udp *u)
{
  for (int i = 0; i < SH_UDP_RECV_BATCH && !u->closing; i++) {
    struct sockaddr_storage to;
    uint8_t quoted[64];
    union {
      char buf[CMSG_SPACE(sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6))];
      struct cmsghdr align;
    } ctl;
    struct iovec iov = {quoted, sizeof quoted};
    struct msghdr m = {.msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &iov,
                       .msg_iovlen = 1, .msg_control = ctl.buf,
                       .msg_controllen = sizeof ctl.buf};
    ssize_t n = recvmsg(u->fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT);
    if (n < 0)
      break;
    int err = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
      if (!((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
            (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)))
        continue;
      const struct sock_extended_err *ee = (const void *)CMSG_DATA(c);
      if (ee->ee_origin == SO_EE_ORIGIN_ICMP || ee->ee_origin == SO_EE_ORIGIN_ICMP6)
        err = -(int)ee->ee_errno;
    }
    if (!err || m.msg_namelen == 0)
      continue;
    u->dx.st.icmp_errors++;
    for (int k = 0; k < SH_UDP_NKINDS && !u->closing; k++)
      if (u->ecb[k])
        u->ecb[k](u->eud[k], (const struct sockaddr *)&to, err, quoted, (size_t)n);
  }
  int e;
  socklen_t len = sizeof e;
  getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &e, &len);
}

/* One read: a datagram, or with GRO several of gso_size bytes each (the
 * last may be shorter), each handed to its consumer. */
static void deliver(struct sh_udp *u, int i, unsigned *kinds)
{
  const struct msghdr *m = &u->rmsg[i].msg_hdr;
  const uint8_t *p = u->rbuf + (size_t)i * u->rslot;
  size_t n = u->rmsg[i].msg_len, seg = n;
  if (m->msg_flags & MSG_TRUNC) {
    u->dx.st.truncated++;
    return;
  }
  for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR((struct msghdr *)m, c))
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
      int g;
      memcpy(&g, CMSG_DATA(c), sizeof g);
      if (g > 0)
        seg = (size_t)g;
    }
  const struct sockaddr *from = (const struct sockaddr *)&u->rfrom[i];
  for (size_t off = 0; off < n && !u->closing; off += seg) {
    size_t len = n - off < seg ? n - off : seg;
    int k = sh_udp_demux_input(&u->dx, p + off, len, from);
    if (k >= 0)
      *kinds |= 1u << k;
  }
}

static void batch_end(struct sh_udp *u, unsigned kinds)
{
  for (int k = 0; k < SH_UDP_NKINDS && !u->closing; k++)
    if (kinds & (1u << k) && u->batch_end[k])
      u->batch_end[k](u->batch_ud[k]);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
  struct sh_udp *u = (struct sh_udp *)h;
  if (status < 0) {
    /* POLLERR: an ICMP error is queued. libuv stopped the poll for it:
     * read the queue, start again, and read what else is there */
    read_errors(u);
    if (u->closing || uv_poll_start(&u->poll, UV_READABLE, on_readable) < 0)
      return;
  }
  u->corked++; /* replies made while delivering leave in batches */
  for (int round = 0; round < READS_PER_WAKE && !u->closing; round++) {
    for (int i = 0; i < SH_UDP_RECV_BATCH; i++) {
      struct msghdr *m = &u->rmsg[i].msg_hdr;
      m->msg_namelen = sizeof u->rfrom[i];
      m->msg_flags = 0;
      m->msg_control = u->gro ? u->rctl[i].buf : NULL;
      m->msg_controllen = u->gro ? sizeof u->rctl[i].buf : 0;
    }
    int r = recvmmsg(u->fd, u->rmsg, SH_UDP_RECV_BATCH, MSG_DONTWAIT, NULL);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break; /* EAGAIN: drained */
    unsigned kinds = 0;
    for (int i = 0; i < r && !u->closing; i++)
      deliver(u, i, &kinds);
    batch_end(u, kinds);
    if (r < SH_UDP_RECV_BATCH)
      break;
  }
  sh_udp_uncork(u);
}

static void setup_msgs(struct sh_udp *u)
{
  for (int i = 0; i < SH_UDP_RECV_BATCH; i++) {
    u->riov[i].iov_base = u->rbuf + (size_t)i * u->rslot;
    u->riov[i].iov_len = u->rslot;
    u->rmsg[i].msg_hdr.msg_iov = &u->riov[i];
    u->rmsg[i].msg_hdr.msg_iovlen = 1;
    u->rmsg[i].msg_hdr.msg_name = &u->rfrom[i];
  }
  for (int i = 0; i < SH_UDP_SEND_BATCH; i++) {
    u->siov[i].iov_base = u->sbuf + (size_t)i * SH_UDP_SEND_SLOT;
    u->smsg[i].msg_hdr.msg_iov = &u->siov[i];
    u->smsg[i].msg_hdr.msg_iovlen = 1;
    u->smsg[i].msg_hdr.msg_name = &u->sto[i];
  }
}

static void destroy(struct sh_udp *u)
{
  if (u->fd >= 0)
    close(u->fd);
  sh_udp_demux_free(&u->dx);
  free(u->rbuf);
  free(u->sbuf);
  free(u);
}

/* The socket, bound; a negative errno otherwise. */
static int bind_socket(const struct sockaddr *addr)
{
  int fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int one = 1;
  if (addr->sa_family == AF_INET6 &&
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  /* ICMP errors, read back by read_errors (best effort: without them a
   * dead UDP tracker only times out) */
  if (addr->sa_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof one);
  else
    setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one);
  /* one socket carries every peer's DHT and uTP traffic: ask for more than
   * the default 208 KiB (best effort: the kernel caps it at rmem_max and
   * wmem_max) */
  int buf = SOCK_BUF;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  if (bind(fd, addr, sa_len(addr)) < 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  return fd;
}

int sh_udp_open(uv_loop_t *loop, const struct sockaddr *addr, struct sh_udp **out)
{
  *out = NULL;
  if (addr->sa_family != AF_INET && addr->sa_family != AF_INET6)
    return -EAFNOSUPPORT;
  struct sh_udp *u = calloc(1, sizeof *u);
  if (!u)
    return -ENOMEM;
  u->fd = -1;
  sh_udp_demux_init(&u->dx);
  u->rslot = SH_UDP_RECV_SLOT;
  u->rbuf = malloc((size_t)SH_UDP_RECV_BATCH * u->rslot);
  u->sbuf = malloc((size_t)SH_UDP_SEND_BATCH * SH_UDP_SEND_SLOT);
  if (!u->rbuf || !u->sbuf) {
    destroy(u);
    return -ENOMEM;
  }
  setup_msgs(u);
  u->family = addr->sa_family;
  if ((u->fd = bind_socket(addr)) < 0) {
    int err = u->fd;
    u->fd = -1;
    destroy(u);
    return err;
  }
  socklen_t len = sizeof u->local;
  getsockname(u->fd, (struct sockaddr *)&u->local, &len);
  int rc = uv_poll_init_socket(loop, &u->poll, u->fd);
  if (rc < 0) {
    destroy(u);
    return rc;
  }
  /* from here the handle exists: it must be closed through the loop */
  if ((rc = uv_poll_start(&u->poll, UV_READABLE, on_readable)) < 0) {
    sh_udp_close(u, NULL, NULL);
    return rc;
  }
  *out = u;
  return 0;
}

static void on_closed(uv_handle_t *h)
{
  struct sh_udp *u = (struct sh_udp *)h;
  void (*done)(void *) = u->done;
  void *ud = u->done_ud;
  destroy(u);
  if (done)
    done(ud);
}

void sh_udp_close(struct sh_udp *u, void (*done)(void *ud), void *ud)
{
  if (u->closing)
    return;
  flush(u);
  u->closing = 1;
  u->done = done;
  u->done_ud = ud;
  uv_poll_stop(&u->poll);
  uv_close((uv_handle_t *)&u->poll, on_closed);
}

void sh_udp_local(const struct sh_udp *u, struct sockaddr_storage *ss) { *ss = u->local; }

int sh_udp_family(const struct sh_udp *u) { return u->family; }

void sh_udp_set_consumer(struct sh_udp *u, enum sh_udp_kind k, sh_udp_recv_cb cb, void *ud)
{
  sh_udp_demux_set(&u->dx, k, cb, ud);
}

void sh_udp_set_error_consumer(struct sh_udp *u, enum sh_udp_kind k, sh_udp_error_cb cb, void *ud)
{
  if ((unsigned)k >= SH_UDP_NKINDS)
    return;
  u->ecb[k] = cb;
  u->eud[k] = cb ? ud : NULL;
}

int sh_udp_expect(struct sh_udp *u, const struct sockaddr *from, uint32_t tid,
                  sh_udp_recv_cb cb, void *ud)
{
  return sh_udp_demux_expect(&u->dx, from, tid, cb, ud);
}

int sh_udp_unexpect(struct sh_udp *u, const struct sockaddr *from, uint32_t tid)
{
  return sh_udp_demux_unexpect(&u->dx, from, tid);
}

void sh_udp_stats(const struct sh_udp *u, struct sh_udp_stats *st) { *st = u->dx.st; }

void sh_udp_set_batch_end(struct sh_udp *u, enum sh_udp_kind k, void (*fn)(void *ud), void *ud)
{
  if ((unsigned)k >= SH_UDP_NKINDS)
    return;
  u->batch_end[k] = fn;
  u->batch_ud[k] = ud;
}

int sh_udp_set_gro(struct sh_udp *u)
{
  if (u->gro)
    return 0;
  uint8_t *nb = malloc((size_t)SH_UDP_RECV_BATCH * GRO_SLOT);
  if (!nb)
    return -ENOMEM;
  int one = 1;
  if (setsockopt(u->fd, SOL_UDP, UDP_GRO, &one, sizeof one) < 0) {
    int err = -errno;
    free(nb);
    return err;
  }
  free(u->rbuf);
  u->rbuf = nb;
  u->rslot = GRO_SLOT;
  u->gro = 1;
  setup_msgs(u);
  int buf = GRO_SOCK_BUF; /* best effort, as at open */
  setsockopt(u->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  setsockopt(u->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  return 0;
}

int sh_udp_rcvbuf(const struct sh_udp *u)
{
  int v = 0;
  socklen_t len = sizeof v;
  return getsockopt(u->fd, SOL_SOCKET, SO_RCVBUF, &v, &len) < 0 ? 0 : v;
}

int sh_udp_set_dont_fragment(struct sh_udp *u)
{
  /* PROBE: the DF bit, but no path MTU cache of the kernel's deciding
   * what we may send: the sender probes for itself */
  int rc = u->family == AF_INET6
               ? setsockopt(u->fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER,
                            &(int){IPV6_PMTUDISC_PROBE}, sizeof(int))
               : setsockopt(u->fd, IPPROTO_IP, IP_MTU_DISCOVER, &(int){IP_PMTUDISC_PROBE},
                            sizeof(int));
  return rc < 0 ? -errno : 0;
}

/* The datagrams one by one, in sendmmsg calls. */
static int send_each(struct sh_udp *u, enum sh_udp_kind k, const struct iovec *pkt, int n,
                     const struct sockaddr *to)
{
  struct mmsghdr mm[64];
  int err = 0;
  for (int base = 0; base < n;) {
    int cnt = n - base < 64 ? n - base : 64;
    for (int i = 0; i < cnt; i++) {
      memset(&mm[i], 0, sizeof mm[i]);
      mm[i].msg_hdr.msg_iov = (struct iovec *)&pkt[base + i];
      mm[i].msg_hdr.msg_iovlen = 1;
      mm[i].msg_hdr.msg_name = (void *)to;
      mm[i].msg_hdr.msg_namelen = sa_len(to);
    }
    int done = 0;
    while (done < cnt) {
      int r = sendmmsg(u->fd, mm + done, (unsigned)(cnt - done), 0);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0) {
        err = r < 0 && errno != EWOULDBLOCK ? -errno : -EAGAIN;
        u->dx.st.dropped_out += (uint64_t)(n - base - done);
        return err;
      }
      u->dx.st.out[k] += (uint64_t)r;
      done += r;
    }
    base += cnt;
  }
  return err;
}

/* Whether the kernel may cut them from one buffer: all as long as the
 * first but the last, which is not longer, 64 at most, 64 KiB in all. */
static int gso_shape(const struct iovec *pkt, int n)
{
  size_t seg = pkt[0].iov_len, total = 0;
  if (n < 2 || n > 64 || !seg)
    return 0;
  for (int i = 0; i < n; i++) {
    if (pkt[i].iov_len > seg || (i < n - 1 && pkt[i].iov_len != seg) || !pkt[i].iov_len)
      return 0;
    total += pkt[i].iov_len;
  }
  return total <= 65000;
}

int sh_udp_send_many(struct sh_udp *u, enum sh_udp_kind k, const struct iovec *pkt, int n,
                     const struct sockaddr *to)
{
  if (u->closing || (unsigned)k >= SH_UDP_NKINDS || n < 1)
    return -EBADF;
  if (to->sa_family != u->family) {
    u->dx.st.dropped_out += (uint64_t)n;
    return -EAFNOSUPPORT;
  }
  flush(u); /* keep the order of datagrams */
  if (n == 1)
    return send_now(u, k, pkt[0].iov_base, pkt[0].iov_len, to);
  if (u->gso_off || !gso_shape(pkt, n))
    return send_each(u, k, pkt, n, to);
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    size_t align; /* struct cmsghdr's */
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct msghdr mh = {.msg_name = (void *)to, .msg_namelen = sa_len(to),
                      .msg_iov = (struct iovec *)pkt, .msg_iovlen = (size_t)n,
                      .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  uint16_t seg = (uint16_t)pkt[0].iov_len;
  memcpy(CMSG_DATA(c), &seg, sizeof seg);
  for (;;) {
    ssize_t r = sendmsg(u->fd, &mh, 0);
    if (r >= 0) {
      u->dx.st.out[k] += (uint64_t)n;
      return 0;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      u->dx.st.dropped_out += (uint64_t)n;
      return -EAGAIN;
    }
    if (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT || errno == EOPNOTSUPP) {
      /* no segmentation offload on this kernel or path: one by one from now */
      u->gso_off = 1;
      return send_each(u, k, pkt, n, to);
    }
    u->dx.st.dropped_out += (uint64_t)n;
    return -errno;
  }
}
