/* shoal-dht-load: a KRPC load generator for one DHT node on this host, and
 * what the node costs under it (bench/dht.sh runs it against `shoal dht`
 * and libtorrent's node side by side).
 *
 *   shoal-dht-load --target 127.0.0.1:PORT [--pid PID] [--hashes 10000]
 *                  [--rate 5000] [--seconds 30] [--sources 32]
 *
 * 1. Fill: get_peers for each of `hashes` info-hashes (libtorrent's tokens
 *    belong to an address and an info-hash; shoal's to an address), then
 *    announce_peer for each with its token, paced at the rate; then
 *    sample_infohashes (BEP 51) reads back how many the node stores.
 * 2. Load: `rate` queries a second for `seconds` from `sources` sockets,
 *    each a node of its own id: get_peers of a stored info-hash 40 %, of an
 *    unknown one 10 %, find_node 30 %, ping 15 %, announce_peer 5 %. Pings
 *    the node sends us are answered, so its table fills with good nodes.
 * With --pid, the node's CPU time during the load (from /proc) and its
 * memory (VmRSS, VmHWM) are printed, with the replies, their latency and
 * what went unanswered. Exit status 1 when fewer than 90 % were answered. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "dht/krpc.h"

#define MAX_SOURCES 256
#define RING 65536 /* tids in flight tracked for latency: 13 s at 5,000/s */

struct gen {
  struct sockaddr_in target;
  int fd[MAX_SOURCES];
  uint8_t id[MAX_SOURCES][20];
  int nsrc;
  uint32_t hashes;
  uint8_t (*ih)[20];
  uint8_t (*token)[32];         /* per info-hash */
  uint8_t *token_len;
  uint32_t fill_hash[RING];     /* fill: which info-hash a get_peers asked */
  uint32_t tokens;
  uint64_t rng;
  uint32_t seq;
  double sent_at[RING];
  uint64_t sent, replies, errors, answered_pings;
  double *lat;
  size_t nlat, cap_lat;
  int fill; /* in the fill phase: latencies not kept */
};

static double now_s(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rnd(struct gen *g)
{
  g->rng ^= g->rng >> 12;
  g->rng ^= g->rng << 25;
  g->rng ^= g->rng >> 27;
  return g->rng * 2685821657736338717ull;
}

static void rnd_bytes(struct gen *g, uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(rnd(g) >> 32);
}

static void send_query(struct gen *g, int src, struct sh_krpc_msg *m)
{
  uint8_t tid[4];
  uint32_t seq = g->seq++;
  tid[0] = (uint8_t)(seq >> 24), tid[1] = (uint8_t)(seq >> 16);
  tid[2] = (uint8_t)(seq >> 8), tid[3] = (uint8_t)seq;
  m->type = SH_KRPC_QUERY;
  m->tid = tid;
  m->tid_len = 4;
  m->has_id = 1;
  memcpy(m->id, g->id[src], 20);
  struct sh_buf b = SH_BUF_INIT;
  sh_krpc_encode(&b, m);
  g->sent_at[seq % RING] = now_s();
  if (sendto(g->fd[src], b.data, b.len, 0, (struct sockaddr *)&g->target, sizeof g->target) > 0)
    g->sent++;
  sh_buf_free(&b);
}

/* A query about target (NULL: none); an announce uses the token got for
 * info-hash h. */
static void query(struct gen *g, int src, int method, const uint8_t *target, uint32_t h)
{
  struct sh_krpc_msg m;
  memset(&m, 0, sizeof m);
  m.method = (uint8_t)method;
  if (target) {
    memcpy(m.target, target, 20);
    m.has_target = 1;
  }
  if (method == SH_KRPC_ANNOUNCE_PEER) {
    m.port = (uint16_t)(1024 + rnd(g) % 60000);
    m.token = g->token[h];
    m.token_len = g->token_len[h];
  }
  send_query(g, src, &m);
}

static void answer_ping(struct gen *g, int src, const struct sh_krpc_msg *q)
{
  struct sh_krpc_msg r;
  memset(&r, 0, sizeof r);
  r.type = SH_KRPC_RESPONSE;
  r.tid = q->tid;
  r.tid_len = q->tid_len;
  r.has_id = 1;
  memcpy(r.id, g->id[src], 20);
  struct sh_buf b = SH_BUF_INIT;
  sh_krpc_encode(&b, &r);
  sendto(g->fd[src], b.data, b.len, 0, (struct sockaddr *)&g->target, sizeof g->target);
  sh_buf_free(&b);
  g->answered_pings++;
}

/* Reads whatever arrived on every socket. */
static void drain(struct gen *g)
{
  static uint8_t buf[4096];
  static struct sh_krpc_msg m;
  double t = now_s();
  for (int s = 0; s < g->nsrc; s++) {
    ssize_t n;
    while ((n = recv(g->fd[s], buf, sizeof buf, MSG_DONTWAIT)) > 0) {
      const char *why;
      if (sh_krpc_decode(buf, (size_t)n, &m, &why) < 0)
        continue;
      if (m.type == SH_KRPC_QUERY) {
        if (m.method == SH_KRPC_PING || m.method == SH_KRPC_FIND_NODE)
          answer_ping(g, s, &m);
        continue;
      }
      if (m.type == SH_KRPC_ERROR)
        g->errors++;
      else
        g->replies++;
      if (g->fill && m.token_len && m.token_len <= sizeof g->token[0] && m.tid_len == 4) {
        uint32_t seq = (uint32_t)m.tid[0] << 24 | (uint32_t)m.tid[1] << 16 |
                       (uint32_t)m.tid[2] << 8 | m.tid[3];
        uint32_t h = g->fill_hash[seq % RING];
        g->tokens += !g->token_len[h];
        memcpy(g->token[h], m.token, m.token_len);
        g->token_len[h] = (uint8_t)m.token_len;
      }
      if (m.has_samples && g->fill)
        printf("%-28s %lld info-hashes stored (BEP 51 num)\n", "node reports", (long long)m.num);
      if (m.tid_len == 4 && !g->fill) {
        uint32_t seq = (uint32_t)m.tid[0] << 24 | (uint32_t)m.tid[1] << 16 |
                       (uint32_t)m.tid[2] << 8 | m.tid[3];
        if (g->cap_lat == g->nlat) {
          g->cap_lat = g->cap_lat ? 2 * g->cap_lat : 65536;
          g->lat = realloc(g->lat, g->cap_lat * sizeof *g->lat);
          if (!g->lat)
            abort();
        }
        g->lat[g->nlat++] = (t - g->sent_at[seq % RING]) * 1000;
      }
    }
  }
}

/* Sends `count` queries from pick() at `rate` a second, reading replies
 * as it goes. */
static void paced(struct gen *g, uint64_t count, double rate, void (*pick)(struct gen *, uint64_t))
{
  double start = now_s();
  for (uint64_t i = 0; i < count;) {
    double due = start + (double)i / rate;
    double t = now_s();
    if (t < due) {
      drain(g);
      struct pollfd p = {g->fd[0], POLLIN, 0};
      int ms = (int)((due - now_s()) * 1000);
      poll(&p, 1, ms > 0 ? ms : 0);
      continue;
    }
    /* catch up in bursts of at most 64 when late */
    for (int k = 0; k < 64 && i < count && start + (double)i / rate <= t; k++, i++)
      pick(g, i);
  }
}

static void pick_token(struct gen *g, uint64_t i)
{
  g->fill_hash[g->seq % RING] = (uint32_t)i;
  query(g, 0, SH_KRPC_GET_PEERS, g->ih[i], 0);
}

static void pick_fill(struct gen *g, uint64_t i)
{
  if (g->token_len[i])
    query(g, 0, SH_KRPC_ANNOUNCE_PEER, g->ih[i], (uint32_t)i);
}

static void pick_load(struct gen *g, uint64_t i)
{
  (void)i;
  int src = (int)(rnd(g) % (uint64_t)g->nsrc);
  unsigned r = (unsigned)(rnd(g) % 100);
  uint8_t t[20];
  if (r < 40) {
    query(g, src, SH_KRPC_GET_PEERS, g->ih[rnd(g) % g->hashes], 0);
  } else if (r < 50) {
    rnd_bytes(g, t, 20);
    query(g, src, SH_KRPC_GET_PEERS, t, 0);
  } else if (r < 80) {
    rnd_bytes(g, t, 20);
    query(g, src, SH_KRPC_FIND_NODE, t, 0);
  } else if (r < 95) {
    query(g, src, SH_KRPC_PING, NULL, 0);
  } else {
    uint32_t h = (uint32_t)(rnd(g) % g->hashes);
    query(g, src, g->token_len[h] ? SH_KRPC_ANNOUNCE_PEER : SH_KRPC_GET_PEERS, g->ih[h], h);
  }
}

struct proc_use {
  double cpu_s;
  long rss_kb, hwm_kb;
};

static int proc_read(int pid, struct proc_use *u)
{
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  unsigned long ut = 0, st = 0;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
    return -1;
  u->cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  if (!(f = fopen(path, "r")))
    return -1;
  while (fgets(buf, sizeof buf, f)) {
    sscanf(buf, "VmRSS: %ld", &u->rss_kb);
    sscanf(buf, "VmHWM: %ld", &u->hwm_kb);
  }
  fclose(f);
  return 0;
}

static int cmp_d(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int open_sources(struct gen *g)
{
  for (int s = 0; s < g->nsrc; s++) {
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int buf = 1 << 20;
    if ((g->fd[s] = socket(AF_INET, SOCK_DGRAM, 0)) < 0 ||
        setsockopt(g->fd[s], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf) < 0 ||
        bind(g->fd[s], (struct sockaddr *)&a, sizeof a) < 0) {
      perror("shoal-dht-load: socket");
      return -1;
    }
    rnd_bytes(g, g->id[s], 20);
  }
  return 0;
}

int main(int argc, char **argv)
{
  static struct gen g;
  const char *target = NULL;
  int pid = 0;
  double rate = 5000, seconds = 30;
  g.hashes = 10000;
  g.nsrc = 32;
  g.rng = 0x9e3779b97f4a7c15ull;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--target"))
      target = argv[i + 1];
    else if (!strcmp(argv[i], "--pid"))
      pid = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--hashes"))
      g.hashes = (uint32_t)strtoul(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--rate"))
      rate = strtod(argv[i + 1], NULL);
    else if (!strcmp(argv[i], "--seconds"))
      seconds = strtod(argv[i + 1], NULL);
    else if (!strcmp(argv[i], "--sources"))
      g.nsrc = atoi(argv[i + 1]);
  }
  char host[64];
  unsigned port = 0;
  if (!target || sscanf(target, "%63[^:]:%u", host, &port) != 2 || !port || port > 65535 ||
      inet_pton(AF_INET, host, &g.target.sin_addr) != 1 || g.nsrc < 1 ||
      g.nsrc > MAX_SOURCES || !g.hashes || g.hashes > RING || rate <= 0 || seconds <= 0) {
    fprintf(stderr, "usage: shoal-dht-load --target IPv4:PORT [--pid PID] [--hashes N] "
                    "[--rate Q] [--seconds S] [--sources 1-%d]\n", MAX_SOURCES);
    return 2;
  }
  g.target.sin_family = AF_INET;
  g.target.sin_port = htons((uint16_t)port);
  if (open_sources(&g) < 0 || !(g.ih = calloc(g.hashes, 20)) ||
      !(g.token = calloc(g.hashes, sizeof *g.token)) || !(g.token_len = calloc(g.hashes, 1)))
    return 1;
  for (uint32_t i = 0; i < g.hashes; i++)
    rnd_bytes(&g, g.ih[i], 20);

  /* 1. fill */
  g.fill = 1;
  double t0 = now_s();
  paced(&g, g.hashes, rate, pick_token);
  usleep(500000);
  drain(&g);
  if (!g.tokens) {
    fprintf(stderr, "shoal-dht-load: no token from %s\n", target);
    return 1;
  }
  g.replies = g.errors = 0;
  paced(&g, g.hashes, rate, pick_fill);
  usleep(500000);
  drain(&g);
  printf("%-28s %u info-hashes in %.1f s: %u tokens, %llu announces acknowledged, %llu errors\n",
         "fill", g.hashes, now_s() - t0, g.tokens, (unsigned long long)g.replies,
         (unsigned long long)g.errors);
  query(&g, 0, SH_KRPC_SAMPLE_INFOHASHES, g.ih[0], 0);
  usleep(300000);
  drain(&g);

  /* 2. load */
  g.fill = 0;
  g.sent = g.replies = g.errors = 0;
  struct proc_use before = {0}, after = {0};
  if (pid && proc_read(pid, &before) < 0) {
    fprintf(stderr, "shoal-dht-load: cannot read /proc/%d\n", pid);
    return 1;
  }
  t0 = now_s();
  paced(&g, (uint64_t)(rate * seconds), rate, pick_load);
  double dt = now_s() - t0;
  if (pid)
    proc_read(pid, &after);
  usleep(500000);
  drain(&g);
  printf("%-28s %llu queries in %.1f s (%.0f/s), %llu answered (%.1f %%), %llu errors, "
         "%llu pings answered\n", "load", (unsigned long long)g.sent, dt, (double)g.sent / dt,
         (unsigned long long)g.replies, 100.0 * (double)g.replies / (double)(g.sent ? g.sent : 1),
         (unsigned long long)g.errors, (unsigned long long)g.answered_pings);
  if (g.nlat) {
    qsort(g.lat, g.nlat, sizeof *g.lat, cmp_d);
    printf("%-28s median %.3f ms, p99 %.3f ms\n", "reply latency", g.lat[g.nlat / 2],
           g.lat[g.nlat * 99 / 100]);
  }
  if (pid)
    printf("%-28s %.1f %% of one core (%.2f s CPU), RSS %.1f MiB, peak %.1f MiB\n", "node",
           100 * (after.cpu_s - before.cpu_s) / dt, after.cpu_s - before.cpu_s,
           (double)after.rss_kb / 1024, (double)after.hwm_kb / 1024);
  free(g.lat);
  free(g.ih);
  free(g.token);
  free(g.token_len);
  return g.replies * 10 >= g.sent * 9 ? 0 : 1;
}
