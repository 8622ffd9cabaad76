/* Where a torrent's files are: renaming a file or folder
 * (shoal_torrent_rename_path), the data on disk and the paths the storage
 * opens, and pointing the torrent at another folder without moving
 * anything (shoal_torrent_set_location). The storage opens files by these
 * paths from worker threads, so they change only while the torrent has
 * no storage open: at once when paused, else at the end of a stop that
 * restarts it (torrent_stop.c calls sh_torrent_paths_pending). A rename
 * changes only the last element of a path: the data stays in its folder,
 * and no file of another torrent or outside the save folder is reached. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/log.h"
#include "engine/torrent.h"
#include "meta/metainfo.h"

/* How many of m's files path names: the file itself, or a folder above
 * files (its path followed by '/'). */
static size_t files_under(const struct sh_metainfo *m, const char *path)
{
  size_t n = 0, len = strlen(path);
  for (size_t i = 0; i < m->num_files; i++) {
    const char *p = m->files[i].path;
    n += !strncmp(p, path, len) && (p[len] == 0 || p[len] == '/');
  }
  return n;
}

static int name_ok(const char *name)
{
  size_t n = strlen(name);
  if (!n || n > 255 || !strcmp(name, ".") || !strcmp(name, ".."))
    return 0;
  for (const char *p = name; *p; p++)
    if (*p == '/' || *p == '\\' || (unsigned char)*p < 0x20)
      return 0;
  return 1;
}

/* path with its last element replaced by name, malloc'd. */
static char *renamed(const char *path, const char *name)
{
  const char *slash = strrchr(path, '/');
  size_t keep = slash ? (size_t)(slash - path) + 1 : 0;
  char *r = malloc(keep + strlen(name) + 1);
  if (r) {
    memcpy(r, path, keep);
    strcpy(r + keep, name);
  }
  return r;
}

/* Renames the paths in m (and the torrent's name for its top element),
 * after the data. -EEXIST when the new path is taken on disk or in the
 * torrent; a missing source (nothing downloaded yet) renames the paths
 * only. */
static int rename_now(struct shoal_torrent *t, const char *path, const char *name)
{
  struct sh_metainfo *m = t->m;
  char *to = renamed(path, name);
  if (!to)
    return -ENOMEM;
  size_t plen = strlen(path), tlen = strlen(to);
  int rc = files_under(m, to) ? -EEXIST : 0;
  char src[4096], dst[4096];
  struct stat sb;
  if (rc == 0 && ((size_t)snprintf(src, sizeof src, "%s/%s", t->save_dir, path) >= sizeof src ||
                  (size_t)snprintf(dst, sizeof dst, "%s/%s", t->save_dir, to) >= sizeof dst))
    rc = -ENAMETOOLONG;
  if (rc == 0 && lstat(src, &sb) == 0) {
    if (lstat(dst, &sb) == 0)
      rc = -EEXIST; /* never over something already there */
    else if (rename(src, dst) < 0)
      rc = -errno;
  }
  for (size_t i = 0; rc == 0 && i < m->num_files; i++) {
    char *p = m->files[i].path;
    if (strncmp(p, path, plen) || (p[plen] != 0 && p[plen] != '/'))
      continue;
    char *np = malloc(tlen + strlen(p + plen) + 1);
    if (!np) {
      rc = -ENOMEM; /* the data moved: later files keep old names, found missing */
      break;
    }
    memcpy(np, to, tlen);
    strcpy(np + tlen, p + plen);
    free(p);
    m->files[i].path = np;
  }
  if (rc == 0 && !strchr(path, '/')) {
    char *nn = strdup(name);
    if (nn) {
      free(m->name);
      m->name = nn;
    }
    sh_torrent_set_name(t, name);
  }
  if (rc == 0)
    sh_info("%s: %s renamed to %s", t->name, path, to);
  else
    sh_warn("%s: cannot rename %s to %s: %s", t->name, path, to, strerror(-rc));
  free(to);
  return rc;
}

/* The content is in dir: the resume data's stamps are of the old folder,
 * and the next start checks. */
static void locate_now(struct shoal_torrent *t, char *dir)
{
  sh_info("%s: data looked for in %s", t->name, dir);
  free(t->save_dir);
  t->save_dir = dir;
  sh_buf_free(&t->resume);
  t->force_check = 1;
}

void sh_torrent_paths_pending(struct shoal_torrent *t)
{
  if (t->rename_path && t->m)
    rename_now(t, t->rename_path, t->rename_name);
  free(t->rename_path);
  free(t->rename_name);
  t->rename_path = t->rename_name = NULL;
  if (t->locate_to)
    locate_now(t, t->locate_to);
  t->locate_to = NULL;
}

/* No storage open and none coming: paths may change now. */
static int quiet(const struct shoal_torrent *t)
{
  return (t->stop_requested & SH_STOP_DONE) && !t->moving && !t->st;
}

static struct shoal_torrent *editable(shoal_session *s, shoal_id id, int *rc)
{
  struct shoal_torrent *t = sh_torrent_by_id(s, id);
  *rc = 0;
  if (!t || t->after_stop == SH_AFTER_REMOVE)
    *rc = -ENOENT;
  else if (t->rename_path || t->move_to || t->locate_to)
    *rc = -EBUSY;
  return *rc ? NULL : t;
}

int shoal_torrent_set_location(shoal_session *s, shoal_id id, const char *dir)
{
  int rc;
  struct shoal_torrent *t = editable(s, id, &rc);
  if (!t)
    return rc;
  if (!t->m || !dir || !*dir) /* no data yet: a move is just the folder */
    return shoal_torrent_move_storage(s, id, dir);
  char *copy = strdup(dir);
  if (!copy)
    return -ENOMEM;
  if (quiet(t)) {
    locate_now(t, copy);
    return shoal_torrent_recheck(s, id); /* checks, then pauses again */
  }
  t->locate_to = copy;
  sh_torrent_stop(t, SH_AFTER_RESTART);
  return 0;
}

int shoal_torrent_rename_path(shoal_session *s, shoal_id id, const char *path, const char *name)
{
  int rc;
  struct shoal_torrent *t = editable(s, id, &rc);
  if (!t)
    return rc;
  if (!t->m)
    return -EAGAIN; /* no files before the metadata */
  if (!path || !name || !name_ok(name) || !files_under(t->m, path))
    return -EINVAL;
  if (quiet(t))
    return rename_now(t, path, name);
  char *to = renamed(path, name);
  int taken = to && files_under(t->m, to);
  free(to);
  if (taken)
    return -EEXIST;
  if (!(t->rename_path = strdup(path)) || !(t->rename_name = strdup(name))) {
    free(t->rename_path);
    t->rename_path = NULL;
    return -ENOMEM;
  }
  sh_torrent_stop(t, SH_AFTER_RESTART);
  return 0;
}
