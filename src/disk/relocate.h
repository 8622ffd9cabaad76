/* Moving a torrent's data to another folder, and deleting it: only the
 * torrent's own files (never padding, never through a symlink), then the
 * folders they leave empty. Blocking file-system calls: run in a worker.
 *
 * root is the folder holding the content under its name, as for
 * sh_storage_open. Paths in the metainfo were validated when it was
 * parsed (relative, no "..", no empty parts). */
#ifndef SHOAL_DISK_RELOCATE_H
#define SHOAL_DISK_RELOCATE_H

#include <stddef.h>

#include "meta/metainfo.h"

/* Moves every file present under from to the same place under to: a
 * rename, or a copy and unlink across file systems. A file missing under
 * from is skipped (nothing downloaded yet). A file that already exists
 * under to is refused (-EEXIST), as is any failure; then the files moved
 * so far go back, so the data is whole in one place. BEP 47 symlinks move
 * as links.
 * Returns 0, or a negative code with err naming the file. */
int sh_relocate_move(const struct sh_metainfo *m, const char *from, const char *to, char *err,
                     size_t errlen);
/* Deletes the torrent's files under root and the folders they leave
 * empty, up to (and including) the torrent's own folder. Files already
 * gone are fine. Returns 0, or the first failure with err naming it (the
 * rest are still tried). */
int sh_relocate_delete(const struct sh_metainfo *m, const char *root, char *err, size_t errlen);

#endif
