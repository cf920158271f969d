#!/usr/bin/env bash
# Installs Tessera's systemd units on this host, with everything they need that systemd does not
# make: the `tessera` group (SupplementaryGroups= in the units; the certificate, keys and env
# files are readable by it), /etc/tessera (0750 root:tessera), the binaries in /usr/local/bin, the
# env files from the examples (0640 root:tessera, never overwriting yours) and the operations guide
# the units' Documentation= points at. Idempotent. Run as root from a checkout, with the release
# binaries built (`cargo build --release -p tessera-cli -p tessera-edge-http -p tessera-edge-line`):
#   deploy/systemd/install.sh [BIN_DIR]          (default: target/release)
# Then edit /etc/tessera/*.env, put the edges' tokens in /etc/tessera/edge-{http,line}.token
# (0600 root), and `systemctl enable --now tessera tessera-edge-http tessera-edge-line`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/target/release}
[ "$(id -u)" = 0 ] || { echo "install: run as root" >&2; exit 1; }
for b in tessera tessera-edge-http tessera-edge-line; do
  [ -x "$bin/$b" ] || { echo "install: $bin/$b is not built" >&2; exit 1; }
done

if ! getent group tessera >/dev/null; then
  groupadd --system tessera
  echo "install: created the system group tessera"
fi
install -d -m 0750 -o root -g tessera /etc/tessera
install -m 0755 "$bin/tessera" "$bin/tessera-edge-http" "$bin/tessera-edge-line" /usr/local/bin/
install -m 0644 "$here"/tessera.service "$here"/tessera-edge-http.service \
  "$here"/tessera-edge-line.service /etc/systemd/system/
for env in tessera edge-http edge-line; do
  if [ ! -e "/etc/tessera/$env.env" ]; then
    install -m 0640 -o root -g tessera "$here/$env.env.example" "/etc/tessera/$env.env"
    echo "install: /etc/tessera/$env.env from the example: edit it"
  fi
done
install -D -m 0644 "$root/docs/operations.md" /usr/share/doc/tessera/operations.md
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi
echo "install: done; edit /etc/tessera/*.env, then systemctl enable --now tessera"
