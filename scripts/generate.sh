#!/usr/bin/env bash
# Regenerates the Go, Python, TypeScript and Java clients from proto/ with `buf generate` and the local plugins that
# scripts/install-tools.sh puts in .tools/ (run it first). Usage: scripts/generate.sh [OUT_ROOT]
# OUT_ROOT (default: the repository) is where the clients/ tree is written; the drift checks pass a
# temporary directory and compare it with what is committed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$root}" && cd "${1:-$root}" && pwd)
export PATH="$root/.tools/bin:$root/.tools/node_modules/.bin:$PATH"
cd "$root"

# --- Go (clients/go) pre-steps ---
# Start from an empty gen/ so code of a deleted proto file cannot linger.
rm -rf "$out/clients/go/gen"

# --- Python (clients/python) pre-steps ---
# The Python generators run from clients/python/.venv at pinned versions; create it if needed.
bash clients/python/tools/venv.sh >/dev/null
# Start from an empty generated package tree so code of a deleted proto file cannot linger.
rm -rf "$out/clients/python/src/tessera_auth_client/_proto"

# --- TypeScript (clients/typescript) pre-steps ---
# protoc-gen-es runs from clients/typescript/node_modules at the version the lockfile pins.
if [ ! -x clients/typescript/node_modules/.bin/protoc-gen-es ]; then
  (cd clients/typescript && npm ci --silent --no-audit --no-fund >/dev/null)
fi
rm -rf "$out/clients/typescript/src/gen"

# --- Java (clients/java) pre-steps ---
# Only the generated package is replaced; the hand-written client lives beside it.
rm -rf "$out/clients/java/src/main/java/io/github/tesseraauth/tessera"

buf generate --template buf.gen.yaml --output "$out"
buf generate --template buf.gen.java.yaml --output "$out"

# --- Go (clients/go) post-steps ---
# protoc-gen-go and protoc-gen-go-grpc already write gofmt-formatted code; nothing to do.

# --- Python (clients/python) post-steps ---
# protoc writes modules only: make every generated directory a regular package. The generators
# import each other as top-level `tessera.v1`; the stubs live inside tessera_auth_client instead
# (a top-level `tessera` would clash with another project's package), so point those imports there.
proto="$out/clients/python/src/tessera_auth_client/_proto"
find "$proto" -type d -exec touch {}/__init__.py \;
find "$proto" -name '*.py' -o -name '*.pyi' | while read -r file; do
  sed -i -e 's/^from tessera\.v1 import /from tessera_auth_client._proto.tessera.v1 import /' \
    -e "s/'tessera\.v1\.\([a-z_]*_pb2\)'/'tessera_auth_client._proto.tessera.v1.\1'/" "$file"
done
