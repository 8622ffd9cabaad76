/* The library's log, for the apps under cli/: the same line format, and the
 * threshold -v and -q set. include/shoal.h has no logging calls yet (they
 * are coming as shoal_log_*); until it does, applog.c is the one file of
 * the apps that includes a header from src/ (base/log.h). When shoal_log_*
 * lands, these become calls to it and this file goes. */
#ifndef SHOAL_CLI_APPLOG_H
#define SHOAL_CLI_APPLOG_H

/* The same order and values as the library's levels. */
enum app_log_level { APP_LOG_ERROR = 0, APP_LOG_WARN, APP_LOG_INFO, APP_LOG_DEBUG };

/* Set once at start-up, before any other thread logs. */
void app_log_set_level(enum app_log_level lvl);
void app_log(enum app_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
