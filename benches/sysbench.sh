#!/usr/bin/env bash
# sysbench through sluice vs through HAProxy (mode tcp, one thread: the cost of a bare proxy hop) vs
# directly against the primary. Targets are interleaved within each round, so machine noise hits them
# alike; compare sluice with HAProxy from the same run, not with numbers from another day.
#
# Uses the local topology of deploy/local/up.sh (started or repaired as needed; it also builds sluice
# in release mode). Sends load only to 127.0.0.1.
#
# stdout: one JSON line per run
#   {"round","target","test","threads","qps","p95_ms","p99_ms","errors","proxy_cpu_s","cpu_us_per_query",...}
# then one summary JSON line per (target, test, threads): median/min/max qps, median cpu_us_per_query,
# median p95/p99. Everything also goes to target/bench/sysbench-<time>.jsonl, each run's sysbench output
# to target/bench/sysbench-<time>/. Progress and a readable table go to stderr.
# proxy_cpu_s is the CPU time (user + system) the proxy process used during the run; for "direct" it
# is the primary mariadbd's. A target that fails (sluice not running, sysbench error) yields a line with
# errors > 0 and "failure", and the other targets carry on.
#
# Env: ROUNDS (5), DURATION seconds per run (10), THREADS ("1 16 64"),
#      TESTS ("oltp_point_select oltp_read_only"), TARGETS ("direct haproxy sluice"; also
#      "sluice_cache": a second sluice on 6037 with the result cache on for every cacheable SELECT;
#      "sluice_base": another sluice binary on 6039, BASE_BIN, with BASE_CONFIG (default: this tree's
#      example config) on other ports — so a change on the hot path is measured against the binary
#      before it, interleaved in the same rounds; build it with
#        git worktree add /tmp/base REV && CARGO_TARGET_DIR=/tmp/base/target cargo build --release \
#          -p sluice --manifest-path /tmp/base/Cargo.toml
#      and pass BASE_BIN=/tmp/base/target/release/sluice BASE_CONFIG=/tmp/base/deploy/sluice.example.toml),
#      TABLES (4), TABLE_SIZE (10000), WARMUP seconds before the first round (5; 0 = none).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${SLUICE_LOCAL_DATA:-$ROOT/deploy/local/data}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
THREADS=${THREADS:-"1 16 64"}
TESTS=${TESTS:-"oltp_point_select oltp_read_only"}
TARGETS=${TARGETS:-"direct haproxy sluice"}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-10000}
WARMUP=${WARMUP:-5}
HOST=127.0.0.1            # the only address this script ever sends load to
PRIMARY_PORT=3307
HAPROXY_PORT=6034
SLUICE_PORT=6033
CACHE_PORT=6037           # sluice_cache: the example config with [cache] enabled, cache_all
BASE_PORT=6039            # sluice_base: BASE_BIN (admin on 6041, http on 9039)

say() { printf '[sysbench] %s\n' "$*" >&2; }
die() { printf '[sysbench] error: %s\n' "$*" >&2; exit 1; }

for t in $TARGETS; do case $t in direct|haproxy|sluice|sluice_cache|sluice_base) ;; *) die "unknown target '$t' (direct, haproxy, sluice, sluice_cache, sluice_base)" ;; esac; done
if [[ " $TARGETS " == *" sluice_base "* ]]; then
  [ -x "${BASE_BIN:-}" ] || die "target sluice_base needs BASE_BIN, the sluice binary to compare with (see the header)"
  BASE_CONFIG=${BASE_CONFIG:-$ROOT/deploy/sluice.example.toml}
  [ -f "$BASE_CONFIG" ] || die "BASE_CONFIG $BASE_CONFIG does not exist"
fi
for t in $TESTS; do case $t in oltp_point_select|oltp_read_only) ;; *) die "unknown test '$t' (oltp_point_select, oltp_read_only)" ;; esac; done

OUT=${CARGO_TARGET_DIR:-$ROOT/target}/bench
STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS="$OUT/sysbench-$STAMP.jsonl"
LOGDIR="$OUT/sysbench-$STAMP"
mkdir -p "$LOGDIR"

# --- tools ----------------------------------------------------------------------------------------
need=()
command -v sysbench >/dev/null || need+=(sysbench)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  say "installing ${need[*]} (apt-get)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

# --- topology and sluice --------------------------------------------------------------------------
# up.sh is idempotent: it starts only what is not running. If sluice does not come up, the sluice
# runs fail and say so; the other targets still run.
if ! "$ROOT/deploy/local/up.sh" >&2; then
  say "deploy/local/up.sh failed (see above): carrying on; runs against a target that is down record the failure"
fi
root_sql() { mariadb --no-defaults --protocol=TCP -h"$HOST" -P"$PRIMARY_PORT" -uroot --batch --skip-column-names -e "$1"; }
root_sql "SELECT 1" >/dev/null 2>&1 || die "the primary on $HOST:$PRIMARY_PORT does not answer: nothing to benchmark"

# --- HAProxy: tcp mode, one thread, $HOST:$HAPROXY_PORT -> primary ----------------------------------
HADIR=""
SCDIR=""
BADIR=""
cleanup() {
  if [ -n "$BADIR" ]; then
    if [ -s "$BADIR/sluice.pid" ]; then kill "$(cat "$BADIR/sluice.pid")" 2>/dev/null || true; fi
    rm -rf "$BADIR"
  fi
  if [ -n "$HADIR" ]; then
    if [ -s "$HADIR/haproxy.pid" ]; then kill "$(cat "$HADIR/haproxy.pid")" 2>/dev/null || true; fi
    rm -rf "$HADIR"
  fi
  if [ -n "$SCDIR" ]; then
    if [ -s "$SCDIR/sluice.pid" ]; then kill "$(cat "$SCDIR/sluice.pid")" 2>/dev/null || true; fi
    rm -rf "$SCDIR"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [[ " $TARGETS " == *" haproxy "* ]]; then
  if (exec 3<>"/dev/tcp/$HOST/$HAPROXY_PORT") 2>/dev/null; then
    die "port $HAPROXY_PORT is already in use (a leftover haproxy?): ss -ltnp 'sport = :$HAPROXY_PORT'"
  fi
  HADIR=$(mktemp -d /tmp/sluice-haproxy.XXXXXX)
  cat >"$HADIR/haproxy.cfg" <<CFG
# generated by benches/sysbench.sh: a bare TCP hop to the primary, one thread, no logging
global
    nbthread 1
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
listen mysql
    bind $HOST:$HAPROXY_PORT
    server primary $HOST:$PRIMARY_PORT
CFG
  "$HAPROXY" -c -q -f "$HADIR/haproxy.cfg" || die "haproxy rejected $HADIR/haproxy.cfg"
  "$HAPROXY" -f "$HADIR/haproxy.cfg" -D -p "$HADIR/haproxy.pid" </dev/null || die "haproxy did not start"
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/$HOST/$HAPROXY_PORT") 2>/dev/null && break; sleep 0.1; done
  (exec 3<>"/dev/tcp/$HOST/$HAPROXY_PORT") 2>/dev/null || die "haproxy did not start listening on $HOST:$HAPROXY_PORT"
  say "haproxy (pid $(cat "$HADIR/haproxy.pid"), nbthread 1, mode tcp) on $HOST:$HAPROXY_PORT -> $HOST:$PRIMARY_PORT"
fi

# --- sluice_cache: a second sluice with the result cache on ($HOST:$CACHE_PORT) --------------------
if [[ " $TARGETS " == *" sluice_cache "* ]]; then
  if (exec 3<>"/dev/tcp/$HOST/$CACHE_PORT") 2>/dev/null; then
    die "port $CACHE_PORT is already in use (a leftover sluice?): ss -ltnp 'sport = :$CACHE_PORT'"
  fi
  SCDIR=$(mktemp -d /tmp/sluice-cache.XXXXXX)
  sed -e "s/127.0.0.1:6033/127.0.0.1:$CACHE_PORT/; s/127.0.0.1:6032/127.0.0.1:6038/; s/127.0.0.1:9033/127.0.0.1:9038/" \
      -e '/^\[cache\]/,/^\[/{s/^enabled = false/enabled = true/; s/^cache_all = false/cache_all = true/}' \
      "$ROOT/deploy/sluice.example.toml" >"$SCDIR/sluice.toml"
  grep -q '^cache_all = true' "$SCDIR/sluice.toml" || die "could not turn the cache on in $SCDIR/sluice.toml"
  SLUICE_BACKEND_PASSWORD=app SLUICE_MONITOR_PASSWORD=monitor SLUICE_LOG_LEVEL=warn \
    "$ROOT/target/release/sluice" --config "$SCDIR/sluice.toml" >"$SCDIR/sluice.log" 2>&1 &
  echo $! >"$SCDIR/sluice.pid"
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/$HOST/$CACHE_PORT") 2>/dev/null && break; sleep 0.1; done
  (exec 3<>"/dev/tcp/$HOST/$CACHE_PORT") 2>/dev/null || { cat "$SCDIR/sluice.log" >&2; die "sluice_cache did not start"; }
  say "sluice with the result cache (pid $(cat "$SCDIR/sluice.pid")) on $HOST:$CACHE_PORT"
fi

# --- sluice_base: another sluice binary to compare with ($HOST:$BASE_PORT) --------------------------
if [[ " $TARGETS " == *" sluice_base "* ]]; then
  if (exec 3<>"/dev/tcp/$HOST/$BASE_PORT") 2>/dev/null; then
    die "port $BASE_PORT is already in use (a leftover sluice?): ss -ltnp 'sport = :$BASE_PORT'"
  fi
  BADIR=$(mktemp -d /tmp/sluice-base.XXXXXX)
  sed -e "s/127.0.0.1:6033/127.0.0.1:$BASE_PORT/; s/127.0.0.1:6032/127.0.0.1:6041/; s/127.0.0.1:9033/127.0.0.1:9039/" \
      "$BASE_CONFIG" >"$BADIR/sluice.toml"
  # The same log level as the sluice target (the config's), so the two differ only in the binary.
  SLUICE_BACKEND_PASSWORD=app SLUICE_MONITOR_PASSWORD=monitor \
    "$BASE_BIN" --config "$BADIR/sluice.toml" >"$BADIR/sluice.log" 2>&1 &
  echo $! >"$BADIR/sluice.pid"
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/$HOST/$BASE_PORT") 2>/dev/null && break; sleep 0.1; done
  (exec 3<>"/dev/tcp/$HOST/$BASE_PORT") 2>/dev/null || { cat "$BADIR/sluice.log" >&2; die "sluice_base did not start"; }
  say "sluice_base $BASE_BIN (pid $(cat "$BADIR/sluice.pid")) on $HOST:$BASE_PORT"
fi

port_of() { case $1 in direct) echo "$PRIMARY_PORT" ;; haproxy) echo "$HAPROXY_PORT" ;; sluice) echo "$SLUICE_PORT" ;; sluice_cache) echo "$CACHE_PORT" ;; sluice_base) echo "$BASE_PORT" ;; esac; }
pidfile_of() { case $1 in direct) echo "$DATA/primary/pid" ;; haproxy) echo "$HADIR/haproxy.pid" ;; sluice) echo "$DATA/sluice.pid" ;; sluice_cache) echo "$SCDIR/sluice.pid" ;; sluice_base) echo "$BADIR/sluice.pid" ;; esac; }
pid_of() { local f; f=$(pidfile_of "$1"); [ -s "$f" ] && [ -r "/proc/$(cat "$f")/stat" ] && cat "$f" || echo ""; }
# CPU seconds (utime + stime) a process has used; empty if it is gone.
cpu_of() {
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || { echo ""; return 0; }
  # The command name (field 2) may hold spaces: count fields from after its closing parenthesis.
  sed 's/^.*) //' "/proc/$1/stat" | awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($12 + $13) / hz }'
}

# --- data: sbtest, TABLES x TABLE_SIZE rows, prepared once ------------------------------------------
SB=(--db-driver=mysql --mysql-host="$HOST" --mysql-user=app --mysql-password=app --mysql-db=sbtest
    --tables="$TABLES" --table-size="$TABLE_SIZE" --db-ps-mode=auto --mysql-ignore-errors=none)
root_sql "CREATE DATABASE IF NOT EXISTS sbtest"
ready=1
for i in $(seq 1 "$TABLES"); do
  n=$(root_sql "SELECT COUNT(*) FROM sbtest.sbtest$i" 2>/dev/null || echo missing)
  [ "$n" = "$TABLE_SIZE" ] || { ready=0; break; }
done
if [ "$ready" = 0 ]; then
  say "preparing sbtest: $TABLES tables x $TABLE_SIZE rows"
  root_sql "DROP DATABASE IF EXISTS sbtest; CREATE DATABASE sbtest"
  sysbench oltp_point_select "${SB[@]}" --mysql-port="$PRIMARY_PORT" --threads="$TABLES" prepare >"$LOGDIR/prepare.log" 2>&1 \
    || { tail -n 20 "$LOGDIR/prepare.log" >&2; die "sysbench prepare failed"; }
else
  say "sbtest is ready ($TABLES tables x $TABLE_SIZE rows)"
fi
# The replicas have the data too (reads may be routed there). The local topology's flavour (up.sh
# records it) decides the GTID statements.
if [ "$(cat "$DATA/.flavor" 2>/dev/null)" = mysql ]; then
  pos=$(root_sql "SELECT @@global.gtid_executed" | tr -d '\n')
  wait_sql="SELECT WAIT_FOR_EXECUTED_GTID_SET('$pos', 60)"
else
  pos=$(root_sql "SELECT @@gtid_binlog_pos")
  wait_sql="SELECT MASTER_GTID_WAIT('$pos', 60)"
fi
for port in 3308 3309; do
  mariadb --no-defaults --protocol=TCP -h"$HOST" -P"$port" -uroot -N -e "$wait_sql" >/dev/null 2>&1 \
    || say "warning: the replica on $port did not catch up with $pos"
done

if [ "$WARMUP" -gt 0 ]; then
  say "warm-up: ${WARMUP}s of point selects directly on the primary"
  sysbench oltp_point_select "${SB[@]}" --mysql-port="$PRIMARY_PORT" --threads=4 --time="$WARMUP" run >/dev/null 2>&1 || true
fi

# --- runs -----------------------------------------------------------------------------------------
# parse LOG ROUND TARGET TEST THREADS CPU0 CPU1 RC -> one JSON line
parse() {
  python3 - "$@" <<'PY'
import json, os, re, sys
log, rnd, target, test, threads, c0, c1, rc = sys.argv[1:]
text = open(log, errors="replace").read()
def num(pat):
    m = re.search(pat, text, re.M)
    return float(m.group(1)) if m else None
qps = num(r"^\s+queries:\s+\d+\s+\(([\d.]+) per sec")
total = num(r"^\s+queries:\s+(\d+)")
ignored = num(r"^\s+ignored errors:\s+(\d+)")
reconnects = num(r"^\s+reconnects:\s+(\d+)")
# Both percentiles from sysbench's latency histogram (value | bar count), the way sysbench computes its own.
hist = [(float(v), int(c)) for v, c in re.findall(r"^\s*([\d.]+) \|\**\s+(\d+)\s*$", text, re.M)]
def pct(p):
    n = sum(c for _, c in hist)
    acc = 0
    for v, c in hist:
        acc += c
        if acc >= p * n:
            return v
    return None
p95, p99 = (pct(0.95), pct(0.99)) if hist else (None, num(r"99th percentile:\s+([\d.]+)"))
failed = rc != "0" or qps is None
cpu = float(c1) - float(c0) if c0 and c1 else None
row = {"round": int(rnd), "target": target, "test": test, "threads": int(threads),
       "qps": qps, "p95_ms": p95, "p99_ms": p99,
       "errors": int(ignored or 0) + int(reconnects or 0) + (1 if failed else 0),
       "proxy_cpu_s": round(cpu, 2) if cpu is not None else None,
       "cpu_us_per_query": round(cpu * 1e6 / total, 2) if cpu is not None and total else None,
       "backend_conns": int(os.environ["BACKEND_CONNS"]) if os.environ.get("BACKEND_CONNS") else None}
if failed:
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    fatal = [l for l in lines if "FATAL" in l]
    # The first MySQL error says most ("error 2002: Can't connect", "error 2013 ... Lost connection");
    # sysbench's own closing lines ("Thread initialization failed") say least.
    pick = [l for l in fatal if re.search(r"error \d+", l)] or fatal
    row["failure"] = (pick[0] if pick else (lines or ["sysbench exited %s with no output" % rc])[-1])[:300]
    row["log"] = log
print(json.dumps(row))
PY
}

say "results: $RESULTS (sysbench output: $LOGDIR)"
runs=0
for round in $(seq 1 "$ROUNDS"); do
  for test in $TESTS; do
    extra=(); [ "$test" = oltp_read_only ] && extra=(--skip-trx=on)
    for threads in $THREADS; do
      for target in $TARGETS; do
        port=$(port_of "$target")
        pid=$(pid_of "$target")
        log="$LOGDIR/r$round-$target-$test-$threads.log"
        say "round $round/$ROUNDS: $target $test threads=$threads (${DURATION}s)"
        c0=$(cpu_of "$pid")
        # Backend connections the target used: the most `app` sessions seen on the three servers at once.
        conns_file="$LOGDIR/r$round-$target-$test-$threads.conns"
        ( most=0
          while :; do
            n=0
            for p in 3307 3308 3309; do
              c=$(mariadb --no-defaults --protocol=TCP -h"$HOST" -P"$p" -uroot -N -e \
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER='app'" 2>/dev/null || echo 0)
              n=$((n + ${c:-0}))
            done
            [ "$n" -gt "$most" ] && most=$n && echo "$most" >"$conns_file"
            sleep 1
          done ) &
        sampler=$!
        rc=0
        # timeout: a target that hangs costs one run, not the benchmark.
        timeout -k 5 $((DURATION + 60)) sysbench "$test" "${SB[@]}" "${extra[@]}" --mysql-port="$port" \
          --threads="$threads" --time="$DURATION" --report-interval=0 --percentile=99 --histogram=on run \
          >"$log" 2>&1 || rc=$?
        c1=$(cpu_of "$pid")
        kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
        BACKEND_CONNS=$(cat "$conns_file" 2>/dev/null || echo "") \
          parse "$log" "$round" "$target" "$test" "$threads" "$c0" "$c1" "$rc" | tee -a "$RESULTS"
        runs=$((runs + 1))
      done
    done
  done
done

# --- summary --------------------------------------------------------------------------------------
python3 - "$RESULTS" <<'PY'
import json, statistics, sys
path = sys.argv[1]
rows = [json.loads(l) for l in open(path) if l.strip()]
med = lambda xs: round(statistics.median(xs), 3) if xs else None
groups = {}
for r in rows:
    groups.setdefault((r["test"], r["threads"], r["target"]), []).append(r)
order = {"direct": 0, "haproxy": 1, "sluice_base": 2, "sluice": 3, "sluice_cache": 4}
summary = []
for (test, threads, target), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], order.get(kv[0][2], 9))):
    q = [r["qps"] for r in rs if r["qps"] is not None and not r.get("failure")]
    summary.append({"summary": True, "target": target, "test": test, "threads": threads, "runs": len(rs),
        "qps_median": med(q), "qps_min": min(q) if q else None, "qps_max": max(q) if q else None,
        "p95_ms_median": med([r["p95_ms"] for r in rs if r["p95_ms"] is not None]),
        "p99_ms_median": med([r["p99_ms"] for r in rs if r["p99_ms"] is not None]),
        "cpu_us_per_query_median": med([r["cpu_us_per_query"] for r in rs if r["cpu_us_per_query"] is not None]),
        "backend_conns_max": max([r.get("backend_conns") or 0 for r in rs] or [0]),
        "errors": sum(r["errors"] for r in rs)})
with open(path, "a") as f:
    for s in summary:
        line = json.dumps(s)
        print(line)
        f.write(line + "\n")
# A table for people, on stderr.
fmt = lambda v, spec: format(v, spec) if v is not None else "-"
print("\n%-18s %7s %-12s %10s %10s %10s %8s %8s %9s %6s" % ("test", "threads", "target", "qps_med", "qps_min",
      "qps_max", "p95_ms", "p99_ms", "cpu_us/q", "errors"), file=sys.stderr)
for s in summary:
    print("%-18s %7d %-12s %10s %10s %10s %8s %8s %9s %6d" % (s["test"], s["threads"], s["target"],
          fmt(s["qps_median"], ".0f"), fmt(s["qps_min"], ".0f"), fmt(s["qps_max"], ".0f"),
          fmt(s["p95_ms_median"], ".2f"), fmt(s["p99_ms_median"], ".2f"),
          fmt(s["cpu_us_per_query_median"], ".1f"), s["errors"]), file=sys.stderr)
PY
say "$runs runs; results: $RESULTS"
