#!/usr/bin/env bash
# Gates of the Go client: go.mod tidiness, gofmt, go vet, and go test against the real Tessera
# server (the tests start `tessera dev` themselves). The proto gates (lint, breaking, generated-code
# drift) are scripts/check-protos.sh, which scripts/test.sh runs for every language. Installs what it needs first; runs from any directory.
# Usage: clients/go/run-tests.sh [go test flags…]   e.g. -run TestWatch -v
# Env: TESSERA_BIN       the server binary (default: target/debug/tessera, built here when unset)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

step() { printf '\n==> go client: %s\n' "$*"; }

step "installing tools"
bash scripts/install-tools.sh
export PATH="$root/.tools/bin:$root/.tools/node_modules/.bin:$PATH"

cd "$here"

step "go.mod and go.sum are tidy"
go mod tidy -diff

step "gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "not gofmt-formatted: $unformatted" >&2
  exit 1
fi

step "go vet"
go vet ./...

if [ -z "${TESSERA_BIN:-}" ]; then
  # The whole workspace, as scripts/dev.sh and scripts/test.sh build it: a -p subset unifies
  # features differently and would rebuild shared dependencies.
  step "building the server (cargo build --workspace --bins)"
  (cd "$root" && cargo build --workspace --bins)
fi

step "go test"
race=()
# The race detector needs cgo and a C compiler; use it wherever they are present.
if [ "$(go env CGO_ENABLED)" = 1 ] && command -v "$(go env CC)" >/dev/null 2>&1; then race=(-race); fi
go test -count=1 "${race[@]}" -timeout 10m "$@" ./...
