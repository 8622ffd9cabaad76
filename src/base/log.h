/* Logging: the library's messages, filtered by a level threshold and handed
 * to the sink the application installed (shoal_log_set_sink() in
 * include/shoal.h, implemented in log.c). With no sink the library is silent:
 * it never writes to stdout or stderr itself.
 *
 * sh_log() may be called from any thread (the loop thread, libuv's pool
 * workers, the checker's and creator's hashing threads); log.c serialises the
 * calls to the sink. The threshold may be changed from any thread too. */
#ifndef SHOAL_LOG_H
#define SHOAL_LOG_H

/* Same values as enum shoal_log_level (checked in log.c). */
enum sh_log_level { SH_LOG_ERROR = 0, SH_LOG_WARN, SH_LOG_INFO, SH_LOG_DEBUG };

void sh_log_set_level(enum sh_log_level lvl);
enum sh_log_level sh_log_get_level(void);
/* Formats at most 1023 bytes (longer messages are cut), makes them safe
 * for a terminal (base/text.h: control characters, escape sequences and
 * newlines become '?') and passes them to the sink, if one is set and lvl
 * is within the threshold. */
void sh_log(enum sh_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sh_error(...) sh_log(SH_LOG_ERROR, __VA_ARGS__)
#define sh_warn(...) sh_log(SH_LOG_WARN, __VA_ARGS__)
#define sh_info(...) sh_log(SH_LOG_INFO, __VA_ARGS__)
#define sh_debug(...) sh_log(SH_LOG_DEBUG, __VA_ARGS__)

#endif
