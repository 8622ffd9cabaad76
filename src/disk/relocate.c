/* Moving and deleting a torrent's data (see relocate.h). */
#include "disk/relocate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fs.h"

static int stored(const struct sh_file *f) { return !(f->attr & SH_FILE_PAD); }

static char *join(const char *root, const char *path)
{
  if (!*root)
    root = ".";
  size_t n = strlen(root) + strlen(path) + 2;
  char *p = malloc(n);
  if (p)
    snprintf(p, n, "%s/%s", root, path);
  return p;
}

/* Removes the empty folders above root/path, deepest first, stopping at
 * root or at the first folder that is not empty. */
static void prune(const char *root, const char *path)
{
  char *p = join(root, path);
  if (!p)
    return;
  size_t keep = strlen(*root ? root : ".");
  for (char *slash = strrchr(p, '/'); slash && (size_t)(slash - p) > keep;
       slash = strrchr(p, '/')) {
    *slash = 0;
    if (rmdir(p) < 0)
      break;
  }
  free(p);
}

static int copy_file(const char *src, const char *dst)
{
  int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (in < 0)
    return -errno;
  int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (out < 0) {
    int rc = -errno;
    close(in);
    return rc;
  }
  static __thread uint8_t buf[1 << 16];
  int rc = 0;
  for (;;) {
    ssize_t r = read(in, buf, sizeof buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      rc = r < 0 ? -errno : 0;
      break;
    }
    for (ssize_t off = 0; off < r && !rc;) {
      ssize_t w = write(out, buf + off, (size_t)(r - off));
      if (w < 0 && errno != EINTR)
        rc = -errno;
      else if (w > 0)
        off += w;
    }
    if (rc)
      break;
  }
  if (!rc && fsync(out) < 0)
    rc = -errno;
  if (close(out) < 0 && !rc)
    rc = -errno;
  close(in);
  if (rc)
    unlink(dst);
  return rc;
}

static int copy_link(const char *src, const char *dst)
{
  char target[4096];
  ssize_t n = readlink(src, target, sizeof target - 1);
  if (n < 0)
    return -errno;
  target[n] = 0;
  return symlink(target, dst) < 0 ? -errno : 0;
}

/* One file from a to b: rename, else copy and unlink. */
static int move_one(const char *a, const char *b)
{
  struct stat st;
  if (lstat(b, &st) == 0)
    return -EEXIST;
  char *dir = strdup(b);
  if (!dir)
    return -ENOMEM;
  char *slash = strrchr(dir, '/');
  int rc = 0;
  if (slash) {
    *slash = 0;
    rc = sh_mkdir_p(dir, 0777);
  }
  free(dir);
  if (rc < 0)
    return rc;
  if (rename(a, b) == 0)
    return 0;
  if (errno != EXDEV)
    return -errno;
  struct stat sa;
  rc = lstat(a, &sa) < 0 ? -errno : S_ISLNK(sa.st_mode) ? copy_link(a, b) : copy_file(a, b);
  if (rc == 0 && unlink(a) < 0)
    rc = -errno;
  return rc;
}

int sh_relocate_move(const struct sh_metainfo *m, const char *from, const char *to, char *err,
                     size_t errlen)
{
  size_t moved = 0;
  int rc = 0;
  size_t i;
  for (i = 0; i < m->num_files && !rc; i++) {
    const struct sh_file *f = &m->files[i];
    if (!stored(f))
      continue;
    char *a = join(from, f->path), *b = join(to, f->path);
    struct stat st;
    if (!a || !b)
      rc = sh_errf(err, errlen, -ENOMEM, "out of memory");
    else if (lstat(a, &st) < 0)
      ; /* not there: nothing to move */
    else if (!S_ISREG(st.st_mode) && !(S_ISLNK(st.st_mode) && (f->attr & SH_FILE_SYMLINK)))
      rc = sh_errf(err, errlen, -EINVAL, "%s is not a regular file", a);
    else if ((rc = move_one(a, b)) < 0)
      sh_errf(err, errlen, rc, "cannot move %s to %s: %s", a, b, sh_strerror(rc));
    else
      moved = i + 1;
    free(a);
    free(b);
  }
  if (rc) {
    /* put back what went, so the data stays whole where it was */
    for (size_t k = 0; k < moved; k++) {
      const struct sh_file *f = &m->files[k];
      char *a = join(from, f->path), *b = join(to, f->path);
      struct stat st;
      if (a && b && stored(f) && lstat(b, &st) == 0 && lstat(a, &st) < 0 && move_one(b, a) == 0)
        prune(to, f->path);
      free(a);
      free(b);
    }
    return rc;
  }
  for (i = 0; i < m->num_files; i++)
    if (stored(&m->files[i]))
      prune(from, m->files[i].path);
  return 0;
}

int sh_relocate_delete(const struct sh_metainfo *m, const char *root, char *err, size_t errlen)
{
  int first = 0;
  for (size_t i = 0; i < m->num_files; i++) {
    const struct sh_file *f = &m->files[i];
    if (!stored(f))
      continue;
    char *p = join(root, f->path);
    if (!p)
      return sh_errf(err, errlen, -ENOMEM, "out of memory");
    /* unlink never follows a symlink: a link in a file's place goes, its
     * target stays */
    if (unlink(p) < 0 && errno != ENOENT && !first)
      first = sh_errf(err, errlen, -errno, "cannot delete %s: %s", p, strerror(errno));
    free(p);
    prune(root, f->path);
  }
  return first;
}
