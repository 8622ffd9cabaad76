/* Error codes: every fallible function in libshoal returns 0 (or a count) on
 * success and a negative code on failure. Codes are -errno where an errno fits,
 * plus the protocol codes below (all beyond errno's range). sh_strerror() turns
 * any of them into a sentence; the caller adds the file, peer or URL. */
#ifndef SHOAL_ERROR_H
#define SHOAL_ERROR_H

#include <stddef.h>

#define SH_ERRORS(XX)                                                     \
  XX(BENCODE,   -10001, "malformed bencode")                            \
  XX(METAINFO,  -10002, "invalid torrent file")                         \
  XX(HASH,      -10003, "data does not match its SHA-1 hash")           \
  XX(TRACKER,   -10004, "tracker returned an error")                    \
  XX(PROTO,     -10005, "peer broke the protocol")                      \
  XX(LIMIT,     -10006, "a configured limit was exceeded")              \
  XX(USAGE,     -10007, "bad command-line usage")                       \
  XX(INCOMPLETE,-10008, "data is incomplete")                           \
  XX(BANNED,    -10009, "peer is banned")                               \
  XX(TIMEOUT,   -10010, "timed out")                                    \
  XX(URL,       -10011, "malformed URL")                                \
  XX(HTTP,      -10012, "HTTP request failed")                        \
  XX(CLOSED,    -10013, "connection closed by the peer")

enum {
#define XX(name, code, msg) SH_E##name = (code),
  SH_ERRORS(XX)
#undef XX
};

/* A static sentence for any code (negative errno or SH_E*). Never NULL. */
const char *sh_strerror(int err);
/* Writes a formatted sentence into err (when err and errlen are non-zero)
 * and returns rc, so a failing function can `return sh_errf(...)`. */
int sh_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The code's short name, e.g. "ENOENT" or "EBENCODE". Never NULL. */
const char *sh_errname(int err);

#endif
