/* shoal get's insides, shared by cmd_get.c (options, policies, events,
 * main) and get_view.c (what it shows: the live or plain status lines,
 * --json, messages, the summary). Private to those two files.
 *
 * Ownership: cmd_get() owns struct get on its stack and the jobs array;
 * a job's torrent info is freed when the command ends. */
#ifndef SHOAL_CLI_GET_H
#define SHOAL_CLI_GET_H

#include <stdint.h>
#include <stdio.h>

#include "netopts.h"
#include "shoal.h"

/* Redraw once a second on a terminal; a plain line every 5 s otherwise, so
 * a log file gets 720 lines an hour rather than 3,600 (or none). */
#define GET_TICK_MS 1000
#define GET_PLAIN_EVERY 5
/* Give up when no peer has been connected for this long while the trackers
 * fail (or there are none): long enough for a tracker's retries (BEP 15's
 * UDP schedule reaches 60 s after 3 tries) plus dialling. */
#define GET_NO_PEER_TIMEOUT_S 120
/* --only numbers files as `shoal info` lists them: padding files (BEP 47)
 * skipped, counting from 1 as aria2c's --select-file does. */
#define GET_FILE_INDEX_BASE 1

struct get;

struct job {
  struct get *g;          /* back to the command's state, for callbacks */
  const char *path;       /* argv */
  struct shoal_torrent_info *ti; /* the .torrent, until it is added */
  struct shoal_magnet *mag; /* or the magnet link */
  struct netopts xpe;     /* the link's x.pe peers given by host name */
  shoal_id t;
  char name[64];          /* for display: made safe, truncated */
  uint64_t start_ms, complete_ms, last_peer_ms;
  uint64_t dl_at_complete;
  int complete, finished, failed, stopping, had_trackers, dht;
  int warned_trackers;    /* said that every tracker is failing */
  struct shoal_status last; /* the latest status read: the summary needs it
                               after the session has freed the torrent */
};

struct get {
  struct netopts no;
  struct netopts_run run;
  struct job *jobs;
  size_t njobs;
  const char *out_dir;
  const char *resume_dir;
  char resume_buf[4096];
  double seed_ratio;      /* 0: no ratio goal */
  int64_t seed_time;      /* seconds, -1: none */
  int no_seed;
  int no_peer_timeout;
  const char *only;
  const char *save_torrent; /* --save-torrent FILE */
  int tty;                /* live line width, 0: plain lines (netopts_live_width) */
  int quiet;
  int json;               /* --json: a JSON line per torrent per tick on stdout,
                             messages on stderr */
  int drawn;              /* live lines on screen to overwrite */
  unsigned ticks;
  uint64_t start_ms, json_ms; /* --json: the run's start, the last report */
};

/* Peers that take our handshake and hang up, each several times: with
 * encryption off they may require it; otherwise they refused it too. */
static inline const char *get_closers_msg(const struct get *g)
{
  return g->no.settings.encryption == SHOAL_ENC_OFF
             ? "peers close the connection after the handshake; they may require encryption "
               "(--encryption is off)"
             : "peers close the connection after the handshake, encrypted or not; they may "
               "not have this torrent";
}

/* The job's info-hash in hex, and its full name (raw: print it through
 * cli_say or get_say), from the .torrent or the magnet link. */
static inline const char *get_job_hex(const struct job *j)
{
  return j->ti ? j->ti->info_hash_hex : j->mag->info_hash_hex;
}

static inline const char *get_job_name(const struct job *j)
{
  if (j->last.name[0])
    return j->last.name; /* from the metadata once it is in */
  if (j->ti)
    return j->ti->name;
  return j->mag->name ? j->mag->name : j->mag->info_hash_hex;
}

/* get_view.c */
const char *get_size_str(uint64_t n, char *buf, size_t len);
/* Erases the live lines on a terminal, so a message can be printed. */
void get_clear_live(struct get *g);
/* A message (made safe, see cli_say) after erasing the live lines. */
void get_say(struct get *g, FILE *f, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A live torrent's status into j->last (a finished job keeps its last). */
const struct shoal_status *get_snap(struct job *j);
void get_snap_all(struct get *g);
/* The status lines (or the --json lines) for this tick. */
void get_draw(struct get *g);
void get_draw_json(struct get *g);
/* One line per torrent at the end. */
void get_summary(struct get *g);

#endif
