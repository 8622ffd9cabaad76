/* Metainfo parser and validator (BEP 3, 12, 19, 27, 47).
 *
 * The outer file is decoded in lax key-order mode because real torrents
 * (old makers, hand edits) sometimes carry unsorted keys; that is harmless
 * because the info-hash is taken over the raw bytes of the `info` value
 * (token start..end), never over a re-encoding, so it always matches what
 * other clients compute.
 *
 * Limits, chosen to refuse hostile files before they cost memory while
 * staying far above anything real:
 *   - piece length 1 B .. 256 MiB (BEP 3 asks for no power of two; the
 *     largest pieces seen in the wild are 16-64 MiB);
 *   - at most 4,000,000 pieces (80 MB of hashes; a 1 TB torrent with 256 KiB
 *     pieces has 3.8 M);
 *   - at most 1,000,000 files;
 *   - at most 64 path elements per file, 255 bytes per element (NAME_MAX),
 *     4096 bytes per joined path (PATH_MAX);
 *   - total length below 2^63 (file lengths are bencode integers, int64);
 *   - the file at most 32 MiB and 2 M bencode values (metainfo.h says why).
 * BEP 52: a hybrid (`meta version` 2 beside `pieces`) is read through its
 * v1 part; a v2-only torrent is refused as not supported yet.
 * Every error names the field, e.g. "info.files[3].path[1]: '..' is not
 * allowed". */
#include "meta/metainfo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/bencode.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/sha1.h"

#define MI_MAX_PIECE_LENGTH (256u << 20)
#define MI_MAX_FILES 1000000u
#define MI_MAX_PATH_ELEMS 64
#define MI_MAX_ELEM_LEN 255
#define MI_MAX_PATH_LEN 4096
#define MI_MAX_FILE_SIZE SH_METAINFO_MAX_BYTES

struct ctx {
  const struct be_doc *d;
  struct sh_metainfo *m;
  char *err;
  size_t errlen;
};

static int fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct ctx *c, const char *fmt, ...)
{
  if (c->err && c->errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
  }
  return SH_EMETAINFO;
}

/* Copies a bencode string into a NUL-terminated heap string. */
static char *dup_str(const struct be_doc *d, int idx)
{
  size_t n;
  const uint8_t *p = be_str(d, idx, &n);
  if (!p)
    return NULL;
  char *s = malloc(n + 1);
  if (!s)
    return NULL;
  memcpy(s, p, n);
  s[n] = 0;
  return s;
}

/* An optional text field: absent is fine, another type is an error. Embedded
 * NULs are refused because these strings are handed to C APIs. */
static int opt_text(struct ctx *c, int dict, const char *key, const char *field, char **out)
{
  int i = be_dict_get(c->d, dict, key);
  if (i < 0)
    return 0;
  size_t n;
  const uint8_t *p = be_str(c->d, i, &n);
  if (!p)
    return fail(c, "%s: must be a string", field);
  if (memchr(p, 0, n))
    return fail(c, "%s: contains a NUL byte", field);
  if (!(*out = dup_str(c->d, i)))
    return -ENOMEM;
  return 0;
}

/* Checks one path element: non-empty, not "." or "..", no '/' or NUL, at most
 * 255 bytes. '\\' is allowed: it is an ordinary byte on POSIX. */
static int check_elem(struct ctx *c, const uint8_t *p, size_t n, const char *field)
{
  if (n == 0)
    return fail(c, "%s: empty path element", field);
  if (n > MI_MAX_ELEM_LEN)
    return fail(c, "%s: path element longer than %d bytes", field, MI_MAX_ELEM_LEN);
  if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
    return fail(c, "%s: '%.*s' is not allowed", field, (int)n, (const char *)p);
  if (memchr(p, '/', n))
    return fail(c, "%s: '/' is not allowed inside a path element", field);
  if (memchr(p, 0, n))
    return fail(c, "%s: NUL byte is not allowed", field);
  return 0;
}

static int parse_tiers(struct ctx *c, int root)
{
  struct sh_metainfo *m = c->m;
  int al = be_dict_get(c->d, root, "announce-list");
  if (al >= 0 && c->d->tok[al].type != BE_LIST)
    return fail(c, "announce-list: must be a list of lists");
  /* BEP 12: when announce-list is present, announce is ignored. A list of
   * empty tiers counts as absent (some makers write `le`). */
  size_t ntiers = 0;
  if (al >= 0) {
    if (!(m->tiers = calloc(c->d->tok[al].v.n ? c->d->tok[al].v.n : 1, sizeof *m->tiers)))
      return -ENOMEM;
    size_t ti = 0;
    for (int t = be_child(c->d, al); t >= 0 && (uint32_t)t < c->d->tok[al].next;
         t = (int)c->d->tok[t].next, ti++) {
      if (c->d->tok[t].type != BE_LIST)
        return fail(c, "announce-list[%zu]: must be a list of URLs", ti);
      struct sh_tier *tier = &m->tiers[ntiers];
      if (!c->d->tok[t].v.n)
        continue;
      /* counted while being filled, so sh_metainfo_free releases it if a
       * later URL is refused */
      m->num_tiers = ntiers + 1;
      if (!(tier->urls = calloc(c->d->tok[t].v.n, sizeof *tier->urls)))
        return -ENOMEM;
      size_t ui = 0;
      for (int u = be_child(c->d, t); u >= 0 && (uint32_t)u < c->d->tok[t].next;
           u = (int)c->d->tok[u].next, ui++) {
        size_t n;
        const uint8_t *p = be_str(c->d, u, &n);
        if (!p)
          return fail(c, "announce-list[%zu][%zu]: must be a string", ti, ui);
        if (memchr(p, 0, n))
          return fail(c, "announce-list[%zu][%zu]: contains a NUL byte", ti, ui);
        if (!n)
          continue;
        if (!(tier->urls[tier->n] = dup_str(c->d, u)))
          return -ENOMEM;
        tier->n++;
      }
      if (tier->n)
        ntiers++;
      else {
        free(tier->urls);
        tier->urls = NULL;
      }
    }
    m->num_tiers = ntiers;
  }
  if (ntiers)
    return 0;
  char *announce = NULL;
  int rc = opt_text(c, root, "announce", "announce", &announce);
  if (rc)
    return rc;
  if (!announce || !*announce) {
    free(announce);
    return 0;
  }
  if (!m->tiers && !(m->tiers = calloc(1, sizeof *m->tiers))) {
    free(announce);
    return -ENOMEM;
  }
  if (!(m->tiers[0].urls = calloc(1, sizeof(char *)))) {
    free(announce);
    return -ENOMEM;
  }
  m->tiers[0].urls[0] = announce;
  m->tiers[0].n = 1;
  m->num_tiers = 1;
  return 0;
}

/* BEP 19: url-list is one string or a list of strings; empty ones dropped. */
static int parse_web_seeds(struct ctx *c, int root)
{
  struct sh_metainfo *m = c->m;
  int ul = be_dict_get(c->d, root, "url-list");
  if (ul < 0)
    return 0;
  const struct be_tok *t = &c->d->tok[ul];
  if (t->type == BE_STR) {
    if (!t->v.s.len)
      return 0;
    if (memchr(c->d->buf + t->v.s.off, 0, t->v.s.len))
      return fail(c, "url-list: contains a NUL byte");
    if (!(m->web_seeds = calloc(1, sizeof(char *))) || !(m->web_seeds[0] = dup_str(c->d, ul)))
      return -ENOMEM;
    m->num_web_seeds = 1;
    return 0;
  }
  if (t->type != BE_LIST)
    return fail(c, "url-list: must be a string or a list of strings");
  if (!t->v.n)
    return 0;
  if (!(m->web_seeds = calloc(t->v.n, sizeof(char *))))
    return -ENOMEM;
  size_t i = 0;
  for (int u = be_child(c->d, ul); u >= 0 && (uint32_t)u < t->next; u = (int)c->d->tok[u].next, i++) {
    size_t n;
    const uint8_t *p = be_str(c->d, u, &n);
    if (!p)
      return fail(c, "url-list[%zu]: must be a string", i);
    if (memchr(p, 0, n))
      return fail(c, "url-list[%zu]: contains a NUL byte", i);
    if (!n)
      continue;
    if (!(m->web_seeds[m->num_web_seeds] = dup_str(c->d, u)))
      return -ENOMEM;
    m->num_web_seeds++;
  }
  return 0;
}

static unsigned parse_attr(const struct be_doc *d, int fdict)
{
  int a = be_dict_get_type(d, fdict, "attr", BE_STR);
  if (a < 0)
    return 0;
  size_t n;
  const uint8_t *p = be_str(d, a, &n);
  unsigned attr = 0;
  /* BEP 47: characters in any order, unknown ones ignored. */
  for (size_t i = 0; i < n; i++) {
    if (p[i] == 'p')
      attr |= SH_FILE_PAD;
    else if (p[i] == 'x')
      attr |= SH_FILE_EXEC;
    else if (p[i] == 'h')
      attr |= SH_FILE_HIDDEN;
    else if (p[i] == 'l')
      attr |= SH_FILE_SYMLINK;
  }
  return attr;
}

/* BEP 47 symlink target: a list of elements relative to the torrent root.
 * BEP 47 forbids "..", but some makers emit it for links between sibling
 * directories; we resolve ".." lexically against the elements seen so far
 * and refuse only what would climb above the root. The result is in the same
 * coordinate system as sh_file.path ("NAME/..." for multi-file torrents). */
static int parse_symlink(struct ctx *c, int fdict, const char *field, char **out)
{
  int sl = be_dict_get(c->d, fdict, "symlink path");
  if (sl < 0)
    return fail(c, "%s.symlink path: missing for a file with attr 'l'", field);
  if (c->d->tok[sl].type != BE_LIST || !c->d->tok[sl].v.n)
    return fail(c, "%s.symlink path: must be a non-empty list of strings", field);
  size_t cap = strlen(c->m->name) + 2;
  for (int e = be_child(c->d, sl); e >= 0 && (uint32_t)e < c->d->tok[sl].next; e = (int)c->d->tok[e].next)
    cap += c->d->tok[e].end - c->d->tok[e].start + 1;
  char *s = malloc(cap);
  if (!s)
    return -ENOMEM;
  size_t len = 0, depth = 0, base = 0;
  if (c->m->multi_file) {
    len = (size_t)sprintf(s, "%s", c->m->name);
    base = len;
  }
  s[len] = 0;
  size_t i = 0;
  for (int e = be_child(c->d, sl); e >= 0 && (uint32_t)e < c->d->tok[sl].next;
       e = (int)c->d->tok[e].next, i++) {
    size_t n;
    const uint8_t *p = be_str(c->d, e, &n);
    char ef[64];
    snprintf(ef, sizeof ef, "symlink path[%zu]", i);
    if (!p) {
      free(s);
      return fail(c, "%s.%s: must be a string", field, ef);
    }
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      if (depth == 0) {
        free(s);
        return fail(c, "%s.%s: '..' points outside the torrent", field, ef);
      }
      depth--;
      char *slash = strrchr(s + base, '/');
      len = slash ? (size_t)(slash - s) : base;
      s[len] = 0;
      continue;
    }
    if (n == 1 && p[0] == '.')
      continue;
    if (n == 0 || memchr(p, '/', n) || memchr(p, 0, n)) {
      free(s);
      if (n && p[0] == '/')
        return fail(c, "%s.%s: absolute targets are not allowed", field, ef);
      return fail(c, "%s.%s: empty, or contains '/' or NUL", field, ef);
    }
    if (len > 0)
      s[len++] = '/';
    memcpy(s + len, p, n);
    len += n;
    s[len] = 0;
    depth++;
  }
  if (depth == 0) {
    free(s);
    return fail(c, "%s.symlink path: resolves to the torrent root itself", field);
  }
  *out = s;
  return 0;
}

static int parse_files(struct ctx *c, int info)
{
  struct sh_metainfo *m = c->m;
  int files = be_dict_get(c->d, info, "files");
  int length = be_dict_get(c->d, info, "length");
  if (files >= 0 && length >= 0)
    return fail(c, "info: has both 'length' and 'files'");
  if (files < 0) {
    int64_t len;
    if (length < 0)
      return fail(c, "info: needs 'length' (single file) or 'files' (multi-file)");
    if (be_int(c->d, length, &len))
      return fail(c, "info.length: must be an integer");
    if (len < 0)
      return fail(c, "info.length: negative (%lld)", (long long)len);
    if (!(m->files = calloc(1, sizeof *m->files)) || !(m->files[0].path = strdup(m->name)))
      return -ENOMEM;
    m->num_files = 1;
    m->files[0].length = (uint64_t)len;
    m->files[0].attr = parse_attr(c->d, info) & ~(unsigned)SH_FILE_SYMLINK;
    m->total_length = (uint64_t)len;
    if (!len)
      return fail(c, "info.length: 0, nothing to share");
    return 0;
  }
  m->multi_file = 1;
  const struct be_tok *ft = &c->d->tok[files];
  if (ft->type != BE_LIST)
    return fail(c, "info.files: must be a list");
  if (!ft->v.n)
    return fail(c, "info.files: empty list");
  if (ft->v.n > MI_MAX_FILES)
    return fail(c, "info.files: %u files, more than the limit of %u", ft->v.n, MI_MAX_FILES);
  if (!(m->files = calloc(ft->v.n, sizeof *m->files)))
    return -ENOMEM;
  uint64_t total = 0;
  size_t namelen = strlen(m->name);
  size_t fi = 0;
  for (int f = be_child(c->d, files); f >= 0 && (uint32_t)f < ft->next; f = (int)c->d->tok[f].next, fi++) {
    char field[48];
    snprintf(field, sizeof field, "info.files[%zu]", fi);
    struct sh_file *sf = &m->files[fi];
    m->num_files = fi + 1;
    if (c->d->tok[f].type != BE_DICT)
      return fail(c, "%s: must be a dictionary", field);
    sf->attr = parse_attr(c->d, f);
    if ((sf->attr & SH_FILE_PAD) && (sf->attr & SH_FILE_SYMLINK))
      return fail(c, "%s.attr: padding ('p') and symlink ('l') together", field);
    int64_t len = 0;
    int li = be_dict_get(c->d, f, "length");
    if (li < 0) {
      /* BEP 47: a symlink's length may be omitted. */
      if (!(sf->attr & SH_FILE_SYMLINK))
        return fail(c, "%s.length: missing", field);
    } else if (be_int(c->d, li, &len)) {
      return fail(c, "%s.length: must be an integer", field);
    } else if (len < 0) {
      return fail(c, "%s.length: negative (%lld)", field, (long long)len);
    }
    if ((sf->attr & SH_FILE_SYMLINK) && len != 0)
      return fail(c, "%s.length: a symlink must have length 0", field);
    if ((uint64_t)len > (UINT64_C(1) << 63) - 1 - total)
      return fail(c, "%s.length: total size overflows", field);
    sf->offset = total;
    sf->length = (uint64_t)len;
    total += (uint64_t)len;

    int pi = be_dict_get(c->d, f, "path");
    if (pi < 0 && (sf->attr & SH_FILE_PAD)) {
      /* BEP 47: padding files may omit their path; give them the
       * recommended one so messages and listings have something to show. */
      char pad[48];
      snprintf(pad, sizeof pad, "%s/.pad/%llu", m->name, (unsigned long long)len);
      if (!(sf->path = strdup(pad)))
        return -ENOMEM;
      continue;
    }
    if (pi < 0)
      return fail(c, "%s.path: missing", field);
    const struct be_tok *pt = &c->d->tok[pi];
    if (pt->type != BE_LIST)
      return fail(c, "%s.path: must be a list of strings", field);
    if (!pt->v.n)
      return fail(c, "%s.path: empty list", field);
    if (pt->v.n > MI_MAX_PATH_ELEMS)
      return fail(c, "%s.path: more than %d elements", field, MI_MAX_PATH_ELEMS);
    size_t plen = namelen;
    for (int e = be_child(c->d, pi); e >= 0 && (uint32_t)e < pt->next; e = (int)c->d->tok[e].next)
      plen += 1 + (c->d->tok[e].type == BE_STR ? c->d->tok[e].v.s.len : 0);
    if (plen >= MI_MAX_PATH_LEN)
      return fail(c, "%s.path: longer than %d bytes", field, MI_MAX_PATH_LEN);
    char *path = malloc(plen + 1);
    if (!path)
      return -ENOMEM;
    sf->path = path;
    memcpy(path, m->name, namelen);
    size_t at = namelen;
    size_t ei = 0;
    for (int e = be_child(c->d, pi); e >= 0 && (uint32_t)e < pt->next; e = (int)c->d->tok[e].next, ei++) {
      char efield[64];
      snprintf(efield, sizeof efield, "%s.path[%zu]", field, ei);
      size_t n;
      const uint8_t *p = be_str(c->d, e, &n);
      if (!p)
        return fail(c, "%s: must be a string", efield);
      int rc = check_elem(c, p, n, efield);
      if (rc)
        return rc;
      path[at++] = '/';
      memcpy(path + at, p, n);
      at += n;
    }
    path[at] = 0;
    if (sf->attr & SH_FILE_SYMLINK) {
      int rc = parse_symlink(c, f, field, &sf->symlink_target);
      if (rc)
        return rc;
    }
  }
  m->total_length = total;
  if (!total)
    return fail(c, "info.files: total length is 0, nothing to share");
  return 0;
}

static int cmp_path_idx(const void *a, const void *b, void *files)
{
  const struct sh_file *f = files;
  return strcmp(f[*(const size_t *)a].path, f[*(const size_t *)b].path);
}

/* Two files at one path, or a file where another needs a directory ("a" and
 * "a/b"), would make the storage write one file's data into another or fail
 * half-way; libtorrent renames such files, we refuse them with the indices.
 * Padding files are never stored, so they may collide freely. Sorting makes
 * both checks O(n log n) for the million-file limit: a duplicate sorts next
 * to its twin, and every path starting with "a/" sorts in one run after "a",
 * interrupted only by paths like "a.b" that sort between, so a binary search
 * for the first path >= "a/" finds a conflict if there is one. */
static int check_collisions(struct ctx *c)
{
  struct sh_metainfo *m = c->m;
  size_t n = 0;
  size_t *idx = malloc(m->num_files * sizeof *idx);
  if (!idx)
    return -ENOMEM;
  for (size_t i = 0; i < m->num_files; i++)
    if (!(m->files[i].attr & SH_FILE_PAD))
      idx[n++] = i;
  qsort_r(idx, n, sizeof *idx, cmp_path_idx, m->files);
  int rc = 0;
  for (size_t k = 0; k < n && !rc; k++) {
    const char *p = m->files[idx[k]].path;
    if (k + 1 < n && !strcmp(p, m->files[idx[k + 1]].path)) {
      size_t a = idx[k] < idx[k + 1] ? idx[k] : idx[k + 1], b = idx[k] ^ idx[k + 1] ^ a;
      rc = fail(c, "info.files[%zu].path: same path as info.files[%zu]", b, a);
      break;
    }
    size_t pl = strlen(p);
    size_t lo = k + 1, hi = n; /* first path >= p + "/" */
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      const char *q = m->files[idx[mid]].path;
      int cmp = strncmp(q, p, pl);
      if (cmp < 0 || (cmp == 0 && (unsigned char)q[pl] < '/'))
        lo = mid + 1;
      else
        hi = mid;
    }
    if (lo < n) {
      const char *q = m->files[idx[lo]].path;
      if (!strncmp(q, p, pl) && q[pl] == '/')
        rc = fail(c, "info.files[%zu].path: inside info.files[%zu], which is a file", idx[lo], idx[k]);
    }
  }
  free(idx);
  return rc;
}

static int parse_info(struct ctx *c, int info)
{
  struct sh_metainfo *m = c->m;
  int ni = be_dict_get(c->d, info, "name");
  if (ni < 0)
    return fail(c, "info.name: missing");
  size_t n;
  const uint8_t *p = be_str(c->d, ni, &n);
  if (!p)
    return fail(c, "info.name: must be a string");
  int rc = check_elem(c, p, n, "info.name");
  if (rc)
    return rc;
  if (!(m->name = dup_str(c->d, ni)))
    return -ENOMEM;

  int64_t pl;
  int pli = be_dict_get(c->d, info, "piece length");
  if (pli < 0)
    return fail(c, "info.piece length: missing");
  if (be_int(c->d, pli, &pl))
    return fail(c, "info.piece length: must be an integer");
  if (pl <= 0 || pl > MI_MAX_PIECE_LENGTH)
    return fail(c, "info.piece length: %lld is outside 1..%u", (long long)pl, MI_MAX_PIECE_LENGTH);
  m->piece_length = (uint32_t)pl;

  /* BEP 52 before the v1 keys: a v2-only torrent lacks them all */
  int64_t mv = 1;
  int mvi = be_dict_get(c->d, info, "meta version");
  if (mvi >= 0 && be_int(c->d, mvi, &mv))
    return fail(c, "info.meta version: must be an integer");
  if (mv >= 2 && be_dict_get(c->d, info, "pieces") < 0)
    return fail(c, "a BitTorrent v2-only torrent (BEP 52, meta version %lld): not supported yet; "
                "hybrid v1+v2 torrents are, through their v1 part", (long long)mv);
  m->hybrid = mv >= 2;

  if ((rc = parse_files(c, info)) || (m->multi_file && (rc = check_collisions(c))))
    return rc;

  int hi = be_dict_get(c->d, info, "pieces");
  if (hi < 0)
    return fail(c, "info.pieces: missing");
  p = be_str(c->d, hi, &n);
  if (!p)
    return fail(c, "info.pieces: must be a string");
  if (n % 20)
    return fail(c, "info.pieces: length %zu is not a multiple of 20", n);
  uint64_t want = (m->total_length + m->piece_length - 1) / m->piece_length;
  if (want > SH_METAINFO_MAX_PIECES)
    return fail(c, "info.pieces: %llu pieces, more than the limit of %u", (unsigned long long)want,
                SH_METAINFO_MAX_PIECES);
  if (n / 20 != want)
    return fail(c, "info.pieces: %zu hashes, but %llu bytes in pieces of %u need %llu", n / 20,
                (unsigned long long)m->total_length, m->piece_length, (unsigned long long)want);
  m->num_pieces = (uint32_t)want;
  if (!(m->piece_hashes = malloc(n ? n : 1)))
    return -ENOMEM;
  memcpy(m->piece_hashes, p, n);

  int pv = be_dict_get(c->d, info, "private");
  if (pv >= 0) {
    int64_t v;
    if (be_int(c->d, pv, &v))
      return fail(c, "info.private: must be an integer");
    m->is_private = v == 1; /* BEP 27: only 1 means private */
  }
  return opt_text(c, info, "source", "info.source", &m->source);
}

int sh_metainfo_parse(const void *buf, size_t len, struct sh_metainfo **out, char *err, size_t errlen)
{
  *out = NULL;
  if (err && errlen)
    err[0] = 0;
  if (len > SH_METAINFO_MAX_BYTES) {
    if (err && errlen)
      snprintf(err, errlen, "%zu bytes: larger than the %u MiB limit for torrent files", len,
               SH_METAINFO_MAX_BYTES >> 20);
    return SH_EMETAINFO;
  }
  struct sh_metainfo *m = calloc(1, sizeof *m);
  if (!m)
    return -ENOMEM;
  if (!(m->raw = malloc(len ? len : 1))) {
    free(m);
    return -ENOMEM;
  }
  memcpy(m->raw, buf, len);
  m->raw_len = len;

  /* Lax key order; the depth of 100 is far beyond the 5 levels a torrent
   * needs and keeps recursion-free parsing cheap. */
  struct be_opts opts = {BE_DEFAULT_MAX_DEPTH, SH_METAINFO_MAX_TOKENS, 0, 0};
  struct be_doc d;
  struct ctx c = {&d, m, err, errlen};
  int rc = be_parse(&d, m->raw, len, &opts);
  if (rc == SH_EBENCODE && d.ntok >= SH_METAINFO_MAX_TOKENS) {
    rc = fail(&c, "more than %u bencode values (at byte %zu): over the limit for torrent files",
              SH_METAINFO_MAX_TOKENS, d.err_off);
    goto out;
  }
  if (rc == SH_EBENCODE) {
    if (err && errlen)
      snprintf(err, errlen, "bencode error at byte %zu: %s", d.err_off, d.err);
    goto out;
  }
  if (rc)
    goto out;
  if (d.tok[0].type != BE_DICT) {
    rc = fail(&c, "top level: must be a dictionary");
    goto out;
  }
  int info = be_dict_get(&d, 0, "info");
  if (info < 0) {
    rc = fail(&c, "info: missing");
    goto out;
  }
  if (d.tok[info].type != BE_DICT) {
    rc = fail(&c, "info: must be a dictionary");
    goto out;
  }
  m->info_off = d.tok[info].start;
  m->info_len = d.tok[info].end - d.tok[info].start;
  sh_sha1(m->raw + m->info_off, m->info_len, m->info_hash);
  sh_hex(m->info_hash, 20, m->info_hash_hex);

  if ((rc = parse_info(&c, info)) || (rc = parse_tiers(&c, 0)) || (rc = parse_web_seeds(&c, 0)) ||
      (rc = opt_text(&c, 0, "comment", "comment", &m->comment)) ||
      (rc = opt_text(&c, 0, "created by", "created by", &m->created_by)))
    goto out;
  int cd = be_dict_get(&d, 0, "creation date");
  if (cd >= 0 && be_int(&d, cd, &m->creation_date)) {
    rc = fail(&c, "creation date: must be an integer");
    goto out;
  }
out:
  be_free(&d);
  if (rc) {
    if (rc == -ENOMEM && err && errlen && !err[0])
      snprintf(err, errlen, "out of memory");
    sh_metainfo_free(m);
    return rc;
  }
  *out = m;
  return 0;
}

int sh_metainfo_load(const char *path, struct sh_metainfo **out, char *err, size_t errlen)
{
  *out = NULL;
  uint8_t *buf;
  size_t len;
  int e = sh_read_file(path, MI_MAX_FILE_SIZE, &buf, &len);
  if (e == SH_ELIMIT)
    return sh_errf(err, errlen, SH_EMETAINFO,
                   "%s: %zu bytes: larger than the %u MiB limit for torrent files", path, len,
                   MI_MAX_FILE_SIZE >> 20);
  if (e == -EISDIR)
    return sh_errf(err, errlen, e, "%s: not a regular file", path);
  if (e == -EIO)
    return sh_errf(err, errlen, e, "%s: file shrank while reading", path);
  if (e)
    return sh_errf(err, errlen, e, "%s: %s", path, sh_strerror(e));
  char why[512];
  int rc = sh_metainfo_parse(buf, len, out, why, sizeof why);
  free(buf);
  if (rc)
    snprintf(err, errlen, "%s: %s", path, why);
  return rc;
}

void sh_metainfo_free(struct sh_metainfo *m)
{
  if (!m)
    return;
  free(m->name);
  free(m->piece_hashes);
  for (size_t i = 0; i < m->num_files; i++) {
    free(m->files[i].path);
    free(m->files[i].symlink_target);
  }
  free(m->files);
  for (size_t i = 0; i < m->num_tiers; i++) {
    for (size_t j = 0; j < m->tiers[i].n; j++)
      free(m->tiers[i].urls[j]);
    free(m->tiers[i].urls);
  }
  free(m->tiers);
  for (size_t i = 0; i < m->num_web_seeds; i++)
    free(m->web_seeds[i]);
  free(m->web_seeds);
  free(m->comment);
  free(m->created_by);
  free(m->source);
  free(m->raw);
  free(m);
}
