/* Writing JSON text straight into a buffer, for the replies where building
 * a jansson tree first costs more than the answer itself (torrent-get of
 * thousands of torrents: a malloc per value). Strings are escaped, and
 * bytes that are not valid UTF-8 become U+FFFD, so the output is always
 * valid JSON whatever a torrent's names hold. */
#ifndef SHOAL_DAEMON_JSONW_H
#define SHOAL_DAEMON_JSONW_H

#include <stdint.h>

#include "base/buf.h"

void sh_jw_str(struct sh_buf *b, const char *s);
void sh_jw_int(struct sh_buf *b, int64_t v);
/* Like Transmission: a whole number as an integer, else 4 decimals. */
void sh_jw_real(struct sh_buf *b, double v);
void sh_jw_bool(struct sh_buf *b, int v);

#endif
