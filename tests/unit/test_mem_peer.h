/* Raw peers over the in-memory transport (peer/memio.h), run by the test's
 * own loop: no sockets, no threads. A th_mpeer is the far end of a
 * connection the engine accepted (th_mpeer_accept) or opened
 * (th_mpeer_dialled); a timer moves bytes every millisecond, splits what
 * the engine sent into messages for the test's on_msg, and notices when
 * the engine hangs up. th_link joins two sessions the same way. */
#ifndef TEST_MEM_PEER_H
#define TEST_MEM_PEER_H

#include "test_engine_harness.h"

#include "base/error.h"
#include "engine/torrent.h"
#include "peer/memio.h"

struct th_mpeer {
  struct sh_transport *raw;
  uv_timer_t poll;
  struct sh_buf in;           /* arrived, not yet split into messages */
  struct sh_buf out;          /* waiting for room in the engine's inbox */
  int got_hs;                 /* the engine's handshake arrived */
  uint8_t hs[68];
  int closed;                 /* the engine closed its end */
  int nmsgs;
  void (*on_msg)(struct th_mpeer *m, int id, const uint8_t *payload, uint32_t len);
  void *ud;
};

static inline struct sh_addr th_addr(const char *ip, uint16_t port)
{
  struct sockaddr_storage ss;
  if (strchr(ip, ':'))
    uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&ss);
  else
    uv_ip4_addr(ip, port, (struct sockaddr_in *)&ss);
  struct sh_addr a;
  cr_assert_eq(sh_addr_from_sockaddr(&a, (struct sockaddr *)&ss), 0);
  return a;
}

static inline void th_mpeer_pump(uv_timer_t *h)
{
  struct th_mpeer *m = h->data;
  if (m->out.len) {
    ssize_t w = sh_memio_write(m->raw, m->out.data, m->out.len);
    if (w > 0)
      sh_buf_consume(&m->out, (size_t)w);
  }
  uint8_t tmp[65536];
  size_t n;
  while ((n = sh_memio_read(m->raw, tmp, sizeof tmp)) > 0)
    sh_buf_append(&m->in, tmp, n);
  size_t off = 0;
  if (!m->got_hs && m->in.len >= 68) {
    memcpy(m->hs, m->in.data, 68);
    m->got_hs = 1;
    off = 68;
  }
  while (m->got_hs && m->in.len - off >= 4) {
    uint32_t len = sh_rd32(m->in.data + off);
    if (m->in.len - off - 4 < len)
      break;
    m->nmsgs++;
    if (m->on_msg)
      m->on_msg(m, len ? m->in.data[off + 4] : -1, m->in.data + off + 5, len ? len - 1 : 0);
    off += 4 + len;
  }
  sh_buf_consume(&m->in, off);
  if (sh_memio_peer_closed(m->raw) && !sh_memio_pending(m->raw))
    m->closed = 1;
}

static inline void th_mpeer_init(struct th_mpeer *m, uv_loop_t *loop)
{
  memset(m, 0, sizeof *m);
  uv_timer_init(loop, &m->poll);
  m->poll.data = m;
  uv_timer_start(&m->poll, th_mpeer_pump, 1, 1);
}

/* A peer at ip:port that connects to session s; the engine waits for its
 * handshake. */
static inline void th_mpeer_accept(struct th_mpeer *m, uv_loop_t *loop, shoal_session *s,
                                   const char *ip, uint16_t port)
{
  th_mpeer_init(m, loop);
  struct sh_addr me = th_addr(ip, port);
  struct sh_transport *engine_end;
  cr_assert_eq(sh_memio_pair(loop, NULL, &me, &engine_end, &m->raw), 0);
  sh_session_accept(s, engine_end);
}

/* The engine's torrent t dials a peer at ip:port; it sends its handshake
 * first. The raw peer speaks plaintext only, so the session must have
 * encryption off. */
static inline void th_mpeer_dialled(struct th_mpeer *m, uv_loop_t *loop, shoal_session *s,
                                    shoal_id t, const char *ip, uint16_t port)
{
  th_mpeer_init(m, loop);
  struct sh_addr me = th_addr(ip, port);
  struct sh_transport *engine_end;
  cr_assert_eq(sh_memio_pair(loop, NULL, &me, &engine_end, &m->raw), 0);
  sh_session_connect(s, sh_torrent_by_id(s, t), engine_end);
}

static inline void th_mpeer_send(struct th_mpeer *m, const void *p, size_t n)
{
  sh_buf_append(&m->out, p, n);
}

/* Hangs up (if the engine has not) and frees; runs the loop once so the
 * handles are closed before the test goes on. */
static inline void th_mpeer_close(struct th_mpeer *m, uv_loop_t *loop)
{
  uv_timer_stop(&m->poll);
  uv_close((uv_handle_t *)&m->poll, NULL);
  sh_memio_close(m->raw);
  sh_buf_free(&m->in);
  sh_buf_free(&m->out);
  uv_run(loop, UV_RUN_NOWAIT);
}

static inline int th_mpeer_is_closed(void *ud) { return ((struct th_mpeer *)ud)->closed; }

/* Torrent lt of session leech connects to session seed, as if from
 * leech_ip to seed_ip, encrypted or not as the leech's settings say. An
 * in-memory link cannot be dialled again: a handshake the seed refuses
 * (say, encrypted to a seed with encryption off) is not retried. */
static inline void th_link(uv_loop_t *loop, shoal_session *leech, shoal_id lt,
                           const char *leech_ip, shoal_session *seed, const char *seed_ip)
{
  struct sh_addr la = th_addr(leech_ip, 6881), sa = th_addr(seed_ip, 6881);
  struct sh_transport *a, *b;
  cr_assert_eq(sh_memio_pair(loop, &la, &sa, &a, &b), 0);
  sh_session_accept(seed, b);
  cr_assert_eq(sh_session_connect(leech, sh_torrent_by_id(leech, lt), a), 0);
}

/* ---- a seed and a leech session over the in-memory transport ---- */

struct th_pair {
  uv_loop_t loop;
  struct th_torrent tt;
  char *sdir, *ldir, *rdir;   /* the seed's data, the leech's, the leech's resume files */
  shoal_session *seed, *leech;
  shoal_id st;                /* the seed's torrent, complete */
  uint8_t ih[20];
};

/* A seed holding tt's content (files, pieces of piece bytes) and a leech
 * with its own folders (resume files in rdir), both without sockets. */
static inline void th_pair_up(struct th_pair *p, const struct th_file *files, size_t n, int multi,
                              uint32_t piece)
{
  memset(p, 0, sizeof *p);
  th_nev = 0;
  uv_loop_init(&p->loop);
  th_torrent_build(&p->tt, multi ? "pack" : files[0].path, files, n, multi, piece);
  p->sdir = th_tmpdir();
  p->ldir = th_tmpdir();
  p->rdir = th_tmpdir();
  th_write_content(&p->tt, p->sdir);
  struct shoal_settings set;
  th_settings_mem(&set);
  p->seed = th_session(&p->loop, &set);
  set.resume_dir = p->rdir;
  /* the leech dials raw peers (test_mem_peer.h), which speak plaintext
   * only: an encrypted dial would never reach them */
  set.encryption = SHOAL_ENC_OFF;
  p->leech = th_session(&p->loop, &set);
  p->st = th_add(p->seed, &p->tt, p->sdir, 1);
  cr_assert(th_wait_event(&p->loop, p->seed, p->st, SHOAL_EVENT_FINISHED, 20000));
  memcpy(p->ih, th_status(p->seed, p->st).info_hash, 20);
}

static inline void th_pair_down(struct th_pair *p)
{
  shoal_session *all[2] = {p->seed, p->leech};
  th_close(&p->loop, all, 2);
  cr_expect_eq(uv_loop_close(&p->loop), 0);
  th_rmtree(p->sdir);
  th_rmtree(p->ldir);
  th_rmtree(p->rdir);
  th_torrent_free(&p->tt);
}

#endif
