#!/usr/bin/env bash
# Runs Tessera (scripts/dev.sh), the demo job scheduler (tessera-line-demo) and tessera-edge-line in
# front of it, then prints how to talk to the edge with socat, nc or Python. With grpcurl on PATH
# (or in .tools/bin, see scripts/install-tools.sh) it also issues two tokens to try: one for the
# `deploy.` namespace and one for everything. Extra arguments go to `tessera dev`.
#
#   EDGE_LISTEN  where the edge listens   (default 127.0.0.1:7170)
#   DEMO_LISTEN  where the demo listens   (default 127.0.0.1:7101)
#
# The defaults stay clear of scripts/dev.sh's own edges (7070, 7001) and its data dir, so both can
# run at once. Stop with Ctrl-C: all three stop, Tessera's data stays in .tessera-line/ (or
# --data-dir).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
edge_listen=${EDGE_LISTEN:-127.0.0.1:7170}
demo_listen=${DEMO_LISTEN:-127.0.0.1:7101}
work=$(mktemp -d "${TMPDIR:-/tmp}/tessera-line-dev.XXXXXX")
pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# field FILE NAME: a string field of a flat JSON object.
field() { sed -n "s/.*\"$2\": *\"\([^\"]*\)\".*/\1/p" "$1" | head -n 1; }

# wait_ready FILE PID LOG WHAT: wait for a ready file while its process lives.
wait_ready() {
  for _ in $(seq 1 1500); do
    [ -s "$1" ] && return 0
    if ! kill -0 "$2" 2>/dev/null; then
      echo "line-dev: $4 stopped before it was ready:" >&2
      tail -n 40 "$3" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "line-dev: $4 was not ready in time; see $3" >&2
  exit 1
}

# scripts/dev.sh builds the workspace (its progress goes to the log); Tessera alone, without
# dev.sh's own edges, in its own data dir.
echo "line-dev: building and starting Tessera (log: $work/tessera.log)" >&2
TESSERA_DEV_EDGES=0 scripts/dev.sh --data-dir .tessera-line --listen 127.0.0.1:0 \
  --ready-file "$work/tessera.json" "$@" >"$work/tessera.log" 2>&1 &
pids+=($!)
wait_ready "$work/tessera.json" "${pids[-1]}" "$work/tessera.log" "tessera dev"
tessera_addr=$(field "$work/tessera.json" grpc_addr)
service_token=$(field "$work/tessera.json" service_token)
admin_token=$(field "$work/tessera.json" admin_token)

target/debug/tessera-line-demo --listen "$demo_listen" --ready-file "$work/demo.json" \
  >"$work/demo.log" 2>&1 &
pids+=($!)
wait_ready "$work/demo.json" "${pids[-1]}" "$work/demo.log" "tessera-line-demo"

TESSERA_SERVICE_TOKEN=$service_token target/debug/tessera-edge-line \
  --tessera "$tessera_addr" --upstream "$demo_listen" --listen "$edge_listen" \
  --ready-file "$work/edge.json" >"$work/edge.log" 2>&1 &
pids+=($!)
wait_ready "$work/edge.json" "${pids[-1]}" "$work/edge.log" "tessera-edge-line"

edge_host=${edge_listen%:*}
edge_port=${edge_listen##*:}
grpcurl=$(command -v grpcurl || true)
[ -z "$grpcurl" ] && [ -x .tools/bin/grpcurl ] && grpcurl=.tools/bin/grpcurl
issue() {
  "$grpcurl" -plaintext -H "authorization: Bearer $admin_token" \
    -d "{\"ttl\":\"1h\",\"namespace\":\"$1\",\"description\":\"line-dev\"}" \
    "$tessera_addr" tessera.v1.AuthService/IssueToken | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p'
}
if [ -n "$grpcurl" ]; then
  deploy_token=$(issue 'deploy.')
  star_token=$(issue '*')
else
  deploy_token='<a token: IssueToken with "namespace":"deploy." as the admin session below>'
  star_token='<a token: IssueToken with "namespace":"*">'
fi

cat <<EOF

Tessera line edge is running.

  tessera (gRPC)     $tessera_addr
  admin session      $admin_token
  ztick model        $demo_listen   (tessera-line-demo: ztick's grammar, no auth of its own)
  line edge          $edge_listen   (tessera-edge-line, in front of the scheduler)

  deploy. token      $deploy_token
  * token            $star_token

Talk to it (bash alone does it; or socat, nc, any TCP client; one command per line):

  bash -c 'exec 3<>/dev/tcp/$edge_host/$edge_port; cat <&3 & cat >&3'   # or: socat - TCP:$edge_listen
  AUTH $deploy_token
  1 SET deploy.daily 2030-03-30 02:00:00   -> 1 OK
  2 GET deploy.daily                       -> 2 OK planned 1901066400000000000
  3 QUERY                                  -> 3 deploy.daily planned 1901066400000000000 / 3 OK (only deploy.*)
  4 GET backup.nightly                     -> 4 ERROR auth_denied insufficient namespace scope

Logs: $work/{tessera,demo,edge}.log. Stop with Ctrl-C.
EOF

wait -n "${pids[@]}" || true
echo "line-dev: a process stopped; shutting down" >&2
