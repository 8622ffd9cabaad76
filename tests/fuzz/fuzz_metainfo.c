/* libFuzzer target: the metainfo parser on arbitrary bytes. Whatever it
 * accepts must be internally consistent: file offsets contiguous, the piece
 * count matching the total length, paths free of "..", and every piece's
 * file range within the file list. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "disk/storage.h"
#include "meta/metainfo.h"

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
  sh_metainfo_free(m);
  return 0;
}
