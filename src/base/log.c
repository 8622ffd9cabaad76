/* Logging to the application's sink (see log.h and include/shoal.h).
 *
 * One mutex serialises calls to the sink and its replacement: a sink then
 * needs no lock of its own, lines from different threads never interleave,
 * and once shoal_log_set_sink() returns the old sink is not running and
 * never will again, so its ud may be freed. Messages are rare (a few per
 * second at info level, per peer event at debug level), so one lock costs
 * nothing measurable; the level and "is there a sink" are read without it,
 * so a filtered or unsunk message is not even formatted. */
#include "base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include "base/text.h"
#include "shoal.h"

#define XX(lvl)                                                                  \
  _Static_assert((int)SH_LOG_##lvl == (int)SHOAL_LOG_##lvl, "log level " #lvl);
XX(ERROR) XX(WARN) XX(INFO) XX(DEBUG)
#undef XX

static atomic_int threshold = SH_LOG_INFO;
static atomic_int has_sink;
static pthread_mutex_t sink_mu = PTHREAD_MUTEX_INITIALIZER;
static shoal_log_fn sink_fn; /* both under sink_mu */
static void *sink_ud;
/* Set while this thread runs the sink: a message logged from inside it
 * (the sink called into the library) is dropped instead of deadlocking. */
static _Thread_local int in_sink;

void sh_log_set_level(enum sh_log_level lvl) { atomic_store(&threshold, (int)lvl); }
enum sh_log_level sh_log_get_level(void) { return (enum sh_log_level)atomic_load(&threshold); }

void shoal_log_set_level(enum shoal_log_level lvl) { sh_log_set_level((enum sh_log_level)lvl); }
enum shoal_log_level shoal_log_get_level(void) { return (enum shoal_log_level)sh_log_get_level(); }

void shoal_log_set_sink(shoal_log_fn fn, void *ud)
{
  /* from inside the sink this thread already holds the lock */
  if (!in_sink)
    pthread_mutex_lock(&sink_mu);
  sink_fn = fn;
  sink_ud = fn ? ud : NULL;
  atomic_store(&has_sink, fn != NULL);
  if (!in_sink)
    pthread_mutex_unlock(&sink_mu);
}

void sh_log(enum sh_log_level lvl, const char *fmt, ...)
{
  if ((int)lvl > atomic_load_explicit(&threshold, memory_order_relaxed) ||
      !atomic_load_explicit(&has_sink, memory_order_relaxed) || in_sink)
    return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* names and reasons from torrents, peers and trackers are inside: no
   * escape sequence reaches a terminal or a log, and a line stays one */
  if (n > 0)
    sh_text_safe(msg, sizeof msg, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
  pthread_mutex_lock(&sink_mu);
  if (sink_fn) { /* it may have been removed since the check above */
    in_sink = 1;
    sink_fn(sink_ud, (enum shoal_log_level)lvl, msg);
    in_sink = 0;
  }
  pthread_mutex_unlock(&sink_mu);
}
