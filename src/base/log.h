/* Logging to stderr with a level threshold. The library logs through this so a
 * front end can quieten (-q) or widen (-v) it. Not thread-safe to reconfigure
 * while other threads log; set the level once at start-up. */
#ifndef SHOAL_LOG_H
#define SHOAL_LOG_H

enum sh_log_level { SH_LOG_ERROR = 0, SH_LOG_WARN, SH_LOG_INFO, SH_LOG_DEBUG };

void sh_log_set_level(enum sh_log_level lvl);
enum sh_log_level sh_log_get_level(void);
void sh_log(enum sh_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sh_error(...) sh_log(SH_LOG_ERROR, __VA_ARGS__)
#define sh_warn(...) sh_log(SH_LOG_WARN, __VA_ARGS__)
#define sh_info(...) sh_log(SH_LOG_INFO, __VA_ARGS__)
#define sh_debug(...) sh_log(SH_LOG_DEBUG, __VA_ARGS__)

#endif
