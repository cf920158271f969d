#!/usr/bin/env bash
# Gates of the Go client: tools, buf lint, buf breaking (against the last landed main), generated-code
# drift, go.mod tidiness, gofmt, go vet, and go test against the real Tessera server (the tests start
# `tessera dev` themselves). Installs what it needs first; runs from any directory.
# Usage: clients/go/run-tests.sh [go test flags…]   e.g. -run TestWatch -v
# Env: TESSERA_BIN       the server binary (default: target/debug/tessera, built here when unset)
#      TESSERA_BREAKING_AGAINST  a git revision for `buf breaking` (see buf-breaking.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

step() { printf '\n==> go client: %s\n' "$*"; }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

step "installing tools"
bash scripts/install-tools.sh
export PATH="$root/.tools/bin:$root/.tools/node_modules/.bin:$PATH"

step "buf lint"
buf lint

step "buf breaking (against the last landed main)"
bash "$here/buf-breaking.sh"

step "generated code is up to date (clients/go/gen)"
fresh="$scratch/fresh"
bash scripts/generate.sh "$fresh" >/dev/null
if ! diff -ru "$fresh/clients/go/gen" clients/go/gen; then
  echo "clients/go/gen differs from what buf generates from proto/: run scripts/generate.sh" >&2
  exit 1
fi

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
