/* torrent-set's tracker edits (trackerAdd, trackerRemove, trackerReplace,
 * trackerList) and the list the database keeps so a restart announces to
 * the same trackers: trackerList's text, one URL a line, a blank line
 * between tiers (BEP 12). A tracker's id is its index in torrent-get's
 * `trackers`, as rpc_get.c numbers them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "daemon/daemon.h"
#include "daemon/store.h"

/* More trackers than this on one torrent is a mistake or an attack: the
 * largest public announce-lists have a few dozen. */
#define TL_MAX 200
/* shoal_tracker_info.url holds 511 bytes */
#define TL_URL_MAX 511

struct tl {
  char *url[TL_MAX];
  int tier[TL_MAX];
  size_t n;
};

static void tl_free(struct tl *l)
{
  for (size_t i = 0; i < l->n; i++)
    free(l->url[i]);
  l->n = 0;
}

/* An announce URL a tracker client can use: http, https or udp, printable,
 * no spaces (a tracker's URL reaches logs, the web UI and the database). */
static int url_ok(const char *u, size_t len)
{
  if (!len || len > TL_URL_MAX)
    return 0;
  if (strncmp(u, "http://", 7) && strncmp(u, "https://", 8) && strncmp(u, "udp://", 6))
    return 0;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)u[i] <= 0x20 || u[i] == 0x7f)
      return 0;
  return 1;
}

static int tl_find(const struct tl *l, const char *u)
{
  for (size_t i = 0; i < l->n; i++)
    if (!strcmp(l->url[i], u))
      return (int)i;
  return -1;
}

static const char *tl_push(struct tl *l, const char *u, size_t len, int tier)
{
  if (!url_ok(u, len))
    return "invalid tracker announce URL";
  if (l->n >= TL_MAX)
    return "too many trackers";
  if (!(l->url[l->n] = strndup(u, len)))
    return "out of memory";
  l->tier[l->n++] = tier;
  return NULL;
}

/* trackerList's text: one URL a line, blank lines between tiers. */
static const char *tl_parse(struct tl *l, const char *s)
{
  int tier = 0, in_tier = 0;
  while (*s) {
    size_t len = strcspn(s, "\n");
    size_t end = len;
    while (end && (s[end - 1] == '\r' || s[end - 1] == ' '))
      end--;
    if (!end) {
      tier += in_tier;
      in_tier = 0;
    } else {
      char u[TL_URL_MAX + 1];
      if (end > TL_URL_MAX)
        return "invalid tracker announce URL";
      memcpy(u, s, end);
      u[end] = 0;
      const char *why = tl_find(l, u) < 0 ? tl_push(l, u, end, tier) : NULL;
      if (why)
        return why;
      in_tier = 1;
    }
    s += len + (s[len] == '\n');
  }
  return NULL;
}

static char *tl_text(const struct tl *l)
{
  size_t cap = 1;
  for (size_t i = 0; i < l->n; i++)
    cap += strlen(l->url[i]) + 2;
  char *s = calloc(1, cap), *p = s;
  for (size_t i = 0; s && i < l->n; i++) {
    if (i && l->tier[i] != l->tier[i - 1])
      *p++ = '\n';
    size_t n = strlen(l->url[i]);
    memcpy(p, l->url[i], n);
    p += n;
    *p++ = '\n';
  }
  return s;
}

static const char *tl_from_engine(struct tl *l, struct shoal_daemon *d, const struct dtor *t)
{
  size_t n = shoal_torrent_trackers(d->sess, t->eid, NULL, 0);
  struct shoal_tracker_info *tr = n ? malloc(n * sizeof *tr) : NULL;
  if (n && !tr)
    return "out of memory";
  n = shoal_torrent_trackers(d->sess, t->eid, tr, n);
  const char *why = NULL;
  for (size_t i = 0; i < n && !why; i++)
    why = tl_push(l, tr[i].url, strlen(tr[i].url), tr[i].tier);
  free(tr);
  return why;
}

char *sh_daemon_trackers_text(struct shoal_daemon *d, const struct dtor *t)
{
  struct tl l = {.n = 0};
  char *text = !tl_from_engine(&l, d, t) && l.n ? tl_text(&l) : NULL;
  tl_free(&l);
  return text;
}

size_t sh_daemon_trackers_parse(const char *text, struct shoal_tracker_info **out)
{
  struct tl l = {.n = 0};
  *out = NULL;
  tl_parse(&l, text ? text : ""); /* our own text: what parses is all there is */
  struct shoal_tracker_info *tr = l.n ? calloc(l.n, sizeof *tr) : NULL;
  size_t n = tr ? l.n : 0;
  for (size_t i = 0; i < n; i++) {
    snprintf(tr[i].url, sizeof tr[i].url, "%s", l.url[i]);
    tr[i].tier = l.tier[i];
    tr[i].seeders = tr[i].leechers = -1;
  }
  tl_free(&l);
  *out = tr;
  return n;
}

/* Hands the list to the engine, consecutive URLs of one tier as a tier. */
static int tl_apply(const struct tl *l, struct shoal_daemon *d, const struct dtor *t)
{
  struct shoal_tracker_tier tiers[TL_MAX];
  size_t nt = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (!i || l->tier[i] != l->tier[i - 1])
      tiers[nt++] = (struct shoal_tracker_tier){(const char *const *)&l->url[i], 0};
    tiers[nt - 1].num_urls++;
  }
  return shoal_torrent_set_trackers(d->sess, t->eid, tiers, nt);
}

int sh_daemon_load_trackers(struct shoal_daemon *d, const struct dtor *t, const char *text)
{
  struct tl l = {.n = 0};
  const char *why = tl_parse(&l, text);
  int rc = why ? -1 : tl_apply(&l, d, t);
  if (rc < 0)
    sh_warn("%s: the trackers set before cannot be used: %s", t->hash_hex,
            why ? why : "out of memory");
  tl_free(&l);
  return rc;
}

/* trackerAdd: URLs, each a new tier after the others (a URL there is
 * left as it is). */
static const char *tl_add(struct tl *l, json_t *a)
{
  if (!json_is_array(a))
    return "invalid argument";
  for (size_t i = 0; i < json_array_size(a); i++) {
    const char *u = json_string_value(json_array_get(a, i));
    if (!u)
      return "invalid argument";
    if (tl_find(l, u) >= 0)
      continue;
    const char *why = tl_push(l, u, strlen(u), l->n ? l->tier[l->n - 1] + 1 : 0);
    if (why)
      return why;
  }
  return NULL;
}

/* trackerReplace: [id, URL, id, URL...]; ids are those of the list before
 * this request (so before trackerAdd's, which come after them). */
static const char *tl_replace(struct tl *l, size_t before, json_t *a)
{
  if (!json_is_array(a) || json_array_size(a) % 2)
    return "invalid argument";
  for (size_t i = 0; i < json_array_size(a); i += 2) {
    json_t *id = json_array_get(a, i);
    const char *u = json_string_value(json_array_get(a, i + 1));
    if (!json_is_integer(id) || json_integer_value(id) < 0 ||
        (size_t)json_integer_value(id) >= before || !u)
      return "invalid argument";
    if (!url_ok(u, strlen(u)))
      return "invalid tracker announce URL";
    size_t k = (size_t)json_integer_value(id);
    int there = tl_find(l, u);
    if (there >= 0 && (size_t)there != k)
      return "the tracker is already in the list";
    char *c = strdup(u);
    if (!c)
      return "out of memory";
    free(l->url[k]);
    l->url[k] = c;
  }
  return NULL;
}

/* trackerRemove: ids of the list before this request. */
static const char *tl_remove(struct tl *l, size_t before, json_t *a)
{
  if (!json_is_array(a))
    return "invalid argument";
  uint8_t gone[TL_MAX] = {0};
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *id = json_array_get(a, i);
    if (!json_is_integer(id) || json_integer_value(id) < 0 ||
        (size_t)json_integer_value(id) >= before)
      return "invalid argument";
    gone[json_integer_value(id)] = 1;
  }
  size_t k = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (gone[i]) {
      free(l->url[i]);
      continue;
    }
    l->url[k] = l->url[i];
    l->tier[k++] = l->tier[i];
  }
  l->n = k;
  return NULL;
}

const char *sh_rpc_set_trackers(struct shoal_daemon *d, struct dtor *t, json_t *args)
{
  json_t *add = json_object_get(args, "trackerAdd");
  json_t *rem = json_object_get(args, "trackerRemove");
  json_t *rep = json_object_get(args, "trackerReplace");
  json_t *list = json_object_get(args, "trackerList");
  if (!add && !rem && !rep && !list)
    return NULL;
  struct tl l = {.n = 0};
  const char *why = NULL;
  if (list && !json_is_string(list))
    why = "invalid argument";
  else if (list)
    why = tl_parse(&l, json_string_value(list));
  else
    why = tl_from_engine(&l, d, t);
  size_t before = l.n;
  if (!why && rep)
    why = tl_replace(&l, before, rep);
  if (!why && add)
    why = tl_add(&l, add);
  if (!why && rem)
    why = tl_remove(&l, before, rem);
  char *text = why ? NULL : tl_text(&l);
  if (!why && !text)
    why = "out of memory";
  /* committed before the engine hears of it, as every change */
  if (!why && sh_store_set_trackers(d->db, t->rid, text) < 0)
    why = "cannot save the torrent";
  if (!why && tl_apply(&l, d, t) < 0)
    why = "cannot change the trackers";
  free(text);
  tl_free(&l);
  return why;
}
