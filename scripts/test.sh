#!/usr/bin/env bash
# Runs every test of the repository from a fresh clone: the lint gates, Rust (unit, integration
# against a real PostgreSQL, end to end with the real binaries), the Python, Go, Java and TypeScript
# clients, and the failover drill on a highly available PostgreSQL (tests/ha/).
# Installs what it needs first (scripts/install-tools.sh). Usage: scripts/test.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "installing tools"
bash scripts/install-tools.sh
export PATH="$root/.tools/bin:$root/.tools/node_modules/.bin:$PATH"

target_dir=${CARGO_TARGET_DIR:-$root/target}
stop_test_postgres() {
  # The Rust tests share one embedded PostgreSQL under target/ (see tessera-store's testing module);
  # stop it when the run ends.
  local cluster="$target_dir/tessera-test-pg"
  # As root with a checkout postgres cannot reach, the cluster lives elsewhere; this file says where.
  if [ -f "$cluster/cluster-location" ]; then cluster=$(cat "$cluster/cluster-location"); fi
  local pidfile="$cluster/pgdata/postmaster.pid"
  if [ -f "$pidfile" ]; then
    kill -INT "$(head -n 1 "$pidfile")" 2>/dev/null || true
    # Poll the pid file rather than the pid: an orphaned postgres may linger as a zombie.
    for _ in $(seq 100); do [ -f "$pidfile" ] || break; sleep 0.1; done
  fi
}
trap stop_test_postgres EXIT

step "protos: buf lint, buf breaking, generated-code drift (Go, Python, TypeScript, Java)"
bash scripts/check-protos.sh

step "type names: each means one thing in the workspace (scripts/check-type-names.py)"
python3 scripts/check-type-names.py

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo build"
cargo build --workspace --all-targets --quiet

step "deploy/ checks (helm, manifests, systemd, compose, Dockerfile)"
bash deploy/check.sh "$target_dir"

# The SDK suites run first, on the binaries just built: besides testing each SDK, they leave what
# the Rust tests use from them (the Python venv and Go modules for tests/e2e/client_traces.rs, the
# Java classpath and the TypeScript build for the bench smoke's Java and Node rows).
other_status=0
for suite in clients/python/run-tests.sh clients/go/run-tests.sh clients/java/run-tests.sh \
  clients/typescript/run-tests.sh; do
  if [ -f "$suite" ]; then
    step "$suite"
    TESSERA_BIN="$target_dir/debug/tessera" bash "$suite" || other_status=1
  fi
done

# Tessera through PostgreSQL primary failovers under load: a Patroni + etcd + haproxy cluster, two
# replicas and the HTTP edge, 2 primary kills and 1 switchover (about a minute; `tests/ha/run.sh
# --long` is the 10-kill version). Prints "SKIPPED: <reason>" where Patroni, etcd or haproxy
# cannot run.
step "tests/ha/run.sh (PostgreSQL failover under load)"
TESSERA_BIN="$target_dir/debug/tessera" bash tests/ha/run.sh || other_status=1

step "cargo test"
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$target_dir/cargo-test.log"
rust_status=${PIPESTATUS[0]}
set -e

if [ "$rust_status" -ne 0 ] || [ "$other_status" -ne 0 ]; then
  echo "FAILED: rust=$rust_status others=$other_status" >&2
  exit 1
fi
echo
echo "all tests passed"
