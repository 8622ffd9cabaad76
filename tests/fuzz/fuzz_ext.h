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

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/log.h"
#include "engine/torrent.h"
#include "fuzz_engine.h"
#include "peer/wire.h"

static uv_loop_t fx_loop;
static shoal_session *fx_sess;
static shoal_id fx_id[2];      /* the seed, the magnet */
static uint8_t fx_ih[2][20];
static uint32_t fx_count;      /* inputs so far: the peer's address */

static void fx_setup(void)
{
  sh_log_set_level(SH_LOG_ERROR);
  uv_loop_init(&fx_loop);
  const char *dir = fz_scratch_dir();
  const uint8_t *data = fz_content(dir);
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
  fz_torrent(&b, data, "fuzz.bin");
  struct shoal_add_params p = {.torrent = b.data, .torrent_len = b.len, .save_dir = dir,
                               .seed_only = 1};
  if (shoal_torrent_add(fx_sess, &p, &fx_id[0], err, sizeof err) < 0)
    abort();
  sh_buf_free(&b);
  fz_wait_seeding(&fx_loop, fx_sess, fx_id[0]);
  struct shoal_status st;
  shoal_torrent_status(fx_sess, fx_id[0], &st);
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
  fz_play(&fx_loop, fx_sess, raw, out.data, out.len);
  sh_buf_free(&out);
  /* forget what the input named: nothing of it is ever dialled */
  for (int k = 0; k < 2; k++) {
    struct shoal_torrent *t = sh_torrent_by_id(fx_sess, fx_id[k]);
    sh_peers_free(&t->plist);
    sh_peers_init(&t->plist);
  }
  return 0;
}

#endif
