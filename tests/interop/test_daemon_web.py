#!/usr/bin/env python3
"""shoal daemon's web page in headless Chromium (Debian's chromium,
chromium-driver and python3-selenium), and Transmission's own web client
(--web-root) in the same browser.

The built-in page, at desktop and at phone width (390 px): add a torrent
by upload and by URL, watch it finish from a libtorrent seed, stop, start,
open the details, change a file's priority (checked over RPC), remove
with the data (checked on disk). Screenshots are kept in
$SHOAL_ARTIFACTS (default build/test-artifacts/daemon-web).

Transmission's web client: the list shows the torrents, and a stop and a
start from its toolbar reach the daemon.

Usage: test_daemon_web.py PATH-TO-SHOAL"""

import os
import re
import shutil
import sys
import tempfile
import time

from swarmlib import Check, LtPeer, Run, make_multi, make_torrent, require, same_tree, wait_for

require(programs=["chromium", "chromedriver"], modules=["selenium", "libtorrent"])
sys.path.insert(0, os.path.dirname(__file__))
from test_daemon import Daemon, serve_files, tracker  # noqa: E402  (reuses the harness)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

ART = os.environ.get("SHOAL_ARTIFACTS") or os.path.join(os.getcwd(), "test-artifacts", "daemon-web")
os.makedirs(ART, exist_ok=True)
TIMEOUT = 120


def browser(width, height):
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    # the flags that work on this kind of machine: no sandbox as root, and no
    # background traffic to the outside (refused here anyway)
    for f in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", "--window-size=%d,%d" % (width, height),
              "--user-data-dir=" + tempfile.mkdtemp(prefix="shoal-chromium-")):
        o.add_argument(f)
    b = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
    b.set_window_size(width, height)
    b.implicitly_wait(5)
    return b


def shot(b, name):
    b.save_screenshot(os.path.join(ART, name + ".png"))


# The list is redrawn every 2 s, so rows are read and clicked in one
# script each rather than held as elements that go stale.
def row_text(b, name):
    for t in b.execute_script(
            "return [...document.querySelectorAll('#list .t')].map(e => e.innerText)"):
        if name in t:
            return t
    return ""


def click_row(b, name):
    if not b.execute_script(
            "for (const e of document.querySelectorAll('#list .t .name'))"
            "  if (e.textContent === arguments[0]) { e.click(); return true; }"
            "return false;", name):
        raise RuntimeError("no row for " + name)


def page_case(scratch, procs, width, height, tag):
    ok = Check()
    ann = tracker(procs, scratch)
    src = os.path.join(scratch, "src")
    os.makedirs(src)
    a = make_multi(src, name="alpha")
    bdir = make_multi(src, name="beta", seed=5)
    ta, tb = os.path.join(scratch, "alpha.torrent"), os.path.join(scratch, "beta.torrent")
    make_torrent(a, ta, announce=ann)
    make_torrent(bdir, tb, announce=ann)
    seeds = [LtPeer(ta, src, seed=True), LtPeer(tb, src, seed=True)]
    web = os.path.join(scratch, "web")
    os.makedirs(web)
    shutil.copy(tb, web)
    srv = serve_files(web)
    d = Daemon(procs, scratch)
    b = browser(width, height)
    try:
        b.get("http://127.0.0.1:%d/" % d.port)
        wait_for(lambda: "torrents" in b.find_element(By.ID, "stats").text, 20, "the page to load")
        shot(b, tag + "-empty")
        # add by upload
        b.find_element(By.ID, "b-add").click()
        b.find_element(By.ID, "a-file").send_keys(ta)
        b.find_element(By.ID, "a-label").send_keys("docs")
        b.find_element(By.ID, "a-ok").click()
        wait_for(lambda: row_text(b, "alpha"), 20, "the uploaded torrent in the list")
        ok(True, "added by upload")
        # add by URL
        b.find_element(By.ID, "b-add").click()
        b.find_element(By.ID, "a-url").send_keys("http://127.0.0.1:%d/beta.torrent" % srv.server_port)
        b.find_element(By.ID, "a-ok").click()
        wait_for(lambda: row_text(b, "beta"), 30, "the URL's torrent in the list")
        ok(True, "added by URL")
        wait_for(lambda: "100.0%" in row_text(b, "alpha") and "100.0%" in row_text(b, "beta"),
                 TIMEOUT, "both to finish from the libtorrent seeds")
        ok("docs" in row_text(b, "alpha"), "the label shows")
        ok(same_tree(a, os.path.join(d.dl, "alpha")) is None, "alpha's bytes identical")
        shot(b, tag + "-done")
        # stop, start
        click_row(b, "alpha")
        b.find_element(By.ID, "b-stop").click()
        wait_for(lambda: "Stopped" in row_text(b, "alpha"), 20, "alpha to show stopped")
        ok(d.torrents()[0]["status"] == 0, "stopped in the daemon")
        b.find_element(By.ID, "b-start").click()
        wait_for(lambda: "Seeding" in row_text(b, "alpha"), 30, "alpha to seed again")
        ok(True, "started again")
        # details: the files, a priority
        wait_for(lambda: b.find_elements(By.CSS_SELECTOR, "#d-body select.f-prio"), 20,
                 "the file list in the details")
        shot(b, tag + "-details")
        # the detail view is redrawn too: change the first file's priority
        # the way a user's pick does (value, then a change event)
        b.execute_script("const s = document.querySelector('#d-body select.f-prio');"
                         "s.value = '1'; s.dispatchEvent(new Event('change'));")
        aid = [t["id"] for t in d.torrents() if t["name"] == "alpha"][0]

        def prio():
            g = d.ok("torrent-get", {"ids": [aid], "fields": ["priorities"]})
            return g["torrents"][0]["priorities"][0] == 1
        wait_for(prio, 20, "the file's priority to be high in the daemon")
        ok(True, "file priority changed")
        # remove with data
        b.find_element(By.ID, "b-remove").click()
        b.find_element(By.ID, "rm-data").click()
        b.find_element(By.ID, "rm-ok").click()
        wait_for(lambda: not row_text(b, "alpha"), 20, "alpha to leave the list")
        wait_for(lambda: not os.path.exists(os.path.join(d.dl, "alpha")), 30, "alpha's data deleted")
        ok(True, "removed with data")
        shot(b, tag + "-removed")
        # nothing a torrent brings is markup: a label with angle brackets
        bid = [t["id"] for t in d.torrents() if t["name"] == "beta"][0]
        d.ok("torrent-set", {"ids": [bid], "labels": ["<img src=x onerror=alert(1)>"]})
        wait_for(lambda: "<img" in row_text(b, "beta"), 20, "the label as text")
        ok(not b.find_elements(By.CSS_SELECTOR, "#list img"), "a label is text, not markup")
    finally:
        b.quit()
        srv.shutdown()
        for s in seeds:
            s.close()
    return ok.result()


def transmission_web_case(scratch, procs):
    ok = Check()
    src = os.path.join(scratch, "src")
    os.makedirs(src)
    a = make_multi(src, name="gamma")
    t = os.path.join(scratch, "gamma.torrent")
    make_torrent(a, t)
    d = Daemon(procs, scratch, extra=["--web-root", "/usr/share/transmission/web"])
    d.ok("torrent-add", {"filename": t, "download-dir": src})
    b = browser(1280, 900)
    try:
        b.get("http://127.0.0.1:%d/transmission/web/" % d.port)
        wait_for(lambda: any("gamma" in e.text for e in
                             b.find_elements(By.CSS_SELECTOR, "li.torrent .torrent_name")),
                 30, "Transmission's web client to list the torrent")
        ok(True, "the list shows the torrent")
        wait_for(lambda: d.torrents()[0]["status"] == 6, 30, "seeding")
        shot(b, "transmission-web")
        b.find_element(By.CSS_SELECTOR, "li.torrent").click()
        b.find_element(By.ID, "toolbar-pause").click()
        wait_for(lambda: d.torrents()[0]["status"] == 0, 20, "the stop to reach the daemon")
        ok(True, "stop from Transmission's toolbar")
        b.find_element(By.ID, "toolbar-start").click()
        wait_for(lambda: d.torrents()[0]["status"] == 6, 30, "the start to reach the daemon")
        ok(True, "start from Transmission's toolbar")
        shot(b, "transmission-web-after")
    finally:
        b.quit()
    return ok.result()


run = Run("daemon web")
run.case("the web page at desktop width", page_case, 1280, 900, "desktop")
run.case("the web page at phone width", page_case, 390, 844, "phone")
run.case("Transmission's web client against shoal daemon", transmission_web_case)
run.finish()
