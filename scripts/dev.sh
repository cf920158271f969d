#!/usr/bin/env bash
# Runs Tessera on this machine and prints how to connect:
#   * `tessera dev`: an embedded PostgreSQL (installed from Debian's packages if missing), the gRPC
#     server, a bootstrapped admin account and an introspect-only service token;
#   * the HTTP edge (tessera-edge-http) in front of a small demo web app, with the /login page;
#   * the line-protocol edge (tessera-edge-line) in front of the demo job scheduler.
# Extra arguments go to `tessera dev` (see `target/debug/tessera dev --help`). Data lives in
# .tessera/ unless --data-dir says otherwise. Ctrl-C stops everything.
#
#   HTTP_EDGE_LISTEN  (default 127.0.0.1:8080)   LINE_EDGE_LISTEN  (default 127.0.0.1:7070)
#   LINE_DEMO_LISTEN  (default 127.0.0.1:7001)   TESSERA_DEV_EDGES=0 runs Tessera alone
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  echo "dev: installing PostgreSQL from Debian's packages" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
cargo build --quiet -p tessera-server --bin tessera -p tessera-edge-http -p tessera-edge-line
case " $* " in *" --help "*|*" -h "*) exec "$root/target/debug/tessera" dev "$@" ;; esac
if [ "${TESSERA_DEV_EDGES:-1}" = 0 ]; then
  exec "$root/target/debug/tessera" dev "$@"
fi

http_listen=${HTTP_EDGE_LISTEN:-127.0.0.1:8080}
line_listen=${LINE_EDGE_LISTEN:-127.0.0.1:7070}
demo_listen=${LINE_DEMO_LISTEN:-127.0.0.1:7001}
work=$(mktemp -d "${TMPDIR:-/tmp}/tessera-dev.XXXXXX")
chmod 711 "$work"
pids=()
cleanup() {
  trap - EXIT INT TERM
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

field() { sed -n "s/.*\"$2\": *\"\{0,1\}\([^\",}]*\)\"\{0,1\}.*/\1/p" "$1" | head -n 1; }
wait_ready() { # FILE PID WHAT LOG
  for _ in $(seq 1 1500); do
    [ -s "$1" ] && return 0
    if ! kill -0 "$2" 2>/dev/null; then
      echo "dev: $3 stopped before it was ready${4:+; its log:}" >&2
      [ -n "${4:-}" ] && tail -n 40 "$4" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "dev: $3 was not ready in time" >&2
  exit 1
}

# Tessera itself prints its banner (credentials, grpcurl lines) straight to the terminal.
"$root/target/debug/tessera" dev --ready-file "$work/tessera.json" "$@" &
pids+=($!)
wait_ready "$work/tessera.json" "${pids[-1]}" "tessera dev"
grpc_addr=$(field "$work/tessera.json" grpc_addr)
service_token=$(field "$work/tessera.json" service_token)

TESSERA_SERVICE_TOKEN=$service_token "$root/target/debug/tessera-edge-http" \
  --tessera "http://$grpc_addr" --demo-upstream --insecure-dev-http --listen "$http_listen" \
  --ready-file "$work/http.json" >"$work/http-edge.log" 2>&1 &
pids+=($!)
wait_ready "$work/http.json" "${pids[-1]}" "tessera-edge-http" "$work/http-edge.log"

"$root/target/debug/tessera-line-demo" --listen "$demo_listen" --ready-file "$work/demo.json" \
  >"$work/line-demo.log" 2>&1 &
pids+=($!)
wait_ready "$work/demo.json" "${pids[-1]}" "tessera-line-demo" "$work/line-demo.log"
TESSERA_SERVICE_TOKEN=$service_token "$root/target/debug/tessera-edge-line" \
  --tessera "http://$grpc_addr" --upstream "$demo_listen" --listen "$line_listen" \
  --ready-file "$work/line.json" >"$work/line-edge.log" 2>&1 &
pids+=($!)
wait_ready "$work/line.json" "${pids[-1]}" "tessera-edge-line" "$work/line-edge.log"

cat <<BANNER

Edges are running too (logs in $work):
  HTTP edge   http://$http_listen/login   (sign in as the admin above; demo app behind it;
              forward-auth at /auth/verify; public ping at /api/v1/public/ping)
  line edge   $line_listen  in front of the demo job scheduler at $demo_listen
              try: printf 'AUTH <token>\\n1 SET deploy.daily 0 * * * *\\n' | nc $line_listen
              (issue a namespaced token with: tessera token issue --namespace deploy.)

Ctrl-C stops everything.
BANNER
wait -n "${pids[@]}" || true
echo "dev: a process stopped; shutting the rest down" >&2
