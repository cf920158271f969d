#!/usr/bin/env bash
# Builds the image with podman and starts deploy/compose's stack (plain, and behind the PgBouncer
# overlay), each passing the smoke test through nginx (deploy/check/compose.py). No image registry
# is reachable here, so the bases are made on this machine: a Debian 12 minbase by debootstrap,
# imported once and cached (.tools/images/), and the image copies the binaries the workspace build
# made (deploy/Dockerfile's BINARIES=prebuilt) instead of compiling Rust again. PostgreSQL, nginx,
# the demo app and PgBouncer are stand-ins made from Debian's packages (deploy/check/images/).
# podman runs with runc and fixed ulimits (crun and cgroup-managed modes do not work here).
# Exits 2, saying why, where podman cannot run (not root, not installed).
# Usage: deploy/check/containers.sh TARGET_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
target=${1:?usage: containers.sh TARGET_DIR}
bin="$target/debug"
say() { echo "containers: $*"; }
skip() { echo "containers: SKIPPED: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || skip "podman runs as root here (rootless needs subuids and a user session)"
command -v podman >/dev/null || skip "podman is not installed (scripts/install-tools.sh installs it)"
[ -x /usr/sbin/runc ] || skip "runc is not installed (scripts/install-tools.sh installs it)"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# runc and fixed ulimits for every podman command below (and compose.py's).
cat > "$scratch/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
[engine.runtimes]
runc = ["/usr/sbin/runc"]
EOF
export CONTAINERS_CONF="$scratch/containers.conf"
podman info >/dev/null 2>&1 || skip "podman cannot run here: $(podman info 2>&1 | tail -1)"

base=localhost/tessera-base:bookworm-minbase
cache="$root/.tools/images/bookworm-minbase.tar"
if ! podman image exists "$base"; then
  if [ ! -s "$cache" ]; then
    command -v debootstrap >/dev/null || skip "debootstrap is not installed (scripts/install-tools.sh installs it)"
    say "making the base: debootstrap --variant=minbase bookworm (once; cached in $cache)"
    mkdir -p "$(dirname "$cache")"
    debootstrap --variant=minbase bookworm "$scratch/rootfs" http://deb.debian.org/debian >"$scratch/debootstrap.log" 2>&1 \
      || { tail -20 "$scratch/debootstrap.log" >&2; exit 1; }
    tar -C "$scratch/rootfs" -cf "$cache.tmp" . && mv "$cache.tmp" "$cache"
    rm -rf "$scratch/rootfs"
  fi
  podman import "$cache" "$base" >/dev/null
fi

build() { # tag, containerfile, context, extra args…
  local tag=$1 file=$2 context=$3
  shift 3
  podman build -q --network=host --format docker --build-arg "BASE_IMAGE=$base" "$@" \
    -t "$tag" -f "$file" "$context" >"$scratch/build.log" 2>&1 \
    || { tail -30 "$scratch/build.log" >&2; echo "containers: building $tag failed" >&2; exit 1; }
}

say "building tessera:dev from deploy/Dockerfile with the workspace's binaries"
context="$scratch/image"
mkdir -p "$context/prebuilt"
for b in tessera tessera-edge-http tessera-edge-line tessera-line-demo; do
  [ -x "$bin/$b" ] || { echo "containers: $bin/$b is not built" >&2; exit 1; }
  cp -l "$bin/$b" "$context/prebuilt/" 2>/dev/null || cp "$bin/$b" "$context/prebuilt/"
done
previous=$(podman image inspect localhost/tessera:dev --format '{{.Id}}' 2>/dev/null || true)
build localhost/tessera:dev deploy/Dockerfile "$context" \
  --build-arg BINARIES=prebuilt --build-arg "RUNTIME_IMAGE=$base" --build-arg "BUILD_IMAGE=$base"
# The image of the previous run's binaries, untagged now, would pile up run after run.
current=$(podman image inspect localhost/tessera:dev --format '{{.Id}}')
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
  podman rmi "$previous" >/dev/null 2>&1 || true
fi
# The image runs as the Dockerfile says: uid 65532, `tessera` as the entrypoint.
user=$(podman image inspect localhost/tessera:dev --format '{{.Config.User}}')
[ "$user" = 65532:65532 ] || { echo "containers: the image runs as '$user', not 65532:65532" >&2; exit 1; }
podman run --rm --network=host --no-healthcheck localhost/tessera:dev --version >/dev/null

say "building the stand-ins for postgres, nginx, the demo app and pgbouncer"
build localhost/tessera-check/postgres:15 deploy/check/images/postgres.Containerfile deploy/check/images
build localhost/tessera-check/nginx:bookworm deploy/check/images/nginx.Containerfile deploy/check/images
mkdir -p "$scratch/pgbouncer"
cp .tools/bin/pgbouncer deploy/check/images/pgbouncer.Containerfile "$scratch/pgbouncer/"
build tessera-pgbouncer:dev "$scratch/pgbouncer/pgbouncer.Containerfile" "$scratch/pgbouncer"

say "starting the compose stack, plain and behind PgBouncer, with the smoke test through nginx"
python3 deploy/check/compose.py --project tessera-check-plain --bin "$bin" \
  -f deploy/compose/compose.yaml -f deploy/check/compose.local.yaml >"$scratch/plain.log" 2>&1 &
plain=$!
python3 deploy/check/compose.py --project tessera-check-pgbouncer --bin "$bin" \
  -f deploy/compose/compose.yaml -f deploy/compose/compose.pgbouncer.yaml \
  -f deploy/check/compose.local.yaml >"$scratch/pgbouncer.log" 2>&1 &
bouncer=$!
status=0
wait "$plain" || status=1
wait "$bouncer" || status=$((status + 2))
for run in plain pgbouncer; do
  if [ "$status" != 0 ]; then cat "$scratch/$run.log" >&2; else tail -1 "$scratch/$run.log"; fi
done
[ "$status" = 0 ] || { echo "containers: the compose smoke test failed" >&2; exit 1; }
say "ok"
