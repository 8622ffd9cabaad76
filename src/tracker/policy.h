/* Which info-hashes the tracker serves: the set of hosted torrents (in
 * hosted-only mode nothing else is tracked) and a blocklist (never tracked).
 * Both are sorted arrays of 20-byte hashes behind a read-write lock, so
 * announces on every worker thread read them while SIGHUP or an upload
 * replaces or extends them. Allocated by policy_new(), freed by policy_free(). */
#ifndef SHOAL_TRACKER_POLICY_H
#define SHOAL_TRACKER_POLICY_H

#include <stddef.h>
#include <stdint.h>

enum policy_verdict { POLICY_OK = 0, POLICY_NOT_HOSTED, POLICY_BLOCKED };

struct policy;

struct policy *policy_new(void);
void policy_free(struct policy *p);

/* Replace the whole set (copies n hashes). Returns 0 or -ENOMEM (unchanged). */
int policy_set_hosted(struct policy *p, const uint8_t (*h)[20], size_t n);
int policy_set_blocked(struct policy *p, const uint8_t (*h)[20], size_t n);
/* Adds one hosted hash (no-op when present). Returns 0 or -ENOMEM. */
int policy_add_hosted(struct policy *p, const uint8_t h[20]);

int policy_is_hosted(struct policy *p, const uint8_t h[20]);
enum policy_verdict policy_check(struct policy *p, const uint8_t h[20], int hosted_only);

/* Reads a hash list file (the blocklist): one 40-digit hex info-hash per
 * line, '#' starts a comment, blank lines are ignored, bad lines are logged
 * and skipped. Returns the count (hashes in *out, caller frees) or -errno. */
long policy_read_list(const char *path, uint8_t (**out)[20]);

#endif
