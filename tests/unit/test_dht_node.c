/* The DHT core as a node: what it answers to each query (byte-level, from
 * a captured send), what it refuses (bad tokens, replies nobody asked for,
 * malformed queries), BEP 32/33/42/43/51 behaviour, bounded queries and
 * searches, saved state; and small in-memory networks where nodes find
 * each other, announce and look up. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "dht/dht.h"
#include "dht/id.h"
#include "dht/rtable.h"
#include "dht_net.h"

/* ---- one node, its sends captured ---- */

struct cap {
  uint8_t last[1600];
  size_t len, count;
  struct sh_addr to;
  struct sh_addr peers[64];
  size_t npeers;
  struct sh_dht_search_info info;
  int done;
};

static void cap_send(void *ud, const uint8_t *p, size_t n, const struct sh_addr *to)
{
  struct cap *c = ud;
  cr_assert_leq(n, sizeof c->last);
  memcpy(c->last, p, n);
  c->len = n;
  c->to = *to;
  c->count++;
}

static void cap_peers(void *ud, const uint8_t ih[20], const struct sh_addr *a, size_t n)
{
  struct cap *c = ud;
  (void)ih;
  for (size_t i = 0; i < n && c->npeers < 64; i++)
    c->peers[c->npeers++] = a[i];
}

static void cap_done(void *ud, const struct sh_dht_search_info *info)
{
  struct cap *c = ud;
  if (!info->find_node) {
    c->info = *info;
    c->done++;
  }
}

static struct sh_dht *node(struct cap *c, const struct sh_dht_config *cfg)
{
  memset(c, 0, sizeof *c);
  struct sh_dht_config d;
  if (cfg)
    d = *cfg;
  else
    sh_dht_config_default(&d);
  memset(d.id, 'N', 20);
  d.has_id = 1;
  struct sh_dht_callbacks cb = {c, cap_send, cap_peers, cap_done};
  struct sh_dht *x;
  cr_assert_eq(sh_dht_new(&d, &cb, 1000, &x), 0);
  return x;
}

static struct sh_addr addr4(uint8_t last, uint16_t port)
{
  struct sh_addr a = {.family = 4, .port = port};
  a.ip[0] = 10;
  a.ip[3] = last;
  return a;
}

#define IN(d, lit, from) sh_dht_input(d, (const uint8_t *)(lit), sizeof(lit) - 1, from, 2000)

/* Encodes m and feeds it to d from `from` at now. */
static void feed(struct sh_dht *d, const struct sh_krpc_msg *m, const struct sh_addr *from,
                 uint64_t now)
{
  struct sh_buf b = SH_BUF_INIT;
  sh_krpc_encode(&b, m);
  cr_assert(!b.oom);
  sh_dht_input(d, b.data, b.len, from, now);
  sh_buf_free(&b);
}

/* A response to the query q we captured, from node id. */
static void answer(struct sh_dht *d, const struct sh_krpc_msg *q, const char *id,
                   const struct sh_addr *from, const struct sh_addr *seen_as, uint64_t now)
{
  struct sh_krpc_msg r;
  memset(&r, 0, sizeof r);
  r.type = SH_KRPC_RESPONSE;
  r.tid = q->tid;
  r.tid_len = q->tid_len;
  r.has_id = 1;
  memcpy(r.id, id, 20);
  if (seen_as) {
    r.has_ip = 1;
    r.ip = *seen_as;
  }
  feed(d, &r, from, now);
}

static void last_is(const struct cap *c, struct sh_krpc_msg *m)
{
  const char *why = NULL;
  cr_assert_eq(sh_krpc_decode(c->last, c->len, m, &why), 0, "%s", why ? why : "");
}

/* BEP 5's get_peers from `from`: the token of the reply into tok. */
static void get_token(struct sh_dht *d, const struct cap *c, const struct sh_addr *from,
                      uint8_t tok[8])
{
  IN(d, "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e"
        "1:q9:get_peers1:t2:aa1:y1:qe",
     from);
  struct sh_krpc_msg m;
  last_is(c, &m);
  cr_assert_eq(m.type, SH_KRPC_RESPONSE);
  cr_assert_eq(m.token_len, 8);
  cr_expect(m.has_nodes);
  memcpy(tok, m.token, 8);
}

/* BEP 5's announce_peer, with token tok. */
static void announce_msg(struct sh_krpc_msg *a, const uint8_t tok[8], uint16_t port, int implied)
{
  memset(a, 0, sizeof *a);
  a->type = SH_KRPC_QUERY;
  a->method = SH_KRPC_ANNOUNCE_PEER;
  a->tid = (const uint8_t *)"bb";
  a->tid_len = 2;
  a->has_id = a->has_target = 1;
  memcpy(a->id, "abcdefghij0123456789", 20);
  memcpy(a->target, "mnopqrstuvwxyz123456", 20);
  a->port = port;
  a->implied_port = (uint8_t)implied;
  a->token = tok;
  a->token_len = 8;
}

Test(dht_node, answers_ping_with_our_id_and_their_address)
{
  struct cap c;
  struct sh_dht *d = node(&c, NULL);
  struct sh_addr from = addr4(1, 6881);
  IN(d, "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe", &from);
  /* a ping of our own to the newcomer (to learn whether it answers),
   * then the reply */
  cr_assert_eq(c.count, 2);
  cr_expect(sh_addr_eq(&c.to, &from));
  /* BEP 5's response, plus BEP 42's `ip` and our `v` */
  static const char want[] = "d2:ip6:\x0a\0\0\x01\x1a\xe1" "1:rd2:id20:NNNNNNNNNNNNNNNNNNNNe"
                             "1:t2:aa1:v4:SH\0\x01" "1:y1:re";
  cr_expect_eq(c.len, sizeof want - 1);
  cr_expect(!memcmp(c.last, want, sizeof want - 1), "%.*s", (int)c.len, c.last);
  struct sh_dht_stats st;
  sh_dht_stats(d, 2000, &st);
  cr_expect_eq(st.queries_in, 1);
  cr_expect_eq(st.nodes[0], 1, "the querying node is in the table");
  cr_expect_eq(st.good[0], 0, "but not good: it never answered us");
  sh_dht_free(d);
}

Test(dht_node, get_peers_token_announce_then_values)
{
  struct cap c;
  struct sh_dht *d = node(&c, NULL);
  struct sh_addr from = addr4(1, 6881);
  struct sh_krpc_msg m;
  uint8_t tok[8];
  get_token(d, &c, &from, tok);
  last_is(&c, &m);
  cr_expect(!m.values, "no peers yet: nodes only");

  /* announce with that token: stored under the source IP, implied port */
  struct sh_buf b = SH_BUF_INIT;
  struct sh_krpc_msg a;
  announce_msg(&a, tok, 1234, 1);
  sh_krpc_encode(&b, &a);
  sh_dht_input(d, b.data, b.len, &from, 2000);
  last_is(&c, &m);
  cr_expect_eq(m.type, SH_KRPC_RESPONSE, "announce accepted");
  /* from another IP the same token is refused (BEP 5) */
  struct sh_addr other = addr4(2, 6881);
  sh_dht_input(d, b.data, b.len, &other, 2000);
  last_is(&c, &m);
  cr_expect_eq(m.type, SH_KRPC_ERROR);
  cr_expect_eq(m.err_code, SH_KRPC_E_PROTOCOL);
  sh_buf_free(&b);

  IN(d, "d1:ad2:id20:zzzzzzzzzzzzzzzzzzzz9:info_hash20:mnopqrstuvwxyz123456e"
        "1:q9:get_peers1:t2:cc1:y1:qe",
     &other);
  last_is(&c, &m);
  cr_assert_eq(m.nvalues, 1);
  cr_expect(sh_addr_same_ip(&m.values[0], &from));
  cr_expect_eq(m.values[0].port, 6881, "implied_port: the UDP source port");
  cr_expect_leq(c.len, 1024);
  struct sh_dht_stats st;
  sh_dht_stats(d, 2000, &st);
  cr_expect_eq(st.hashes, 1);
  cr_expect_eq(st.peers, 1);
  cr_expect_eq(st.bad_tokens, 1);
  sh_dht_free(d);
}

Test(dht_node, peers_announced_to_us_are_reported)
{
  /* a small DHT: we may be one of the K closest nodes ourselves */
  struct cap c;
  struct sh_dht *d = node(&c, NULL);
  struct sh_addr from = addr4(1, 6881);
  uint8_t tok[8];
  get_token(d, &c, &from, tok);
  struct sh_krpc_msg a;
  announce_msg(&a, tok, 4321, 0);
  feed(d, &a, &from, 2000);
  cr_assert_eq(c.npeers, 1, "the announcing peer goes to the owner at once");
  cr_expect(sh_addr_same_ip(&c.peers[0], &from) && c.peers[0].port == 4321);
  /* and a search started later for that info-hash reports it too */
  struct sh_dht_search_opts o = {0};
  cr_assert_eq(sh_dht_search(d, (const uint8_t *)"mnopqrstuvwxyz123456", 4, &o, 3000), 0);
  cr_expect_eq(c.npeers, 2);
  cr_expect_eq(c.peers[1].port, 4321);
  sh_dht_free(d);
}

Test(dht_node, tokens_expire_after_ten_minutes)
{
  struct cap c;
  struct sh_dht *d = node(&c, NULL);
  struct sh_addr from = addr4(1, 6881);
  struct sh_krpc_msg m, a;
  uint8_t tok[8];
  get_token(d, &c, &from, tok);
  announce_msg(&a, tok, 99, 0);
  /* 6 minutes later: one rotation, still good */
  sh_dht_periodic(d, 2000 + 6 * 60 * 1000);
  feed(d, &a, &from, 2000 + 6 * 60 * 1000);
  last_is(&c, &m);
  cr_expect_eq(m.type, SH_KRPC_RESPONSE);
  /* 11 minutes: two rotations, refused */
  sh_dht_periodic(d, 2000 + 11 * 60 * 1000);
  feed(d, &a, &from, 2000 + 11 * 60 * 1000);
  last_is(&c, &m);
  cr_expect_eq(m.type, SH_KRPC_ERROR);
  sh_dht_free(d);
}

Test(dht_node, malformed_and_unknown_queries)
{
  struct cap c;
  struct sh_dht *d = node(&c, NULL);
  struct sh_addr from = addr4(1, 6881);
  struct sh_krpc_msg m;
  /* a query with a bad id: error 203, echoing the tid */
  IN(d, "d1:ad2:id3:abce1:q4:ping1:t2:xy1:y1:qe", &from);
  last_is(&c, &m);
  cr_expect_eq(m.type, SH_KRPC_ERROR);
  cr_expect_eq(m.err_code, SH_KRPC_E_PROTOCOL);
  cr_expect(m.tid_len == 2 && !memcmp(m.tid, "xy", 2));
  /* garbage: dropped silently (no tid to answer) */
  size_t before = c.count;
  IN(d, "d1:x", &from);
  cr_expect_eq(c.count, before);
  /* an unknown method: 204 */
  IN(d, "d1:ad2:id20:abcdefghij0123456789e1:q3:foo1:t2:zz1:y1:qe", &from);
  last_is(&c, &m);
  cr_expect_eq(m.err_code, SH_KRPC_E_METHOD);
  /* an unknown method with a target: answered like find_node */
  IN(d, "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e"
        "1:q3:foo1:t2:zz1:y1:qe",
     &from);
  last_is(&c, &m);
  cr_expect_eq(m.type, SH_KRPC_RESPONSE);
  cr_expect(m.has_nodes);
  struct sh_dht_stats st;
  sh_dht_stats(d, 2000, &st);
  cr_expect_eq(st.dropped, 2);
  sh_dht_free(d);
}

Test(dht_node, replies_nobody_asked_for_are_dropped)
{
  struct cap c;
  struct sh_dht *d = node(&c, NULL);
  struct sh_addr boot = addr4(9, 6881), other = addr4(8, 6881);
  cr_assert_eq(sh_dht_bootstrap(d, &boot, 1000), 0);
  struct sh_krpc_msg q;
  last_is(&c, &q);
  cr_assert_eq(q.method, SH_KRPC_FIND_NODE);
  cr_assert(!memcmp(q.target, "NNNNNNNNNNNNNNNNNNNN", 20), "bootstrap looks up our id");
  uint8_t tid[4];
  memcpy(tid, q.tid, 4);
  q.tid = tid;
  struct sh_dht_stats st;
  /* the right tid from another address */
  answer(d, &q, "BBBBBBBBBBBBBBBBBBBB", &other, NULL, 1100);
  /* an unknown tid from the right address */
  IN(d, "d1:rd2:id20:BBBBBBBBBBBBBBBBBBBBe1:t4:zzzz1:y1:re", &boot);
  sh_dht_stats(d, 1100, &st);
  cr_expect_eq(st.dropped, 2);
  cr_expect_eq(st.nodes[0], 0);
  /* the real reply: the node joins, good */
  answer(d, &q, "BBBBBBBBBBBBBBBBBBBB", &boot, NULL, 1100);
  sh_dht_stats(d, 1100, &st);
  cr_expect_eq(st.replies_in, 1);
  cr_expect_eq(st.good[0], 1);
  /* and the same reply again is unknown now */
  answer(d, &q, "BBBBBBBBBBBBBBBBBBBB", &boot, NULL, 1100);
  sh_dht_stats(d, 1100, &st);
  cr_expect_eq(st.dropped, 3);
  sh_dht_free(d);
}

Test(dht_node, bep43_read_only)
{
  struct cap c;
  struct sh_dht_config cfg;
  sh_dht_config_default(&cfg);
  cfg.read_only = 1;
  struct sh_dht *d = node(&c, &cfg);
  struct sh_addr from = addr4(1, 6881);
  IN(d, "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe", &from);
  cr_expect_eq(c.count, 0, "a read-only node answers nothing");
  sh_dht_ping(d, &from, 1000);
  struct sh_krpc_msg m;
  last_is(&c, &m);
  cr_expect_eq(m.ro, 1, "its queries say ro");
  sh_dht_free(d);
  /* a normal node answers an ro query but keeps its sender out */
  d = node(&c, NULL);
  IN(d, "d1:ad2:id20:abcdefghij0123456789e1:q4:ping2:roi1e1:t2:aa1:y1:qe", &from);
  cr_expect_eq(c.count, 1, "the reply, and no ping to a read-only node");
  struct sh_dht_stats st;
  sh_dht_stats(d, 2000, &st);
  cr_expect_eq(st.nodes[0], 0);
  sh_dht_free(d);
}

Test(dht_node, bep32_want_and_bep51_samples)
{
  struct cap c;
  struct sh_dht *d = node(&c, NULL);
  struct sh_addr v6 = {.family = 6, .port = 7000};
  v6.ip[0] = 0xfd;
  v6.ip[15] = 1;
  IN(d, "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe", &v6);
  struct sh_addr from = addr4(1, 6881);
  IN(d, "d1:ad2:id20:bbcdefghij01234567896:target20:mnopqrstuvwxyz123456"
        "4:wantl2:n42:n6ee1:q9:find_node1:t2:aa1:y1:qe",
     &from);
  struct sh_krpc_msg m;
  last_is(&c, &m);
  cr_expect(m.has_nodes && m.has_nodes6);
  cr_expect_eq(m.nodes6_len, 38, "the IPv6 node that pinged us");
  IN(d, "d1:ad2:id20:bbcdefghij01234567896:target20:mnopqrstuvwxyz123456e"
        "1:q9:find_node1:t2:aa1:y1:qe",
     &from);
  last_is(&c, &m);
  cr_expect(m.has_nodes && !m.has_nodes6, "no want: the requester's family");
  IN(d, "d1:ad2:id20:bbcdefghij01234567896:target20:mnopqrstuvwxyz123456e"
        "1:q17:sample_infohashes1:t2:aa1:y1:qe",
     &from);
  last_is(&c, &m);
  cr_expect(m.has_samples && m.samples_len == 0 && m.num == 0);
  cr_expect_eq(m.interval, 60);
  sh_dht_free(d);
}

Test(dht_node, bep32_a_dual_stack_node_bootstraps_both_tables)
{
  struct cap c;
  struct sh_dht *d = node(&c, NULL);
  struct sh_addr boot = addr4(9, 6881);
  cr_assert_eq(sh_dht_bootstrap(d, &boot, 1000), 0);
  struct sh_krpc_msg q;
  last_is(&c, &q);
  cr_expect_eq(q.want, SH_KRPC_WANT_N4 | SH_KRPC_WANT_N6, "it asks for both families");
  uint8_t tid[4];
  memcpy(tid, q.tid, 4);
  /* the IPv4 node answers with an IPv6 node too */
  uint8_t six[SH_KRPC_NODE6_LEN];
  struct sh_addr a6 = {.family = 6, .port = 6881};
  a6.ip[0] = 0xfd;
  a6.ip[15] = 7;
  sh_krpc_node_put(six, (const uint8_t *)"SSSSSSSSSSSSSSSSSSSS", &a6);
  struct sh_krpc_msg r;
  memset(&r, 0, sizeof r);
  r.type = SH_KRPC_RESPONSE;
  r.tid = tid;
  r.tid_len = 4;
  r.has_id = 1;
  memcpy(r.id, "BBBBBBBBBBBBBBBBBBBB", 20);
  r.has_nodes6 = 1;
  r.nodes6 = six;
  r.nodes6_len = sizeof six;
  feed(d, &r, &boot, 1100);
  struct sh_dht_stats st;
  sh_dht_stats(d, 1100, &st);
  cr_expect_eq(st.nodes[0], 1, "the IPv4 bootstrap node");
  cr_expect_eq(st.nodes[1], 1, "and the IPv6 node it named");
  cr_expect(sh_addr_eq(&c.to, &a6), "which is pinged at once");
  sh_dht_free(d);
}

Test(dht_node, bep42_votes_give_a_compliant_id)
{
  struct cap c;
  struct sh_dht *d = node(&c, NULL);
  /* ten public nodes answer our pings and all see us at 124.31.75.21 */
  struct sh_dht_stats st;
  for (int i = 0; i < 10; i++) {
    if (i == 9)
      sh_dht_stats(d, 1100, &st); /* before the deciding vote */
    struct sh_addr n = {.family = 4, .port = 6881};
    n.ip[0] = 80;
    n.ip[3] = (uint8_t)(i + 1);
    sh_dht_ping(d, &n, 1000);
    struct sh_krpc_msg q;
    last_is(&c, &q);
    char id[21];
    snprintf(id, sizeof id, "%cbcdefghij0123456789", 'a' + i);
    struct sh_addr us = {.family = 4, .ip = {124, 31, 75, 21}, .port = 6881};
    answer(d, &q, id, &n, &us, 1100);
  }
  size_t before = st.nodes[0];
  cr_expect_eq(st.external.family, 0, "nine votes settle nothing");
  sh_dht_stats(d, 1200, &st);
  cr_expect_eq(st.replies_in, 10);
  cr_expect_eq(st.external.family, 4);
  cr_expect_eq(st.external.ip[0], 124);
  cr_expect(st.id_compliant, "a new id that follows from 124.31.75.21");
  cr_expect(memcmp(st.id, "NNNNNNNNNNNNNNNNNNNN", 20));
  cr_expect_geq(st.nodes[0], before, "the table kept its nodes");
  sh_dht_free(d);
}

Test(dht_node, outstanding_queries_and_searches_are_bounded)
{
  struct cap c;
  struct sh_dht_config cfg;
  sh_dht_config_default(&cfg);
  cfg.max_queries = 4;
  cfg.max_searches = 2;
  struct sh_dht *d = node(&c, &cfg);
  for (int i = 0; i < 4; i++) {
    struct sh_addr a = addr4((uint8_t)(i + 1), 6881);
    cr_expect_eq(sh_dht_ping(d, &a, 1000), 0);
  }
  struct sh_addr a = addr4(9, 6881);
  cr_expect_eq(sh_dht_ping(d, &a, 1000), SH_ELIMIT);
  struct sh_dht_search_opts o = {0};
  uint8_t ih[20] = {1};
  cr_expect_eq(sh_dht_search(d, ih, 4, &o, 1000), 0);
  cr_expect_eq(sh_dht_search(d, ih, 4, &o, 1000), 0, "joined");
  ih[0] = 2;
  cr_expect_eq(sh_dht_search(d, ih, 4, &o, 1000), 0);
  ih[0] = 3;
  cr_expect_eq(sh_dht_search(d, ih, 4, &o, 1000), SH_ELIMIT);
  /* the queries time out and free their slots after the linger */
  sh_dht_periodic(d, 1000 + 11000);
  cr_expect_eq(sh_dht_ping(d, &a, 12000), 0);
  sh_dht_free(d);
}

Test(dht_node, saved_state_round_trip)
{
  struct dnet net;
  dnet_init(&net, 5, 11, 0);
  for (uint32_t i = 0; i < 5; i++)
    dnet_up(&net, i, 0, NULL);
  dnet_run(&net, 20000);
  struct sh_buf b = SH_BUF_INIT;
  sh_dht_save(net.n[0].d, net.now, 100, &b);
  uint8_t id[20];
  struct sh_addr nodes[16];
  int n = sh_dht_load(b.data, b.len, id, nodes, 16);
  cr_expect_eq(n, 4, "the four others, all good");
  struct sh_dht_stats st;
  sh_dht_stats(net.n[0].d, net.now, &st);
  cr_expect(!memcmp(id, st.id, 20));
  cr_expect_eq(sh_dht_load((const uint8_t *)"d2:id3:abce", 11, id, nodes, 16), SH_EPROTO);
  sh_buf_free(&b);
  dnet_free(&net);
}

/* ---- small networks ---- */

Test(dht_node, twenty_nodes_announce_and_find)
{
  struct dnet net;
  dnet_init(&net, 20, 5, 0.05);
  for (uint32_t i = 0; i < 20; i++) {
    dnet_up(&net, i, i ? (uint32_t)(sh_dht_rand(&net.rng) % i) : 0, NULL);
    dnet_run(&net, net.now + 200);
  }
  dnet_run(&net, net.now + 30000);
  for (uint32_t i = 0; i < 20; i++) {
    struct sh_dht_stats st;
    sh_dht_stats(net.n[i].d, net.now, &st);
    /* 19 random ids do not all fit: half of them fall in the far bucket,
     * which holds 8 */
    cr_expect_geq(st.nodes[0], 10, "node %u knows %zu nodes of 19", i, st.nodes[0]);
    cr_expect_geq(st.good[0], SH_DHT_K, "node %u: %zu good nodes", i, st.good[0]);
  }
  /* node 3 announces; node 17 looks up */
  uint8_t ih[20];
  memset(ih, 0x42, sizeof ih);
  struct sh_dht_search_opts ann = {.port = 5555, .seed = 1};
  cr_assert_eq(sh_dht_search(net.n[3].d, ih, 4, &ann, net.now), 0);
  dnet_run(&net, net.now + 10000);
  cr_expect_eq(net.n[3].done, 1);
  cr_expect_geq(net.n[3].last.announced, 6, "announced to %u nodes",
                net.n[3].last.announced);
  struct dnet_node *x = &net.n[17];
  memcpy(x->want, ih, 20);
  x->wanted_peer = dnet_addr(3);
  x->wanted_peer.port = 5555;
  struct sh_dht_search_opts look = {.scrape = 1};
  cr_assert_eq(sh_dht_search(x->d, ih, 4, &look, net.now), 0);
  dnet_run(&net, net.now + 10000);
  cr_expect_eq(x->done, 1);
  cr_expect(x->found, "the announced peer was found");
  cr_expect(x->last.first_value_ms > 0);
  cr_expect(x->last.scrape_seeds > 0.5 && x->last.scrape_seeds < 1.5, "scrape: one seed (%f)",
            x->last.scrape_seeds);
  dnet_free(&net);
}
