#include "announce/ann_msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/compact.h"
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

/* Port 0 is dropped: no one listens there. */
int ann_reply_add(struct ann_reply *r, const struct sh_addr *a)
{
  if (a->port == 0) {
    r->dropped++;
    return 0;
  }
  size_t before = r->dropped;
  struct sockaddr_storage *s = slot(r);
  if (!s)
    return r->dropped != before ? 0 : -ENOMEM;
  sh_addr_to_sockaddr(a, s);
  r->npeers++;
  return 0;
}

int ann_reply_add_compact(struct ann_reply *r, const uint8_t *p, size_t n, int family)
{
  size_t len = sh_compact_len(family), rest;
  size_t count = sh_compact_count(n, family, &rest);
  for (size_t i = 0; i < count; i++) {
    struct sh_addr a;
    sh_compact_get(&a, p + i * len, len);
    int rc = ann_reply_add(r, &a);
    if (rc < 0)
      return rc;
  }
  if (rest) {
    r->partial = 1;
    r->dropped++;
  }
  return 0;
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
