/* The daemon's periodic work (daemon_tick.c): queues, ratio and idle
 * limits, the alt-speed schedule, resume data in batches, the watch
 * folder, the statistics, and the wait for every torrent to pause before
 * a close. */
#ifndef SHOAL_DAEMON_TICK_H
#define SHOAL_DAEMON_TICK_H

#include "daemon/daemon.h"

void sh_daemon_tick_start(struct shoal_daemon *d);
void sh_daemon_tick_stop(struct shoal_daemon *d);
/* Starts queued torrents while their queue has room. */
void sh_daemon_run_queues(struct shoal_daemon *d);
/* Starts queued t at once if its queue (seeds' or downloads') is off:
 * no order to keep, so a torrent coming back at a start need not wait
 * for the others. 1 if it started. */
int sh_daemon_run_unqueued(struct shoal_daemon *d, struct dtor *t);
/* Writes dirty resume data (all: every torrent's) in one transaction. */
void sh_daemon_flush_resume(struct shoal_daemon *d, int all);
void sh_daemon_save_stats(struct shoal_daemon *d);
/* Closes the session now (daemon.c); the tick calls it once all paused. */
void sh_daemon_close_now(struct shoal_daemon *d);
/* Frees d once the session and the HTTP server are both closed. */
void sh_daemon_maybe_free(struct shoal_daemon *d);
/* The watch folder, once. */
void sh_daemon_scan_watch(struct shoal_daemon *d);

#endif
