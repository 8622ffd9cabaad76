# Helpers for the daemon's command-line tests: source after lib.sh.
# start_daemon LOG ARGS... runs shoal daemon in the background on loopback
# (sets PID and PORT); trc is transmission-remote against it, call an RPC
# method (daemon_rpc.py), status a raw request's HTTP status.
PY=/usr/bin/python3
RPC="$PY $(dirname "${BASH_SOURCE[0]}")/daemon_rpc.py"
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
command -v transmission-remote >/dev/null || skip_all "transmission-remote missing (Debian transmission-cli)"

start_daemon() {
  local log=$1; shift
  : >"$log" # the background job creates it later: a sed before that fails the script
  "$SHOAL" daemon --rpc-port 0 --peer-port 0 --bind-address-ipv4 127.0.0.1 "$@" >"$log" 2>&1 &
  PID=$!
  PORT=
  for _ in $(seq 100); do
    # the log may not exist yet (the child has not run): not an error
    PORT=$(sed -n 's/.*RPC on .* port \([0-9]*\).*/\1/p' "$log" 2>/dev/null | head -1) || true
    [ -n "$PORT" ] && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "daemon did not start:"; cat "$log"; return 1
}
stop_daemon() { kill -TERM "$PID"; wait "$PID" || true; PID=; }
trc() { transmission-remote "127.0.0.1:$PORT" "$@"; }
call() { $RPC "$PORT" call "$@"; }
status() { $RPC "$PORT" status "$@" 2>/dev/null; }
jq_py() { $PY -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# log_value FILE SED-EXPR: the first value SED-EXPR prints from a log
# another process is writing, waiting up to 10 s for it
log_value() {
  local v
  for _ in $(seq 100); do
    v=$(sed -n "$2" "$1" | head -1)
    [ -n "$v" ] && { echo "$v"; return 0; }
    sleep 0.1
  done
  return 1
}
