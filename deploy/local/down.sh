#!/usr/bin/env bash
# Stops what deploy/local/up.sh started (sluice, redis, the replicas, the primary), by their pid files.
# Keeps the data unless --purge is given.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${SLUICE_LOCAL_DATA:-$ROOT/deploy/local/data}
TIMEOUT=${SLUICE_DOWN_TIMEOUT:-60}   # seconds each process gets to exit after SIGTERM

PURGE=0
for arg in "$@"; do
  case $arg in
    --purge) PURGE=1 ;;
    -h|--help) echo "usage: $0 [--purge]   (--purge deletes $DATA)"; exit 0 ;;
    *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
  esac
done

log() { printf '[down] %s\n' "$*"; }
pid_running() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# stop PIDFILE NAME PATTERN: SIGTERM the pid if its command line contains PATTERN (a stale pid file
# whose pid now belongs to another program is left alone), wait, SIGKILL after TIMEOUT.
stop() {
  local pidfile=$1 name=$2 pattern=$3 pid
  [ -s "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if [[ $pid =~ ^[0-9]+$ ]] && pid_running "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern"; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((TIMEOUT * 10))); do pid_running "$pid" || break; sleep 0.1; done
    if pid_running "$pid"; then
      log "$name did not stop within ${TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do pid_running "$pid" || break; sleep 0.1; done
    fi
  else
    log "$name is not running"
  fi
  rm -f "$pidfile"
}

if [ -d "$DATA" ]; then
  DATA=$(cd "$DATA" && pwd)
  stop "$DATA/sluice.pid" sluice "--config"
  stop "$DATA/redis.pid" redis "redis-server"
  for n in replica2 replica1 primary; do stop "$DATA/$n/pid" "$n" "--datadir=$DATA/$n"; done
else
  log "nothing to stop ($DATA does not exist)"
fi

if [ "$PURGE" = 1 ] && [ -d "$DATA" ]; then
  log "deleting $DATA"
  rm -rf "$DATA"
elif [ -d "$DATA" ]; then
  log "data kept in $DATA (--purge deletes it)"
fi
