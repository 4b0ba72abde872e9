#!/usr/bin/env bash
# The one command that runs every test, on a fresh machine too: installs what is missing, then checks
# formatting, lints (Rust, and deploy/ with scripts/lint-deploy.sh), and runs all Rust tests (unit,
# doc-free integration tests against a real MariaDB primary + 2 GTID replicas + Redis started by the
# test harness, and the PyMySQL suite they run). The MySQL flavour of the integration tests (the same
# topology on MySQL 8.4/9.x, and then the whole integration suite again on it) runs when
# SLUICE_MYSQL_BASEDIR names a MySQL install (.ci/run sets it);
# without it the summary says in one line that it was not run.
# Every step runs even if an earlier check failed; the exit status is non-zero if any step failed.
# At the end it stops the shared test topology and prints how long each step took.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

T_START=$(date +%s)
SUMMARY=()     # one line per finished step
FAILED=()      # names of failed steps
CURRENT=""     # the step running now (for the summary if the script is interrupted)

step() { # name command...
  local name=$1 t0 rc=0; shift
  CURRENT=$name
  t0=$(date +%s)
  printf '\n== %s: %s\n' "$name" "$*"
  "$@" || rc=$?
  local dt=$(( $(date +%s) - t0 ))
  if [ "$rc" -eq 0 ]; then
    SUMMARY+=("$(printf '  ok      %5ss  %s' "$dt" "$name")")
  else
    SUMMARY+=("$(printf '  FAILED  %5ss  %s (exit %s)' "$dt" "$name" "$rc")")
    FAILED+=("$name")
  fi
  CURRENT=""
  return "$rc"
}

finish() {
  local rc=$?
  # The harness starts one MariaDB + Redis topology per test run and leaves it for the next test
  # process; nothing should outlive this script.
  if [ -x "$TARGET_DIR/debug/sluice-topology" ]; then
    # One line per flavour's shared topology.
    printf '\n== stopping the shared test topologies\n%s\n' \
      "$("$TARGET_DIR/debug/sluice-topology" stop 2>&1 | tail -n 2 || true)"
  fi
  printf '\n== summary (%ss in all)\n' $(( $(date +%s) - T_START ))
  [ ${#SUMMARY[@]} -eq 0 ] || printf '%s\n' "${SUMMARY[@]}"
  [ -n "${SLUICE_MYSQL_BASEDIR:-}" ] \
    || echo "MySQL flavour not run: SLUICE_MYSQL_BASEDIR is not set (point it at a MySQL 8.4/9.x install)"
  [ -z "$CURRENT" ] || printf '  INTERRUPTED     %s\n' "$CURRENT"
  if [ ${#FAILED[@]} -gt 0 ]; then
    local list; list=$(printf '%s, ' "${FAILED[@]}")
    printf 'FAILED: %s\n' "${list%, }"
    [ "$rc" -ne 0 ] || rc=1
  elif [ "$rc" -eq 0 ]; then
    echo "all steps passed"
  fi
  exit "$rc"
}
trap finish EXIT

# Whatever a fresh Debian machine lacks. Checked with command -v first, so a second run is instant.
install_missing() {
  local pkgs=() sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || pkgs+=(mariadb-server)
  command -v mariadb >/dev/null || pkgs+=(mariadb-client)
  command -v redis-server >/dev/null || pkgs+=(redis-server)
  command -v cmake >/dev/null || pkgs+=(cmake)            # pingora's build needs it
  command -v cc >/dev/null || pkgs+=(build-essential)
  command -v python3 >/dev/null || pkgs+=(python3)
  python3 -m pip --version >/dev/null 2>&1 || pkgs+=(python3-pip)
  command -v pt-query-digest >/dev/null || pkgs+=(percona-toolkit)   # the slow-log test parses with it
  command -v promtool >/dev/null || pkgs+=(prometheus)               # checks deploy/prometheus/alerts.yml
  command -v chromium >/dev/null || pkgs+=(chromium)                 # renders the status page headless
  # The JDBC and Node differential driver tests (tests/java, tests/node).
  [ -f /usr/share/java/mariadb-java-client.jar ] || pkgs+=(libmariadb-java)
  command -v javac >/dev/null || pkgs+=(default-jdk-headless)
  command -v npm >/dev/null || pkgs+=(npm)
  if [ ${#pkgs[@]} -gt 0 ]; then
    echo "installing ${pkgs[*]} (apt-get)"
    $sudo apt-get update -qq || return 1
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null || return 1
  else
    echo "mariadb, redis, cmake, cc, python3, pip, percona-toolkit, prometheus and chromium are installed"
  fi
  if python3 -c 'import pymysql' 2>/dev/null; then
    echo "PyMySQL is installed"
  else
    echo "installing PyMySQL (pip)"
    # Debian 12 marks its Python as externally managed: --break-system-packages only when pip says so.
    python3 -m pip install -q PyMySQL 2>/dev/null \
      || python3 -m pip install -q --break-system-packages PyMySQL || return 1
    python3 -c 'import pymysql' || return 1
  fi
  if python3 -c 'import mysql.connector' 2>/dev/null; then
    echo "mysql-connector-python is installed"
  else
    echo "installing mysql-connector-python (pip; the differential driver test uses it)"
    python3 -m pip install -q mysql-connector-python 2>/dev/null \
      || python3 -m pip install -q --break-system-packages mysql-connector-python || return 1
    python3 -c 'import mysql.connector' || return 1
  fi
  if [ tests/node/node_modules/.package-lock.json -nt tests/node/package-lock.json ]; then
    echo "the Node drivers (tests/node) are installed"
  else
    echo "installing the Node drivers (npm ci in tests/node; the differential driver test uses them)"
    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error) || return 1
  fi
  command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; return 1; }
}

# The MySQL install the MySQL flavour runs on, and its data-dir template initialized now: a first
# initialization on a busy machine takes minutes, which would otherwise count against the first MySQL
# test's time limit.
mysql_flavour() {
  local mysqld="$SLUICE_MYSQL_BASEDIR/bin/mysqld"
  [ -x "$mysqld" ] || { echo "SLUICE_MYSQL_BASEDIR=$SLUICE_MYSQL_BASEDIR has no bin/mysqld" >&2; return 1; }
  echo "MySQL flavour on $("$mysqld" --version) ($SLUICE_MYSQL_BASEDIR)"
  cargo build -q -p sluice-tests --bin sluice-topology || return 1
  "$TARGET_DIR/debug/sluice-topology" mysql-template
}

run_tests() {
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
  else
    echo "cargo-nextest is not installed: running cargo test instead"
    cargo test --workspace --no-fail-fast
  fi
}

# The whole integration suite a second time, on the MySQL topology (SLUICE_TEST_FLAVOR=mysql makes
# every shared-topology and private-topology test run there; tests of what only MariaDB has skip with a
# printed reason). The generated differential runs here with server bugs it would trip over left out of
# its sequences (tests/tests/proxy/differential.rs, `mysql_words`).
run_tests_mysql() {
  SLUICE_TEST_FLAVOR=mysql cargo nextest run -p sluice-tests --no-fail-fast
}

# A short fuzz smoke: every cargo-fuzz target in fuzz/ for FUZZ_SECONDS (default 5) each, failing on
# any crash. The stable toolchain accepts cargo-fuzz's nightly flags with RUSTC_BOOTSTRAP=1.
# Corpora stay in fuzz/corpus (gitignored) and grow run after run; longer runs: fuzz/README.md.
fuzz_smoke() {
  export RUSTC_BOOTSTRAP=1
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz (crates.io)"
    cargo install --locked cargo-fuzz || return 1
  fi
  local secs=${FUZZ_SECONDS:-5} t
  # One build for every target (the config target needs the `config` feature, which links the proxy).
  (cd fuzz && cargo fuzz build --sanitizer none --dev --features config) || return 1
  local log; log=$(mktemp)
  for t in $(cd fuzz && cargo fuzz list); do
    # fuzz/corpus/<t> collects what the runs find; fuzz/seeds/<t> (committed) gives them a start.
    local dirs=("corpus/$t")
    mkdir -p "fuzz/corpus/$t"
    [ -d "fuzz/seeds/$t" ] && dirs+=("seeds/$t")
    # Statements and logs are read whole up to 1 MiB (sqlparser's path, the log readers); packets,
    # headers and entries are small. (Long runs of plan and logs keep their corpora in
    # fuzz/corpus/long: a large input takes seconds in this unoptimized build.)
    local max_len=4096
    case $t in plan | logs) max_len=1048576 ;; esac
    if (cd fuzz && cargo fuzz run --sanitizer none --dev --features config "$t" "${dirs[@]}" -- \
        -max_total_time="$secs" -max_len="$max_len" >"$log" 2>&1); then
      echo "fuzz $t: $(grep -E '^Done' "$log" || echo ok)"
    else
      echo "fuzz $t FAILED:"
      grep -E -A3 'panicked|SUMMARY|Test unit written|^error' "$log" | head -n 20
      rm -f "$log"
      return 1
    fi
  done
  rm -f "$log"
}

step "install missing packages" install_missing || exit 1
step "cargo fmt --check" cargo fmt --all -- --check || true
step "cargo clippy -D warnings" cargo clippy --workspace --all-targets -- -D warnings || true
step "lint deploy files" env LINT_DEPLOY_BUILD=0 scripts/lint-deploy.sh || true
[ -z "${SLUICE_MYSQL_BASEDIR:-}" ] || step "MySQL flavour" mysql_flavour || true
step "tests" run_tests || true
[ -z "${SLUICE_MYSQL_BASEDIR:-}" ] || step "integration tests on MySQL" run_tests_mysql || true
step "fuzz smoke" fuzz_smoke || true
