/* The registry of UDP tracker clients: one per tracker host:port in a
 * session, refcounted by the announcers using it, and the sockets they
 * send from. The clients' transactions are in ann_udpc.c. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "announce/ann_udpc_int.h"
#include "base/error.h"
#include "net/udp.h"

static void reg_maybe_free(struct ann_udpc_reg *r);

void ann_udpc_reg_icmp(struct ann_udpc_reg *r, const struct sockaddr *to, int err)
{
  for (struct ann_udpc *u = r->clients; u; u = u->next)
    if (!u->closing)
      ann_udpc_icmp(u, to, err);
}

static void on_icmp(void *ud, const struct sockaddr *to, int err, const uint8_t *p, size_t n)
{
  ann_udpc_reg_icmp(ud, to, err);
}

struct ann_udpc_reg *ann_udpc_reg_new(uv_loop_t *loop, struct sh_udp *const *socks, size_t n)
{
  struct ann_udpc_reg *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  r->loop = loop;
  for (size_t i = 0; i < n && r->nshared < ANN_UDPC_MAX_SOCKS; i++)
    if (socks[i]) {
      r->shared[r->nshared++] = socks[i];
      sh_udp_set_error_consumer(socks[i], SH_UDP_TRACKER, on_icmp, r);
    }
  uv_timer_init(loop, &r->closer);
  r->closer.data = r;
  return r;
}

size_t ann_udpc_reg_count(const struct ann_udpc_reg *r) { return r->nclients; }

int ann_udpc_reg_has_family(const struct ann_udpc_reg *r, int family)
{
  for (size_t i = 0; i < r->nshared; i++)
    if (sh_udp_family(r->shared[i]) == family)
      return 1;
  return 0;
}

static int is_any(const struct sockaddr_storage *ss)
{
  static const uint8_t zero[16];
  if (ss->ss_family == AF_INET)
    return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == 0;
  return !memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr, zero, 16);
}

static int is_loopback(const struct sockaddr *sa)
{
  if (sa->sa_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
  const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
  return IN6_IS_ADDR_LOOPBACK(a);
}

/* Among the shared sockets of dest's family: one bound to every address
 * reaches anything; else one on the same side of loopback as dest (a
 * socket bound to 127.0.0.1 cannot reach the outside); else the first. */
static struct sh_udp *pick_shared(const struct ann_udpc_reg *r, const struct sockaddr *dest)
{
  struct sh_udp *first = NULL, *scope = NULL;
  for (size_t i = 0; i < r->nshared; i++) {
    struct sh_udp *s = r->shared[i];
    if (sh_udp_family(s) != dest->sa_family)
      continue;
    struct sockaddr_storage local;
    sh_udp_local(s, &local);
    if (is_any(&local))
      return s;
    if (!first)
      first = s;
    if (!scope && is_loopback((const struct sockaddr *)&local) == is_loopback(dest))
      scope = s;
  }
  return scope ? scope : first;
}

struct sh_udp *ann_udpc_reg_sock(struct ann_udpc_reg *r, const struct sockaddr *dest, int *err)
{
  struct sh_udp *s = pick_shared(r, dest);
  if (s)
    return s;
  int v6 = dest->sa_family == AF_INET6;
  if (r->own[v6])
    return r->own[v6];
  struct sockaddr_storage any;
  memset(&any, 0, sizeof any);
  any.ss_family = dest->sa_family;
  *err = sh_udp_open(r->loop, (const struct sockaddr *)&any, &r->own[v6]);
  if (*err < 0)
    return NULL;
  sh_udp_set_error_consumer(r->own[v6], SH_UDP_TRACKER, on_icmp, r);
  return r->own[v6];
}

/* ---- clients ---- */

static struct ann_udpc *client_new(struct ann_udpc_reg *r, const char *host, uint16_t port,
                                   const char *key)
{
  struct ann_udpc *u = calloc(1, sizeof *u);
  if (!u)
    return NULL;
  u->reg = r;
  snprintf(u->key, sizeof u->key, "%s", key);
  snprintf(u->host, sizeof u->host, "%s", host);
  snprintf(u->port, sizeof u->port, "%u", (unsigned)port);
  uv_timer_init(r->loop, &u->anchor);
  u->anchor.data = u;
  u->handles = 1; /* the anchor, closed when the last user leaves */
  u->next = r->clients;
  r->clients = u;
  r->nclients++;
  return u;
}

struct ann_udpc *ann_udpc_acquire(struct ann_udpc_reg *r, const char *url,
                                  const char **path_query, int *err)
{
  if (r->closing) {
    *err = -ECANCELED;
    return NULL;
  }
  char host[256], key[300];
  uint16_t port;
  if ((*err = ann_udp_parse_url(url, host, sizeof host, &port, path_query)) < 0)
    return NULL;
  /* host names are case-insensitive (RFC 4343); literals are canonical
   * enough as written */
  size_t i = 0;
  for (; host[i] && i < sizeof key - 8; i++)
    key[i] = (char)tolower((unsigned char)host[i]);
  snprintf(key + i, sizeof key - i, ":%u", (unsigned)port);
  struct ann_udpc *u = r->clients;
  while (u && strcmp(u->key, key))
    u = u->next;
  if (!u && !(u = client_new(r, host, port, key))) {
    *err = -ENOMEM;
    return NULL;
  }
  u->users++;
  *err = 0;
  return u;
}

static void unlink_client(struct ann_udpc *u)
{
  struct ann_udpc **pp = &u->reg->clients;
  while (*pp && *pp != u)
    pp = &(*pp)->next;
  if (*pp)
    *pp = u->next;
}

static void on_anchor_closed(uv_handle_t *h) { ann_udpc_handle_closed(h->data); }

void ann_udpc_release(struct ann_udpc *u)
{
  if (--u->users > 0)
    return;
  /* a later acquire of the same tracker makes a new client */
  unlink_client(u);
  ann_udpc_shutdown(u);
  uv_close((uv_handle_t *)&u->anchor, on_anchor_closed);
}

void ann_udpc_handle_closed(struct ann_udpc *u)
{
  if (--u->handles > 0 || !u->closing)
    return;
  struct ann_udpc_reg *r = u->reg;
  free(u);
  r->nclients--;
  reg_maybe_free(r);
}

/* ---- closing ---- */

static void on_closer_closed(uv_handle_t *h)
{
  struct ann_udpc_reg *r = h->data;
  void (*done)(void *) = r->done;
  void *ud = r->done_ud;
  free(r);
  if (done)
    done(ud);
}

static void on_own_closed(void *ud)
{
  struct ann_udpc_reg *r = ud;
  r->pending--;
  reg_maybe_free(r);
}

static void reg_maybe_free(struct ann_udpc_reg *r)
{
  if (!r->closing || r->nclients)
    return;
  for (int i = 0; i < 2; i++) {
    if (r->own[i]) {
      r->pending++;
      sh_udp_close(r->own[i], on_own_closed, r);
      r->own[i] = NULL;
    }
  }
  if (r->pending || uv_is_closing((uv_handle_t *)&r->closer))
    return;
  /* the session's sockets outlive the registry: stop their calls now */
  for (size_t i = 0; i < r->nshared; i++)
    sh_udp_set_error_consumer(r->shared[i], SH_UDP_TRACKER, NULL, NULL);
  uv_close((uv_handle_t *)&r->closer, on_closer_closed);
}

void ann_udpc_reg_close(struct ann_udpc_reg *r, void (*done)(void *ud), void *ud)
{
  if (r->closing)
    return;
  r->closing = 1;
  r->done = done;
  r->done_ud = ud;
  reg_maybe_free(r);
}
