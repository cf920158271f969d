#!/usr/bin/env bash
# Gates of the TypeScript client: formatting (Prettier) and lint (ESLint with typescript-eslint's
# recommended rules), generated stubs excluded; the build (tsc, strict, ESM and CommonJS outputs) and the tests
# (node's test runner, one process) against the real Tessera server (the tests start `tessera dev`
# and `tessera serve` replicas themselves). The proto gates (generated-code drift among them) are
# scripts/check-protos.sh, which scripts/test.sh runs for every language. Dependencies come from
# package-lock.json (npm ci, in scripts/install-tools.sh).
# Usage: clients/typescript/run-tests.sh [node --test args…]   e.g. --test-name-pattern=watch
# Env: TESSERA_BIN  the server binary (default: target/debug/tessera, built here when unset)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

step() { printf '\n==> typescript client: %s\n' "$*"; }

step "installing tools (npm ci from the lockfile among them)"
bash scripts/install-tools.sh

step "prettier --check, eslint (npm run lint; npm run format fixes the formatting)"
(cd "$here" && npm run --silent lint)

step "build (tsc: ESM and CommonJS)"
(cd "$here" && npm run --silent build)

step "a TypeScript consumer type-checks against the built package (test/consumer.ts)"
(cd "$here" && npx tsc -p test/tsconfig.json)

if [ -z "${TESSERA_BIN:-}" ]; then
  # The whole workspace, as scripts/dev.sh and scripts/test.sh build it: a -p subset unifies
  # features differently and would rebuild shared dependencies.
  step "building the server (cargo build --workspace --bins)"
  cargo build --workspace --bins
  TESSERA_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/tessera"
fi
TESSERA_BIN=$(realpath "$TESSERA_BIN")
export TESSERA_BIN

step "node --test"
cd "$here"
node --test "$@" test/main.test.mjs
