/* The tracker server through its public API (include/shoal.h): it attaches
 * to loops it is given and never runs them, serves on each worker, reloads,
 * and closes so that every loop ends with nothing left open; start-up
 * failures leave no handle behind. Sockets on 127.0.0.1 only. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "base/log.h"
#include "shoal.h"

static char *datadir;

static void mkdata(void)
{
  sh_log_set_level(SH_LOG_ERROR); /* the tracker's progress lines are not the test's */
  datadir = strdup("/tmp/shoal-trkserver-XXXXXX");
  cr_assert_not_null(mkdtemp(datadir));
}

static void rmdata(void)
{
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", datadir);
  cr_expect_eq(system(cmd), 0);
  free(datadir);
}

TestSuite(tracker_server, .init = mkdata, .fini = rmdata, .timeout = 20);

static const char *const localhost[] = {"127.0.0.1"};

static void local_config(struct shoal_tracker_config *c)
{
  shoal_tracker_config_default(c);
  c->data_dir = datadir;
  c->bind = localhost;
  c->nbind = 1;
  c->http_port = 0;
  c->udp_port = 0;
}

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A BEP 15 connect round trip; loop (may be NULL when other threads run
 * every worker) is turned while waiting. Returns 1 on a well-formed reply. */
static int udp_connect(uv_loop_t *loop, uint16_t port, uint32_t tid)
{
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  uint8_t req[16] = {0, 0, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0};
  uint32_t t = htonl(tid);
  memcpy(req + 12, &t, 4);
  sendto(fd, req, sizeof req, 0, (struct sockaddr *)&a, sizeof a);
  uint8_t rep[64];
  ssize_t n = -1;
  for (double end = now() + 5; n < 0 && now() < end;) {
    if (loop)
      uv_run(loop, UV_RUN_NOWAIT);
    n = recv(fd, rep, sizeof rep, MSG_DONTWAIT);
    if (n < 0)
      usleep(1000);
  }
  close(fd);
  return n == 16 && !memcmp(rep, "\0\0\0\0", 4) && !memcmp(rep + 4, &t, 4);
}

/* GET path over HTTP/1.0; returns the whole reply (caller frees) or NULL. */
static char *http_get(uv_loop_t *loop, uint16_t port, const char *path)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return NULL;
  }
  char req[256];
  int len = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
  cr_assert_eq(send(fd, req, (size_t)len, 0), len);
  char *out = calloc(1, 65536);
  size_t got = 0;
  for (double end = now() + 5; now() < end && got < 65535;) {
    uv_run(loop, UV_RUN_NOWAIT);
    ssize_t n = recv(fd, out + got, 65535 - got, MSG_DONTWAIT);
    if (n == 0)
      break;
    if (n > 0)
      got += (size_t)n;
    else
      usleep(1000);
  }
  close(fd);
  return out;
}

static void set_flag(void *ud) { *(int *)ud = 1; }

/* Closes t and turns loop until it is empty; the loop must then close. */
static void close_and_drain(shoal_tracker *t, uv_loop_t *loop)
{
  int done = 0;
  shoal_tracker_close(t, set_flag, &done);
  cr_expect_not(done, "done comes from the loop, not from inside close");
  uv_run(loop, UV_RUN_DEFAULT);
  cr_expect(done, "done was called");
  cr_expect_eq(uv_loop_close(loop), 0, "nothing left open on the loop");
}

/* uv_loop_init(loop) and a tracker on it. */
static shoal_tracker *start(uv_loop_t *loop, const struct shoal_tracker_config *c)
{
  uv_loop_init(loop);
  shoal_tracker *t;
  char err[256];
  cr_assert_eq(shoal_tracker_new(loop, c, &t, err, sizeof err), 0, "%s", err);
  return t;
}

Test(tracker_server, serves_on_the_callers_loop_and_closes)
{
  uv_loop_t loop;
  struct shoal_tracker_config c;
  local_config(&c);
  shoal_tracker *t = start(&loop, &c);
  char err[256];
  uint16_t port = shoal_tracker_http_port(t);
  cr_expect_gt(port, 0);
  cr_expect_eq(shoal_tracker_udp_port(t), port, "UDP port 0 follows the HTTP port");
  cr_expect(udp_connect(&loop, port, 77));
  char *r = http_get(&loop, port, "/scrape?info_hash=%00%00%00%00%00%00%00%00%00%00"
                                  "%00%00%00%00%00%00%00%00%00%00");
  cr_expect(r && strstr(r, "200 OK") && strstr(r, "d5:filesdee"), "%s", r ? r : "(none)");
  free(r);
  cr_expect_eq(shoal_tracker_reload(t, err, sizeof err), 0, "nothing hosted");
  close_and_drain(t, &loop);
}

Test(tracker_server, config_is_copied)
{
  uv_loop_t loop;
  struct shoal_tracker_config c;
  local_config(&c);
  char dir[256], tok[16] = "s3cret", bind[16] = "127.0.0.1";
  const char *binds[1] = {bind};
  snprintf(dir, sizeof dir, "%s", datadir);
  c.data_dir = dir;
  c.upload_token = tok;
  c.bind = binds;
  shoal_tracker *t = start(&loop, &c);
  char err[256];
  memset(dir, 'x', sizeof dir - 1);
  memset(tok, 0, sizeof tok);
  memset(bind, 0, sizeof bind);
  cr_expect_eq(shoal_tracker_reload(t, err, sizeof err), 0, "%s", err);
  char *r = http_get(&loop, shoal_tracker_http_port(t), "/");
  cr_expect(r && strstr(r, "token"), "the upload form is still on: the token was copied");
  free(r);
  close_and_drain(t, &loop);
}

struct thread {
  shoal_tracker *t;
  uv_thread_t tid;
  uv_loop_t loop;
  uv_sem_t attached;
  int rc;
  char err[256];
};

static void thread_main(void *arg)
{
  struct thread *th = arg;
  uv_loop_init(&th->loop);
  th->rc = shoal_tracker_attach_worker(th->t, &th->loop, th->err, sizeof th->err);
  uv_sem_post(&th->attached);
  uv_run(&th->loop, UV_RUN_DEFAULT);
  th->rc = uv_loop_close(&th->loop);
}

Test(tracker_server, workers_on_the_apps_threads)
{
  uv_loop_t loop;
  struct shoal_tracker_config c;
  local_config(&c);
  c.workers = 3;
  shoal_tracker *t = start(&loop, &c);
  char err[256];
  struct thread th[2];
  for (int i = 0; i < 2; i++) {
    th[i].t = t;
    uv_sem_init(&th[i].attached, 0);
    cr_assert_eq(uv_thread_create(&th[i].tid, thread_main, &th[i]), 0);
    uv_sem_wait(&th[i].attached);
    cr_assert_eq(th[i].rc, 0, "%s", th[i].err);
  }
  uv_loop_t extra;
  uv_loop_init(&extra);
  cr_expect_eq(shoal_tracker_attach_worker(t, &extra, err, sizeof err), -EINVAL);
  cr_expect_str_eq(err, "all 3 workers are attached already");
  cr_expect_eq(uv_loop_close(&extra), 0, "a refused attach leaves nothing on the loop");
  /* the kernel spreads clients over the workers; every one must answer */
  for (uint32_t i = 0; i < 30; i++)
    cr_expect(udp_connect(&loop, shoal_tracker_udp_port(t), i), "request %u", i);
  close_and_drain(t, &loop);
  for (int i = 0; i < 2; i++) {
    uv_thread_join(&th[i].tid);
    uv_sem_destroy(&th[i].attached);
    cr_expect_eq(th[i].rc, 0, "worker loop %d closed with nothing left open", i + 1);
  }
}

/* shoal_tracker_new() fails with want in err, *out NULL, and whatever it
 * opened on the loop closes when the loop runs. */
static void expect_refused(const struct shoal_tracker_config *c, const char *want)
{
  uv_loop_t loop;
  uv_loop_init(&loop);
  shoal_tracker *t = (shoal_tracker *)&loop;
  char err[256] = "";
  cr_expect_lt(shoal_tracker_new(&loop, c, &t, err, sizeof err), 0, "want '%s'", want);
  cr_expect_null(t);
  cr_expect(strstr(err, want) != NULL, "'%s' does not say '%s'", err, want);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_expect_eq(uv_loop_close(&loop), 0, "nothing left open after '%s'", err);
}

/* A socket holding 127.0.0.1:port (type SOCK_STREAM or SOCK_DGRAM). */
static int hold_port(int type, uint16_t *port)
{
  int fd = socket(AF_INET, type, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  socklen_t len = sizeof a;
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  if (type == SOCK_STREAM)
    listen(fd, 1);
  getsockname(fd, (struct sockaddr *)&a, &len);
  *port = ntohs(a.sin_port);
  return fd;
}

Test(tracker_server, bad_configs_are_refused_with_a_reason)
{
  struct shoal_tracker_config c;
  local_config(&c);
  c.data_dir = NULL;
  expect_refused(&c, "no data directory");
  local_config(&c);
  c.http_port = c.udp_port = -1;
  expect_refused(&c, "both HTTP and UDP are off; nothing to serve");
  local_config(&c);
  c.workers = 0;
  expect_refused(&c, "0 workers: expected 1 to 64");
  local_config(&c);
  const char *nine[9] = {"127.0.0.1"};
  c.bind = nine;
  c.nbind = 9;
  expect_refused(&c, "9 listen addresses: at most 8");
  local_config(&c);
  c.interval = 0;
  expect_refused(&c, "must not be 0");
  local_config(&c);
  const char *nonsense[] = {"nonsense"};
  c.bind = nonsense;
  expect_refused(&c, "listen address nonsense: not an IPv4 or IPv6 address");
  local_config(&c);
  const char *add[] = {"/nonexistent/x.torrent"};
  c.add = add;
  c.nadd = 1;
  expect_refused(&c, "cannot host /nonexistent/x.torrent: ");
}

Test(tracker_server, busy_ports_fail_and_leave_nothing_open)
{
  struct shoal_tracker_config c;
  uint16_t port;
  char want[128];
  int fd = hold_port(SOCK_STREAM, &port);
  local_config(&c);
  c.http_port = port;
  snprintf(want, sizeof want, "cannot serve HTTP on 127.0.0.1:%u: ", port);
  expect_refused(&c, want);
  close(fd);
  /* HTTP is up before UDP fails: its listener must close too */
  fd = hold_port(SOCK_DGRAM, &port);
  local_config(&c);
  c.udp_port = port;
  snprintf(want, sizeof want, "cannot serve UDP on 127.0.0.1:%u: ", port);
  expect_refused(&c, want);
  close(fd);
}

Test(tracker_server, http_off_udp_on)
{
  uv_loop_t loop;
  struct shoal_tracker_config c;
  local_config(&c);
  c.http_port = -1;
  shoal_tracker *t = start(&loop, &c);
  cr_expect_eq(shoal_tracker_http_port(t), 0);
  cr_expect_gt(shoal_tracker_udp_port(t), 0);
  cr_expect(udp_connect(&loop, shoal_tracker_udp_port(t), 5));
  close_and_drain(t, &loop);
}

Test(tracker_server, reload_reads_the_data_directory)
{
  uv_loop_t loop;
  struct shoal_tracker_config c;
  local_config(&c);
  shoal_tracker *t = start(&loop, &c);
  char err[256];
  char path[512];
  snprintf(path, sizeof path, "%s/torrents", datadir);
  rmdir(path); /* empty: the tracker made it */
  cr_expect_lt(shoal_tracker_reload(t, err, sizeof err), 0);
  cr_expect(strstr(err, path) != NULL, "'%s' names the directory", err);
  cr_expect_eq(shoal_tracker_reload(t, NULL, 0), shoal_tracker_reload(t, err, sizeof err),
               "err may be NULL");
  close_and_drain(t, &loop);
}
