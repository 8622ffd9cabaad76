/* Writing JSON text straight into a buffer, for the replies where building
 * a jansson tree first costs more than the answer itself (torrent-get of
 * thousands of torrents: a malloc per value). Strings are escaped, and
 * bytes that are not valid UTF-8 become U+FFFD, so the output is always
 * valid JSON whatever a torrent's names hold. */
#ifndef SHOAL_DAEMON_JSONW_H
#define SHOAL_DAEMON_JSONW_H

#include <stdint.h>
#include <string.h>

#include "base/buf.h"

/* Room for n more bytes (and the NUL sh_buf keeps after them): 0, or -1
 * when out of memory (b->oom set). */
static inline int sh_jw_room(struct sh_buf *b, size_t n)
{
  return !b->oom && b->cap > b->len + n ? 0 : sh_buf_reserve(b, n);
}

/* n bytes of JSON text as they are (punctuation, a prepared key). */
static inline void sh_jw_raw(struct sh_buf *b, const void *p, size_t n)
{
  if (sh_jw_room(b, n) < 0)
    return;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = 0;
}

void sh_jw_str(struct sh_buf *b, const char *s);
void sh_jw_int(struct sh_buf *b, int64_t v);
/* Like Transmission: a whole number as an integer, else 4 decimals. */
void sh_jw_real(struct sh_buf *b, double v);
void sh_jw_bool(struct sh_buf *b, int v);

#endif
