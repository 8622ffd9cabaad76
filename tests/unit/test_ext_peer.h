/* A raw peer over the in-memory transport (test_mem_peer.h) that speaks
 * the BEP 10 extension protocol: it sends its extension handshake
 * (advertising ut_metadata as 3 and ut_pex as 1, and a metadata_size when
 * asked), reads the engine's, and collects the engine's ut_metadata and
 * ut_pex messages for the test to look at. */
#ifndef TEST_EXT_PEER_H
#define TEST_EXT_PEER_H

#include "test_mem_peer.h"

#include "base/bencode.h"
#include "ext/ut_metadata.h"
#include "ext/ut_pex.h"
#include "peer/wire.h"

#define XP_UTM 3 /* the ids this peer advertises */
#define XP_PEX 1

struct xpeer {
  struct th_mpeer m;
  int got_ext_hs;
  struct sh_ext_handshake eh;   /* the engine's */
  int requests[256];            /* ut_metadata requests from the engine, per piece */
  int nrequests;
  int data, rejects;            /* ut_metadata answers from the engine */
  struct sh_buf meta;           /* the data received, in piece order */
  int64_t total_size;
  int pex;                      /* ut_pex messages from the engine */
  struct sh_buf last_pex;
};

static inline void xp_on_msg(struct th_mpeer *m, int id, const uint8_t *p, uint32_t len)
{
  struct xpeer *x = (struct xpeer *)m;
  if (id != 20 || len < 1)
    return;
  if (p[0] == 0) {
    const char *why;
    if (sh_wire_ext_handshake_decode(p + 1, len - 1, &x->eh, &why) == 0)
      x->got_ext_hs = 1;
  } else if (p[0] == XP_UTM) {
    struct sh_utm_msg u;
    const char *why;
    cr_assert_eq(sh_utm_parse(p + 1, len - 1, &u, &why), 0, "the engine's ut_metadata: %s", why);
    if (u.type == SH_UTM_REQUEST && u.piece < 256) {
      x->requests[u.piece]++;
      x->nrequests++;
    } else if (u.type == SH_UTM_DATA) {
      x->data++;
      x->total_size = u.total_size;
      sh_buf_append(&x->meta, u.data, u.len);
    } else if (u.type == SH_UTM_REJECT) {
      x->rejects++;
    }
  } else if (p[0] == XP_PEX) {
    x->pex++;
    sh_buf_reset(&x->last_pex);
    sh_buf_append(&x->last_pex, p + 1, len - 1);
  }
}

/* Sends an extended message (ext id, payload). */
static inline void xp_send_ext(struct xpeer *x, uint8_t ext, const void *payload, size_t n)
{
  struct sh_buf b = SH_BUF_INIT;
  sh_wire_put_extended(&b, ext, payload, n);
  th_mpeer_send(&x->m, b.data, b.len);
  sh_buf_free(&b);
}

/* The handshake (extension bit set) for info-hash ih, then the extension
 * handshake; metadata_size < 0 leaves it out. */
static inline void xp_hello(struct xpeer *x, const uint8_t ih[20], const char *peer_id,
                            int64_t metadata_size, int listen_port)
{
  uint8_t hs[68];
  th_handshake(hs, ih, peer_id, 1);
  hs[25] |= 0x10;
  th_mpeer_send(&x->m, hs, 68);
  struct sh_buf b = SH_BUF_INIT;
  be_put_dict(&b);
  be_put_cstr(&b, "m");
  be_put_dict(&b);
  be_put_cstr(&b, "ut_metadata");
  be_put_int(&b, XP_UTM);
  be_put_cstr(&b, "ut_pex");
  be_put_int(&b, XP_PEX);
  be_put_end(&b);
  if (metadata_size >= 0) {
    be_put_cstr(&b, "metadata_size");
    be_put_int(&b, metadata_size);
  }
  if (listen_port) {
    be_put_cstr(&b, "p");
    be_put_int(&b, listen_port);
  }
  be_put_end(&b);
  xp_send_ext(x, 0, b.data, b.len);
  sh_buf_free(&b);
}

/* A ut_metadata message to the engine, under the id it advertised. */
static inline void xp_utm(struct xpeer *x, enum sh_utm_type type, uint32_t piece, int64_t total,
                          const void *data, size_t n)
{
  uint8_t id = sh_wire_ext_id(&x->eh, "ut_metadata");
  cr_assert(id, "the engine advertises ut_metadata");
  struct sh_buf b = SH_BUF_INIT;
  sh_utm_put(&b, type, piece, total);
  sh_buf_append(&b, data, n);
  xp_send_ext(x, id, b.data, b.len);
  sh_buf_free(&b);
}

static inline void xp_dialled(struct xpeer *x, uv_loop_t *loop, shoal_session *s, shoal_id t,
                              const char *ip)
{
  memset(x, 0, sizeof *x);
  th_mpeer_dialled(&x->m, loop, s, t, ip, 6881);
  x->m.on_msg = xp_on_msg;
}

static inline void xp_accept(struct xpeer *x, uv_loop_t *loop, shoal_session *s, const char *ip)
{
  memset(x, 0, sizeof *x);
  th_mpeer_accept(&x->m, loop, s, ip, 6881);
  x->m.on_msg = xp_on_msg;
}

static inline void xp_close(struct xpeer *x, uv_loop_t *loop)
{
  th_mpeer_close(&x->m, loop);
  sh_buf_free(&x->meta);
  sh_buf_free(&x->last_pex);
}

static inline int xp_has_ext_hs(void *ud) { return ((struct xpeer *)ud)->got_ext_hs; }
static inline int xp_asked(void *ud) { return ((struct xpeer *)ud)->nrequests > 0; }
static inline int xp_got_pex(void *ud) { return ((struct xpeer *)ud)->pex > 0; }

#endif
