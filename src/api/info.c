/* struct shoal_torrent_info: a view whose pointers lead into the parsed
 * struct sh_metainfo it owns. Only the arrays whose element types differ
 * (files, tiers, the URL pointer lists) are built here; strings, hashes and
 * the raw bytes are the metainfo's own. */
#include "api/info.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "disk/storage.h"

struct info {
  struct shoal_torrent_info pub; /* first: a view's address is its struct's */
  struct sh_metainfo *m;
  struct shoal_file_info *files;
  struct shoal_tracker_tier *tiers;
  const char **urls; /* every tier's URLs, then the web seeds */
};

_Static_assert((int)SHOAL_FILE_PAD == (int)SH_FILE_PAD && (int)SHOAL_FILE_EXEC == (int)SH_FILE_EXEC &&
                   (int)SHOAL_FILE_HIDDEN == (int)SH_FILE_HIDDEN &&
                   (int)SHOAL_FILE_SYMLINK == (int)SH_FILE_SYMLINK,
               "file attribute bits");

static struct info *info_of(const struct shoal_torrent_info *ti)
{
  return (struct info *)ti;
}

static void info_free(struct info *in)
{
  sh_metainfo_free(in->m);
  free(in->files);
  free(in->tiers);
  free(in->urls);
  free(in);
}

/* Fills the arrays of the view; -ENOMEM when one cannot be had. */
static int fill(struct info *in)
{
  const struct sh_metainfo *m = in->m;
  size_t nurls = m->num_web_seeds;
  for (size_t t = 0; t < m->num_tiers; t++)
    nurls += m->tiers[t].n;
  /* +1: malloc(0) may return NULL, which would read as a failure */
  in->files = malloc((m->num_files + 1) * sizeof *in->files);
  in->tiers = malloc((m->num_tiers + 1) * sizeof *in->tiers);
  in->urls = malloc((nurls + 1) * sizeof *in->urls);
  if (!in->files || !in->tiers || !in->urls)
    return -ENOMEM;
  for (size_t i = 0; i < m->num_files; i++) {
    const struct sh_file *f = &m->files[i];
    in->files[i] = (struct shoal_file_info){f->path, f->length, f->offset, f->attr, f->symlink_target};
  }
  size_t k = 0;
  for (size_t t = 0; t < m->num_tiers; t++) {
    in->tiers[t] = (struct shoal_tracker_tier){in->urls + k, m->tiers[t].n};
    for (size_t u = 0; u < m->tiers[t].n; u++)
      in->urls[k++] = m->tiers[t].urls[u];
  }
  const char **seeds = in->urls + k;
  for (size_t i = 0; i < m->num_web_seeds; i++)
    in->urls[k++] = m->web_seeds[i];

  in->pub = (struct shoal_torrent_info){
      .name = m->name,
      .total_length = m->total_length,
      .piece_length = m->piece_length,
      .num_pieces = m->num_pieces,
      .piece_hashes = m->piece_hashes,
      .is_private = m->is_private,
      .multi_file = m->multi_file,
      .hybrid = m->hybrid,
      .tiers = m->num_tiers ? in->tiers : NULL,
      .num_tiers = m->num_tiers,
      .web_seeds = m->num_web_seeds ? seeds : NULL,
      .num_web_seeds = m->num_web_seeds,
      .comment = m->comment,
      .created_by = m->created_by,
      .source = m->source,
      .creation_date = m->creation_date,
      .files = in->files,
      .num_files = m->num_files,
      .raw = m->raw,
      .raw_len = m->raw_len,
      .info_off = m->info_off,
      .info_len = m->info_len,
  };
  memcpy(in->pub.info_hash, m->info_hash, sizeof m->info_hash);
  memcpy(in->pub.info_hash_hex, m->info_hash_hex, sizeof m->info_hash_hex);
  return 0;
}

int sh_info_wrap(struct sh_metainfo *m, struct shoal_torrent_info **out)
{
  *out = NULL;
  struct info *in = calloc(1, sizeof *in);
  if (!in) {
    sh_metainfo_free(m);
    return -ENOMEM;
  }
  in->m = m;
  int rc = fill(in);
  if (rc) {
    info_free(in);
    return rc;
  }
  *out = &in->pub;
  return 0;
}

const struct sh_metainfo *sh_info_metainfo(const struct shoal_torrent_info *ti)
{
  return info_of(ti)->m;
}

/* Wraps a freshly parsed m; a failure here can only be out of memory. */
static int wrap_parsed(struct sh_metainfo *m, struct shoal_torrent_info **out, char *err,
                       size_t errlen)
{
  int rc = sh_info_wrap(m, out);
  return rc ? sh_errf(err, errlen, rc, "out of memory") : 0;
}

int shoal_torrent_info_parse(const void *buf, size_t len, struct shoal_torrent_info **out,
                             char *err, size_t errlen)
{
  struct sh_metainfo *m;
  *out = NULL;
  int rc = sh_metainfo_parse(buf, len, &m, err, errlen);
  return rc ? rc : wrap_parsed(m, out, err, errlen);
}

int shoal_torrent_info_load(const char *path, struct shoal_torrent_info **out, char *err,
                            size_t errlen)
{
  struct sh_metainfo *m;
  *out = NULL;
  int rc = sh_metainfo_load(path, &m, err, errlen);
  return rc ? rc : wrap_parsed(m, out, err, errlen);
}

void shoal_torrent_info_free(struct shoal_torrent_info *ti)
{
  if (ti)
    info_free(info_of(ti));
}

uint32_t shoal_torrent_info_piece_size(const struct shoal_torrent_info *ti, uint32_t piece)
{
  return sh_piece_size(info_of(ti)->m, piece);
}

void shoal_torrent_info_piece_files(const struct shoal_torrent_info *ti, uint32_t piece,
                                    size_t *first, size_t *last)
{
  sh_storage_piece_files(info_of(ti)->m, piece, first, last);
}
