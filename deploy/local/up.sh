#!/usr/bin/env bash
# Builds sluice and starts it in front of a local topology: MariaDB primary on 127.0.0.1:3307, two GTID
# replicas on 3308 and 3309, Redis on 6380 (if redis-server exists), sluice on 6033 (admin 6032).
#
# SLUICE_FLAVOR=mysql starts the same topology on MySQL 8.4/9.x instead, from the install that
# SLUICE_MYSQL_BASEDIR names (the directory holding bin/mysqld): GTIDs with SOURCE_AUTO_POSITION,
# replicas with super_read_only, caching_sha2_password accounts. One data directory holds one flavour.
#
# Safe to run again: it starts only what is not running (a killed replica comes back read-only and
# resumes replication), reuses existing data directories, and restarts sluice only when it is not
# running or its binary or config is newer than the running process.
#
# Data, pid files and logs live in deploy/local/data (override: SLUICE_LOCAL_DATA); the config is
# deploy/sluice.example.toml (override: SLUICE_CONFIG). Stop with deploy/local/down.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${SLUICE_LOCAL_DATA:-$ROOT/deploy/local/data}
CONFIG=${SLUICE_CONFIG:-$ROOT/deploy/sluice.example.toml}
TIMEOUT=${SLUICE_UP_TIMEOUT:-60}   # seconds each piece gets to accept connections
PRIMARY_PORT=3307
REDIS_PORT=6380
SLUICE_PORT=6033
T0=$(date +%s.%N)

log() { printf '[up] %s\n' "$*"; }
ON_FAIL=""   # command run before exiting on an error (stops a sluice that did not come up)
die() { printf '[up] error: %s\n' "$*" >&2; [ -z "$ON_FAIL" ] || eval "$ON_FAIL"; exit 1; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs", b - a }'; }

FLAVOR=${SLUICE_FLAVOR:-mariadb}
case $FLAVOR in
  mariadb) ;;
  mysql)
    [ -n "${SLUICE_MYSQL_BASEDIR:-}" ] \
      || die "SLUICE_FLAVOR=mysql needs SLUICE_MYSQL_BASEDIR: set it to a MySQL 8.4/9.x install (the directory holding bin/mysqld), e.g. SLUICE_MYSQL_BASEDIR=/opt/mysql-9.7 SLUICE_FLAVOR=mysql $0"
    MYSQL_BASEDIR=$(cd "$SLUICE_MYSQL_BASEDIR" 2>/dev/null && pwd) \
      || die "SLUICE_MYSQL_BASEDIR=$SLUICE_MYSQL_BASEDIR is not a directory"
    [ -x "$MYSQL_BASEDIR/bin/mysqld" ] \
      || die "SLUICE_MYSQL_BASEDIR=$SLUICE_MYSQL_BASEDIR has no bin/mysqld: point it at a MySQL 8.4/9.x install's top directory"
    ;;
  *) die "SLUICE_FLAVOR=$FLAVOR: use mariadb (the default) or mysql" ;;
esac

mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)
# One up.sh at a time (benches/sysbench.sh runs it too). Children never inherit the lock (9>&-).
exec 9>"$DATA/.up.lock"
flock -n 9 || { log "waiting for another up.sh to finish"; flock 9; }
# One flavour per data directory (a directory from before flavours existed holds MariaDB).
had=$(cat "$DATA/.flavor" 2>/dev/null || { [ -d "$DATA/primary" ] && echo mariadb; } || true)
[ -z "$had" ] || [ "$had" = "$FLAVOR" ] \
  || die "$DATA holds a $had topology, not $FLAVOR: ./deploy/local/down.sh --purge first, or give SLUICE_LOCAL_DATA another directory"
echo "$FLAVOR" >"$DATA/.flavor"

# --- what the machine needs (checked first, so a second run is fast) -----------------------------
missing=()
CLIENT=mariadb   # the command-line client for setup, and for the check that sluice answers
if [ "$FLAVOR" = mysql ] && [ -x "$MYSQL_BASEDIR/bin/mysql" ]; then
  CLIENT=$MYSQL_BASEDIR/bin/mysql
else
  command -v mariadb >/dev/null || missing+=(mariadb-client)
fi
if [ "$FLAVOR" = mariadb ]; then
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
fi
command -v cc >/dev/null || missing+=(build-essential)
command -v cmake >/dev/null || missing+=(cmake)      # pingora's build needs it
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  log "installing ${missing[*]} (apt-get)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || die "cargo not found: install Rust (rustup) first"
MARIADBD=$(command -v mariadbd || echo /usr/sbin/mariadbd)
ROOT_FLAG=(); [ "$(id -u)" -eq 0 ] && ROOT_FLAG=(--user=root)   # mariadbd and mysqld refuse to run as root without it

# --- helpers --------------------------------------------------------------------------------------
# alive PIDFILE PATTERN: the pid in PIDFILE runs (not a zombie) and its command line contains PATTERN,
# so a stale pid file whose pid was reused by another program does not count.
alive() {
  [ -s "$1" ] || return 1
  local pid; pid=$(cat "$1")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"
}
pid_running() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
refuse_busy_port() { # port what
  if port_busy "$1"; then
    ss -ltnp "sport = :$1" >&2 2>/dev/null || true
    die "port $1 is already in use by another program, so $2 cannot start there (see above)"
  fi
}
fail_with_log() { # logfile message
  if [ -f "$1" ]; then printf '[up] --- last lines of %s ---\n' "$1" >&2; tail -n 25 "$1" >&2; fi
  die "$2"
}
sql() { "$CLIENT" --no-defaults --protocol=TCP -h127.0.0.1 -P"$1" -uroot --batch --skip-column-names -e "$2"; }

# wait_until NAME PID LOGFILE COMMAND...: COMMAND succeeds within TIMEOUT, or PID dies, or we give up.
wait_until() {
  local name=$1 pid=$2 logfile=$3 t0; shift 3
  t0=$(date +%s.%N)
  local deadline=$(( $(date +%s) + TIMEOUT ))
  while ! "$@" >/dev/null 2>&1; do
    pid_running "$pid" || fail_with_log "$logfile" "$name exited while starting (log: $logfile)"
    [ "$(date +%s)" -lt "$deadline" ] || fail_with_log "$logfile" "$name did not accept connections within ${TIMEOUT}s (log: $logfile)"
    sleep 0.2
  done
  log "$name is up (pid $pid, $(elapsed "$t0"))"
}

# MySQL: one data directory initialised with --initialize-insecure (3 s idle, minutes on a busy machine)
# and copied for each server, without auto.cnf so each makes its own server_uuid. root@localhost is
# socket-only; the bootstrap adds root@127.0.0.1 (no password, like MariaDB's) for the setup below.
mysql_template() {
  local tpl="$DATA/mysql-template"
  [ -d "$tpl/mysql" ] && return 0
  log "initialising a MySQL data directory in $tpl ($MYSQL_BASEDIR)"
  rm -rf "$tpl" "$DATA/mysql-template.tmp"; mkdir -p "$DATA/mysql-template.tmp"
  printf '%s\n' "CREATE USER 'root'@'127.0.0.1' IDENTIFIED WITH caching_sha2_password BY '';" \
    "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" >"$DATA/mysql-template.tmp/init.sql"
  if ! "$MYSQL_BASEDIR/bin/mysqld" --no-defaults "${ROOT_FLAG[@]}" --basedir="$MYSQL_BASEDIR" --datadir="$tpl" \
    --tmpdir="$DATA/mysql-template.tmp" --init-file="$DATA/mysql-template.tmp/init.sql" --initialize-insecure \
    >"$DATA/mysql-template.log" 2>&1 9>&-; then
    rm -rf "$tpl"
    fail_with_log "$DATA/mysql-template.log" "mysqld --initialize-insecure failed"
  fi
  rm -f "$tpl/auto.cnf"; rm -rf "$DATA/mysql-template.tmp"
}

# start_db NAME PORT SERVER_ID [extra server flags...]: initialises (once) and starts a server of the
# flavour unless it already runs.
start_db() {
  local name=$1 port=$2 id=$3 dir="$DATA/$1"; shift 3
  if alive "$dir/pid" "--datadir=$dir"; then log "$name already running on 127.0.0.1:$port (pid $(cat "$dir/pid"))"; return 0; fi
  refuse_busy_port "$port" "$name"
  if [ "$FLAVOR" = mysql ]; then
    if [ ! -d "$dir/mysql" ]; then
      mysql_template
      log "initialising $name in $dir (a copy of the MySQL template)"
      rm -rf "$dir"; cp -a "$DATA/mysql-template" "$dir"
    fi
    mkdir -p "$dir/tmp"
    rm -f "$dir/pid"
    log "starting $name on 127.0.0.1:$port (MySQL; log: $DATA/$name.err)"
    nohup "$MYSQL_BASEDIR/bin/mysqld" --no-defaults "${ROOT_FLAG[@]}" --basedir="$MYSQL_BASEDIR" --datadir="$dir" \
      --port="$port" --bind-address=127.0.0.1 --socket="$dir/sock" --pid-file="$dir/pid" --tmpdir="$dir/tmp" \
      --log-error="$DATA/$name.err" --server-id="$id" --log-bin=bin --gtid-mode=ON --enforce-gtid-consistency=ON \
      --max-allowed-packet=64M --skip-name-resolve --max-connections=2000 --innodb-buffer-pool-size=128M \
      --local-infile=ON "$@" </dev/null >>"$DATA/$name.out" 2>&1 9>&- &
    local pid=$!
    disown "$pid"
    wait_until "$name" "$pid" "$DATA/$name.err" sql "$port" "SELECT 1"
    return 0
  fi
  if [ ! -d "$dir/mysql" ]; then
    log "initialising $name in $dir"
    rm -rf "$dir"; mkdir -p "$dir"
    if ! mariadb-install-db --no-defaults "${ROOT_FLAG[@]}" --datadir="$dir" --auth-root-authentication-method=normal \
      --skip-test-db >"$DATA/$name.install.log" 2>&1 9>&-; then
      rm -rf "$dir"   # a half-initialised directory would be taken as ready next time
      fail_with_log "$DATA/$name.install.log" "mariadb-install-db failed for $name"
    fi
  fi
  mkdir -p "$dir/tmp"
  rm -f "$dir/pid"
  log "starting $name on 127.0.0.1:$port (log: $DATA/$name.err)"
  nohup "$MARIADBD" --no-defaults "${ROOT_FLAG[@]}" --datadir="$dir" --port="$port" --bind-address=127.0.0.1 \
    --socket="$dir/sock" --pid-file="$dir/pid" --tmpdir="$dir/tmp" --log-error="$DATA/$name.err" \
    --server-id="$id" --log-bin --log-slave-updates --binlog-format=ROW --gtid-strict-mode=1 \
    --max-allowed-packet=64M --skip-name-resolve --max-connections=2000 --innodb-buffer-pool-size=128M \
    "$@" </dev/null >>"$DATA/$name.out" 2>&1 9>&- &
  local pid=$!
  disown "$pid"
  wait_until "$name" "$pid" "$DATA/$name.err" sql "$port" "SELECT 1"
}

# --- primary --------------------------------------------------------------------------------------
start_db primary "$PRIMARY_PORT" 1
if [ ! -f "$DATA/primary/.accounts" ]; then
  log "creating accounts on the primary: app/app, monitor/monitor, repl/repl; database app"
  # MySQL: caching_sha2_password (MySQL 9 has no other password plugin); the monitor's privileges
  # have other names there.
  identified="IDENTIFIED BY" monitor_grants="SLAVE MONITOR, BINLOG MONITOR, PROCESS"
  if [ "$FLAVOR" = mysql ]; then
    identified="IDENTIFIED WITH caching_sha2_password BY" monitor_grants="REPLICATION CLIENT, PROCESS"
  fi
  # Anonymous users shadow user@'%' for local clients; they go, like on a production server. The DROPs
  # are binlogged, so the replicas (initialised the same way) lose theirs too.
  for host in $(sql "$PRIMARY_PORT" "SELECT host FROM mysql.user WHERE user = ''"); do
    sql "$PRIMARY_PORT" "DROP USER IF EXISTS ''@'$host'"
  done
  # app: what an application needs, but no SUPER / READ_ONLY ADMIN / CONNECTION_ADMIN, so read_only
  # (MySQL: super_read_only) refuses its writes on a replica. monitor: replication and binlog state and
  # the process list only.
  sql "$PRIMARY_PORT" "
    CREATE USER IF NOT EXISTS 'repl'@'%' $identified 'repl';
    GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';
    CREATE USER IF NOT EXISTS 'app'@'%' $identified 'app';
    GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE TEMPORARY TABLES, LOCK TABLES,
      EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, TRIGGER, EVENT, REFERENCES, PROCESS
      ON *.* TO 'app'@'%';
    CREATE USER IF NOT EXISTS 'monitor'@'%' $identified 'monitor';
    GRANT $monitor_grants ON *.* TO 'monitor'@'%';
    CREATE DATABASE IF NOT EXISTS app;"
  touch "$DATA/primary/.accounts"
fi

# --- replicas -------------------------------------------------------------------------------------
# The flavour's names: MySQL 8.4 removed the SLAVE/MASTER statements and columns.
if [ "$FLAVOR" = mysql ]; then
  R=Replica RO_VAR=super_read_only GTID_POS_SQL="SELECT REPLACE(@@global.gtid_executed, '\n', '')"
  START_REPLICATION="START REPLICA" SHOW_STATUS="SHOW REPLICA STATUS"
else
  R=Slave RO_VAR=read_only GTID_POS_SQL="SELECT @@gtid_binlog_pos"
  START_REPLICATION="START SLAVE" SHOW_STATUS="SHOW SLAVE STATUS"
fi
slave_field() { # port field
  "$CLIENT" --no-defaults --protocol=TCP -h127.0.0.1 -P"$1" -uroot --vertical -e "$SHOW_STATUS" 2>/dev/null | awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ /, ""); print; exit }'
}
replicating() { [ "$(slave_field "$1" "${R}_IO_Running")" = Yes ] && [ "$(slave_field "$1" "${R}_SQL_Running")" = Yes ]; }
# The replica's applied GTID position, for messages.
replica_pos() { # port
  if [ "$FLAVOR" = mysql ]; then sql "$1" "$GTID_POS_SQL"; else sql "$1" "SELECT @@gtid_slave_pos"; fi
}
# (Re)points a replica at the primary. RESET SLAVE drops relay logs and master.info but keeps
# gtid_slave_pos, so with MASTER_USE_GTID=slave_pos replication resumes where it stopped.
point_at_primary() { # port
  if [ "$FLAVOR" = mysql ]; then
    # SOURCE_AUTO_POSITION: the replica asks for what its gtid_executed lacks. GET_SOURCE_PUBLIC_KEY:
    # repl is a caching_sha2_password account and replication runs without TLS.
    sql "$1" "SET GLOBAL super_read_only = 1;
      STOP REPLICA; RESET REPLICA;
      CHANGE REPLICATION SOURCE TO SOURCE_HOST='127.0.0.1', SOURCE_PORT=$PRIMARY_PORT, SOURCE_USER='repl',
        SOURCE_PASSWORD='repl', SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1, SOURCE_CONNECT_RETRY=1;
      START REPLICA;"
    return
  fi
  sql "$1" "SET GLOBAL read_only = 1;
    STOP SLAVE; RESET SLAVE;
    CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$PRIMARY_PORT, MASTER_USER='repl',
      MASTER_PASSWORD='repl', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
    START SLAVE;"
}
for r in "replica1 3308 2" "replica2 3309 3"; do
  read -r name port id <<<"$r"
  # Read-only from the start: a replica that was killed comes back refusing writes at once.
  if [ "$FLAVOR" = mysql ]; then start_db "$name" "$port" "$id" --super-read-only=ON
  else start_db "$name" "$port" "$id" --read-only=1; fi
  if [ ! -f "$DATA/$name/.replicating" ]; then
    log "pointing $name at the primary (GTID)"
    [ "$FLAVOR" = mysql ] || sql "$port" "SET GLOBAL gtid_slave_pos = ''"
    point_at_primary "$port"
    touch "$DATA/$name/.replicating"
  else
    # A restarted replica starts its replication threads by itself; START covers a stopped one.
    sql "$port" "SET GLOBAL $RO_VAR = 1; $START_REPLICATION;" >/dev/null 2>&1 || true
  fi
done
# Both replication threads run and each replica has applied everything the primary has (the accounts
# included), or the topology is reported broken with the replica's own error.
primary_pos=$(sql "$PRIMARY_PORT" "$GTID_POS_SQL")
for r in "replica1 3308" "replica2 3309"; do
  read -r name port <<<"$r"
  t0=$(date +%s.%N)
  for _ in $(seq 1 25); do replicating "$port" && break; sleep 0.2; done
  if ! replicating "$port" && [ -z "$(slave_field "$port" Last_SQL_Error)" ]; then
    # Threads not running without an SQL error: lost relay logs or master.info (a crash, other
    # flags). Repoint from the replica's GTID position; an SQL error (diverged data) is reported, not
    # papered over.
    io_error=$(slave_field "$port" Last_IO_Error)
    log "$name does not replicate${io_error:+ ($io_error)}; repointing it at the primary from GTID $(replica_pos "$port")"
    point_at_primary "$port" || true
    for _ in $(seq 1 25); do replicating "$port" && break; sleep 0.2; done
  fi
  caught_up=-1
  wait_fn=MASTER_GTID_WAIT; [ "$FLAVOR" = mysql ] && wait_fn=WAIT_FOR_EXECUTED_GTID_SET
  replicating "$port" && caught_up=$(sql "$port" "SELECT $wait_fn('$primary_pos', $TIMEOUT)")
  if [ "$caught_up" != 0 ] || ! replicating "$port"; then
    printf '[up] %s: %s_IO_Running=%s %s_SQL_Running=%s\n  Last_IO_Error: %s\n  Last_SQL_Error: %s\n' \
      "$name" "$R" "$(slave_field "$port" "${R}_IO_Running")" "$R" "$(slave_field "$port" "${R}_SQL_Running")" \
      "$(slave_field "$port" Last_IO_Error)" "$(slave_field "$port" Last_SQL_Error)" >&2
    fail_with_log "$DATA/$name.err" "$name does not replicate from the primary (primary at gtid $primary_pos); ./deploy/local/down.sh --purge starts afresh"
  fi
  log "$name replicates (GTID $(replica_pos "$port"), caught up in $(elapsed "$t0"))"
done

# --- redis ----------------------------------------------------------------------------------------
if command -v redis-server >/dev/null; then
  if alive "$DATA/redis.pid" ":$REDIS_PORT"; then
    log "redis already running on 127.0.0.1:$REDIS_PORT (pid $(cat "$DATA/redis.pid"))"
  else
    refuse_busy_port "$REDIS_PORT" redis
    rm -f "$DATA/redis.pid"
    log "starting redis on 127.0.0.1:$REDIS_PORT (log: $DATA/redis.log)"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
      --pidfile "$DATA/redis.pid" --logfile "$DATA/redis.log" --dir "$DATA" </dev/null >>"$DATA/redis.out" 2>&1 9>&- \
      || fail_with_log "$DATA/redis.out" "redis-server failed to start"
    for _ in $(seq 1 50); do [ -s "$DATA/redis.pid" ] && break; sleep 0.1; done
    [ -s "$DATA/redis.pid" ] || fail_with_log "$DATA/redis.log" "redis did not start (log: $DATA/redis.log)"
    redis_ping() {
      if command -v redis-cli >/dev/null; then [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping)" = PONG ]
      else port_busy "$REDIS_PORT"; fi
    }
    wait_until redis "$(cat "$DATA/redis.pid")" "$DATA/redis.log" redis_ping
  fi
else
  log "redis-server is not installed: no L2 cache (apt-get install redis-server to have one)"
fi

# --- sluice ---------------------------------------------------------------------------------------
[ -f "$CONFIG" ] || die "config $CONFIG does not exist"
# sluice-replay too: `target/release/sluice replay` runs the sluice-replay beside it.
log "building sluice (cargo build --release -p sluice -p sluice-replay; the first build takes several minutes)"
t0=$(date +%s.%N)
(cd "$ROOT" && cargo build --release -q -p sluice -p sluice-replay 9>&-) \
  || die "cargo build --release -p sluice -p sluice-replay failed"
log "build done ($(elapsed "$t0"))"
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/sluice
[ -x "$BIN" ] || die "$BIN was not built"
export SLUICE_BACKEND_PASSWORD=${SLUICE_BACKEND_PASSWORD:-app}
export SLUICE_MONITOR_PASSWORD=${SLUICE_MONITOR_PASSWORD:-monitor}
if ! out=$("$BIN" check-config "$CONFIG" 2>&1); then
  printf '%s\n' "$out" >&2
  die "sluice check-config $CONFIG failed (see above)"
fi

PIDFILE="$DATA/sluice.pid"
SLUICE_LOG="$DATA/sluice.log"
if alive "$PIDFILE" "--config" && [ ! "$BIN" -nt "$PIDFILE" ] && [ ! "$CONFIG" -nt "$PIDFILE" ]; then
  log "sluice already running on 127.0.0.1:$SLUICE_PORT (pid $(cat "$PIDFILE"))"
else
  if alive "$PIDFILE" "--config"; then
    old=$(cat "$PIDFILE")
    log "restarting sluice (pid $old): its binary or config is newer than the running process"
    kill -TERM "$old" 2>/dev/null || true
    for _ in $(seq 1 $((TIMEOUT * 10))); do pid_running "$old" || break; sleep 0.1; done
    if pid_running "$old"; then log "sluice pid $old did not stop in ${TIMEOUT}s: SIGKILL"; kill -KILL "$old" 2>/dev/null || true; sleep 0.5; fi
  fi
  rm -f "$PIDFILE"
  refuse_busy_port "$SLUICE_PORT" sluice
  log "starting sluice on 127.0.0.1:$SLUICE_PORT (log: $SLUICE_LOG)"
  printf '\n=== %s: %s --config %s\n' "$(date -Is)" "$BIN" "$CONFIG" >>"$SLUICE_LOG"
  nohup "$BIN" --config "$CONFIG" </dev/null >>"$SLUICE_LOG" 2>&1 9>&- &
  disown $!
  echo $! >"$PIDFILE"
  # A sluice that does not come up is stopped, so the next run does not take it for a running one.
  ON_FAIL='log "stopping sluice pid $(cat "$PIDFILE")"; kill -KILL "$(cat "$PIDFILE")" 2>/dev/null || true; rm -f "$PIDFILE"'
  sluice_login() { "$CLIENT" --no-defaults --protocol=TCP -h127.0.0.1 -P"$SLUICE_PORT" -uapp -papp app -e "SELECT 1"; }
  wait_until sluice "$(cat "$PIDFILE")" "$SLUICE_LOG" sluice_login
  ON_FAIL=""
fi

admin_note=""
port_busy 6032 || admin_note="   (not answering yet: the admin interface is still to come)"
cat <<MSG

sluice runs on 127.0.0.1:$SLUICE_PORT in front of the $FLAVOR primary 127.0.0.1:$PRIMARY_PORT and the replicas 3308, 3309$(command -v redis-server >/dev/null && echo ", redis $REDIS_PORT") ($(elapsed "$T0")).
  data, pid files and logs: $DATA   (sluice's log: $DATA/sluice.log)
  connect:  $CLIENT -h127.0.0.1 -P$SLUICE_PORT -uapp -papp app
  admin:    $CLIENT -h127.0.0.1 -P6032 -uadmin -padmin$admin_note
  direct:   $CLIENT -h127.0.0.1 -P$PRIMARY_PORT -uroot        (primary; replicas on 3308, 3309)
  stop:     ./deploy/local/down.sh      (--purge also deletes $DATA)
MSG
