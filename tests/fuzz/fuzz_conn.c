/* Fuzzes the engine's handling of a peer's byte stream: framing, every
 * message handler, the request and upload paths. One session without
 * sockets lives for the whole run, holding a seeding torrent and a
 * downloading one of the same 40 KiB content (16 KiB pieces, a short last
 * piece). Each input arrives over the in-memory transport (peer/memio.h):
 * a handshake, then the input, then the end of the stream, and the loop
 * runs until the engine hangs up.
 *
 * Input: byte 0 picks the torrent (bit 0: the downloading one), the
 * handshake's reserved bits (bit 1: fast extension, bit 2: extension
 * protocol) and how uploads leave (bit 3: from memory, as toward a peer on
 * this host; clear: as file extents through the transport's sendfile, as
 * toward a remote peer); the rest is sent verbatim after the handshake. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "base/bencode.h"
#include "base/log.h"
#include "base/sha1.h"
#include "meta/metainfo.h"
#include "engine/session.h"
#include "peer/memio.h"
#include "shoal.h"

#define LEN (40 * 1024 + 77)
#define PIECE (16 * 1024)

static uv_loop_t loop;
static shoal_session *sess;
static uint8_t ih[2][20]; /* the seeding torrent's, the downloading one's */

/* Adds a torrent of the content named name (the name makes the info-hash)
 * with its data under dir; returns its info-hash in out. */
static shoal_id add(const uint8_t *data, const char *name, const char *dir, int seed_only,
                    uint8_t out[20])
{
  struct sh_buf b = SH_BUF_INIT;
  uint32_t np = (LEN + PIECE - 1) / PIECE;
  uint8_t hashes[20 * 8];
  for (uint32_t i = 0; i < np; i++) {
    uint32_t off = i * PIECE, n = LEN - off < PIECE ? LEN - off : PIECE;
    sh_sha1(data + off, n, hashes + 20 * i);
  }
  be_put_dict(&b);
  be_put_cstr(&b, "info");
  be_put_dict(&b);
  be_put_cstr(&b, "length");
  be_put_int(&b, LEN);
  be_put_cstr(&b, "name");
  be_put_cstr(&b, name);
  be_put_cstr(&b, "piece length");
  be_put_int(&b, PIECE);
  be_put_cstr(&b, "pieces");
  be_put_str(&b, hashes, 20 * np);
  be_put_end(&b);
  be_put_end(&b);
  struct shoal_add_params p = {.torrent = b.data, .torrent_len = b.len, .save_dir = dir,
                               .seed_only = seed_only};
  shoal_id id = 0;
  char err[256];
  if (shoal_torrent_add(sess, &p, &id, err, sizeof err) < 0)
    abort();
  sh_buf_free(&b);
  struct shoal_status st;
  shoal_torrent_status(sess, id, &st);
  memcpy(out, st.info_hash, 20);
  return id;
}


static char scratch[64];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)sb;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

/* the scratch directory goes when the fuzzer exits */
static void cleanup(void)
{
  if (scratch[0])
    nftw(scratch, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
  sh_log_set_level(SH_LOG_ERROR);
  uv_loop_init(&loop);
  char tmpl[] = "/tmp/shoal-fuzz-conn-XXXXXX";
  char *dir = mkdtemp(tmpl);
  if (!dir)
    abort();
  snprintf(scratch, sizeof scratch, "%s", dir);
  atexit(cleanup);
  static char seed_dir[256], leech_dir[256];
  snprintf(seed_dir, sizeof seed_dir, "%s/seed", dir);
  snprintf(leech_dir, sizeof leech_dir, "%s/leech", dir);
  mkdir(seed_dir, 0755);
  mkdir(leech_dir, 0755);
  static uint8_t data[LEN];
  for (size_t i = 0; i < LEN; i++)
    data[i] = (uint8_t)(i * 2654435761u >> 13);
  char path[300];
  snprintf(path, sizeof path, "%s/fuzz.bin", seed_dir);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, LEN, f) != LEN)
    abort();
  fclose(f);
  struct shoal_settings set;
  shoal_settings_default(&set);
  set.no_listen = 1;
  set.announce = 0;
  char err[256];
  if (shoal_session_new(&loop, &set, &sess, err, sizeof err) < 0)
    abort();
  shoal_id seed = add(data, "fuzz.bin", seed_dir, 1, ih[0]);
  struct shoal_status st;
  do
    uv_run(&loop, UV_RUN_ONCE);
  while (shoal_torrent_status(sess, seed, &st) == 0 && st.state == SHOAL_CHECKING);
  if (st.state != SHOAL_SEEDING)
    abort();
  /* the downloading torrent: same content, another info-hash via the name */
  add(data, "fuzz2.bin", leech_dir, 0, ih[1]);
  for (int i = 0; i < 50; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
  if (!sess)
    setup();
  if (n < 1)
    return 0;
  struct sh_addr who = {.family = 4, .ip = {192, 0, 2, 9}, .port = 6881};
  struct sh_transport *engine_end, *raw;
  if (sh_memio_pair(&loop, NULL, &who, &engine_end, &raw) < 0)
    return 0;
  sh_memio_set_sendfile(engine_end, !(in[0] & 8));
  sh_session_accept(sess, engine_end);
  uint8_t hs[68] = {19};
  memcpy(hs + 1, "BitTorrent protocol", 19);
  if (in[0] & 2)
    hs[27] |= 0x04;
  if (in[0] & 4)
    hs[25] |= 0x10;
  memcpy(hs + 28, ih[in[0] & 1], 20);
  memcpy(hs + 48, "-FZ0000-fuzzfuzzfuzz", 20);
  /* the whole stream, written as the engine's end takes it while the loop
   * runs */
  size_t total = 68 + n - 1, sent = 0;
  uint8_t *out = malloc(total);
  memcpy(out, hs, 68);
  memcpy(out + 68, in + 1, n - 1);
  int shut = 0;
  uint64_t start = uv_hrtime(), last_rx = start;
  while (uv_hrtime() - start < 3000000000ull) {
    uv_run(&loop, UV_RUN_NOWAIT);
    if (shut) {
      if (!sess->hub.nconns)
        break; /* the engine's side is gone too */
      continue;
    }
    uint8_t buf[65536];
    if (sh_memio_read(raw, buf, sizeof buf) > 0)
      last_rx = uv_hrtime();
    int hung_up = sh_memio_peer_closed(raw) && !sh_memio_pending(raw);
    if (sent < total && !hung_up) {
      ssize_t w = sh_memio_write(raw, out + sent, total - sent);
      if (w > 0)
        sent += (size_t)w;
    } else if (hung_up || uv_hrtime() - last_rx > 2000000) {
      /* End the stream once the engine hung up or has been quiet for
       * 2 ms: requests are answered after a disk job on the pool, and an
       * early end would close the peer before its blocks go out. */
      sh_memio_close(raw);
      shut = 1;
    }
  }
  free(out);
  if (!shut)
    sh_memio_close(raw);
  /* let the engine finish closing its side */
  for (int i = 0; i < 20; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  return 0;
}
