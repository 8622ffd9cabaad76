/* The session's DHT node over real UDP sockets on loopback, through the
 * public API: a seed found by a leecher that knows nothing but a bootstrap
 * node (over IPv4 and IPv6, or the torrent's `nodes` key), private
 * torrents kept out, PORT
 * messages (BEP 5) between connected peers, and the node's id and nodes
 * saved across a restart. */
#include "test_engine_harness.h"

#define PIECE 65536u

static uint16_t dht_port(shoal_session *s) { return shoal_session_port(s); }

/* A session with a DHT node on `addr` (127.0.0.1 or ::1); boot: a port
 * on that address to bootstrap from, or 0. */
static shoal_session *dht_session_on(uv_loop_t *loop, const char *addr, uint16_t boot,
                                     const char *resume_dir)
{
  static char spec[8][48];
  static int next;
  struct shoal_settings set;
  th_settings(&set);
  set.bind[0] = addr;
  set.dht = 1;
  set.resume_dir = resume_dir;
  const char *list[2] = {NULL, NULL};
  if (boot) {
    char *sp = spec[next++ % 8];
    snprintf(sp, 48, strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr, boot);
    list[0] = sp;
  }
  set.dht_bootstrap = list;
  return th_session(loop, &set);
}

static shoal_session *dht_session(uv_loop_t *loop, uint16_t boot, const char *resume_dir)
{
  return dht_session_on(loop, "127.0.0.1", boot, resume_dir);
}

static struct shoal_dht_status dht_status(shoal_session *s)
{
  struct shoal_dht_status st;
  cr_assert_eq(shoal_session_dht_status(s, &st), 0, "the session runs a DHT node");
  return st;
}

struct done_wait {
  shoal_session *s;
  shoal_id id;
};
static int finished(void *ud)
{
  struct done_wait *w = ud;
  th_drain(w->s);
  return th_seen(w->s, w->id, SHOAL_EVENT_FINISHED) > 0;
}

/* Runs the loop until the seed's announce reached node s (a leecher
 * that looks before that finds nobody, and looks again a minute later). */
static void wait_stored(uv_loop_t *loop, shoal_session *s)
{
  for (int i = 0; i < 100 && !dht_status(s).stored_peers; i++)
    th_run_until(loop, NULL, NULL, NULL, 100);
  cr_assert_eq(dht_status(s).stored_hashes, 1, "the node stores the seed's announce");
}

/* Inserts `key` (bencoded, with its value) into raw's info dictionary
 * (inner) or the top level, just before the closing 'e'; keys given here
 * sort after every key already there. */
static void raw_insert(struct sh_buf *raw, const char *key, int inner)
{
  size_t at = raw->len - (inner ? 2 : 1), n = strlen(key);
  sh_buf_reserve(raw, n);
  memmove(raw->data + at + n, raw->data + at, raw->len - at);
  memcpy(raw->data + at, key, n);
  raw->len += n;
}

struct trio {
  uv_loop_t loop;
  struct th_torrent tt;
  char *sdir, *ldir;
  shoal_session *boot, *seed, *leech;
};

/* A loop, the torrent of the one file f, scratch folders for the seed
 * (sdir) and the leecher (ldir); no session yet. */
static void trio_up(struct trio *t, const struct th_file *f)
{
  memset(t, 0, sizeof *t);
  uv_loop_init(&t->loop);
  th_torrent_build(&t->tt, f->path, f, 1, 0, PIECE);
  t->sdir = th_tmpdir();
  t->ldir = th_tmpdir();
}

static void trio_down(struct trio *t)
{
  shoal_session *all[3] = {t->boot, t->seed, t->leech};
  th_close(&t->loop, all, 3);
  cr_expect_eq(uv_loop_close(&t->loop), 0);
  th_rmtree(t->sdir);
  th_rmtree(t->ldir);
  th_torrent_free(&t->tt);
}

Test(engine_dht, trackerless_torrent_found_through_a_bootstrap_node, .timeout = 90)
{
  static const struct th_file f[] = {{"dht.bin", 7 * PIECE + 99, 0}};
  struct trio t;
  trio_up(&t, f);
  th_write_content(&t.tt, t.sdir);
  t.boot = dht_session(&t.loop, 0, NULL);
  t.seed = dht_session(&t.loop, dht_port(t.boot), NULL);
  shoal_id sid = th_add(t.seed, &t.tt, t.sdir, 1);
  cr_assert(th_wait_event(&t.loop, t.seed, sid, SHOAL_EVENT_FINISHED, 20000));
  wait_stored(&t.loop, t.boot);
  /* a leecher with nothing but the bootstrap node */
  t.leech = dht_session(&t.loop, dht_port(t.boot), NULL);
  shoal_id lid = th_add(t.leech, &t.tt, t.ldir, 0);
  struct done_wait w = {t.leech, lid};
  cr_assert(th_run_until(&t.loop, NULL, finished, &w, 60000), "the leecher completed");
  cr_expect(th_content_equal(&t.tt, t.ldir));
  struct shoal_dht_status ls = dht_status(t.leech);
  cr_expect_geq(ls.good[0], 1);
  cr_expect_geq(ls.replies_in, 1);
  trio_down(&t);
}

Test(engine_dht, over_ipv6, .timeout = 90)
{
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  struct sockaddr_in6 lo = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  int up = fd >= 0 && bind(fd, (struct sockaddr *)&lo, sizeof lo) == 0;
  if (fd >= 0)
    close(fd);
  if (!up)
    cr_skip_test("no IPv6 loopback here");
  static const struct th_file f[] = {{"six.bin", 5 * PIECE + 1, 0}};
  struct trio t;
  trio_up(&t, f);
  th_write_content(&t.tt, t.sdir);
  /* BEP 32: the IPv6 DHT, its nodes6 and 18-byte values */
  t.boot = dht_session_on(&t.loop, "::1", 0, NULL);
  t.seed = dht_session_on(&t.loop, "::1", dht_port(t.boot), NULL);
  shoal_id sid = th_add(t.seed, &t.tt, t.sdir, 1);
  cr_assert(th_wait_event(&t.loop, t.seed, sid, SHOAL_EVENT_FINISHED, 20000));
  wait_stored(&t.loop, t.boot);
  t.leech = dht_session_on(&t.loop, "::1", dht_port(t.boot), NULL);
  shoal_id lid = th_add(t.leech, &t.tt, t.ldir, 0);
  struct done_wait w = {t.leech, lid};
  cr_assert(th_run_until(&t.loop, NULL, finished, &w, 60000), "found over the IPv6 DHT");
  cr_expect(th_content_equal(&t.tt, t.ldir));
  struct shoal_dht_status ls = dht_status(t.leech);
  cr_expect_geq(ls.good[1], 1, "an IPv6 routing table");
  cr_expect_eq(ls.nodes[0], 0);
  trio_down(&t);
}

Test(engine_dht, torrent_nodes_key_bootstraps, .timeout = 90)
{
  static const struct th_file f[] = {{"nodes.bin", 3 * PIECE, 0}};
  struct trio t;
  trio_up(&t, f);
  th_write_content(&t.tt, t.sdir);
  t.boot = dht_session(&t.loop, 0, NULL);
  /* BEP 5: nodes = [["127.0.0.1", port]], after `info` at the top level */
  char key[64];
  snprintf(key, sizeof key, "5:nodesll9:127.0.0.1i%ueee", dht_port(t.boot));
  raw_insert(&t.tt.raw, key, 0);
  t.seed = dht_session(&t.loop, 0, NULL);
  t.leech = dht_session(&t.loop, 0, NULL);
  shoal_id sid = th_add(t.seed, &t.tt, t.sdir, 1);
  cr_assert(th_wait_event(&t.loop, t.seed, sid, SHOAL_EVENT_FINISHED, 20000));
  wait_stored(&t.loop, t.boot);
  shoal_id lid = th_add(t.leech, &t.tt, t.ldir, 0);
  struct done_wait w = {t.leech, lid};
  cr_assert(th_run_until(&t.loop, NULL, finished, &w, 60000),
            "the leecher found the seed through the node the torrent names");
  cr_expect(th_content_equal(&t.tt, t.ldir));
  trio_down(&t);
}

Test(engine_dht, private_torrents_stay_out_of_the_dht, .timeout = 60)
{
  static const struct th_file f[] = {{"private.bin", 2 * PIECE, 0}};
  struct trio t;
  trio_up(&t, f);
  raw_insert(&t.tt.raw, "7:privatei1e", 1);
  th_write_content(&t.tt, t.sdir);
  t.boot = dht_session(&t.loop, 0, NULL);
  t.seed = dht_session(&t.loop, dht_port(t.boot), NULL);
  shoal_id sid = th_add(t.seed, &t.tt, t.sdir, 1);
  cr_assert(th_wait_event(&t.loop, t.seed, sid, SHOAL_EVENT_FINISHED, 20000));
  th_run_until(&t.loop, NULL, NULL, NULL, 2000);
  struct shoal_dht_status bs = dht_status(t.boot), ss = dht_status(t.seed);
  cr_expect_geq(ss.good[0], 1, "the seed's node joined the DHT");
  cr_expect_eq(bs.stored_hashes, 0, "but never announced the private torrent");
  cr_expect_eq(ss.searches, 0);
  trio_down(&t);
}

Test(engine_dht, port_messages_introduce_nodes, .timeout = 60)
{
  static const struct th_file f[] = {{"port.bin", 4 * PIECE, 0}};
  struct trio t;
  trio_up(&t, f);
  th_write_content(&t.tt, t.sdir);
  /* two nodes that know nobody: only the PORT messages of their peer
   * connection can introduce them */
  t.seed = dht_session(&t.loop, 0, NULL);
  t.leech = dht_session(&t.loop, 0, NULL);
  shoal_id sid = th_add(t.seed, &t.tt, t.sdir, 1);
  cr_assert(th_wait_event(&t.loop, t.seed, sid, SHOAL_EVENT_FINISHED, 20000));
  shoal_id lid = th_add(t.leech, &t.tt, t.ldir, 0);
  th_add_peer(t.leech, lid, shoal_session_port(t.seed));
  struct done_wait w = {t.leech, lid};
  cr_assert(th_run_until(&t.loop, NULL, finished, &w, 30000));
  th_run_until(&t.loop, NULL, NULL, NULL, 1000);
  cr_expect_eq(dht_status(t.seed).good[0], 1, "the seed's node met the leecher's");
  cr_expect_eq(dht_status(t.leech).good[0], 1, "and the other way round");
  trio_down(&t);
}

Test(engine_dht, id_and_nodes_survive_a_restart, .timeout = 60)
{
  uv_loop_t loop;
  uv_loop_init(&loop);
  char *dir = th_tmpdir();
  shoal_session *boot = dht_session(&loop, 0, NULL);
  shoal_session *a = dht_session(&loop, dht_port(boot), dir);
  for (int i = 0; i < 50 && !dht_status(a).good[0]; i++)
    th_run_until(&loop, NULL, NULL, NULL, 100);
  struct shoal_dht_status before = dht_status(a);
  cr_assert_eq(before.good[0], 1);
  shoal_session *one[1] = {a};
  th_close(&loop, one, 1);
  char path[512];
  snprintf(path, sizeof path, "%s/dht.dat", dir);
  cr_assert_eq(access(path, F_OK), 0, "the state was saved in the resume folder");
  /* no bootstrap node this time: the saved one is asked */
  a = dht_session(&loop, 0, dir);
  cr_expect_arr_eq(dht_status(a).id, before.id, 20, "the same id");
  for (int i = 0; i < 50 && !dht_status(a).good[0]; i++)
    th_run_until(&loop, NULL, NULL, NULL, 100);
  cr_expect_eq(dht_status(a).good[0], 1, "the saved node answered");
  shoal_session *two[2] = {a, boot};
  th_close(&loop, two, 2);
  cr_expect_eq(uv_loop_close(&loop), 0);
  th_rmtree(dir);
}

Test(engine_dht, no_dht_unless_asked)
{
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct shoal_settings set;
  th_settings(&set);
  shoal_session *s = th_session(&loop, &set);
  struct shoal_dht_status st;
  cr_expect_eq(shoal_session_dht_status(s, &st), -ENOENT);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 1, &a);
  cr_expect_eq(shoal_session_dht_add_node(s, (struct sockaddr *)&a), -ENOENT);
  shoal_session *one[1] = {s};
  th_close(&loop, one, 1);
  cr_expect_eq(uv_loop_close(&loop), 0);
}
