/* The DHT node on the loop: see dht_uv.h. */
#include "dht/dht_uv.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/vec.h"
#include "net/udp.h"

/* Name lookups in flight at once (bootstrap routers, `nodes` of
 * torrents); more are refused until some finish. */
#define MAX_RESOLVING 16

struct resolve {
  uv_getaddrinfo_t req;
  struct sh_dht_uv *u;
  uint16_t port;
};

struct sh_dht_uv {
  uv_loop_t *loop;
  struct sh_dht *d;
  struct sh_udp *udp4, *udp6;
  uv_timer_t timer;
  struct sh_dht_uv_cb cb;
  struct resolve *resolving[MAX_RESOLVING];
  int nresolving;
  int closing, timer_closed;
  void (*done)(void *ud);
  void *done_ud;
};

static void on_send(void *ud, const uint8_t *p, size_t n, const struct sh_addr *to)
{
  struct sh_dht_uv *u = ud;
  struct sh_udp *s = to->family == 6 ? u->udp6 : u->udp4;
  if (!s || u->closing)
    return;
  struct sockaddr_storage ss;
  sh_addr_to_sockaddr(to, &ss);
  sh_udp_send(s, SH_UDP_DHT, p, n, (const struct sockaddr *)&ss);
}

static void on_peers(void *ud, const uint8_t ih[SH_DHT_ID_LEN], const struct sh_addr *a, size_t n)
{
  struct sh_dht_uv *u = ud;
  if (!u->closing && u->cb.peers)
    u->cb.peers(u->cb.ud, ih, a, n);
}

static void on_search_done(void *ud, const struct sh_dht_search_info *info)
{
  struct sh_dht_uv *u = ud;
  if (!u->closing && u->cb.search_done)
    u->cb.search_done(u->cb.ud, info);
}

static void on_timer(uv_timer_t *t);

/* The core says when it wants to run again (at most a second away). */
static void arm(struct sh_dht_uv *u, uint64_t wait)
{
  if (!u->closing)
    uv_timer_start(&u->timer, on_timer, wait, 0);
}

static void on_timer(uv_timer_t *t)
{
  struct sh_dht_uv *u = t->data;
  arm(u, sh_dht_periodic(u->d, uv_now(u->loop)));
}

static void on_datagram(void *ud, const uint8_t *p, size_t n, const struct sockaddr *from)
{
  struct sh_dht_uv *u = ud;
  struct sh_addr a;
  if (u->closing || sh_addr_from_sockaddr(&a, from) < 0)
    return;
  sh_dht_input(u->d, p, n, &a, uv_now(u->loop));
}

int sh_dht_uv_new(uv_loop_t *loop, struct sh_udp *const *udp, size_t nudp,
                  const struct sh_dht_uv_opts *o, const struct sh_dht_uv_cb *cb,
                  struct sh_dht_uv **out)
{
  *out = NULL;
  struct sh_dht_uv *u = calloc(1, sizeof *u);
  if (!u)
    return -ENOMEM;
  u->loop = loop;
  u->cb = *cb;
  for (size_t i = 0; i < nudp; i++) {
    if (sh_udp_family(udp[i]) == AF_INET && !u->udp4)
      u->udp4 = udp[i];
    else if (sh_udp_family(udp[i]) == AF_INET6 && !u->udp6)
      u->udp6 = udp[i];
  }
  if (!u->udp4 && !u->udp6) {
    free(u);
    return -EINVAL;
  }
  struct sh_dht_config c;
  sh_dht_config_default(&c);
  c.v4 = u->udp4 != NULL;
  c.v6 = u->udp6 != NULL;
  c.read_only = o->read_only;
  c.seed = o->seed;
  if (o->id) {
    memcpy(c.id, o->id, SH_DHT_ID_LEN);
    c.has_id = 1;
  }
  struct sh_dht_callbacks dcb = {u, on_send, on_peers, on_search_done};
  uint64_t now = uv_now(loop);
  int rc = sh_dht_new(&c, &dcb, now, &u->d);
  if (rc < 0) {
    free(u);
    return rc;
  }
  uv_timer_init(loop, &u->timer);
  u->timer.data = u;
  if (u->udp4)
    sh_udp_set_consumer(u->udp4, SH_UDP_DHT, on_datagram, u);
  if (u->udp6)
    sh_udp_set_consumer(u->udp6, SH_UDP_DHT, on_datagram, u);
  for (size_t i = 0; i < o->nnodes; i++)
    sh_dht_bootstrap(u->d, &o->nodes[i], now);
  arm(u, sh_dht_periodic(u->d, now));
  *out = u;
  return 0;
}

static void maybe_free(struct sh_dht_uv *u)
{
  if (!u->timer_closed || u->nresolving)
    return;
  void (*done)(void *) = u->done;
  void *ud = u->done_ud;
  sh_dht_free(u->d);
  free(u);
  if (done)
    done(ud);
}

static void on_timer_closed(uv_handle_t *h)
{
  struct sh_dht_uv *u = h->data;
  u->timer_closed = 1;
  maybe_free(u);
}

void sh_dht_uv_close(struct sh_dht_uv *u, void (*done)(void *ud), void *ud)
{
  if (u->closing)
    return;
  u->closing = 1;
  u->done = done;
  u->done_ud = ud;
  if (u->udp4)
    sh_udp_set_consumer(u->udp4, SH_UDP_DHT, NULL, NULL);
  if (u->udp6)
    sh_udp_set_consumer(u->udp6, SH_UDP_DHT, NULL, NULL);
  for (int i = 0; i < u->nresolving; i++)
    uv_cancel((uv_req_t *)&u->resolving[i]->req); /* those already running finish */
  uv_timer_stop(&u->timer);
  uv_close((uv_handle_t *)&u->timer, on_timer_closed);
}

int sh_dht_uv_add_node(struct sh_dht_uv *u, const struct sh_addr *a)
{
  if (u->closing)
    return -ECANCELED;
  return sh_dht_bootstrap(u->d, a, uv_now(u->loop));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
  struct resolve *r = req->data;
  struct sh_dht_uv *u = r->u;
  for (int i = 0; i < u->nresolving; i++)
    if (u->resolving[i] == r) {
      u->resolving[i] = u->resolving[--u->nresolving];
      break;
    }
  int added = 0;
  for (struct addrinfo *ai = res; status == 0 && !u->closing && ai; ai = ai->ai_next) {
    struct sh_addr a;
    if (sh_addr_from_sockaddr(&a, ai->ai_addr) < 0)
      continue;
    a.port = r->port;
    added += sh_dht_uv_add_node(u, &a) == 0;
  }
  if (status < 0 && status != UV_ECANCELED)
    sh_warn("DHT: cannot resolve a bootstrap node: %s", uv_strerror(status));
  else if (status == 0 && !added && !u->closing)
    sh_info("DHT: a bootstrap node has no address of a family we speak");
  if (res)
    uv_freeaddrinfo(res);
  free(r);
  if (u->closing)
    maybe_free(u);
}

int sh_dht_uv_add_host(struct sh_dht_uv *u, const char *host, uint16_t port)
{
  if (u->closing)
    return -ECANCELED;
  struct sockaddr_storage ss;
  struct sh_addr a;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) == 0 ||
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) == 0) {
    sh_addr_from_sockaddr(&a, (const struct sockaddr *)&ss);
    return sh_dht_uv_add_node(u, &a);
  }
  if (u->nresolving == MAX_RESOLVING)
    return -EBUSY;
  struct resolve *r = calloc(1, sizeof *r);
  if (!r)
    return -ENOMEM;
  r->u = u;
  r->port = port;
  r->req.data = r;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
  int rc = uv_getaddrinfo(u->loop, &r->req, on_resolved, host, NULL, &hints);
  if (rc < 0) {
    free(r);
    return rc;
  }
  u->resolving[u->nresolving++] = r;
  return 0;
}

void sh_dht_uv_ping(struct sh_dht_uv *u, const struct sh_addr *a)
{
  if (!u->closing)
    sh_dht_ping(u->d, a, uv_now(u->loop));
}

int sh_dht_uv_search(struct sh_dht_uv *u, const uint8_t ih[SH_DHT_ID_LEN],
                     const struct sh_dht_search_opts *o)
{
  if (u->closing)
    return -ECANCELED;
  int rc = -EAFNOSUPPORT, ok = 0;
  uint64_t now = uv_now(u->loop);
  if (u->udp4 && (rc = sh_dht_search(u->d, ih, 4, o, now)) == 0)
    ok = 1;
  if (u->udp6 && (rc = sh_dht_search(u->d, ih, 6, o, now)) == 0)
    ok = 1;
  if (ok) /* start at once, not at the next timer */
    arm(u, sh_dht_periodic(u->d, now));
  return ok ? 0 : rc;
}

void sh_dht_uv_stats(const struct sh_dht_uv *u, struct sh_dht_stats *st)
{
  sh_dht_stats(u->d, uv_now(u->loop), st);
}

void sh_dht_uv_save(const struct sh_dht_uv *u, struct sh_buf *b)
{
  /* 200 nodes of each family: 5 KB of IPv4, plenty to come back from */
  sh_dht_save(u->d, uv_now(u->loop), 200, b);
}
