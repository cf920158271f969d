#!/usr/bin/env bash
# Checks everything under deploy/ as far as this machine allows: helm lint and helm template with
# the manifest rules (deploy/check/manifests.py) for the default values and for everything switched
# on, and that the rules catch a bad rendering; the rendered chart's pods run as a kubelet would
# until Ready, in each TLS mode (deploy/check/pods.py, root only); systemd-analyze verify on the
# units (pointed at the built binaries); the compose file's references and its nginx.conf against
# the edge README's; the Dockerfile's runtime stage; the Envoy configurations with `envoy --mode
# validate` and the mesh examples with the manifest rules and their references
# (deploy/check/envoy.py). Usage: deploy/check.sh [target-dir]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${1:-${CARGO_TARGET_DIR:-$root/target}}
helm=${HELM:-$root/.tools/bin/helm}
chart=deploy/helm/tessera
check=deploy/check/manifests.py
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "deploy check: $*" >&2; exit 1; }

echo "deploy check: helm lint"
everything=tls.enabled=true,tls.clientCaKey=ca.crt,edges.http.enabled=true,edges.line.enabled=true,autoscaling.enabled=true
"$helm" lint --strict "$chart" >/dev/null
"$helm" lint --strict "$chart" --set "$everything" >/dev/null

echo "deploy check: helm template + manifest rules"
"$helm" template t "$chart" | python3 "$check" \
  Deployment:tessera Job:migrate PodDisruptionBudget:tessera NetworkPolicy:tessera Service:tessera
"$helm" template t "$chart" --set "$everything" | python3 "$check" \
  Deployment:tessera Deployment:edge-http Deployment:edge-line Service:edge-http Service:edge-line \
  HorizontalPodAutoscaler:tessera Job:migrate
# The rules must be able to fail: a writable root filesystem, a literal secret, a missing probe.
for bad in "securityContext.readOnlyRootFilesystem=false" \
           "extraEnv[0].name=TESSERA_TOTP_KEY,extraEnv[0].value=literal" \
           "edges.http.enabled=true,edges.http.resources=null"; do
  if "$helm" template t "$chart" --set "$bad" | python3 "$check" 2>/dev/null >/dev/null; then
    fail "the manifest rules accepted a bad rendering ($bad)"
  fi
done

# Envoy (deploy/envoy/*.yaml, envoy --mode validate; SKIPPED loudly without envoy) and the mesh
# examples (deploy/envoy/mesh/: the manifest rules, their references to each other and to the
# chart), with a self-test that breaks each reference and must see it caught.
echo "deploy check: envoy configurations and mesh examples"
python3 deploy/check/envoy.py --envoy "${ENVOY:-$root/.tools/bin/envoy}" --helm "$helm" --self-test \
  || fail "deploy/envoy/ failed its checks (above)"

# What runs, not only what lints, started at once in private namespaces and collected below:
# the rendered chart's pods as a kubelet would run them, in each TLS mode (deploy/check/pods.py),
# and the systemd units installed by their install.sh and started as systemd would start them
# (deploy/check/units.py), and the image built with podman and the compose stack started, plain and
# behind PgBouncer, with a smoke test through nginx (deploy/check/containers.sh). They need root
# (and podman); where they cannot run they say so, loudly, and are counted as skipped.
echo "deploy check: running the chart's pods (plaintext, tls with a leaf-only Secret, mtls), the systemd units, the image and the compose stack"
runs=(pods-plaintext pods-tls pods-mtls units containers)
pids=()
for mode in plaintext tls mtls; do
  python3 deploy/check/pods.py --mode "$mode" --bin "$target/debug" --helm "$helm" \
    > "$scratch/pods-$mode.log" 2>&1 &
  pids+=("$!")
done
python3 deploy/check/units.py --bin "$target/debug" > "$scratch/units.log" 2>&1 &
pids+=("$!")
bash deploy/check/containers.sh "$target" > "$scratch/containers.log" 2>&1 &
pids+=("$!")
collect_runs() {
  local i status run
  for i in "${!runs[@]}"; do
    status=0
    wait "${pids[$i]}" || status=$?
    run=${runs[$i]}
    case $status in
      0) grep -E '(every|smoke test|started, served)' "$scratch/$run.log" || tail -1 "$scratch/$run.log" ;;
      2) echo "deploy check: SKIPPED $run — NOT RUN on this machine: $(tail -1 "$scratch/$run.log")" >&2 ;;
      *) cat "$scratch/$run.log" >&2; fail "$run failed (its log is above)" ;;
    esac
  done
}
collect_runs

if command -v systemd-analyze >/dev/null; then
  echo "deploy check: systemd-analyze verify"
  for unit in deploy/systemd/*.service; do
    sed "s#/usr/local/bin/#$target/debug/#" "$unit" > "$scratch/$(basename "$unit")"
  done
  # verify exits 0 on unknown keys and only warns: any output is a failure.
  out=$(cd "$scratch" && systemd-analyze verify ./*.service 2>&1) || fail "systemd-analyze verify: $out"
  [ -z "$out" ] || fail "systemd-analyze verify: $out"
  exposure=$(cd "$scratch" && systemd-analyze security --offline=yes --threshold=20 ./tessera.service 2>&1 | tail -1)
  echo "deploy check: $exposure"
else
  echo "deploy check: systemd-analyze not installed; units not verified"
fi

echo "deploy check: compose file"
python3 - deploy/compose/compose.yaml deploy/compose/compose.pgbouncer.yaml <<'PY'
import os, sys, yaml
path = sys.argv[1]
here = os.path.dirname(path)
doc = yaml.safe_load(open(path))
services = doc["services"]
errors = []
# The PgBouncer override: its services must resolve against the base file's.
override = yaml.safe_load(open(sys.argv[2]))
for name, svc in override["services"].items():
    if name not in services and "image" not in svc:
        errors.append(f"override: new service {name} has no image")
    deps = svc.get("depends_on") or {}
    for dep in (deps if isinstance(deps, list) else deps.keys()):
        if dep not in services and dep not in override["services"]:
            errors.append(f"override: {name} depends_on unknown service {dep}")
    for vol in svc.get("volumes") or []:
        src = vol.split(":", 1)[0]
        if src.startswith(".") and not os.path.exists(os.path.join(here, src)):
            errors.append(f"override: {name} mounts missing file {src}")
    build = svc.get("build") or {}
    if build and not os.path.exists(os.path.join(here, build["context"], "Dockerfile")):
        errors.append(f"override: {name} builds from a missing Dockerfile")
    env = svc.get("environment") or {}
    if "TESSERA_DATABASE_URL" in env and "TESSERA_DIRECT_DATABASE_URL" not in env:
        errors.append(f"override: {name} goes through pgbouncer without a direct URL for LISTEN")
for name, svc in services.items():
    deps = svc.get("depends_on") or []
    for dep in (deps if isinstance(deps, list) else deps.keys()):
        if dep not in services:
            errors.append(f"{name}: depends_on unknown service {dep}")
    for vol in svc.get("volumes") or []:
        src = vol.split(":", 1)[0]
        if src.startswith("."):
            if not os.path.exists(os.path.join(here, src)):
                errors.append(f"{name}: mounts missing file {src}")
        elif src not in (doc.get("volumes") or {}):
            errors.append(f"{name}: unknown volume {src}")
    if str(svc.get("image", "")).endswith(":latest"):
        errors.append(f"{name}: image not pinned")
for want in ("postgres", "migrate", "tessera-a", "tessera-b", "edge-http", "nginx", "edge-line"):
    if want not in services:
        errors.append(f"missing service {want}")
for e in errors:
    print(f"compose check: {e}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY

if command -v nginx >/dev/null; then
  # nginx -t resolves upstream names: stand the compose service names in with loopback.
  sed -e 's#http://edge-http:#http://127.0.0.1:#' -e 's#http://app:#http://127.0.0.1:#' \
    deploy/compose/nginx.conf > "$scratch/site.conf"
  printf 'pid %s/nginx.pid;\nerror_log stderr;\nevents {}\nhttp { include %s/site.conf; }\n' \
    "$scratch" "$scratch" > "$scratch/nginx.conf"
  out=$(nginx -t -q -c "$scratch/nginx.conf" 2>&1) || fail "nginx -t on deploy/compose/nginx.conf: $out"
fi

# The compose nginx.conf is the edge README's two nginx blocks with the compose addresses: no drift.
python3 - <<'PY' || fail "deploy/compose/nginx.conf has drifted from crates/tessera-edge-http/README.md's nginx blocks"
import re
readme = open("crates/tessera-edge-http/README.md").read()
blocks = re.findall(r"```nginx\n(.*?)```", readme, re.S)
main, browser = blocks[0], blocks[1]
main = main.replace("listen 80;", "listen 8080;").replace("127.0.0.1:8080", "edge-http:8081")
main = main.replace("127.0.0.1:9000", "app:80")
browser = browser.replace("127.0.0.1:8080", "edge-http:8081")
def lines(text):
    return [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
want = lines(main)[:-1] + lines(browser) + ["}"]
have = lines(open("deploy/compose/nginx.conf").read())
if want != have:
    import difflib
    print("\n".join(difflib.unified_diff(want, have, "README blocks", "nginx.conf", lineterm="")))
    raise SystemExit(1)
PY

echo "deploy check: alert rules and dashboard"
promtool=$(command -v promtool || true)
[ -n "$promtool" ] || fail "promtool missing (scripts/install-tools.sh installs Debian's prometheus package)"
(cd deploy/observability && "$promtool" check rules alerts.yaml >/dev/null && "$promtool" test rules alerts.test.yaml >/dev/null) \
  || fail "promtool rejected deploy/observability/alerts.yaml or its tests"
# Every metric the rules and the dashboard name must be one the server exports.
python3 - <<'PY' || fail "the rules or the dashboard use a metric the server does not export"
import json, re, sys
# Where the binaries register their series (prometheus-client appends `_total` to counters, so
# names are compared without it).
sources = ["crates/tessera-server/src/observability.rs", "crates/tessera-telemetry/src/grpc.rs",
           "crates/tessera-edge-http/src/metrics.rs", "crates/tessera-edge-line/src/metrics.rs"]
def base(name):
    return re.sub(r"_(bucket|count|sum|total)$", "", name)
exported = {base(m) for path in sources for m in re.findall(r"tessera_[a-z_]+", open(path).read())}
def used(text):
    return {base(m) for m in re.findall(r"tessera_[a-z_]+", text)}
rules = open("deploy/observability/alerts.yaml").read()
dashboard = json.load(open("deploy/observability/grafana-dashboard.json"))
exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
missing = (used(rules) | used(exprs)) - exported
for name in sorted(missing):
    print(f"deploy check: {name} is not exported by any of {', '.join(sources)}", file=sys.stderr)
sys.exit(1 if missing else 0)
PY

echo "deploy check: Dockerfile"
# The runtime stage's base is a build argument (machines without a registry make their own); its
# default must stay distroless nonroot.
runtime=$(awk '/^FROM /{stage=$2} END{print stage}' deploy/Dockerfile)
[ "$runtime" = '${RUNTIME_IMAGE}' ] || fail "the runtime stage is not FROM \${RUNTIME_IMAGE}: $runtime"
runtime_default=$(sed -n 's/^ARG RUNTIME_IMAGE=//p' deploy/Dockerfile)
case "$runtime_default" in *distroless*nonroot*) ;; *) fail "RUNTIME_IMAGE's default is not distroless nonroot: $runtime_default";; esac
# The build context must never carry build output or a dev instance's secrets.
for ignored in target .tessera .tools .git; do
  grep -qx "$ignored" .dockerignore || fail ".dockerignore does not exclude $ignored"
done
grep -Eq '^USER [1-9][0-9]*' deploy/Dockerfile || fail "the Dockerfile does not set a non-root USER"
grep -q -- '--locked' deploy/Dockerfile || fail "the Dockerfile build is not --locked"
echo "deploy check: ok"
