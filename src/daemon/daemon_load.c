/* The stored torrents back into the engine after a start, from the loop:
 * the RPC answers within milliseconds of the start instead of after every
 * row is read and added (10,000 torrents took 0.4 s on a 2-core VM).
 *
 * An idle handle runs a turn of loading each time round the loop (libuv
 * runs idle handles before it polls, so a small database is all back
 * before the first request is read); a turn reads batches of LOAD_BATCH
 * rows until LOAD_TURN_MS have passed, so a request waits at most about
 * that long behind it. A torrent whose queue is off (seeds, by default)
 * starts as it comes back; the queues start nothing else while loading:
 * once the last row is back they start the rest in queue order, as a
 * start that read everything first did.
 *
 * What a client sees meanwhile: session-* answer (session-stats, whose
 * counts are of all torrents, loads the rest first); torrent-get of all
 * torrents (or "recently-active") lists those back so far; any other
 * call that names or changes torrents, and any add (it may be a
 * duplicate of a row not yet back), first loads the rest at once. */
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "base/log.h"
#include "daemon/daemon.h"
#include "daemon/store.h"
#include "daemon/tick.h"

/* 32 rows take about 1.5 ms here (an idle 2-core VM): a turn is a few
 * batches, and a request that comes meanwhile waits about 5 ms */
#define LOAD_BATCH 32
#define LOAD_TURN_MS 5

static void load_done(struct shoal_daemon *d)
{
  d->loading = 0;
  d->loaded_at = sh_daemon_now();
  sh_daemon_load_stop(d);
  /* Reading every row filled SQLite's page cache, and parsing each
   * .torrent and resume data freed small blocks all over the heap: both
   * go back to the system, for the daemon idles on what is left. */
  sh_store_release_memory(d->db);
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  sh_info("daemon: %zu torrents back in %llu ms", d->ntor,
          (unsigned long long)(uv_hrtime() / 1000000 - d->load_started_ms));
  sh_daemon_run_queues(d);
}

/* One batch; 1 while rows remain. */
static int load_batch(struct shoal_daemon *d, int limit)
{
  int n = sh_store_batch(d->db, &d->load_after, limit, sh_daemon_load_row, d);
  if (n < 0)
    sh_warn("daemon: reading the stored torrents failed (%d): %zu are back", n, d->ntor);
  if (n >= 0 && limit >= 0 && n == limit)
    return 1;
  load_done(d);
  return 0;
}

static void on_load_turn(uv_idle_t *h)
{
  struct shoal_daemon *d = h->data;
  uint64_t end = uv_hrtime() + (uint64_t)LOAD_TURN_MS * 1000000;
  while (d->loading && load_batch(d, LOAD_BATCH) && uv_hrtime() < end)
    ;
}

void sh_daemon_load_start(struct shoal_daemon *d)
{
  d->loading = 1;
  d->load_after = 0;
  d->load_started_ms = uv_hrtime() / 1000000;
  if (!(d->loader = malloc(sizeof *d->loader))) {
    sh_daemon_load_all(d);
    return;
  }
  uv_idle_init(d->loop, d->loader);
  d->loader->data = d;
  uv_idle_start(d->loader, on_load_turn);
}

void sh_daemon_load_all(struct shoal_daemon *d)
{
  if (d->loading && !d->closing)
    load_batch(d, -1);
}

static void on_loader_closed(uv_handle_t *h)
{
  struct shoal_daemon *d = h->data;
  free(h);
  d->loader_closing = 0;
  sh_daemon_maybe_free(d);
}

void sh_daemon_load_stop(struct shoal_daemon *d)
{
  if (!d->loader)
    return;
  d->loader_closing = 1;
  uv_close((uv_handle_t *)d->loader, on_loader_closed);
  d->loader = NULL;
}

int sh_daemon_loaded_since(const struct shoal_daemon *d, int64_t since)
{
  return d->loading || (d->loaded_at && d->loaded_at >= since);
}
