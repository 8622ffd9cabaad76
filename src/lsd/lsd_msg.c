/* BEP 14 announces: formatting and parsing. See lsd_msg.h. */
#include "lsd/lsd_msg.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/sha1.h"

size_t sh_lsd_msg_format(uint8_t *out, size_t cap, int v6, uint16_t port,
                         const uint8_t (*ih)[20], size_t n, const char *cookie, size_t *used)
{
  char head[160], tail[64];
  int hl = snprintf(head, sizeof head, "BT-SEARCH * HTTP/1.1\r\nHost: %s:%d\r\nPort: %u\r\n",
                    v6 ? "[" SH_LSD_GROUP6 "]" : SH_LSD_GROUP4, SH_LSD_PORT, port);
  int tl = snprintf(tail, sizeof tail, "cookie: %.*s\r\n\r\n\r\n", SH_LSD_COOKIE_MAX, cookie);
  size_t limit = cap < SH_LSD_MAX_PACKET ? cap : SH_LSD_MAX_PACKET;
  /* "Infohash: " + 40 hex + CRLF */
  const size_t line = 10 + 40 + 2;
  size_t len = 0, k = 0;
  *used = 0;
  if ((size_t)hl + (size_t)tl + line > limit)
    return 0;
  memcpy(out, head, (size_t)hl);
  len = (size_t)hl;
  for (; k < n && len + line + (size_t)tl <= limit; k++) {
    memcpy(out + len, "Infohash: ", 10);
    sh_hex(ih[k], 20, (char *)out + len + 10); /* writes a NUL, overwritten next */
    memcpy(out + len + 50, "\r\n", 2);
    len += line;
  }
  memcpy(out + len, tail, (size_t)tl);
  *used = k;
  return len + (size_t)tl;
}

/* One header line's value, spaces trimmed: "Name: value". */
static int header(const char *line, size_t n, const char *name, const char **val, size_t *vlen)
{
  size_t k = strlen(name);
  if (n <= k || strncasecmp(line, name, k) || line[k] != ':')
    return 0;
  const char *v = line + k + 1, *end = line + n;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
    end--;
  *val = v;
  *vlen = (size_t)(end - v);
  return 1;
}

static void take_hash(struct sh_lsd_msg *m, const char *v, size_t n)
{
  uint8_t ih[20];
  int ok = n == 40 && m->nih < SH_LSD_MAX_HASHES;
  for (size_t i = 0; ok && i < 20; i++) {
    int hi = sh_hexval((unsigned char)v[2 * i]), lo = sh_hexval((unsigned char)v[2 * i + 1]);
    ok = hi >= 0 && lo >= 0;
    if (ok)
      ih[i] = (uint8_t)(hi << 4 | lo);
  }
  if (!ok) {
    m->skipped++;
    return;
  }
  for (int i = 0; i < m->nih; i++)
    if (!memcmp(m->ih[i], ih, 20))
      return;
  memcpy(m->ih[m->nih++], ih, 20);
}

static int take_port(struct sh_lsd_msg *m, const char *v, size_t n)
{
  unsigned long port = 0;
  if (n < 1 || n > 5)
    return -1;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9')
      return -1;
    port = port * 10 + (unsigned long)(v[i] - '0');
  }
  if (port < 1 || port > 65535)
    return -1;
  m->port = (uint16_t)port;
  return 0;
}

int sh_lsd_msg_parse(const uint8_t *p, size_t n, struct sh_lsd_msg *m, const char **why)
{
  memset(m, 0, sizeof *m);
  const char *s = (const char *)p, *end = s + n;
  int first = 1, bad_port = 0;
  while (s < end) {
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    const char *le = nl ? nl : end;
    size_t len = (size_t)(le - s) - (le > s && le[-1] == '\r');
    const char *v;
    size_t vl;
    if (first) {
      if (len < 10 || memcmp(s, "BT-SEARCH ", 10)) {
        *why = "not a BT-SEARCH announce";
        return -1;
      }
      first = 0;
    } else if (!len) {
      break; /* the end of the headers */
    } else if (header(s, len, "Port", &v, &vl)) {
      bad_port |= take_port(m, v, vl) < 0;
    } else if (header(s, len, "Infohash", &v, &vl)) {
      take_hash(m, v, vl);
    } else if (header(s, len, "cookie", &v, &vl)) {
      size_t k = vl < SH_LSD_COOKIE_MAX ? vl : SH_LSD_COOKIE_MAX;
      memcpy(m->cookie, v, k);
      m->cookie[k] = 0;
    }
    s = nl ? nl + 1 : end;
  }
  if (first)
    *why = "not a BT-SEARCH announce";
  else if (bad_port || !m->port)
    *why = "no valid Port";
  else if (!m->nih)
    *why = "no valid Infohash";
  else
    return 0;
  return -1;
}
