#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static enum sh_log_level threshold = SH_LOG_INFO;

void sh_log_set_level(enum sh_log_level lvl) { threshold = lvl; }
enum sh_log_level sh_log_get_level(void) { return threshold; }

void sh_log(enum sh_log_level lvl, const char *fmt, ...)
{
  static const char *names[] = {"error", "warn", "info", "debug"};
  if (lvl > threshold)
    return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  /* one fprintf per line so lines from threads do not interleave */
  fprintf(stderr, "%02d:%02d:%02d.%03ld %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
          ts.tv_nsec / 1000000, names[lvl], msg);
}
