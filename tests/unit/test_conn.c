/* The connection layer alone (peer/conn.h): a hub with this test's
 * callbacks, connections on the in-memory transport, and a raw far end
 * driven by hand. No session, no torrent, no sockets: the handshake bytes,
 * framing, batching, ordered writes with back-pressure, the close and free
 * callbacks, timeouts and the upload allowance. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "base/error.h"
#include "peer/conn.h"
#include "peer/memio.h"

struct rec {
  int handshakes, messages, read_done, drained, closes, frees;
  int refuse;                 /* on_handshake refuses */
  int ids[64];
  uint32_t lens[64];
  char why[160];
  struct sh_handshake hs;
};

static struct rec R;
static int attach_ud; /* the upper layer's object, for incoming connections */

static int cb_handshake(void *ud, struct sh_conn *c, const struct sh_handshake *hs,
                        const char **why)
{
  (void)ud;
  R.handshakes++;
  R.hs = *hs;
  if (R.refuse) {
    *why = "refused by the test";
    return SH_ELIMIT;
  }
  if (!c->ud)
    sh_conn_set_ud(c, &attach_ud);
  return 0;
}

static int cb_message(void *ud, struct sh_conn *c, const struct sh_msg *m, const char **why)
{
  (void)ud;
  (void)c;
  (void)why;
  if (R.messages < 64) {
    R.ids[R.messages] = m->id;
    R.lens[R.messages] = m->data_len;
  }
  R.messages++;
  return 0;
}

static void cb_read_done(void *ud, struct sh_conn *c) { (void)ud, (void)c, R.read_done++; }
static void cb_drained(void *ud, struct sh_conn *c) { (void)ud, (void)c, R.drained++; }
static void cb_close(void *ud, struct sh_conn *c, const char *why)
{
  (void)ud;
  (void)c;
  R.closes++;
  snprintf(R.why, sizeof R.why, "%s", why);
}
static void cb_free(void *ud, struct sh_conn *c) { (void)ud, (void)c, R.frees++; }

static const struct sh_conn_cb CB = {cb_handshake, cb_message, cb_read_done, cb_drained,
                                     cb_close,     cb_free,    NULL,         NULL};

static uv_loop_t loop;
static struct sh_hub hub;
static const uint8_t IH[20] = "0123456789abcdefghij";

static void setup(void)
{
  memset(&R, 0, sizeof R);
  uv_loop_init(&loop);
  struct sh_hub_opts o = {.handshake_timeout_ms = 200};
  memcpy(o.peer_id, "-SH0100-testtesttest", 20);
  o.reserved[7] = 0x04;
  sh_hub_init(&hub, &loop, &CB, NULL, &o);
}

static int hub_closed;
static void on_hub_closed(void *ud) { (void)ud, hub_closed = 1; }

static void teardown(void)
{
  sh_hub_close_pending(&hub, "test over");
  for (size_t i = hub.nconns; i-- > 0;)
    sh_conn_close(hub.conns[i], "test over");
  hub_closed = 0;
  sh_hub_close(&hub, on_hub_closed, NULL);
  for (int i = 0; i < 100 && !hub_closed; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  cr_expect(hub_closed, "the hub closed once its connections were gone");
  cr_expect_eq(uv_loop_close(&loop), 0, "every handle closed");
}

TestSuite(conn, .init = setup, .fini = teardown, .timeout = 20);

static void spin(int n)
{
  for (int i = 0; i < n; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
}

static size_t take(struct sh_transport *raw, uint8_t *buf, size_t cap)
{
  size_t got = 0;
  for (int i = 0; i < 50 && got < cap; i++) {
    spin(1);
    got += sh_memio_read(raw, buf + got, cap - got);
  }
  return got;
}

static void handshake(uint8_t out[68], const uint8_t ih[20])
{
  struct sh_handshake h;
  memset(&h, 0, sizeof h);
  memcpy(h.info_hash, ih, 20);
  memcpy(h.peer_id, "-XX0000-farendfarend", 20);
  sh_wire_handshake_encode(out, &h);
}

/* An outgoing connection on a connected pair; returns the raw far end. */
static struct sh_transport *dial(struct sh_conn **c)
{
  struct sh_transport *a, *raw;
  cr_assert_eq(sh_memio_pair(&loop, NULL, NULL, &a, &raw), 0);
  cr_assert_eq(sh_conn_start(&hub, a, IH, &attach_ud, c), 0);
  return raw;
}

Test(conn, outgoing_handshake_then_frames_split_anywhere)
{
  struct sh_conn *c;
  struct sh_transport *raw = dial(&c);
  uint8_t hs[68];
  cr_assert_eq(take(raw, hs, 68), 68);
  cr_expect_eq(hs[0], 19);
  cr_expect_eq(memcmp(hs + 28, IH, 20), 0, "our handshake names the info-hash we dialled for");
  cr_expect_eq(memcmp(hs + 48, "-SH0100-testtesttest", 20), 0);
  cr_expect_eq(hs[27], 0x04, "the hub's reserved bits");
  /* their handshake, an unchoke, a have and a keep-alive, a byte at a time */
  uint8_t in[68 + 5 + 9 + 4];
  handshake(in, IH);
  uint8_t tail[] = {0, 0, 0, 1, 1, 0, 0, 0, 5, 4, 0, 0, 0, 7, 0, 0, 0, 0};
  memcpy(in + 68, tail, sizeof tail);
  for (size_t i = 0; i < sizeof in; i++) {
    cr_assert_eq(sh_memio_write(raw, in + i, 1), 1);
    spin(2);
  }
  cr_expect_eq(R.handshakes, 1);
  cr_expect(sh_conn_active(c));
  cr_assert_eq(R.messages, 3);
  cr_expect_eq(R.ids[0], SH_MSG_UNCHOKE);
  cr_expect_eq(R.ids[1], SH_MSG_HAVE);
  cr_expect_eq(R.ids[2], SH_MSG_KEEPALIVE);
  cr_expect_gt(R.read_done, 0);
  sh_memio_close(raw);
}

Test(conn, outgoing_wrong_info_hash_is_refused)
{
  struct sh_conn *c;
  struct sh_transport *raw = dial(&c);
  uint8_t hs[68], other[20];
  memcpy(other, IH, 20);
  other[0] ^= 1;
  handshake(hs, other);
  sh_memio_write(raw, hs, 68);
  spin(5);
  cr_expect_eq(R.handshakes, 0, "the upper layer never sees it");
  cr_expect_eq(R.closes, 1);
  cr_expect(strstr(R.why, "another torrent"), "why: %s", R.why);
  spin(5);
  cr_expect_eq(R.frees, 1, "freed once the transport closed");
  sh_memio_close(raw);
}

Test(conn, incoming_refused_sends_nothing)
{
  struct sh_transport *a, *raw;
  cr_assert_eq(sh_memio_pair(&loop, NULL, NULL, &a, &raw), 0);
  cr_assert_eq(sh_conn_accept(&hub, a, NULL), 0);
  R.refuse = 1;
  uint8_t hs[68], buf[256];
  handshake(hs, IH);
  sh_memio_write(raw, hs, 68);
  spin(5);
  cr_expect_eq(R.handshakes, 1);
  cr_expect_eq(sh_memio_read(raw, buf, sizeof buf), 0, "not even our handshake went out");
  cr_expect(sh_memio_peer_closed(raw));
  cr_expect_eq(R.closes, 0, "nothing was attached, so no close callback");
  cr_expect_eq(hub.nconns, 0);
  sh_memio_close(raw);
}

Test(conn, incoming_accepted_answers_with_the_same_info_hash)
{
  struct sh_transport *a, *raw;
  cr_assert_eq(sh_memio_pair(&loop, NULL, NULL, &a, &raw), 0);
  struct sh_conn *c;
  cr_assert_eq(sh_conn_accept(&hub, a, &c), 0);
  uint8_t hs[68], back[68];
  handshake(hs, IH);
  sh_memio_write(raw, hs, 68);
  cr_assert_eq(take(raw, back, 68), 68);
  cr_expect_eq(memcmp(back + 28, IH, 20), 0);
  cr_expect_eq(c->ud, &attach_ud);
  cr_expect(sh_conn_active(c));
  sh_memio_close(raw);
  spin(5);
  cr_expect_eq(R.closes, 1, "the end of the stream closes it");
  cr_expect(strstr(R.why, "closed by the peer"), "why: %s", R.why);
  cr_expect_eq(R.frees, 1);
}

Test(conn, garbage_and_oversized_frames_close)
{
  struct sh_conn *c;
  struct sh_transport *raw = dial(&c);
  uint8_t hs[68 + 5];
  handshake(hs, IH);
  sh_wr32(hs + 68, SH_CONN_DEFAULT_MAX_FRAME + 1);
  hs[72] = 7;
  sh_memio_write(raw, hs, sizeof hs);
  spin(5);
  cr_expect_eq(R.closes, 1);
  cr_expect(strstr(R.why, "exceeds"), "why: %s", R.why);
  sh_memio_close(raw);

  memset(&R, 0, sizeof R);
  struct sh_transport *a;
  cr_assert_eq(sh_memio_pair(&loop, NULL, NULL, &a, &raw), 0);
  cr_assert_eq(sh_conn_accept(&hub, a, NULL), 0);
  memset(hs, 0xee, 68);
  sh_memio_write(raw, hs, 68);
  spin(5);
  cr_expect(sh_memio_peer_closed(raw), "a garbage handshake is hung up on");
  cr_expect_eq(R.handshakes, 0);
  sh_memio_close(raw);
}

Test(conn, handshake_timeout)
{
  struct sh_transport *a, *raw;
  cr_assert_eq(sh_memio_pair(&loop, NULL, NULL, &a, &raw), 0);
  cr_assert_eq(sh_conn_accept(&hub, a, NULL), 0);
  sh_hub_tick(&hub, uv_now(&loop) + 100);
  spin(2);
  cr_expect_not(sh_memio_peer_closed(raw), "still within the timeout");
  sh_hub_tick(&hub, uv_now(&loop) + 300);
  spin(2);
  cr_expect(sh_memio_peer_closed(raw), "closed after 200 ms without a handshake");
  sh_memio_close(raw);
}

static int released;
static void release(void *pin) { (void)pin, released++; }

/* Blocks from memory and from a file (by sendfile, or by reading it when
 * the transport has none), with padding zeros, leave in order, behind the
 * small messages queued before them, whatever the far end's window. */
static void blocks_in_order(int sendfile)
{
  struct sh_conn *c;
  struct sh_transport *raw = dial(&c);
  uint8_t hs[68];
  cr_assert_eq(take(raw, hs, 68), 68);
  handshake(hs, IH);
  sh_memio_write(raw, hs, 68);
  spin(3);
  cr_assert(sh_conn_active(c));
  if (sendfile)
    sh_memio_set_sendfile(c->tr, 1);
  char path[] = "/tmp/shoal-conn-XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  unlink(path);
  static uint8_t file[16384], mem[16384];
  for (size_t i = 0; i < sizeof file; i++) {
    file[i] = (uint8_t)(i * 7);
    mem[i] = (uint8_t)(i * 13);
  }
  cr_assert_eq(write(fd, file, sizeof file), (ssize_t)sizeof file);
  released = 0;
  /* 40 blocks (640 KiB): more than the far end's 256 KiB window */
  for (uint32_t k = 0; k < 40; k++) {
    struct sh_buf *b = sh_conn_msgbuf(c);
    sh_wire_put_have(b, k);
    struct sh_conn_extent ext[2] = {{fd, 0, 10000}, {-1, 0, 6384}};
    struct sh_conn_block blk = {.release = release};
    if (k % 2) {
      blk.ext = ext;
      blk.next = 2;
    } else {
      blk.data = mem;
    }
    sh_conn_send_block(c, k, 0, 16384, &blk);
  }
  spin(2);
  cr_expect_gt(sh_conn_backlog(c), 0, "the window is full: the rest waits");
  size_t one = 9 + 13 + 16384;
  uint8_t *got = malloc(40 * one);
  cr_assert_eq(take(raw, got, 40 * one), 40 * one);
  for (uint32_t k = 0; k < 40; k++) {
    const uint8_t *p = got + k * one;
    cr_assert_eq(sh_rd32(p), 5);
    cr_assert_eq(p[4], SH_MSG_HAVE);
    cr_assert_eq(sh_rd32(p + 5), k);
    cr_assert_eq(sh_rd32(p + 9), 9 + 16384);
    cr_assert_eq(p[13], SH_MSG_PIECE);
    cr_assert_eq(sh_rd32(p + 14), k);
    const uint8_t *d = p + 22;
    if (k % 2) {
      cr_assert_eq(memcmp(d, file, 10000), 0, "file bytes of block %u", k);
      for (size_t i = 10000; i < 16384; i++)
        cr_assert_eq(d[i], 0, "padding of block %u", k);
    } else {
      cr_assert_eq(memcmp(d, mem, 16384), 0, "memory bytes of block %u", k);
    }
  }
  free(got);
  spin(3);
  cr_expect_eq(released, 40, "every pin released once written");
  cr_expect_eq(sh_conn_backlog(c), 0);
  cr_expect_gt(R.drained, 0, "the upper layer heard the queue drain");
  close(fd);
  sh_memio_close(raw);
}

Test(conn, blocks_leave_in_order_through_memory) { blocks_in_order(0); }
Test(conn, blocks_leave_in_order_by_sendfile) { blocks_in_order(1); }

Test(conn, close_then_free_after_the_last_reference)
{
  struct sh_conn *c;
  struct sh_transport *raw = dial(&c);
  released = 0;
  struct sh_conn_block blk = {.data = (const uint8_t *)"x", .release = release};
  sh_conn_ref(c); /* a disk read in flight */
  sh_conn_close(c, "going away");
  sh_conn_send_block(c, 0, 0, 1, &blk);
  cr_expect_eq(released, 1, "a block queued while closing is released at once");
  cr_expect_eq(R.closes, 1);
  spin(5);
  cr_expect_eq(R.frees, 0, "the read still holds it");
  sh_conn_unref(c);
  cr_expect_eq(R.frees, 1);
  sh_memio_close(raw);
}

Test(conn, upload_allowance_waits_then_drains)
{
  sh_hub_set_rates(&hub, 32 * 1024, 0);
  struct sh_conn *c;
  struct sh_transport *raw = dial(&c);
  uint8_t hs[68];
  handshake(hs, IH);
  sh_memio_write(raw, hs, 68);
  spin(3);
  cr_assert(sh_conn_active(c));
  int granted = 0;
  while (sh_conn_upload_allowed(c, 16384 + 13))
    granted++;
  cr_expect_eq(granted, 1, "the 32 KiB burst holds one block and its header, not two");
  cr_expect(c->up_waiting, "waiting for the allowance to refill");
  int before = R.drained;
  uint64_t start = uv_now(&loop);
  while (R.drained == before && uv_now(&loop) - start < 3000)
    uv_run(&loop, UV_RUN_ONCE);
  cr_expect_gt(R.drained, before, "told to send again once the allowance refilled");
  cr_expect(sh_conn_upload_allowed(c, 16384 + 13));
  sh_memio_close(raw);
}

Test(conn, a_handshake_cut_short_by_the_download_limit_resumes)
{
  /* the allowance is spent: the first read takes one byte and reading
   * stops; the refill (16 KiB at 200 KB/s, about 80 ms) must restart it
   * though the connection is still in its handshake */
  sh_hub_set_rates(&hub, 0, 200000);
  struct sh_transport *a, *raw;
  cr_assert_eq(sh_memio_pair(&loop, NULL, NULL, &a, &raw), 0);
  cr_assert_eq(sh_conn_accept(&hub, a, NULL), 0);
  sh_ratelimit_take(&hub.down.bucket, uv_now(&loop), 1u << 20);
  uint8_t hs[68];
  handshake(hs, IH);
  sh_memio_write(raw, hs, 68);
  for (int i = 0; i < 2000 && !R.handshakes; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    usleep(1000);
  }
  cr_expect_eq(R.handshakes, 1, "reading resumed once the allowance refilled");
  sh_memio_close(raw);
}
