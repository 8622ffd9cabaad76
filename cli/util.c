/* Shared command-line helpers (see util.h). */
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

int cli_parse_size(const char *s, uint64_t *out)
{
  if (!s || !isdigit((unsigned char)*s))
    return -1;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno)
    return -1;
  int shift = 0;
  switch (toupper((unsigned char)*end)) {
  case 'K': shift = 10; break;
  case 'M': shift = 20; break;
  case 'G': shift = 30; break;
  case 'T': shift = 40; break;
  case 0: break;
  default: return -1;
  }
  if (shift) {
    end++;
    if (!strcasecmp(end, "iB"))
      end += 2;
    else if (!strcasecmp(end, "B"))
      end += 1;
  }
  if (*end)
    return -1;
  if (shift && v > (UINT64_MAX >> shift))
    return -1;
  *out = (uint64_t)v << shift;
  return 0;
}

int cli_parse_int(const char *s, long min, long max, long *out)
{
  if (!s || !*s)
    return -1;
  errno = 0;
  char *end;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

void cli_human_size(uint64_t n, char *buf, size_t len)
{
  static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (n < 1024) {
    snprintf(buf, len, "%llu B", (unsigned long long)n);
    return;
  }
  double v = (double)n;
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    u++;
  }
  snprintf(buf, len, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

double cli_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void cli_progress_start(struct cli_progress *p, const char *label, uint64_t total)
{
  p->enabled = isatty(STDERR_FILENO);
  p->label = label;
  p->total = total;
  p->start = cli_now();
  p->last = 0;
}

void cli_progress_update(struct cli_progress *p, uint64_t done)
{
  if (!p->enabled)
    return;
  double now = cli_now();
  if (now - p->last < 0.1 && done < p->total)
    return;
  p->last = now;
  double frac = p->total ? (double)done / (double)p->total : 1;
  if (frac > 1)
    frac = 1;
  char bar[31];
  int fill = (int)(frac * 30);
  for (int i = 0; i < 30; i++)
    bar[i] = i < fill ? '#' : '.';
  bar[30] = 0;
  double el = now - p->start;
  double rate = el > 0 ? (double)done / el : 0;
  char rs[32] = "";
  if (rate >= 1e9)
    snprintf(rs, sizeof rs, "%.2f GB/s", rate / 1e9);
  else
    snprintf(rs, sizeof rs, "%.1f MB/s", rate / 1e6);
  long eta = rate > 0 ? (long)((double)(p->total - (done < p->total ? done : p->total)) / rate + 0.5) : 0;
  fprintf(stderr, "\r%s %3d%% [%s] %s ETA %ld:%02ld ", p->label, (int)(frac * 100), bar, rs, eta / 60,
          eta % 60);
  fflush(stderr);
}

void cli_progress_end(struct cli_progress *p)
{
  if (!p->enabled)
    return;
  fprintf(stderr, "\r%*s\r", 80, "");
  fflush(stderr);
}

/* Length of the valid UTF-8 sequence at s (max n bytes), or 0 if invalid
 * (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
  unsigned c = s[0];
  size_t len;
  unsigned min;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    len = 2, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef)
    len = 3, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4)
    len = 4, min = 0x10000;
  else
    return 0;
  if (n < len)
    return 0;
  unsigned cp = c & (0x7f >> len);
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

void cli_json_str(FILE *f, const char *str, size_t n)
{
  const unsigned char *s = (const unsigned char *)str;
  fputc('"', f);
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c == '"' || c == '\\') {
      fputc('\\', f);
      fputc(c, f);
      i++;
    } else if (c < 0x20 || c == 0x7f) {
      switch (c) {
      case '\n': fputs("\\n", f); break;
      case '\r': fputs("\\r", f); break;
      case '\t': fputs("\\t", f); break;
      case '\b': fputs("\\b", f); break;
      case '\f': fputs("\\f", f); break;
      default: fprintf(f, "\\u%04x", c);
      }
      i++;
    } else {
      size_t len = utf8_len(s + i, n - i);
      if (!len) {
        fputs("\\ufffd", f);
        i++;
      } else {
        fwrite(s + i, 1, len, f);
        i += len;
      }
    }
  }
  fputc('"', f);
}

void cli_print_safe(FILE *f, const char *s)
{
  size_t n = strlen(s);
  char small[512], *buf = n < sizeof small ? small : malloc(n + 1);
  if (!buf) {
    for (; *s; s++) /* out of memory: the plainest form, ASCII only */
      fputc((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f ? '?' : *s, f);
    return;
  }
  shoal_text_safe(buf, n + 1, s);
  fputs(buf, f);
  if (buf != small)
    free(buf);
}

const char *cli_safe(char *buf, size_t cap, const char *s)
{
  shoal_text_safe(buf, cap, s ? s : "");
  return buf;
}

void cli_vsay(FILE *f, const char *fmt, va_list ap)
{
  char msg[2048];
  vsnprintf(msg, sizeof msg, fmt, ap);
  /* our own line breaks at either end stay; anything inside is text */
  char *b = msg, *e = msg + strlen(msg);
  while (*b == '\n')
    fputc(*b++, f);
  size_t tail = 0;
  while (e > b && e[-1] == '\n')
    e--, tail++;
  *e = 0;
  shoal_text_safe(b, (size_t)(e - b) + 1, b);
  fputs(b, f);
  while (tail--)
    fputc('\n', f);
}

void cli_say(FILE *f, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  cli_vsay(f, fmt, ap);
  va_end(ap);
}

void cli_raise_nofile(unsigned long want)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
    return;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

void cli_log_sink(void *ud, enum shoal_log_level level, const char *msg)
{
  static const char *names[] = {"error", "warn", "info", "debug"};
  (void)ud;
  unsigned l = (unsigned)level;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  fprintf(stderr, "%02d:%02d:%02d.%03ld %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
          ts.tv_nsec / 1000000, l < 4 ? names[l] : "log", msg);
}

void cli_log(enum shoal_log_level level, const char *fmt, ...)
{
  if (level > shoal_log_get_level())
    return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  shoal_text_safe(msg, sizeof msg, msg); /* as the library's own lines are */
  cli_log_sink(NULL, level, msg);
}

int cli_refuse_magnet(const char *cmd, const char *arg)
{
  if (strncasecmp(arg, "magnet:", 7))
    return 0;
  fprintf(stderr, "shoal %s: a magnet link holds no metadata; give the .torrent file "
          "(shoal get --save-torrent FILE writes it out once fetched)\n", cmd);
  return 1;
}
