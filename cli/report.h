/* `shoal get/seed --json`: one JSON object per line on stdout, for scripts
 * and benchmarks: a torrent's status and every connected peer, with the
 * fields and flag letters `transmission-remote -t N -pi` shows. The
 * daemon's RPC `peers` field is built from the same shoal_torrent_peers()
 * data. */
#ifndef SHOAL_CLI_REPORT_H
#define SHOAL_CLI_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "shoal.h"

/* Transmission's peer flag letters for p, into out (at least 12 bytes):
 * O optimistic unchoke, D downloading from it, d we want to but it chokes
 * us, U uploading to it, u it wants to but we choke it, K it unchoked us
 * but we are not interested, ? we unchoked it but it is not interested,
 * I it dialled us, S snubbed (ours). */
void cli_peer_flags(const struct shoal_peer_info *p, char *out);

/* One line: {"t": seconds since start, "torrent": {status, with its
 * trackers' state}, "peers": [...]} from the status st; the peers are
 * read from s for torrent id (none when s is NULL or the torrent gone).
 * state, when not NULL, replaces st's (a front end's own: "done"). Text
 * from the torrent, peers or trackers is made safe (cli_json_str). */
void cli_report_json(FILE *f, shoal_session *s, shoal_id id, const struct shoal_status *st,
                     const char *state, double t);

#endif
