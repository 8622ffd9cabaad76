/* shoal-net-delay: adds a fixed delay to every packet a network namespace
 * receives, for bench/swarm.sh. This kernel has no sch_netem, so the
 * packets come from an iptables NFQUEUE rule (mangle PREROUTING) in each
 * namespace; one process serves all of them: it enters each namespace in
 * turn to bind its queue there (a netlink socket belongs to the namespace
 * it was made in), then holds each packet for DELAY and lets it go, in
 * the order it came, with one batch verdict per release. A round trip
 * between two namespaces so treated takes twice DELAY.
 *
 *   shoal-net-delay DELAY_MS QUEUE NETNS...
 *
 * Runs until SIGTERM or SIGINT. The queues are fail-open: were the
 * program to fall behind and a queue fill, packets pass undelayed rather
 * than dropped (the benchmark adds loss on purpose, never by accident).
 * Packets are not copied to user space (metadata only). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_NS 128
/* 20 ms at 40,000 packets/s is 800 held packets; room for far more */
#define RING (1u << 17)

struct held {
  uint32_t id;
  uint64_t t_ns;
};

struct ns {
  const char *name;
  struct nfq_handle *h;
  struct nfq_q_handle *qh;
  int fd;
  struct held *ring;
  uint32_t head, n;
  uint64_t seen, overflow;
};

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig, stop = 1; }

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *d, void *ud)
{
  (void)msg;
  struct ns *s = ud;
  struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(d);
  if (!ph)
    return 0;
  uint32_t id = ntohl(ph->packet_id);
  s->seen++;
  if (s->n == RING) {
    /* cannot hold it: let it through now (and everything before it, which
     * a batch verdict would release anyway) */
    s->overflow++;
    nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
    return 0;
  }
  s->ring[(s->head + s->n) % RING] = (struct held){id, now_ns()};
  s->n++;
  return 0;
}

static int open_in(struct ns *s, int queue)
{
  char path[256];
  snprintf(path, sizeof path, "/run/netns/%s", s->name);
  int nfd = open(path, O_RDONLY | O_CLOEXEC);
  if (nfd < 0 || setns(nfd, CLONE_NEWNET) < 0) {
    fprintf(stderr, "net-delay: cannot enter %s: %s\n", s->name, strerror(errno));
    return -1;
  }
  close(nfd);
  if (!(s->h = nfq_open()) || !(s->qh = nfq_create_queue(s->h, (uint16_t)queue, on_packet, s))) {
    fprintf(stderr, "net-delay: %s: cannot bind queue %d: %s\n", s->name, queue, strerror(errno));
    return -1;
  }
  nfq_set_mode(s->qh, NFQNL_COPY_META, 0);
  nfq_set_queue_maxlen(s->qh, RING);
  nfq_set_queue_flags(s->qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);
  s->fd = nfq_fd(s->h);
  nfnl_rcvbufsiz(nfq_nfnlh(s->h), 16u << 20);
  int one = 1;
  setsockopt(s->fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
  fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK);
  if (!(s->ring = malloc(RING * sizeof *s->ring)))
    return -1;
  return 0;
}

/* Lets go every packet held for the delay: one verdict for the newest of
 * them accepts all before it too. */
static void release(struct ns *s, uint64_t now, uint64_t delay)
{
  uint32_t last = 0, k = 0;
  while (s->n && s->ring[s->head].t_ns + delay <= now) {
    last = s->ring[s->head].id;
    s->head = (s->head + 1) % RING;
    s->n--;
    k++;
  }
  if (k)
    nfq_set_verdict_batch(s->qh, last, NF_ACCEPT);
}

int main(int argc, char **argv)
{
  if (argc < 4) {
    fprintf(stderr, "usage: shoal-net-delay DELAY_MS QUEUE NETNS...\n");
    return 2;
  }
  uint64_t delay = (uint64_t)strtoull(argv[1], NULL, 10) * 1000000u;
  int queue = atoi(argv[2]);
  int nns = argc - 3;
  if (nns > MAX_NS) {
    fprintf(stderr, "net-delay: at most %d namespaces\n", MAX_NS);
    return 2;
  }
  static struct ns ns[MAX_NS];
  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  for (int i = 0; i < nns; i++) {
    ns[i].name = argv[3 + i];
    if (open_in(&ns[i], queue) < 0)
      return 1;
  }
  if (home >= 0)
    setns(home, CLONE_NEWNET);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  struct pollfd pfd[MAX_NS];
  for (int i = 0; i < nns; i++)
    pfd[i] = (struct pollfd){.fd = ns[i].fd, .events = POLLIN};
  static char buf[1 << 16];
  while (!stop) {
    uint64_t now = now_ns(), next = UINT64_MAX;
    for (int i = 0; i < nns; i++) {
      release(&ns[i], now, delay);
      if (ns[i].n && ns[i].ring[ns[i].head].t_ns + delay < next)
        next = ns[i].ring[ns[i].head].t_ns + delay;
    }
    struct timespec ts, *tp = NULL;
    if (next != UINT64_MAX) {
      uint64_t w = next > now ? next - now : 0;
      ts = (struct timespec){(time_t)(w / 1000000000u), (long)(w % 1000000000u)};
      tp = &ts;
    }
    int r = ppoll(pfd, (nfds_t)nns, tp, NULL);
    if (r < 0 && errno != EINTR)
      break;
    for (int i = 0; r > 0 && i < nns; i++) {
      if (!(pfd[i].revents & POLLIN))
        continue;
      for (int k = 0; k < 256; k++) {
        ssize_t n = recv(ns[i].fd, buf, sizeof buf, 0);
        if (n <= 0)
          break;
        nfq_handle_packet(ns[i].h, buf, (int)n);
      }
    }
  }
  /* let everything go before the queues close */
  for (int i = 0; i < nns; i++) {
    release(&ns[i], UINT64_MAX / 2, 0);
    if (ns[i].overflow)
      fprintf(stderr, "net-delay: %s: %llu of %llu packets passed undelayed (queue full)\n",
              ns[i].name, (unsigned long long)ns[i].overflow, (unsigned long long)ns[i].seen);
    nfq_destroy_queue(ns[i].qh);
    nfq_close(ns[i].h);
    free(ns[i].ring);
  }
  return 0;
}
