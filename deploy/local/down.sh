#!/usr/bin/env bash
# Stops what deploy/local/up.sh started. Keeps the data unless --purge.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${SLUICE_LOCAL_DATA:-$ROOT/deploy/local/data}
stop() { # pidfile name
  [ -f "$1" ] || return 0
  local pid; pid=$(cat "$1")
  if [ -r "/proc/$pid/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status"; then
    echo "[down] stopping $2"
    kill "$pid"
    for _ in $(seq 1 100); do
      [ -r "/proc/$pid/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" || break
      sleep 0.1
    done
  fi
  rm -f "$1"
}
stop "$DATA/sluice.pid" sluice
stop "$DATA/redis.pid" redis
for n in replica2 replica1 primary; do stop "$DATA/$n/pid" "$n"; done
if [ "${1:-}" = "--purge" ]; then echo "[down] deleting $DATA"; rm -rf "$DATA"; fi
