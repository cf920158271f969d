#!/usr/bin/env bash
# The proto gates, in one place for every language: `buf lint`, `buf breaking` against the last
# landed main (scripts/buf-breaking.sh says which baseline and why), and generated-code drift for
# every generated client (Go under clients/go/gen, Python under
# clients/python/src/tessera_auth_client/_proto, TypeScript under clients/typescript/src/gen, Java
# under clients/java/src/main/java/io/github/tesseraauth/tessera): scripts/generate.sh writes a fresh copy into a
# temporary directory, which must equal what is in the tree and what is committed.
# Needs the tools of scripts/install-tools.sh (run first; scripts/test.sh does). Usage: scripts/check-protos.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$root/.tools/bin:$root/.tools/node_modules/.bin:$PATH"
cd "$root"

step() { printf '\n==> protos: %s\n' "$*"; }

step "buf lint"
buf lint

step "buf breaking (against the last landed main)"
bash scripts/buf-breaking.sh

step "generated code is up to date"
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
bash scripts/generate.sh "$fresh" >/dev/null
status=0
for generated in clients/go/gen clients/python/src/tessera_auth_client/_proto \
  clients/typescript/src/gen clients/java/src/main/java/io/github/tesseraauth/tessera; do
  if ! diff -ru -x __pycache__ "$fresh/$generated" "$generated"; then
    echo "$generated differs from what buf generates from proto/: run scripts/generate.sh and commit the result" >&2
    status=1
    continue
  fi
  # What is in the tree must also be what is committed.
  if ! git diff --quiet -- "$generated"; then
    echo "$generated has uncommitted changes: commit what scripts/generate.sh wrote" >&2
    status=1
  fi
  untracked=$(git ls-files --others --exclude-standard -- "$generated")
  if [ -n "$untracked" ]; then
    echo "generated files not committed: $untracked" >&2
    status=1
  fi
done
[ "$status" = 0 ] && echo "generated code matches proto/ for Go, Python, TypeScript and Java"
exit "$status"
