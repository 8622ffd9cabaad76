#!/usr/bin/env bash
# Calls go down: no two folders of src/ include each other in a circle.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python3 "$here/../../scripts/layers.py" "$here/../../src"
