/* The DHT's peer store: BEP 33's Bloom filter test vector, one record
 * per IP (per IP and port on loopback), the bounds, expiry after 30
 * minutes, values handed out from every part of the list, BEP 51
 * samples. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "base/error.h"
#include "base/sha1.h"
#include "dht/store.h"
#include "dht_net.h"

static const char bep33_vector[] =
    "F6C3F5EAA07FFD91BDE89F777F26FB2BFF37BDB8FB2BBAA2FD3DDDE7BACFFF75"
    "EE7CCBAEFE5EEDB1FBFAFF67F6ABFF5E43DDBCA3FD9B9FFDF4FFD3E9DFF12D1B"
    "DF59DB53DBE9FA5B7FF3B8FDFCDE1AFB8BEDD7BE2F3EE71EBBBFE93BCDEEFE14"
    "8246C2BC5DBFF7E7EFDCF24FD8DC7ADFFD8FFFDFDDFFF7A4BBEEDF5CB95CE81F"
    "C7FCFF1FF4FFFFDFE5F7FDCBB7FD79B3FA1FC77BFE07FFF905B7B7FFC7FEFEFF"
    "E0B8370BB0CD3F5B7F2BD93FEB4386CFDD6F7FD5BFAF2E9EBFFFFEECD67ADBF7"
    "C67F17EFD5D75EBA6FFEBA7FFF47A91EB1BFBB53E8ABFB5762ABE8FF237279BF"
    "EFBFEEF5FFC5FEBFDFE5ADFFADFEE1FB737FFFFBFD9F6AEFFEEE76B6FD8F72EF";

Test(dht_store, bep33_bloom_test_vector)
{
  uint8_t bf[SH_KRPC_BLOOM_LEN] = {0}, want[SH_KRPC_BLOOM_LEN];
  /* 192.0.2.0 - 192.0.2.255 and 2001:DB8:: - 2001:DB8::3E7, inclusive */
  for (int i = 0; i <= 255; i++) {
    uint8_t ip[4] = {192, 0, 2, (uint8_t)i};
    sh_dht_bloom_add(bf, ip, 4);
  }
  for (int i = 0; i <= 0x3e7; i++) {
    uint8_t ip[16] = {0x20, 0x01, 0x0d, 0xb8};
    ip[14] = (uint8_t)(i >> 8);
    ip[15] = (uint8_t)i;
    sh_dht_bloom_add(bf, ip, 16);
  }
  cr_assert_eq(sh_unhex(bep33_vector, want, sizeof want), 0);
  cr_expect_arr_eq(bf, want, sizeof want);
  double est = sh_dht_bloom_estimate(bf);
  cr_expect(fabs(est - 1224.9308) < 0.001, "estimate %f, BEP 33 says 1224.9308", est);
}

static const uint8_t ih1[20] = "aaaaaaaaaaaaaaaaaaaa", ih2[20] = "bbbbbbbbbbbbbbbbbbbb";

Test(dht_store, one_record_per_ip_but_per_port_on_loopback)
{
  struct sh_dht_store s;
  sh_dht_store_init(&s, 16, 16, 100);
  struct sh_addr a = dnet_v4(1, 2, 3, 4, 1000), a2 = dnet_v4(1, 2, 3, 4, 2000);
  cr_expect_eq(sh_dht_store_announce(&s, ih1, &a, 0, 1000), 1);
  cr_expect_eq(sh_dht_store_announce(&s, ih1, &a2, 1, 2000), 0, "same IP: updated");
  const struct sh_dht_hash *h = sh_dht_store_get(&s, ih1);
  cr_assert(h);
  cr_expect_eq(h->n, 1);
  cr_expect(h->p[0].port == 2000 && h->p[0].seed == 1);
  struct sh_addr l1 = dnet_v4(127, 0, 0, 1, 1000), l2 = dnet_v4(127, 0, 0, 1, 2000);
  cr_expect_eq(sh_dht_store_announce(&s, ih1, &l1, 0, 3000), 1);
  cr_expect_eq(sh_dht_store_announce(&s, ih1, &l2, 0, 3000), 1, "loopback: per port");
  cr_expect_eq(h->n, 3);
  cr_expect_eq(s.npeers, 3);
  sh_dht_store_free(&s);
}

Test(dht_store, bounds_refuse_and_count)
{
  struct sh_dht_store s;
  sh_dht_store_init(&s, 1, 2, 100);
  struct sh_addr a = dnet_v4(1, 0, 0, 1, 1), b = dnet_v4(1, 0, 0, 2, 1), c = dnet_v4(1, 0, 0, 3, 1);
  cr_expect_eq(sh_dht_store_announce(&s, ih1, &a, 0, 0), 1);
  cr_expect_eq(sh_dht_store_announce(&s, ih1, &b, 0, 0), 1);
  cr_expect_eq(sh_dht_store_announce(&s, ih1, &c, 0, 0), SH_ELIMIT, "max peers per hash");
  cr_expect_eq(sh_dht_store_announce(&s, ih2, &a, 0, 0), SH_ELIMIT, "max hashes");
  cr_expect_eq(s.refused, 2);
  sh_dht_store_free(&s);
  sh_dht_store_init(&s, 10, 10, 2);
  cr_expect_eq(sh_dht_store_announce(&s, ih1, &a, 0, 0), 1);
  cr_expect_eq(sh_dht_store_announce(&s, ih2, &b, 0, 0), 1);
  cr_expect_eq(sh_dht_store_announce(&s, ih2, &c, 0, 0), SH_ELIMIT, "max in all");
  sh_dht_store_free(&s);
}

Test(dht_store, expiry_after_thirty_minutes)
{
  struct sh_dht_store s;
  sh_dht_store_init(&s, 16, 16, 100);
  struct sh_addr a = dnet_v4(1, 0, 0, 1, 1), b = dnet_v4(1, 0, 0, 2, 1);
  sh_dht_store_announce(&s, ih1, &a, 0, 0);
  sh_dht_store_announce(&s, ih2, &b, 0, 0);
  sh_dht_store_announce(&s, ih2, &a, 0, 20 * 60 * 1000);
  sh_dht_store_expire(&s, SH_DHT_PEER_TTL_MS - 1000);
  cr_expect_eq(s.n, 2);
  sh_dht_store_expire(&s, SH_DHT_PEER_TTL_MS);
  cr_expect_eq(s.n, 1, "ih1's only peer expired, and ih1 with it");
  cr_expect_null(sh_dht_store_get(&s, ih1));
  const struct sh_dht_hash *h = sh_dht_store_get(&s, ih2);
  cr_assert(h);
  cr_expect_eq(h->n, 1);
  cr_expect_eq(s.npeers, 1);
  sh_dht_store_free(&s);
}

Test(dht_store, values_rotate_and_noseed_prefers_leechers)
{
  struct sh_dht_store s;
  sh_dht_store_init(&s, 16, 100, 1000);
  for (int i = 0; i < 60; i++) {
    struct sh_addr a = dnet_v4(1, 0, 0, (uint8_t)i, 1);
    sh_dht_store_announce(&s, ih1, &a, i < 50, 0); /* 50 seeds, 10 leechers */
  }
  const struct sh_dht_hash *h = sh_dht_store_get(&s, ih1);
  uint64_t rng = 42;
  struct sh_addr out[20];
  int seen[60] = {0};
  for (int round = 0; round < 50; round++) {
    size_t n = sh_dht_store_values(h, 4, 0, &rng, out, 20);
    cr_assert_eq(n, 20);
    for (size_t k = 0; k < n; k++)
      seen[out[k].ip[3]] = 1;
  }
  int all = 1;
  for (int i = 0; i < 60; i++)
    all &= seen[i];
  cr_expect(all, "every peer is handed out sooner or later");
  size_t n = sh_dht_store_values(h, 4, 1, &rng, out, 15);
  cr_assert_eq(n, 15);
  for (size_t k = 0; k < 10; k++)
    cr_expect_geq(out[k].ip[3], 50, "the 10 leechers first");
  cr_expect_eq(sh_dht_store_values(h, 6, 0, &rng, out, 20), 0, "no IPv6 peers");
  sh_dht_store_free(&s);
}

Test(dht_store, bep51_sample)
{
  struct sh_dht_store s;
  sh_dht_store_init(&s, 100, 10, 1000);
  uint64_t rng = 7;
  size_t n;
  sh_dht_store_sample(&s, 0, &rng, &n);
  cr_expect_eq(n, 0);
  for (int i = 0; i < 30; i++) {
    uint8_t ih[20];
    memset(ih, i + 1, sizeof ih);
    struct sh_addr a = dnet_v4(1, 0, 0, 1, 1);
    sh_dht_store_announce(&s, ih, &a, 0, 0);
  }
  const uint8_t *p = sh_dht_store_sample(&s, 1000, &rng, &n);
  cr_assert_eq(n, SH_DHT_SAMPLE_MAX);
  for (size_t i = 0; i < n; i++) {
    cr_expect_not_null(sh_dht_store_get(&s, p + 20 * i));
    for (size_t j = 0; j < i; j++)
      cr_expect(memcmp(p + 20 * i, p + 20 * j, 20), "distinct");
  }
  uint8_t first[20];
  memcpy(first, p, 20);
  p = sh_dht_store_sample(&s, 2000, &rng, &n);
  cr_expect(!memcmp(first, p, 20), "the same sample within the interval");
  sh_dht_store_free(&s);
}
