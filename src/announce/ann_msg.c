#include "announce/ann_msg.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "base/vec.h"

void ann_reply_init(struct ann_reply *r)
{
  memset(r, 0, sizeof *r);
  r->complete = r->incomplete = -1;
}

void ann_reply_free(struct ann_reply *r)
{
  free(r->peers);
  free(r->tracker_id);
  free(r->warning);
  ann_reply_init(r);
}

static struct sockaddr_storage *slot(struct ann_reply *r)
{
  if (r->npeers >= ANN_MAX_PEERS) {
    r->dropped++;
    return NULL;
  }
  if (sh_vec_reserve(r->peers, r->cap, r->npeers + 1, 64, ANN_MAX_PEERS) < 0)
    return NULL;
  struct sockaddr_storage *s = &r->peers[r->npeers];
  memset(s, 0, sizeof *s);
  return s;
}

/* Appends one peer; port 0 is dropped (no one listens there). ip is 4 or
 * 16 bytes as family says. */
static int add_peer(struct ann_reply *r, int family, const uint8_t *ip, uint16_t port)
{
  if (port == 0) {
    r->dropped++;
    return 0;
  }
  size_t before = r->dropped;
  struct sockaddr_storage *s = slot(r);
  if (!s)
    return r->dropped != before ? 0 : -ENOMEM;
  if (family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)s;
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    memcpy(&a->sin_addr, ip, 4);
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)s;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    memcpy(&a->sin6_addr, ip, 16);
  }
  r->npeers++;
  return 0;
}

int ann_reply_add4(struct ann_reply *r, const uint8_t ip[4], uint16_t port)
{
  return add_peer(r, AF_INET, ip, port);
}

int ann_reply_add6(struct ann_reply *r, const uint8_t ip[16], uint16_t port)
{
  return add_peer(r, AF_INET6, ip, port);
}

char *ann_sanitize(const uint8_t *p, size_t n)
{
  if (n > 200)
    n = 200;
  char *s = malloc(n + 1);
  if (!s)
    return NULL;
  for (size_t i = 0; i < n; i++)
    s[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
  s[n] = 0;
  return s;
}
