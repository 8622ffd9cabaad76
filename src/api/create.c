/* Public torrent creation: shoal_create_opts translated to meta/create.h's
 * options (the tiers need char ** lists), the result handed over as plain
 * heap bytes. */
#include "shoal.h"

#include <errno.h>
#include <stdlib.h>

#include "base/buf.h"
#include "base/error.h"
#include "meta/create.h"

_Static_assert(SHOAL_CREATE_MIN_PIECE == SH_CREATE_MIN_PIECE &&
                   SHOAL_CREATE_MAX_PIECE == SH_CREATE_MAX_PIECE,
               "piece length limits");

/* The tiers as meta/create.h takes them, in two allocations (*tiers and
 * *urls, both freed by the caller). A NULL URL is refused: it would be
 * written as an empty string or crash the encoder. */
static int copy_tiers(const struct shoal_create_opts *o, struct sh_tier **tiers, char ***urls,
                      char *err, size_t errlen)
{
  size_t n = 0;
  for (size_t t = 0; t < o->num_tiers; t++) {
    if (o->tiers[t].num_urls && !o->tiers[t].urls)
      return sh_errf(err, errlen, SH_EUSAGE, "tracker tier %zu: no URL list", t + 1);
    for (size_t u = 0; u < o->tiers[t].num_urls; u++)
      if (!o->tiers[t].urls[u])
        return sh_errf(err, errlen, SH_EUSAGE, "tracker tier %zu: URL %zu is NULL", t + 1, u + 1);
    n += o->tiers[t].num_urls;
  }
  *tiers = malloc((o->num_tiers + 1) * sizeof **tiers);
  *urls = malloc((n + 1) * sizeof **urls);
  if (!*tiers || !*urls)
    return sh_errf(err, errlen, -ENOMEM, "out of memory");
  size_t k = 0;
  for (size_t t = 0; t < o->num_tiers; t++) {
    (*tiers)[t] = (struct sh_tier){*urls + k, o->tiers[t].num_urls};
    for (size_t u = 0; u < o->tiers[t].num_urls; u++)
      (*urls)[k++] = (char *)o->tiers[t].urls[u]; /* only read */
  }
  return 0;
}

int shoal_create(const struct shoal_create_opts *o, uint8_t **out, size_t *out_len, char *err,
                 size_t errlen)
{
  *out = NULL;
  *out_len = 0;
  if (err && errlen)
    err[0] = 0;
  if (!o || !o->path)
    return sh_errf(err, errlen, SH_EUSAGE, "no path to share");
  if (o->num_web_seeds && !o->web_seeds)
    return sh_errf(err, errlen, SH_EUSAGE, "web seeds: no URL list");
  for (size_t i = 0; i < o->num_web_seeds; i++)
    if (!o->web_seeds[i])
      return sh_errf(err, errlen, SH_EUSAGE, "web seed %zu is NULL", i + 1);
  struct sh_tier *tiers = NULL;
  char **urls = NULL;
  int rc = copy_tiers(o, &tiers, &urls, err, errlen);
  if (!rc) {
    struct sh_create_opts c = {
        .path = o->path,
        .name = o->name,
        .piece_length = o->piece_length,
        .tiers = tiers,
        .num_tiers = o->num_tiers,
        .web_seeds = o->web_seeds,
        .num_web_seeds = o->num_web_seeds,
        .is_private = o->is_private,
        .comment = o->comment,
        .source = o->source,
        .created_by = o->created_by,
        .creation_date = o->creation_date,
        .threads = o->threads,
        .progress = o->progress,
        .ud = o->ud,
    };
    struct sh_buf b = SH_BUF_INIT;
    rc = sh_create(&c, &b, err, errlen);
    if (!rc && !(*out = (uint8_t *)sh_buf_steal(&b, out_len)))
      rc = sh_errf(err, errlen, -ENOMEM, "out of memory");
    sh_buf_free(&b);
  }
  free(tiers);
  free(urls);
  return rc;
}

int shoal_create_save(const char *path, const void *data, size_t len, int overwrite)
{
  return sh_create_save(path, data, len, overwrite);
}

uint32_t shoal_create_piece_length(uint64_t total) { return sh_create_piece_length(total); }

char *shoal_create_default_name(const char *path) { return sh_create_default_name(path); }
