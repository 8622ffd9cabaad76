/* A torrent in the engine: start-up (resume data or a check of the data on
 * disk), piece buffers, hash-and-write of completed pieces, state changes,
 * status, and the graceful stop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "announce/announce.h"
#include "base/bitfield.h"
#include "base/error.h"
#include "base/log.h"
#include "base/sha1_mb.h"
#include "disk/check.h"
#include "disk/io.h"
#include "disk/resume.h"
#include "disk/storage.h"
#include "meta/metainfo.h"
#include "swarm/picker.h"
#include "engine/torrent.h"


struct shoal_torrent *sh_torrent_find(struct shoal_session *s, const uint8_t info_hash[20])
{
  for (size_t i = 0; i < s->ntor; i++)
    if (!memcmp(s->tor[i]->m->info_hash, info_hash, 20))
      return s->tor[i];
  return NULL;
}

int sh_torrent_running(const struct shoal_torrent *t)
{
  return t->state == SHOAL_DOWNLOADING || t->state == SHOAL_SEEDING;
}

int sh_torrent_have(const struct shoal_torrent *t, uint32_t piece)
{
  return piece < t->m->num_pieces && sh_bf_get(t->have, piece);
}

/* Bytes of piece that belong to wanted (non-padding) files. */
static uint64_t piece_wanted_bytes(const struct shoal_torrent *t, uint32_t piece)
{
  const struct sh_metainfo *m = t->m;
  size_t first, last;
  sh_storage_piece_files(m, piece, &first, &last);
  uint64_t lo = (uint64_t)piece * m->piece_length, hi = lo + sh_piece_size(m, piece), sum = 0;
  for (size_t f = first; f <= last && f < m->num_files; f++) {
    const struct sh_file *fi = &m->files[f];
    if ((fi->attr & SH_FILE_PAD) || (t->wanted_files && !t->wanted_files[f]))
      continue;
    uint64_t a = fi->offset > lo ? fi->offset : lo;
    uint64_t b = fi->offset + fi->length < hi ? fi->offset + fi->length : hi;
    if (b > a)
      sum += b - a;
  }
  return sum;
}

static void mark_have(struct shoal_torrent *t, uint32_t piece)
{
  if (sh_bf_get(t->have, piece))
    return;
  sh_bf_set(t->have, piece);
  t->have_count++;
  t->have_bytes += piece_wanted_bytes(t, piece);
  if (t->picker)
    sh_picker_have(t->picker, piece);
}

/* ---- errors and state ---- */

void sh_torrent_fail(struct shoal_torrent *t, int err, const char *msg)
{
  if (t->state == SHOAL_ERROR)
    return;
  sh_error("%s: %s", t->m->name, msg);
  snprintf(t->error, sizeof t->error, "%s", msg);
  t->state = SHOAL_ERROR;
  while (t->npeers)
    sh_conn_close(t->peers[t->npeers - 1]->c, "torrent stopped by an error");
  if (t->ann) {
    sh_announcer_stop(t->ann, NULL, NULL);
    t->ann = NULL;
  }
  if (t->cb.on_error)
    t->cb.on_error(t, err, t->error, t->cb.ud);
}

static void become_complete(struct shoal_torrent *t);

static void startup_done(struct shoal_torrent *t)
{
  const struct sh_metainfo *m = t->m;
  if (t->seed_only && !sh_picker_complete(t->picker)) {
    char msg[128];
    snprintf(msg, sizeof msg, "data incomplete: %u of %u pieces", t->have_count, m->num_pieces);
    sh_torrent_fail(t, SH_EINCOMPLETE, msg);
    return;
  }
  t->state = SHOAL_DOWNLOADING;
  t->started_ms = sh_now(t->sess);
  sh_info("%s: %u of %u pieces present", m->name, t->have_count, m->num_pieces);
  if (sh_picker_complete(t->picker))
    become_complete(t);
  /* peers that connected while we were checking learn what we have */
  for (size_t i = t->npeers; i-- > 0;) {
    sh_tpeer_send_bitfield(t->peers[i]);
    sh_tpeer_update_interest(t->peers[i]);
  }
  sh_torrent_announce_start(t);
  sh_torrent_dial(t, sh_now(t->sess));
}

static void on_check_progress(void *ud, uint32_t done, uint32_t total)
{
  struct shoal_torrent *t = ud;
  t->check_done = done;
  (void)total;
}

static void on_checked(void *ud, int rc, uint8_t *state)
{
  struct shoal_torrent *t = ud;
  if (t->state != SHOAL_CHECKING) {
    /* stopped while checking */
    free(t->check_state);
    t->check_state = NULL;
    return;
  }
  if (rc < 0) {
    char msg[200];
    snprintf(msg, sizeof msg, "checking the data failed: %s", sh_strerror(rc));
    free(t->check_state);
    t->check_state = NULL;
    sh_torrent_fail(t, rc, msg);
    return;
  }
  t->check_done = t->m->num_pieces;
  for (uint32_t i = 0; i < t->m->num_pieces; i++)
    if (state[i] == SH_PIECE_OK)
      mark_have(t, i);
  free(t->check_state);
  t->check_state = NULL;
  t->resume_dirty = 1; /* the check's result is worth keeping */
  startup_done(t);
}

void sh_torrent_resume_path(const struct shoal_torrent *t, char *out, size_t n)
{
  snprintf(out, n, "%s/%s.resume", t->sess->set.resume_dir, t->m->info_hash_hex);
}

static void start(struct shoal_torrent *t)
{
  const struct sh_metainfo *m = t->m;
  if (t->sess->set.resume_dir) {
    char path[4096], err[256] = "";
    sh_torrent_resume_path(t, path, sizeof path);
    uint8_t *bf = calloc(1, SH_BF_BYTES(m->num_pieces) + 1);
    if (bf) {
      int rc = sh_resume_load(path, m, t->save_dir, bf, err, sizeof err);
      if (rc == 0) {
        for (uint32_t i = 0; i < m->num_pieces; i++)
          if (sh_bf_get(bf, i))
            mark_have(t, i);
        free(bf);
        sh_info("%s: resume data accepted (%u pieces)", m->name, t->have_count);
        t->check_done = m->num_pieces;
        startup_done(t);
        return;
      }
      free(bf);
      if (rc != -ENOENT)
        sh_info("%s: resume data not used (%s), checking the data", m->name,
                err[0] ? err : sh_strerror(rc));
    }
  }
  t->check_state = malloc(m->num_pieces ? m->num_pieces : 1);
  if (!t->check_state) {
    sh_torrent_fail(t, -ENOMEM, "out of memory for the start-up check");
    return;
  }
  int rc = sh_disk_check(t->disk, t->sess->set.hash_threads, t->check_state, on_check_progress,
                         on_checked, t);
  if (rc < 0) {
    free(t->check_state);
    t->check_state = NULL;
    char msg[200];
    snprintf(msg, sizeof msg, "cannot start checking the data: %s", sh_strerror(rc));
    sh_torrent_fail(t, rc, msg);
  }
}

/* ---- pieces ---- */

/* A seeding torrent needs no piece buffers: their memory goes back to the
 * system once the last one is free. */
static void bufs_maybe_free(struct shoal_torrent *t)
{
  if (t->state == SHOAL_SEEDING && t->bufs.base && t->bufs.nfree == t->bufs.nslots)
    sh_slab_free(&t->bufs);
}

static void part_release(struct shoal_torrent *t, struct sh_partial *pp)
{
  t->slot_of[pp->piece] = -1;
  pp->used = 0;
  /* Slots are kept for reuse: fresh 1 MiB allocations would cost syscalls
   * and page faults per piece. Once the download is done and the last
   * buffer is back, the memory goes back to the system. */
  if (sh_slab_owns(&t->bufs, pp->mem)) {
    sh_slab_put(&t->bufs, pp->mem);
    bufs_maybe_free(t);
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
  size_t len = ((size_t)t->m->piece_length + a - 1) / a * a + a;
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

static void on_hashed(void *ud, uint32_t piece, int rc, size_t bad_file, uint8_t *buf);

/* Pieces go to the thread pool at most SH_HASH_JOBS groups at a time, and
 * count until written. Buffered writes to one file serialise on its inode
 * lock, so more concurrent jobs only spin (measured: 11% of the leecher's
 * CPU in rwsem_spin_on_owner with libuv's 4 threads); two keep one hashing
 * while the other writes. With O_DIRECT a group's job only hashes and each
 * verified piece is written by a job of its own (disk/io.c), which frees
 * its buffer as soon as it is on disk. */
#define SH_HASH_JOBS 2

/* Pieces per hash job. With multi-buffer SHA-1 (AVX-512: 16 lanes) a group
 * of 16 pieces costs the CPU of about 5 hashed one by one, so completed
 * pieces wait in hashq until a group is full. They never wait long: the
 * queue is sent as it is once no block is left to request (the last
 * pieces; the endgame alone is not enough, as it ends when every block has
 * arrived), when no full group could form within max_pieces_in_flight,
 * and at every housekeeping tick (sh_torrent_hash_flush), so a slow
 * download delays a piece by at most one tick. Without multi-buffer SHA-1
 * the group is 1. */
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
  hash_pump_mode(t, 0);
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
    if (t->nhashq == t->cap_hashq) {
      size_t cap = t->cap_hashq ? t->cap_hashq * 2 : 16;
      uint32_t *nq = realloc(t->hashq, cap * sizeof *nq);
      if (!nq) {
        sh_torrent_fail(t, -ENOMEM, "out of memory queueing a piece for hashing");
        return;
      }
      t->hashq = nq;
      t->cap_hashq = cap;
    }
    pp->hashing = 1;
    t->hashing++;
    t->hashq[t->nhashq++] = piece;
    hash_pump(t);
  }
}

/* sh_storage_finish (zero-length files, symlinks, fsync) in a worker. */
struct finish_job {
  uv_work_t req;
  struct shoal_torrent *t;
  struct sh_storage *st;
  int rc;
  size_t bad;
};

static void finish_work(uv_work_t *req)
{
  struct finish_job *j = req->data;
  j->rc = sh_storage_finish(j->st, &j->bad);
}

static void finish_after(uv_work_t *req, int status)
{
  struct finish_job *j = req->data;
  struct shoal_torrent *t = j->t;
  t->finish_pending = 0;
  if (status == 0 && j->rc < 0 && t->st) {
    char msg[512];
    const char *file = sh_storage_file_path(t->st, j->bad);
    snprintf(msg, sizeof msg, "cannot create %s: %s", file ? file : "a file", sh_strerror(j->rc));
    sh_torrent_fail(t, j->rc, msg);
  }
  free(j);
  sh_torrent_stop_continue(t);
}

static void become_complete(struct shoal_torrent *t)
{
  t->state = SHOAL_SEEDING;
  bufs_maybe_free(t);
  if (!t->seed_only && t->st && !t->finish_pending) {
    struct finish_job *j = calloc(1, sizeof *j);
    if (j) {
      j->req.data = j;
      j->t = t;
      j->st = t->st;
      if (uv_queue_work(t->sess->loop, &j->req, finish_work, finish_after) == 0)
        t->finish_pending = 1;
      else
        free(j);
    }
  }
  sh_info("%s: download complete, seeding", t->m->name);
  for (size_t i = t->npeers; i-- > 0;)
    sh_tpeer_update_interest(t->peers[i]);
  if (t->ann)
    sh_announcer_completed(t->ann);
  if (t->disk && t->sess->set.resume_dir && t->resume_dirty)
    sh_torrent_save_resume_async(t);
  if (t->cb.on_complete)
    t->cb.on_complete(t, t->cb.ud);
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
    sh_warn("%s: banning %s: it sent data that failed the hash check", t->m->name, name);
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
    mark_have(t, piece);
    t->resume_dirty = 1;
    if (pp)
      part_release(t, pp);
    if (t->state == SHOAL_DOWNLOADING) {
      for (size_t i = 0; i < t->npeers; i++)
        sh_tpeer_have(t->peers[i], piece);
      if (sh_picker_complete(t->picker))
        become_complete(t);
    }
  } else if (rc == SH_EHASH) {
    t->hash_failures++;
    sh_warn("%s: piece %u failed its hash check; fetching it again", t->m->name, piece);
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
    snprintf(msg, sizeof msg, "cannot write %s: %s", file ? file : "?", sh_strerror(rc));
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

/* ---- public API ---- */

static int setup(struct shoal_torrent *t, const struct shoal_add_opts *o, char *err, size_t n)
{
  struct shoal_session *s = t->sess;
  const struct sh_metainfo *m = t->m;
  uint32_t np = m->num_pieces;
  t->have = calloc(1, SH_BF_BYTES(np) + 1);
  t->slot_of = malloc(((size_t)np + 1) * sizeof *t->slot_of);
  if (!t->have || !t->slot_of)
    return -ENOMEM;
  for (uint32_t i = 0; i < np; i++)
    t->slot_of[i] = -1;
  if (o->wanted_files) {
    t->wanted_files = malloc(m->num_files ? m->num_files : 1);
    if (!t->wanted_files)
      return -ENOMEM;
    memcpy(t->wanted_files, o->wanted_files, m->num_files);
  }
  struct sh_picker_opts po = {np, m->piece_length, m->total_length,
                              (uint32_t)s->set.max_pieces_in_flight, 0, sh_session_rand(s)};
  t->picker = sh_picker_new(&po);
  if (!t->picker)
    return -ENOMEM;
  for (size_t f = 0; f < m->num_files; f++)
    if (!(m->files[f].attr & SH_FILE_PAD) && (!t->wanted_files || t->wanted_files[f]))
      t->wanted_bytes += m->files[f].length;
  if (t->wanted_files) {
    /* a piece is wanted when it holds a byte of a wanted file */
    uint8_t *w = calloc(1, SH_BF_BYTES(np) + 1);
    if (!w)
      return -ENOMEM;
    for (size_t f = 0; f < m->num_files; f++) {
      const struct sh_file *fi = &m->files[f];
      if ((fi->attr & SH_FILE_PAD) || !t->wanted_files[f] || !fi->length)
        continue;
      uint32_t a = (uint32_t)(fi->offset / m->piece_length);
      uint32_t b = (uint32_t)((fi->offset + fi->length - 1) / m->piece_length);
      for (uint32_t i = a; i <= b && i < np; i++)
        sh_bf_set(w, i);
    }
    for (uint32_t i = 0; i < np; i++)
      if (!sh_bf_get(w, i))
        sh_picker_set_wanted(t->picker, i, 0);
    free(w);
  }
  /* Slots ration upload bandwidth. Without an upload limit the link, not
   * the slots, is the constraint, so take at least 8 (libtorrent's default
   * unchoke_slots_limit): one seed then feeds 8 leechers at once instead of
   * leaving 3 of them waiting 10 s for the next round. */
  int slots = s->set.upload_slots;
  if (!s->set.upload_rate && slots < 8)
    slots = 8;
  sh_choker_init(&t->choker, slots, sh_session_rand(s));
  sh_peers_init(&t->plist);
  int sflags = (t->seed_only ? SH_STORAGE_READONLY : 0) |
               (t->sess->set.buffered_writes ? SH_STORAGE_BUFFERED : 0);
  int rc = sh_storage_open(m, t->save_dir, sflags, &t->st);
  if (rc < 0) {
    snprintf(err, n, "cannot open the storage under %s: %s", t->save_dir, sh_strerror(rc));
    return rc;
  }
  rc = sh_disk_new(s->loop, t->st, m, s->set.read_cache_bytes, &t->disk);
  if (rc < 0) {
    snprintf(err, n, "cannot start disk I/O: %s", sh_strerror(rc));
    return rc;
  }
  return 0;
}

int shoal_torrent_add(shoal_session *s, struct sh_metainfo *m, const struct shoal_add_opts *o,
                      shoal_torrent **out)
{
  if (out)
    *out = NULL;
  if (s->closing) {
    sh_metainfo_free(m);
    return -ECANCELED;
  }
  if (sh_torrent_find(s, m->info_hash)) {
    sh_error("%s: this torrent was already added", m->name);
    sh_metainfo_free(m);
    return -EEXIST;
  }
  if (s->ntor == s->cap_tor) {
    size_t cap = s->cap_tor ? s->cap_tor * 2 : 8;
    struct shoal_torrent **nt = realloc(s->tor, cap * sizeof *nt);
    if (!nt) {
      sh_metainfo_free(m);
      return -ENOMEM;
    }
    s->tor = nt;
    s->cap_tor = cap;
  }
  struct shoal_torrent *t = calloc(1, sizeof *t);
  if (!t) {
    sh_metainfo_free(m);
    return -ENOMEM;
  }
  t->sess = s;
  t->m = m;
  t->seed_only = o->seed_only;
  t->cb = o->cb;
  t->state = SHOAL_CHECKING;
  t->save_dir = strdup(o->save_dir ? o->save_dir : ".");
  char err[300] = "";
  int rc = t->save_dir ? setup(t, o, err, sizeof err) : -ENOMEM;
  s->tor[s->ntor++] = t;
  if (out)
    *out = t;
  if (rc < 0) {
    /* The torrent exists in SHOAL_ERROR so the caller can show why. */
    if (!err[0])
      snprintf(err, sizeof err, "cannot add the torrent: %s", sh_strerror(rc));
    snprintf(t->error, sizeof t->error, "%s", err);
    t->state = SHOAL_ERROR;
    sh_error("%s: %s", m->name, err);
    return rc;
  }
  start(t);
  return 0;
}

int shoal_torrent_add_peer(shoal_torrent *t, const struct sockaddr *addr)
{
  struct sh_addr a;
  int rc = sh_addr_from_sockaddr(&a, addr);
  if (rc < 0)
    return rc;
  if (!a.port)
    return -EINVAL;
  rc = sh_peers_add(&t->plist, &a, SH_SRC_MANUAL, sh_now(t->sess));
  if (rc < 0)
    return rc;
  if (sh_torrent_running(t))
    sh_torrent_dial(t, sh_now(t->sess));
  return 0;
}

void shoal_torrent_status(const shoal_torrent *t, struct shoal_status *st)
{
  memset(st, 0, sizeof *st);
  st->state = t->state;
  st->num_pieces = t->m->num_pieces;
  st->pieces_have = t->have_count;
  st->wanted_bytes = t->wanted_bytes;
  st->have_bytes = t->have_bytes;
  st->downloaded = t->downloaded;
  st->uploaded = t->uploaded;
  st->down_rate = t->down_rate;
  st->up_rate = t->up_rate;
  for (size_t i = 0; i < t->npeers; i++) {
    st->peers++;
    const struct sh_peer *p = t->peers[i];
    st->seeds += p->have_all || p->have_count == t->m->num_pieces;
  }
  st->check_done = t->check_done;
  st->hash_failures = t->hash_failures;
  st->banned_peers = t->banned_peers;
  snprintf(st->error, sizeof st->error, "%s", t->error);
  snprintf(st->tracker_msg, sizeof st->tracker_msg, "%s", t->tracker_msg);
}

const struct sh_metainfo *shoal_torrent_metainfo(const shoal_torrent *t) { return t->m; }
