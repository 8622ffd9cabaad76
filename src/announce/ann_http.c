#include "announce/ann_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "announce/announce.h"
#include "base/bencode.h"
#include "base/error.h"

void ann_http_escape(struct sh_buf *b, const uint8_t *p, size_t n)
{
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    int unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                     (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      sh_buf_putc(b, c);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      sh_buf_append(b, e, 3);
    }
  }
}

static const char *event_name(enum ann_event e)
{
  switch (e) {
  case ANN_EV_STARTED: return "started";
  case ANN_EV_COMPLETED: return "completed";
  case ANN_EV_STOPPED: return "stopped";
  default: return NULL;
  }
}

void ann_http_announce_url(struct sh_buf *b, const char *base, const struct ann_req *q)
{
  /* a fragment is never sent to the server, so parameters appended after
   * one would be lost: cut it */
  size_t bl = strcspn(base, "#");
  sh_buf_append(b, base, bl);
  const char *qm = memchr(base, '?', bl);
  if (!qm)
    sh_buf_putc(b, '?');
  else if (base[bl - 1] != '?' && base[bl - 1] != '&')
    sh_buf_putc(b, '&');
  sh_buf_puts(b, "info_hash=");
  ann_http_escape(b, q->info_hash, 20);
  sh_buf_puts(b, "&peer_id=");
  ann_http_escape(b, q->peer_id, 20);
  sh_buf_printf(b, "&port=%u&uploaded=%llu&downloaded=%llu&left=%llu&compact=1",
                (unsigned)q->port, (unsigned long long)q->uploaded,
                (unsigned long long)q->downloaded, (unsigned long long)q->left);
  if (q->numwant >= 0)
    sh_buf_printf(b, "&numwant=%d", (int)q->numwant);
  sh_buf_printf(b, "&key=%08x", (unsigned)q->key);
  const char *ev = event_name(q->event);
  if (ev)
    sh_buf_printf(b, "&event=%s", ev);
  if (q->trackerid && q->trackerid[0]) {
    sh_buf_puts(b, "&trackerid=");
    ann_http_escape(b, (const uint8_t *)q->trackerid, strlen(q->trackerid));
  }
}

/* Trackers are often sloppy about key order (so not strict) and some end
 * the body with a newline (so trailing whitespace is allowed). 1<<17 tokens
 * covers a dictionary-model reply of ANN_MAX_PEERS peers (about 7 tokens
 * each) with room to spare; depth 8 is more than any reply needs. */
static int parse_root(struct be_doc *d, const uint8_t *body, size_t len, char *err,
                      size_t errlen)
{
  struct be_opts o = {8, 1u << 17, 0, 1};
  memset(d, 0, sizeof *d);
  if (len == 0) {
    snprintf(err, errlen, "empty reply");
    return SH_EPROTO;
  }
  int rc = be_parse(d, body, len, &o);
  if (rc == -ENOMEM) {
    snprintf(err, errlen, "out of memory");
    return rc;
  }
  if (rc < 0) {
    if (body[0] == '<')
      snprintf(err, errlen, "reply is an HTML page, not bencode");
    else
      snprintf(err, errlen, "reply is not bencode (%s at byte %zu)", d->err ? d->err : "?",
               d->err_off);
    return SH_EBENCODE;
  }
  for (size_t i = d->used; i < len; i++) {
    if (body[i] != ' ' && body[i] != '\r' && body[i] != '\n' && body[i] != '\t') {
      snprintf(err, errlen, "reply has junk after the bencoded value at byte %zu", i);
      return SH_EBENCODE;
    }
  }
  if (d->tok[0].type != BE_DICT) {
    snprintf(err, errlen, "reply is not a bencoded dictionary");
    return SH_EPROTO;
  }
  return 0;
}

/* "failure reason" wins over everything else in the reply (BEP 3). */
static int check_failure(const struct be_doc *d, char *err, size_t errlen)
{
  int f = be_dict_get(d, 0, "failure reason");
  if (f < 0)
    return 0;
  size_t n = 0;
  const uint8_t *s = be_str(d, f, &n);
  char *txt = s ? ann_sanitize(s, n) : NULL;
  snprintf(err, errlen, "%s", txt ? txt : "(failure reason of the wrong type)");
  free(txt);
  return SH_ETRACKER;
}

static uint32_t seconds(const struct be_doc *d, const char *key)
{
  int64_t v;
  if (be_int(d, be_dict_get(d, 0, key), &v) < 0 || v <= 0)
    return 0;
  return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static int64_t count(const struct be_doc *d, int dict, const char *key)
{
  int64_t v;
  if (be_int(d, be_dict_get(d, dict, key), &v) < 0 || v < 0)
    return -1;
  return v;
}

/* One entry of the dictionary model: {"ip": literal, "port": 1..65535}.
 * Hostnames are refused, never resolved: a tracker must not make us look
 * up (or connect to) names of its choosing. */
static int add_dict_peer(struct ann_reply *r, const struct be_doc *d, int e)
{
  size_t n = 0;
  const uint8_t *ip = be_str(d, be_dict_get(d, e, "ip"), &n);
  int64_t port;
  if (!ip || n == 0 || n > 45 || be_int(d, be_dict_get(d, e, "port"), &port) < 0 ||
      port < 1 || port > 65535) {
    r->dropped++;
    return 0;
  }
  char lit[46];
  memcpy(lit, ip, n);
  lit[n] = 0;
  struct sh_addr a = {.port = (uint16_t)port};
  if (memchr(lit, 0, n) == NULL && inet_pton(AF_INET, lit, a.ip) == 1)
    a.family = 4;
  else if (memchr(lit, 0, n) == NULL && inet_pton(AF_INET6, lit, a.ip) == 1)
    a.family = 6;
  if (!a.family) {
    r->dropped++;
    return 0;
  }
  return ann_reply_add(r, &a);
}

int ann_http_parse(const uint8_t *body, size_t len, struct ann_reply *r, char *err,
                   size_t errlen)
{
  struct be_doc d;
  ann_reply_init(r);
  int rc = parse_root(&d, body, len, err, errlen);
  if (rc == 0)
    rc = check_failure(&d, err, errlen);
  if (rc < 0)
    goto out;
  r->interval = seconds(&d, "interval");
  r->min_interval = seconds(&d, "min interval");
  r->complete = count(&d, 0, "complete");
  r->incomplete = count(&d, 0, "incomplete");
  size_t n = 0;
  const uint8_t *s = be_str(&d, be_dict_get(&d, 0, "warning message"), &n);
  if (s && !(r->warning = ann_sanitize(s, n)))
    goto oom;
  s = be_str(&d, be_dict_get(&d, 0, "tracker id"), &n);
  /* echoed back verbatim (percent-encoded), so keep the bytes, but a NUL or
   * a kilobyte of id is not something a real tracker sends */
  if (s && n > 0 && n <= 200 && !memchr(s, 0, n)) {
    if (!(r->tracker_id = malloc(n + 1)))
      goto oom;
    memcpy(r->tracker_id, s, n);
    r->tracker_id[n] = 0;
  }
  int p = be_dict_get(&d, 0, "peers");
  if (p >= 0 && d.tok[p].type == BE_STR) {
    s = be_str(&d, p, &n);
    if ((rc = ann_reply_add_compact(r, s, n, 4)) < 0)
      goto oom;
  } else if (p >= 0 && d.tok[p].type == BE_LIST) {
    for (int e = be_child(&d, p); e >= 0 && (uint32_t)e < d.tok[p].next;
         e = (int)d.tok[e].next) {
      if (d.tok[e].type != BE_DICT) {
        r->dropped++;
        continue;
      }
      if ((rc = add_dict_peer(r, &d, e)) < 0)
        goto oom;
    }
  } else if (p >= 0) {
    snprintf(err, errlen, "\"peers\" is neither a string nor a list");
    rc = SH_EPROTO;
    goto out;
  }
  s = be_str(&d, be_dict_get(&d, 0, "peers6"), &n);
  if (s && (rc = ann_reply_add_compact(r, s, n, 6)) < 0)
    goto oom;
  rc = 0;
  goto out;
oom:
  snprintf(err, errlen, "out of memory");
  rc = -ENOMEM;
out:
  be_free(&d);
  return rc;
}

int ann_http_scrape_url(struct sh_buf *b, const char *announce, const uint8_t info_hash[20])
{
  size_t q = strcspn(announce, "?#");
  size_t slash = q;
  while (slash > 0 && announce[slash - 1] != '/')
    slash--;
  if (slash == 0)
    return SH_EURL;
  const char *seg = announce + slash;
  /* "http://host" has its last '/' in the scheme; the segment after it is
   * the host, which never starts with "announce" followed by a path end */
  if ((size_t)(q - slash) < 8 || memcmp(seg, "announce", 8) != 0)
    return SH_EURL;
  if (slash >= 2 && announce[slash - 2] == '/' && strstr(announce, "://") == announce + slash - 3)
    return SH_EURL;
  sh_buf_append(b, announce, slash);
  sh_buf_puts(b, "scrape");
  sh_buf_append(b, seg + 8, q - slash - 8);
  const char *query = announce[q] == '?' ? announce + q : "";
  size_t ql = strcspn(query, "#");
  sh_buf_append(b, query, ql);
  if (ql == 0)
    sh_buf_putc(b, '?');
  else if (query[ql - 1] != '?' && query[ql - 1] != '&')
    sh_buf_putc(b, '&');
  sh_buf_puts(b, "info_hash=");
  ann_http_escape(b, info_hash, 20);
  return 0;
}

int ann_http_parse_scrape(const uint8_t *body, size_t len, const uint8_t info_hash[20],
                          struct sh_scrape_info *s, char *err, size_t errlen)
{
  struct be_doc d;
  int rc = parse_root(&d, body, len, err, errlen);
  if (rc == 0)
    rc = check_failure(&d, err, errlen);
  if (rc < 0)
    goto out;
  int files = be_dict_get_type(&d, 0, "files", BE_DICT);
  if (files < 0) {
    snprintf(err, errlen, "scrape reply has no \"files\" dictionary");
    rc = SH_EPROTO;
    goto out;
  }
  rc = SH_ETRACKER;
  snprintf(err, errlen, "scrape reply does not list this torrent");
  for (int k = be_child(&d, files); k >= 0 && (uint32_t)k < d.tok[files].next;) {
    int v = (int)d.tok[k].next;
    size_t n = 0;
    const uint8_t *key = be_str(&d, k, &n);
    if (key && n == 20 && memcmp(key, info_hash, 20) == 0 && d.tok[v].type == BE_DICT) {
      s->seeders = count(&d, v, "complete");
      s->completed = count(&d, v, "downloaded");
      s->leechers = count(&d, v, "incomplete");
      rc = 0;
      break;
    }
    k = (int)d.tok[v].next;
  }
out:
  be_free(&d);
  return rc;
}
