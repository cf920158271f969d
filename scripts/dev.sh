#!/usr/bin/env bash
# Runs Tessera on this machine: an embedded PostgreSQL (installed from Debian's packages if
# missing), the gRPC server, and prints how to connect. Extra arguments go to `tessera dev`
# (see `scripts/dev.sh --help`). Data lives in .tessera/ unless --data-dir says otherwise.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  echo "dev: installing PostgreSQL from Debian's packages" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
cargo build --quiet -p tessera-server --bin tessera
exec "$root/target/debug/tessera" dev "$@"
