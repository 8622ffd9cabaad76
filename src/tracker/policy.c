/* Hosted set and blocklist; see policy.h. */
#include "tracker/policy.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/sha1.h"
#include "base/sorted.h"
#include "base/vec.h"

struct hset {
  uint8_t (*h)[20];
  size_t n, cap;
};

struct policy {
  pthread_rwlock_t lock;
  struct hset hosted, blocked;
};

static int cmp20(const void *a, const void *b) { return memcmp(a, b, 20); }

static inline long hset_find(const struct hset *s, const uint8_t *h)
{
  return sh_sorted_find(s->h, s->n, sizeof *s->h, 0, h, SH_IHASH_LEN);
}

struct policy *policy_new(void)
{
  struct policy *p = calloc(1, sizeof *p);
  if (p)
    pthread_rwlock_init(&p->lock, NULL);
  return p;
}

void policy_free(struct policy *p)
{
  if (!p)
    return;
  free(p->hosted.h);
  free(p->blocked.h);
  pthread_rwlock_destroy(&p->lock);
  free(p);
}

static int set_all(struct policy *p, struct hset *s, const uint8_t (*h)[20], size_t n)
{
  uint8_t (*copy)[20] = NULL;
  if (n) {
    copy = malloc(n * 20);
    if (!copy)
      return -ENOMEM;
    memcpy(copy, h, n * 20);
    qsort(copy, n, 20, cmp20);
    /* drop duplicates so lookups and counts stay exact */
    size_t k = 1;
    for (size_t i = 1; i < n; i++)
      if (memcmp(copy[i], copy[k - 1], 20))
        memcpy(copy[k++], copy[i], 20);
    n = k;
  }
  pthread_rwlock_wrlock(&p->lock);
  free(s->h);
  s->h = copy;
  s->n = s->cap = n;
  pthread_rwlock_unlock(&p->lock);
  return 0;
}

int policy_set_hosted(struct policy *p, const uint8_t (*h)[20], size_t n)
{
  return set_all(p, &p->hosted, h, n);
}

int policy_set_blocked(struct policy *p, const uint8_t (*h)[20], size_t n)
{
  return set_all(p, &p->blocked, h, n);
}

int policy_add_hosted(struct policy *p, const uint8_t h[20])
{
  int rc = 0;
  pthread_rwlock_wrlock(&p->lock);
  struct hset *s = &p->hosted;
  long i = hset_find(s, h);
  if (i < 0) {
    i = -i - 1;
    if (sh_vec_reserve(s->h, s->cap, s->n + 1, 16, SIZE_MAX) < 0) {
      rc = -ENOMEM;
      goto out;
    }
    memmove(s->h[i + 1], s->h[i], (s->n - (size_t)i) * 20);
    memcpy(s->h[i], h, 20);
    s->n++;
  }
out:
  pthread_rwlock_unlock(&p->lock);
  return rc;
}

int policy_is_hosted(struct policy *p, const uint8_t h[20])
{
  pthread_rwlock_rdlock(&p->lock);
  int r = hset_find(&p->hosted, h) >= 0;
  pthread_rwlock_unlock(&p->lock);
  return r;
}

enum policy_verdict policy_check(struct policy *p, const uint8_t h[20], int hosted_only)
{
  enum policy_verdict v = POLICY_OK;
  pthread_rwlock_rdlock(&p->lock);
  if (p->blocked.n && hset_find(&p->blocked, h) >= 0)
    v = POLICY_BLOCKED;
  else if (hosted_only && hset_find(&p->hosted, h) < 0)
    v = POLICY_NOT_HOSTED;
  pthread_rwlock_unlock(&p->lock);
  return v;
}

long policy_read_list(const char *path, uint8_t (**out)[20])
{
  FILE *f = fopen(path, "r");
  if (!f)
    return -errno;
  size_t n = 0, cap = 0;
  uint8_t (*a)[20] = NULL;
  char line[512];
  unsigned lineno = 0;
  int oom = 0;
  while (!oom && fgets(line, sizeof line, f)) {
    lineno++;
    char *p = line;
    while (*p == ' ' || *p == '\t')
      p++;
    size_t l = strcspn(p, " \t\r\n#");
    if (l == 0)
      continue;
    p[l] = 0; /* sh_unhex wants exactly the digits */
    if (sh_vec_reserve(a, cap, n + 1, 64, SIZE_MAX) < 0) {
      oom = 1;
      break;
    }
    if (l != 40 || sh_unhex(p, a[n], 20) < 0) {
      sh_warn("tracker: %s:%u: not a 40-digit hex info-hash, skipped", path, lineno);
      continue;
    }
    n++;
  }
  fclose(f);
  if (oom) {
    free(a);
    return -ENOMEM;
  }
  *out = a;
  return (long)n;
}
