/* shoal-dht-sim: the DHT core alone, N nodes in one process on a virtual
 * clock with lossy links (tests/unit/dht_net.h), and the figures of the
 * issue: the success rate of get_peers lookups, queries per lookup,
 * simulated time per lookup, and memory per node.
 *
 *   shoal-dht-sim [--nodes 10000] [--loss 0.05] [--hashes 200]
 *                 [--lookups 1000] [--seed 1] [--min-success 0.99]
 *
 * The nodes join one every 5 ms of virtual time, each bootstrapping from
 * two of the first 8, which play the public routers (every client ships
 * a few); the network then settles for 2 minutes; `hashes` peers
 * announce (each from a random node, on its own port), and `lookups`
 * other nodes each look one of them up. A lookup succeeds when the
 * announced peer is among the values it received. Exit status 1 when the
 * success rate is below --min-success. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/unit/dht_net.h"

/* Bootstrap routers among the nodes (see main). */
#define ROUTERS 8

struct opts {
  uint32_t nodes, hashes, lookups;
  double loss, min_success;
  uint64_t seed;
};

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void stats_line(const char *what, uint64_t *v, size_t n, const char *unit)
{
  if (!n) {
    printf("%-30s none\n", what);
    return;
  }
  qsort(v, n, sizeof *v, cmp_u64);
  double sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += (double)v[i];
  printf("%-30s mean %.1f, median %llu, p95 %llu, max %llu %s\n", what, sum / (double)n,
         (unsigned long long)v[n / 2], (unsigned long long)v[n * 95 / 100],
         (unsigned long long)v[n - 1], unit);
}

static size_t heap_in_use(void)
{
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

static int parse(int argc, char **argv, struct opts *o)
{
  *o = (struct opts){10000, 200, 1000, 0.05, 0.99, 1};
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--nodes"))
      o->nodes = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "--hashes"))
      o->hashes = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "--lookups"))
      o->lookups = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(k, "--loss"))
      o->loss = strtod(v, NULL);
    else if (!strcmp(k, "--min-success"))
      o->min_success = strtod(v, NULL);
    else if (!strcmp(k, "--seed"))
      o->seed = strtoull(v, NULL, 10);
    else {
      fprintf(stderr, "usage: shoal-dht-sim [--nodes N] [--loss P] [--hashes H] "
                      "[--lookups L] [--seed S] [--min-success R]\n");
      return -1;
    }
  }
  if (o->nodes < 16 || o->lookups + 1 > o->nodes || o->hashes < 1 || o->nodes > (1u << 24)) {
    fprintf(stderr, "shoal-dht-sim: need 16 <= nodes < 2^24, lookups < nodes, hashes >= 1\n");
    return -1;
  }
  return 0;
}

/* Info-hash h: 20 bytes from the network's generator, kept here. */
static uint8_t (*hashes)[20];
static uint32_t *announcer;

static void announce_all(struct dnet *net, const struct opts *o)
{
  hashes = calloc(o->hashes, sizeof *hashes);
  announcer = calloc(o->hashes, sizeof *announcer);
  if (!hashes || !announcer)
    abort();
  uint32_t ok = 0;
  for (uint32_t h = 0; h < o->hashes; h++) {
    sh_dht_rand_bytes(&net->rng, hashes[h], 20);
    announcer[h] = (uint32_t)(sh_dht_rand(&net->rng) % net->nn);
    struct dnet_node *x = &net->n[announcer[h]];
    struct sh_dht_search_opts so = {.port = (uint16_t)(10000 + h), .seed = 1};
    if (sh_dht_search(x->d, hashes[h], 4, &so, net->now) < 0)
      abort();
  }
  dnet_run(net, net->now + 60000);
  for (uint32_t h = 0; h < o->hashes; h++)
    ok += net->n[announcer[h]].last.announced > 0;
  printf("%-30s %u of %u reached at least one node\n", "announces", ok, o->hashes);
}

int main(int argc, char **argv)
{
  struct opts o;
  if (parse(argc, argv, &o) < 0)
    return 2;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  size_t mem0 = heap_in_use();
  struct dnet net;
  dnet_init(&net, o.nodes, o.seed, o.loss);
  size_t mem_net = heap_in_use();
  /* the first ROUTERS nodes play the public bootstrap routers: each
   * joins from the one before it; every other node is configured with two
   * of them, as clients ship several */
  for (uint32_t i = 0; i < o.nodes; i++) {
    uint32_t r = i < ROUTERS ? (i ? i - 1 : 0) : (uint32_t)(sh_dht_rand(&net.rng) % ROUTERS);
    dnet_up(&net, i, r, NULL);
    if (i >= ROUTERS) {
      struct sh_addr b = dnet_addr((r + 1 + (uint32_t)(sh_dht_rand(&net.rng) % (ROUTERS - 1))) %
                                   ROUTERS);
      sh_dht_bootstrap(net.n[i].d, &b, net.now);
    }
    dnet_run(&net, net.now + 5);
  }
  dnet_run(&net, net.now + 120000);
  size_t queue = net.caph * sizeof *net.h + net.bytes_queued + net.nh * 16;
  double per_node = ((double)heap_in_use() - (double)mem_net - (double)queue) / o.nodes;
  (void)mem0;
  uint64_t tnodes = 0, tgood = 0, tbuckets = 0;
  for (uint32_t i = 0; i < o.nodes; i++) {
    struct sh_dht_stats st;
    sh_dht_stats(net.n[i].d, net.now, &st);
    tnodes += st.nodes[0];
    tgood += st.good[0];
    tbuckets += st.buckets[0];
  }
  printf("shoal-dht-sim: %u nodes, %.1f %% loss each way, delay 10-100 ms, seed %llu\n",
         o.nodes, 100 * o.loss, (unsigned long long)o.seed);
  printf("%-30s %.1f nodes (%.1f good) in %.1f buckets\n", "routing table per node",
         (double)tnodes / o.nodes, (double)tgood / o.nodes, (double)tbuckets / o.nodes);
  printf("%-30s %.1f KiB\n", "memory per node", per_node / 1024);
  announce_all(&net, &o);

  /* each lookup from a distinct node that announced nothing */
  uint64_t *queries = calloc(o.lookups, sizeof *queries);
  uint64_t *first = calloc(o.lookups, sizeof *first);
  uint64_t *total = calloc(o.lookups, sizeof *total);
  uint32_t *who = calloc(o.lookups, sizeof *who);
  uint8_t *used = calloc(o.nodes, 1);
  if (!queries || !first || !total || !who || !used)
    abort();
  for (uint32_t h = 0; h < o.hashes; h++)
    used[announcer[h]] = 1;
  uint32_t found = 0, nfirst = 0, done = 0;
  for (uint32_t l = 0; l < o.lookups; l++) {
    uint32_t i;
    do
      i = (uint32_t)(sh_dht_rand(&net.rng) % o.nodes);
    while (used[i]);
    used[i] = 1;
    who[l] = i;
    uint32_t h = (uint32_t)(sh_dht_rand(&net.rng) % o.hashes);
    struct dnet_node *x = &net.n[i];
    memcpy(x->want, hashes[h], 20);
    x->wanted_peer = dnet_addr(announcer[h]);
    x->wanted_peer.port = (uint16_t)(10000 + h);
    struct sh_dht_search_opts so = {0};
    if (sh_dht_search(x->d, hashes[h], 4, &so, net.now) < 0)
      abort();
    /* 50 lookups start together, 100 ms apart, so they overlap */
    if (l % 50 == 49)
      dnet_run(&net, net.now + 100);
  }
  dnet_run(&net, net.now + 60000);
  for (uint32_t l = 0; l < o.lookups; l++) {
    struct dnet_node *x = &net.n[who[l]];
    if (!x->done)
      continue;
    done++;
    found += (uint32_t)x->found;
    queries[l] = x->last.queries;
    total[l] = x->last.elapsed_ms;
    if (x->last.first_value_ms)
      first[nfirst++] = x->last.first_value_ms;
  }
  double rate = (double)found / o.lookups;
  printf("%-30s %.2f %% (%u of %u found the peer; %u finished)\n", "get_peers success", 100 * rate,
         found, o.lookups, done);
  stats_line("queries per lookup", queries, o.lookups, "");
  stats_line("time to the first peer", first, nfirst, "ms (simulated)");
  stats_line("time to convergence", total, o.lookups, "ms (simulated)");
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%-30s %llu sent, %llu lost; %.1f s of wall time for %.0f s simulated\n", "datagrams",
         (unsigned long long)net.sent, (unsigned long long)net.lost,
         (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
         (double)(net.now - 1000) / 1000);
  free(queries);
  free(first);
  free(total);
  free(who);
  free(used);
  free(hashes);
  free(announcer);
  dnet_free(&net);
  if (rate < o.min_success) {
    printf("FAIL: success %.2f %% is below %.2f %%\n", 100 * rate, 100 * o.min_success);
    return 1;
  }
  return 0;
}
