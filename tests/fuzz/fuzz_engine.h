/* Shared by the fuzz targets that drive a whole session over the
 * in-memory transport (fuzz_conn.c, fuzz_ext.h): a scratch folder removed
 * at exit, a small torrent's content and metainfo (FZ_LEN bytes in 16 KiB
 * pieces, a short last one), and one peer's bytes played into the engine
 * until it lets the peer go. */
#ifndef FUZZ_ENGINE_H
#define FUZZ_ENGINE_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "base/bencode.h"
#include "base/buf.h"
#include "base/sha1.h"
#include "engine/session.h"
#include "peer/memio.h"
#include "shoal.h"

#define FZ_LEN (40 * 1024 + 77)
#define FZ_PIECE (16 * 1024)

static char fz_scratch[64];

static int fz_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)sb;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

static void fz_cleanup(void)
{
  if (fz_scratch[0])
    nftw(fz_scratch, fz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new /tmp/shoal-fuzz-XXXXXX, removed when the fuzzer exits. */
static const char *fz_scratch_dir(void)
{
  char tmpl[] = "/tmp/shoal-fuzz-XXXXXX";
  char *dir = mkdtemp(tmpl);
  if (!dir)
    abort();
  snprintf(fz_scratch, sizeof fz_scratch, "%s", dir);
  atexit(fz_cleanup);
  return fz_scratch;
}

/* The content (the same bytes every run), written to dir/fuzz.bin. */
static const uint8_t *fz_content(const char *dir)
{
  static uint8_t data[FZ_LEN];
  for (size_t i = 0; i < FZ_LEN; i++)
    data[i] = (uint8_t)(i * 2654435761u >> 13);
  char path[300];
  snprintf(path, sizeof path, "%s/fuzz.bin", dir);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, FZ_LEN, f) != FZ_LEN)
    abort();
  fclose(f);
  return data;
}

/* The content's .torrent under name (the name makes the info-hash). */
static void fz_torrent(struct sh_buf *b, const uint8_t *data, const char *name)
{
  uint8_t hashes[20 * 8];
  uint32_t np = (FZ_LEN + FZ_PIECE - 1) / FZ_PIECE;
  for (uint32_t i = 0; i < np; i++) {
    uint32_t off = i * FZ_PIECE, n = FZ_LEN - off < FZ_PIECE ? FZ_LEN - off : FZ_PIECE;
    sh_sha1(data + off, n, hashes + 20 * i);
  }
  be_put_dict(b);
  be_put_cstr(b, "info");
  be_put_dict(b);
  be_put_cstr(b, "length");
  be_put_int(b, FZ_LEN);
  be_put_cstr(b, "name");
  be_put_cstr(b, name);
  be_put_cstr(b, "piece length");
  be_put_int(b, FZ_PIECE);
  be_put_cstr(b, "pieces");
  be_put_str(b, hashes, 20 * np);
  be_put_end(b);
  be_put_end(b);
}

/* Runs the loop until torrent id is past its start-up check; aborts
 * unless it is then seeding. */
static void fz_wait_seeding(uv_loop_t *loop, shoal_session *s, shoal_id id)
{
  struct shoal_status st;
  do
    uv_run(loop, UV_RUN_ONCE);
  while (shoal_torrent_status(s, id, &st) == 0 && st.state == SHOAL_CHECKING);
  if (st.state != SHOAL_SEEDING)
    abort();
}

/* Writes out[0..total) into raw as the engine's end takes it while the
 * loop runs, until the engine hung up or has been quiet for 2 ms
 * (requests are answered after a disk job on the pool, and an early end
 * would close the peer before its blocks go out), then hangs up and lets
 * the engine finish closing its side. */
static void fz_play(uv_loop_t *loop, shoal_session *s, struct sh_transport *raw,
                    const uint8_t *out, size_t total)
{
  size_t sent = 0;
  int shut = 0;
  uint64_t start = uv_hrtime(), last_rx = start;
  while (uv_hrtime() - start < 3000000000ull) {
    uv_run(loop, UV_RUN_NOWAIT);
    if (shut) {
      if (!s->hub.nconns)
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
      sh_memio_close(raw);
      shut = 1;
    }
  }
  if (!shut)
    sh_memio_close(raw);
  for (int i = 0; i < 20; i++)
    uv_run(loop, UV_RUN_NOWAIT);
}

#endif
