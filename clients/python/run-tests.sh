#!/usr/bin/env bash
# Gates of the Python client: `pip install` of the package, mypy --strict, ruff, and pytest against
# the real Tessera server (the tests start `tessera dev` themselves). The proto gates (generated-code
# drift among them) are scripts/check-protos.sh, which scripts/test.sh runs for every language.
# Installs what it needs first: the repository's tools (scripts/install-tools.sh) and a venv in
# clients/python/.venv with the versions requirements-dev.txt pins.
# Usage: clients/python/run-tests.sh [pytest args…]   e.g. -k watch -v
# Env: TESSERA_BIN selects the server binary (default: target/debug/tessera, built here).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

step() { printf '\n==> python client: %s\n' "$*"; }

step "installing tools"
bash scripts/install-tools.sh
export PATH="$root/.tools/bin:$root/.tools/node_modules/.bin:$PATH"
venv=$(bash "$here/tools/venv.sh")

step "pip install ./clients/python"
# The tests import the installed package, not the source tree; `pip check` then holds its
# dependency ranges against the versions the venv pins.
# setuptools reuses build/, where a module deleted from src/ would linger into the wheel.
rm -rf clients/python/build clients/python/src/*.egg-info
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-build-isolation \
  --force-reinstall --no-deps ./clients/python
"$venv/bin/python" -m pip check

step "mypy --strict, ruff"
(
  cd "$here"
  "$venv/bin/mypy"
  "$venv/bin/ruff" format --check --quiet src/tessera_auth_client tests tools
  "$venv/bin/ruff" check --quiet src/tessera_auth_client tests tools
)

if [ -z "${TESSERA_BIN:-}" ]; then
  # The whole workspace, as scripts/dev.sh and scripts/test.sh build it: a -p subset unifies
  # features differently and would rebuild shared dependencies.
  step "building the server (cargo build --workspace --bins)"
  cargo build --workspace --bins
  TESSERA_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/tessera"
fi
TESSERA_BIN=$(realpath "$TESSERA_BIN")
export TESSERA_BIN

step "pytest"
cd "$here"
"$venv/bin/python" -m pytest -p no:cacheprovider "$@"
