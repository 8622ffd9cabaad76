/* multipart/form-data; see multipart.h. */
#include "tracker/multipart.h"

#include <string.h>
#include <strings.h>

int multipart_boundary(const char *ct, char *out, size_t cap)
{
  if (!ct || strncasecmp(ct, "multipart/form-data", 19))
    return -1;
  const char *p = ct + 19;
  while (*p) {
    while (*p == ';' || *p == ' ' || *p == '\t')
      p++;
    if (!strncasecmp(p, "boundary=", 9)) {
      p += 9;
      size_t n = 0;
      if (*p == '"') {
        const char *e = strchr(++p, '"');
        if (!e)
          return -1;
        n = (size_t)(e - p);
      } else {
        n = strcspn(p, "; \t");
      }
      if (n == 0 || n > 70 || n + 1 > cap)
        return -1;
      memcpy(out, p, n);
      out[n] = 0;
      return (int)n;
    }
    p += strcspn(p, ";");
  }
  return -1;
}

static const uint8_t *find(const uint8_t *h, size_t hl, const void *needle, size_t nl)
{
  return memmem(h, hl, needle, nl);
}

/* Finds `key="value"` in a Content-Disposition header line. */
static int disp_param(const char *line, size_t n, const char *key, const char **val, size_t *vlen)
{
  size_t kl = strlen(key);
  for (size_t i = 0; i + kl + 2 <= n; i++) {
    if ((i == 0 || line[i - 1] == ' ' || line[i - 1] == ';') && !strncasecmp(line + i, key, kl) &&
        line[i + kl] == '=' && line[i + kl + 1] == '"') {
      const char *s = line + i + kl + 2;
      const char *e = memchr(s, '"', n - (size_t)(s - line));
      if (!e)
        return 0;
      *val = s;
      *vlen = (size_t)(e - s);
      return 1;
    }
  }
  return 0;
}

int multipart_parse(const uint8_t *body, size_t len, const char *boundary,
                    struct multipart_part *parts, int max, const char **why)
{
  char delim[80];
  size_t bl = strlen(boundary);
  if (bl == 0 || bl > 70) {
    *why = "bad multipart boundary";
    return -1;
  }
  /* The delimiter is CRLF "--" boundary; the first one may lack the CRLF. */
  delim[0] = '\r';
  delim[1] = '\n';
  delim[2] = delim[3] = '-';
  memcpy(delim + 4, boundary, bl);
  size_t dl = bl + 4;
  const uint8_t *end = body + len;
  const uint8_t *p;
  if (len >= dl - 2 && !memcmp(body, delim + 2, dl - 2))
    p = body + dl - 2;
  else {
    const uint8_t *f = find(body, len, delim, dl);
    if (!f) {
      *why = "multipart body has no boundary";
      return -1;
    }
    p = f + dl;
  }
  int n = 0;
  for (;;) {
    /* after a delimiter: "--" ends the body, CRLF starts a part */
    if (end - p >= 2 && p[0] == '-' && p[1] == '-')
      return n;
    while (p < end && (*p == ' ' || *p == '\t'))
      p++;
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
      *why = "malformed multipart delimiter";
      return -1;
    }
    p += 2;
    const uint8_t *hend = find(p, (size_t)(end - p), "\r\n\r\n", 4);
    const uint8_t *data;
    if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
      hend = p; /* no headers at all */
      data = p + 2;
    } else if (!hend) {
      *why = "multipart part has no end of headers";
      return -1;
    } else {
      data = hend + 4;
    }
    const uint8_t *next = find(data, (size_t)(end - data), delim, dl);
    if (!next) {
      *why = "multipart part is not terminated";
      return -1;
    }
    if (n == max) {
      *why = "too many multipart parts";
      return -1;
    }
    struct multipart_part *pt = &parts[n++];
    memset(pt, 0, sizeof *pt);
    pt->data = data;
    pt->len = (size_t)(next - data);
    /* headers: look for Content-Disposition */
    const char *h = (const char *)p;
    while ((const uint8_t *)h < hend) {
      const char *le = memchr(h, '\r', (size_t)((const char *)hend - h));
      size_t ll = le ? (size_t)(le - h) : (size_t)((const char *)hend - h);
      if (ll > 20 && !strncasecmp(h, "content-disposition:", 20)) {
        disp_param(h + 20, ll - 20, "name", &pt->name, &pt->name_len);
        disp_param(h + 20, ll - 20, "filename", &pt->filename, &pt->filename_len);
      }
      h += ll + 2;
    }
    p = next + dl;
  }
}

const struct multipart_part *multipart_find(const struct multipart_part *parts, int n,
                                            const char *name)
{
  size_t l = strlen(name);
  for (int i = 0; i < n; i++)
    if (parts[i].name && parts[i].name_len == l && !memcmp(parts[i].name, name, l))
      return &parts[i];
  return NULL;
}
