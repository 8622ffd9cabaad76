#include "announce/ann_tier.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "meta/metainfo.h"

static int supported(const char *url)
{
  return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0 ||
         strncasecmp(url, "udp://", 6) == 0;
}

int ann_tiers_init(struct ann_tiers *t, const struct sh_tier *tiers, size_t ntiers,
                   uint32_t (*rand_u32)(void *), void *rctx, size_t *skipped)
{
  memset(t, 0, sizeof *t);
  size_t total = 0, skip = 0;
  for (size_t i = 0; i < ntiers; i++)
    total += tiers[i].n;
  if (skipped)
    *skipped = 0;
  if (total == 0)
    return 0;
  t->url = calloc(total, sizeof *t->url);
  t->tier = calloc(total, sizeof *t->tier);
  if (!t->url || !t->tier)
    goto oom;
  for (size_t i = 0; i < ntiers; i++) {
    size_t first = t->n;
    for (size_t j = 0; j < tiers[i].n; j++) {
      const char *u = tiers[i].urls[j];
      if (!u || !supported(u)) {
        skip++;
        continue;
      }
      if (!(t->url[t->n] = strdup(u)))
        goto oom;
      t->tier[t->n++] = (uint32_t)i;
    }
    /* Fisher-Yates over this tier's entries only */
    for (size_t k = t->n - first; k > 1; k--) {
      size_t r = rand_u32(rctx) % k;
      char *tmp = t->url[first + k - 1];
      t->url[first + k - 1] = t->url[first + r];
      t->url[first + r] = tmp;
    }
  }
  if (skipped)
    *skipped = skip;
  return 0;
oom:
  ann_tiers_free(t);
  return -ENOMEM;
}

void ann_tiers_free(struct ann_tiers *t)
{
  for (size_t i = 0; t->url && i < t->n; i++)
    free(t->url[i]);
  free(t->url);
  free(t->tier);
  memset(t, 0, sizeof *t);
}

size_t ann_tiers_success(struct ann_tiers *t, size_t i)
{
  size_t first = i;
  while (first > 0 && t->tier[first - 1] == t->tier[i])
    first--;
  char *u = t->url[i];
  memmove(&t->url[first + 1], &t->url[first], (i - first) * sizeof *t->url);
  t->url[first] = u;
  t->cur = first;
  t->tried = 0;
  return first;
}

int ann_tiers_failure(struct ann_tiers *t, size_t i)
{
  t->tried++;
  /* a whole round is n failures in a row, wherever the walk started (it
   * may start in a later tier when that tier's tracker was the working one) */
  if (t->tried >= t->n || t->n == 0) {
    t->cur = 0;
    t->tried = 0;
    return 0;
  }
  t->cur = (i + 1) % t->n;
  return 1;
}

uint64_t ann_retry_delay_ms(uint32_t k, uint64_t base_ms, uint64_t cap_ms)
{
  if (k == 0)
    k = 1;
  uint64_t d = base_ms;
  for (uint32_t j = 1; j < k && d < cap_ms; j++)
    d *= 2;
  return d < cap_ms ? d : cap_ms;
}

uint64_t ann_udp_timeout_ms(uint32_t n, uint64_t base_ms)
{
  if (n > 8)
    n = 8;
  return base_ms << n;
}

uint32_t ann_interval_clamp(uint32_t interval, uint32_t lo, uint32_t hi)
{
  if (interval == 0)
    interval = 1800;
  if (interval < lo)
    interval = lo;
  if (interval > hi)
    interval = hi;
  return interval;
}
