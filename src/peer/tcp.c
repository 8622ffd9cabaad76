/* The TCP transport (see tcp.h for why writes bypass libuv). */
#include "peer/tcp.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/error.h"

struct tcp {
  struct sh_transport t;  /* first: the ops get a struct sh_transport * */
  uv_tcp_t h;             /* h.data = this */
  uv_connect_t creq;
  uv_poll_t *wpoll;       /* NULL until the socket first fills up */
  int wpolling, reading, closing, connecting;
  int open_handles;       /* h and wpoll; on_closed once both are closed */
  uint8_t *abuf;          /* the space of the read in progress */
};

ssize_t (*sh_tcp_sendfile_fn)(int out_fd, int in_fd, off_t *offset, size_t count) = sendfile;

static const struct sh_transport_ops tcp_ops;

static struct tcp *tcp_of(struct sh_transport *t) { return (struct tcp *)t; }

static struct tcp *tcp_new(uv_loop_t *loop, unsigned flags)
{
  struct tcp *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  if (uv_tcp_init(loop, &c->h) < 0) {
    free(c);
    return NULL;
  }
  c->h.data = c;
  c->open_handles = 1;
  c->t.ops = &tcp_ops;
  c->t.flags = flags & SH_TRANSPORT_LOCAL_SENDFILE;
  return c;
}

static void handle_closed(struct tcp *c)
{
  if (--c->open_handles)
    return;
  if (c->t.cb && c->t.cb->on_closed)
    c->t.cb->on_closed(c->t.ud);
  free(c);
}

static void on_tcp_closed(uv_handle_t *h) { handle_closed(h->data); }

static void on_wpoll_closed(uv_handle_t *h)
{
  struct tcp *c = h->data;
  uv_os_fd_t fd;
  if (uv_fileno(h, &fd) == 0)
    close(fd);
  free(h);
  handle_closed(c);
}

/* Unsent bytes a socket to another host may hold. The kernel grows a
 * socket's buffer to megabytes, and what waits there waits ahead of every
 * message queued after it: on a 4 MiB/s uplink shared by seven peers, 1.5
 * MB per socket held each HAVE, INTERESTED and REQUEST back by 3 s. 64 KiB
 * is 125 ms at 0.5 MiB/s and still keeps a gigabit link fed (the bytes in
 * flight are not counted); libtorrent sets 16 KiB. */
#define SH_TCP_NOTSENT_LOWAT (64 * 1024)

static int fd_of(struct tcp *c);

/* A peer on this host: a loopback address, or our own address at the other
 * end (a connection to the machine's own IP runs over loopback too). A
 * socket to another host gets a small unsent queue. */
static void find_local(struct tcp *c)
{
  struct sockaddr_storage ss;
  int len = sizeof ss;
  struct sh_addr me;
  if (sh_addr_is_loopback(&c->t.remote) ||
      (uv_tcp_getsockname(&c->h, (struct sockaddr *)&ss, &len) == 0 &&
       sh_addr_from_sockaddr(&me, (struct sockaddr *)&ss) == 0 &&
       sh_addr_same_ip(&me, &c->t.remote))) {
    c->t.flags |= SH_TRANSPORT_LOCAL;
    return;
  }
  int lowat = SH_TCP_NOTSENT_LOWAT, fd = fd_of(c);
  if (fd >= 0)
    setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat); /* a hint */
}

static void on_connect(uv_connect_t *req, int status)
{
  struct tcp *c = req->data;
  c->connecting = 0;
  if (c->closing)
    return;
  if (status == 0) {
    uv_tcp_nodelay(&c->h, 1);
    find_local(c);
  }
  c->t.cb->on_connect(c->t.ud, status);
}

int sh_tcp_connect(uv_loop_t *loop, const struct sh_addr *addr, unsigned flags,
                   const struct sh_transport_cb *cb, void *ud, struct sh_transport **out)
{
  struct tcp *c = tcp_new(loop, flags);
  if (!c)
    return -ENOMEM;
  c->t.cb = cb;
  c->t.ud = ud;
  c->t.remote = *addr;
  struct sockaddr_storage ss;
  sh_addr_to_sockaddr(addr, &ss);
  c->creq.data = c;
  int rc = uv_tcp_connect(&c->creq, &c->h, (const struct sockaddr *)&ss, on_connect);
  if (rc < 0) {
    c->t.cb = NULL; /* no callback after a failed call */
    c->closing = 1;
    uv_close((uv_handle_t *)&c->h, on_tcp_closed);
    return rc;
  }
  c->connecting = 1;
  *out = &c->t;
  return 0;
}

int sh_tcp_accept(uv_loop_t *loop, uv_stream_t *server, unsigned flags, struct sh_transport **out)
{
  struct tcp *c = tcp_new(loop, flags);
  if (!c)
    return -ENOMEM;
  int rc = uv_accept(server, (uv_stream_t *)&c->h);
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (rc == 0 && uv_tcp_getpeername(&c->h, (struct sockaddr *)&ss, &len) == 0)
    sh_addr_from_sockaddr(&c->t.remote, (struct sockaddr *)&ss);
  if (rc < 0) {
    c->closing = 1;
    uv_close((uv_handle_t *)&c->h, on_tcp_closed);
    return rc;
  }
  uv_tcp_nodelay(&c->h, 1);
  find_local(c);
  *out = &c->t;
  return 0;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  struct tcp *c = h->data;
  uint8_t *p = NULL;
  size_t len = 0;
  (void)suggested;
  c->t.cb->alloc(c->t.ud, &p, &len);
  c->abuf = p;
  buf->base = (char *)p;
  buf->len = len;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
  struct tcp *c = st->data;
  (void)buf;
  if (c->closing)
    return;
  if (nread == UV_EOF)
    nread = SH_ECLOSED;
  else if (nread == UV_ENOBUFS)
    nread = -ENOMEM;
  c->t.cb->on_read(c->t.ud, nread);
}

static int tcp_read_start(struct sh_transport *t)
{
  struct tcp *c = tcp_of(t);
  if (c->reading || c->closing)
    return 0;
  int rc = uv_read_start((uv_stream_t *)&c->h, alloc_cb, on_read);
  if (rc == 0)
    c->reading = 1;
  return rc;
}

static void tcp_read_stop(struct sh_transport *t)
{
  struct tcp *c = tcp_of(t);
  if (c->reading)
    uv_read_stop((uv_stream_t *)&c->h);
  c->reading = 0;
}

static int fd_of(struct tcp *c)
{
  uv_os_fd_t fd;
  return uv_fileno((uv_handle_t *)&c->h, &fd) < 0 ? -1 : fd;
}

static ssize_t tcp_writev(struct sh_transport *t, const struct iovec *iov, int iovcnt, int more)
{
  int fd = fd_of(tcp_of(t));
  if (fd < 0)
    return -EBADF;
  struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
  /* MSG_NOSIGNAL: a peer that hung up gets EPIPE, not a process-wide
   * signal. MSG_MORE holds a piece header back so it leaves in one packet
   * with the payload that follows (TCP_NODELAY is on). */
  ssize_t n;
  do
    n = sendmsg(fd, &mh, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  return n ? n : -EAGAIN;
}

static ssize_t tcp_sendfile(struct sh_transport *t, int in_fd, uint64_t off, size_t len)
{
  int fd = fd_of(tcp_of(t));
  if (fd < 0)
    return -EBADF;
  off_t o = (off_t)off;
  ssize_t n;
  do
    n = sh_tcp_sendfile_fn(fd, in_fd, &o, len);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  return n ? n : SH_EINCOMPLETE; /* the file shrank under us */
}

static void on_writable(uv_poll_t *h, int status, int events)
{
  struct tcp *c = h->data;
  (void)events;
  (void)status; /* an error shows up in the next write */
  if (c->closing)
    return;
  uv_poll_stop(h);
  c->wpolling = 0;
  c->t.cb->on_writable(c->t.ud);
}

static int tcp_poll_writable(struct sh_transport *t, int on)
{
  struct tcp *c = tcp_of(t);
  if (on == c->wpolling || c->closing)
    return 0;
  if (on && !c->wpoll) {
    int fd = fd_of(c);
    if (fd < 0)
      return -EBADF;
    int dfd = dup(fd);
    if (dfd < 0)
      return -errno;
    uv_poll_t *h = malloc(sizeof *h);
    if (!h) {
      close(dfd);
      return -ENOMEM;
    }
    int rc = uv_poll_init_socket(c->h.loop, h, dfd);
    if (rc < 0) {
      free(h);
      close(dfd);
      return rc;
    }
    h->data = c;
    c->wpoll = h;
    c->open_handles++;
  }
  int rc = on ? uv_poll_start(c->wpoll, UV_WRITABLE, on_writable) : uv_poll_stop(c->wpoll);
  if (rc == 0)
    c->wpolling = on;
  return rc;
}

static void tcp_close(struct sh_transport *t)
{
  struct tcp *c = tcp_of(t);
  if (c->closing)
    return;
  c->closing = 1;
  tcp_read_stop(t);
  if (c->wpoll) {
    /* the duplicate descriptor is closed in on_wpoll_closed */
    uv_close((uv_handle_t *)c->wpoll, on_wpoll_closed);
    c->wpoll = NULL;
  }
  uv_close((uv_handle_t *)&c->h, on_tcp_closed);
}

static const struct sh_transport_ops tcp_ops = {
    .name = "tcp",
    .read_start = tcp_read_start,
    .read_stop = tcp_read_stop,
    .writev = tcp_writev,
    .sendfile = tcp_sendfile,
    .poll_writable = tcp_poll_writable,
    .close = tcp_close,
};
