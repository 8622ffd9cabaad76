/* ut_pex (BEP 11): the codec byte for byte, and over the in-memory
 * transport: a peer is told of the others we are connected to (with their
 * listening addresses and flags); what a peer tells us fills the peer
 * list within bounds (per message, one per IP, a minimum gap, a hang-up
 * after too many ignored messages), and the flags both ways (encryption
 * and uTP sent for the peers that showed them; received, they fill the
 * peer list's knowledge without overruling what a dial saw); private
 * torrents (BEP 27) neither advertise nor use PEX. Nothing is dialled:
 * the torrents' connection limits are full. */
#include "test_ext_peer.h"

#include "base/compact.h"

/* ---- the codec ---- */

static int parse(const char *s, size_t n, struct sh_pex_msg *m, const char **why)
{
  return sh_pex_parse((const uint8_t *)s, n, m, why);
}

Test(ut_pex, parse_the_lists)
{
  static const char msg[] = "d5:added12:\x0a\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x1a\xe2"
                            "7:added.f2:\x02\x10"
                            "6:added618:\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01\x00\x50"
                            "7:dropped6:\x7f\x00\x00\x01\x00\x01" "e";
  struct sh_pex_msg m;
  const char *why = NULL;
  cr_assert_eq(parse(msg, sizeof msg - 1, &m, &why), 0, "%s", why);
  cr_expect_eq(m.n_added, 2);
  cr_expect_eq(m.n_added_f, 2);
  cr_expect_eq(m.added_f[1], SH_PEX_F_REACHABLE);
  cr_expect_eq(m.n_added6, 1);
  cr_expect_eq(m.n_added6_f, 0, "flags are optional");
  cr_expect_eq(m.n_dropped, 1);
  cr_expect_eq(m.n_dropped6, 0);
  struct sh_addr a;
  cr_assert_eq(sh_compact_get(&a, m.added + 6, 6), 0);
  cr_expect_eq(a.port, 0x1ae2);
}

Test(ut_pex, refuse_malformed)
{
  struct sh_pex_msg m;
  const char *why = NULL;
  cr_expect_eq(parse("le", 2, &m, &why), SH_EPROTO);
  cr_expect(strstr(why, "not a bencoded dictionary"));
  cr_expect_eq(parse("d5:added7:1234567e", 18, &m, &why), SH_EPROTO);
  cr_expect(strstr(why, "whole compact entries"), "%s", why);
  cr_expect_eq(parse("d6:added617:12345678901234567e", 29, &m, &why), SH_EPROTO);
  cr_expect_eq(parse("d5:addedi3ee", 12, &m, &why), SH_EPROTO, "a list must be a string");
  cr_expect_eq(parse("d1:xi1ee", 8, &m, &why), SH_EPROTO);
  cr_expect(strstr(why, "no list"), "%s", why);
  cr_expect_eq(parse("d5:added0:e", 11, &m, &why), 0, "an empty list is a list");
  cr_expect_eq(parse("d5:added0:ex", 12, &m, &why), SH_EPROTO, "trailing bytes");
}

Test(ut_pex, put_then_parse)
{
  struct sh_addr added[3] = {{.family = 4, .ip = {10, 0, 0, 1}, .port = 6881},
                             {.family = 6, .ip = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, .port = 80},
                             {.family = 4, .ip = {10, 0, 0, 2}, .port = 6882}};
  uint8_t flags[3] = {SH_PEX_F_SEED, SH_PEX_F_REACHABLE, 0};
  struct sh_addr dropped[1] = {{.family = 6, .ip = {[15] = 1}, .port = 1}};
  struct sh_buf b = SH_BUF_INIT;
  sh_pex_put(&b, added, flags, 3, dropped, 1);
  /* keys sorted, IPv4 and IPv6 apart, flags in the order of their entries */
  static const char want[] = "d5:added12:\x0a\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x1a\xe2"
                             "7:added.f2:\x02\x00"
                             "6:added618:\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01\x00\x50"
                             "8:added6.f1:\x10"
                             "8:dropped618:\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x00\x01" "e";
  cr_assert_eq(b.len, sizeof want - 1);
  cr_expect_eq(memcmp(b.data, want, b.len), 0);
  struct sh_pex_msg m;
  const char *why;
  cr_expect_eq(sh_pex_parse(b.data, b.len, &m, &why), 0);
  sh_buf_free(&b);
}

/* ---- in the engine ---- */

struct one {
  uv_loop_t loop;
  struct th_torrent tt;
  char *dir;
  shoal_session *s;
  shoal_id t;
  uint8_t ih[20];
};

/* A session seeding one small torrent, its connection limit max_peers. */
static void one_up(struct one *o, int max_peers, int private_)
{
  static const struct th_file f[] = {{"pex.bin", 65536, 0}};
  memset(o, 0, sizeof *o);
  th_nev = 0;
  uv_loop_init(&o->loop);
  th_torrent_build(&o->tt, "pex.bin", f, 1, 0, 16384);
  if (private_) {
    /* "7:privatei1e" sorts after "pieces" at the end of the info dict */
    struct sh_buf *r = &o->tt.raw;
    r->len -= 2;
    sh_buf_puts(r, "7:privatei1eee");
  }
  o->dir = th_tmpdir();
  th_write_content(&o->tt, o->dir);
  struct shoal_settings set;
  th_settings_mem(&set);
  set.max_peers_per_torrent = max_peers;
  o->s = th_session(&o->loop, &set);
  o->t = th_add(o->s, &o->tt, o->dir, 1);
  cr_assert(th_wait_event(&o->loop, o->s, o->t, SHOAL_EVENT_FINISHED, 20000));
  memcpy(o->ih, th_status(o->s, o->t).info_hash, 20);
}

static void one_down(struct one *o)
{
  th_close(&o->loop, &o->s, 1);
  cr_expect_eq(uv_loop_close(&o->loop), 0);
  th_rmtree(o->dir);
  th_torrent_free(&o->tt);
}

/* A raw peer at ip connects with listen port `port` and is attached. */
static void join(struct one *o, struct xpeer *x, const char *ip, const char *id, int port)
{
  xp_accept(x, &o->loop, o->s, ip);
  xp_hello(x, o->ih, id, -1, port);
  cr_assert(th_run_until(&o->loop, NULL, xp_has_ext_hs, x, 3000));
}

Test(ut_pex, peers_are_told_of_each_other, .timeout = 30)
{
  struct one o;
  one_up(&o, 4, 0);
  struct xpeer a, b;
  join(&o, &a, "192.0.2.1", "-XX0000-pexpeer0000a", 7001);
  cr_expect(sh_wire_ext_id(&a.eh, "ut_pex"), "ut_pex is advertised");
  th_run_until(&o.loop, NULL, NULL, NULL, 300);
  cr_expect_eq(a.pex, 0, "nothing to tell while it is alone");
  join(&o, &b, "192.0.2.2", "-XX0000-pexpeer0000b", 7002);
  cr_assert(th_run_until(&o.loop, NULL, xp_got_pex, &a, 3000), "a hears of b");
  cr_assert(th_run_until(&o.loop, NULL, xp_got_pex, &b, 3000), "b hears of a");
  struct sh_pex_msg m;
  const char *why;
  cr_assert_eq(sh_pex_parse(a.last_pex.data, a.last_pex.len, &m, &why), 0);
  cr_assert_eq(m.n_added, 1);
  struct sh_addr got, want = th_addr("192.0.2.2", 7002);
  sh_compact_get(&got, m.added, 6);
  cr_expect(sh_addr_eq(&got, &want), "b's address with the port it listens on");
  cr_assert_eq(m.n_added_f, 1);
  cr_expect_eq(m.added_f[0], 0, "neither a seed nor dialled by us");
  /* nothing new: no second message within the minute */
  th_run_until(&o.loop, NULL, NULL, NULL, 1500);
  cr_expect_eq(a.pex, 1);
  cr_expect_eq(b.pex, 1);
  xp_close(&a, &o.loop);
  xp_close(&b, &o.loop);
  one_down(&o);
}

/* The engine's peer from ip (attached). */
static struct sh_peer *engine_peer(struct one *o, const char *ip)
{
  const struct shoal_torrent *t = sh_torrent_by_id(o->s, o->t);
  struct sh_addr want = th_addr(ip, 6881);
  for (size_t i = 0; i < t->npeers; i++)
    if (sh_addr_same_ip(&t->peers[i]->c->addr, &want))
      return t->peers[i];
  cr_assert_fail("no peer from %s", ip);
  return NULL;
}

Test(ut_pex, flags_say_encrypted_and_utp, .timeout = 30)
{
  struct one o;
  one_up(&o, 4, 0);
  struct xpeer a, b, c;
  join(&o, &b, "192.0.2.2", "-XX0000-pexflags000b", 7002);
  join(&o, &c, "192.0.2.3", "-XX0000-pexflags000c", 7003);
  /* as if b had come in encrypted (RC4) over uTP, and c with an
   * encrypted handshake only over TCP: what the connection layer records
   * (a plaintext TCP peer gets neither flag: peers_are_told_of_each_other) */
  struct sh_conn *bc = engine_peer(&o, "192.0.2.2")->c, *cc = engine_peer(&o, "192.0.2.3")->c;
  bc->enc = SH_CONN_ENC_RC4;
  bc->over_utp = 1;
  cc->enc = SH_CONN_ENC_HEADER;
  join(&o, &a, "192.0.2.1", "-XX0000-pexflags000a", 7001);
  cr_assert(th_run_until(&o.loop, NULL, xp_got_pex, &a, 3000), "a hears of b and c");
  struct sh_pex_msg m;
  const char *why;
  cr_assert_eq(sh_pex_parse(a.last_pex.data, a.last_pex.len, &m, &why), 0);
  cr_assert_eq(m.n_added, 2);
  cr_assert_eq(m.n_added_f, 2);
  for (size_t i = 0; i < 2; i++) {
    struct sh_addr got;
    sh_compact_get(&got, m.added + 6 * i, 6);
    uint8_t want = got.port == 7002 ? SH_PEX_F_CRYPTO | SH_PEX_F_UTP : SH_PEX_F_CRYPTO;
    cr_expect_eq(m.added_f[i], want, "port %u: flags %#x, wanted %#x", got.port, m.added_f[i],
                 want);
  }
  xp_close(&a, &o.loop);
  xp_close(&b, &o.loop);
  xp_close(&c, &o.loop);
  one_down(&o);
}

/* The peer list's entry for ip:port, which must exist. */
static struct sh_peer_entry *entry(struct one *o, const char *ip, uint16_t port)
{
  struct sh_addr a = th_addr(ip, port);
  struct sh_peer_entry *e = sh_peers_find(&sh_torrent_by_id(o->s, o->t)->plist, &a);
  cr_assert(e, "%s:%u is in the peer list", ip, port);
  return e;
}

Test(ut_pex, received_flags_feed_the_peer_list, .timeout = 30)
{
  struct one o;
  one_up(&o, 1, 0); /* full with one peer: nothing is dialled */
  struct xpeer x;
  join(&o, &x, "192.0.2.1", "-XX0000-flagsender01", 0);
  /* what earlier dials taught: .3's uTP failed, .4 refused MSE */
  struct shoal_torrent *t = sh_torrent_by_id(o.s, o.t);
  struct sh_addr known3 = th_addr("10.5.0.3", 3), known4 = th_addr("10.5.0.4", 4);
  sh_peers_add(&t->plist, &known3, SH_SRC_TRACKER, 0);
  sh_peers_add(&t->plist, &known4, SH_SRC_TRACKER, 0);
  sh_peers_set_utp(&t->plist, &known3, SH_PE_UTP_NO);
  entry(&o, "10.5.0.4", 4)->crypto |= SH_PE_PLAIN;
  struct sh_addr added[5] = {th_addr("10.5.0.1", 1), th_addr("10.5.0.2", 2), known3, known4,
                             th_addr("10.5.0.5", 5)};
  /* four flag bytes for five entries: the last has none */
  static const uint8_t flags[4] = {SH_PEX_F_UTP | SH_PEX_F_SEED, SH_PEX_F_CRYPTO, SH_PEX_F_UTP,
                                   SH_PEX_F_CRYPTO};
  uint8_t list[5 * 6];
  for (int i = 0; i < 5; i++)
    sh_compact_put(list + 6 * i, &added[i]);
  struct sh_buf b = SH_BUF_INIT;
  be_put_dict(&b);
  be_put_cstr(&b, "added");
  be_put_str(&b, list, sizeof list);
  be_put_cstr(&b, "added.f");
  be_put_str(&b, flags, sizeof flags);
  be_put_end(&b);
  xp_send_ext(&x, sh_wire_ext_id(&x.eh, "ut_pex"), b.data, b.len);
  sh_buf_free(&b);
  th_run_until(&o.loop, NULL, NULL, NULL, 200);
  cr_expect_eq(entry(&o, "10.5.0.1", 1)->utp, SH_PE_UTP_YES, "0x04: it speaks uTP");
  cr_expect(entry(&o, "10.5.0.1", 1)->seed, "0x02: a seed, not dialled by our seed");
  cr_expect_not(entry(&o, "10.5.0.2", 2)->seed);
  cr_expect_eq(entry(&o, "10.5.0.2", 2)->utp, SH_PE_UTP_UNKNOWN, "no 0x04: nothing learnt");
  cr_expect_eq(entry(&o, "10.5.0.3", 3)->utp, SH_PE_UTP_NO, "our failed uTP dial outranks it");
  cr_expect_eq(entry(&o, "10.5.0.4", 4)->crypto & SH_PE_PLAIN, 0,
               "0x01: an encrypted dial is tried first again");
  cr_expect_eq(entry(&o, "10.5.0.5", 5)->utp, SH_PE_UTP_UNKNOWN, "past the flags: none");
  cr_expect_eq(entry(&o, "10.5.0.5", 5)->source & SH_SRC_PEX, SH_SRC_PEX, "but it is taken");
  xp_close(&x, &o.loop);
  one_down(&o);
}

/* A PEX message of n IPv4 entries from ip0.ip1.x.y, port base + i. */
static void pex_flood(struct xpeer *x, int n, uint8_t ip0, uint8_t ip1, int same_ip)
{
  struct sh_buf list = SH_BUF_INIT, b = SH_BUF_INIT;
  for (int i = 0; i < n; i++) {
    uint8_t e[6] = {ip0, ip1, same_ip ? 1 : (uint8_t)(i >> 8), same_ip ? 1 : (uint8_t)i};
    sh_wr16(e + 4, (uint16_t)(10000 + i));
    sh_buf_append(&list, e, 6);
  }
  be_put_dict(&b);
  be_put_cstr(&b, "added");
  be_put_str(&b, list.data, list.len);
  be_put_end(&b);
  xp_send_ext(x, sh_wire_ext_id(&x->eh, "ut_pex"), b.data, b.len);
  sh_buf_free(&list);
  sh_buf_free(&b);
}

static size_t known(struct one *o) { return sh_torrent_by_id(o->s, o->t)->plist.n; }

Test(ut_pex, what_a_peer_tells_is_bounded, .timeout = 30)
{
  struct one o;
  one_up(&o, 1, 0); /* full with one peer: nothing is dialled */
  struct xpeer x;
  join(&o, &x, "192.0.2.1", "-XX0000-flooder00001", 0);
  size_t before = known(&o);
  pex_flood(&x, 3000, 10, 9, 0);
  th_run_until(&o.loop, NULL, NULL, NULL, 200);
  cr_expect_eq(known(&o), before + 2 * SH_PEX_MAX_TAKE, "a first message gives at most 100");
  pex_flood(&x, 10, 10, 8, 0);
  th_run_until(&o.loop, NULL, NULL, NULL, 200);
  cr_expect_eq(known(&o), before + 2 * SH_PEX_MAX_TAKE, "a second one within 20 s: ignored");
  cr_expect_not(x.m.closed);
  for (int i = 0; i < SH_PEX_MAX_IGNORED; i++)
    pex_flood(&x, 1, 10, 7, 0);
  cr_expect(th_run_until(&o.loop, NULL, th_mpeer_is_closed, &x.m, 3000),
            "hung up after more than 10 ignored messages");
  xp_close(&x, &o.loop);
  one_down(&o);
}

Test(ut_pex, one_entry_per_address_but_on_loopback, .timeout = 30)
{
  struct one o;
  one_up(&o, 1, 0);
  struct xpeer x;
  join(&o, &x, "192.0.2.1", "-XX0000-repeater0001", 0);
  size_t before = known(&o);
  pex_flood(&x, 20, 10, 6, 1); /* 10.6.1.1 under 20 ports */
  th_run_until(&o.loop, NULL, NULL, NULL, 200);
  cr_expect_eq(known(&o), before + 1, "one port of one address");
  xp_close(&x, &o.loop);
  struct xpeer y;
  join(&o, &y, "192.0.2.3", "-XX0000-repeater0002", 0);
  pex_flood(&y, 20, 127, 0, 1); /* 127.0.1.1 under 20 ports: on loopback, each counts */
  th_run_until(&o.loop, NULL, NULL, NULL, 200);
  cr_expect_eq(known(&o), before + 1 + 20);
  xp_close(&y, &o.loop);
  one_down(&o);
}

Test(ut_pex, private_torrents_have_no_pex, .timeout = 30)
{
  struct one o;
  one_up(&o, 1, 1);
  struct xpeer x;
  join(&o, &x, "192.0.2.1", "-XX0000-private00001", 0);
  cr_expect_eq(sh_wire_ext_id(&x.eh, "ut_pex"), 0, "not advertised (BEP 27)");
  cr_expect_neq(sh_wire_ext_id(&x.eh, "ut_metadata"), 0);
  size_t before = known(&o);
  /* sent anyway, under the id the session has for ut_pex */
  int id = 0;
  for (int i = 0; i < o.s->ext.n; i++)
    if (!strcmp(o.s->ext.ext[i].name, "ut_pex"))
      id = i + 1;
  cr_assert(id);
  xp_send_ext(&x, (uint8_t)id, "d5:added6:\x0a\x00\x00\x01\x1a\xe1" "e", 17);
  th_run_until(&o.loop, NULL, NULL, NULL, 200);
  cr_expect_eq(known(&o), before, "and what comes is not used");
  xp_close(&x, &o.loop);
  one_down(&o);
}
