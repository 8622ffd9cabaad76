/* libFuzzer target: KRPC, the DHT's messages (dht/krpc.c), and a DHT node
 * reading them (dht/dht.c).
 *
 * The first byte is for the node (below); the rest is the datagram.
 * Codec: whatever decodes must encode to bytes that decode to the same
 * message (type, method, tid, id, target, token, port, flags, nodes,
 * values, filters, samples, error), and a decoded `nodes`/`nodes6` is a
 * whole number of entries. Node: the same bytes go to one long-lived
 * node as a datagram from one of a few addresses (the first byte picks
 * which and the time step); every reply it sends must decode and be at
 * most 1500 bytes, and its tables and store stay within their bounds. */
#include <stdlib.h>
#include <string.h>

#include "dht/dht.h"
#include "dht/krpc.h"
#include "dht/rtable.h"

#define CHECK(c) \
  do {           \
    if (!(c))    \
      abort();   \
  } while (0)

static int same_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
  return an == bn && (!an || !memcmp(a, b, an));
}

static void same_msg(const struct sh_krpc_msg *a, const struct sh_krpc_msg *b)
{
  CHECK(a->type == b->type && a->method == b->method);
  CHECK(same_bytes(a->tid, a->tid_len, b->tid, b->tid_len));
  CHECK(a->has_id == b->has_id && (!a->has_id || !memcmp(a->id, b->id, 20)));
  CHECK(a->has_ip == b->has_ip && a->ro == b->ro);
  CHECK(a->err_code == b->err_code);
  if (a->type == SH_KRPC_ERROR)
    return;
  CHECK(a->has_target == b->has_target && (!a->has_target || !memcmp(a->target, b->target, 20)));
  CHECK(same_bytes(a->token, a->token_len, b->token, b->token_len));
  CHECK(a->port == b->port && a->implied_port == b->implied_port && a->want == b->want);
  CHECK(a->seed == b->seed && a->noseed == b->noseed && a->scrape == b->scrape);
  CHECK(a->has_nodes == b->has_nodes && same_bytes(a->nodes, a->nodes_len, b->nodes, b->nodes_len));
  CHECK(a->has_nodes6 == b->has_nodes6 &&
        same_bytes(a->nodes6, a->nodes6_len, b->nodes6, b->nodes6_len));
  CHECK(a->nodes_len % SH_KRPC_NODE4_LEN == 0 && a->nodes6_len % SH_KRPC_NODE6_LEN == 0);
  CHECK(a->nvalues == b->nvalues && b->values_dropped == 0);
  for (size_t i = 0; i < a->nvalues; i++)
    CHECK(sh_addr_eq(&a->values[i], &b->values[i]));
  CHECK(!a->bf_seeds == !b->bf_seeds && !a->bf_peers == !b->bf_peers);
  CHECK(a->has_samples == b->has_samples &&
        same_bytes(a->samples, a->samples_len, b->samples, b->samples_len));
}

static void codec(const uint8_t *p, size_t n)
{
  static struct sh_krpc_msg m, back;
  const char *why = NULL;
  if (sh_krpc_decode(p, n, &m, &why) < 0) {
    CHECK(why != NULL);
    return;
  }
  if (m.type == SH_KRPC_QUERY && m.method == SH_KRPC_UNKNOWN)
    return; /* its method name is not kept: nothing to compare */
  struct sh_buf b = SH_BUF_INIT;
  sh_krpc_encode(&b, &m);
  CHECK(!b.oom);
  CHECK(sh_krpc_decode(b.data, b.len, &back, &why) == 0);
  same_msg(&m, &back);
  sh_buf_free(&b);
}

static void on_send(void *ud, const uint8_t *p, size_t n, const struct sh_addr *to)
{
  static struct sh_krpc_msg m;
  const char *why;
  (void)ud;
  CHECK(n <= 1500 && to->port != 0);
  CHECK(sh_krpc_decode(p, n, &m, &why) == 0);
}

static void on_peers(void *ud, const uint8_t ih[20], const struct sh_addr *a, size_t n) {}

static struct sh_dht *node;
static uint64_t now = 1000;

static void feed_node(const uint8_t *p, size_t n)
{
  if (!node) {
    struct sh_dht_config c;
    sh_dht_config_default(&c);
    c.max_hashes = 64;
    c.max_peers = 16;
    c.max_total_peers = 256;
    struct sh_dht_callbacks cb = {NULL, on_send, on_peers, NULL};
    CHECK(sh_dht_new(&c, &cb, now, &node) == 0);
    struct sh_addr boot = {.family = 4, .ip = {10, 0, 0, 1}, .port = 6881};
    sh_dht_bootstrap(node, &boot, now);
  }
  if (!n)
    return;
  struct sh_addr from = {.family = 4, .ip = {10, 0, 0, (uint8_t)(1 + (p[0] & 3))}, .port = 6881};
  if (p[0] & 4) {
    from.family = 6;
    from.ip[0] = 0xfd;
  }
  now += (uint64_t)(p[0] >> 3) * 700;
  sh_dht_input(node, p + 1, n - 1, &from, now);
  sh_dht_periodic(node, now);
  struct sh_dht_stats st;
  sh_dht_stats(node, now, &st);
  CHECK(st.hashes <= 64 && st.peers <= 256);
  CHECK(st.nodes[0] <= st.buckets[0] * SH_DHT_K && st.nodes[1] <= st.buckets[1] * SH_DHT_K);
  CHECK(st.outstanding <= 1024);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size)
    codec(data + 1, size - 1);
  feed_node(data, size);
  return 0;
}
