/* Zero-copy uploads over the TCP transport: a seed serves a multi-file
 * torrent to a leech over loopback with sendfile(2) from the page cache, BEP 47 padding going out
 * as zeros from memory, and pieces spanning more files than a sendfile
 * entry holds falling back to the read-into-memory path. The leech checks
 * every piece's SHA-1, so a wrong byte anywhere fails the download.
 * Peers on this host get uploads from memory unless local_sendfile is set:
 * the sendfile tests set it, and two tests check the default. */
#include "test_engine_harness.h"

#include <errno.h>
#include <sys/sendfile.h>

#include "disk/io.h"
#include "peer/tcp.h"
#include "engine/torrent.h"

/* 32 KiB pieces over: a.bin, a padding file that aligns b.bin to piece 2
 * (piece 1 = the tail of a.bin + 25,536 bytes of padding: one file extent
 * and one of zeros), b.bin, six 10-byte files and c.bin (piece 5 spans
 * b.bin, the six and c.bin: 8 files, more than SH_DISK_MAX_EXTENTS). */
#define PL 32768u
static const struct th_file files[] = {
    {"a.bin", 40000, 0}, {".pad/25536", 25536, 1}, {"b.bin", 100000, 0}, {"t1", 10, 0},
    {"t2", 10, 0},       {"t3", 10, 0},             {"t4", 10, 0},       {"t5", 10, 0},
    {"t6", 10, 0},       {"c.bin", 50000, 0},
};
#define NFILES (sizeof files / sizeof files[0])

static void build(struct th_torrent *c) { th_torrent_build(c, "sf", files, NFILES, 1, PL); }

/* The test content seeded by one session and downloaded by another over
 * loopback: returns once the leech has it all and its files are checked. */
struct swarm_fx {
  struct th_torrent c;
  uv_loop_t loop;
  char *sdir, *ldir;
  shoal_session *ss[2];
  shoal_id st;
};

/* The seed torrent's engine state, for its disk counters. */
static struct shoal_torrent *seed_torrent(struct swarm_fx *f)
{
  return sh_torrent_by_id(f->ss[0], f->st);
}

/* Starts the seed (sendfile toward peers on this host too when
 * local_sendfile) and waits until it has checked its data. */
static void seed_start(struct swarm_fx *f, int local_sendfile)
{
  build(&f->c);
  uv_loop_init(&f->loop);
  f->sdir = th_tmpdir();
  f->ldir = th_tmpdir();
  th_write_content(&f->c, f->sdir);
  struct shoal_settings set;
  th_settings(&set);
  set.local_sendfile = local_sendfile;
  f->ss[0] = th_session(&f->loop, &set);
  f->ss[1] = th_session(&f->loop, &set);
  f->st = th_add(f->ss[0], &f->c, f->sdir, 1);
  cr_assert(th_wait_event(&f->loop, f->ss[0], f->st, SHOAL_EVENT_FINISHED, 20000),
            "seed checked its data");
}

/* A leech downloads everything from the started seed. */
static void leech_all(struct swarm_fx *f)
{
  shoal_id lt = th_add(f->ss[1], &f->c, f->ldir, 0);
  th_add_peer(f->ss[1], lt, shoal_session_port(f->ss[0]));
  cr_assert(th_wait_event(&f->loop, f->ss[1], lt, SHOAL_EVENT_FINISHED, 60000),
            "the leech completed");
  cr_expect(th_content_equal(&f->c, f->ldir), "the leech's files equal the content");
  struct shoal_status sst = th_status(f->ss[0], f->st);
  cr_expect_eq(sst.uploaded, f->c.total, "the seed uploaded each byte once");
}

static void seed_to_leech(struct swarm_fx *f, int local_sendfile)
{
  seed_start(f, local_sendfile);
  leech_all(f);
}

static void swarm_fx_free(struct swarm_fx *f)
{
  th_close(&f->loop, f->ss, 2);
  cr_expect_eq(uv_loop_close(&f->loop), 0);
  th_rmtree(f->sdir);
  th_rmtree(f->ldir);
  th_torrent_free(&f->c);
}

Test(tcp_sendfile, seed_serves_files_padding_and_fallback_pieces, .timeout = 90)
{
  struct swarm_fx f;
  seed_to_leech(&f, 1);
  struct sh_disk_stats ds;
  sh_disk_stats(seed_torrent(&f)->disk, &ds);
  uint32_t np = (uint32_t)((f.c.total + PL - 1) / PL);
  cr_expect_eq(ds.file_fallbacks, 1, "piece 5 (8 files) came from memory: %llu",
               (unsigned long long)ds.file_fallbacks);
  cr_expect_eq(ds.file_entries, np - 1, "every other piece went by sendfile: %llu of %u",
               (unsigned long long)ds.file_entries, np);
  swarm_fx_free(&f);
}

/* A peer on this host (here: loopback) is served from the read cache by
 * default: no piece goes out by sendfile. */
Test(tcp_sendfile, local_peer_served_from_memory, .timeout = 90)
{
  struct swarm_fx f;
  seed_to_leech(&f, 0);
  struct sh_disk_stats ds;
  sh_disk_stats(seed_torrent(&f)->disk, &ds);
  cr_expect_eq(ds.file_entries, 0, "no piece went by sendfile: %llu",
               (unsigned long long)ds.file_entries);
  cr_expect_gt(ds.disk_reads, 0, "pieces were read into memory");
  swarm_fx_free(&f);
}

static void on_held(void *ud, int rc, const uint8_t *data, struct sh_disk_ref *ref)
{
  struct sh_disk_ref **out = ud;
  cr_expect_eq(rc, 0);
  cr_expect_null(data, "piece 2 is held for sendfile, not in memory");
  *out = ref;
}

static int held(void *ud) { return *(struct sh_disk_ref **)ud != NULL; }

/* A piece held for sendfile (as for a remote peer) while a local peer asks
 * for it: the memory read cannot have it (-EBUSY), so that piece goes to
 * the local peer by sendfile instead of being refused. */
Test(tcp_sendfile, piece_held_for_sendfile_reaches_local_peer, .timeout = 90)
{
  struct swarm_fx f;
  seed_start(&f, 0);
  struct sh_disk_ref *ref = NULL;
  cr_assert_eq(sh_disk_serve_block(seed_torrent(&f)->disk, 2, 0, 16384, 1, on_held, &ref), 0);
  cr_assert(th_run_until(&f.loop, NULL, held, &ref, 10000), "piece 2 was loaded for sendfile");
  leech_all(&f);
  struct sh_disk_stats ds;
  sh_disk_stats(seed_torrent(&f)->disk, &ds);
  cr_expect_eq(ds.file_entries, 1, "piece 2 alone went by sendfile: %llu",
               (unsigned long long)ds.file_entries);
  sh_disk_ref_release(ref);
  swarm_fx_free(&f);
}

/* A file system that cannot splice: every sendfile sends half of what it
 * is asked (so a block is cut mid-way), then fails with EINVAL. The seed
 * reads the rest of that block into memory and sends it from there (and
 * loads new pieces into memory from then on): the leech still gets every
 * byte right, and each byte is uploaded once. */
static int einvals;

static ssize_t half_then_einval(int out_fd, int in_fd, off_t *offset, size_t count)
{
  static int calls;
  if (calls++ % 2 == 0 && count > 1)
    return sendfile(out_fd, in_fd, offset, count / 2);
  einvals++;
  errno = EINVAL;
  return -1;
}

Test(tcp_sendfile, einval_falls_back_to_memory, .timeout = 90)
{
  sh_tcp_sendfile_fn = half_then_einval;
  struct swarm_fx f;
  seed_to_leech(&f, 1);
  cr_expect_gt(einvals, 0, "the seed met the failing sendfile");
  swarm_fx_free(&f);
  sh_tcp_sendfile_fn = sendfile;
}

/* A raw peer: a client thread speaking the wire protocol by hand. */
struct raw_job {
  uint16_t port;
  uint8_t ih[20];
  uint32_t np;
  size_t got;          /* stall_client: bytes read after stalling */
  uint32_t blk[4][2];  /* order_client: piece, begin of the replies */
  int n;
  atomic_int done;
};

static int raw_done(void *ud) { return atomic_load(&((struct raw_job *)ud)->done); }

/* The test content seeded by a session of its own, and a raw peer run
 * against it to the end. */
struct seed_fx {
  struct th_torrent c;
  uv_loop_t loop;
  char *sdir;
  shoal_session *ss[2];
  struct shoal_settings set;
  int local_sendfile; /* set before seed_with_raw_peer */
};

static void seed_with_raw_peer(struct seed_fx *f, void *(*client)(void *), struct raw_job *j)
{
  build(&f->c);
  uv_loop_init(&f->loop);
  f->sdir = th_tmpdir();
  th_write_content(&f->c, f->sdir);
  th_settings(&f->set);
  f->set.local_sendfile = f->local_sendfile;
  f->ss[0] = th_session(&f->loop, &f->set);
  f->ss[1] = NULL;
  struct sh_metainfo *m = th_metainfo(&f->c);
  j->port = shoal_session_port(f->ss[0]);
  j->np = m->num_pieces;
  memcpy(j->ih, m->info_hash, 20);
  sh_metainfo_free(m);
  atomic_init(&j->done, 0);
  shoal_id st = th_add(f->ss[0], &f->c, f->sdir, 1);
  cr_assert(th_wait_event(&f->loop, f->ss[0], st, SHOAL_EVENT_FINISHED, 20000),
            "seed checked its data");
  pthread_t th;
  pthread_create(&th, NULL, client, j);
  cr_assert(th_run_until(&f->loop, NULL, raw_done, j, 30000), "the raw peer finished");
  pthread_join(th, NULL);
}

static void seed_fx_free(struct seed_fx *f, int nsessions)
{
  th_close(&f->loop, f->ss, nsessions);
  cr_expect_eq(uv_loop_close(&f->loop), 0);
  th_rmtree(f->sdir);
  th_torrent_free(&f->c);
}

static void put_request(uint8_t *msg, uint32_t piece, uint32_t begin)
{
  sh_wr32(msg, 13);
  msg[4] = 6;
  sh_wr32(msg + 5, piece);
  sh_wr32(msg + 9, begin);
  sh_wr32(msg + 13, 16384);
}

/* Connects as peer_id (with a receive buffer of rcvbuf bytes if not 0),
 * says interested and reads up to the unchoke. Returns the socket, or -1
 * when the handshake failed. */
static int raw_unchoked(const struct raw_job *j, const char *peer_id, int rcvbuf)
{
  int fd = th_connect(j->port);
  uint8_t hs[68], buf[70000];
  th_handshake(hs, j->ih, peer_id, 1);
  if (fd < 0 || th_send_all(fd, hs, 68) < 0 || th_recv_all(fd, hs, 68) < 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  if (rcvbuf)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  uint8_t msg[5];
  sh_wr32(msg, 1);
  msg[4] = 2; /* interested */
  th_send_all(fd, msg, 5);
  for (int i = 0; i < 50; i++) {
    int id = th_read_msg(fd, buf, sizeof buf, NULL);
    if (id == 1 || id < -1)
      break;
  }
  return fd;
}

/* A leech that stops reading: the seed's socket fills, its writes wait for
 * the poll handle, and when the leech drains and hangs up mid-transfer the
 * seed closes cleanly (no leaked pins or descriptors; ASan checks) and
 * keeps serving a second leech. */
static void *stall_client(void *arg)
{
  struct raw_job *j = arg;
  /* unchoked, ask for every block and read nothing */
  int fd = raw_unchoked(j, "-XX0000-stallpeer001", 4096);
  if (fd < 0)
    goto out;
  uint8_t msg[17], buf[70000];
  /* 40 rounds over the full pieces: 480 blocks, 7.5 MiB, far more than
   * loopback socket buffers hold, well under the flood limit (4000) */
  for (int round = 0; round < 40; round++)
    for (uint32_t p = 0; p + 1 < j->np; p++)
      for (uint32_t b = 0; b < PL; b += 16384) {
        put_request(msg, p, b);
        th_send_all(fd, msg, 17);
      }
  usleep(500 * 1000);
  /* read a little of what piled up, then hang up */
  struct timeval tv = {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ssize_t r = recv(fd, buf, sizeof buf, 0);
  if (r > 0)
    j->got = (size_t)r;
out:
  if (fd >= 0)
    close(fd);
  atomic_store(&j->done, 1);
  return NULL;
}

Test(tcp_sendfile, stalled_reader_then_hangup, .timeout = 90)
{
  struct seed_fx f = {.local_sendfile = 1};
  struct raw_job j = {0};
  seed_with_raw_peer(&f, stall_client, &j);
  cr_expect_gt(j.got, 0, "some piece data reached the stalled peer");
  /* the seed notices the hang-up and still serves a real leech */
  char *ldir = th_tmpdir();
  f.ss[1] = th_session(&f.loop, &f.set);
  shoal_id lt = th_add(f.ss[1], &f.c, ldir, 0);
  th_add_peer(f.ss[1], lt, shoal_session_port(f.ss[0]));
  cr_assert(th_wait_event(&f.loop, f.ss[1], lt, SHOAL_EVENT_FINISHED, 60000),
            "the leech completed");
  cr_expect(th_content_equal(&f.c, ldir));
  th_rmtree(ldir);
  seed_fx_free(&f, 2);
}

/* Blocks leave in the order they were asked for, even when a later one is
 * ready first: piece 2 is in the seed's cache after one block of it went
 * out, pieces 0 and 3 are not, and a batch asking 0, 2, 3, 2 must come
 * back as 0, 2, 3, 2. (libtorrent counts requests that a later block
 * overtook as skipped, and can take them for dropped.) */
static void *order_client(void *arg)
{
  struct raw_job *j = arg;
  int fd = raw_unchoked(j, "-XX0000-orderpeer001", 0);
  if (fd < 0)
    goto out;
  uint8_t buf[20000], msg[4 * 17];
  int id = 0;
  put_request(msg, 2, 0);
  th_send_all(fd, msg, 17);
  while (id != 7 && id >= -1) /* piece 2 is cached once this is here */
    id = th_read_msg(fd, buf, sizeof buf, NULL);
  static const uint32_t ask[4][2] = {{0, 0}, {2, 16384}, {3, 0}, {2, 0}};
  for (int i = 0; i < 4; i++)
    put_request(msg + 17 * i, ask[i][0], ask[i][1]);
  th_send_all(fd, msg, sizeof msg);
  while (j->n < 4) {
    uint32_t len = 0;
    id = th_read_msg(fd, buf, sizeof buf, &len);
    if (id < -1)
      break;
    if (id == 7 && len >= 8) {
      j->blk[j->n][0] = sh_rd32(buf);
      j->blk[j->n][1] = sh_rd32(buf + 4);
      j->n++;
    }
  }
out:
  if (fd >= 0)
    close(fd);
  atomic_store(&j->done, 1);
  return NULL;
}

static void order_check(int local_sendfile)
{
  struct seed_fx f = {.local_sendfile = local_sendfile};
  struct raw_job j = {0};
  seed_with_raw_peer(&f, order_client, &j);
  cr_assert_eq(j.n, 4, "all four blocks came back (%d)", j.n);
  static const uint32_t want[4][2] = {{0, 0}, {2, 16384}, {3, 0}, {2, 0}};
  for (int i = 0; i < 4; i++)
    cr_expect(j.blk[i][0] == want[i][0] && j.blk[i][1] == want[i][1],
              "reply %d is piece %u offset %u, want piece %u offset %u", i, j.blk[i][0],
              j.blk[i][1], want[i][0], want[i][1]);
  seed_fx_free(&f, 1);
}

Test(tcp_sendfile, blocks_leave_in_request_order, .timeout = 60) { order_check(1); }

Test(tcp_sendfile, blocks_from_memory_leave_in_request_order, .timeout = 60) { order_check(0); }
