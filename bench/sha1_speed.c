/* shoal-sha1-speed: GB/s of every multi-buffer SHA-1 implementation this CPU
 * can run, next to OpenSSL's single stream, with 1 and 2 threads.
 *
 *   shoal-sha1-speed [MSG_KIB [SECONDS [MAX_THREADS]]]   defaults 1024 1 2
 *
 * Each thread hashes its own group of sh_sha1_mb_lanes(impl) messages of
 * MSG_KIB KiB (random bytes, the same group again and again, so for 1 MiB
 * messages the data comes from L2/L3 as it does in the checker's slices),
 * through the incremental API in 64 KiB steps like a caller reading slices.
 * GB/s is 10^9 bytes hashed per wall-clock second over all threads. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/sha1_mb.h"

#define STEP (64u << 10)

struct run {
  int impl;
  size_t msg;
  double seconds;
  double bytes;
  uint8_t sink;
};

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
  struct run *r = arg;
  unsigned lanes = sh_sha1_mb_lanes(r->impl);
  uint8_t *buf = malloc(r->msg * lanes);
  if (!buf)
    return NULL;
  unsigned seed = (unsigned)(uintptr_t)r;
  for (size_t i = 0; i < r->msg * lanes; i++)
    buf[i] = (uint8_t)rand_r(&seed);
  struct sh_sha1_mb c;
  if (sh_sha1_mb_init(&c, r->impl, lanes)) {
    free(buf);
    return NULL;
  }
  uint8_t out[SH_SHA1_MB_MAX][20];
  const uint8_t *p[SH_SHA1_MB_MAX];
  size_t tail[SH_SHA1_MB_MAX];
  double t0 = now(), t;
  do {
    size_t off = 0;
    for (; off + STEP <= r->msg; off += STEP) {
      for (unsigned i = 0; i < lanes; i++)
        p[i] = buf + i * r->msg + off;
      sh_sha1_mb_update(&c, p, STEP);
    }
    for (unsigned i = 0; i < lanes; i++) {
      p[i] = buf + i * r->msg + off;
      tail[i] = r->msg - off;
    }
    sh_sha1_mb_final(&c, p, tail, out);
    r->sink ^= out[0][0];
    r->bytes += (double)r->msg * lanes;
    t = now();
  } while (t - t0 < r->seconds);
  sh_sha1_mb_free(&c);
  free(buf);
  return NULL;
}

static double measure(int impl, size_t msg, double seconds, int threads)
{
  struct run r[16];
  pthread_t tid[16];
  double t0 = now();
  for (int i = 0; i < threads; i++) {
    r[i] = (struct run){.impl = impl, .msg = msg, .seconds = seconds};
    if (pthread_create(&tid[i], NULL, worker, &r[i])) {
      fprintf(stderr, "pthread_create failed\n");
      exit(1);
    }
  }
  double bytes = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(tid[i], NULL);
    bytes += r[i].bytes;
  }
  return bytes / (now() - t0) / 1e9;
}

int main(int argc, char **argv)
{
  size_t kib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
  double seconds = argc > 2 ? strtod(argv[2], NULL) : 1.0;
  int maxt = argc > 3 ? atoi(argv[3]) : 2;
  if (!kib || seconds <= 0 || maxt < 1 || maxt > 16) {
    fprintf(stderr, "usage: %s [MSG_KIB [SECONDS [MAX_THREADS]]]\n", argv[0]);
    return 2;
  }
  printf("%zu KiB messages, %.1f s per figure; dispatcher picks %s\n", kib, seconds,
         sh_sha1_mb_name(sh_sha1_mb_best()));
  printf("%-8s %5s", "impl", "lanes");
  for (int t = 1; t <= maxt; t++)
    printf("  %d thr GB/s", t);
  printf("\n");
  double base = 0;
  for (int impl = SH_SHA1_MB_OPENSSL; impl < SH_SHA1_MB_NIMPL; impl++) {
    if (!sh_sha1_mb_available(impl)) {
      printf("%-8s  (not on this CPU)\n", sh_sha1_mb_name(impl));
      continue;
    }
    printf("%-8s %5u", sh_sha1_mb_name(impl), sh_sha1_mb_lanes(impl));
    double one = 0;
    for (int t = 1; t <= maxt; t++) {
      double g = measure(impl, kib << 10, seconds, t);
      if (t == 1)
        one = g;
      printf("  %11.2f", g);
      fflush(stdout);
    }
    if (impl == SH_SHA1_MB_OPENSSL)
      base = one;
    else if (base > 0)
      printf("   x%.2f vs openssl (1 thread)", one / base);
    printf("\n");
  }
  return 0;
}
