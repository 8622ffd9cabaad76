/* Memory for the daemon's long-lived records (struct dtor) and the
 * strings they own, kept apart from the heap the engine uses. A dormant
 * seed (dormant.c) leaves the engine, and the engine's 4 KiB of it can
 * go back to the system only if no record sits in the same pages: with
 * the records in the heap, every page of 10,000 unloaded seeds held one
 * and nothing went back.
 *
 * Every pointer a struct dtor owns (itself, its folder, name, trackers
 * text, labels, comment, creator, magnet link, renames, error) comes from
 * here and goes back with sh_dp_free, never free(). Zeroed memory. */
#ifndef SHOAL_DAEMON_DPOOL_H
#define SHOAL_DAEMON_DPOOL_H

#include <stddef.h>

void *sh_dp_alloc(size_t n);
void sh_dp_free(void *p);
/* NULL for NULL or when out of memory. */
char *sh_dp_strdup(const char *s);

#endif
