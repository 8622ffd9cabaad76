/* A harness for fuzzing the BEP 10 extensions' message handlers through
 * the engine (fuzz_ut_metadata.c, fuzz_ut_pex.c). One session without
 * sockets lives for the whole run, holding a seeding torrent (40 KiB,
 * 16 KiB pieces) and a torrent added by info-hash alone (a magnet link's,
 * fetching its metadata). Each input is one peer, over the in-memory
 * transport, from an address of its own (a ban earned by one input must
 * not refuse the next):
 *
 *   byte 0      bit 0: talk to the magnet torrent (else the seed)
 *   bytes 1-4   the metadata_size it claims (big-endian; 0: none)
 *   then        messages: a 2-byte big-endian length and that many bytes,
 *               each sent as one extension message to the extension under
 *               test (its payload after the id byte)
 *
 * The peer's handshake has the extension bit and its extension handshake
 * names ut_metadata (3) and ut_pex (1). No address an input names is
 * ever contacted: each torrent takes one peer (the fuzzing one fills it,
 * so the handlers' own dial finds no room), the housekeeping tick is off
 * (an hour), so nothing is dialled between inputs, and the peer list
 * learnt from an input is cleared after it. */
#ifndef FUZZ_EXT_H
#define FUZZ_EXT_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "base/bencode.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/sha1.h"
#include "engine/torrent.h"
#include "peer/memio.h"
#include "peer/wire.h"
#include "shoal.h"

#define FX_LEN (40 * 1024 + 77)
#define FX_PIECE (16 * 1024)

static uv_loop_t fx_loop;
static shoal_session *fx_sess;
static shoal_id fx_id[2];      /* the seed, the magnet */
static uint8_t fx_ih[2][20];
static char fx_scratch[64];
static uint32_t fx_count;      /* inputs so far: the peer's address */

static int fx_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)sb;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

static void fx_cleanup(void)
{
  if (fx_scratch[0])
    nftw(fx_scratch, fx_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The seed's .torrent, its content under dir. */
static void fx_torrent(struct sh_buf *b, const char *dir)
{
  static uint8_t data[FX_LEN];
  for (size_t i = 0; i < FX_LEN; i++)
    data[i] = (uint8_t)(i * 2654435761u >> 13);
  char path[300];
  snprintf(path, sizeof path, "%s/fuzz.bin", dir);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, FX_LEN, f) != FX_LEN)
    abort();
  fclose(f);
  uint8_t hashes[20 * 8];
  uint32_t np = (FX_LEN + FX_PIECE - 1) / FX_PIECE;
  for (uint32_t i = 0; i < np; i++) {
    uint32_t off = i * FX_PIECE, n = FX_LEN - off < FX_PIECE ? FX_LEN - off : FX_PIECE;
    sh_sha1(data + off, n, hashes + 20 * i);
  }
  be_put_dict(b);
  be_put_cstr(b, "info");
  be_put_dict(b);
  be_put_cstr(b, "length");
  be_put_int(b, FX_LEN);
  be_put_cstr(b, "name");
  be_put_cstr(b, "fuzz.bin");
  be_put_cstr(b, "piece length");
  be_put_int(b, FX_PIECE);
  be_put_cstr(b, "pieces");
  be_put_str(b, hashes, 20 * np);
  be_put_end(b);
  be_put_end(b);
}

static void fx_setup(void)
{
  sh_log_set_level(SH_LOG_ERROR);
  uv_loop_init(&fx_loop);
  char tmpl[] = "/tmp/shoal-fuzz-ext-XXXXXX";
  char *dir = mkdtemp(tmpl);
  if (!dir)
    abort();
  snprintf(fx_scratch, sizeof fx_scratch, "%s", dir);
  atexit(fx_cleanup);
  struct shoal_settings set;
  shoal_settings_default(&set);
  set.no_listen = 1;
  set.announce = 0;
  set.tick_ms = 3600000;
  /* the fuzzing peer fills each torrent's only slot: what it names
   * (PEX) is never dialled while it is there */
  set.max_peers_per_torrent = 1;
  char err[256];
  if (shoal_session_new(&fx_loop, &set, &fx_sess, err, sizeof err) < 0)
    abort();
  struct sh_buf b = SH_BUF_INIT;
  fx_torrent(&b, dir);
  struct shoal_add_params p = {.torrent = b.data, .torrent_len = b.len, .save_dir = dir,
                               .seed_only = 1};
  if (shoal_torrent_add(fx_sess, &p, &fx_id[0], err, sizeof err) < 0)
    abort();
  sh_buf_free(&b);
  struct shoal_status st;
  do
    uv_run(&fx_loop, UV_RUN_ONCE);
  while (shoal_torrent_status(fx_sess, fx_id[0], &st) == 0 && st.state == SHOAL_CHECKING);
  if (st.state != SHOAL_SEEDING)
    abort();
  memcpy(fx_ih[0], st.info_hash, 20);
  memset(fx_ih[1], 0xa5, 20);
  struct shoal_add_params mp = {.info_hash = fx_ih[1], .save_dir = dir};
  if (shoal_torrent_add(fx_sess, &mp, &fx_id[1], err, sizeof err) < 0)
    abort();
}

/* The bytes the peer sends: handshake, extension handshake, messages. */
static void fx_stream(const uint8_t *in, size_t n, uint8_t ext_id, struct sh_buf *out)
{
  uint8_t hs[68] = {19};
  memcpy(hs + 1, "BitTorrent protocol", 19);
  hs[25] |= 0x10;
  hs[27] |= 0x04;
  memcpy(hs + 28, fx_ih[in[0] & 1], 20);
  memcpy(hs + 48, "-FZ0000-fuzzextfuzz0", 20);
  sh_buf_append(out, hs, 68);
  struct sh_buf eh = SH_BUF_INIT;
  be_put_dict(&eh);
  be_put_cstr(&eh, "m");
  be_put_dict(&eh);
  be_put_cstr(&eh, "ut_metadata");
  be_put_int(&eh, 3);
  be_put_cstr(&eh, "ut_pex");
  be_put_int(&eh, 1);
  be_put_end(&eh);
  uint32_t size = sh_rd32(in + 1);
  if (size) {
    be_put_cstr(&eh, "metadata_size");
    be_put_int(&eh, size);
  }
  be_put_end(&eh);
  sh_wire_put_extended(out, 0, eh.data, eh.len);
  sh_buf_free(&eh);
  for (size_t i = 5; i + 2 <= n;) {
    size_t len = sh_rd16(in + i);
    i += 2;
    if (len > n - i)
      len = n - i;
    sh_wire_put_extended(out, ext_id, in + i, len);
    i += len;
  }
}

/* One input: a peer connects, sends its stream and hangs up; the loop runs
 * until the engine has let it go. ext_id: the engine's id for the
 * extension under test (1 ut_metadata, 2 ut_pex: the order they are
 * registered in). */
static int fx_run(const uint8_t *in, size_t n, uint8_t ext_id)
{
  if (!fx_sess)
    fx_setup();
  if (n < 5)
    return 0;
  fx_count++;
  struct sh_addr who = {.family = 4, .ip = {10, (uint8_t)(fx_count >> 16), (uint8_t)(fx_count >> 8),
                                            (uint8_t)fx_count},
                        .port = 6881};
  struct sh_transport *engine_end, *raw;
  if (sh_memio_pair(&fx_loop, NULL, &who, &engine_end, &raw) < 0)
    return 0;
  sh_session_accept(fx_sess, engine_end);
  struct sh_buf out = SH_BUF_INIT;
  fx_stream(in, n, ext_id, &out);
  size_t sent = 0;
  int shut = 0;
  uint64_t start = uv_hrtime(), last_rx = start;
  while (uv_hrtime() - start < 3000000000ull) {
    uv_run(&fx_loop, UV_RUN_NOWAIT);
    if (shut) {
      if (!fx_sess->hub.nconns)
        break;
      continue;
    }
    uint8_t buf[65536];
    if (sh_memio_read(raw, buf, sizeof buf) > 0)
      last_rx = uv_hrtime();
    int hung_up = sh_memio_peer_closed(raw) && !sh_memio_pending(raw);
    if (sent < out.len && !hung_up) {
      ssize_t w = sh_memio_write(raw, out.data + sent, out.len - sent);
      if (w > 0)
        sent += (size_t)w;
    } else if (hung_up || uv_hrtime() - last_rx > 2000000) {
      sh_memio_close(raw);
      shut = 1;
    }
  }
  sh_buf_free(&out);
  if (!shut)
    sh_memio_close(raw);
  for (int i = 0; i < 20; i++)
    uv_run(&fx_loop, UV_RUN_NOWAIT);
  /* forget what the input named: nothing of it is ever dialled */
  for (int k = 0; k < 2; k++) {
    struct shoal_torrent *t = sh_torrent_by_id(fx_sess, fx_id[k]);
    sh_peers_free(&t->plist);
    sh_peers_init(&t->plist);
  }
  return 0;
}

#endif
