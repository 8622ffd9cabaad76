/* Encryption policies between two sessions on loopback (real TCP dials,
 * so the fallback redials for real): what each pair settles on, that the
 * data arrives intact through RC4, that PREFER falls back to plaintext
 * once and remembers it, that a setting that cannot meet the peer's says
 * so once, and that an encrypted handshake finds its torrent among a
 * thousand by its key. */
#include "test_mem_peer.h"

#include "peer/mse_hs.h"

#define PIECE (256u * 1024)

struct pair {
  uv_loop_t loop;
  struct th_torrent tt;
  char *sdir, *ldir;
  shoal_session *seed, *leech;
  shoal_id st, lt;
};

/* Log lines at warning level and above, to count what users are told. */
static char said[8][256];
static int nsaid;
static void sink(void *ud, enum shoal_log_level level, const char *msg)
{
  th_log_sink(ud, level, msg);
  if (level <= SHOAL_LOG_WARN && nsaid < 8)
    snprintf(said[nsaid++], sizeof said[0], "%s", msg);
}

static int times_said(const char *what)
{
  int n = 0;
  for (int i = 0; i < nsaid; i++)
    n += strstr(said[i], what) != NULL;
  return n;
}

static void pair_up(struct pair *p, int seed_enc, int leech_enc)
{
  static const struct th_file f[] = {{"mse.bin", 14 * PIECE + 4321, 0}};
  memset(p, 0, sizeof *p);
  nsaid = 0;
  th_nev = 0;
  uv_loop_init(&p->loop);
  th_torrent_build(&p->tt, "mse.bin", f, 1, 0, PIECE);
  p->sdir = th_tmpdir();
  p->ldir = th_tmpdir();
  th_write_content(&p->tt, p->sdir);
  struct shoal_settings set;
  th_settings(&set);
  shoal_log_set_sink(sink, NULL);
  set.encryption = seed_enc;
  p->seed = th_session(&p->loop, &set);
  set.encryption = leech_enc;
  p->leech = th_session(&p->loop, &set);
  p->st = th_add(p->seed, &p->tt, p->sdir, 1);
  cr_assert(th_wait_event(&p->loop, p->seed, p->st, SHOAL_EVENT_FINISHED, 20000));
  p->lt = th_add(p->leech, &p->tt, p->ldir, 0);
  th_add_peer(p->leech, p->lt, shoal_session_port(p->seed));
}

static void pair_down(struct pair *p)
{
  shoal_session *all[2] = {p->seed, p->leech};
  th_close(&p->loop, all, 2);
  cr_expect_eq(uv_loop_close(&p->loop), 0);
  th_rmtree(p->sdir);
  th_rmtree(p->ldir);
  th_torrent_free(&p->tt);
}

static struct pair *cur;
static struct shoal_peer_info seen; /* the leech's view of its first peer */
static int leech_has_peer(void *ud)
{
  (void)ud;
  return shoal_torrent_peers(cur->leech, cur->lt, &seen, 1) > 0;
}

/* Runs until the leech has its peer (its flags are kept in `seen`), then
 * to the end of the download. */
static void download(struct pair *p)
{
  cur = p;
  cr_assert(th_run_until(&p->loop, NULL, leech_has_peer, NULL, 20000), "connected");
  cr_assert(th_wait_event(&p->loop, p->leech, p->lt, SHOAL_EVENT_FINISHED, 30000), "downloaded");
  cr_expect(th_content_equal(&p->tt, p->ldir), "the same bytes");
}

/* The leech's peer-list entry for the seed. */
static struct sh_peer_entry *entry(struct pair *p)
{
  struct sh_addr a = th_addr("127.0.0.1", shoal_session_port(p->seed));
  return sh_peers_find(&sh_torrent_by_id(p->leech, p->lt)->plist, &a);
}

/* Both sides can meet: the download completes, encrypted as expected. */
static void settles(int seed_enc, int leech_enc, int encrypted, int rc4)
{
  struct pair p;
  pair_up(&p, seed_enc, leech_enc);
  download(&p);
  cr_expect_eq(seen.encrypted, encrypted, "encrypted handshake: %d", seen.encrypted);
  cr_expect_eq(seen.rc4, rc4, "RC4 stream: %d", seen.rc4);
  pair_down(&p);
}

Test(engine_mse, prefer_both_ways_encrypts_the_handshake_only, .timeout = 60)
{
  /* the seed picks header-only, which costs nothing after the handshake */
  settles(SHOAL_ENC_PREFER, SHOAL_ENC_PREFER, 1, 0);
}

Test(engine_mse, require_on_the_leech_means_rc4_and_the_same_bytes, .timeout = 60)
{
  settles(SHOAL_ENC_PREFER, SHOAL_ENC_REQUIRE, 1, 1);
}

Test(engine_mse, require_on_the_seed_means_rc4_too, .timeout = 60)
{
  settles(SHOAL_ENC_REQUIRE, SHOAL_ENC_PREFER, 1, 1);
}

Test(engine_mse, prefer_falls_back_to_plaintext_once_and_remembers, .timeout = 60)
{
  struct pair p;
  pair_up(&p, SHOAL_ENC_OFF, SHOAL_ENC_PREFER);
  download(&p);
  cr_expect_not(seen.encrypted, "the second dial was plaintext");
  struct sh_peer_entry *e = entry(&p);
  cr_assert(e);
  cr_expect(e->crypto & SH_PE_PLAIN, "the peer is remembered as plaintext-only");
  cr_expect_eq(e->fails, 0, "the refused encrypted dial is no failure");
  cr_expect_eq(nsaid, 0, "nothing to warn about");
  pair_down(&p);
}

static int stays_alone(void *ud)
{
  (void)ud;
  return 0;
}

/* Neither side can meet the other: runs three seconds (the hand-added
 * peer is redialled after 2 s), nothing is downloaded, one warning. */
static void never_meet(int seed_enc, int leech_enc, const char *what)
{
  struct pair p;
  pair_up(&p, seed_enc, leech_enc);
  th_run_until(&p.loop, NULL, stays_alone, NULL, 3000);
  struct shoal_status st = th_status(p.leech, p.lt);
  cr_expect_eq(st.peers, 0);
  cr_expect_eq(st.pieces_have, 0);
  cr_expect_eq(times_said(what), 1, "said once: %s (%d lines: %s)", what, nsaid, said[0]);
  struct sh_peer_entry *e = entry(&p);
  cr_expect(e && e->fails >= 2, "dialled again, and it failed again");
  pair_down(&p);
}

Test(engine_mse, off_against_a_seed_that_requires_says_so, .timeout = 60)
{
  never_meet(SHOAL_ENC_REQUIRE, SHOAL_ENC_OFF,
             "may accept only encrypted connections, and encryption is off");
}

Test(engine_mse, require_against_a_seed_that_refuses_says_so, .timeout = 60)
{
  never_meet(SHOAL_ENC_OFF, SHOAL_ENC_REQUIRE, "encryption is required: not trying plaintext");
}

Test(engine_mse, the_key_finds_its_torrent_among_a_thousand, .timeout = 60)
{
  struct pair p;
  pair_up(&p, SHOAL_ENC_REQUIRE, SHOAL_ENC_REQUIRE);
  /* the seed also holds 1000 torrents waiting for metadata */
  for (int i = 0; i < 1000; i++) {
    uint8_t ih[20];
    char name[32];
    snprintf(name, sizeof name, "other %d", i);
    sh_sha1(name, strlen(name), ih);
    struct shoal_add_params ap = {.info_hash = ih, .save_dir = p.sdir};
    shoal_id id;
    char err[256];
    cr_assert_eq(shoal_torrent_add(p.seed, &ap, &id, err, sizeof err), 0, "%s", err);
  }
  const struct shoal_torrent *t = sh_torrent_by_id(p.seed, p.st);
  cr_expect_eq(sh_torrent_find_req2(p.seed, t->req2), t);
  uint8_t req2[20];
  sh_mse_req2(t->ih, req2);
  cr_expect(!memcmp(req2, t->req2, 20));
  download(&p);
  cr_expect(seen.rc4);
  pair_down(&p);
}

Test(engine_mse, an_unknown_setting_is_refused)
{
  struct shoal_settings set;
  th_settings(&set);
  set.encryption = 3;
  uv_loop_t loop;
  uv_loop_init(&loop);
  shoal_session *s = NULL;
  char err[256] = "";
  cr_expect_eq(shoal_session_new(&loop, &set, &s, err, sizeof err), -EINVAL);
  cr_expect(strstr(err, "encryption"), "%s", err);
  cr_expect_eq(uv_loop_close(&loop), 0);
}
