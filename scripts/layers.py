#!/usr/bin/env python3
"""Which folder of src/ includes which, from the #include lines, and a check
that calls go down: no circle between folders (inside one folder, files may
call each other). Prints the table docs/ARCHITECTURE.md shows; exits 1 and
names the circle when there is one.

    python3 scripts/layers.py [SRC_DIR]
"""
import os
import re
import sys

src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "src")
deps = {}
for root, _, files in os.walk(src):
    rel = os.path.relpath(root, src)
    if rel == ".":
        continue
    folder = rel.split(os.sep)[0]
    deps.setdefault(folder, set())
    for f in files:
        if not f.endswith((".c", ".h")):
            continue
        with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
            for line in fh:
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if not m:
                    continue
                inc = m.group(1)
                to = "include" if inc == "shoal.h" else inc.split("/")[0] if "/" in inc else folder
                if to != folder:
                    deps[folder].add(to)

for folder in sorted(deps):
    print(f"{folder:10} -> {', '.join(sorted(deps[folder])) or '(nothing)'}")

# depth-first search for a circle between folders
state, stack = {}, []


def visit(n):
    state[n] = 1
    stack.append(n)
    for m in sorted(deps.get(n, ())):
        if state.get(m) == 1:
            circle = stack[stack.index(m):] + [m]
            print("circle between folders: " + " -> ".join(circle), file=sys.stderr)
            sys.exit(1)
        if not state.get(m):
            visit(m)
    stack.pop()
    state[n] = 2


for n in sorted(deps):
    if not state.get(n):
        visit(n)
print("no circle between folders")
