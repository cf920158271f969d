#!/usr/bin/env bash
# Builds the Spring Security introspection check and prints the java command's classpath. Maven's
# repository is $TESSERA_MAVEN_REPO (default ~/.m2/repository), as for clients/java: the first run
# resolves from Maven Central, later runs are offline.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo="${TESSERA_MAVEN_REPO:-$HOME/.m2/repository}"
marker="$repo/.resolved-spring-check-$(sha256sum "$here/pom.xml" | cut -c1-16)"
offline=()
[ -f "$marker" ] && offline=(-o)
cd "$here"
mvn -B -q -ntp "${offline[@]}" -Dmaven.repo.local="$repo" compile dependency:build-classpath \
  -Dmdep.outputFile=target/classpath.txt >&2
touch "$marker"
printf '%s:%s\n' "$here/target/classes" "$(cat target/classpath.txt)"
