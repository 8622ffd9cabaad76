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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "base/log.h"
#include "fuzz_engine.h"

static uv_loop_t loop;
static shoal_session *sess;
static uint8_t ih[2][20]; /* the seeding torrent's, the downloading one's */

/* Adds a torrent of the content named name (the name makes the info-hash)
 * with its data under dir; returns its info-hash in out. */
static shoal_id add(const uint8_t *data, const char *name, const char *dir, int seed_only,
                    uint8_t out[20])
{
  struct sh_buf b = SH_BUF_INIT;
  fz_torrent(&b, data, name);
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

static void setup(void)
{
  sh_log_set_level(SH_LOG_ERROR);
  uv_loop_init(&loop);
  const char *dir = fz_scratch_dir();
  static char seed_dir[256], leech_dir[256];
  snprintf(seed_dir, sizeof seed_dir, "%s/seed", dir);
  snprintf(leech_dir, sizeof leech_dir, "%s/leech", dir);
  mkdir(seed_dir, 0755);
  mkdir(leech_dir, 0755);
  const uint8_t *data = fz_content(seed_dir);
  struct shoal_settings set;
  shoal_settings_default(&set);
  set.no_listen = 1;
  set.announce = 0;
  char err[256];
  if (shoal_session_new(&loop, &set, &sess, err, sizeof err) < 0)
    abort();
  fz_wait_seeding(&loop, sess, add(data, "fuzz.bin", seed_dir, 1, ih[0]));
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
  /* the whole stream, written as the engine's end takes it */
  size_t total = 68 + n - 1;
  uint8_t *out = malloc(total);
  memcpy(out, hs, 68);
  memcpy(out + 68, in + 1, n - 1);
  fz_play(&loop, sess, raw, out, total);
  free(out);
  return 0;
}
