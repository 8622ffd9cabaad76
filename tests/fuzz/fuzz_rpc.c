/* The daemon's RPC dispatch (shoal_daemon_rpc): any bytes as a request
 * body must give a JSON reply and leave the daemon usable, never a crash
 * or a leak. One daemon for the whole run, in a scratch folder, with two
 * torrents so that torrent methods have something to act on; its loop
 * never runs, so nothing reaches the network (URLs are skipped anyway),
 * and the torrents' own work waits. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shoal.h"

static uv_loop_t loop;
static shoal_daemon *d;

static void on_close(void *ud) { (void)ud; }

static void init(void)
{
  char tmpl[] = "/tmp/shoal-fuzz-rpc-XXXXXX";
  char *dir = mkdtemp(tmpl);
  if (!dir)
    abort();
  static char state[64], dl[80];
  snprintf(state, sizeof state, "%s", dir);
  snprintf(dl, sizeof dl, "%s/dl", dir);
  uv_loop_init(&loop);
  struct shoal_daemon_config c;
  shoal_daemon_config_default(&c);
  c.state_dir = state;
  c.download_dir = dl;
  c.rpc_port = 0;
  c.on_close_request = on_close;
  c.session.bind[0] = "127.0.0.1";
  c.session.announce = 0;
  c.session.port = 0;
  char err[256];
  if (shoal_daemon_new(&loop, &c, &d, err, sizeof err) < 0) {
    fprintf(stderr, "%s\n", err);
    abort();
  }
  /* a one-piece torrent of 3 files, base64 in a torrent-add */
  static const char add[] =
      "{\"method\":\"torrent-add\",\"arguments\":{\"paused\":true,\"labels\":[\"x\"],\"metainfo\":"
      "\"ZDQ6aW5mb2Q1OmZpbGVzbGQ2Omxlbmd0aGkzZTQ6cGF0aGwxOmFlZWQ2Omxlbmd0aGk0ZTQ6cGF0aGwx"
      "OmJlZWQ2Omxlbmd0aGk1ZTQ6cGF0aGwxOmNlZWU0Om5hbWUxOm0xMjpwaWVjZSBsZW5ndGhpMTYzODRl"
      "NjpwaWVjZXMyMDoAAAAAAAAAAAAAAAAAAAAAAAAAAGVl\"}}";
  char *r;
  size_t n;
  if (shoal_daemon_rpc(d, add, strlen(add), &r, &n) == 0)
    free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (!d)
    init();
  /* no fetches: the loop never runs, and no test reaches outside */
  if (memmem(data, size, "http", 4) || memmem(data, size, "ftp", 3))
    return 0;
  char *r = NULL;
  size_t n = 0;
  int rc = shoal_daemon_rpc(d, (const char *)data, size, &r, &n);
  if (rc != -12 && (!r || r[0] != '{'))
    abort(); /* every answer is a JSON object */
  free(r);
  return 0;
}
