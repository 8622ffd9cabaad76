/* The DHT node answering queries: ping, find_node, get_peers (BEP 5, with
 * BEP 32 `want` and BEP 33 scrapes), announce_peer, sample_infohashes
 * (BEP 51), and unknown methods. Every reply fits BEP 32's 1024 bytes. */
#include <string.h>

#include "base/log.h"
#include "base/sha1.h"
#include "dht/dht_int.h"

void sh_dht_token(const struct sh_dht *d, const struct sh_addr *a, int which,
                  uint8_t out[SH_DHT_TOKEN_LEN])
{
  /* BEP 5: a hash of the requester's IP and a secret that rotates */
  uint8_t buf[16 + 1 + 16], h[SH_SHA1_LEN];
  size_t iplen = a->family == 4 ? 4 : 16;
  memcpy(buf, d->secret[which], 16);
  buf[16] = a->family;
  memcpy(buf + 17, a->ip, iplen);
  sh_sha1(buf, 17 + iplen, h);
  memcpy(out, h, SH_DHT_TOKEN_LEN);
}

static int token_ok(const struct sh_dht *d, const struct sh_addr *a, const uint8_t *tok,
                    size_t len)
{
  uint8_t t[SH_DHT_TOKEN_LEN];
  if (len != SH_DHT_TOKEN_LEN)
    return 0;
  for (int which = 0; which < 2; which++) {
    sh_dht_token(d, a, which, t);
    if (!memcmp(t, tok, SH_DHT_TOKEN_LEN))
      return 1;
  }
  return 0;
}

static void reply_init(struct sh_dht *d, struct sh_krpc_msg *r, const struct sh_krpc_msg *q,
                       const struct sh_addr *from)
{
  memset(r, 0, offsetof(struct sh_krpc_msg, vbuf));
  r->type = SH_KRPC_RESPONSE;
  r->tid = q->tid;
  r->tid_len = q->tid_len;
  memcpy(r->id, d->id, SH_DHT_ID_LEN);
  r->has_id = 1;
  r->has_ip = 1; /* BEP 42: tell the requester how we see it */
  r->ip = *from;
  r->v = sh_dht_version;
  r->v_len = sizeof sh_dht_version;
}

static void send_error(struct sh_dht *d, const struct sh_krpc_msg *q, const struct sh_addr *from,
                       int code, const char *msg)
{
  struct sh_krpc_msg e;
  reply_init(d, &e, q, from);
  e.type = SH_KRPC_ERROR;
  e.err_code = code;
  e.err_msg = (const uint8_t *)msg;
  e.err_len = strlen(msg);
  sh_dht_send_msg(d, &e, from);
}

/* The K nodes closest to target, good ones only while there are K of
 * them (BEP 5), compact, into buf. Returns the bytes written. */
static size_t closest(struct sh_dht *d, int family, const uint8_t *target, uint64_t now,
                      uint8_t *buf)
{
  struct sh_dht_table *t = sh_dht_table_of(d, family);
  struct sh_dht_node n[SH_DHT_K];
  size_t k = sh_dht_table_closest(t, target, n, SH_DHT_K, 1, now);
  if (k < SH_DHT_K)
    k = sh_dht_table_closest(t, target, n, SH_DHT_K, 0, now);
  size_t len = 0;
  for (size_t i = 0; i < k; i++)
    len += sh_krpc_node_put(buf + len, n[i].id, &n[i].addr);
  return len;
}

/* `nodes` and `nodes6` as BEP 32 asks: what `want` lists, else the
 * requester's own family. */
static void add_nodes(struct sh_dht *d, struct sh_krpc_msg *r, const struct sh_krpc_msg *q,
                      const struct sh_addr *from, uint64_t now, uint8_t *b4, uint8_t *b6)
{
  int want = q->want ? q->want : from->family == 6 ? SH_KRPC_WANT_N6 : SH_KRPC_WANT_N4;
  if (q->scrape) /* two Bloom filters take 530 bytes: one family only */
    want = from->family == 6 ? SH_KRPC_WANT_N6 : SH_KRPC_WANT_N4;
  if ((want & SH_KRPC_WANT_N4) && d->cfg.v4) {
    r->nodes = b4;
    r->nodes_len = closest(d, 4, q->target, now, b4);
    r->has_nodes = 1;
  }
  if ((want & SH_KRPC_WANT_N6) && d->cfg.v6) {
    r->nodes6 = b6;
    r->nodes6_len = closest(d, 6, q->target, now, b6);
    r->has_nodes6 = 1;
  }
}

static void get_peers(struct sh_dht *d, struct sh_krpc_msg *r, const struct sh_krpc_msg *q,
                      const struct sh_addr *from, uint64_t now)
{
  uint8_t tok[SH_DHT_TOKEN_LEN], b4[SH_DHT_K * SH_KRPC_NODE4_LEN];
  uint8_t b6[SH_DHT_K * SH_KRPC_NODE6_LEN], bs[SH_KRPC_BLOOM_LEN], bp[SH_KRPC_BLOOM_LEN];
  sh_dht_token(d, from, 0, tok);
  r->token = tok;
  r->token_len = sizeof tok;
  add_nodes(d, r, q, from, now, b4, b6);
  const struct sh_dht_hash *h = sh_dht_store_get(&d->store, q->target);
  if (h && q->scrape) {
    sh_dht_store_blooms(h, bs, bp);
    r->bf_seeds = bs;
    r->bf_peers = bp;
  }
  if (h) {
    /* as many values as the 1024 bytes leave room for: measure the rest */
    sh_buf_reset(&d->out);
    sh_krpc_encode(&d->out, r);
    size_t room = SH_DHT_MAX_PAYLOAD - (d->out.len < SH_DHT_MAX_PAYLOAD ? d->out.len : SH_DHT_MAX_PAYLOAD);
    size_t el = from->family == 6 ? 3 + 18 : 2 + 6; /* "18:" + entry, "6:" + entry */
    size_t max = room > 10 ? (room - 10) / el : 0; /* "6:values" "l" "e" */
    if (max > SH_KRPC_MAX_VALUES)
      max = SH_KRPC_MAX_VALUES;
    r->nvalues = sh_dht_store_values(h, from->family, q->noseed, &d->rng, r->vbuf, max);
    if (r->nvalues)
      r->values = r->vbuf;
  }
  sh_dht_send_msg(d, r, from);
}

static void announce(struct sh_dht *d, struct sh_krpc_msg *r, const struct sh_krpc_msg *q,
                     const struct sh_addr *from, uint64_t now)
{
  if (!token_ok(d, from, q->token, q->token_len)) {
    d->st.bad_tokens++;
    char name[64];
    sh_addr_str(from, name, sizeof name);
    sh_debug("DHT: announce_peer from %s with a bad token: refused", name);
    send_error(d, q, from, SH_KRPC_E_PROTOCOL, "bad token");
    return;
  }
  struct sh_addr peer = *from;
  if (!q->implied_port)
    peer.port = q->port;
  sh_dht_store_announce(&d->store, q->target, &peer, q->seed, now);
  sh_dht_send_msg(d, r, from);
  d->cb.peers(d->cb.ud, q->target, &peer, 1);
}

static void sample(struct sh_dht *d, struct sh_krpc_msg *r, const struct sh_krpc_msg *q,
                   const struct sh_addr *from, uint64_t now)
{
  uint8_t b4[SH_DHT_K * SH_KRPC_NODE4_LEN], b6[SH_DHT_K * SH_KRPC_NODE6_LEN];
  size_t n;
  r->samples = sh_dht_store_sample(&d->store, now, &d->rng, &n);
  r->samples_len = n * SH_DHT_ID_LEN;
  r->has_samples = 1;
  r->num = (int64_t)d->store.n;
  r->interval = SH_DHT_SAMPLE_MS / 1000;
  add_nodes(d, r, q, from, now, b4, b6);
  sh_dht_send_msg(d, r, from);
}

void sh_dht_serve(struct sh_dht *d, const struct sh_krpc_msg *q, const struct sh_addr *from,
                  uint64_t now_ms)
{
  struct sh_krpc_msg r;
  reply_init(d, &r, q, from);
  switch (q->method) {
  case SH_KRPC_PING:
    sh_dht_send_msg(d, &r, from);
    return;
  case SH_KRPC_GET_PEERS:
    get_peers(d, &r, q, from, now_ms);
    return;
  case SH_KRPC_ANNOUNCE_PEER:
    announce(d, &r, q, from, now_ms);
    return;
  case SH_KRPC_SAMPLE_INFOHASHES:
    sample(d, &r, q, from, now_ms);
    return;
  case SH_KRPC_FIND_NODE:
  default:
    if (!q->has_target) {
      send_error(d, q, from, SH_KRPC_E_METHOD, "method unknown");
      return;
    }
    /* find_node, and an unknown method that names a target: answered
     * with the closest nodes, so lookups of newer kinds still progress */
    uint8_t b4[SH_DHT_K * SH_KRPC_NODE4_LEN], b6[SH_DHT_K * SH_KRPC_NODE6_LEN];
    add_nodes(d, &r, q, from, now_ms, b4, b6);
    sh_dht_send_msg(d, &r, from);
    return;
  }
}
