/* KRPC codec: see krpc.h. */
#include "dht/krpc.h"

#include <errno.h>
#include <string.h>

#include "base/bencode.h"
#include "base/compact.h"
#include "base/error.h"

static const char *const method_names[] = {
    [SH_KRPC_PING] = "ping",
    [SH_KRPC_FIND_NODE] = "find_node",
    [SH_KRPC_GET_PEERS] = "get_peers",
    [SH_KRPC_ANNOUNCE_PEER] = "announce_peer",
    [SH_KRPC_SAMPLE_INFOHASHES] = "sample_infohashes",
};

const char *sh_krpc_method_name(int method)
{
  if (method <= SH_KRPC_NONE || method >= SH_KRPC_UNKNOWN)
    return NULL;
  return method_names[method];
}

void sh_krpc_node_get(const uint8_t *p, int family, uint8_t id[SH_DHT_ID_LEN],
                      struct sh_addr *addr)
{
  memcpy(id, p, SH_DHT_ID_LEN);
  sh_compact_get(addr, p + SH_DHT_ID_LEN, family == 6 ? SH_COMPACT6_LEN : SH_COMPACT4_LEN);
}

size_t sh_krpc_node_put(uint8_t *out, const uint8_t id[SH_DHT_ID_LEN], const struct sh_addr *a)
{
  memcpy(out, id, SH_DHT_ID_LEN);
  return SH_DHT_ID_LEN + sh_compact_put(out + SH_DHT_ID_LEN, a);
}

/* ---- decoding ---- */

struct dec {
  const struct be_doc *d;
  struct sh_krpc_msg *m;
  const char **why;
};

static int bad(struct dec *x, const char *why)
{
  *x->why = why;
  return SH_EPROTO;
}

/* A string value of the dict at `dict`, or NULL (absent or another type). */
static const uint8_t *get_str(const struct be_doc *d, int dict, const char *key, size_t *len)
{
  int i = be_dict_get_type(d, dict, key, BE_STR);
  return i < 0 ? NULL : be_str(d, i, len);
}

/* A 20-byte string into out. 1 when present, 0 when absent, -1 when it has
 * another size or type. */
static int get_id(const struct be_doc *d, int dict, const char *key, uint8_t out[SH_DHT_ID_LEN])
{
  int i = be_dict_get(d, dict, key);
  if (i < 0)
    return 0;
  size_t n;
  const uint8_t *s = be_str(d, i, &n);
  if (!s || n != SH_DHT_ID_LEN)
    return -1;
  memcpy(out, s, SH_DHT_ID_LEN);
  return 1;
}

/* An integer flag (seed, noseed, scrape, ro, implied_port): non-zero is 1;
 * absent or of another type is 0. */
static uint8_t get_flag(const struct be_doc *d, int dict, const char *key)
{
  int i = be_dict_get_type(d, dict, key, BE_INT);
  int64_t v = 0;
  return i >= 0 && be_int(d, i, &v) == 0 && v != 0;
}

static int get_want(const struct be_doc *d, int dict)
{
  int l = be_dict_get_type(d, dict, "want", BE_LIST);
  if (l < 0)
    return 0;
  int w = 0;
  for (int c = be_child(d, l); c >= 0 && c < (int)d->tok[l].next; c = (int)d->tok[c].next) {
    if (be_str_eq(d, c, "n4"))
      w |= SH_KRPC_WANT_N4;
    else if (be_str_eq(d, c, "n6"))
      w |= SH_KRPC_WANT_N6; /* anything else: ignored (BEP 32) */
  }
  return w;
}

static int get_nodes(struct dec *x, int dict)
{
  const struct be_doc *d = x->d;
  struct sh_krpc_msg *m = x->m;
  int i = be_dict_get(d, dict, "nodes");
  if (i >= 0) {
    if (!(m->nodes = be_str(d, i, &m->nodes_len)) || m->nodes_len % SH_KRPC_NODE4_LEN)
      return bad(x, "`nodes` is not a whole number of 26-byte entries");
    m->has_nodes = 1;
  }
  if ((i = be_dict_get(d, dict, "nodes6")) >= 0) {
    if (!(m->nodes6 = be_str(d, i, &m->nodes6_len)) || m->nodes6_len % SH_KRPC_NODE6_LEN)
      return bad(x, "`nodes6` is not a whole number of 38-byte entries");
    m->has_nodes6 = 1;
  }
  return 0;
}

static void get_values(struct dec *x, int dict)
{
  const struct be_doc *d = x->d;
  struct sh_krpc_msg *m = x->m;
  int l = be_dict_get_type(d, dict, "values", BE_LIST);
  if (l < 0)
    return;
  m->values = m->vbuf;
  for (int c = be_child(d, l); c >= 0 && c < (int)d->tok[l].next; c = (int)d->tok[c].next) {
    size_t n;
    const uint8_t *s = be_str(d, c, &n);
    /* BEP 32: a hybrid list of 6- and 18-byte entries must be understood */
    if (!s || m->nvalues == SH_KRPC_MAX_VALUES ||
        sh_compact_get(&m->vbuf[m->nvalues], s, n) < 0) {
      m->values_dropped++;
      continue;
    }
    m->nvalues++;
  }
}

static int get_bloom(struct dec *x, int dict, const char *key, const uint8_t **out)
{
  size_t n;
  int i = be_dict_get(x->d, dict, key);
  if (i < 0)
    return 0;
  if (!(*out = be_str(x->d, i, &n)) || n != SH_KRPC_BLOOM_LEN)
    return bad(x, "a BEP 33 Bloom filter is not 256 bytes");
  return 0;
}

static int get_int(const struct be_doc *d, int dict, const char *key, int64_t *out)
{
  int i = be_dict_get_type(d, dict, key, BE_INT);
  return i >= 0 && be_int(d, i, out) == 0;
}

static int decode_args(struct dec *x, int a)
{
  const struct be_doc *d = x->d;
  struct sh_krpc_msg *m = x->m;
  int r = get_id(d, a, "target", m->target);
  if (r == 0 && (m->method == SH_KRPC_GET_PEERS || m->method == SH_KRPC_ANNOUNCE_PEER))
    r = get_id(d, a, "info_hash", m->target);
  else if (r == 0 && m->method == SH_KRPC_UNKNOWN)
    r = get_id(d, a, "info_hash", m->target); /* answered like get_peers would be */
  if (r < 0)
    return bad(x, "`target` or `info_hash` is not 20 bytes");
  m->has_target = (uint8_t)r;
  int needs_target = m->method == SH_KRPC_FIND_NODE || m->method == SH_KRPC_GET_PEERS ||
                     m->method == SH_KRPC_ANNOUNCE_PEER ||
                     m->method == SH_KRPC_SAMPLE_INFOHASHES;
  if (needs_target && !m->has_target)
    return bad(x, "query without its `target` or `info_hash`");
  m->want = (uint8_t)get_want(d, a);
  m->seed = get_flag(d, a, "seed");
  m->noseed = get_flag(d, a, "noseed");
  m->scrape = get_flag(d, a, "scrape");
  if (m->method != SH_KRPC_ANNOUNCE_PEER)
    return 0;
  if (!(m->token = get_str(d, a, "token", &m->token_len)) || !m->token_len ||
      m->token_len > SH_KRPC_MAX_TOKEN)
    return bad(x, "announce_peer without a usable `token`");
  m->implied_port = get_flag(d, a, "implied_port");
  int64_t port = 0;
  if (!get_int(d, a, "port", &port) && !m->implied_port)
    return bad(x, "announce_peer without `port`");
  if ((port < 1 || port > 65535) && !m->implied_port)
    return bad(x, "announce_peer `port` outside 1..65535");
  m->port = port >= 1 && port <= 65535 ? (uint16_t)port : 0;
  return 0;
}

static int decode_reply(struct dec *x, int r)
{
  const struct be_doc *d = x->d;
  struct sh_krpc_msg *m = x->m;
  int rc = get_nodes(x, r);
  if (rc < 0)
    return rc;
  m->token = get_str(d, r, "token", &m->token_len);
  if (m->token && (!m->token_len || m->token_len > SH_KRPC_MAX_TOKEN)) {
    m->token = NULL; /* unusable: as if absent (the node stores nothing for us) */
    m->token_len = 0;
  }
  get_values(x, r);
  if ((rc = get_bloom(x, r, "BFsd", &m->bf_seeds)) < 0 ||
      (rc = get_bloom(x, r, "BFpe", &m->bf_peers)) < 0)
    return rc;
  size_t n;
  const uint8_t *s = get_str(d, r, "samples", &n);
  if (s) {
    if (n % SH_DHT_ID_LEN)
      return bad(x, "`samples` is not a whole number of 20-byte info-hashes");
    m->has_samples = 1;
    m->samples = s;
    m->samples_len = n;
  }
  get_int(d, r, "num", &m->num);
  get_int(d, r, "interval", &m->interval);
  return 0;
}

static int decode_error(struct dec *x, int e)
{
  const struct be_doc *d = x->d;
  struct sh_krpc_msg *m = x->m;
  int c = be_child(d, e);
  if (c < 0 || be_int(d, c, &m->err_code) < 0)
    return bad(x, "error without a code");
  int s = (int)d->tok[c].next;
  if (s < (int)d->tok[e].next)
    m->err_msg = be_str(d, s, &m->err_len);
  return 0;
}

static int decode_doc(struct dec *x)
{
  const struct be_doc *d = x->d;
  struct sh_krpc_msg *m = x->m;
  if (d->tok[0].type != BE_DICT)
    return bad(x, "not a dictionary");
  size_t n;
  const uint8_t *t = get_str(d, 0, "t", &n);
  if (!t || n > SH_KRPC_MAX_TID)
    return bad(x, "no usable transaction id `t`");
  m->tid = t;
  m->tid_len = (uint8_t)n;
  const uint8_t *y = get_str(d, 0, "y", &n);
  if (!y || n != 1 || (*y != 'q' && *y != 'r' && *y != 'e'))
    return bad(x, "`y` is not q, r or e");
  m->type = *y == 'q' ? SH_KRPC_QUERY : *y == 'r' ? SH_KRPC_RESPONSE : SH_KRPC_ERROR;
  m->v = get_str(d, 0, "v", &m->v_len);
  m->ro = get_flag(d, 0, "ro");
  const uint8_t *ip = get_str(d, 0, "ip", &n);
  if (ip && sh_compact_get(&m->ip, ip, n) == 0)
    m->has_ip = 1;
  if (m->type == SH_KRPC_ERROR) {
    int e = be_dict_get_type(d, 0, "e", BE_LIST);
    return e < 0 ? bad(x, "error message without its `e` list") : decode_error(x, e);
  }
  int body = be_dict_get_type(d, 0, m->type == SH_KRPC_QUERY ? "a" : "r", BE_DICT);
  if (body < 0)
    return bad(x, m->type == SH_KRPC_QUERY ? "query without its `a` dictionary"
                                           : "response without its `r` dictionary");
  if (m->type == SH_KRPC_QUERY) {
    const uint8_t *q = get_str(d, 0, "q", &n);
    if (!q)
      return bad(x, "query without a method `q`");
    m->method = SH_KRPC_UNKNOWN;
    for (int k = SH_KRPC_PING; k < SH_KRPC_UNKNOWN; k++)
      if (strlen(method_names[k]) == n && !memcmp(method_names[k], q, n))
        m->method = (uint8_t)k;
  }
  int r = get_id(d, body, "id", m->id);
  if (r <= 0)
    return bad(x, "missing or malformed node `id`");
  m->has_id = 1;
  return m->type == SH_KRPC_QUERY ? decode_args(x, body) : decode_reply(x, body);
}

int sh_krpc_decode(const uint8_t *p, size_t n, struct sh_krpc_msg *m, const char **why)
{
  memset(m, 0, offsetof(struct sh_krpc_msg, vbuf));
  /* Depth 3 is the deepest KRPC goes (a query's `want` list inside `a`);
   * a little slack for keys other clients add. Every token takes at least
   * two bytes, so a datagram bounds the tokens. Keys need not be sorted:
   * some clients do not sort them, and nothing here depends on it. */
  struct be_opts o = {.max_depth = 6, .max_tokens = (uint32_t)(n / 2 + 1), .strict = 0};
  struct be_doc d;
  int rc = be_parse(&d, p, n, &o);
  if (rc < 0) {
    *why = rc == -ENOMEM ? "out of memory" : "not bencode";
    be_free(&d);
    return rc == -ENOMEM ? rc : SH_EPROTO;
  }
  struct dec x = {&d, m, why};
  rc = decode_doc(&x);
  be_free(&d);
  return rc;
}

/* ---- encoding ---- */

/* Decimal digits without printf: a node answering 5,000 queries a second
 * spent a tenth of its time in vfprintf formatting string lengths. */
static void put_num(struct sh_buf *b, uint64_t v)
{
  char tmp[20];
  int n = sizeof tmp;
  do
    tmp[--n] = (char)('0' + v % 10);
  while (v /= 10);
  sh_buf_append(b, tmp + n, sizeof tmp - (size_t)n);
}

static void put_str(struct sh_buf *b, const void *p, size_t n)
{
  put_num(b, n);
  sh_buf_putc(b, ':');
  sh_buf_append(b, p, n);
}

static void put_int(struct sh_buf *b, int64_t v)
{
  sh_buf_putc(b, 'i');
  if (v < 0)
    sh_buf_putc(b, '-');
  put_num(b, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
  sh_buf_putc(b, 'e');
}

static void key(struct sh_buf *b, const char *k) { put_str(b, k, strlen(k)); }

static void kstr(struct sh_buf *b, const char *k, const void *p, size_t n)
{
  key(b, k);
  put_str(b, p, n);
}

static void kint(struct sh_buf *b, const char *k, int64_t v)
{
  key(b, k);
  put_int(b, v);
}

static void put_values(struct sh_buf *b, const struct sh_krpc_msg *m)
{
  key(b, "values");
  be_put_list(b);
  for (size_t i = 0; i < m->nvalues; i++) {
    uint8_t c[SH_COMPACT6_LEN];
    put_str(b, c, sh_compact_put(c, &m->values[i]));
  }
  be_put_end(b);
}

/* The `a` dictionary of a query, keys in order. */
static void put_args(struct sh_buf *b, const struct sh_krpc_msg *m)
{
  be_put_dict(b);
  kstr(b, "id", m->id, SH_DHT_ID_LEN);
  int ih = m->method == SH_KRPC_GET_PEERS || m->method == SH_KRPC_ANNOUNCE_PEER;
  if (m->method == SH_KRPC_ANNOUNCE_PEER && m->implied_port)
    kint(b, "implied_port", 1);
  if (ih && m->has_target)
    kstr(b, "info_hash", m->target, SH_DHT_ID_LEN);
  if (m->noseed)
    kint(b, "noseed", 1);
  if (m->method == SH_KRPC_ANNOUNCE_PEER)
    kint(b, "port", m->port);
  if (m->scrape)
    kint(b, "scrape", 1);
  if (m->seed)
    kint(b, "seed", 1);
  if (!ih && m->has_target)
    kstr(b, "target", m->target, SH_DHT_ID_LEN);
  if (m->token_len)
    kstr(b, "token", m->token, m->token_len);
  if (m->want) {
    key(b, "want");
    be_put_list(b);
    if (m->want & SH_KRPC_WANT_N4)
      put_str(b, "n4", 2);
    if (m->want & SH_KRPC_WANT_N6)
      put_str(b, "n6", 2);
    be_put_end(b);
  }
  be_put_end(b);
}

/* The `r` dictionary of a response, keys in order (upper case first). */
static void put_reply(struct sh_buf *b, const struct sh_krpc_msg *m)
{
  be_put_dict(b);
  if (m->bf_peers)
    kstr(b, "BFpe", m->bf_peers, SH_KRPC_BLOOM_LEN);
  if (m->bf_seeds)
    kstr(b, "BFsd", m->bf_seeds, SH_KRPC_BLOOM_LEN);
  kstr(b, "id", m->id, SH_DHT_ID_LEN);
  if (m->has_samples)
    kint(b, "interval", m->interval);
  if (m->has_nodes)
    kstr(b, "nodes", m->nodes, m->nodes_len);
  if (m->has_nodes6)
    kstr(b, "nodes6", m->nodes6, m->nodes6_len);
  if (m->has_samples) {
    kint(b, "num", m->num);
    kstr(b, "samples", m->samples, m->samples_len);
  }
  if (m->token_len)
    kstr(b, "token", m->token, m->token_len);
  if (m->values)
    put_values(b, m);
  be_put_end(b);
}

void sh_krpc_encode(struct sh_buf *b, const struct sh_krpc_msg *m)
{
  uint8_t ip[SH_COMPACT6_LEN];
  be_put_dict(b);
  if (m->type == SH_KRPC_QUERY) {
    key(b, "a");
    put_args(b, m);
  } else if (m->type == SH_KRPC_ERROR) {
    key(b, "e");
    be_put_list(b);
    put_int(b, m->err_code);
    put_str(b, m->err_msg ? m->err_msg : (const uint8_t *)"", m->err_msg ? m->err_len : 0);
    be_put_end(b);
  }
  if (m->has_ip)
    kstr(b, "ip", ip, sh_compact_put(ip, &m->ip));
  if (m->type == SH_KRPC_QUERY) {
    const char *q = sh_krpc_method_name(m->method);
    kstr(b, "q", q ? q : "", q ? strlen(q) : 0);
    if (m->ro)
      kint(b, "ro", 1);
  } else if (m->type == SH_KRPC_RESPONSE) {
    key(b, "r");
    put_reply(b, m);
  }
  kstr(b, "t", m->tid, m->tid_len);
  if (m->v)
    kstr(b, "v", m->v, m->v_len);
  kstr(b, "y", m->type == SH_KRPC_QUERY ? "q" : m->type == SH_KRPC_RESPONSE ? "r" : "e", 1);
  be_put_end(b);
}
