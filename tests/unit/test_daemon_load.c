/* The daemon's start: the RPC answers before the stored torrents are back
 * (they come back in batches from the loop), torrent-get of all lists
 * those back so far, a call that names a torrent not back yet finds it,
 * an add of a stored torrent not back yet is a duplicate of it, a stop
 * of all stops all, and a close while loading keeps every row as it was. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "daemon/b64.h"
#include "shoal.h"

#define NTOR 300 /* several batches (32 rows) */

static char dir[] = "/tmp/shoal-load-XXXXXX";
static char state[300], dl[300];
static uv_loop_t loop;

static void setup(void)
{
  setenv("SHOAL_DHT_BOOTSTRAP", "none", 1);
  cr_assert(mkdtemp(dir));
  snprintf(state, sizeof state, "%s/state", dir);
  snprintf(dl, sizeof dl, "%s/dl", dir);
  uv_loop_init(&loop);
}

static void teardown(void)
{
  uv_loop_close(&loop);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert(system(cmd) == 0);
  strcpy(dir, "/tmp/shoal-load-XXXXXX");
}

TestSuite(daemon_load, .init = setup, .fini = teardown, .timeout = 60);

static shoal_daemon *start(void)
{
  struct shoal_daemon_config c;
  shoal_daemon_config_default(&c);
  c.state_dir = state;
  c.download_dir = dl;
  c.rpc_port = 0;
  c.tick_ms = 20;
  c.session.bind[0] = "127.0.0.1";
  c.session.port = 0;
  c.session.announce = 0;
  c.session.dht = 0;
  c.session.lsd = 0;
  shoal_daemon *d;
  char err[256];
  cr_assert_eq(shoal_daemon_new(&loop, &c, &d, err, sizeof err), 0, "%s", err);
  return d;
}

static void on_closed(void *ud) { *(int *)ud = 1; }

static void stop(shoal_daemon *d)
{
  int done = 0;
  shoal_daemon_close(d, on_closed, &done);
  while (!done)
    uv_run(&loop, UV_RUN_ONCE);
}

static json_t *rpc(shoal_daemon *d, const char *fmt, ...)
{
  char req[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(req, sizeof req, fmt, ap);
  va_end(ap);
  char *reply;
  size_t len;
  cr_assert_eq(shoal_daemon_rpc(d, req, strlen(req), &reply, &len), 0, "%s", req);
  json_t *j = json_loadb(reply, len, 0, NULL);
  cr_assert(j, "%s", reply);
  free(reply);
  return j;
}

static const char *result(json_t *j) { return json_string_value(json_object_get(j, "result")); }

static json_t *torrents(json_t *j)
{
  return json_object_get(json_object_get(j, "arguments"), "torrents");
}

/* A one-piece torrent named "t<i>", as torrent-add's base64 metainfo. */
static char *metainfo(int i)
{
  char name[16], buf[256];
  int nl = snprintf(name, sizeof name, "t%d", i);
  int n = snprintf(buf, sizeof buf, "d4:infod6:lengthi100e4:name%d:%s12:piece lengthi16384e"
                   "6:pieces20:", nl, name);
  memset(buf + n, 'x', 20);
  memcpy(buf + n + 20, "ee", 2);
  return sh_b64_encode((const uint8_t *)buf, (size_t)n + 22);
}

static json_t *add(shoal_daemon *d, int i)
{
  char *m = metainfo(i);
  json_t *r = rpc(d, "{\"method\":\"torrent-add\",\"arguments\":{\"paused\":true,\"metainfo\":\"%s\"}}", m);
  free(m);
  return r;
}

/* NTOR stored torrents, ids 1..NTOR, all paused. */
static void fill(void)
{
  shoal_daemon *d = start();
  for (int i = 1; i <= NTOR; i++) {
    json_t *r = add(d, i);
    cr_assert_str_eq(result(r), "success");
    json_decref(r);
  }
  stop(d);
}

static size_t count(shoal_daemon *d)
{
  json_t *r = rpc(d, "{\"method\":\"torrent-get\",\"arguments\":{\"fields\":[\"id\"]}}");
  size_t n = json_array_size(torrents(r));
  json_decref(r);
  return n;
}

static void run_until_loaded(shoal_daemon *d)
{
  for (int i = 0; i < 10000 && count(d) < NTOR; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  cr_assert_eq(count(d), NTOR);
}

Test(daemon_load, answers_before_the_torrents_are_back)
{
  fill();
  shoal_daemon *d = start();
  /* no loop turn yet: nothing is back, and the session answers */
  json_t *r = rpc(d, "{\"method\":\"session-get\"}");
  cr_assert_str_eq(result(r), "success");
  json_decref(r);
  cr_assert_eq(count(d), 0);
  /* one turn brings back a batch or more, in id order */
  uv_run(&loop, UV_RUN_NOWAIT);
  size_t n = count(d);
  cr_assert(n >= 32, "%zu back after one turn", n);
  r = rpc(d, "{\"method\":\"torrent-get\",\"arguments\":{\"fields\":[\"id\"]}}");
  for (size_t i = 0; i < n; i++)
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(torrents(r), i), "id")),
                 (json_int_t)i + 1);
  json_decref(r);
  run_until_loaded(d);
  stop(d);
}

Test(daemon_load, recently_active_lists_what_came_back)
{
  fill();
  shoal_daemon *d = start();
  run_until_loaded(d);
  json_t *r = rpc(d, "{\"method\":\"torrent-get\",\"arguments\":{\"ids\":\"recently-active\","
                     "\"fields\":[\"id\"]}}");
  cr_assert_eq(json_array_size(torrents(r)), NTOR);
  json_decref(r);
  stop(d);
}

Test(daemon_load, session_stats_counts_every_stored_torrent)
{
  fill();
  shoal_daemon *d = start();
  /* nothing is back yet: the counts still cover every stored torrent */
  json_t *r = rpc(d, "{\"method\":\"session-stats\"}");
  cr_assert_str_eq(result(r), "success");
  json_t *a = json_object_get(r, "arguments");
  cr_assert_eq(json_integer_value(json_object_get(a, "torrentCount")), NTOR);
  cr_assert_eq(json_integer_value(json_object_get(a, "pausedTorrentCount")), NTOR); /* added paused */
  cr_assert_eq(json_integer_value(json_object_get(a, "activeTorrentCount")), 0);
  json_decref(r);
  stop(d);
}

Test(daemon_load, a_torrent_named_before_it_is_back)
{
  fill();
  shoal_daemon *d = start();
  json_t *r = rpc(d, "{\"method\":\"torrent-get\",\"arguments\":{\"ids\":[%d],"
                     "\"fields\":[\"id\",\"name\",\"status\"]}}", NTOR);
  cr_assert_str_eq(result(r), "success");
  json_t *t = json_array_get(torrents(r), 0);
  cr_assert(t, "torrent %d not found while loading", NTOR);
  cr_assert_str_eq(json_string_value(json_object_get(t, "name")), "t" "300");
  cr_assert_eq(json_integer_value(json_object_get(t, "status")), 0); /* added paused */
  json_decref(r);
  cr_assert_eq(count(d), NTOR); /* naming one brought back all */
  stop(d);
}

Test(daemon_load, add_of_a_torrent_not_back_yet_is_a_duplicate)
{
  fill();
  shoal_daemon *d = start();
  json_t *r = add(d, 150);
  cr_assert_str_eq(result(r), "success");
  json_t *dup = json_object_get(json_object_get(r, "arguments"), "torrent-duplicate");
  cr_assert(dup, "no torrent-duplicate");
  cr_assert_eq(json_integer_value(json_object_get(dup, "id")), 150);
  json_decref(r);
  /* a new one gets the next id, after every stored one */
  r = add(d, NTOR + 1);
  json_t *added = json_object_get(json_object_get(r, "arguments"), "torrent-added");
  cr_assert(added);
  cr_assert_eq(json_integer_value(json_object_get(added, "id")), NTOR + 1);
  json_decref(r);
  cr_assert_eq(count(d), NTOR + 1);
  stop(d);
}

Test(daemon_load, start_of_all_reaches_those_not_back_yet)
{
  fill();
  shoal_daemon *d = start();
  json_t *r = rpc(d, "{\"method\":\"torrent-start\"}");
  cr_assert_str_eq(result(r), "success");
  json_decref(r);
  r = rpc(d, "{\"method\":\"torrent-get\",\"arguments\":{\"fields\":[\"id\",\"status\"]}}");
  cr_assert_eq(json_array_size(torrents(r)), NTOR);
  for (size_t i = 0; i < NTOR; i++) /* queued, checking or running: not stopped */
    cr_assert_neq(json_integer_value(json_object_get(json_array_get(torrents(r), i), "status")),
                  0, "torrent %zu", i + 1);
  json_decref(r);
  stop(d);
}

Test(daemon_load, close_while_loading_keeps_every_row)
{
  fill();
  shoal_daemon *d = start();
  uv_run(&loop, UV_RUN_NOWAIT); /* some back, the rest not */
  stop(d);
  d = start();
  run_until_loaded(d);
  json_t *r = rpc(d, "{\"method\":\"torrent-get\",\"arguments\":{\"fields\":[\"id\",\"name\","
                     "\"status\"]}}");
  for (size_t i = 0; i < NTOR; i++) {
    json_t *t = json_array_get(torrents(r), i);
    char name[16];
    snprintf(name, sizeof name, "t%zu", i + 1);
    cr_assert_eq(json_integer_value(json_object_get(t, "id")), (json_int_t)i + 1);
    cr_assert_str_eq(json_string_value(json_object_get(t, "name")), name);
    cr_assert_eq(json_integer_value(json_object_get(t, "status")), 0);
  }
  json_decref(r);
  stop(d);
}
