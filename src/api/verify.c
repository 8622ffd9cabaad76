/* Public data check: the checker (disk/check.c) over a read-only storage,
 * then a look at each file on disk, so a caller can say which files are
 * missing, short or corrupt without knowing how pieces map onto files. */
#include "shoal.h"

#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/info.h"
#include "base/error.h"
#include "disk/check.h"
#include "disk/storage.h"

_Static_assert((int)SHOAL_PIECE_OK == (int)SH_PIECE_OK &&
                   (int)SHOAL_PIECE_MISSING == (int)SH_PIECE_MISSING &&
                   (int)SHOAL_PIECE_CORRUPT == (int)SH_PIECE_CORRUPT,
               "piece states");

/* One allocation: the result, its files, then its piece states. */
static struct shoal_verify_result *result_new(const struct sh_metainfo *m, struct shoal_verify_file **files,
                                              uint8_t **pieces)
{
  size_t foff = (sizeof(struct shoal_verify_result) + alignof(struct shoal_verify_file) - 1) /
                alignof(struct shoal_verify_file) * alignof(struct shoal_verify_file);
  size_t poff = foff + m->num_files * sizeof **files;
  char *p = calloc(1, poff + m->num_pieces + 1);
  if (!p)
    return NULL;
  struct shoal_verify_result *r = (struct shoal_verify_result *)p;
  *files = (struct shoal_verify_file *)(p + foff);
  *pieces = (uint8_t *)(p + poff);
  r->num_pieces = m->num_pieces;
  r->pieces = *pieces;
  r->num_files = m->num_files;
  r->files = *files;
  return r;
}

/* What each file looks like, without following links (the storage never
 * does, for safety: a link could lead out of the folder). */
static void look_at_files(const struct sh_metainfo *m, struct sh_storage *s,
                          struct shoal_verify_file *files)
{
  for (size_t i = 0; i < m->num_files; i++) {
    const struct sh_file *f = &m->files[i];
    struct stat st;
    if (f->attr & (SH_FILE_PAD | SH_FILE_SYMLINK))
      files[i].disk = SHOAL_DISK_NOT_STORED;
    else if (lstat(sh_storage_file_path(s, i), &st) < 0)
      files[i].disk = SHOAL_DISK_MISSING;
    else if (!S_ISREG(st.st_mode))
      files[i].disk = SHOAL_DISK_NOT_REGULAR;
    else {
      files[i].size_on_disk = (uint64_t)st.st_size;
      files[i].disk = files[i].size_on_disk < f->length ? SHOAL_DISK_SHORT : SHOAL_DISK_OK;
    }
  }
}

static void count_pieces(const struct sh_metainfo *m, struct shoal_verify_result *r,
                         struct shoal_verify_file *files)
{
  for (uint32_t p = 0; p < m->num_pieces; p++) {
    if (r->pieces[p] == SH_PIECE_OK) {
      r->pieces_ok++;
      continue;
    }
    if (r->pieces[p] == SH_PIECE_MISSING) {
      r->pieces_missing++;
      continue;
    }
    r->pieces_corrupt++;
    size_t first, last;
    sh_storage_piece_files(m, p, &first, &last);
    for (size_t i = first; i <= last; i++)
      if (!(m->files[i].attr & SH_FILE_PAD) && m->files[i].length)
        files[i].corrupt_pieces++;
  }
}

int shoal_verify(const struct shoal_torrent_info *ti, const char *dir,
                 const struct shoal_verify_opts *o, struct shoal_verify_result **out, char *err,
                 size_t errlen)
{
  *out = NULL;
  if (err && errlen)
    err[0] = 0;
  struct stat st;
  if (stat(dir, &st) < 0) {
    int e = errno;
    return sh_errf(err, errlen, -e, "%s: %s", dir, strerror(e));
  }
  if (!S_ISDIR(st.st_mode))
    return sh_errf(err, errlen, -ENOTDIR, "%s: not a directory", dir);
  const struct sh_metainfo *m = sh_info_metainfo(ti);
  struct shoal_verify_file *files;
  uint8_t *pieces;
  struct shoal_verify_result *r = result_new(m, &files, &pieces);
  struct sh_storage *s = NULL;
  if (!r || sh_storage_open(m, dir, SH_STORAGE_READONLY, &s)) {
    free(r);
    return sh_errf(err, errlen, -ENOMEM, "out of memory");
  }
  struct sh_check_opts co = {0};
  if (o)
    co = (struct sh_check_opts){o->threads, NULL, o->progress, o->ud, o->cancel};
  int rc = sh_check_run(m, s, pieces, &co);
  if (rc == SH_ETIMEOUT) /* the checker's word for "cancelled" */
    rc = -ECANCELED;
  if (rc) {
    sh_errf(err, errlen, rc, "%s", sh_strerror(rc));
    free(r);
  } else {
    look_at_files(m, s, files);
    count_pieces(m, r, files);
    *out = r;
  }
  sh_storage_close(s);
  return rc;
}

void shoal_verify_result_free(struct shoal_verify_result *r) { free(r); }
