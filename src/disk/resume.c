/* Resume data: save and load (format in resume.h). The file is untrusted
 * input like any torrent: it is decoded strictly, every field checked, and
 * nothing is allocated from a length it claims. */
#include "disk/resume.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/bencode.h"
#include "base/bitfield.h"
#include "base/buf.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/sha1.h"

/* Version 3 added the checksum; 1 and 2 are still read for their
 * settings, but their pieces are not trusted (no checksum to vouch). */
#define RESUME_VERSION 3
#define RESUME_SUM_VERSION 3
/* resume files hold 20-odd bytes per file plus the bitfield: 64 MiB is far
 * beyond a million files and four million pieces */
#define RESUME_MAX_SIZE (64u << 20)

static int tracked(const struct sh_file *f)
{
  return !(f->attr & (SH_FILE_PAD | SH_FILE_SYMLINK));
}

/* lstat of root/path: the storage never follows symlinks, nor do we. */
static int stat_file(const char *root, const char *path, struct stat *st)
{
  if (!*root)
    root = "."; /* as the storage does: "" is the current directory */
  size_t n = strlen(root) + strlen(path) + 2;
  char *p = malloc(n);
  if (!p)
    return -ENOMEM;
  snprintf(p, n, "%s/%s", root, path);
  int rc = lstat(p, st) < 0 ? -errno : 0;
  free(p);
  if (!rc && !S_ISREG(st->st_mode))
    rc = -ENOENT; /* a directory or link in the file's place: not the file */
  return rc;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return w < 0 ? -errno : -EIO;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* SHA-1 of the resume data d[0..n) with the checksum's own 20 bytes (at
 * sum) taken as zeros. */
static int checksum_of(const uint8_t *d, size_t n, const uint8_t *sum, uint8_t out[20])
{
  static const uint8_t zeros[20];
  struct sh_sha1_ctx *c = sh_sha1_new();
  if (!c)
    return -ENOMEM;
  sh_sha1_update(c, d, (size_t)(sum - d));
  sh_sha1_update(c, zeros, 20);
  sh_sha1_update(c, sum + 20, (size_t)(d + n - sum - 20));
  sh_sha1_final(c, out);
  sh_sha1_free(c);
  return 0;
}

int sh_resume_encode(struct sh_buf *b, const struct sh_resume_info *x, const struct sh_metainfo *m,
                     const char *root, const uint8_t *have)
{
  static const uint8_t zeros[20];
  size_t start = b->len;
  be_put_dict(b);
  be_put_cstr(b, "checksum");
  be_put_str(b, zeros, 20);
  size_t sum_at = b->len - 20;
  be_put_cstr(b, "downloaded");
  be_put_int(b, (int64_t)(x->downloaded & INT64_MAX));
  if (m) {
    be_put_cstr(b, "files");
    be_put_list(b);
    for (size_t i = 0; i < m->num_files; i++) {
      if (!tracked(&m->files[i]))
        continue;
      struct stat st;
      int rc = stat_file(root, m->files[i].path, &st);
      if (rc == -ENOMEM)
        return rc;
      be_put_dict(b);
      be_put_cstr(b, "mtime");
      be_put_int(b, rc ? 0 : (int64_t)st.st_mtim.tv_sec);
      be_put_cstr(b, "mtime_ns");
      be_put_int(b, rc ? 0 : (int64_t)st.st_mtim.tv_nsec);
      be_put_cstr(b, "size");
      be_put_int(b, rc ? -1 : (int64_t)st.st_size);
      be_put_end(b);
    }
    be_put_end(b);
  }
  be_put_cstr(b, "info-hash");
  be_put_str(b, x->info_hash, 20);
  if (x->magnet) {
    be_put_cstr(b, "magnet");
    be_put_str(b, x->magnet, x->magnet_len);
  }
  be_put_cstr(b, "paused");
  be_put_int(b, !!x->paused);
  if (m) {
    be_put_cstr(b, "pieces");
    be_put_str(b, have, SH_BF_BYTES(m->num_pieces));
  }
  if (x->priorities) {
    be_put_cstr(b, "priorities");
    be_put_str(b, x->priorities, x->num_priorities);
  }
  be_put_cstr(b, "save-dir");
  be_put_cstr(b, x->save_dir ? x->save_dir : "");
  be_put_cstr(b, "seed-only");
  be_put_int(b, !!x->seed_only);
  if (x->torrent) {
    be_put_cstr(b, "torrent");
    be_put_str(b, x->torrent, x->torrent_len);
  }
  be_put_cstr(b, "uploaded");
  be_put_int(b, (int64_t)(x->uploaded & INT64_MAX));
  be_put_cstr(b, "version");
  be_put_int(b, RESUME_VERSION);
  be_put_end(b);
  if (b->oom)
    return -ENOMEM;
  uint8_t sum[20];
  if (checksum_of(b->data + start, b->len - start, b->data + sum_at, sum) < 0)
    return -ENOMEM;
  memcpy(b->data + sum_at, sum, 20);
  return 0;
}

/* Version 3 resume data must carry the checksum of its own bytes: a file
 * damaged on disk, or edited by hand (every bit of `pieces` set, the file
 * stamps left alone), is refused and the data is checked instead. Older
 * versions have none, so their pieces are not trusted at all. Returns 0,
 * or SH_EMETAINFO (-ENOMEM) with err saying why. */
static int check_sum(const struct be_doc *d, const uint8_t *buf, int64_t ver, char *err,
                     size_t errlen)
{
  if (ver < RESUME_SUM_VERSION)
    return sh_errf(err, errlen, SH_EMETAINFO, "resume data: version %lld has no checksum to "
                   "vouch for its pieces", (long long)ver);
  size_t n;
  int i = be_dict_get(d, 0, "checksum");
  const uint8_t *sum = i >= 0 ? be_str(d, i, &n) : NULL;
  if (!sum || n != 20)
    return sh_errf(err, errlen, SH_EMETAINFO, "resume data: checksum: missing or not 20 bytes");
  uint8_t want[20];
  const uint8_t *root = buf + d->tok[0].start;
  if (checksum_of(root, d->tok[0].end - d->tok[0].start, sum, want) < 0)
    return -ENOMEM;
  if (memcmp(want, sum, 20))
    return sh_errf(err, errlen, SH_EMETAINFO, "resume data: the checksum does not match its "
                   "content (damaged or edited)");
  return 0;
}

int sh_resume_write(const char *path, const void *buf, size_t len)
{
  size_t pl = strlen(path);
  char *tmp = malloc(pl + 8);
  char *dirc = strdup(path);
  if (!tmp || !dirc) {
    free(tmp);
    free(dirc);
    return -ENOMEM;
  }
  snprintf(tmp, pl + 8, "%s.XXXXXX", path);
  int rc = 0;
  int fd = mkstemp(tmp);
  if (fd < 0) {
    rc = -errno;
    goto out;
  }
  if ((rc = write_all(fd, buf, len)) == 0 && fsync(fd) < 0)
    rc = -errno;
  if (close(fd) < 0 && !rc)
    rc = -errno;
  if (!rc && rename(tmp, path) < 0)
    rc = -errno;
  if (rc) {
    unlink(tmp);
    goto out;
  }
  /* the rename itself is durable only once the directory is synced */
  int dfd = open(dirname(dirc), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
out:
  free(tmp);
  free(dirc);
  return rc;
}

int sh_resume_save(const char *path, const struct sh_metainfo *m, const char *root, const uint8_t *have)
{
  struct sh_resume_info x = {.save_dir = root};
  memcpy(x.info_hash, m->info_hash, 20);
  struct sh_buf b = SH_BUF_INIT;
  int rc = sh_resume_encode(&b, &x, m, root, have);
  if (rc == 0)
    rc = sh_resume_write(path, b.data, b.len);
  sh_buf_free(&b);
  return rc;
}

static int get_int(const struct be_doc *d, int dict, const char *key, int64_t *v)
{
  int i = be_dict_get(d, dict, key);
  return i < 0 ? -1 : be_int(d, i, v);
}

/* Decodes resume data into d: a dictionary, or an error in err. */
static int open_doc(struct be_doc *d, const void *buf, size_t len, char *err, size_t errlen)
{
  int rc = be_parse(d, buf, len, NULL);
  if (rc == SH_EBENCODE)
    return sh_errf(err, errlen, rc, "resume data: bencode error at byte %zu: %s", d->err_off,
                   d->err);
  if (rc)
    return rc;
  if (d->tok[0].type != BE_DICT)
    return sh_errf(err, errlen, SH_EMETAINFO, "resume data: top level must be a dictionary");
  return 0;
}

int sh_resume_parse(const void *buf, size_t len, const struct sh_metainfo *m, const char *root, uint8_t *have,
                    char *err, size_t errlen)
{
  struct be_doc d;
  int rc = open_doc(&d, buf, len, err, errlen);
  if (rc)
    goto out;
  rc = SH_EMETAINFO;
  int64_t ver;
  if (get_int(&d, 0, "version", &ver) || ver < 1 || ver > RESUME_VERSION) {
    sh_errf(err, errlen, rc, "resume data: version: missing or not 1 to %d", RESUME_VERSION);
    goto out;
  }
  size_t n;
  int ih = be_dict_get(&d, 0, "info-hash");
  const uint8_t *p = ih >= 0 ? be_str(&d, ih, &n) : NULL;
  if (!p || n != 20) {
    sh_errf(err, errlen, rc, "resume data: info-hash: missing or not 20 bytes");
    goto out;
  }
  if (memcmp(p, m->info_hash, 20)) {
    rc = sh_errf(err, errlen, SH_EHASH, "resume data: belongs to another torrent");
    goto out;
  }
  int pi = be_dict_get(&d, 0, "pieces");
  const uint8_t *bits = pi >= 0 ? be_str(&d, pi, &n) : NULL;
  if (!bits || n != SH_BF_BYTES(m->num_pieces) || !sh_bf_spare_clear(bits, m->num_pieces)) {
    sh_errf(err, errlen, rc, "resume data: pieces: missing, not %zu bytes, or spare bits set",
         SH_BF_BYTES(m->num_pieces));
    goto out;
  }
  int fl = be_dict_get_type(&d, 0, "files", BE_LIST);
  if (fl < 0) {
    sh_errf(err, errlen, rc, "resume data: files: missing or not a list");
    goto out;
  }
  size_t want = 0;
  for (size_t i = 0; i < m->num_files; i++)
    want += (size_t)tracked(&m->files[i]);
  if (d.tok[fl].v.n != want) {
    sh_errf(err, errlen, rc, "resume data: files: %u entries, the torrent has %zu files", d.tok[fl].v.n, want);
    goto out;
  }
  /* the shape of every entry, then the checksum, then the files on disk:
   * a malformed file says what is wrong with it, a damaged or edited one
   * says so before any file is looked at */
  int64_t mt, mtns, size;
  int e = be_child(&d, fl);
  for (size_t k = 0; k < want; k++, e = (int)d.tok[e].next)
    if (d.tok[e].type != BE_DICT || get_int(&d, e, "mtime", &mt) ||
        get_int(&d, e, "mtime_ns", &mtns) || get_int(&d, e, "size", &size)) {
      sh_errf(err, errlen, rc, "resume data: files[%zu]: needs integers mtime, mtime_ns and size", k);
      goto out;
    }
  if ((rc = check_sum(&d, (const uint8_t *)buf, ver, err, errlen)) < 0)
    goto out;
  rc = SH_EMETAINFO;
  e = be_child(&d, fl);
  for (size_t i = 0, k = 0; i < m->num_files; i++) {
    if (!tracked(&m->files[i]))
      continue;
    get_int(&d, e, "mtime", &mt);
    get_int(&d, e, "mtime_ns", &mtns);
    get_int(&d, e, "size", &size);
    struct stat st;
    int sr = stat_file(root, m->files[i].path, &st);
    if (sr == -ENOMEM) {
      rc = sr;
      goto out;
    }
    int same = sr ? size == -1
                  : size == (int64_t)st.st_size && mt == (int64_t)st.st_mtim.tv_sec &&
                        mtns == (int64_t)st.st_mtim.tv_nsec;
    if (!same) {
      rc = sh_errf(err, errlen, -ESTALE, "resume data: %s changed since it was saved", m->files[i].path);
      goto out;
    }
    e = (int)d.tok[e].next;
    k++;
  }
  memcpy(have, bits, SH_BF_BYTES(m->num_pieces));
  rc = 0;
out:
  be_free(&d);
  return rc;
}

int sh_resume_load(const char *path, const struct sh_metainfo *m, const char *root, uint8_t *have, char *err,
                   size_t errlen)
{
  uint8_t *buf;
  size_t got;
  int rc = sh_read_file(path, RESUME_MAX_SIZE, &buf, &got);
  if (rc == -EISDIR || rc == SH_ELIMIT)
    return sh_errf(err, errlen, SH_EMETAINFO, "%s: not a regular file or larger than %u MiB", path,
                   RESUME_MAX_SIZE >> 20);
  if (rc)
    return sh_errf(err, errlen, rc, "%s: %s", path, sh_strerror(rc));
  rc = sh_resume_parse(buf, got, m, root, have, err, errlen);
  free(buf);
  return rc;
}

/* A string value as a borrowed pointer, or NULL. */
static const uint8_t *get_str(const struct be_doc *d, int dict, const char *key, size_t *n)
{
  int i = be_dict_get(d, dict, key);
  return i < 0 ? NULL : be_str(d, i, n);
}

int sh_resume_read_info(const void *buf, size_t len, struct sh_resume_info *x, char **save_dir_copy,
                        char *err, size_t errlen)
{
  memset(x, 0, sizeof *x);
  *save_dir_copy = NULL;
  struct be_doc d;
  int rc = open_doc(&d, buf, len, err, errlen);
  if (rc)
    goto out;
  rc = SH_EMETAINFO;
  int64_t ver = 0, v;
  if (get_int(&d, 0, "version", &ver) || ver < 2 || ver > RESUME_VERSION) {
    sh_errf(err, errlen, rc, "resume data: not version 2 or %d resume data", RESUME_VERSION);
    goto out;
  }
  if (ver >= RESUME_SUM_VERSION && (rc = check_sum(&d, (const uint8_t *)buf, ver, err, errlen)) < 0)
    goto out;
  rc = SH_EMETAINFO;
  size_t n;
  const uint8_t *p = get_str(&d, 0, "info-hash", &n);
  if (!p || n != 20) {
    sh_errf(err, errlen, rc, "resume data: info-hash: missing or not 20 bytes");
    goto out;
  }
  memcpy(x->info_hash, p, 20);
  x->torrent = get_str(&d, 0, "torrent", &x->torrent_len);
  x->magnet = (const char *)get_str(&d, 0, "magnet", &x->magnet_len);
  x->priorities = get_str(&d, 0, "priorities", &x->num_priorities);
  p = get_str(&d, 0, "save-dir", &n);
  if (!p || memchr(p, 0, n) || !(*save_dir_copy = malloc(n + 1))) {
    rc = p && !memchr(p, 0, n) ? -ENOMEM : rc;
    sh_errf(err, errlen, rc, "resume data: save-dir: missing or not a path");
    goto out;
  }
  memcpy(*save_dir_copy, p, n);
  (*save_dir_copy)[n] = 0;
  x->save_dir = *save_dir_copy;
  x->paused = get_int(&d, 0, "paused", &v) == 0 && v;
  x->seed_only = get_int(&d, 0, "seed-only", &v) == 0 && v;
  x->uploaded = get_int(&d, 0, "uploaded", &v) == 0 && v > 0 ? (uint64_t)v : 0;
  x->downloaded = get_int(&d, 0, "downloaded", &v) == 0 && v > 0 ? (uint64_t)v : 0;
  rc = 0;
out:
  be_free(&d);
  if (rc) {
    free(*save_dir_copy);
    *save_dir_copy = NULL;
  }
  return rc;
}

int sh_resume_lock(const char *dir, const char *hex, char *err, size_t errlen)
{
  char path[4096];
  int rc = sh_mkdir_p(dir, 0777);
  if (rc < 0)
    return sh_errf(err, errlen, rc, "cannot create the resume folder %s: %s", dir,
                   sh_strerror(rc));
  snprintf(path, sizeof path, "%s/%s.lock", dir, hex);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return sh_errf(err, errlen, -errno, "cannot open %s: %s", path, sh_strerror(-errno));
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
    char pid[24];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0)
      (void)!pwrite(fd, pid, (size_t)n, 0);
    return fd;
  }
  int e = errno;
  char pid[24] = "";
  ssize_t got = pread(fd, pid, sizeof pid - 1, 0);
  close(fd);
  if (e != EWOULDBLOCK)
    return sh_errf(err, errlen, -e, "cannot lock %s: %s", path, sh_strerror(-e));
  pid[got > 0 ? got : 0] = 0;
  pid[strcspn(pid, "\n")] = 0;
  return sh_errf(err, errlen, -EBUSY, "another program%s%s%s is already using this torrent with "
                 "the resume folder %s (two at once would overwrite each other's data)",
                 pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "", dir);
}

void sh_resume_unlock(int fd, const char *dir, const char *hex, int forget)
{
  if (fd < 0)
    return;
  if (forget) {
    /* while still holding it: whoever opens the name next makes a new file */
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.lock", dir, hex);
    unlink(path);
  }
  close(fd);
}
