/* Logging through the application's sink: silence without one, the level
 * threshold, truncation, serialised calls from many threads, a sink swapped
 * while threads log, and a sink that calls back into the library. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "base/log.h"
#include "shoal.h"

struct capture {
  int n;
  enum shoal_log_level level;
  char last[2048];
};

static void capture_sink(void *ud, enum shoal_log_level level, const char *msg)
{
  struct capture *c = ud;
  c->n++;
  c->level = level;
  snprintf(c->last, sizeof c->last, "%s", msg);
}

Test(api_log, formatted_message_and_level_reach_the_sink)
{
  struct capture c = {0};
  shoal_log_set_sink(capture_sink, &c);
  sh_warn("peer %s sent %d bad pieces", "1.2.3.4:5", 3);
  cr_expect_eq(c.n, 1);
  cr_expect_eq(c.level, SHOAL_LOG_WARN);
  cr_expect_str_eq(c.last, "peer 1.2.3.4:5 sent 3 bad pieces", "no time stamp, no newline");
  sh_error("e");
  cr_expect_eq(c.level, SHOAL_LOG_ERROR);
}

Test(api_log, threshold)
{
  struct capture c = {0};
  shoal_log_set_sink(capture_sink, &c);
  cr_expect_eq(shoal_log_get_level(), SHOAL_LOG_INFO, "info by default");
  sh_info("shown");
  sh_debug("hidden");
  cr_expect_eq(c.n, 1);
  shoal_log_set_level(SHOAL_LOG_DEBUG);
  cr_expect_eq(sh_log_get_level(), SH_LOG_DEBUG, "one threshold behind both names");
  sh_debug("now shown");
  cr_expect_eq(c.n, 2);
  shoal_log_set_level(SHOAL_LOG_ERROR);
  sh_warn("hidden");
  sh_error("shown");
  cr_expect_eq(c.n, 3);
  cr_expect_str_eq(c.last, "shown");
}

Test(api_log, removed_sink_is_not_called)
{
  struct capture c = {0};
  shoal_log_set_sink(capture_sink, &c);
  sh_info("one");
  shoal_log_set_sink(NULL, &c);
  sh_info("two");
  cr_expect_eq(c.n, 1);
}

Test(api_log, long_messages_are_cut)
{
  static struct capture c;
  shoal_log_set_sink(capture_sink, &c);
  char big[3000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  sh_info("%s", big);
  cr_expect_eq(strlen(c.last), 1023);
}

/* Many threads log at once: the sink must never run twice at a time. */
static atomic_int inside, overlaps, total;

static void strict_sink(void *ud, enum shoal_log_level level, const char *msg)
{
  (void)ud;
  (void)level;
  (void)msg;
  if (atomic_fetch_add(&inside, 1))
    atomic_fetch_add(&overlaps, 1);
  for (volatile int i = 0; i < 200; i++)
    ; /* widen the window */
  atomic_fetch_add(&total, 1);
  atomic_fetch_sub(&inside, 1);
}

static void *logger(void *arg)
{
  (void)arg;
  for (int i = 0; i < 2000; i++)
    sh_info("message %d", i);
  return NULL;
}

Test(api_log, calls_are_serialised_across_threads)
{
  shoal_log_set_sink(strict_sink, NULL);
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    pthread_create(&t[i], NULL, logger, NULL);
  for (int i = 0; i < 4; i++)
    pthread_join(t[i], NULL);
  cr_expect_eq(atomic_load(&total), 4 * 2000, "every message delivered");
  cr_expect_eq(atomic_load(&overlaps), 0, "never two calls at once");
}

/* After set_sink returns, the old sink is done for good. */
static atomic_int old_calls, old_running;

static void old_sink(void *ud, enum shoal_log_level level, const char *msg)
{
  (void)ud;
  (void)level;
  (void)msg;
  atomic_fetch_add(&old_running, 1);
  for (volatile int i = 0; i < 2000; i++)
    ;
  atomic_fetch_add(&old_calls, 1);
  atomic_fetch_sub(&old_running, 1);
}

static void quiet_sink(void *ud, enum shoal_log_level level, const char *msg)
{
  (void)ud;
  (void)level;
  (void)msg;
}

Test(api_log, swapping_while_threads_log)
{
  shoal_log_set_sink(old_sink, NULL);
  pthread_t t[3];
  for (int i = 0; i < 3; i++)
    pthread_create(&t[i], NULL, logger, NULL);
  while (atomic_load(&old_calls) < 100)
    ;
  shoal_log_set_sink(quiet_sink, NULL);
  cr_expect_eq(atomic_load(&old_running), 0, "no call to the old sink outlives the swap");
  int after = atomic_load(&old_calls);
  for (int i = 0; i < 3; i++)
    pthread_join(t[i], NULL);
  cr_expect_eq(atomic_load(&old_calls), after, "the old sink is never called again");
}

/* A sink that logs (as a sink calling into the library would) and one that
 * removes itself: neither deadlocks. */
static int reentrant_calls;

static void reentrant_sink(void *ud, enum shoal_log_level level, const char *msg)
{
  (void)ud;
  (void)level;
  (void)msg;
  reentrant_calls++;
  sh_warn("from inside the sink"); /* dropped */
}

Test(api_log, reentry_is_dropped, .timeout = 10)
{
  shoal_log_set_sink(reentrant_sink, NULL);
  sh_info("outer");
  cr_expect_eq(reentrant_calls, 1);
}

static int once_calls;

static void once_sink(void *ud, enum shoal_log_level level, const char *msg)
{
  (void)ud;
  (void)level;
  (void)msg;
  once_calls++;
  shoal_log_set_sink(NULL, NULL);
}

Test(api_log, sink_may_remove_itself, .timeout = 10)
{
  shoal_log_set_sink(once_sink, NULL);
  sh_info("first");
  sh_info("second");
  cr_expect_eq(once_calls, 1);
}
