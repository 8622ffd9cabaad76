/* Hosted .torrent files; see hosting.h. */
#include "tracker/hosting.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/sha1.h"
#include "base/sorted.h"
#include "base/vec.h"
#include "meta/metainfo.h"

struct item {
  uint8_t hash[20]; /* m->info_hash, inline: the search key (base/sorted.h) */
  struct sh_metainfo *m;
  int64_t added;
};

struct hosting {
  pthread_rwlock_t lock;
  char *dir;   /* DATA */
  char *tdir;  /* DATA/torrents */
  struct item *items; /* sorted by info-hash */
  size_t n, cap;
};

static inline long find_item(const struct hosting *h, const uint8_t *hash)
{
  return sh_sorted_find(h->items, h->n, sizeof *h->items, offsetof(struct item, hash), hash,
                        SH_IHASH_LEN);
}

/* Inserts m (taking ownership) unless its hash is present. Caller holds the
 * write lock. Returns 1 added, 0 duplicate (m freed), -ENOMEM (m freed). */
static int insert_locked(struct hosting *h, struct sh_metainfo *m, int64_t added)
{
  long i = find_item(h, m->info_hash);
  if (i >= 0) {
    sh_metainfo_free(m);
    return 0;
  }
  i = -i - 1;
  if (sh_vec_reserve(h->items, h->cap, h->n + 1, 16, SIZE_MAX) < 0) {
    sh_metainfo_free(m);
    return -ENOMEM;
  }
  memmove(&h->items[i + 1], &h->items[i], (h->n - (size_t)i) * sizeof *h->items);
  memcpy(h->items[i].hash, m->info_hash, 20);
  h->items[i].m = m;
  h->items[i].added = added;
  h->n++;
  return 1;
}

static void clear_items(struct item *items, size_t n)
{
  for (size_t i = 0; i < n; i++)
    sh_metainfo_free(items[i].m);
  free(items);
}

/* Loads DIR/torrents into a fresh item array (no lock needed: private). */
static int scan_dir(struct hosting *h, struct hosting *into, char *err, size_t errlen)
{
  DIR *d = opendir(h->tdir);
  if (!d) {
    int e = -errno;
    snprintf(err, errlen, "%s: %s", h->tdir, sh_strerror(e));
    return e;
  }
  struct dirent *de;
  while ((de = readdir(d))) {
    size_t l = strlen(de->d_name);
    if (l < 9 || strcmp(de->d_name + l - 8, ".torrent"))
      continue;
    char path[4096], why[256];
    snprintf(path, sizeof path, "%s/%s", h->tdir, de->d_name);
    struct sh_metainfo *m;
    int rc = sh_metainfo_load(path, &m, why, sizeof why);
    if (rc < 0) {
      sh_warn("tracker: skipping %s: %s", path, why);
      continue;
    }
    struct stat st;
    int64_t added = stat(path, &st) == 0 ? (int64_t)st.st_mtime : 0;
    if (insert_locked(into, m, added) < 0) {
      closedir(d);
      snprintf(err, errlen, "%s: out of memory", h->tdir);
      return -ENOMEM;
    }
  }
  closedir(d);
  return 0;
}

int hosting_reload(struct hosting *h, char *err, size_t errlen)
{
  struct hosting fresh;
  memset(&fresh, 0, sizeof fresh);
  int rc = scan_dir(h, &fresh, err, errlen);
  if (rc < 0) {
    clear_items(fresh.items, fresh.n);
    return rc;
  }
  pthread_rwlock_wrlock(&h->lock);
  struct item *old = h->items;
  size_t oldn = h->n;
  h->items = fresh.items;
  h->n = fresh.n;
  h->cap = fresh.cap;
  pthread_rwlock_unlock(&h->lock);
  clear_items(old, oldn);
  return (int)fresh.n;
}

int hosting_open(struct hosting **out, const char *dir, char *err, size_t errlen)
{
  *out = NULL;
  struct hosting *h = calloc(1, sizeof *h);
  if (!h)
    return -ENOMEM;
  pthread_rwlock_init(&h->lock, NULL);
  h->dir = strdup(dir);
  h->tdir = malloc(strlen(dir) + 10);
  if (!h->dir || !h->tdir) {
    hosting_close(h);
    return -ENOMEM;
  }
  sprintf(h->tdir, "%s/torrents", dir);
  int rc = sh_mkdir_p(h->tdir, 0755);
  if (rc < 0) {
    snprintf(err, errlen, "cannot create %s: %s", h->tdir, sh_strerror(rc));
    hosting_close(h);
    return rc;
  }
  rc = hosting_reload(h, err, errlen);
  if (rc < 0) {
    hosting_close(h);
    return rc;
  }
  *out = h;
  return 0;
}

void hosting_close(struct hosting *h)
{
  if (!h)
    return;
  clear_items(h->items, h->n);
  free(h->dir);
  free(h->tdir);
  pthread_rwlock_destroy(&h->lock);
  free(h);
}

/* write to DIR/torrents/.HEX.tmp, fsync, rename to HEX.torrent, fsync dir */
static int write_atomic(struct hosting *h, const char *hex, const void *buf, size_t len,
                        char *err, size_t errlen)
{
  char tmp[4096], final[4096];
  /* pid + a counter: two threads storing the same upload never share a
   * temporary file */
  static atomic_uint seq;
  snprintf(tmp, sizeof tmp, "%s/.%s.%ld.%u.tmp", h->tdir, hex, (long)getpid(),
           atomic_fetch_add(&seq, 1));
  snprintf(final, sizeof final, "%s/%s.torrent", h->tdir, hex);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    goto fail;
  const uint8_t *p = buf;
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, p + off, len - off);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      goto fail_fd;
    }
    off += (size_t)w;
  }
  if (fsync(fd) < 0)
    goto fail_fd;
  if (close(fd) < 0) {
    fd = -1;
    goto fail_fd;
  }
  if (rename(tmp, final) < 0)
    goto fail_unlink;
  int dfd = open(h->tdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;
fail_fd:;
  int e = errno;
  if (fd >= 0)
    close(fd);
  errno = e;
fail_unlink:
  e = errno;
  unlink(tmp);
  errno = e;
fail:
  e = -errno;
  snprintf(err, errlen, "cannot store %s: %s", final, sh_strerror(e));
  return e;
}

int hosting_add(struct hosting *h, const void *buf, size_t len, uint8_t info_hash[20], char *err,
                size_t errlen)
{
  if (len > HOSTING_MAX_TORRENT) {
    snprintf(err, errlen, "torrent file is larger than %u bytes", HOSTING_MAX_TORRENT);
    return SH_ELIMIT;
  }
  struct sh_metainfo *m;
  int rc = sh_metainfo_parse(buf, len, &m, err, errlen);
  if (rc < 0)
    return rc;
  if (info_hash)
    memcpy(info_hash, m->info_hash, 20);
  pthread_rwlock_rdlock(&h->lock);
  int present = find_item(h, m->info_hash) >= 0;
  pthread_rwlock_unlock(&h->lock);
  if (present) {
    sh_metainfo_free(m);
    return 0;
  }
  rc = write_atomic(h, m->info_hash_hex, buf, len, err, errlen);
  if (rc < 0) {
    sh_metainfo_free(m);
    return rc;
  }
  pthread_rwlock_wrlock(&h->lock);
  rc = insert_locked(h, m, (int64_t)time(NULL));
  pthread_rwlock_unlock(&h->lock);
  if (rc < 0)
    snprintf(err, errlen, "out of memory");
  return rc;
}

int hosting_add_file(struct hosting *h, const char *path, uint8_t info_hash[20], char *err,
                     size_t errlen)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = -errno;
    snprintf(err, errlen, "%s: %s", path, sh_strerror(e));
    return e;
  }
  struct sh_buf b = SH_BUF_INIT;
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= HOSTING_MAX_TORRENT)
    sh_buf_append(&b, chunk, n);
  int rderr = ferror(f);
  fclose(f);
  if (rderr || b.oom) {
    sh_buf_free(&b);
    snprintf(err, errlen, "%s: %s", path, rderr ? "read error" : "out of memory");
    return rderr ? -EIO : -ENOMEM;
  }
  char why[512];
  int rc = hosting_add(h, b.data, b.len, info_hash, why, sizeof why);
  sh_buf_free(&b);
  if (rc < 0)
    snprintf(err, errlen, "%s: %s", path, why);
  return rc;
}

int hosting_get(struct hosting *h, const uint8_t info_hash[20], struct sh_buf *out, char **name)
{
  pthread_rwlock_rdlock(&h->lock);
  long i = find_item(h, info_hash);
  if (i >= 0) {
    const struct sh_metainfo *m = h->items[i].m;
    sh_buf_append(out, m->raw, m->raw_len);
    if (name)
      *name = strdup(m->name ? m->name : m->info_hash_hex);
  }
  pthread_rwlock_unlock(&h->lock);
  return i >= 0;
}

static int cmp_entry(const void *a, const void *b)
{
  const struct hosting_entry *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : memcmp(x->info_hash, y->info_hash, 20);
}

void hosting_list_free(struct hosting_entry *e, long n)
{
  for (long i = 0; i < n; i++) {
    free(e[i].name);
    free(e[i].comment);
  }
  free(e);
}

long hosting_list(struct hosting *h, struct hosting_entry **out)
{
  pthread_rwlock_rdlock(&h->lock);
  size_t n = h->n;
  struct hosting_entry *e = calloc(n ? n : 1, sizeof *e);
  if (!e) {
    pthread_rwlock_unlock(&h->lock);
    return -ENOMEM;
  }
  int oom = 0;
  for (size_t i = 0; i < n; i++) {
    const struct sh_metainfo *m = h->items[i].m;
    memcpy(e[i].info_hash, m->info_hash, 20);
    memcpy(e[i].hex, m->info_hash_hex, 41);
    e[i].name = strdup(m->name ? m->name : m->info_hash_hex);
    e[i].comment = m->comment ? strdup(m->comment) : NULL;
    oom |= !e[i].name || (m->comment && !e[i].comment);
    e[i].size = m->total_length;
    e[i].num_files = 0;
    for (size_t f = 0; f < m->num_files; f++)
      e[i].num_files += !(m->files[f].attr & SH_FILE_PAD); /* BEP 47 padding is not a file */
    e[i].added = h->items[i].added;
  }
  pthread_rwlock_unlock(&h->lock);
  if (oom) {
    hosting_list_free(e, (long)n);
    return -ENOMEM;
  }
  qsort(e, n, sizeof *e, cmp_entry);
  *out = e;
  return (long)n;
}

long hosting_hashes(struct hosting *h, uint8_t (**out)[20])
{
  pthread_rwlock_rdlock(&h->lock);
  size_t n = h->n;
  uint8_t (*a)[20] = malloc((n ? n : 1) * 20);
  if (a)
    for (size_t i = 0; i < n; i++)
      memcpy(a[i], h->items[i].m->info_hash, 20);
  pthread_rwlock_unlock(&h->lock);
  if (!a)
    return -ENOMEM;
  *out = a;
  return (long)n;
}
