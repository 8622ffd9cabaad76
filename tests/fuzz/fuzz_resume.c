/* libFuzzer target: resume data against a fixed three-file torrent whose
 * root does not exist, so every file reads as absent. Nothing may crash, an
 * accepted bitfield must have its spare bits clear, and the settings a
 * session re-adds a torrent from (sh_resume_read_info) must point inside
 * the input, with a NUL-terminated folder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitfield.h"
#include "disk/resume.h"
#include "meta/metainfo.h"

static const char TORRENT[] =
    "d4:infod5:filesld6:lengthi20e4:pathl1:aeed4:attr1:p6:lengthi12e4:pathl4:.pad2:12ee"
    "d6:lengthi5e4:pathl1:beee4:name1:r12:piece lengthi16e6:pieces60:"
    "000000000000000000000000000000000000000000000000000000000000ee";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static struct sh_metainfo *m;
  char err[256];
  if (!m && sh_metainfo_parse(TORRENT, sizeof TORRENT - 1, &m, err, sizeof err))
    abort();
  uint8_t have[1] = {0};
  if (sh_resume_parse(data, size, m, "shoal-fuzz-no-such-root", have, err, sizeof err) == 0 &&
      !sh_bf_spare_clear(have, m->num_pieces))
    abort();
  struct sh_resume_info x;
  char *dir = NULL;
  if (sh_resume_read_info(data, size, &x, &dir, err, sizeof err) == 0) {
    const uint8_t *end = data + size;
    if (!dir || strlen(dir) > size || (x.torrent && (x.torrent < data || x.torrent + x.torrent_len > end)) ||
        (x.priorities && (x.priorities < data || x.priorities + x.num_priorities > end)))
      abort();
    free(dir);
  } else if (dir) {
    abort(); /* nothing to free after a failure */
  }
  return 0;
}
