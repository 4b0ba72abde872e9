#!/usr/bin/env bash
# Builds sluice and starts it in front of a local topology: MariaDB primary on 3307, two GTID replicas on
# 3308 and 3309, Redis on 6380 (if redis-server exists), sluice on 6033 (admin 6032, HTTP 9033).
# Safe to run again: it starts only what is not running (a killed replica comes back and resumes
# replication) and restarts sluice when its binary changed. Data lives in deploy/local/data (or $SLUICE_LOCAL_DATA).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${SLUICE_LOCAL_DATA:-$ROOT/deploy/local/data}
CONFIG=${SLUICE_CONFIG:-$ROOT/deploy/sluice.example.toml}
mkdir -p "$DATA"

log() { printf '\033[1m[up]\033[0m %s\n' "$*"; }
die() { printf '[up] error: %s\n' "$*" >&2; exit 1; }
# A pid is alive if it exists and is not a zombie (a killed orphan may linger unreaped as a zombie).
alive() {
  [ -f "$1" ] || return 1
  local pid; pid=$(cat "$1")
  [ -r "/proc/$pid/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status"
}

# --- what the machine needs -------------------------------------------------------------------
missing=()
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
command -v mariadb >/dev/null || missing+=(mariadb-client)
command -v cc >/dev/null || missing+=(build-essential)
command -v cmake >/dev/null || missing+=(cmake)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs)"
MARIADBD=$(command -v mariadbd || echo /usr/sbin/mariadbd)
ROOT_FLAG=(); [ "$(id -u)" -eq 0 ] && ROOT_FLAG=(--user=root)

sql() { mariadb --protocol=TCP -h127.0.0.1 -P"$1" -uroot --batch --skip-column-names -e "$2"; }

wait_port() { # port name logfile
  for _ in $(seq 1 150); do
    if sql "$1" "SELECT 1" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  tail -n 20 "$3" >&2 || true
  die "$2 did not start on port $1 (log: $3)"
}

start_mariadb() { # name port server_id
  local name=$1 port=$2 id=$3 dir="$DATA/$1"
  if alive "$dir/pid"; then log "$name already running on $port"; return 1; fi
  if [ ! -d "$dir/mysql" ]; then
    log "initialising $name in $dir"
    mkdir -p "$dir/tmp"
    mariadb-install-db --no-defaults "${ROOT_FLAG[@]}" --datadir="$dir" --auth-root-authentication-method=normal \
      --skip-test-db >"$DATA/$name.install.log" 2>&1 || { tail -n 20 "$DATA/$name.install.log"; die "mariadb-install-db failed for $name"; }
  fi
  mkdir -p "$dir/tmp"
  log "starting $name on 127.0.0.1:$port"
  nohup "$MARIADBD" --no-defaults "${ROOT_FLAG[@]}" --datadir="$dir" --port="$port" --bind-address=127.0.0.1 \
    --socket="$dir/sock" --pid-file="$dir/pid" --tmpdir="$dir/tmp" --server-id="$id" --log-bin --log-slave-updates \
    --binlog-format=ROW --gtid-strict-mode=1 --max-allowed-packet=64M --skip-name-resolve --max-connections=2000 \
    --innodb-buffer-pool-size=128M --log-error="$DATA/$name.err" >/dev/null 2>&1 &
  wait_port "$port" "$name" "$DATA/$name.err"
  return 0
}

# --- primary ------------------------------------------------------------------------------------
start_mariadb primary 3307 1 || true
if [ ! -f "$DATA/primary/.accounts" ]; then
  log "creating accounts on the primary (app/app, monitor/monitor, repl; database app)"
  sql 3307 "
    DELETE FROM mysql.global_priv WHERE User = ''; FLUSH PRIVILEGES;
    CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY 'repl';
    GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';
    CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'app';
    GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE TEMPORARY TABLES, LOCK TABLES,
      EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, TRIGGER, EVENT, REFERENCES, PROCESS
      ON *.* TO 'app'@'%';
    CREATE USER IF NOT EXISTS 'monitor'@'%' IDENTIFIED BY 'monitor';
    GRANT SLAVE MONITOR, BINLOG MONITOR, PROCESS ON *.* TO 'monitor'@'%';
    CREATE DATABASE IF NOT EXISTS app;"
  touch "$DATA/primary/.accounts"
fi

# --- replicas -----------------------------------------------------------------------------------
for r in "replica1 3308 2" "replica2 3309 3"; do
  set -- $r
  start_mariadb "$1" "$2" "$3" || true
  if [ ! -f "$DATA/$1/.replicating" ]; then
    log "pointing $1 at the primary (GTID)"
    sql "$2" "SET GLOBAL gtid_slave_pos = '';
      CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=3307, MASTER_USER='repl', MASTER_PASSWORD='repl',
        MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
      START SLAVE; SET GLOBAL read_only = 1;"
    touch "$DATA/$1/.replicating"
  else
    sql "$2" "SET GLOBAL read_only = 1; START SLAVE;" >/dev/null 2>&1 || true
  fi
done
for port in 3308 3309; do
  for _ in $(seq 1 100); do
    io=$(mariadb --protocol=TCP -h127.0.0.1 -P"$port" -uroot -e "SHOW SLAVE STATUS\G" 2>/dev/null | awk '/Slave_IO_Running:/{print $2}' || true)
    [ "$io" = "Yes" ] && break
    sleep 0.2
  done
  [ "$io" = "Yes" ] || log "warning: replica on $port is not replicating yet (see $DATA/*.err)"
done

# --- redis --------------------------------------------------------------------------------------
if command -v redis-server >/dev/null; then
  if alive "$DATA/redis.pid"; then log "redis already running on 6380"; else
    log "starting redis on 127.0.0.1:6380"
    redis-server --port 6380 --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
      --pidfile "$DATA/redis.pid" --logfile "$DATA/redis.log" --dir "$DATA" >/dev/null
  fi
else
  log "redis-server not installed: the L2 cache stays off"
fi

# --- sluice -------------------------------------------------------------------------------------
log "building sluice (release)"
(cd "$ROOT" && cargo build --release -q -p sluice)
BIN="$ROOT/target/release/sluice"
"$BIN" check-config "$CONFIG" >/dev/null
if alive "$DATA/sluice.pid" && [ ! "$BIN" -nt "$DATA/sluice.pid" ]; then
  log "sluice already running on 6033"
else
  if alive "$DATA/sluice.pid"; then log "restarting sluice (new binary)"; kill "$(cat "$DATA/sluice.pid")"; sleep 1; fi
  log "starting sluice on 127.0.0.1:6033 (log: $DATA/sluice.log)"
  SLUICE_BACKEND_PASSWORD=app SLUICE_MONITOR_PASSWORD=monitor nohup "$BIN" --config "$CONFIG" >>"$DATA/sluice.log" 2>&1 &
  echo $! >"$DATA/sluice.pid"
  for _ in $(seq 1 100); do
    mariadb --protocol=TCP -h127.0.0.1 -P6033 -uapp -papp app -e "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.1
  done
  mariadb --protocol=TCP -h127.0.0.1 -P6033 -uapp -papp app -e "SELECT 1" >/dev/null 2>&1 \
    || { tail -n 20 "$DATA/sluice.log" >&2; die "sluice did not start"; }
fi

cat <<MSG

sluice is running in front of primary 127.0.0.1:3307 and replicas 3308, 3309 (data: $DATA).
  connect:  mariadb -h127.0.0.1 -P6033 -uapp -papp app
  admin:    mariadb -h127.0.0.1 -P6032 -uadmin -padmin
  stop:     ./deploy/local/down.sh   (add --purge to delete the data)
MSG
