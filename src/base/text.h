/* Text from others made safe for a terminal or a log: the one sanitiser
 * for everything a torrent, a peer or a tracker supplies (names, paths,
 * comments, failure reasons, client names) before it reaches a person.
 *
 * A terminal acts on control sequences inside text: ESC ] 0 ; ... BEL
 * retitles the window, ESC [ 2 J clears the screen, and a byte 0x9b (or
 * U+009B) is a CSI on terminals in 8-bit mode. A newline in a name forges
 * a line of output. Bidirectional overrides reorder what is shown. So each
 * of these becomes one '?':
 *   - C0 controls (0x00-0x1f, newline and tab included) and DEL (0x7f);
 *   - C1 controls, U+0080-U+009F (as UTF-8, C2 80 .. C2 9F);
 *   - bytes that are not well-formed UTF-8 (RFC 3629: stray continuation
 *     bytes, overlong forms, surrogates, truncated sequences), one '?' per
 *     byte, so a raw 0x9b never passes;
 *   - U+2028 and U+2029 (line and paragraph separators) and the bidi
 *     embeddings, overrides and isolates U+202A-U+202E, U+2066-U+2069.
 * Everything else (printable ASCII, any other valid UTF-8) is kept as is.
 *
 * Pure, any thread. sh_log() applies it to every message before the sink
 * sees it; apps get it as shoal_text_safe() (include/shoal.h). */
#ifndef SHOAL_TEXT_H
#define SHOAL_TEXT_H

#include <stddef.h>

/* Writes the safe form of src[0..n) to dst (cap bytes, NUL-terminated when
 * cap > 0), cut at a character boundary when it does not fit. dst may be
 * src itself: the safe form is never longer. Returns its length. */
size_t sh_text_safe(char *dst, size_t cap, const char *src, size_t n);

#endif
