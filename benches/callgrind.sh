#!/usr/bin/env bash
# Instructions per statement in sluice, counted by callgrind (exact and repeatable, unlike wall-clock
# figures on a noisy machine). sluice (release build) runs under valgrind on spare ports in front of the
# local topology of deploy/local/up.sh; sysbench sends WARMUP then EVENTS statements of each test on one
# thread; the counters are zeroed after the warm-up and dumped after the measured run, so start-up,
# logins and plan-cache misses are left out. Sends load only to 127.0.0.1.
#
# stdout: one JSON line per test: {"test","events","instructions","instructions_per_statement"}
# Env: TESTS ("oltp_point_select oltp_read_only"), EVENTS (5000), WARMUP (500),
#      CACHE (0; 1 = the result cache on for every cacheable SELECT; the statements then pick ids among
#      the first CACHE_ROWS (100) rows of each table and the warm-up fills them, so what is measured are hits).
#      STATS (on; off sets [stats] enabled = false: statements are not recorded, to measure what
#      recording costs).
#      PORT (6035), CAPTURE (off; on = sluice captures every statement into
#      target/bench/callgrind/capture.bin, to measure the capture's cost), LOCAL_UP (1; 0 = use a local
#      topology that is already running on 3307-3309, e.g. another checkout's).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TESTS=${TESTS:-"oltp_point_select oltp_read_only"}
EVENTS=${EVENTS:-5000}
WARMUP=${WARMUP:-500}
STATS=${STATS:-on}
HOST=127.0.0.1
PORT=${PORT:-6035}   # admin on PORT+1, http on PORT+3001
OUT=$ROOT/target/bench/callgrind
say() { printf '[callgrind] %s\n' "$*" >&2; }

command -v valgrind >/dev/null || { say "installing valgrind"; sudo -n apt-get install -y valgrind >/dev/null 2>&1 || apt-get install -y valgrind >/dev/null; }
command -v sysbench >/dev/null || { say "installing sysbench"; sudo -n apt-get install -y sysbench >/dev/null 2>&1 || apt-get install -y sysbench >/dev/null; }
[ "${LOCAL_UP:-1}" = 0 ] || "$ROOT/deploy/local/up.sh" >&2
cargo build --release -p sluice >&2
mkdir -p "$OUT"
rm -f "$OUT"/callgrind.out.*

# The example config on other ports, with a slow monitor (its checks are not what is measured).
CONFIG=$OUT/sluice.toml
sed -e "s/127.0.0.1:6033/127.0.0.1:$PORT/; s/127.0.0.1:6032/127.0.0.1:$((PORT + 1))/; s/127.0.0.1:9033/127.0.0.1:$((PORT + 3001))/" \
    -e 's/^interval_ms = 1000/interval_ms = 600000/' "$ROOT/deploy/sluice.example.toml" >"$CONFIG"
if [ "${CACHE:-0}" = 1 ]; then
  sed -i -e '/^\[cache\]/,/^\[/{s/^enabled = false/enabled = true/; s/^cache_all = false/cache_all = true/}' "$CONFIG"
fi
if [ "$STATS" = off ]; then
  sed -i 's/^enabled = true\( *# record statements\)/enabled = false\1/' "$CONFIG"
  grep -q '^enabled = false *# record statements' "$CONFIG" || { say "could not turn [stats] off"; exit 1; }
fi
if [ "${CAPTURE:-off}" = on ]; then
  rm -f "$OUT/capture.bin"
  sed -i -e "/^\[capture\]/,/^\[/ { s/^enabled = false/enabled = true/; s|^# file = .*|file = \"$OUT/capture.bin\"| }" "$CONFIG"
fi
export SLUICE_BACKEND_PASSWORD=${SLUICE_BACKEND_PASSWORD:-app} SLUICE_MONITOR_PASSWORD=${SLUICE_MONITOR_PASSWORD:-monitor}
SLUICE_LOG_LEVEL=warn valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.%p" \
  "$ROOT/target/release/sluice" --config "$CONFIG" >"$OUT/sluice.log" 2>&1 &
VG=$!
trap 'kill $VG 2>/dev/null || true; wait $VG 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null && break; sleep 0.2; done

SB=(--db-driver=mysql --mysql-host="$HOST" --mysql-port="$PORT" --mysql-user=app --mysql-password=app
    --mysql-db=sbtest --tables=4 --table-size=10000 --threads=1 --time=0 --report-interval=0)
if [ "${CACHE:-0}" = 1 ]; then
  # sysbench draws ids from 1..table-size: a small range, all filled by the warm-up.
  SB=("${SB[@]/--table-size=10000/--table-size=${CACHE_ROWS:-100}}")
  WARMUP=$(( WARMUP > 4 * ${CACHE_ROWS:-100} * 5 ? WARMUP : 4 * ${CACHE_ROWS:-100} * 5 ))
fi
total_ir() { # the "totals:" line of the newest dump
  local f; f=$(ls -t "$OUT"/callgrind.out.* | head -n 1)
  awk '/^(totals|summary):/ {print $2; exit}' "$f"
}
for test in $TESTS; do
  extra=(); [ "$test" = oltp_read_only ] && extra=(--skip-trx=on)
  sysbench "$test" "${SB[@]}" "${extra[@]}" --events="$WARMUP" run >"$OUT/$test-warmup.log" 2>&1
  callgrind_control --zero "$VG" >/dev/null
  sysbench "$test" "${SB[@]}" "${extra[@]}" --events="$EVENTS" run >"$OUT/$test.log" 2>&1
  callgrind_control --dump="$test" "$VG" >/dev/null
  sleep 1
  queries=$(awk '/^ +queries:/ {print $2}' "$OUT/$test.log")
  ir=$(total_ir)
  python3 -c "import json,sys; ir,q,t,e=int(sys.argv[1]),int(sys.argv[2]),sys.argv[3],int(sys.argv[4]); print(json.dumps({'stats':sys.argv[5],'test':t,'events':e,'statements':q,'instructions':ir,'instructions_per_statement':round(ir/q)}))" \
    "$ir" "$queries" "$test" "$EVENTS" "$STATS"
done
