#!/usr/bin/env python3
"""skipped.py JUNIT.xml...: lists the tests CTest did not run to the end as
passed or failed (skipped through SKIP_RETURN_CODE, disabled, not run),
with the `SKIP: reason` lines each printed, and exits 1 if there is any.

`make test` runs it on the JUnit reports of both build trees
(`ctest --output-junit`): after scripts/install-deps.sh every program the
tests drive is installed, so on a machine like CI's a skip means a missing
install step or a broken probe, and must not pass unnoticed.
Usage: skipped.py build/junit.xml build-san/junit.xml"""

import os
import sys
import xml.etree.ElementTree as ET


def skipped_in(path):
    """(test name, [reasons]) for every test in one report that did not run."""
    out = []
    for tc in ET.parse(path).getroot().iter("testcase"):
        if tc.get("status") in ("run", "fail"):
            continue
        text = tc.findtext("system-out") or ""
        why = [ln[len("SKIP:"):].strip() for ln in text.splitlines() if ln.startswith("SKIP:")]
        if not why:
            s = tc.find("skipped")
            why = [s.get("message") if s is not None else "status %s" % tc.get("status")]
        out.append((tc.get("name"), why))
    return out


def main(paths):
    total = 0
    for path in paths:
        if not os.path.exists(path):
            print("skipped.py: %s: no CTest report (did ctest run?)" % path)
            return 1
        tests = skipped_in(path)
        total += len(tests)
        for name, why in tests:
            print("  %s (%s): %s" % (name, os.path.dirname(path) or ".", "; ".join(why)))
    if total:
        print("%d test%s skipped" % (total, "" if total == 1 else "s"))
    return 1 if total else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
