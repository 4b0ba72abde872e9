#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what is missing, then formatting, lints, all Rust tests
# (unit, integration against a real MariaDB primary + 2 replicas + Redis started by the harness, and the
# PyMySQL suite run from them) and stops the shared test topology at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

step_start=$(date +%s)
summary=()
step() { # name command...
  local name=$1; shift
  local t0; t0=$(date +%s)
  printf '\n\033[1m== %s\033[0m\n' "$name"
  "$@"
  summary+=("$(printf '%-28s %4ss' "$name" $(( $(date +%s) - t0 )))")
}

cleanup() {
  if [ -x target/debug/sluice-topology ]; then target/debug/sluice-topology stop >/dev/null 2>&1 || true; fi
  if [ ${#summary[@]} -gt 0 ]; then
    printf '\n\033[1m== summary (%ss)\033[0m\n' $(( $(date +%s) - step_start ))
    printf '%s\n' "${summary[@]}"
  fi
}
trap cleanup EXIT

install_missing() {
  local pkgs=()
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || pkgs+=(mariadb-server)
  command -v mariadb >/dev/null || pkgs+=(mariadb-client)
  command -v redis-server >/dev/null || pkgs+=(redis-server)
  command -v cmake >/dev/null || pkgs+=(cmake)
  command -v cc >/dev/null || pkgs+=(build-essential)
  command -v python3 >/dev/null || pkgs+=(python3)
  python3 -m pip --version >/dev/null 2>&1 || pkgs+=(python3-pip)
  if [ ${#pkgs[@]} -gt 0 ]; then
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "installing ${pkgs[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${pkgs[@]}" >/dev/null
  fi
  if ! python3 -c 'import pymysql' 2>/dev/null; then
    python3 -m pip install -q PyMySQL 2>/dev/null || python3 -m pip install -q --break-system-packages PyMySQL
  fi
  command -v cargo-nextest >/dev/null || cargo nextest --version >/dev/null 2>&1 || cargo install -q cargo-nextest --locked
}

step "install missing packages" install_missing
step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
step "cargo nextest (all tests)" cargo nextest run --workspace --no-fail-fast
