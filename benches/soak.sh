#!/usr/bin/env bash
# Soak: mixed load through sluice for DURATION seconds while sampling sluice's memory (VmRSS) and open
# file descriptors, to catch leaks that short benchmarks miss. Fails (exit 1) if RSS grew more than
# MAX_GROWTH_PCT between the first sample after WARMUP and the end, if sluice died, or if the load
# could not run.
#
# Load, all through sluice on 127.0.0.1:6033 (the local topology of deploy/local/up.sh, started or
# repaired as needed; it builds sluice in release mode):
#   - sysbench oltp_read_write, THREADS connections: transactions (pins), point and range reads
#     (replicas), index/non-index UPDATEs, DELETE + INSERT, as prepared statements;
#   - connection churn: one short-lived `mariadb` client per CHURN_MS (login, a query, quit), so
#     session setup and teardown are soaked too.
# Sends load only to 127.0.0.1; stops by itself after DURATION (+ a bounded grace).
#
# stdout: one JSON line per sample {"sample","t_s","rss_kb","fds","threads","churn_ok","churn_errors"}
# then a summary {"summary":true,"duration_s","rss_after_warmup_kb","rss_end_kb","rss_growth_pct",
# "rss_max_kb","fds_max","fds_end","qps","tps","errors","deadlocks_retried","passed","problems",...}. Everything also goes to
# target/bench/soak-<time>.jsonl, sysbench's output to target/bench/soak-<time>.sysbench.log.
#
# Env: DURATION (1800), INTERVAL seconds between samples (30), WARMUP seconds before the reference
# sample (120), THREADS (8), TABLES (4), TABLE_SIZE (10000), CHURN_MS (200; 0 = no churn),
# MAX_GROWTH_PCT (5). A short proof: DURATION=180 INTERVAL=10 WARMUP=60 benches/soak.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${SLUICE_LOCAL_DATA:-$ROOT/deploy/local/data}
DURATION=${DURATION:-1800}
INTERVAL=${INTERVAL:-30}
WARMUP=${WARMUP:-120}
THREADS=${THREADS:-8}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-10000}
CHURN_MS=${CHURN_MS:-200}
MAX_GROWTH_PCT=${MAX_GROWTH_PCT:-5}
HOST=127.0.0.1            # the only address this script ever sends load to
PRIMARY_PORT=3307
SLUICE_PORT=6033
DB=sbsoak                 # its own schema: oltp_read_write changes rows, sysbench.sh's sbtest stays as it is

say() { printf '[soak] %s\n' "$*" >&2; }
die() { printf '[soak] error: %s\n' "$*" >&2; exit 1; }
int() { [[ $2 =~ ^[0-9]+$ ]] || die "$1=$2: a whole number"; }
int DURATION "$DURATION"; int INTERVAL "$INTERVAL"; int WARMUP "$WARMUP"; int THREADS "$THREADS"; int CHURN_MS "$CHURN_MS"
[ "$INTERVAL" -gt 0 ] || die "INTERVAL must be above 0"
[ "$WARMUP" -lt "$DURATION" ] || die "WARMUP ($WARMUP) must be below DURATION ($DURATION)"

OUT=${CARGO_TARGET_DIR:-$ROOT/target}/bench
STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS="$OUT/soak-$STAMP.jsonl"
SBLOG="$OUT/soak-$STAMP.sysbench.log"
mkdir -p "$OUT"
: >"$RESULTS"

# --- tools ----------------------------------------------------------------------------------------
need=()
command -v sysbench >/dev/null || need+=(sysbench)
command -v python3 >/dev/null || need+=(python3)
command -v mariadb >/dev/null || need+=(mariadb-client)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  say "installing ${need[*]} (apt-get)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- topology and sluice --------------------------------------------------------------------------
"$ROOT/deploy/local/up.sh" >&2 || die "deploy/local/up.sh failed (see above)"
PIDFILE="$DATA/sluice.pid"
[ -s "$PIDFILE" ] || die "no $PIDFILE: is sluice running?"
PID=$(cat "$PIDFILE")
[ -r "/proc/$PID/status" ] || die "sluice (pid $PID from $PIDFILE) is not running"
say "sluice pid $PID on $HOST:$SLUICE_PORT"

root_sql() { mariadb --no-defaults --protocol=TCP -h"$HOST" -P"$PRIMARY_PORT" -uroot --batch --skip-column-names -e "$1"; }
SB=(--db-driver=mysql --mysql-host="$HOST" --mysql-user=app --mysql-password=app --mysql-db="$DB"
    --tables="$TABLES" --table-size="$TABLE_SIZE" --db-ps-mode=auto)
# Fresh data every run (a soak must not start from what the last one left): prepared on the primary.
say "preparing $DB: $TABLES tables x $TABLE_SIZE rows"
root_sql "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
sysbench oltp_read_write "${SB[@]}" --mysql-port="$PRIMARY_PORT" --threads="$TABLES" prepare >"$SBLOG.prepare" 2>&1 \
  || { tail -n 20 "$SBLOG.prepare" >&2; die "sysbench prepare failed"; }
pos=$(root_sql "SELECT @@gtid_binlog_pos")
for port in 3308 3309; do
  mariadb --no-defaults --protocol=TCP -h"$HOST" -P"$port" -uroot -N -e "SELECT MASTER_GTID_WAIT('$pos', 60)" >/dev/null 2>&1 \
    || say "warning: the replica on $port did not catch up with $pos"
done

# --- load -----------------------------------------------------------------------------------------
SBPID=""; CHURNPID=""
CHURN_FILE=$(mktemp /tmp/sluice-soak-churn.XXXXXX)
cleanup() {
  [ -z "$SBPID" ] || kill "$SBPID" 2>/dev/null || true
  [ -z "$CHURNPID" ] || kill "$CHURNPID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -f "$CHURN_FILE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "load: sysbench oltp_read_write, $THREADS threads, ${DURATION}s; churn every ${CHURN_MS}ms; samples every ${INTERVAL}s"
# Deadlocks and lock waits are the workload's, not sluice's: sysbench retries them and counts them.
timeout -k 10 $((DURATION + 60)) sysbench oltp_read_write "${SB[@]}" --mysql-port="$SLUICE_PORT" \
  --threads="$THREADS" --time="$DURATION" --report-interval=0 --percentile=99 \
  --mysql-ignore-errors=1213,1205,1020 run >"$SBLOG" 2>&1 &
SBPID=$!
if [ "$CHURN_MS" -gt 0 ]; then
  ( ok=0; bad=0; end=$(( $(date +%s) + DURATION ))
    pause=$(awk -v ms="$CHURN_MS" 'BEGIN { printf "%.3f", ms / 1000 }')
    while [ "$(date +%s)" -lt "$end" ]; do
      if timeout 10 mariadb --no-defaults --protocol=TCP -h"$HOST" -P"$SLUICE_PORT" -uapp -papp "$DB" \
           -N -e "SELECT COUNT(*) FROM sbtest1 WHERE id < 10" >/dev/null 2>&1; then
        ok=$((ok + 1))
      else
        bad=$((bad + 1))
      fi
      echo "$ok $bad" >"$CHURN_FILE"
      sleep "$pause"
    done ) &
  CHURNPID=$!
fi

# --- samples --------------------------------------------------------------------------------------
t0=$(date +%s)
n=0
alive=1
while :; do
  t=$(( $(date +%s) - t0 ))
  if [ ! -r "/proc/$PID/status" ]; then alive=0; say "sluice (pid $PID) is gone at ${t}s"; break; fi
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status")
  thr=$(awk '/^Threads:/ { print $2 }' "/proc/$PID/status")
  fds=$(find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  read -r cok cbad <"$CHURN_FILE" 2>/dev/null || { cok=0; cbad=0; }
  n=$((n + 1))
  printf '{"sample":%d,"t_s":%d,"rss_kb":%d,"fds":%d,"threads":%d,"churn_ok":%d,"churn_errors":%d}\n' \
    "$n" "$t" "$rss" "$fds" "$thr" "${cok:-0}" "${cbad:-0}" | tee -a "$RESULTS"
  if [ "$t" -ge "$DURATION" ]; then break; fi
  # Sample on the INTERVAL grid, and once more at DURATION.
  next=$(( (t / INTERVAL + 1) * INTERVAL ))
  if [ "$next" -gt "$DURATION" ]; then next=$DURATION; fi
  wait_s=$(( next - ($(date +%s) - t0) ))
  if [ "$wait_s" -gt 0 ]; then sleep "$wait_s"; fi
done

sbrc=0; wait "$SBPID" || sbrc=$?; SBPID=""
[ -z "$CHURNPID" ] || { wait "$CHURNPID" || true; CHURNPID=""; }
read -r cok cbad <"$CHURN_FILE" 2>/dev/null || { cok=0; cbad=0; }

# --- summary --------------------------------------------------------------------------------------
python3 - "$RESULTS" "$SBLOG" "$WARMUP" "$DURATION" "$MAX_GROWTH_PCT" "$sbrc" "$alive" "${cok:-0}" "${cbad:-0}" "$THREADS" <<'PY'
import json, re, sys
results, sblog, warmup, duration, max_growth, sbrc, alive, cok, cbad, threads = sys.argv[1:]
warmup, duration, max_growth = int(warmup), int(duration), float(max_growth)
samples = [json.loads(l) for l in open(results) if l.strip()]
text = open(sblog, errors="replace").read()
def num(pat):
    m = re.search(pat, text, re.M)
    return float(m.group(1)) if m else None
qps = num(r"^\s+queries:\s+\d+\s+\(([\d.]+) per sec")
tps = num(r"^\s+transactions:\s+\d+\s+\(([\d.]+) per sec")
ignored = int(num(r"^\s+ignored errors:\s+(\d+)") or 0)
reconnects = int(num(r"^\s+reconnects:\s+(\d+)") or 0)
p99 = num(r"99th percentile:\s+([\d.]+)")
ref = next((s for s in samples if s["t_s"] >= warmup), None)
end = samples[-1] if samples else None
growth = round((end["rss_kb"] - ref["rss_kb"]) * 100.0 / ref["rss_kb"], 2) if ref and end and ref["rss_kb"] else None
sb_failed = sbrc != "0" or qps is None
problems = []
if alive != "1":
    problems.append("sluice died")
if sb_failed:
    lines = [l.strip() for l in text.splitlines() if "FATAL" in l or "error" in l.lower()]
    problems.append("sysbench failed (exit %s): %s" % (sbrc, (lines or ["no result"])[0][:200]))
if growth is None:
    problems.append("no sample after the warm-up")
elif growth > max_growth:
    problems.append("RSS grew %.2f%% (> %s%%)" % (growth, max_growth))
summary = {"summary": True, "duration_s": duration, "warmup_s": warmup, "threads": int(threads),
           "samples": len(samples),
           "rss_start_kb": samples[0]["rss_kb"] if samples else None,
           "rss_after_warmup_kb": ref["rss_kb"] if ref else None, "rss_after_warmup_t_s": ref["t_s"] if ref else None,
           "rss_end_kb": end["rss_kb"] if end else None, "rss_growth_pct": growth,
           "rss_max_kb": max((s["rss_kb"] for s in samples), default=None),
           "fds_max": max((s["fds"] for s in samples), default=None), "fds_end": end["fds"] if end else None,
           "threads_max": max((s["threads"] for s in samples), default=None),
           "qps": qps, "tps": tps, "p99_ms": p99,
           # Errors sluice caused or let through: lost connections, failed logins, a failed run.
           # Deadlocks and lock wait timeouts are the workload's (sysbench retries them): counted apart.
           "errors": reconnects + int(cbad) + (1 if sb_failed else 0),
           "deadlocks_retried": ignored, "sysbench_reconnects": reconnects,
           "churn_connections": int(cok), "churn_errors": int(cbad),
           "max_growth_pct": max_growth, "passed": not problems, "problems": problems}
line = json.dumps(summary)
print(line)
open(results, "a").write(line + "\n")
sys.exit(0 if not problems else 1)
PY
