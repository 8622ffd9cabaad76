/* Base64 (RFC 4648) for the daemon: metainfo in torrent-add, the pieces
 * bitfield in torrent-get, HTTP Basic credentials. Decoding takes the
 * URL-safe alphabet too and skips padding and line breaks. */
#ifndef SHOAL_DAEMON_B64_H
#define SHOAL_DAEMON_B64_H

#include <stddef.h>
#include <stdint.h>

/* A new NUL-terminated buffer with the decoded bytes (*len of them), or
 * NULL for a byte outside the alphabet or out of memory. */
uint8_t *sh_b64_decode(const char *s, size_t *len);
/* A new NUL-terminated string, or NULL when out of memory. */
char *sh_b64_encode(const uint8_t *p, size_t n);

#endif
