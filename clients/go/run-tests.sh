#!/usr/bin/env bash
# Gates of the Go client: tools, buf lint, generated-code drift, gofmt, go vet, and go test against
# the real Tessera server (the tests start `tessera dev` themselves). Installs what it needs first.
# Usage: clients/go/run-tests.sh [go test flags…]   e.g. -run TestWatch -v
# Env: TESSERA_BIN selects the server binary (default: target/debug/tessera, built here if needed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

step() { printf '\n==> go client: %s\n' "$*"; }

step "installing tools"
bash scripts/install-tools.sh
export PATH="$root/.tools/bin:$root/.tools/node_modules/.bin:$PATH"

step "buf lint"
buf lint

step "generated code is up to date (clients/go/gen)"
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
bash scripts/generate.sh "$fresh" >/dev/null
if ! diff -ru "$fresh/clients/go/gen" clients/go/gen; then
  echo "clients/go/gen differs from what buf generates: run scripts/generate.sh and commit the result" >&2
  exit 1
fi
if [ -n "$(git ls-files -- clients/go/gen)" ]; then
  # Once committed, what is in the tree must also be what is committed.
  git diff --exit-code -- clients/go/gen
  untracked=$(git ls-files --others --exclude-standard -- clients/go/gen)
  if [ -n "$untracked" ]; then
    echo "generated files not committed: $untracked" >&2
    exit 1
  fi
fi

cd "$here"

step "gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "not gofmt-formatted: $unformatted" >&2
  exit 1
fi

step "go vet"
go vet ./...

if [ -z "${TESSERA_BIN:-}" ]; then
  step "building the server (cargo build -p tessera-server)"
  (cd "$root" && cargo build --quiet -p tessera-server --bin tessera)
fi

step "go test"
race=()
# The race detector needs cgo and a C compiler; use it wherever they are present.
if [ "$(go env CGO_ENABLED)" = 1 ] && command -v "$(go env CC)" >/dev/null 2>&1; then race=(-race); fi
go test -count=1 "${race[@]}" -timeout 15m "$@" ./...
