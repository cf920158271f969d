#!/usr/bin/env bash
# Makes clients/python/.venv hold exactly what requirements-dev.txt pins: the code generators that
# scripts/generate.sh runs, the type checker and the test tools. Idempotent: a stamp of the pinned set
# makes a second run a no-op. Prints the venv's path.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv="$here/.venv"
requirements="$here/requirements-dev.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)

up_to_date() { [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; }
if up_to_date; then
  echo "$venv"
  exit 0
fi
# One builder at a time (say, the Go and Python suites regenerating at once); the others wait and
# find it done.
exec 9>"$here/.venv.lock"
flock 9
if up_to_date; then
  echo "$venv"
  exit 0
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null; then
  echo "tools/venv.sh: needs Python 3.10 or newer as $python (set PYTHON=...)" >&2
  exit 1
fi
if ! "$python" -m venv --help >/dev/null 2>&1 || ! "$python" -c 'import ensurepip' 2>/dev/null; then
  # Debian's python3 ships venv and ensurepip separately.
  echo "tools/venv.sh: installing python3-venv from Debian's packages" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi

echo "tools/venv.sh: creating $venv" >&2
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
echo "$want" > "$stamp"
echo "$venv"
