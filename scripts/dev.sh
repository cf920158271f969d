#!/usr/bin/env bash
# Runs Tessera on this machine and prints how to connect (`tessera dev --edges`):
#   * an embedded PostgreSQL (installed from Debian's packages if missing), the gRPC server, a
#     bootstrapped admin account and an introspect-only service token;
#   * the HTTP edge (tessera-edge-http) in front of a small demo web app, with the /login page;
#   * the line-protocol edge (tessera-edge-line) in front of the demo job scheduler.
# Extra arguments go to `tessera dev` (`scripts/dev.sh --help`); TESSERA_DEV_EDGES=0 runs the gRPC
# server alone. Data lives in .tessera/ unless --data-dir says otherwise. Ctrl-C stops everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  echo "dev: installing PostgreSQL from Debian's packages" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
edges=(--edges)
if [ "${TESSERA_DEV_EDGES:-1}" = 0 ]; then edges=(); fi
# One build of the whole workspace, the same package set `cargo build --workspace` and the tests
# use, so nothing is compiled twice with different features. Cargo shows its progress (the first
# run compiles every dependency and takes minutes; later runs take seconds).
echo "dev: building the workspace (cargo build --workspace --bins)" >&2
cargo build --workspace --bins
exec "$root/target/debug/tessera" dev "${edges[@]}" "$@"
