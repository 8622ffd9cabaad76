/* The paths a download will write, checked before anything is fetched.
 *
 * Storage refuses to write through a symlink below the root (O_NOFOLLOW,
 * see storage.c) and cannot write a file where a folder stands. Found by a
 * piece write, either one stopped a download midway, after other files were
 * partly written, with a bare "Too many levels of symbolic links" or "Is a
 * directory". sh_paths_check() looks at every target path first and names
 * the one in the way.
 *
 * Synchronous (lstat per new directory and per file, no more: a directory
 * shared by consecutive files is looked at once), read-only; any thread. */
#ifndef SHOAL_DISK_PATHS_H
#define SHOAL_DISK_PATHS_H

#include <stddef.h>

#include "meta/metainfo.h"

/* Checks that every file of m can be written under root (the folder holding
 * the content under its name; itself reached through symlinks if the user
 * chose so): each existing part of a path below root is a real folder, and
 * an existing file is a regular file. Padding is never written and not
 * looked at; a BEP 47 symlink file's own entry is left to storage (it is
 * made last, and an existing entry is kept). Permissions are left to the
 * writes (complete data may be read-only). Returns 0, or a negative code
 * with a sentence naming the path in err:
 *   -ELOOP    a symlink in the way: shoal refuses to write through symlinks
 *   -ENOTDIR  a file where the torrent needs a folder
 *   -EISDIR   a folder where the torrent needs a file
 *   -EINVAL   something that is not a regular file (a fifo, a device)
 *   -EACCES and other -errno: cannot look there */
int sh_paths_check(const struct sh_metainfo *m, const char *root, char *err, size_t errlen);

#endif
