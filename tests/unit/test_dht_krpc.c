/* KRPC as the BEPs write it: every example packet of BEP 5 decodes to its
 * fields and encodes back to exactly its bytes; the keys of BEP 32, 33,
 * 42, 43 and 51; and malformed messages refused, each with its reason. */
#include <criterion/criterion.h>
#include <string.h>

#include "base/error.h"
#include "dht/krpc.h"

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

static void decode_ok(const uint8_t *p, size_t n, struct sh_krpc_msg *m)
{
  const char *why = NULL;
  int rc = sh_krpc_decode(p, n, m, &why);
  cr_assert_eq(rc, 0, "decode: %s", why ? why : "?");
}

/* Encodes m and compares with the literal, byte for byte. */
static void encodes_to(const struct sh_krpc_msg *m, const uint8_t *want, size_t n)
{
  struct sh_buf b = SH_BUF_INIT;
  sh_krpc_encode(&b, m);
  cr_assert(!b.oom);
  cr_expect_eq(b.len, n, "length %zu, wanted %zu: %.*s", b.len, n, (int)b.len, b.data);
  cr_expect(b.len == n && !memcmp(b.data, want, n), "got %.*s", (int)b.len, b.data);
  sh_buf_free(&b);
}

/* Decoding, then encoding what was decoded, gives the same bytes. */
static void round_trip(const uint8_t *p, size_t n)
{
  struct sh_krpc_msg m;
  decode_ok(p, n, &m);
  encodes_to(&m, p, n);
}

static void refused(const uint8_t *p, size_t n, const char *reason_part)
{
  struct sh_krpc_msg m;
  const char *why = NULL;
  cr_expect_eq(sh_krpc_decode(p, n, &m, &why), SH_EPROTO, "%.*s", (int)n, p);
  cr_expect(why && strstr(why, reason_part), "reason '%s' lacks '%s'", why ? why : "(none)",
            reason_part);
}

Test(krpc, bep5_ping)
{
  static const char q[] = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
  struct sh_krpc_msg m;
  decode_ok(S(q), &m);
  cr_expect_eq(m.type, SH_KRPC_QUERY);
  cr_expect_eq(m.method, SH_KRPC_PING);
  cr_expect_eq(m.tid_len, 2);
  cr_expect(!memcmp(m.tid, "aa", 2));
  cr_expect(m.has_id && !memcmp(m.id, "abcdefghij0123456789", 20));
  cr_expect(!m.v && !m.ro && !m.has_ip);

  struct sh_krpc_msg e;
  memset(&e, 0, sizeof e);
  e.type = SH_KRPC_QUERY;
  e.method = SH_KRPC_PING;
  e.tid = (const uint8_t *)"aa";
  e.tid_len = 2;
  memcpy(e.id, "abcdefghij0123456789", 20);
  e.has_id = 1;
  encodes_to(&e, S(q));

  static const char r[] = "d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re";
  decode_ok(S(r), &m);
  cr_expect_eq(m.type, SH_KRPC_RESPONSE);
  cr_expect(!memcmp(m.id, "mnopqrstuvwxyz123456", 20));
  cr_expect(!m.has_nodes && !m.values && !m.token);
  round_trip(S(r));
}

Test(krpc, bep5_find_node)
{
  static const char q[] = "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e"
                          "1:q9:find_node1:t2:aa1:y1:qe";
  struct sh_krpc_msg m;
  decode_ok(S(q), &m);
  cr_expect_eq(m.method, SH_KRPC_FIND_NODE);
  cr_expect(m.has_target && !memcmp(m.target, "mnopqrstuvwxyz123456", 20));
  round_trip(S(q));
  /* BEP 5's response abbreviates `nodes` as "def456...": 9 bytes are not
   * a whole 26-byte entry, so that literal is refused */
  refused(S("d1:rd2:id20:0123456789abcdefghij5:nodes9:def456...e1:t2:aa1:y1:re"),
          "26-byte");
  /* the same response with one real entry: id, then 1.2.3.4:6881 */
  static const char r[] = "d1:rd2:id20:0123456789abcdefghij5:nodes26:"
                          "mnopqrstuvwxyz123456\x01\x02\x03\x04\x1a\xe1"
                          "e1:t2:aa1:y1:re";
  decode_ok(S(r), &m);
  cr_assert(m.has_nodes);
  cr_expect_eq(m.nodes_len, 26);
  uint8_t id[20];
  struct sh_addr a;
  sh_krpc_node_get(m.nodes, 4, id, &a);
  cr_expect(!memcmp(id, "mnopqrstuvwxyz123456", 20));
  cr_expect_eq(a.family, 4);
  cr_expect_eq(a.port, 6881);
  cr_expect(a.ip[0] == 1 && a.ip[3] == 4);
  round_trip(S(r));
}

Test(krpc, bep5_get_peers)
{
  static const char q[] = "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e"
                          "1:q9:get_peers1:t2:aa1:y1:qe";
  struct sh_krpc_msg m;
  decode_ok(S(q), &m);
  cr_expect_eq(m.method, SH_KRPC_GET_PEERS);
  cr_expect(!memcmp(m.target, "mnopqrstuvwxyz123456", 20));
  round_trip(S(q));

  static const char r[] = "d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth"
                          "6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re";
  decode_ok(S(r), &m);
  cr_expect_eq(m.token_len, 8);
  cr_expect(!memcmp(m.token, "aoeusnth", 8));
  cr_assert_eq(m.nvalues, 2);
  /* "axje.u": 97.120.106.101, port '.' 'u' = 0x2e75 */
  cr_expect(m.values[0].family == 4 && m.values[0].ip[0] == 'a' && m.values[0].ip[3] == 'e');
  cr_expect_eq(m.values[0].port, 0x2e75);
  cr_expect(m.values[1].ip[0] == 'i' && m.values[1].port == ('n' << 8 | 'm'));
  round_trip(S(r));

  refused(S("d1:rd2:id20:abcdefghij01234567895:nodes9:def456...5:token8:aoeusnthe"
            "1:t2:aa1:y1:re"),
          "26-byte");
}

Test(krpc, bep5_announce_peer)
{
  static const char q[] = "d1:ad2:id20:abcdefghij012345678912:implied_porti1e"
                          "9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe"
                          "1:q13:announce_peer1:t2:aa1:y1:qe";
  struct sh_krpc_msg m;
  decode_ok(S(q), &m);
  cr_expect_eq(m.method, SH_KRPC_ANNOUNCE_PEER);
  cr_expect_eq(m.implied_port, 1);
  cr_expect_eq(m.port, 6881);
  cr_expect(!memcmp(m.target, "mnopqrstuvwxyz123456", 20));
  cr_expect(m.token_len == 8 && !memcmp(m.token, "aoeusnth", 8));
  round_trip(S(q));
  round_trip(S("d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re"));
}

Test(krpc, bep5_error)
{
  static const char e[] = "d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee";
  struct sh_krpc_msg m;
  decode_ok(S(e), &m);
  cr_expect_eq(m.type, SH_KRPC_ERROR);
  cr_expect_eq(m.err_code, SH_KRPC_E_GENERIC);
  cr_expect(m.err_len == 23 && !memcmp(m.err_msg, "A Generic Error Ocurred", 23));
  round_trip(S(e));
}

Test(krpc, bep32_want_and_nodes6)
{
  static const char q[] = "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456"
                          "4:wantl2:n42:n6ee1:q9:find_node1:t2:aa1:y1:qe";
  struct sh_krpc_msg m;
  decode_ok(S(q), &m);
  cr_expect_eq(m.want, SH_KRPC_WANT_N4 | SH_KRPC_WANT_N6);
  round_trip(S(q));
  /* unknown wants are ignored (BEP 32) */
  decode_ok(S("d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456"
              "4:wantl2:n62:xxee1:q9:find_node1:t2:aa1:y1:qe"),
            &m);
  cr_expect_eq(m.want, SH_KRPC_WANT_N6);
  /* nodes6: 38 bytes per entry; ::1 port 6881 */
  static const char r[] = "d1:rd2:id20:0123456789abcdefghij6:nodes638:mnopqrstuvwxyz123456"
                          "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x1a\xe1" "e1:t2:aa1:y1:re";
  decode_ok(S(r), &m);
  cr_assert(m.has_nodes6 && m.nodes6_len == 38);
  uint8_t id[20];
  struct sh_addr a;
  sh_krpc_node_get(m.nodes6, 6, id, &a);
  cr_expect(a.family == 6 && a.ip[15] == 1 && a.port == 6881);
  round_trip(S(r));
  refused(S("d1:rd2:id20:0123456789abcdefghij6:nodes637:mnopqrstuvwxyz123456"
            "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x1a" "e1:t2:aa1:y1:re"),
          "38-byte");
  /* a hybrid values list is understood (BEP 32) */
  decode_ok(S("d1:rd2:id20:abcdefghij01234567895:token1:x6:valuesl6:axje.u"
              "18:\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01\x1a\xe1" "5:shortee1:t2:aa1:y1:re"),
            &m);
  cr_expect_eq(m.nvalues, 2);
  cr_expect_eq(m.values[1].family, 6);
  cr_expect_eq(m.values_dropped, 1, "the 5-byte entry is ignored");
}

Test(krpc, bep33_scrape_keys)
{
  static const char q[] = "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456"
                          "6:noseedi1e6:scrapei1ee1:q9:get_peers1:t2:aa1:y1:qe";
  struct sh_krpc_msg m;
  decode_ok(S(q), &m);
  cr_expect(m.scrape && m.noseed);
  round_trip(S(q));
  uint8_t bf[256];
  memset(bf, 0x5a, sizeof bf);
  struct sh_krpc_msg r;
  memset(&r, 0, sizeof r);
  r.type = SH_KRPC_RESPONSE;
  r.tid = (const uint8_t *)"aa";
  r.tid_len = 2;
  r.has_id = 1;
  memcpy(r.id, "abcdefghij0123456789", 20);
  r.bf_seeds = bf;
  r.bf_peers = bf;
  struct sh_buf b = SH_BUF_INIT;
  sh_krpc_encode(&b, &r);
  cr_assert(b.len > 520);
  cr_expect(!memcmp(b.data, "d1:rd4:BFpe256:", 15), "upper-case keys sort first");
  decode_ok(b.data, b.len, &m);
  cr_expect(m.bf_seeds && m.bf_peers && m.bf_seeds[0] == 0x5a);
  sh_buf_free(&b);
  refused(S("d1:rd4:BFsd3:abc2:id20:abcdefghij0123456789e1:t2:aa1:y1:re"), "256 bytes");
  /* announce from a seed */
  decode_ok(S("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456"
              "4:porti1e4:seedi1e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe"),
            &m);
  cr_expect(m.seed && m.port == 1);
}

Test(krpc, bep42_ip_and_bep43_ro)
{
  /* `ip` at the top level of a reply: 124.31.75.21:6881 */
  static const char r[] = "d2:ip6:\x7c\x1f\x4b\x15\x1a\xe1" "1:rd2:id20:mnopqrstuvwxyz123456e"
                          "1:t2:aa1:y1:re";
  struct sh_krpc_msg m;
  decode_ok(S(r), &m);
  cr_assert(m.has_ip);
  cr_expect(m.ip.family == 4 && m.ip.ip[0] == 124 && m.ip.ip[3] == 21 && m.ip.port == 6881);
  round_trip(S(r));
  static const char q[] = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping2:roi1e1:t2:aa1:y1:qe";
  decode_ok(S(q), &m);
  cr_expect_eq(m.ro, 1);
  round_trip(S(q));
}

Test(krpc, bep51_sample_infohashes)
{
  static const char q[] = "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e"
                          "1:q17:sample_infohashes1:t2:aa1:y1:qe";
  struct sh_krpc_msg m;
  decode_ok(S(q), &m);
  cr_expect_eq(m.method, SH_KRPC_SAMPLE_INFOHASHES);
  round_trip(S(q));
  static const char r[] = "d1:rd2:id20:0123456789abcdefghij8:intervali60e5:nodes0:3:numi2e"
                          "7:samples40:aaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbe1:t2:aa1:y1:re";
  decode_ok(S(r), &m);
  cr_expect(m.has_samples && m.samples_len == 40 && m.num == 2 && m.interval == 60);
  round_trip(S(r));
  refused(S("d1:rd2:id20:0123456789abcdefghij7:samples3:abce1:t2:aa1:y1:re"), "20-byte");
}

Test(krpc, unknown_methods_and_keys)
{
  /* an unknown query keeps its target (answered like find_node) */
  struct sh_krpc_msg m;
  decode_ok(S("d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e"
              "1:q3:put1:t2:aa1:y1:qe"),
            &m);
  cr_expect_eq(m.method, SH_KRPC_UNKNOWN);
  cr_expect(m.has_target);
  /* unknown keys anywhere are ignored; unsorted keys are accepted */
  decode_ok(S("d1:y1:q1:t2:aa1:q4:ping1:ad2:id20:abcdefghij01234567893:zzzi1ee1:zi9ee"), &m);
  cr_expect_eq(m.method, SH_KRPC_PING);
}

Test(krpc, malformed_messages_refused)
{
  refused(S("not bencode"), "bencode");
  refused(S("li1ee"), "dictionary");
  refused(S("d1:y1:qe"), "transaction");
  refused(S("d1:t17:aaaaaaaaaaaaaaaaa1:y1:qe"), "transaction");
  refused(S("d1:t2:aa1:y1:xe"), "`y`");
  refused(S("d1:q4:ping1:t2:aa1:y1:qe"), "`a`");
  refused(S("d1:ad2:id20:abcdefghij0123456789e1:t2:aa1:y1:qe"), "method");
  refused(S("d1:ad2:id19:abcdefghij012345678e1:q4:ping1:t2:aa1:y1:qe"), "`id`");
  refused(S("d1:rde1:t2:aa1:y1:re"), "`id`");
  refused(S("d1:t2:aa1:y1:re"), "`r`");
  refused(S("d1:ad2:id20:abcdefghij0123456789e1:q9:find_node1:t2:aa1:y1:qe"), "target");
  refused(S("d1:ad2:id20:abcdefghij01234567896:target3:abce1:q9:find_node1:t2:aa1:y1:qe"),
          "20 bytes");
  refused(S("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti6881e"
            "e1:q13:announce_peer1:t2:aa1:y1:qe"),
          "token");
  refused(S("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti0e"
            "5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe"),
          "port");
  refused(S("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti70000e"
            "5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe"),
          "port");
  refused(S("d1:eli201ee1:t2:aa1:y1:ee1:ti1e"), "bencode"); /* trailing bytes */
  refused(S("d1:ele1:t2:aa1:y1:ee"), "code");
  /* a query that fails after its `t` keeps the tid, for the 203 error */
  struct sh_krpc_msg m;
  const char *why;
  cr_expect_eq(sh_krpc_decode(S("d1:ad2:id3:abce1:q4:ping1:t2:xy1:y1:qe"), &m, &why), SH_EPROTO);
  cr_expect(m.type == SH_KRPC_QUERY && m.tid_len == 2 && !memcmp(m.tid, "xy", 2));
}

Test(krpc, implied_port_without_port)
{
  struct sh_krpc_msg m;
  decode_ok(S("d1:ad2:id20:abcdefghij012345678912:implied_porti1e"
              "9:info_hash20:mnopqrstuvwxyz1234565:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe"),
            &m);
  cr_expect(m.implied_port && m.port == 0);
}
