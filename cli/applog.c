/* See applog.h: the apps' bridge to the library's log until shoal.h has one. */
#include "applog.h"

#include <stdarg.h>
#include <stdio.h>

#include "base/log.h"

_Static_assert(APP_LOG_ERROR == (int)SH_LOG_ERROR && APP_LOG_DEBUG == (int)SH_LOG_DEBUG,
               "the app's levels are the library's");

void app_log_set_level(enum app_log_level lvl) { sh_log_set_level((enum sh_log_level)lvl); }

void app_log(enum app_log_level lvl, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sh_log((enum sh_log_level)lvl, "%s", msg);
}
