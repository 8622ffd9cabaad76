/* shoal-udp-load: a BEP 15 load generator for tracker benchmarks.
 *
 * rate mode (default): S sockets each connect once, then keep W announces
 * in flight and send a new one as each reply arrives, for D seconds; peers
 * are P distinct (torrent, port) pairs spread over T torrents. Prints
 * replies per second.
 *
 * fill mode (--fill): announces every one of T torrents x N peers exactly
 * once (lost datagrams are resent), with num_want 0, then exits; used to
 * load a tracker with a known number of peers before reading its memory.
 *
 * Info-hash of torrent i: its index as 4 big-endian bytes, repeated 5 times
 * (bench/tracker.sh writes the same hashes into opentracker's whitelist). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x41727101980ULL
#define MAXSOCK 64

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void wr32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static void wr64(uint8_t *p, uint64_t v) { wr32(p, v >> 32); wr32(p + 4, (uint32_t)v); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) << 32 | rd32(p + 4); }

struct sock {
  int fd;
  uint64_t cid;
  uint32_t inflight;
  double last;
};

static struct sockaddr_in dst;
static uint32_t T = 1000, N = 10, P = 20000, W = 64, S = 4, numwant = 50;
static double D = 10;

static int do_connect(struct sock *s)
{
  uint8_t req[16], rep[64];
  for (int tries = 0; tries < 20; tries++) {
    wr64(req, MAGIC);
    wr32(req + 8, 0);
    wr32(req + 12, 0xc0ffee00u + (uint32_t)tries);
    send(s->fd, req, 16, 0);
    struct pollfd p = {s->fd, POLLIN, 0};
    while (poll(&p, 1, 500) > 0) {
      ssize_t n = recv(s->fd, rep, sizeof rep, 0);
      if (n == 16 && rd32(rep) == 0 && rd32(rep + 4) == 0xc0ffee00u + (uint32_t)tries) {
        s->cid = rd64(rep + 8);
        return 0;
      }
    }
  }
  return -1;
}

/* an announce for peer k of torrent t */
static void build(uint8_t *p, uint64_t cid, uint32_t tid, uint32_t t, uint32_t port, int seeder,
                  uint32_t want)
{
  memset(p, 0, 98);
  wr64(p, cid);
  wr32(p + 8, 1);
  wr32(p + 12, tid);
  for (int i = 0; i < 5; i++)
    wr32(p + 16 + 4 * i, t);
  memcpy(p + 36, "-SB0001-", 8);
  wr32(p + 44, t);
  wr32(p + 48, port);
  wr64(p + 64, seeder ? 0 : 1000);      /* left */
  wr32(p + 80, 2);                      /* started */
  wr32(p + 88, t ^ port);               /* key */
  wr32(p + 92, want);
  p[96] = (uint8_t)(port >> 8);
  p[97] = (uint8_t)port;
}

static int open_socks(struct sock *ss)
{
  for (uint32_t i = 0; i < S; i++) {
    ss[i].fd = socket(AF_INET, SOCK_DGRAM, 0);
    int big = 4 << 20;
    setsockopt(ss[i].fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(ss[i].fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    if (connect(ss[i].fd, (struct sockaddr *)&dst, sizeof dst) < 0 || do_connect(&ss[i]) < 0) {
      fprintf(stderr, "shoal-udp-load: no connect reply from the tracker\n");
      return -1;
    }
  }
  return 0;
}

static int run_rate(void)
{
  struct sock ss[MAXSOCK];
  if (open_socks(ss) < 0)
    return 1;
  uint8_t pkt[98], rep[8192];
  uint64_t k = 0, replies = 0, errors = 0, refills = 0;
  double t0 = now(), end = t0 + D;
  for (uint32_t i = 0; i < S; i++) {
    for (uint32_t j = 0; j < W; j++, k++) {
      uint32_t peer = (uint32_t)(k % P);
      build(pkt, ss[i].cid, (uint32_t)k, peer % T, 1024 + peer / T % 60000, peer % 4 == 0, numwant);
      send(ss[i].fd, pkt, 98, 0);
    }
    ss[i].inflight = W;
    ss[i].last = t0;
  }
  struct pollfd pf[MAXSOCK];
  for (uint32_t i = 0; i < S; i++)
    pf[i] = (struct pollfd){ss[i].fd, POLLIN, 0};
  double t;
  while ((t = now()) < end) {
    int r = poll(pf, S, 50);
    if (r < 0 && errno != EINTR)
      break;
    for (uint32_t i = 0; i < S; i++) {
      if (pf[i].revents & POLLIN) {
        ssize_t n;
        while ((n = recv(ss[i].fd, rep, sizeof rep, MSG_DONTWAIT)) > 0) {
          if (n >= 8 && rd32(rep) == 1)
            replies++;
          else
            errors++;
          if (ss[i].inflight)
            ss[i].inflight--;
          uint32_t peer = (uint32_t)(k % P);
          build(pkt, ss[i].cid, (uint32_t)k++, peer % T, 1024 + peer / T % 60000, peer % 4 == 0,
                numwant);
          send(ss[i].fd, pkt, 98, 0);
          ss[i].inflight++;
          ss[i].last = t;
        }
      } else if (t - ss[i].last > 0.2) {
        /* replies were lost: top the window up again */
        for (uint32_t j = 0; j < W; j++, k++) {
          uint32_t peer = (uint32_t)(k % P);
          build(pkt, ss[i].cid, (uint32_t)k, peer % T, 1024 + peer / T % 60000, peer % 4 == 0,
                numwant);
          send(ss[i].fd, pkt, 98, 0);
        }
        ss[i].last = t;
        refills++;
      }
    }
  }
  double el = now() - t0;
  printf("udp announces/s: %.0f (replies %llu in %.1f s, errors %llu, window refills %llu; "
         "%u sockets x %u in flight, %u peers over %u torrents, num_want %u)\n",
         replies / el, (unsigned long long)replies, el, (unsigned long long)errors,
         (unsigned long long)refills, S, W, P, T, numwant);
  return errors ? 1 : 0;
}

static int run_fill(void)
{
  struct sock ss[MAXSOCK];
  S = 1;
  if (open_socks(ss) < 0)
    return 1;
  uint64_t total = (uint64_t)T * N;
  uint8_t *done = calloc(W, 1), pkt[98], rep[256];
  double t0 = now();
  for (uint64_t base = 0; base < total; base += W) {
    uint32_t cnt = (uint32_t)(total - base < W ? total - base : W), left = cnt;
    memset(done, 0, W);
    for (int round = 0; left && round < 50; round++) {
      for (uint32_t j = 0; j < cnt; j++) {
        if (done[j])
          continue;
        uint64_t idx = base + j;
        build(pkt, ss[0].cid, (uint32_t)idx, (uint32_t)(idx / N), 1024 + (uint32_t)(idx % N),
              idx % 2 == 0, 0);
        send(ss[0].fd, pkt, 98, 0);
      }
      struct pollfd p = {ss[0].fd, POLLIN, 0};
      while (left && poll(&p, 1, 300) > 0) {
        ssize_t n = recv(ss[0].fd, rep, sizeof rep, 0);
        if (n < 8)
          continue;
        if (rd32(rep) == 3) {
          fprintf(stderr, "shoal-udp-load: tracker error: %.*s\n", (int)n - 8, rep + 8);
          return 1;
        }
        uint64_t idx = rd32(rep + 4);
        if (idx >= base && idx < base + cnt && !done[idx - base]) {
          done[idx - base] = 1;
          left--;
        }
      }
      if (left && now() - t0 > 50 && do_connect(&ss[0]) < 0) /* IDs live 2 minutes */
        return 1;
    }
    if (left) {
      fprintf(stderr, "shoal-udp-load: %u announces never answered\n", left);
      return 1;
    }
    if (now() - t0 > 50) {
      do_connect(&ss[0]);
      t0 = now();
    }
  }
  printf("filled %llu peers over %u torrents\n", (unsigned long long)total, T);
  free(done);
  return 0;
}

int main(int argc, char **argv)
{
  const char *host = "127.0.0.1";
  int port = 6969, fill = 0, opt;
  static const struct option lo[] = {{"fill", no_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
  while ((opt = getopt_long(argc, argv, "a:p:t:n:P:w:s:d:W:h", lo, NULL)) != -1) {
    switch (opt) {
    case 'a': host = optarg; break;
    case 'p': port = atoi(optarg); break;
    case 't': T = (uint32_t)atol(optarg); break;
    case 'n': N = (uint32_t)atol(optarg); break;
    case 'P': P = (uint32_t)atol(optarg); break;
    case 'w': W = (uint32_t)atol(optarg); break;
    case 's': S = (uint32_t)atol(optarg); break;
    case 'd': D = atof(optarg); break;
    case 'W': numwant = (uint32_t)atol(optarg); break;
    case 'f': fill = 1; break;
    default:
      fprintf(stderr, "usage: shoal-udp-load [-a ADDR] [-p PORT] [-t TORRENTS] [-P PEERS] "
                      "[-w WINDOW] [-s SOCKETS] [-d SECONDS] [-W NUMWANT] | --fill -t T -n N\n");
      return 2;
    }
  }
  if (!T || !P || !W || !S || S > MAXSOCK || !N) {
    fprintf(stderr, "shoal-udp-load: counts must be positive (at most %d sockets)\n", MAXSOCK);
    return 2;
  }
  memset(&dst, 0, sizeof dst);
  dst.sin_family = AF_INET;
  dst.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &dst.sin_addr) != 1) {
    fprintf(stderr, "shoal-udp-load: %s is not an IPv4 address\n", host);
    return 2;
  }
  return fill ? run_fill() : run_rate();
}
