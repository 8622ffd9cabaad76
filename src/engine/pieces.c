/* A torrent's pieces in flight: their buffers (slots of one huge-page
 * mapping per torrent, within the session's budget), the requests
 * counted per piece, blocks copied in as they arrive, and the hash-and-
 * write of completed pieces in groups on the thread pool; a piece that
 * fails its hash gives its senders a strike. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitfield.h"
#include "base/error.h"
#include "base/log.h"
#include "base/sha1_mb.h"
#include "disk/io.h"
#include "disk/storage.h"
#include "engine/torrent.h"
#include "meta/metainfo.h"
#include "swarm/picker.h"
#include "base/vec.h"

static void on_hashed(void *ud, uint32_t piece, int rc, size_t bad_file, uint8_t *buf);

/* Pieces go to the thread pool at most SH_HASH_JOBS groups at a time, and
 * count until written. Buffered writes to one file serialise on its inode
 * lock, so more concurrent jobs only spin (measured: 11% of the leecher's
 * CPU in rwsem_spin_on_owner with libuv's 4 threads); two keep one hashing
 * while the other writes. With O_DIRECT a group's job only hashes and each
 * verified piece is written by a job of its own (disk/io.c), which frees
 * its buffer as soon as it is on disk. */
#define SH_HASH_JOBS 2

/* A seeding torrent needs no piece buffers: their memory goes back to the
 * system once the last one is free. */
void sh_torrent_bufs_maybe_free(struct shoal_torrent *t)
{
  if (t->state == SHOAL_SEEDING && t->bufs.base && t->bufs.nfree == t->bufs.nslots)
    sh_slab_free(&t->bufs);
}

/* The bytes one piece buffer takes from the session's budget. */
static size_t buf_len(const struct shoal_torrent *t)
{
  const size_t a = SH_STORAGE_BUF_ALIGN;
  return ((size_t)t->m->piece_length + a - 1) / a * a + a;
}

static void part_release(struct shoal_torrent *t, struct sh_partial *pp)
{
  t->slot_of[pp->piece] = -1;
  pp->used = 0;
  t->bufs_held -= buf_len(t);
  t->sess->bufs_used -= buf_len(t);
  /* Slots are kept for reuse: fresh 1 MiB allocations would cost syscalls
   * and page faults per piece. Once the download is done and the last
   * buffer is back, the memory goes back to the system. */
  if (sh_slab_owns(&t->bufs, pp->mem)) {
    sh_slab_put(&t->bufs, pp->mem);
    sh_torrent_bufs_maybe_free(t);
  } else {
    free(pp->mem);
  }
  pp->buf = pp->mem = NULL;
}

uint8_t *sh_torrent_piece_buf(struct shoal_torrent *t, uint32_t piece)
{
  int32_t s = t->slot_of[piece];
  if (s >= 0)
    return t->parts[s].buf;
  /* The session's budget is shared by every torrent; a torrent may always
   * hold two buffers, so one that finds the budget spent elsewhere still
   * completes pieces (and frees buffers) instead of stalling. */
  size_t len = buf_len(t);
  struct shoal_session *ss = t->sess;
  if (t->bufs_held >= 2 * len && ss->bufs_used + len > ss->set.piece_buffer_bytes)
    return NULL;
  size_t i = 0;
  while (i < t->nparts && t->parts[i].used)
    i++;
  if (i == t->nparts) {
    size_t n = t->nparts ? t->nparts * 2 : 16;
    struct sh_partial *np = realloc(t->parts, n * sizeof *np);
    if (!np)
      return NULL;
    memset(np + t->nparts, 0, (n - t->nparts) * sizeof *np);
    t->parts = np;
    t->nparts = n;
  }
  /* Placed so that storage writes the piece with O_DIRECT straight from
   * it: page-aligned for a single file, and in a multi-file torrent as far
   * into the page as lines up the file holding most of the piece. */
  const size_t a = SH_STORAGE_BUF_ALIGN;
  if (!t->bufs.base)
    sh_slab_init(&t->bufs, len, a, (size_t)t->sess->set.max_pieces_in_flight);
  /* The picker keeps at most max_pieces_in_flight pieces partial, so the
   * slots should do; should they not, or the reservation fail (address
   * space), the buffer comes from malloc. */
  uint8_t *mem = sh_slab_get(&t->bufs);
  if (!mem && !(mem = aligned_alloc(a, len)))
    return NULL;
  struct sh_partial *pp = &t->parts[i];
  memset(pp, 0, sizeof *pp);
  pp->piece = piece;
  pp->mem = mem;
  pp->buf = mem + sh_storage_buf_shift(t->m, piece);
  pp->used = 1;
  t->slot_of[piece] = (int32_t)i;
  t->bufs_held += len;
  ss->bufs_used += len;
  return pp->buf;
}

static struct sh_partial *part_of(struct shoal_torrent *t, uint32_t piece)
{
  int32_t s = piece < t->m->num_pieces ? t->slot_of[piece] : -1;
  return s < 0 ? NULL : &t->parts[s];
}

static void part_maybe_release(struct shoal_torrent *t, struct sh_partial *pp)
{
  if (!pp->inflight && !pp->got && !pp->hashing)
    part_release(t, pp);
}

void sh_torrent_req_add(struct shoal_torrent *t, uint32_t piece)
{
  struct sh_partial *pp = part_of(t, piece);
  if (pp)
    pp->inflight++;
}

void sh_torrent_req_abort(struct shoal_torrent *t, uint32_t piece, uint32_t begin)
{
  if (t->picker)
    sh_picker_abort(t->picker, piece, begin);
  struct sh_partial *pp = part_of(t, piece);
  if (pp && pp->inflight) {
    pp->inflight--;
    part_maybe_release(t, pp);
  }
}

void sh_torrent_req_cancelled(struct shoal_torrent *t, uint32_t piece)
{
  struct sh_partial *pp = part_of(t, piece);
  if (pp && pp->inflight)
    pp->inflight--;
}

/* Pieces per hash job. With multi-buffer SHA-1 (AVX-512: 16 lanes) a group
 * of 16 pieces costs the CPU of about 5 hashed one by one, so completed
 * pieces wait in hashq until a group is full. They never wait long: the
 * queue is sent as it is once no block is left to request (the last
 * pieces; the endgame alone is not enough, as it ends when every block has
 * arrived), when no full group could form within max_pieces_in_flight,
 * and once the oldest has waited SH_HASH_WAIT_MS (checked as blocks
 * arrive, and at every housekeeping tick). Without multi-buffer SHA-1 the
 * group is 1. */
/* A piece is passed on to other peers only once it is hashed and
 * written: at 6 pieces a second (a leecher on a 4 MiB/s uplink) a group of
 * 16 took nearly 3 s to fill, and the one-second tick held pieces back
 * half a second on average. So a short group goes after 100 ms, unless
 * the download is fast enough to fill it within 500 ms: then the CPU
 * matters more (eight leechers on loopback spent 25 % more CPU hashing
 * groups cut short at 100 ms), and waiting for it costs little. */
#define SH_HASH_WAIT_MS 100
#define SH_HASH_FILL_MS 500

static unsigned hash_group(void)
{
  static unsigned g;
  if (!g) {
    unsigned lanes = sh_sha1_mb_lanes(SH_SHA1_MB_AUTO);
    g = lanes >= 8 ? (lanes < SH_DISK_HASH_GROUP ? lanes : SH_DISK_HASH_GROUP) : 1;
  }
  return g;
}

static void hash_pump_mode(struct shoal_torrent *t, int flush)
{
  unsigned group = hash_group();
  while (t->nhashq) {
    unsigned n = t->nhashq < group ? (unsigned)t->nhashq : group;
    /* hash_running counts pieces: SH_HASH_JOBS full groups at most */
    if ((unsigned)t->hash_running + n > SH_HASH_JOBS * group)
      break;
    /* A short group waits only while the pieces to fill it can still come:
     * the picker keeps at most max_pieces_in_flight pieces partial, and
     * those in running jobs are among them. (Counting queued pieces here
     * as well made the first callback of a finished job, with 31 pieces
     * still counted, send the next piece alone: a quarter of all pieces
     * were hashed one by one.) */
    if (n < group && !flush && !(t->picker && sh_picker_all_requested(t->picker)) &&
        (unsigned)t->hash_running + group <= (unsigned)t->sess->set.max_pieces_in_flight)
      break; /* wait for a fuller group */
    uint32_t pieces[SH_DISK_HASH_GROUP];
    uint8_t *bufs[SH_DISK_HASH_GROUP];
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++) {
      uint32_t piece = t->hashq[i];
      struct sh_partial *pp = part_of(t, piece);
      if (pp && t->disk) {
        pieces[k] = piece;
        bufs[k++] = pp->buf;
        continue;
      }
      t->hashing--; /* cannot happen: a queued piece keeps its partial */
    }
    t->nhashq -= n;
    memmove(t->hashq, t->hashq + n, t->nhashq * sizeof *t->hashq);
    t->hashq_ms = sh_now(t->sess); /* the rest: about as old (a group is quick) */
    int wrc = k ? sh_disk_hash_write_group(t->disk, k, pieces, bufs, on_hashed, t) : 0;
    if (wrc < 0) {
      for (unsigned i = 0; i < k; i++) {
        struct sh_partial *pp = part_of(t, pieces[i]);
        t->hashing--;
        pp->hashing = 0;
        pp->got = 0;
        if (t->picker)
          sh_picker_failed(t->picker, pieces[i]);
      }
      char msg[200];
      snprintf(msg, sizeof msg, "cannot queue %u pieces for hashing: %s", k, sh_strerror(wrc));
      sh_torrent_fail(t, wrc, msg);
      return;
    }
    t->hash_running += (int)k;
  }
}

static void hash_pump(struct shoal_torrent *t)
{
  if (!t->nhashq) {
    hash_pump_mode(t, 0);
    return;
  }
  uint64_t waited = sh_now(t->sess) - t->hashq_ms, rate = sh_rate_get(&t->rate_down);
  uint64_t group_bytes = (uint64_t)hash_group() * t->m->piece_length;
  int fills_soon = rate && group_bytes * 1000 / rate <= SH_HASH_FILL_MS;
  hash_pump_mode(t, waited >= (fills_soon ? SH_HASH_FILL_MS : SH_HASH_WAIT_MS));
}

void sh_torrent_hash_flush(struct shoal_torrent *t)
{
  hash_pump_mode(t, 1);
}

void sh_torrent_block(struct shoal_torrent *t, struct sh_peer *p, uint32_t piece, uint32_t begin,
                      const uint8_t *data, uint32_t len, int requested)
{
  struct sh_partial *pp = part_of(t, piece);
  if (pp && requested && pp->inflight)
    pp->inflight--;
  if (!pp || pp->hashing || t->state != SHOAL_DOWNLOADING)
    return;
  int rc = sh_picker_received(t->picker, piece, begin);
  if (rc < 0) {
    part_maybe_release(t, pp);
    return; /* a duplicate (endgame) or a block the picker gave up on */
  }
  memcpy(pp->buf + begin, data, len);
  pp->got++;
  /* remember who sent it, by IP, for strikes if the hash fails */
  struct sh_addr who = sh_peer_identity(p);
  int known = 0;
  for (unsigned i = 0; i < pp->nsenders; i++)
    known |= sh_addr_eq(&pp->senders[i], &who);
  if (!known) {
    if (pp->nsenders < SH_PART_SENDERS)
      pp->senders[pp->nsenders++] = who;
    else
      pp->many = 1;
  }
  /* Endgame: the block was requested from several peers; cancel the rest. */
  if (sh_picker_in_endgame(t->picker))
    for (size_t i = 0; i < t->npeers; i++)
      if (t->peers[i] != p)
        sh_tpeer_cancel_dup(t->peers[i], piece, begin);
  if (rc == 1) {
    if (sh_vec_reserve(t->hashq, t->cap_hashq, t->nhashq + 1, 16, SIZE_MAX) < 0) {
      sh_torrent_fail(t, -ENOMEM, "out of memory queueing a piece for hashing");
      return;
    }
    pp->hashing = 1;
    t->hashing++;
    if (!t->nhashq)
      t->hashq_ms = sh_now(t->sess);
    t->hashq[t->nhashq++] = piece;
    hash_pump(t);
  } else if (t->nhashq) {
    hash_pump(t);
  }
}

static void strike(struct shoal_torrent *t, const struct sh_partial *pp)
{
  struct shoal_session *s = t->sess;
  int sole = pp->nsenders == 1 && !pp->many;
  for (unsigned i = 0; i < pp->nsenders; i++) {
    if (!sh_bans_strike(&s->bans, &pp->senders[i], sole))
      continue;
    char name[64];
    sh_addr_str(&pp->senders[i], name, sizeof name);
    sh_warn("%s: banning %s: it sent data that failed the hash check", t->name, name);
    sh_event(s, SHOAL_EVENT_PEER_BANNED, t->id, 0, "%s", name);
    t->banned_peers++;
    sh_session_close_banned(s); /* every connection from it, in every torrent */
  }
}

static void on_hashed(void *ud, uint32_t piece, int rc, size_t bad_file, uint8_t *buf)
{
  struct shoal_torrent *t = ud;
  struct sh_partial *pp = part_of(t, piece);
  t->hashing--;
  t->hash_running--;
  hash_pump(t);
  if (pp) {
    pp->hashing = 0;
    pp->inflight = 0;
  }
  if (rc == 0) {
    sh_torrent_mark_have(t, piece);
    if (t->have_count == 1) /* how long a fresh download takes to have data (bench/magnet.sh) */
      sh_info("%s: first piece verified and written", t->name);
    t->resume_dirty = 1;
    if (pp)
      part_release(t, pp);
    if (t->state == SHOAL_DOWNLOADING) {
      for (size_t i = 0; i < t->npeers; i++)
        sh_tpeer_have(t->peers[i], piece);
      if (sh_picker_complete(t->picker))
        sh_torrent_complete(t);
    }
  } else if (rc == SH_EHASH) {
    t->hash_failures++;
    sh_warn("%s: piece %u failed its hash check; fetching it again", t->name, piece);
    if (pp) {
      strike(t, pp);
      pp->got = 0;
      pp->nsenders = 0;
      pp->many = 0;
    }
    if (t->picker)
      sh_picker_failed(t->picker, piece);
  } else {
    if (pp)
      part_release(t, pp);
    char msg[512];
    const char *file = t->st ? sh_storage_file_path(t->st, bad_file) : "?";
    /* storage opens with O_NOFOLLOW: ELOOP is a symlink planted in the way */
    snprintf(msg, sizeof msg, "cannot write %s: %s", file ? file : "?",
             rc == -ELOOP ? "a symbolic link is in its path, and shoal refuses to write "
                            "through symlinks"
                          : sh_strerror(rc));
    sh_torrent_fail(t, rc, msg);
  }
  (void)buf;
  /* A finished piece frees a slot of max_pieces_in_flight: peers whose
   * pipelines ran dry waiting for one can ask for more now, not at the
   * next tick. */
  if (t->state == SHOAL_DOWNLOADING)
    for (size_t i = t->npeers; i-- > 0;)
      sh_tpeer_fill(t->peers[i]);
  if (!t->hashing)
    sh_torrent_stop_continue(t);
}

void sh_torrent_apply_priorities(struct shoal_torrent *t)
{
  const struct sh_metainfo *m = t->m;
  uint32_t np = m->num_pieces;
  if (!t->picker)
    return;
  /* a piece is wanted when it holds a byte of a wanted file */
  uint8_t *w = calloc(1, SH_BF_BYTES(np) + 1);
  if (!w) {
    sh_warn("%s: out of memory applying the file selection: fetching everything", t->name);
    return;
  }
  for (size_t f = 0; f < m->num_files; f++) {
    const struct sh_file *fi = &m->files[f];
    if (!sh_torrent_file_wanted(t, f) || !fi->length)
      continue;
    uint32_t a = (uint32_t)(fi->offset / m->piece_length);
    uint32_t b = (uint32_t)((fi->offset + fi->length - 1) / m->piece_length);
    for (uint32_t i = a; i <= b && i < np; i++)
      sh_bf_set(w, i);
  }
  for (uint32_t i = 0; i < np; i++)
    sh_picker_set_wanted(t->picker, i, sh_bf_get(w, i));
  free(w);
}
