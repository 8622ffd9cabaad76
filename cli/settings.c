/* Table-driven settings: command line, config files, --help; see settings.h. */
#include "settings.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static size_t index_of(const struct settings *s, const struct setting *o)
{
  return (size_t)(o - s->table);
}

/* ---- storing ---- */

/* Integers of any width: the value is in range for the field (the table's
 * min and max say so), so its low bytes are the field's value whether the
 * field is signed or not. */
static void store_int(struct settings *s, const struct setting *o, long long v)
{
  char *p = (char *)s->base + o->off;
  switch (o->size) {
  case 1: { uint8_t x = (uint8_t)v; memcpy(p, &x, 1); break; }
  case 2: { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); break; }
  case 4: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
  case 8: { uint64_t x = (uint64_t)v; memcpy(p, &x, 8); break; }
  default: break; /* 0: no destination */
  }
}

static const char *own_str(struct settings *s, const char *v)
{
  if (s->nstrs == s->capstrs) {
    size_t cap = s->capstrs ? 2 * s->capstrs : 16;
    char **n = realloc(s->strs, cap * sizeof *n);
    if (!n)
      return NULL;
    s->strs = n;
    s->capstrs = cap;
  }
  char *d = strdup(v);
  if (d)
    s->strs[s->nstrs++] = d;
  return d;
}

static struct settings_list *list_of(struct settings *s, const struct setting *o)
{
  return (struct settings_list *)((char *)s->base + o->off);
}

static int oom(struct settings *s)
{
  snprintf(s->err, sizeof s->err, "out of memory");
  return -ENOMEM;
}

/* ---- parsing one value ---- */

/* 16384 -> "16K": the largest binary suffix that keeps the number exact. */
static void fmt_size(long v, char *buf, size_t cap)
{
  static const char suffix[] = "KMGT";
  int k = -1;
  while (k < 3 && v && v % 1024 == 0) {
    v /= 1024;
    k++;
  }
  if (k < 0)
    snprintf(buf, cap, "%ld", v);
  else
    snprintf(buf, cap, "%ld%c", v, suffix[k]);
}

/* "90", "90s", "15m", "2h", "1d" -> seconds. Returns 0 or -1. */
static int parse_duration(const char *v, long *out)
{
  if (!isdigit((unsigned char)*v))
    return -1;
  errno = 0;
  char *end;
  unsigned long n = strtoul(v, &end, 10);
  unsigned long unit = 1;
  switch (*end) {
  case 0: break;
  case 's': unit = 1; end++; break;
  case 'm': unit = 60; end++; break;
  case 'h': unit = 3600; end++; break;
  case 'd': unit = 86400; end++; break;
  default: return -1;
  }
  if (errno || *end || n > (unsigned long)LONG_MAX / unit)
    return -1;
  *out = (long)(n * unit);
  return 0;
}

static int parse_bool(const struct setting *o, const char *v, long *out)
{
  static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false", "off", "0"};
  for (size_t i = 0; i < 4; i++) {
    if (!v || !*v || !strcasecmp(v, yes[i])) {
      *out = o->yes;
      return 0;
    }
    if (!strcasecmp(v, no[i])) {
      *out = o->no;
      return 0;
    }
  }
  return -1;
}

static void enum_expected(const struct setting *o, char *buf, size_t cap)
{
  size_t k = 0, n = 0;
  while (o->choices[n])
    n++;
  buf[0] = 0;
  for (size_t i = 0; i < n && k < cap; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ",
                          o->choices[i]);
}

/* Checks v against o; numbers go to *num. On error s->err says what was
 * expected, after "LABEL VALUE: ". */
static int parse_value(struct settings *s, const struct setting *o, const char *v,
                       const char *label, long *num)
{
  char want[256] = "";
  switch (o->type) {
  case SETTING_BOOL:
    if (parse_bool(o, v, num) == 0)
      return 0;
    snprintf(want, sizeof want, "expected yes or no");
    break;
  case SETTING_INT:
    if (o->word && !strcmp(v, o->word)) {
      *num = o->word_value;
      return 0;
    }
    if (cli_parse_int(v, o->min, o->max, num) == 0)
      return 0;
    snprintf(want, sizeof want, "expected a number from %ld to %ld%s%s", o->min, o->max,
             o->word ? ", or " : "", o->word ? o->word : "");
    break;
  case SETTING_SIZE: {
    uint64_t b;
    if (cli_parse_size(v, &b) == 0 && b >= (uint64_t)o->min && b <= (uint64_t)o->max) {
      *num = (long)b;
      return 0;
    }
    char lo[32], hi[32];
    fmt_size(o->min, lo, sizeof lo);
    fmt_size(o->max, hi, sizeof hi);
    snprintf(want, sizeof want, "expected a size from %s to %s bytes (a number, or with K, M, G or T)",
             lo, hi);
    break;
  }
  case SETTING_DURATION:
    if (parse_duration(v, num) == 0 && *num >= o->min && *num <= o->max) {
      if (o->flags & SETTING_MS)
        *num *= 1000;
      return 0;
    }
    snprintf(want, sizeof want,
             "expected a duration from %ld to %ld seconds (a number, or with s, m, h or d)", o->min,
             o->max);
    break;
  case SETTING_ENUM:
    for (long i = 0; o->choices[i]; i++)
      if (!strcmp(v, o->choices[i])) {
        *num = i;
        return 0;
      }
    snprintf(want, sizeof want, "expected ");
    enum_expected(o, want + 9, sizeof want - 9);
    break;
  case SETTING_STRING:
  case SETTING_LIST:
    if (*v || !(o->flags & SETTING_NONEMPTY))
      return 0;
    snprintf(s->err, sizeof s->err, "%s must not be empty", label);
    return -EINVAL;
  case SETTING_CONFIG:
    return 0;
  }
  if (v && *v)
    snprintf(s->err, sizeof s->err, "%s %s: %s", label, v, want);
  else
    snprintf(s->err, sizeof s->err, "%s '': %s", label, want);
  return -EINVAL;
}

/* ---- the public calls ---- */

const struct setting *settings_find(const struct settings *s, const char *name)
{
  for (size_t i = 0; i < s->n; i++)
    if (!strcmp(s->table[i].name, name))
      return &s->table[i];
  return NULL;
}

const struct setting *settings_find_alias(const struct settings *s, const char *alias)
{
  for (size_t i = 0; i < s->n; i++)
    if (s->table[i].alias && !strcmp(s->table[i].alias, alias))
      return &s->table[i];
  return NULL;
}

int settings_set(struct settings *s, const struct setting *o, const char *value,
                 enum settings_source src, const char *label)
{
  if (!value && o->type != SETTING_BOOL) {
    snprintf(s->err, sizeof s->err, "%s needs a value", label);
    return -EINVAL;
  }
  long num = 0;
  int rc = parse_value(s, o, value, label, &num);
  if (rc < 0)
    return rc;
  size_t i = index_of(s, o);
  if (src < s->src[i] || o->size == 0)
    return 0; /* checked, but a stronger source has set it */
  if (o->type == SETTING_LIST) {
    struct settings_list *l = list_of(s, o);
    if (src > s->src[i])
      l->n = 0; /* the first value from a stronger source replaces the list */
    if (o->max && l->n >= (size_t)o->max) {
      snprintf(s->err, sizeof s->err, "%s %s: too many (at most %ld)", label, value, o->max);
      return -EINVAL;
    }
    const char **v = realloc((void *)l->v, (l->n + 1) * sizeof *v);
    if (!v)
      return oom(s);
    l->v = v;
    if (!(v[l->n] = own_str(s, value)))
      return oom(s);
    l->n++;
  } else if (o->type == SETTING_STRING) {
    const char *d = own_str(s, value);
    if (!d)
      return oom(s);
    memcpy((char *)s->base + o->off, &d, sizeof d);
  } else {
    store_int(s, o, num);
  }
  s->src[i] = (unsigned char)src;
  return 0;
}

static int entry_ok(const struct setting *o)
{
  switch (o->type) {
  case SETTING_STRING:
    return o->size == sizeof(const char *);
  case SETTING_LIST:
    return o->size == sizeof(struct settings_list);
  case SETTING_CONFIG:
    return o->size == 0;
  case SETTING_ENUM:
    if (!o->choices)
      return 0;
    /* fall through */
  default:
    return o->size == 0 || o->size == 1 || o->size == 2 || o->size == 4 || o->size == 8;
  }
}

int settings_init(struct settings *s, const struct setting *table, size_t n, void *base)
{
  memset(s, 0, sizeof *s);
  s->table = table;
  s->n = n;
  s->base = base;
  s->src = calloc(n ? n : 1, 1);
  if (!s->src)
    return oom(s);
  for (size_t i = 0; i < n; i++) {
    const struct setting *o = &table[i];
    if (!entry_ok(o)) {
      snprintf(s->err, sizeof s->err, "setting '%s': bad table entry", o->name);
      return -EINVAL;
    }
    if (o->type == SETTING_LIST && o->size)
      *list_of(s, o) = (struct settings_list){NULL, 0};
    if (!o->def)
      continue;
    char label[128];
    snprintf(label, sizeof label, "default of %s", o->name);
    int rc = settings_set(s, o, o->def, SETTINGS_DEFAULT, label);
    if (rc < 0)
      return rc;
  }
  return 0;
}

void settings_free(struct settings *s)
{
  for (size_t i = 0; i < s->n; i++)
    if (s->table[i].type == SETTING_LIST && s->table[i].size) {
      struct settings_list *l = list_of(s, &s->table[i]);
      free((void *)l->v);
      *l = (struct settings_list){NULL, 0};
    }
  for (size_t i = 0; i < s->nstrs; i++)
    free(s->strs[i]);
  free(s->strs);
  free(s->src);
  s->strs = NULL;
  s->src = NULL;
  s->nstrs = s->capstrs = 0;
}

int settings_is_set(const struct settings *s, const char *name)
{
  const struct setting *o = settings_find(s, name);
  return o && s->src[index_of(s, o)] > SETTINGS_DEFAULT;
}

/* ---- config files ---- */

/* One line, comment and surrounding blanks removed, split into its name and
 * its value (which may be empty). Returns 0 for a blank line. */
static int split_line(char *line, char **name, char **value)
{
  char *p = line + strspn(line, " \t");
  char *hash = strchr(p, '#');
  if (hash)
    *hash = 0;
  size_t l = strlen(p);
  while (l && strchr(" \t\r\n", p[l - 1]))
    p[--l] = 0;
  if (!l)
    return 0;
  size_t kl = strcspn(p, " \t=");
  char *v = p + kl;
  v += strspn(v, " \t=");
  p[kl] = 0;
  *name = p;
  *value = v;
  return 1;
}

static int load_line(struct settings *s, const char *path, unsigned lineno, char *line)
{
  char *name, *value;
  if (!split_line(line, &name, &value))
    return 0;
  const struct setting *o = settings_find(s, name);
  if (!o) {
    snprintf(s->err, sizeof s->err, "%s:%u: unknown option '%s'", path, lineno, name);
    return -EINVAL;
  }
  if (o->type == SETTING_CONFIG || (o->flags & SETTING_CMDLINE)) {
    snprintf(s->err, sizeof s->err, "%s:%u: '%s' can only be given on the command line", path,
             lineno, name);
    return -EINVAL;
  }
  if (!*value && o->type != SETTING_BOOL) {
    snprintf(s->err, sizeof s->err, "%s:%u: option '%s' needs a value", path, lineno, name);
    return -EINVAL;
  }
  char label[512];
  snprintf(label, sizeof label, "%s:%u: %s", path, lineno, name);
  return settings_set(s, o, *value ? value : NULL, SETTINGS_FILE, label);
}

/* opt names the command-line option that named the file, for the message
 * when it cannot be read ("--config FILE: ..."), or is NULL. */
static int load_file(struct settings *s, const char *path, const char *opt)
{
  FILE *f = fopen(path, "r");
  if (!f) {
    int e = -errno;
    snprintf(s->err, sizeof s->err, "%s%s%s: %s", opt ? opt : "", opt ? " " : "", path,
             strerror(errno));
    return e;
  }
  char *line = NULL;
  size_t cap = 0;
  unsigned lineno = 0;
  int rc = 0;
  while (rc == 0 && getline(&line, &cap, f) >= 0)
    rc = load_line(s, path, ++lineno, line);
  if (rc == 0 && ferror(f)) {
    snprintf(s->err, sizeof s->err, "%s: read error", path);
    rc = -EIO;
  }
  free(line);
  fclose(f);
  return rc;
}

int settings_load_file(struct settings *s, const char *path) { return load_file(s, path, NULL); }

/* ---- the command line ---- */

struct seen {
  const struct setting *o;
  const char *value;
};

/* getopt_long's tables from ours: long options return 256 + the index. */
static int getopt_tables(const struct settings *s, struct option **longopts, char **shortopts)
{
  *longopts = calloc(s->n + 1, sizeof **longopts);
  *shortopts = calloc(2 * s->n + 1, 1);
  if (!*longopts || !*shortopts)
    return -ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < s->n; i++) {
    const struct setting *o = &s->table[i];
    int arg = o->type == SETTING_BOOL ? no_argument : required_argument;
    (*longopts)[i] = (struct option){o->name, arg, NULL, 256 + (int)i};
    if (o->short_name) {
      (*shortopts)[k++] = (char)o->short_name;
      if (arg == required_argument)
        (*shortopts)[k++] = ':';
    }
  }
  return 0;
}

static const struct setting *by_short(const struct settings *s, int c)
{
  for (size_t i = 0; i < s->n; i++)
    if (s->table[i].short_name == c)
      return &s->table[i];
  return NULL;
}

/* Reads argv into seen[]; returns the count, -1 for getopt's own errors (it
 * printed them), or -2 when a SETTING_STOP option came up. */
static int collect(struct settings *s, int argc, char **argv, const struct option *lo,
                   const char *so, struct seen *seen)
{
  int n = 0, c;
  optind = 0; /* glibc: start afresh, even after an earlier parse */
  while ((c = getopt_long(argc, argv, so, lo, NULL)) != -1) {
    const struct setting *o = c >= 256 ? &s->table[c - 256] : by_short(s, c);
    if (!o)
      return -1;
    if (o->flags & SETTING_STOP)
      return -2;
    seen[n++] = (struct seen){o, optarg};
  }
  return n;
}

int settings_parse_args(struct settings *s, int argc, char **argv, int *first_arg)
{
  struct option *lo = NULL;
  char *so = NULL;
  struct seen *seen = calloc((size_t)argc + 1, sizeof *seen);
  int rc = 0;
  s->err[0] = 0;
  if (!seen || getopt_tables(s, &lo, &so) < 0) {
    rc = oom(s);
    goto out;
  }
  int n = collect(s, argc, argv, lo, so, seen);
  if (n < 0) {
    rc = n == -2 ? 1 : -EINVAL;
    goto out;
  }
  *first_arg = optind;
  /* files first, so that a message about a file comes before one about the
   * command line; precedence does not depend on it */
  for (int i = 0; i < n && rc == 0; i++)
    if (seen[i].o->type == SETTING_CONFIG)
      rc = load_file(s, seen[i].value, "--config");
  for (int i = 0; i < n && rc == 0; i++) {
    if (seen[i].o->type == SETTING_CONFIG)
      continue;
    char label[128];
    snprintf(label, sizeof label, "--%s", seen[i].o->name);
    rc = settings_set(s, seen[i].o, seen[i].value, SETTINGS_CMDLINE, label);
  }
out:
  free(seen);
  free(lo);
  free(so);
  return rc;
}

/* ---- --help ---- */

#define HELP_COLUMN 26

void settings_usage(const struct setting *table, size_t n, FILE *f)
{
  for (size_t i = 0; i < n; i++) {
    const struct setting *o = &table[i];
    char left[128];
    int w;
    if (o->short_name)
      w = snprintf(left, sizeof left, "  -%c, --%s", o->short_name, o->name);
    else
      w = snprintf(left, sizeof left, "      --%s", o->name);
    if (o->arg)
      w += snprintf(left + w, sizeof left - (size_t)w, " %s", o->arg);
    const char *h = o->help ? o->help : "";
    if (w > HELP_COLUMN - 2)
      fprintf(f, "%s\n%*s", left, HELP_COLUMN, "");
    else
      fprintf(f, "%-*s", HELP_COLUMN, left);
    /* each '\n' in the help text starts a line at the help column */
    for (const char *nl; (nl = strchr(h, '\n')); h = nl + 1)
      fprintf(f, "%.*s\n%*s", (int)(nl - h), h, HELP_COLUMN, "");
    fprintf(f, "%s\n", h);
  }
}
