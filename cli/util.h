/* Helpers shared by the subcommands: sizes ("1M"), human-readable figures,
 * a progress bar that only draws on a terminal, JSON string output, and the
 * log sink that prints the library's messages. */
#ifndef SHOAL_CLI_UTIL_H
#define SHOAL_CLI_UTIL_H

#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "shoal.h"

/* Parses a byte count: digits with an optional binary suffix K, M, G or T
 * (case-insensitive, optionally followed by "iB" or "B"), e.g. "16384",
 * "1M", "512KiB". Returns 0, or -1 for anything else or on overflow. */
int cli_parse_size(const char *s, uint64_t *out);

/* Parses a decimal integer in [min, max]; returns 0 or -1. */
int cli_parse_int(const char *s, long min, long max, long *out);

/* "1.50 MiB", "812 B": binary units, three significant digits. */
void cli_human_size(uint64_t n, char *buf, size_t len);

/* Seconds on the monotonic clock. */
double cli_now(void);

/* A one-line progress bar on stderr: "label  42% [#####....]  1.2 GB/s ETA 0:03".
 * Draws only when stderr is a terminal, at most 10 times a second; otherwise
 * every call is a no-op, so output piped to a file stays clean. The caller
 * owns the struct (usually on its stack). Not thread-safe: callers serialise
 * (the library's progress callbacks already are). */
struct cli_progress {
  int enabled;
  const char *label;
  uint64_t total;
  double start, last;
};

void cli_progress_start(struct cli_progress *p, const char *label, uint64_t total);
void cli_progress_update(struct cli_progress *p, uint64_t done);
void cli_progress_end(struct cli_progress *p); /* erases the bar */

/* Writes s[0..n) as a JSON string with quotes. Control characters become
 * \uXXXX (or \n, \t, ...); bytes that are not valid UTF-8 (stray
 * continuation bytes, overlong forms, surrogates, truncated sequences) each
 * become U+FFFD, so the output is always valid JSON and valid UTF-8. */
void cli_json_str(FILE *f, const char *s, size_t n);

/* Raises the soft limit on open descriptors towards want (never above the
 * hard limit). A client holds a socket per peer, a second descriptor for a
 * peer whose socket fills while sendfile waits, and file descriptors for
 * uploads in flight: with 400 peers that is close to the usual soft limit
 * of 1024. Failure is not fatal (fewer peers, or uploads copied). */
void cli_raise_nofile(unsigned long want);

/* Text that a torrent, a peer or a tracker supplied, for a human on a
 * terminal: everything goes through the library's one sanitiser,
 * shoal_text_safe() (control characters and escape sequences, which could
 * move the cursor or retitle the window, become '?').
 * cli_print_safe prints s so; cli_safe writes the safe form of s into buf
 * (cap bytes) and returns buf, for a printf argument; cli_say formats a
 * message and prints it made safe, keeping only the line breaks at its
 * ends (so a name holding a newline cannot forge a line). */
void cli_print_safe(FILE *f, const char *s);
const char *cli_safe(char *buf, size_t cap, const char *s);
void cli_say(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_vsay(FILE *f, const char *fmt, va_list ap);

/* A magnet link where a .torrent file is expected (seed, verify): says
 * why it will not do and returns 1; 0 for anything else. */
int cli_refuse_magnet(const char *cmd, const char *arg);

/* The library's log sink for a terminal (shoal_log_set_sink(cli_log_sink,
 * NULL), done by main() before any command runs): one line on stderr per
 * message, "HH:MM:SS.mmm LEVEL: message" in UTC, LEVEL one of error, warn,
 * info, debug. Written with a single fprintf, so a line is never split by
 * another thread's output (the library serialises its calls anyway). */
void cli_log_sink(void *ud, enum shoal_log_level level, const char *msg);
/* An app's own log line, in the same format, when level is within the
 * threshold (shoal_log_set_level). */
void cli_log(enum shoal_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
