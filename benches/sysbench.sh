#!/usr/bin/env bash
# sysbench through sluice vs HAProxy (mode tcp, one thread: the cost of a bare proxy hop) vs direct to
# the primary, interleaved within each round so machine noise hits all targets alike. Prints one JSON
# line per run and, at the end, one summary line per (target, test, threads) with median and spread.
# Uses the local topology of deploy/local/up.sh (started if needed). Only ever connects to 127.0.0.1.
#
# Env: ROUNDS (5), DURATION seconds per run (10), THREADS ("1 16 64"), TESTS ("oltp_point_select
# oltp_read_only"), TARGETS ("direct haproxy sluice"), TABLES (4), TABLE_SIZE (10000).
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
OUT="$ROOT/target/bench"
mkdir -p "$OUT"
RESULTS="$OUT/sysbench-$(date +%Y%m%d-%H%M%S).jsonl"

need=()
command -v sysbench >/dev/null || need+=(sysbench)
command -v haproxy >/dev/null || need+=(haproxy)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

"$ROOT/deploy/local/up.sh" >&2

# HAProxy: tcp mode, one thread, 127.0.0.1:6034 -> primary.
HADIR=$(mktemp -d)
cat >"$HADIR/haproxy.cfg" <<CFG
global
    nbthread 1
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
listen mysql
    bind 127.0.0.1:6034
    server primary 127.0.0.1:3307
CFG
haproxy -f "$HADIR/haproxy.cfg" -D -p "$HADIR/haproxy.pid"
trap 'kill "$(cat "$HADIR/haproxy.pid")" 2>/dev/null || true; rm -rf "$HADIR"' EXIT

port_of() { case $1 in direct) echo 3307 ;; haproxy) echo 6034 ;; sluice) echo 6033 ;; esac; }
pid_of() {
  case $1 in
    direct) cat "$DATA/primary/pid" ;;
    haproxy) cat "$HADIR/haproxy.pid" ;;
    sluice) cat "$DATA/sluice.pid" ;;
  esac
}
# utime + stime of a process, in seconds.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }

SB=(--mysql-host=127.0.0.1 --mysql-user=app --mysql-password=app --mysql-db=sbtest --tables="$TABLES"
    --table-size="$TABLE_SIZE" --db-ps-mode=auto --mysql-ignore-errors=none)
mariadb --protocol=TCP -h127.0.0.1 -P3307 -uroot -e "CREATE DATABASE IF NOT EXISTS sbtest"
if [ "$(mariadb --protocol=TCP -h127.0.0.1 -P3307 -uroot -N -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='sbtest'")" -lt "$TABLES" ]; then
  echo "preparing sbtest ($TABLES x $TABLE_SIZE rows)" >&2
  sysbench oltp_point_select "${SB[@]}" --mysql-port=3307 prepare >/dev/null
fi

for round in $(seq 1 "$ROUNDS"); do
  for test in $TESTS; do
    extra=(); [ "$test" = oltp_read_only ] && extra=(--skip-trx=on)
    for threads in $THREADS; do
      for target in $TARGETS; do
        port=$(port_of "$target"); pid=$(pid_of "$target")
        c0=$(cpu_of "$pid")
        log="$OUT/last-run.txt"
        rc=0
        sysbench "$test" "${SB[@]}" "${extra[@]}" --mysql-port="$port" --threads="$threads" --time="$DURATION" \
          --report-interval=0 --percentile=99 --histogram=on run >"$log" 2>&1 || rc=$?
        c1=$(cpu_of "$pid")
        python3 - "$log" "$round" "$target" "$test" "$threads" "$c0" "$c1" "$rc" <<'PY' | tee -a "$RESULTS"
import json, re, sys
log, rnd, target, test, threads, c0, c1, rc = sys.argv[1:]
text = open(log).read()
def num(pat):
    m = re.search(pat, text)
    return float(m.group(1)) if m else None
queries = num(r"queries:\s+\d+\s+\(([\d.]+) per sec")
total = num(r"queries:\s+(\d+)")
errors = num(r"ignored errors:\s+(\d+)")
p99 = num(r"99th percentile:\s+([\d.]+)")
# p95 from the histogram: value | distribution | count
hist = [(float(v), int(c)) for v, c in re.findall(r"^\s+([\d.]+) \|\**\s+(\d+)\s*$", text, re.M)]
p95 = None
n = sum(c for _, c in hist)
if n:
    acc = 0
    for v, c in hist:
        acc += c
        if acc >= 0.95 * n:
            p95 = v
            break
cpu = float(c1) - float(c0)
row = {"round": int(rnd), "target": target, "test": test, "threads": int(threads), "qps": queries,
       "p95_ms": p95, "p99_ms": p99, "errors": int(errors or 0) + (0 if rc == "0" else 1),
       "proxy_cpu_s": round(cpu, 3), "cpu_us_per_query": round(cpu * 1e6 / total, 2) if total else None}
if rc != "0":
    row["failure"] = text.strip().splitlines()[-1:]
print(json.dumps(row))
PY
      done
    done
  done
done

python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = {}
for r in rows:
    groups.setdefault((r["test"], r["threads"], r["target"]), []).append(r)
for (test, threads, target), rs in sorted(groups.items()):
    q = [r["qps"] for r in rs if r["qps"]]
    cpu = [r["cpu_us_per_query"] for r in rs if r["cpu_us_per_query"]]
    p99 = [r["p99_ms"] for r in rs if r["p99_ms"]]
    print(json.dumps({"summary": True, "test": test, "threads": threads, "target": target, "runs": len(rs),
        "qps_median": statistics.median(q) if q else None, "qps_min": min(q) if q else None,
        "qps_max": max(q) if q else None, "p99_ms_median": statistics.median(p99) if p99 else None,
        "cpu_us_per_query_median": statistics.median(cpu) if cpu else None,
        "errors": sum(r["errors"] for r in rs)}))
PY
echo "results: $RESULTS" >&2
