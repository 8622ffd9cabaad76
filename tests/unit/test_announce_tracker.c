/* The announcer against real trackers running as separate processes on
 * 127.0.0.1: the project's own `shoal tracker` (built next to this test
 * executable) and opentracker, over HTTP and UDP. Several announcers with
 * their own peer ids must see each other in the peer lists, scrapes must
 * count them, and `stopped` must take them out of the swarm. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "announce/announce.h"
#include "base/error.h"
#include "announce/ann_udpc.h"
#include "net/http_client.h"

static uv_loop_t loop;
static uv_timer_t wd;
static struct sh_http_client *http;
static struct ann_udpc_reg *ureg;
static pid_t child = -1;
static char dir[200];
static char http_url[128], udp_url[128];

static const uint8_t IH[20] = "\x5b\x01\x02\x03\x04\x05\x06\x07\x08\x09"
                              "\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13";

struct who {
  int announced, done, scraped, fails;
  int npeers, v6;
  uint16_t ports[32];
  struct sh_scrape_info scrape;
  int scrape_err;
  char last_status[600];
  uint64_t left;
};

static void w_stats(void *ud, uint64_t *u, uint64_t *d, uint64_t *l)
{
  struct who *w = ud;
  *u = *d = 0;
  *l = w->left;
}
static int want_family = AF_INET; /* the family every peer must have */

static void w_peers(void *ud, const struct sockaddr_storage *a, size_t n)
{
  struct who *w = ud;
  w->npeers = w->v6 = 0;
  for (size_t i = 0; i < n && i < 32; i++) {
    cr_expect_eq(a[i].ss_family, want_family, "peer %zu has the tracker's family", i);
    if (a[i].ss_family == AF_INET6) {
      const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a[i];
      cr_expect(IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr), "IPv6 peers are ::1");
      w->v6++;
      w->ports[w->npeers++] = ntohs(s6->sin6_port);
      continue;
    }
    const struct sockaddr_in *s = (const struct sockaddr_in *)&a[i];
    cr_expect_eq(ntohl(s->sin_addr.s_addr), 0x7f000001, "peers are on loopback");
    w->ports[w->npeers++] = ntohs(s->sin_port);
  }
}
static void w_status(void *ud, const char *url, int err, const char *msg)
{
  struct who *w = ud;
  if (err < 0)
    w->fails++;
  snprintf(w->last_status, sizeof w->last_status, "%s", msg);
}
static void w_announced(void *ud, const struct sh_announce_info *i) { ((struct who *)ud)->announced++; }
static void w_scraped(void *ud, const char *url, int err, const struct sh_scrape_info *s)
{
  struct who *w = ud;
  w->scraped++;
  w->scrape_err = err;
  if (s)
    w->scrape = *s;
}
static void w_done(void *ud) { ((struct who *)ud)->done++; }

static int has_port(const struct who *w, uint16_t p)
{
  for (int i = 0; i < w->npeers; i++)
    if (w->ports[i] == p)
      return 1;
  return 0;
}

static void watchdog(uv_timer_t *t) { cr_assert_fail("test took longer than 60 s"); }

static void run_until(int *flag, int v)
{
  while (*flag < v)
    uv_run(&loop, UV_RUN_ONCE);
}

static struct sh_announcer *announcer(const char *url, const char *peer_id, uint16_t port,
                                      struct who *w)
{
  char *urls[1] = {(char *)url};
  struct sh_tier tier = {urls, 1};
  struct sh_announce_callbacks cb = {w, w_stats, w_peers, w_status, w_announced, w_scraped, NULL};
  struct sh_announce_timing t;
  sh_announce_timing_default(&t);
  t.udp_timeout_ms = 1000;
  t.udp_max_tries = 4;
  t.http_timeout_ms = 10000;
  t.retry_base_ms = 500;
  struct sh_announce_ctx ctx = {http, ureg};
  struct sh_announcer *a = sh_announcer_new(&loop, &ctx, &tier, 1, IH, (const uint8_t *)peer_id,
                                            port, &cb, &t);
  cr_assert_not_null(a);
  return a;
}

static void kill_child(void)
{
  if (child > 0) {
    kill(child, SIGTERM);
    int st;
    for (int i = 0; i < 50 && waitpid(child, &st, WNOHANG) == 0; i++)
      usleep(100000);
    kill(child, SIGKILL);
    waitpid(child, &st, 0);
    child = -1;
  }
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (dir[0])
    cr_expect_eq(system(cmd), 0);
  dir[0] = 0;
}

/* Starts argv in cwd, stdout+stderr into dir/log; the child dies with the
 * test process (PR_SET_PDEATHSIG) so no tracker outlives it. */
static void spawn(char *const argv[], const char *cwd)
{
  char log[300];
  snprintf(log, sizeof log, "%s/log", dir);
  child = fork();
  cr_assert_geq(child, 0);
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    if (chdir(cwd) < 0)
      _exit(126);
    execv(argv[0], argv);
    _exit(127);
  }
}

/* Polls dir/log for a line starting with `prefix` and copies the URL that
 * follows it; false after 15 s. */
static int wait_log(const char *prefix, char *out, size_t outlen)
{
  char log[300];
  snprintf(log, sizeof log, "%s/log", dir);
  for (int i = 0; i < 150; i++) {
    FILE *f = fopen(log, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
      char *p = strstr(line, prefix);
      if (p) {
        p += strlen(prefix);
        p[strcspn(p, " \r\n")] = 0;
        snprintf(out, outlen, "%s", p);
        fclose(f);
        return 1;
      }
    }
    if (f)
      fclose(f);
    usleep(100000);
  }
  return 0;
}

static void setup_loop(void)
{
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/shoal-anntest-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  cr_assert_not_null(mkdtemp(dir));
  cr_assert_eq(uv_loop_init(&loop), 0);
  uv_timer_init(&loop, &wd);
  uv_timer_start(&wd, watchdog, 60000, 0);
  http = sh_http_client_new(&loop);
  cr_assert_not_null(http);
  ureg = ann_udpc_reg_new(&loop, NULL, 0);
  cr_assert_not_null(ureg);
}

static int http_closed;
static void on_closed(void *ud) { http_closed++; }

static void teardown_loop(void)
{
  sh_http_client_close(http, on_closed, NULL);
  ann_udpc_reg_close(ureg, on_closed, NULL);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_expect_eq(http_closed, 2, "the HTTP client and the UDP registry closed");
  cr_expect_eq(uv_loop_close(&loop), 0);
  kill_child();
}

/* A swarm of three: A over HTTP, B over UDP, C over HTTP (or the other way
 * round); each later one must see the earlier ones; A and B leave with
 * `stopped`, and C's scrape then counts only itself. */
static void swarm(const char *url_a, const char *url_b, const char *url_c, int strict_self)
{
  struct who a = {.left = 100}, b = {.left = 100}, c = {.left = 100};
  struct sh_announcer *aa = announcer(url_a, "-SH0010-aaaaaaaaaaaa", 41001, &a);
  struct sh_announcer *ab = announcer(url_b, "-SH0010-bbbbbbbbbbbb", 41002, &b);
  struct sh_announcer *ac = announcer(url_c, "-SH0010-cccccccccccc", 41003, &c);
  sh_announcer_start(aa);
  run_until(&a.announced, 1);
  cr_expect_eq(a.fails, 0, "%s", a.last_status);
  sh_announcer_start(ab);
  run_until(&b.announced, 1);
  cr_expect_eq(b.fails, 0, "%s", b.last_status);
  cr_expect(has_port(&b, 41001), "B (%s) sees A", url_b);
  sh_announcer_start(ac);
  run_until(&c.announced, 1);
  cr_expect(has_port(&c, 41001) && has_port(&c, 41002), "C (%s) sees A and B (%d peers)", url_c,
            c.npeers);
  /* opentracker may hand a peer its own address back; ours must not */
  if (strict_self)
    cr_expect(!has_port(&c, 41003), "C is not given itself");

  sh_announcer_stop(aa, w_done, &a);
  sh_announcer_stop(ab, w_done, &b);
  run_until(&a.done, 1);
  run_until(&b.done, 1);
  cr_expect_eq(a.fails + b.fails, 0, "stopped went through: %s %s", a.last_status,
               b.last_status);
  /* scrape through the tracker protocol C uses */
  sh_announcer_scrape(ac);
  run_until(&c.scraped, 1);
  cr_expect_eq(c.scrape_err, 0, "%s", c.last_status);
  cr_expect_eq(c.scrape.leechers, 1, "after two stopped, one leecher left (got %lld)",
               (long long)c.scrape.leechers);
  cr_expect_eq(c.scrape.seeders, 0);
  sh_announcer_stop(ac, w_done, &c);
  run_until(&c.done, 1);
}

static void shoal_tracker_start_on(const char *bind_addr)
{
  char self[512], bin[600];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  cr_assert_gt(n, 0);
  self[n] = 0;
  snprintf(bin, sizeof bin, "%s/shoal", dirname(self));
  if (access(bin, X_OK) != 0)
    cr_skip_test("no shoal binary next to the test (%s)", bin);
  char data[300];
  snprintf(data, sizeof data, "%s/data", dir);
  char *argv[] = {bin, "tracker", "--data", data, "--bind", (char *)bind_addr, "-p", "0",
                  "--interval", "60", NULL};
  spawn(argv, dir);
  cr_assert(wait_log("serving HTTP on ", http_url, sizeof http_url), "shoal tracker did not start");
  cr_assert(wait_log("serving UDP on ", udp_url, sizeof udp_url), "no UDP line");
  size_t l = strlen(http_url);
  snprintf(http_url + l, sizeof http_url - l, "%sannounce", http_url[l - 1] == '/' ? "" : "/");
}

static void shoal_tracker_start(void) { shoal_tracker_start_on("127.0.0.1"); }

Test(announce_tracker, shoal_tracker_http_udp_http, .fini = kill_child)
{
  setup_loop();
  shoal_tracker_start();
  swarm(http_url, udp_url, http_url, 1);
  teardown_loop();
}

Test(announce_tracker, shoal_tracker_udp_http_udp, .fini = kill_child)
{
  setup_loop();
  shoal_tracker_start();
  swarm(udp_url, http_url, udp_url, 1);
  teardown_loop();
}

static uint16_t free_port(void)
{
  /* TCP and UDP both free on one port; a tiny race with other tests is
   * possible, the bind failure would then show in the log */
  for (int tries = 0; tries < 20; tries++) {
    int t = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f000001);
    socklen_t len = sizeof a;
    uint16_t p = 0;
    if (bind(t, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(t, (struct sockaddr *)&a, &len) == 0 &&
        bind(u, (struct sockaddr *)&a, sizeof a) == 0)
      p = ntohs(a.sin_port);
    close(t);
    close(u);
    if (p)
      return p;
  }
  cr_assert_fail("no free port");
  return 0;
}

static int tcp_ready(uint16_t port)
{
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(0x7f000001);
  int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
  close(s);
  return ok;
}

/* The same swarm with the tracker on ::1 only: URLs with a bracketed
 * literal, BEP 7 peers6 over HTTP and 18-byte BEP 15 entries over UDP. */
Test(announce_tracker, shoal_tracker_ipv6, .fini = kill_child)
{
  int s6 = socket(AF_INET6, SOCK_DGRAM, 0);
  struct sockaddr_in6 a6 = {0};
  a6.sin6_family = AF_INET6;
  a6.sin6_addr = in6addr_loopback;
  int have6 = s6 >= 0 && bind(s6, (struct sockaddr *)&a6, sizeof a6) == 0;
  if (s6 >= 0)
    close(s6);
  if (!have6)
    cr_skip_test("no IPv6 loopback here");
  setup_loop();
  want_family = AF_INET6;
  shoal_tracker_start_on("::1");
  cr_expect(strstr(http_url, "[::1]") && strstr(udp_url, "[::1]"), "%s %s", http_url, udp_url);
  swarm(http_url, udp_url, http_url, 1);
  teardown_loop();
}

static void opentracker_start(void)
{
  if (access("/usr/bin/opentracker", X_OK) != 0)
    cr_skip_test("opentracker is not installed");
  /* the Debian build tracks only whitelisted torrents */
  char wl[300];
  snprintf(wl, sizeof wl, "%s/whitelist", dir);
  FILE *f = fopen(wl, "w");
  cr_assert_not_null(f);
  for (int i = 0; i < 20; i++)
    fprintf(f, "%02x", IH[i]);
  fprintf(f, "\n");
  fclose(f);
  uint16_t port = free_port();
  char ps[8];
  snprintf(ps, sizeof ps, "%u", port);
  /* opentracker chroots into its working directory and drops to user
   * nobody before it reads the whitelist: run it from / with an absolute
   * path in a directory nobody may read */
  cr_assert_eq(chmod(dir, 0755), 0);
  char *argv[] = {"/usr/bin/opentracker", "-i", "127.0.0.1", "-p", ps, "-P", ps, "-w",
                  wl, NULL};
  spawn(argv, "/");
  int ready = 0;
  for (int i = 0; i < 150 && !(ready = tcp_ready(port)); i++)
    usleep(100000);
  cr_assert(ready, "opentracker did not start");
  snprintf(http_url, sizeof http_url, "http://127.0.0.1:%u/announce", port);
  snprintf(udp_url, sizeof udp_url, "udp://127.0.0.1:%u/announce", port);
}

Test(announce_tracker, opentracker_http_udp_http, .fini = kill_child)
{
  setup_loop();
  opentracker_start();
  swarm(http_url, udp_url, http_url, 0);
  teardown_loop();
}

Test(announce_tracker, opentracker_udp_http_udp, .fini = kill_child)
{
  setup_loop();
  opentracker_start();
  swarm(udp_url, http_url, udp_url, 0);
  teardown_loop();
}
