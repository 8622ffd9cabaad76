/* Small file-system helpers shared by the library and the front ends. */
#ifndef SHOAL_FS_H
#define SHOAL_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads a whole regular file of at most max bytes into a new buffer the
 * caller frees. Returns 0; -errno (-EISDIR when it is not a regular file,
 * -EIO when it shrank while being read); or SH_ELIMIT when it is larger
 * than max, with *len set to its size so the caller can say so. */
int sh_read_file(const char *path, size_t max, uint8_t **out, size_t *len);

/* mkdir -p: creates path and its missing parents with mode. Returns 0 when
 * path ends up a directory, -ENOTDIR when something else is in the way, or
 * another -errno. */
int sh_mkdir_p(const char *path, mode_t mode);

#endif
