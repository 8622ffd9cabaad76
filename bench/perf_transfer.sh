#!/bin/bash
# One shoal seed -> shoal leech transfer over loopback, for profiling rather
# than for the comparison table (that is bench/transfer.sh). Prints wall time,
# rate, CPU seconds and peak RSS of both sides; with PERF=1 it also records
# `perf record -g` profiles of both processes and prints their top symbols.
#
#   bench/perf_transfer.sh SHOAL TORRENT SEED_DIR [LEECH_DIR]
#   PERF=1       record seed.data / leech.data in OUT (default: a temp dir)
#   KEEP=1       keep the leech's copy (default: delete it afterwards)
#   STOP_AT=N    stop the leech after N bytes were written (large torrents):
#                the leech's RSS is then sampled while it runs
#   SCHED=1      also sample /proc/PID/task/*/schedstat of both processes and
#                print the seconds their threads ran and the seconds they
#                were runnable but waiting for a CPU (tells a loaded machine
#                from a protocol stall: a stall waits in epoll, not here)
#
# The leech's target directory is emptied first, so every run writes fresh
# file pages (the expensive case: see storage.c).
set -euo pipefail
# shoal get/seed: no DHT bootstrap from the public routers here
export SHOAL_DHT_BOOTSTRAP=${SHOAL_DHT_BOOTSTRAP:-none}
shoal=$1 torrent=$2 seed_dir=$3
scratch=$(mktemp -d "${TMPDIR:-/tmp}/shoal-perf-XXXXXX")
leech_dir=${4:-$scratch/leech}
out=${OUT:-$scratch}
seed_pid='' leech_pid=''
cleanup() {
  [ -n "$leech_pid" ] && kill "$(shoal_of "$leech_pid")" 2>/dev/null || true
  [ -n "$seed_pid" ] && kill "$(shoal_of "$seed_pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$leech_dir"; fi
  # the scratch dir holds the profiles only when PERF=1 and no OUT was given
  if [ -n "${OUT:-}" ] || [ "${PERF:-0}" != 1 ]; then rm -rf "$scratch"; fi
}
trap cleanup EXIT INT TERM

# /usr/bin/time (and perf) sit between us and shoal and do not pass SIGINT
# on, so signals go to the shoal process itself: the deepest descendant.
shoal_of() {
  local p=$1 c
  while c=$(pgrep -P "$p" | head -1) && [ -n "$c" ]; do p=$c; done
  echo "$p"
}

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rm -rf "$leech_dir"
mkdir -p "$leech_dir"
# warm the seed's data so both runs face the same page cache
cat "$seed_dir"/* >/dev/null 2>&1 || find "$seed_dir" -type f -exec cat {} + >/dev/null

wrap() { # name, command...: run under /usr/bin/time (and perf when asked)
  local name=$1; shift
  if [ "${PERF:-0}" = 1 ]; then
    exec /usr/bin/time -f "%e %U %S %M" -o "$out/$name.time" \
      perf record -q -g -o "$out/$name.data" -- "$@"
  else
    exec /usr/bin/time -f "%e %U %S %M" -o "$out/$name.time" "$@"
  fi
}

(wrap seed "$shoal" seed -q --port "$port" --bind 127.0.0.1 "$torrent" "$seed_dir") &
seed_pid=$!
# wait until the seed listens (it checks its data first)
for _ in $(seq 600); do
  if /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null; then break; fi
  sleep 0.1
done
start=$(date +%s.%N)
(wrap leech "$shoal" get -q --no-seed --port 0 --bind 127.0.0.1 --peer "127.0.0.1:$port" \
   -o "$leech_dir" "$torrent") &
leech_pid=$!
peak_leech=0
if [ -n "${STOP_AT:-}" ]; then
  while kill -0 "$leech_pid" 2>/dev/null; do
    used=$(du -sB1 "$leech_dir" 2>/dev/null | cut -f1) # allocated, not apparent: pieces land anywhere
    for p in $(pgrep -P "$leech_pid" || true) "$leech_pid"; do
      r=$(awk '/VmHWM/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
      [ "${r:-0}" -gt "$peak_leech" ] && peak_leech=$r
    done
    if [ "${used:-0}" -ge "$STOP_AT" ]; then
      kill -INT "$(shoal_of "$leech_pid")" 2>/dev/null || true
      break
    fi
    sleep 0.5
  done
fi
declare -A st_run st_wait
if [ "${SCHED:-0}" = 1 ]; then
  lp=$(shoal_of "$leech_pid") sp=$(shoal_of "$seed_pid")
  while kill -0 "$leech_pid" 2>/dev/null; do
    for f in /proc/"$lp"/task/*/schedstat /proc/"$sp"/task/*/schedstat; do
      if read -r a b _ <"$f" 2>/dev/null; then st_run[$f]=$a; st_wait[$f]=$b; fi
    done
    sleep 0.1
  done
fi
wait "$leech_pid" || true
end=$(date +%s.%N)
leech_pid=''
kill -INT "$(shoal_of "$seed_pid")" 2>/dev/null || true
wait "$seed_pid" || true
seed_pid=''
# a stopped leech's files have their full apparent size: count what it wrote
if [ -n "${STOP_AT:-}" ]; then bytes=$(du -sB1 "$leech_dir" | cut -f1); else bytes=$(du -sb "$leech_dir" | cut -f1); fi
# /usr/bin/time puts "Command terminated by signal N" first when STOP_AT
# interrupted the leech: the figures are on the last line
read -r lw lu ls lm < <(tail -n 1 "$out/leech.time") || true
read -r sw su ss sm < <(tail -n 1 "$out/seed.time") || true
awk -v s="$start" -v e="$end" -v b="$bytes" -v lu="$lu" -v ls="$ls" -v lm="$lm" \
    -v su="$su" -v ss="$ss" -v sm="$sm" -v pk="$peak_leech" 'BEGIN {
  w = e - s
  if (pk > lm) lm = pk
  printf "%.0f MB in %.2f s = %.0f MB/s; leech %.2f CPU s (%.2f user %.2f sys) %.0f MiB; seed %.2f CPU s (%.2f user %.2f sys) %.0f MiB\n",
    b / 1e6, w, b / 1e6 / w, lu + ls, lu, ls, lm / 1024, su + ss, su, ss, sm / 1024 }'
if [ "${SCHED:-0}" = 1 ]; then
  for side in leech:$lp seed:$sp; do
    run=0 wt=0
    for f in "${!st_run[@]}"; do
      case $f in /proc/"${side#*:}"/*) run=$((run + st_run[$f])) wt=$((wt + st_wait[$f])) ;; esac
    done
    awk -v n="${side%%:*}" -v r="$run" -v w="$wt" \
      'BEGIN { printf "%s threads: %.2f s on a CPU, %.2f s runnable but waiting for one\n", n, r / 1e9, w / 1e9 }'
  done
fi
if [ "${PERF:-0}" = 1 ]; then
  for side in leech seed; do
    echo "== $side: top symbols (self, children folded in callers) in $out/$side.data"
    perf report -q -i "$out/$side.data" --no-children --sort symbol 2>/dev/null | head -25
  done
fi
