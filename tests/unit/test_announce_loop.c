/* The announcer on a real libuv loop against an in-process HTTP tracker on
 * 127.0.0.1: the queries it receives byte for byte, the BEP 12 tier walk,
 * back-off, intervals, scrape, events at shutdown. */
#include "test_announce_fixture.h"

Test(announce_loop, http_started_completed_stopped)
{
  start_all(http_tracker, no_udp);
  char *u[] = {http_url("/announce")};
  size_t per[] = {1};
  struct sh_announcer *a = make(u, per, 1);
  sh_announcer_start(a);
  run_until(&seen.announced, 1);
  cr_expect_eq(seen.npeers, 2);
  const struct sockaddr_in *p0 = (const struct sockaddr_in *)&seen.peer[0];
  cr_expect_eq(ntohl(p0->sin_addr.s_addr), 0x7f000001);
  cr_expect_eq(ntohs(p0->sin_port), 6881);
  cr_expect_eq(seen.info.interval, 900);
  cr_expect_eq(seen.info.min_interval, 60);
  cr_expect_eq(seen.info.seeders, 4);
  cr_expect_eq(seen.info.leechers, 2);
  cr_expect_str_eq(seen.info_url, u[0]);
  cr_expect_eq(seen.nwarn, 1);
  cr_expect(strstr(seen.status[0], "be gentle") != NULL, "%s", seen.status[0]);
  const char *l0 = line(0);
  cr_expect(strstr(l0, "GET /announce?info_hash=%AA%BB%CC%01%02%03%04%05%06%07%08%09%0A%0B%0C"
                       "%0D%0E%0F%10%11&peer_id=-SH0010-123456789012&port=51413&uploaded=0"
                       "&downloaded=0&left=1000&compact=1&numwant=80&key=") == l0,
            "%s", l0);
  cr_expect(strstr(l0, "&event=started") != NULL);
  cr_expect(strstr(l0, "trackerid") == NULL);

  seen.left = 0;
  seen.down = 1000;
  sh_announcer_completed(a);
  sh_announcer_completed(a); /* once only */
  run_until(&seen.announced, 2);
  const char *l1 = line(1);
  cr_expect(strstr(l1, "&left=0&") && strstr(l1, "&downloaded=1000&"), "%s", l1);
  cr_expect(strstr(l1, "&event=completed") != NULL, "%s", l1);
  cr_expect(strstr(l1, "&trackerid=tid7") != NULL, "tracker id echoed: %s", l1);

  sh_announcer_stop(a, st_done, NULL);
  cr_expect_eq(seen.done, 0, "done must not run inside stop()");
  run_until(&seen.done, 1);
  cr_expect_eq(hsrv.nreq, 3);
  const char *l2 = line(2);
  cr_expect(strstr(l2, "&numwant=0&") && strstr(l2, "&event=stopped"), "%s", l2);
  /* same key in every request */
  cr_expect_eq(seen.announced, 2, "no callbacks for the stopped reply");
  free(u[0]);
  stop_all();
}

Test(announce_loop, tiers_failure_then_next_tier)
{
  start_all(http_tracker, no_udp);
  /* tier 0: a failure reason and an HTML error page; tier 1: a good one */
  char *u[] = {http_url("/fail/announce"), http_url("/html/announce"), http_url("/announce")};
  size_t per[] = {2, 1};
  struct sh_announcer *a = make(u, per, 2);
  sh_announcer_start(a);
  run_until(&seen.announced, 1);
  cr_expect_eq(seen.nfail, 2, "both tier-0 trackers reported");
  cr_expect_eq(hsrv.nreq, 3);
  int saw_reason = 0, saw_html = 0;
  for (int i = 0; i < seen.nstatus && i < 8; i++) {
    if (seen.status_err[i] == SH_ETRACKER && strstr(seen.status[i], "unregistered") &&
        strstr(seen.status[i], "/fail/announce"))
      saw_reason = 1;
    if (seen.status_err[i] < 0 && strstr(seen.status[i], "502") &&
        strstr(seen.status[i], "/html/announce"))
      saw_html = 1;
  }
  cr_expect(saw_reason, "failure reason with its URL");
  cr_expect(saw_html, "HTTP 502 with its URL");
  /* every attempt carried started: it goes to whichever tracker answers */
  for (int i = 0; i < 3; i++)
    cr_expect(strstr(line(i), "&event=started") != NULL, "%s", line(i));
  cr_expect_str_eq(seen.info_url, u[2]);
  cr_expect_eq(seen.npeers, 2);
  /* a scrape goes to the tracker that answered, not to the dead tier 0 */
  sh_announcer_scrape(a);
  run_until(&seen.scraped, 1);
  cr_expect_eq(seen.scrape_err, 0);
  cr_expect_eq(seen.scrape.seeders, 7);
  cr_expect(strncmp(line(3), "GET /scrape?", 12) == 0, "%s", line(3));
  stop_and_wait(a);
  /* stopped only to the tracker that saw started */
  cr_expect_eq(hsrv.nreq, 5);
  cr_expect(strstr(line(4), "GET /announce?") && strstr(line(4), "event=stopped"), "%s",
            line(4));
  for (int i = 0; i < 3; i++)
    free(u[i]);
  stop_all();
}

Test(announce_loop, failed_round_backs_off_and_retries)
{
  start_all(http_tracker, no_udp);
  struct sh_announcer *a = make_one_owned(http_url("/flaky/announce"));
  uint64_t t0 = uv_hrtime();
  sh_announcer_start(a);
  run_until(&seen.announced, 1);
  double ms = (double)(uv_hrtime() - t0) / 1e6;
  cr_expect_eq(hsrv.nreq, 2);
  cr_expect_eq(seen.nfail, 1);
  cr_expect(strstr(seen.status[0], "busy") != NULL, "%s", seen.status[0]);
  cr_expect(ms >= 90, "the retry waited the 100 ms back-off (%.0f ms)", ms);
  stop_and_wait(a);
  stop_all();
}

Test(announce_loop, stop_timeout_with_silent_tracker)
{
  start_all(http_tracker, no_udp);
  struct sh_announcer *a = make_one_owned(http_url("/announce"));
  sh_announcer_start(a);
  run_until(&seen.announced, 1);
  hsrv.fn = silent_tracker;
  uint64_t t0 = uv_hrtime();
  stop_and_wait(a);
  double ms = (double)(uv_hrtime() - t0) / 1e6;
  cr_expect_eq(hsrv.nreq, 2, "stopped was sent");
  cr_expect(ms >= 450 && ms < 8000, "stop took %.0f ms, 500 expected", ms);
  stop_all();
}

Test(announce_loop, reannounce_on_interval_without_event)
{
  start_all(http_tracker, no_udp);
  char *u[] = {http_url("/quick/announce")};
  size_t per[] = {1};
  struct sh_tier tier = {u, 1};
  struct sh_announce_timing t = fast();
  t.min_interval_s = 1; /* the tracker's interval of 1 s stands */
  struct sh_announcer *a = sh_announcer_new(&loop, &actx, &tier, 1, IH, PID, 51413, &CB, &t);
  (void)per;
  uint64_t t0 = uv_hrtime();
  sh_announcer_start(a);
  run_until(&seen.announced, 2);
  double ms = (double)(uv_hrtime() - t0) / 1e6;
  cr_expect(ms >= 950, "second announce after the 1 s interval (%.0f ms)", ms);
  cr_expect_eq(seen.info.interval, 1);
  cr_expect(strstr(line(0), "event=started") != NULL);
  cr_expect(strstr(line(1), "event=") == NULL, "regular announce has no event: %s", line(1));
  cr_expect_eq(seen.npeers, 2);
  stop_and_wait(a);
  free(u[0]);
  stop_all();
}

Test(announce_loop, http_scrape)
{
  start_all(http_tracker, no_udp);
  struct sh_announcer *a = make_one_owned(http_url("/announce"));
  sh_announcer_scrape(a);
  run_until(&seen.scraped, 1);
  cr_expect_eq(seen.scrape_err, 0);
  cr_expect_eq(seen.scrape.seeders, 7);
  cr_expect_eq(seen.scrape.completed, 70);
  cr_expect_eq(seen.scrape.leechers, 3);
  cr_expect(strncmp(line(0), "GET /scrape?info_hash=%AA%BB%CC%01", 34) == 0, "%s", line(0));
  stop_and_wait(a);
  cr_expect_eq(hsrv.nreq, 1, "never started, so no stopped");
  stop_all();
}

Test(announce_loop, no_usable_tracker)
{
  start_all(http_tracker, no_udp);
  char *u[] = {"wss://x/announce"};
  size_t per[] = {1};
  struct sh_announcer *a = make(u, per, 1);
  sh_announcer_start(a);
  cr_expect_eq(seen.nfail, 1);
  sh_announcer_more_peers(a);
  sh_announcer_completed(a);
  stop_and_wait(a);
  stop_all();
}

Test(announce_loop, more_peers_announces_once_min_interval_passed)
{
  start_all(http_tracker, no_udp);
  struct sh_announcer *a = make_one_owned(http_url("/eager/announce"));
  sh_announcer_start(a);
  run_until(&seen.announced, 1);
  uint64_t t0 = uv_hrtime();
  sh_announcer_more_peers(a); /* interval is 30 min, min interval 1 s */
  sh_announcer_more_peers(a); /* asking twice changes nothing */
  run_until(&seen.announced, 2);
  double ms = (double)(uv_hrtime() - t0) / 1e6;
  cr_expect(ms >= 800 && ms < 10000, "early announce after the 1 s min interval (%.0f ms)", ms);
  cr_expect_eq(hsrv.nreq, 2);
  cr_expect(strstr(line(1), "event=") == NULL, "%s", line(1));
  stop_and_wait(a);
  stop_all();
}

/* `get --no-seed` completes and stops at once: the tracker must still see
 * completed (it counts downloads from it), then stopped. */
Test(announce_loop, stop_right_after_completion_sends_completed_then_stopped)
{
  start_all(http_tracker, no_udp);
  struct sh_announcer *a = make_one_owned(http_url("/announce"));
  sh_announcer_start(a);
  run_until(&seen.announced, 1);
  seen.left = 0;
  sh_announcer_completed(a);
  stop_and_wait(a);
  cr_assert_eq(hsrv.nreq, 3, "%s", hsrv.all);
  cr_expect(strstr(line(1), "&left=0&") && strstr(line(1), "&event=completed"), "%s", line(1));
  cr_expect(strstr(line(2), "&event=stopped"), "%s", line(2));
  stop_all();
}

/* The session may close the shared HTTP client while an announcer that was
 * stopped without waiting still has its stopped in flight: the request
 * completes with -ECANCELED and the announcer finishes cleanly. */
Test(announce_loop, http_client_closed_under_a_stopping_announcer)
{
  start_all(http_tracker, no_udp);
  struct sh_announcer *a = make_one_owned(http_url("/announce"));
  sh_announcer_start(a);
  run_until(&seen.announced, 1);
  hsrv.fn = silent_tracker;
  sh_announcer_stop(a, st_done, NULL);
  while (hsrv.nreq < 2)
    uv_run(&loop, UV_RUN_ONCE);
  /* closes the HTTP client with the stopped request pending; the
   * announcer must not touch the freed request afterwards (the sanitizer
   * build catches it if it does) */
  stop_all();
  cr_expect_eq(seen.done, 1);
}
