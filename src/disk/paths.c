/* Target paths checked before a download; see paths.h. */
#include "disk/paths.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"

/* Looks at one part of a target path: full names it, dir says whether the
 * torrent needs a folder there. 1 when it does not exist (nothing further
 * down does either), 0 when it is what the torrent needs, else an error. */
static int check_one(const char *full, int dir, char *err, size_t errlen)
{
  struct stat st;
  if (lstat(full, &st) < 0)
    return errno == ENOENT ? 1 : sh_errf(err, errlen, -errno, "cannot look at %s: %s", full,
                                         sh_strerror(-errno));
  if (S_ISLNK(st.st_mode))
    return sh_errf(err, errlen, -ELOOP, "%s is a symbolic link: shoal refuses to write through "
                   "symlinks (remove it, or download to another folder)", full);
  if (dir && !S_ISDIR(st.st_mode))
    return sh_errf(err, errlen, -ENOTDIR, "%s is a file where the torrent needs a folder", full);
  if (!dir && S_ISDIR(st.st_mode))
    return sh_errf(err, errlen, -EISDIR, "%s is a folder where the torrent needs a file", full);
  if (!dir && !S_ISREG(st.st_mode))
    return sh_errf(err, errlen, -EINVAL, "%s is not a regular file (a fifo or a device?)", full);
  return 0;
}

int sh_paths_check(const struct sh_metainfo *m, const char *root, char *err, size_t errlen)
{
  char full[8192];
  const char *prev = "";
  size_t prev_ok = 0; /* bytes of prev's path up to a '/' known to be fine */
  int n = snprintf(full, sizeof full, "%s/", *root ? root : ".");
  if (n < 0 || (size_t)n >= sizeof full)
    return sh_errf(err, errlen, -ENAMETOOLONG, "%s: path too long", root);
  size_t base = (size_t)n;
  for (size_t i = 0; i < m->num_files; i++) {
    const struct sh_file *f = &m->files[i];
    if (f->attr & SH_FILE_PAD)
      continue;
    size_t plen = strlen(f->path);
    if (base + plen >= sizeof full)
      return sh_errf(err, errlen, -ENAMETOOLONG, "%s%s: path too long", full, f->path);
    /* the folders this file shares with the previous one were looked at */
    size_t from = 0;
    for (size_t k = 0; k < prev_ok && f->path[k] == prev[k]; k++)
      if (prev[k] == '/')
        from = k + 1;
    prev_ok = from;
    memcpy(full + base, f->path, plen + 1);
    int rc = 0;
    for (size_t k = from; k <= plen && rc == 0; k++) {
      if (f->path[k] != '/' && f->path[k])
        continue;
      int last = !f->path[k];
      if (last && (f->attr & SH_FILE_SYMLINK))
        break; /* made as a link at the end; an existing entry is kept */
      full[base + k] = 0;
      rc = check_one(full, !last, err, errlen);
      full[base + k] = f->path[k];
      if (rc == 0 && !last)
        prev_ok = k + 1;
    }
    if (rc < 0)
      return rc;
    prev = f->path;
  }
  return 0;
}
