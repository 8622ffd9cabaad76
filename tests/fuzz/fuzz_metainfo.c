/* libFuzzer target: the metainfo parser on arbitrary bytes. Whatever it
 * accepts must be internally consistent: file offsets contiguous, the piece
 * count matching the total length, paths free of "..", and every piece's
 * file range within the file list. The public view of an accepted torrent
 * (shoal_torrent_info_parse) must show the same fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "disk/storage.h"
#include "meta/metainfo.h"
#include "shoal.h"

static int same_str(const char *a, const char *b)
{
  return a == b || (a && b && !strcmp(a, b));
}

/* The public view against the parser's own object; 0 when they agree. */
static int view_differs(const struct sh_metainfo *m, const uint8_t *data, size_t size)
{
  struct shoal_torrent_info *ti;
  char err[256];
  if (shoal_torrent_info_parse(data, size, &ti, err, sizeof err))
    return 1;
  int bad = ti->raw_len != size || memcmp(ti->raw, data, size) ||
            memcmp(ti->info_hash, m->info_hash, 20) || strcmp(ti->info_hash_hex, m->info_hash_hex) ||
            strcmp(ti->name, m->name) || ti->num_files != m->num_files ||
            ti->num_tiers != m->num_tiers || ti->num_web_seeds != m->num_web_seeds ||
            ti->total_length != m->total_length || ti->num_pieces != m->num_pieces ||
            !same_str(ti->comment, m->comment) || !same_str(ti->source, m->source);
  for (size_t i = 0; !bad && i < m->num_files; i++)
    bad = strcmp(ti->files[i].path, m->files[i].path) || ti->files[i].offset != m->files[i].offset ||
          ti->files[i].attr != m->files[i].attr ||
          !same_str(ti->files[i].symlink_target, m->files[i].symlink_target);
  for (size_t t = 0; !bad && t < m->num_tiers; t++) {
    bad = ti->tiers[t].num_urls != m->tiers[t].n;
    for (size_t u = 0; !bad && u < m->tiers[t].n; u++)
      bad = strcmp(ti->tiers[t].urls[u], m->tiers[t].urls[u]);
  }
  for (size_t i = 0; !bad && i < m->num_web_seeds; i++)
    bad = strcmp(ti->web_seeds[i], m->web_seeds[i]);
  shoal_torrent_info_free(ti);
  return bad;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct sh_metainfo *m;
  char err[256];
  if (sh_metainfo_parse(data, size, &m, err, sizeof err) != 0) {
    if (!memchr(err, 0, sizeof err) || !err[0])
      abort(); /* every refusal explains itself */
    return 0;
  }
  uint64_t off = 0;
  for (size_t i = 0; i < m->num_files; i++) {
    const struct sh_file *f = &m->files[i];
    if (f->offset != off || !f->path || strstr(f->path, "/../") || f->path[0] == '/')
      abort();
    if ((f->attr & SH_FILE_SYMLINK) && (!f->symlink_target || f->symlink_target[0] == '/' ||
                                        !strncmp(f->symlink_target, "../", 3)))
      abort();
    off += f->length;
  }
  if (off != m->total_length || !m->piece_length)
    abort();
  if ((m->total_length + m->piece_length - 1) / m->piece_length != m->num_pieces)
    abort();
  if (m->info_off + m->info_len > m->raw_len)
    abort();
  uint64_t sum = 0;
  for (uint32_t p = 0; p < m->num_pieces; p++) {
    size_t first, last;
    sh_storage_piece_files(m, p, &first, &last);
    if (first > last || last >= m->num_files)
      abort();
    sum += sh_piece_size(m, p);
    if (p > 64)
      break; /* the mapping is the same code for every piece */
  }
  if (sum > m->total_length)
    abort();
  if (view_differs(m, data, size))
    abort();
  sh_metainfo_free(m);
  return 0;
}
