#!/usr/bin/env bash
# Gates of the Java client: one Maven run that checks the formatting (Spotless with google-java-format,
# generated stubs excluded), compiles with the linters (javac -Xlint and Error Prone, warnings as
# errors) and runs the JUnit tests against the real Tessera server (the tests start `tessera dev` and
# `tessera serve` replicas themselves). The
# proto gates (generated-code drift among them) are scripts/check-protos.sh, which scripts/test.sh
# runs for every language. Maven's repository is $TESSERA_MAVEN_REPO (default ~/.m2/repository, which
# outlives a clone as Go's module cache does): the first run with a pom.xml resolves from Maven
# Central, every later one is offline (-o).
# Usage: clients/java/run-tests.sh [maven args…]   e.g. -Dtest=WatchTest
# Env: TESSERA_BIN  the server binary (default: target/debug/tessera, built here when unset)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

step() { printf '\n==> java client: %s\n' "$*"; }

step "installing tools"
bash scripts/install-tools.sh

if [ -z "${TESSERA_BIN:-}" ]; then
  # The whole workspace, as scripts/dev.sh and scripts/test.sh build it: a -p subset unifies
  # features differently and would rebuild shared dependencies.
  step "building the server (cargo build --workspace --bins)"
  cargo build --workspace --bins
  TESSERA_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/tessera"
fi
TESSERA_BIN=$(realpath "$TESSERA_BIN")
export TESSERA_BIN

repo="${TESSERA_MAVEN_REPO:-$HOME/.m2/repository}"
# Offline once this pom.xml's dependencies and plugins were resolved by a run that passed resolution.
marker="$repo/.resolved-$(sha256sum "$here/pom.xml" | cut -c1-16)"
offline=()
[ -f "$marker" ] && offline=(-o)

rm -rf "$here/target/surefire-reports"
step "mvn spotless:check test ${offline[*]:-(resolving from Maven Central)}"
cd "$here"
set +e
# A formatting violation fails the run before anything compiles; `mvn spotless:apply` fixes it.
mvn -B -ntp "${offline[@]}" -Dmaven.repo.local="$repo" spotless:check test "$@"
status=$?
set -e
# Everything resolved once the test phase ran (pass or fail): later runs need no network.
if [ -d "$here/target/surefire-reports" ] && [ ! -f "$marker" ]; then touch "$marker"; fi
exit "$status"
