/* Helpers for the engine tests: content and .torrent files built in memory,
 * sessions on one uv loop bound to 127.0.0.1 with OS-chosen ports, and raw
 * blocking-socket peers run in a thread that speak (bad) protocol against
 * the engine while the test's loop runs. Everything stays on loopback. */
#ifndef TEST_ENGINE_HARNESS_H
#define TEST_ENGINE_HARNESS_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "base/bencode.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/sha1.h"
#include "engine/session.h"
#include "meta/metainfo.h"
#include "shoal.h"

struct th_file {
  const char *path; /* under the torrent's name for multi-file */
  uint64_t length;
  int pad;          /* BEP 47 padding: zeros, "attr" "p", never on disk */
};

/* The content of a torrent, in memory, and the metainfo bytes. */
struct th_torrent {
  uint8_t *data;
  uint64_t total;
  struct sh_buf raw;
  uint32_t piece_length;
  const char *name;
  const struct th_file *files;
  size_t nfiles;
  int multi;
};

static uint64_t th_rng = 0x9e3779b97f4a7c15ull;
static inline uint8_t th_rand8(void)
{
  th_rng ^= th_rng << 13;
  th_rng ^= th_rng >> 7;
  th_rng ^= th_rng << 17;
  return (uint8_t)th_rng;
}

static inline char *th_tmpdir(void)
{
  char tmpl[] = "/tmp/shoal-engine-XXXXXX";
  char *d = mkdtemp(tmpl);
  cr_assert(d, "mkdtemp");
  return strdup(d);
}

static inline int th_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)sb;
  (void)flag;
  (void)ftw;
  remove(path); /* best effort: keep going */
  return 0;
}

/* Removes a scratch directory from th_tmpdir() with everything in it, and
 * frees the path. */
static inline void th_rmtree(char *dir)
{
  if (!dir)
    return;
  if (!strncmp(dir, "/tmp/shoal-engine-", 18))
    nftw(dir, th_rm_one, 16, FTW_DEPTH | FTW_PHYS);
  free(dir);
}

static inline void th_mkdirs(const char *path)
{
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      mkdir(buf, 0755);
      *p = '/';
    }
}

static inline void th_torrent_build(struct th_torrent *t, const char *name, const struct th_file *files,
                             size_t nfiles, int multi, uint32_t piece_length)
{
  memset(t, 0, sizeof *t);
  t->name = name;
  t->files = files;
  t->nfiles = nfiles;
  t->multi = multi;
  t->piece_length = piece_length;
  for (size_t i = 0; i < nfiles; i++)
    t->total += files[i].length;
  t->data = malloc(t->total ? t->total : 1);
  uint64_t at = 0;
  for (size_t i = 0; i < nfiles; i++)
    for (uint64_t k = 0; k < files[i].length; k++)
      t->data[at++] = files[i].pad ? 0 : th_rand8();
  uint32_t np = (uint32_t)((t->total + piece_length - 1) / piece_length);
  struct sh_buf *b = &t->raw;
  be_put_dict(b);
  be_put_cstr(b, "info");
  be_put_dict(b);
  if (multi) {
    be_put_cstr(b, "files");
    be_put_list(b);
    for (size_t i = 0; i < nfiles; i++) {
      be_put_dict(b);
      if (files[i].pad) {
        be_put_cstr(b, "attr");
        be_put_cstr(b, "p");
      }
      be_put_cstr(b, "length");
      be_put_int(b, (int64_t)files[i].length);
      be_put_cstr(b, "path");
      be_put_list(b);
      char tmp[512];
      snprintf(tmp, sizeof tmp, "%s", files[i].path);
      for (char *tok = strtok(tmp, "/"); tok; tok = strtok(NULL, "/"))
        be_put_cstr(b, tok);
      be_put_end(b);
      be_put_end(b);
    }
    be_put_end(b);
  } else {
    be_put_cstr(b, "length");
    be_put_int(b, (int64_t)t->total);
  }
  be_put_cstr(b, "name");
  be_put_cstr(b, name);
  be_put_cstr(b, "piece length");
  be_put_int(b, piece_length);
  be_put_cstr(b, "pieces");
  uint8_t *h = malloc((size_t)np * 20 + 1);
  for (uint32_t i = 0; i < np; i++) {
    uint64_t off = (uint64_t)i * piece_length;
    uint64_t len = t->total - off < piece_length ? t->total - off : piece_length;
    sh_sha1(t->data + off, len, h + 20 * i);
  }
  be_put_str(b, h, (size_t)np * 20);
  free(h);
  be_put_end(b);
  be_put_end(b);
  cr_assert(!b->oom);
}

static inline struct sh_metainfo *th_metainfo(const struct th_torrent *t)
{
  struct sh_metainfo *m = NULL;
  char err[256] = "";
  int rc = sh_metainfo_parse(t->raw.data, t->raw.len, &m, err, sizeof err);
  cr_assert_eq(rc, 0, "metainfo: %s", err);
  return m;
}

static inline void th_path(const struct th_torrent *t, const char *dir, size_t i, char *out, size_t n)
{
  if (t->multi)
    snprintf(out, n, "%s/%s/%s", dir, t->name, t->files[i].path);
  else
    snprintf(out, n, "%s/%s", dir, t->name);
}

/* Writes the content under dir as a client would have saved it. */
static inline void th_write_content(const struct th_torrent *t, const char *dir)
{
  uint64_t off = 0;
  for (size_t i = 0; i < t->nfiles; off += t->files[i++].length) {
    if (t->files[i].pad)
      continue;
    char path[4096];
    th_path(t, dir, i, path, sizeof path);
    th_mkdirs(path);
    FILE *f = fopen(path, "wb");
    cr_assert(f, "create %s", path);
    if (t->files[i].length)
      cr_assert_eq(fwrite(t->data + off, 1, t->files[i].length, f), t->files[i].length);
    fclose(f);
  }
}

/* Is the content under dir byte-identical to t? (Padding is never on disk.) */
static inline int th_content_equal(const struct th_torrent *t, const char *dir)
{
  uint64_t off = 0;
  for (size_t i = 0; i < t->nfiles; off += t->files[i++].length) {
    if (t->files[i].pad)
      continue;
    char path[4096];
    th_path(t, dir, i, path, sizeof path);
    uint64_t len = t->files[i].length;
    FILE *f = fopen(path, "rb");
    if (!f) {
      cr_log_error("%s: missing", path);
      return 0;
    }
    uint8_t *buf = malloc(len + 1);
    size_t got = fread(buf, 1, len + 1, f);
    fclose(f);
    int ok = got == len && (len == 0 || !memcmp(buf, t->data + off, len));
    free(buf);
    if (!ok) {
      cr_log_error("%s: differs (%zu bytes, want %llu)", path, got, (unsigned long long)len);
      return 0;
    }
  }
  return 1;
}

static inline void th_torrent_free(struct th_torrent *t)
{
  free(t->data);
  sh_buf_free(&t->raw);
}

/* The library is silent without a sink: show its warnings (and with
 * SHOAL_TEST_VERBOSE, everything) beside Criterion's report. */
static inline void th_log_sink(void *ud, enum shoal_log_level level, const char *msg)
{
  static const char *names[] = {"error", "warn", "info", "debug"};
  (void)ud;
  fprintf(stderr, "%s: %s\n", names[level & 3], msg);
}

static inline void th_settings(struct shoal_settings *s)
{
  shoal_log_set_sink(th_log_sink, NULL);
  sh_log_set_level(getenv("SHOAL_TEST_VERBOSE") ? SH_LOG_DEBUG : SH_LOG_WARN);
  shoal_settings_default(s);
  s->bind[0] = "127.0.0.1";
  s->port = 0;
  s->announce = 0;
  s->tick_ms = 100; /* faster housekeeping: tests wait on it */
}

/* Settings for a session without sockets: peers come through the
 * in-memory transport only (test_mem_peer.h). */
static inline void th_settings_mem(struct shoal_settings *s)
{
  th_settings(s);
  s->bind[0] = NULL;
  s->no_listen = 1;
}

/* ---- events: every session a test makes records what it reports ---- */

#define TH_MAX_EVENTS 8192
struct th_event {
  const shoal_session *s;
  struct shoal_event e;
};
static struct th_event th_ev[TH_MAX_EVENTS];
static size_t th_nev;

static inline void th_drain(shoal_session *s)
{
  struct shoal_event e[64];
  size_t n;
  while ((n = shoal_session_events(s, e, 64)) > 0)
    for (size_t i = 0; i < n && th_nev < TH_MAX_EVENTS; i++) {
      th_ev[th_nev].s = s;
      th_ev[th_nev++].e = e[i];
      if (e[i].type == SHOAL_EVENT_ERROR && getenv("SHOAL_TEST_VERBOSE"))
        fprintf(stderr, "torrent %u error: %s\n", e[i].id, e[i].text);
    }
}

/* The sessions to drain: on_event gets a slot, filled once created. */
static shoal_session *th_sessions[64];
static inline void th_on_event(void *ud)
{
  shoal_session *s = *(shoal_session **)ud;
  if (s) /* NULL once th_close let it go */
    th_drain(s);
}

/* Events of this type seen for torrent id of session s (id 0: any). */
static inline int th_seen(const shoal_session *s, shoal_id id, enum shoal_event_type type)
{
  int n = 0;
  for (size_t i = 0; i < th_nev; i++)
    n += th_ev[i].s == s && (!id || th_ev[i].e.id == id) && th_ev[i].e.type == type;
  return n;
}

/* The text of the last event of this type, or "". */
static inline const char *th_event_text(const shoal_session *s, shoal_id id,
                                        enum shoal_event_type type)
{
  for (size_t i = th_nev; i-- > 0;)
    if (th_ev[i].s == s && th_ev[i].e.id == id && th_ev[i].e.type == type)
      return th_ev[i].e.text;
  return "";
}

/* Set to make th_session build engine sessions without the BEP 10
 * extensions of src/ext/ (ut_metadata, ut_pex): for tests of what the
 * engine does by itself. */
static int th_no_extensions;

static inline shoal_session *th_session(uv_loop_t *loop, const struct shoal_settings *set)
{
  size_t slot = 0;
  while (slot < 64 && th_sessions[slot])
    slot++;
  cr_assert_lt(slot, 64, "too many sessions");
  struct shoal_settings copy = *set;
  copy.on_event = th_on_event;
  copy.event_ud = &th_sessions[slot];
  shoal_session *s = NULL;
  char err[256] = "";
  int rc = th_no_extensions ? sh_session_new(loop, &copy, &s, err, sizeof err)
                            : shoal_session_new(loop, &copy, &s, err, sizeof err);
  cr_assert_eq(rc, 0, "session: %s", err);
  th_sessions[slot] = s;
  return s;
}

/* Adds tt's torrent with its content under dir. */
static inline shoal_id th_add(shoal_session *s, const struct th_torrent *tt, const char *dir,
                              int seed_only)
{
  struct shoal_add_params p = {.torrent = tt->raw.data, .torrent_len = tt->raw.len,
                               .save_dir = dir, .seed_only = seed_only};
  shoal_id id = 0;
  char err[256] = "";
  cr_assert_eq(shoal_torrent_add(s, &p, &id, err, sizeof err), 0, "add: %s", err);
  return id;
}

static inline struct shoal_status th_status(shoal_session *s, shoal_id id)
{
  struct shoal_status st;
  cr_assert_eq(shoal_torrent_status(s, id, &st), 0, "status of torrent %u", id);
  return st;
}

static inline void th_add_peer(shoal_session *s, shoal_id id, uint16_t port)
{
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", port, &a);
  cr_assert_eq(shoal_torrent_add_peer(s, id, (struct sockaddr *)&a), 0);
}

/* Runs the loop until *flag (or ms milliseconds pass). Returns *flag. */
struct th_wait {
  volatile int *flag;
  int (*pred)(void *);
  void *ud;
  uv_loop_t *loop;
};
static inline void th_wait_tick(uv_timer_t *h)
{
  struct th_wait *w = h->data;
  if ((w->flag && *w->flag) || (w->pred && w->pred(w->ud)))
    uv_stop(w->loop);
}
static inline int th_run_until(uv_loop_t *loop, volatile int *flag, int (*pred)(void *), void *ud,
                        uint64_t ms)
{
  struct th_wait w = {flag, pred, ud, loop};
  uv_timer_t poll, limit;
  uv_timer_init(loop, &poll);
  uv_timer_init(loop, &limit);
  poll.data = &w;
  limit.data = &w;
  uv_timer_start(&poll, th_wait_tick, 5, 5);
  uint64_t start = uv_now(loop);
  while (!((flag && *flag) || (pred && pred(ud))) && uv_now(loop) - start < ms) {
    uv_run(loop, UV_RUN_ONCE);
  }
  uv_timer_stop(&poll);
  uv_close((uv_handle_t *)&poll, NULL);
  uv_close((uv_handle_t *)&limit, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return (flag && *flag) || (pred && pred(ud));
}

/* Waits for an event: th_run_until(loop, NULL, th_event_pred, TH_EVENT(s, id, type), ms). */
struct th_event_wait {
  shoal_session *s;
  shoal_id id;
  enum shoal_event_type type;
};
static inline int th_event_pred(void *ud)
{
  struct th_event_wait *w = ud;
  th_drain(w->s);
  return th_seen(w->s, w->id, w->type) > 0;
}
#define TH_EVENT(s, id, type) (&(struct th_event_wait){(s), (id), (type)})
static inline int th_wait_event(uv_loop_t *loop, shoal_session *s, shoal_id id,
                                enum shoal_event_type type, uint64_t ms)
{
  return th_run_until(loop, NULL, th_event_pred, TH_EVENT(s, id, type), ms);
}

static inline void th_closed(void *ud) { (*(int *)ud)++; }

/* Closes sessions and runs the loop until both report done. */
static inline void th_close(uv_loop_t *loop, shoal_session **ss, int n)
{
  int done = 0;
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < 64; k++)
      if (ss[i] && th_sessions[k] == ss[i])
        th_sessions[k] = NULL;
    if (ss[i])
      shoal_session_close(ss[i], th_closed, &done);
    else
      done++;
  }
  uint64_t start = uv_now(loop);
  while (done < n && uv_now(loop) - start < 20000)
    uv_run(loop, UV_RUN_ONCE);
  cr_assert_eq(done, n, "sessions closed");
  uv_run(loop, UV_RUN_NOWAIT);
}

/* ---- raw peers over blocking sockets, in a thread ---- */

static inline int th_connect(uint16_t port)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  struct timeval tv = {15, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

static inline int th_listen(uint16_t *port)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(listen(fd, 8), 0);
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  *port = ntohs(a.sin_port);
  return fd;
}

/* A listener on ::1, so a raw peer has another IP than the sessions on
 * 127.0.0.1: bans are per IP. */
static inline int th_listen6(uint16_t *port)
{
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(listen(fd, 8), 0);
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  *port = ntohs(a.sin6_port);
  return fd;
}

static inline void th_add_peer6(shoal_session *s, shoal_id id, uint16_t port)
{
  struct sockaddr_in6 a;
  uv_ip6_addr("::1", port, &a);
  cr_assert_eq(shoal_torrent_add_peer(s, id, (struct sockaddr *)&a), 0);
}

static inline int th_send_all(int fd, const void *p, size_t n)
{
  const uint8_t *b = p;
  while (n) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    if (w <= 0)
      return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

static inline int th_recv_all(int fd, void *p, size_t n)
{
  uint8_t *b = p;
  while (n) {
    ssize_t r = recv(fd, b, n, 0);
    if (r <= 0)
      return -1;
    b += r;
    n -= (size_t)r;
  }
  return 0;
}

/* A BEP 3 handshake with the fast and extension bits set as asked. */
static inline void th_handshake(uint8_t out[68], const uint8_t ih[20], const char *peer_id, int fast)
{
  out[0] = 19;
  memcpy(out + 1, "BitTorrent protocol", 19);
  memset(out + 20, 0, 8);
  if (fast)
    out[27] |= 0x04;
  memcpy(out + 28, ih, 20);
  memset(out + 48, 'x', 20);
  memcpy(out + 48, peer_id, strlen(peer_id) < 20 ? strlen(peer_id) : 20);
}

/* Reads one message: returns its id (-1 keep-alive), payload in buf (up to
 * cap), -2 on EOF/error/timeout. */
static inline int th_read_msg(int fd, uint8_t *buf, size_t cap, uint32_t *plen)
{
  uint8_t hdr[4];
  if (th_recv_all(fd, hdr, 4) < 0)
    return -2;
  uint32_t len = sh_rd32(hdr);
  if (len == 0)
    return -1;
  uint8_t id;
  if (th_recv_all(fd, &id, 1) < 0)
    return -2;
  len--;
  if (len > cap)
    return -2;
  if (len && th_recv_all(fd, buf, len) < 0)
    return -2;
  if (plen)
    *plen = len;
  return id;
}

/* Waits until the engine closes the connection (EOF or reset), reading and
 * discarding what it sends. Returns 1 when closed within the timeout. */
static inline int th_wait_eof(int fd, int seconds)
{
  struct timeval tv = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  uint8_t buf[4096];
  for (int i = 0; i < seconds * 4;) {
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r == 0)
      return 1;
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        i += 4;
        continue;
      }
      return 1; /* reset */
    }
  }
  return 0;
}

#endif
