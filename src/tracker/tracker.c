/* HTTP announce and scrape; see tracker.h. */
#include "tracker/tracker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bencode.h"
#include "base/compact.h"

const char *const tracker_stat_names[TRK_STAT_COUNT] = {
    "http_announce", "http_scrape", "http_other", "udp_connect", "udp_announce",
    "udp_scrape", "http_failure", "udp_error", "udp_dropped", "upload",
};

void tracker_config_defaults(struct tracker_config *c)
{
  memset(c, 0, sizeof *c);
  c->interval = TRACKER_DEFAULT_INTERVAL;
  c->min_interval = TRACKER_DEFAULT_INTERVAL / 2;
  c->peer_timeout = 2 * TRACKER_DEFAULT_INTERVAL;
  c->numwant_default = TRACKER_DEFAULT_NUMWANT;
  c->numwant_max = TRACKER_MAX_NUMWANT;
  c->full_scrape = 1;
}

int tracker_init(struct tracker *t, const struct tracker_config *c)
{
  memset(t, 0, sizeof *t);
  t->cfg = *c;
  if (t->cfg.numwant_max > TRACKER_MAX_NUMWANT)
    t->cfg.numwant_max = TRACKER_MAX_NUMWANT;
  t->store = store_new();
  t->policy = policy_new();
  if (!t->store || !t->policy) {
    tracker_destroy(t);
    return -ENOMEM;
  }
  return 0;
}

void tracker_destroy(struct tracker *t)
{
  store_free(t->store);
  policy_free(t->policy);
  t->store = NULL;
  t->policy = NULL;
}

void tracker_failure(struct sh_buf *out, const char *why)
{
  be_put_dict(out);
  be_put_cstr(out, "failure reason");
  be_put_cstr(out, why);
  be_put_end(out);
}

int tracker_parse_ip(const char *s, struct tracker_addr *a)
{
  memset(a, 0, sizeof *a);
  if (inet_pton(AF_INET, s, a->ip) == 1) {
    a->family = STORE_V4;
    return 0;
  }
  if (inet_pton(AF_INET6, s, a->ip) == 1) {
    a->family = STORE_V6;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!memcmp(a->ip, mapped, 12)) {
      memmove(a->ip, a->ip + 12, 4);
      memset(a->ip + 4, 0, 12);
      a->family = STORE_V4;
    }
    return 0;
  }
  return -1;
}

uint32_t tracker_wire_addr(uint8_t out[18], const struct tracker_addr *a, uint16_t port)
{
  struct sh_addr pa = {.family = a->family == STORE_V4 ? 4 : 6, .port = port};
  memcpy(pa.ip, a->ip, sizeof pa.ip);
  return (uint32_t)sh_compact_put(out, &pa);
}

/* Decimal digits without printf: an announce reply holds six numbers, and
 * on the hot path vfprintf cost more than building the rest of the reply. */
static void put_u64(struct sh_buf *b, uint64_t v)
{
  char tmp[20];
  int n = 0;
  do {
    tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  sh_buf_append(b, tmp + sizeof tmp - n, (size_t)n);
}

/* "<literal key>i<v>e": keys are given already bencoded, e.g. "8:complete" */
static void put_kv_int(struct sh_buf *b, const char *key, uint64_t v)
{
  sh_buf_puts(b, key);
  sh_buf_putc(b, 'i');
  put_u64(b, v);
  sh_buf_putc(b, 'e');
}

static void put_bstr(struct sh_buf *b, const uint8_t *p, size_t n)
{
  put_u64(b, n);
  sh_buf_putc(b, ':');
  sh_buf_append(b, p, n);
}

static uint32_t want_of(const struct tracker_config *c, int64_t numwant)
{
  if (numwant < 0)
    return c->numwant_default;
  return numwant > (int64_t)c->numwant_max ? c->numwant_max : (uint32_t)numwant;
}

static void put_dict_peers(struct sh_buf *out, const uint8_t *p, uint32_t n, int fam)
{
  uint32_t alen = STORE_ADDR_LEN(fam);
  for (uint32_t i = 0; i < n; i++, p += alen) {
    struct sh_addr a;
    sh_compact_get(&a, p, alen);
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(a.family == 4 ? AF_INET : AF_INET6, a.ip, ip, sizeof ip);
    be_put_dict(out);
    be_put_cstr(out, "ip");
    be_put_cstr(out, ip);
    be_put_cstr(out, "port");
    be_put_int(out, a.port);
    be_put_end(out);
  }
}

int tracker_http_announce(struct tracker *t, const char *query, size_t qlen,
                          const struct tracker_addr *from, uint32_t now, uint32_t rnd,
                          struct sh_buf *out)
{
  struct query_announce q;
  const char *why;
  tracker_count(t, TRK_HTTP_ANNOUNCE);
  if (query_parse_announce(query, qlen, &q, &why) < 0)
    goto fail;
  switch (policy_check(t->policy, q.info_hash, t->cfg.hosted_only)) {
  case POLICY_OK:
    break;
  case POLICY_NOT_HOSTED:
    why = "torrent is not hosted on this tracker";
    goto fail;
  case POLICY_BLOCKED:
    why = "torrent is blocked on this tracker";
    goto fail;
  }

  struct tracker_addr addr = *from;
  if (q.ip[0] && t->cfg.trust_ip_param) {
    struct tracker_addr given;
    if (tracker_parse_ip(q.ip, &given) == 0)
      addr = given;
  }
  uint8_t wire[18];
  tracker_wire_addr(wire, &addr, q.port);

  uint32_t want = want_of(&t->cfg, q.numwant);
  /* Fill from the client's own family first, the other one after. */
  uint8_t p4[TRACKER_MAX_NUMWANT * 6], p6[TRACKER_MAX_NUMWANT * 18];
  struct store_announce a = {
      .info_hash = q.info_hash, .family = addr.family, .addr = wire, .event = q.event,
      .seeder = q.left == 0, .now = now, .timeout = t->cfg.peer_timeout, .rnd = rnd,
      .create = 1, .out4 = p4, .out6 = p6, .max4 = want, .max6 = want,
  };
  struct store_reply r;
  int rc = store_announce(t->store, &a, &r);
  if (rc < 0) {
    why = "tracker out of memory";
    goto fail;
  }
  if (addr.family == STORE_V4)
    r.n6 = r.n4 >= want ? 0 : (r.n6 < want - r.n4 ? r.n6 : want - r.n4);
  else
    r.n4 = r.n6 >= want ? 0 : (r.n4 < want - r.n6 ? r.n4 : want - r.n6);

  /* Keys in sorted order, as bencode requires. */
  sh_buf_reserve(out, 96 + (size_t)r.n4 * 6 + (size_t)r.n6 * 18);
  sh_buf_putc(out, 'd');
  put_kv_int(out, "8:complete", r.counts.complete);
  put_kv_int(out, "10:incomplete", r.counts.incomplete);
  put_kv_int(out, "8:interval", t->cfg.interval);
  put_kv_int(out, "12:min interval", t->cfg.min_interval);
  sh_buf_puts(out, "5:peers");
  if (q.compact == 0) {
    /* BEP 3's dictionary model; the store keeps no peer_id (see store.h), so
     * every entry is as if no_peer_id=1 had been asked. */
    be_put_list(out);
    put_dict_peers(out, p4, r.n4, STORE_V4);
    put_dict_peers(out, p6, r.n6, STORE_V6);
    be_put_end(out);
  } else {
    put_bstr(out, p4, (size_t)r.n4 * 6);
    if (r.n6) {
      sh_buf_puts(out, "6:peers6");
      put_bstr(out, p6, (size_t)r.n6 * 18);
    }
  }
  /* BEP 3's `warning message`: the request was served, but not as asked */
  if (q.numwant > (int64_t)t->cfg.numwant_max) {
    char w[64];
    int n = snprintf(w, sizeof w, "numwant is limited to %u", t->cfg.numwant_max);
    sh_buf_puts(out, "15:warning message");
    put_bstr(out, (const uint8_t *)w, (size_t)n);
  }
  sh_buf_putc(out, 'e');
  return 0;
fail:
  tracker_count(t, TRK_HTTP_FAILURE);
  tracker_failure(out, why);
  return -1;
}

struct full_scrape {
  struct sh_buf *out;
};

static void put_files_entry(struct sh_buf *out, const uint8_t *h, const struct store_counts *c)
{
  be_put_str(out, h, 20);
  be_put_dict(out);
  be_put_cstr(out, "complete");
  be_put_int(out, c->complete);
  be_put_cstr(out, "downloaded");
  be_put_int(out, c->downloaded);
  be_put_cstr(out, "incomplete");
  be_put_int(out, c->incomplete);
  be_put_end(out);
}

static int visit_full(void *ud, const uint8_t h[20], const struct store_counts *c)
{
  struct full_scrape *fs = ud;
  put_files_entry(fs->out, h, c);
  return fs->out->oom;
}

static int cmp20(const void *a, const void *b) { return memcmp(a, b, 20); }

int tracker_http_scrape(struct tracker *t, const char *query, size_t qlen, struct sh_buf *out)
{
  uint8_t hashes[TRACKER_MAX_SCRAPE][20];
  uint32_t n;
  const char *why;
  tracker_count(t, TRK_HTTP_SCRAPE);
  if (query_parse_scrape(query, qlen, hashes, TRACKER_MAX_SCRAPE, &n, &why) < 0)
    goto fail;
  if (n == 0 && !t->cfg.full_scrape) {
    why = "full scrape is disabled on this tracker; name an info_hash";
    goto fail;
  }
  be_put_dict(out);
  be_put_cstr(out, "files");
  be_put_dict(out);
  if (n == 0) {
    /* Buckets hold hashes in order of their first 12 bits and sorted within,
     * so walking the buckets in order yields sorted dictionary keys. */
    struct full_scrape fs = {out};
    store_foreach(t->store, visit_full, &fs);
  } else {
    qsort(hashes, n, 20, cmp20);
    for (uint32_t i = 0; i < n; i++) {
      struct store_counts c;
      /* BEP 48: a torrent the tracker does not track is left out. */
      if (policy_check(t->policy, hashes[i], t->cfg.hosted_only) != POLICY_OK)
        continue;
      if (store_scrape(t->store, hashes[i], &c) || policy_is_hosted(t->policy, hashes[i]))
        put_files_entry(out, hashes[i], &c);
    }
  }
  be_put_end(out);
  be_put_end(out);
  return 0;
fail:
  tracker_count(t, TRK_HTTP_FAILURE);
  tracker_failure(out, why);
  return -1;
}
