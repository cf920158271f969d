#!/usr/bin/env bash
# Runs a three-replica Tessera on loopback, the shape deploy/compose runs:
#   * replica a: `tessera dev --edges` (the embedded PostgreSQL, migrations, the bootstrapped admin
#     and service token, the HTTP and line edges in front of their demo upstreams) on :50051;
#   * replicas b and c: `tessera serve` on the same database, on :50052 and :50053.
# Prints every address and the credentials; Ctrl-C (or SIGTERM) drains and stops everything.
# Data lives in .tessera-cluster/ unless TESSERA_CLUSTER_DIR says otherwise. Try a failover:
#   kill -TERM "$(cat .tessera-cluster/b.pid)"   # drains b; clients given every address move on
# The cluster keeps running with one replica drained; it stops when replica a (which holds the
# database) ends, or on Ctrl-C.
# Env: TESSERA_BIN (default: target/debug/tessera, built here); TESSERA_CLUSTER_PORT (default
# 50051: the replicas take it and the next two).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dir=${TESSERA_CLUSTER_DIR:-$root/.tessera-cluster}
mkdir -p "$dir"
chmod 0755 "$dir" # run as root, the embedded PostgreSQL's user must reach its data directory
if [ -z "${TESSERA_BIN:-}" ]; then
  echo "cluster: building the workspace (cargo build --workspace --bins)" >&2
  cargo build --workspace --bins
  TESSERA_BIN="$root/target/debug/tessera"
fi

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || true; done
  wait || true
}
trap stop INT TERM EXIT

base=${TESSERA_CLUSTER_PORT:-50051}
ports=("$base" "$((base + 1))" "$((base + 2))")
rm -f "$dir/ready.json"
"$TESSERA_BIN" dev --edges --data-dir "$dir/a" --listen "127.0.0.1:${ports[0]}" \
  --ready-file "$dir/ready.json" >"$dir/a.log" 2>&1 &
pids+=($!)
echo $! >"$dir/a.pid"
for _ in $(seq 1 1200); do
  [ -s "$dir/ready.json" ] && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$dir/a.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$dir/ready.json" ] || { echo "cluster: replica a not ready in 120 s" >&2; exit 1; }
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$dir/ready.json" "$1"; }
database_url=$(field database_url)
totp_key=$(cat "$dir/a/totp.key")

for replica in "b:${ports[1]}" "c:${ports[2]}"; do
  name=${replica%%:*}
  port=${replica##*:}
  TESSERA_DATABASE_URL="$database_url" TESSERA_TOTP_KEY="$totp_key" \
    "$TESSERA_BIN" serve --skip-migrations --listen "127.0.0.1:$port" >"$dir/$name.log" 2>&1 &
  pids+=($!)
  echo $! >"$dir/$name.pid"
done
for port in "${ports[1]}" "${ports[2]}"; do
  for _ in $(seq 1 600); do
    "$TESSERA_BIN" health --server "http://127.0.0.1:$port" >/dev/null 2>&1 && break
    sleep 0.1
  done
done

cat <<EOF
cluster: three replicas on one PostgreSQL (logs and pids in $dir)
  gRPC          http://127.0.0.1:${ports[0]}  http://127.0.0.1:${ports[1]}  http://127.0.0.1:${ports[2]}
  admin         $(field admin_username) / $(field admin_password)
  service token $(field service_token)
  edges         as printed in $dir/a.log (tessera dev --edges)
  Go            tessera.DialReplicas(ctx, []string{"http://127.0.0.1:${ports[0]}", "http://127.0.0.1:${ports[1]}", "http://127.0.0.1:${ports[2]}"}, ...)
  Python        Client(["http://127.0.0.1:${ports[0]}", "http://127.0.0.1:${ports[1]}", "http://127.0.0.1:${ports[2]}"], token=...)
Ctrl-C stops the cluster.
EOF
# Not `wait -n`: the drain drill (kill -TERM b or c) must leave the others serving. Replica a holds
# the database, so the cluster ends with it.
while kill -0 "${pids[0]}" 2>/dev/null; do
  for i in 1 2; do
    if [ -n "${pids[$i]}" ] && ! kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "cluster: replica $([ "$i" = 1 ] && echo b || echo c) exited; the others keep serving" >&2
      pids[$i]=""
    fi
  done
  sleep 1
done
echo "cluster: replica a (and its PostgreSQL) exited; stopping the rest" >&2
