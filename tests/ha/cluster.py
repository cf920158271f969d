"""A highly available PostgreSQL on loopback, as production runs it: three PostgreSQL 15 nodes
managed by Patroni (Debian's `patroni` 3.0) with a one-member etcd 3.4 as its store, synchronous
replication on, and haproxy routing to whichever node answers Patroni's REST `GET /primary` with
200.

Standard library only. Every wait has a deadline; `HaCluster.stop()` ends everything it started
(Patroni stops its PostgreSQL; postmasters left behind are killed from their pid files), and runs
on any failure of `start()`.

As root, Patroni and etcd run as the `postgres` account (PostgreSQL refuses root; the same rule as
crates/tessera-store/src/embedded.rs), with the data under a 0755 temporary directory they own.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path(os.environ.get("TESSERA_HA_PG_BIN", "/usr/lib/postgresql/15/bin"))
# Debian installs haproxy in /usr/sbin, which an unprivileged user's PATH may lack.
HAPROXY = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
SCOPE = "tessera-ha"

# Short timings so a failover takes seconds, not the production default of ~30 s. Patroni needs
# ttl >= loop_wait + 2 * retry_timeout. primary_start_timeout 0: a crashed primary is failed over
# at once (to the synchronous standby) rather than restarted in place, which Patroni's default
# (300 s) would try first.
PATRONI_TIMINGS = {"ttl": 8, "loop_wait": 1, "retry_timeout": 3, "primary_start_timeout": 0}


class Unavailable(Exception):
    """What the HA harness needs cannot run here; the reason is the message."""


def missing_tools() -> list[str]:
    """Why the cluster cannot run on this machine (empty when it can)."""
    missing = [tool for tool in ("patroni", "patronictl", "etcd") if not shutil.which(tool)]
    missing += [] if HAPROXY else ["haproxy"]
    missing += [
        str(PG_BIN / b) for b in ("postgres", "initdb", "pg_rewind") if not (PG_BIN / b).exists()
    ]
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing.append("a `postgres` account (PostgreSQL refuses to run as root)")
    return missing


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (Patroni, etcd and haproxy cannot take port 0 and report it)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def http_json(url: str, timeout: float = 1.0) -> tuple[int, object]:
    """GET url: (status, parsed JSON or None). Status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        body, status = error.read(), error.code
    except (OSError, urllib.error.URLError):
        return 0, None
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def wait_for(what: str, predicate, deadline_s: float, interval: float = 0.1):
    """Polls predicate() until it returns something truthy; raises TimeoutError naming `what`."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"ha cluster: {what} not within {deadline_s:.0f} s")
        time.sleep(interval)


@dataclass
class Node:
    name: str
    pg_port: int
    rest_port: int
    dir: Path

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None


class HaCluster:
    def __init__(self, workdir: Path | None = None) -> None:
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="tessera-ha-"))
        self.dir.chmod(0o755)
        ports = free_ports(9)
        self.etcd_port, self.etcd_peer_port, self.haproxy_port = ports[0], ports[1], ports[2]
        self.nodes = [
            Node(f"pg{i}", ports[3 + i], ports[6 + i], self.dir / f"pg{i}") for i in range(3)
        ]
        self.haproxy_stats_port = free_ports(1)[0]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.user = "postgres" if os.geteuid() == 0 else None

    # --- start ------------------------------------------------------------------------------------

    def start(self, deadline_s: float = 120) -> None:
        missing = missing_tools()
        if missing:
            raise Unavailable("missing " + ", ".join(missing))
        started = time.monotonic()
        try:
            self._start_etcd()
            for node in self.nodes:
                self._start_patroni(node)
            left = lambda: max(deadline_s - (time.monotonic() - started), 1)  # noqa: E731
            self.wait_healthy(left())
            self._start_haproxy()
            wait_for(
                "haproxy routing to the primary alone",
                lambda: (leader := self.leader()) and self.routed_primary() == leader.name,
                left(),
            )
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str, args: list[str], as_user: bool) -> None:
        log = (self.dir / f"{name}.log").open("ab")
        if as_user and self.user:
            args = ["runuser", "-u", self.user, "--", *args]
        self.processes[name] = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.dir,
        )
        log.close()

    def _own(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _start_etcd(self) -> None:
        data = self.dir / "etcd"
        self._own(data)
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        client = f"http://127.0.0.1:{self.etcd_port}"
        self._spawn(
            "etcd",
            [
                "etcd",
                "--name",
                "ha",
                "--data-dir",
                str(data),
                "--listen-client-urls",
                client,
                "--advertise-client-urls",
                client,
                "--listen-peer-urls",
                peer,
                "--initial-advertise-peer-urls",
                peer,
                "--initial-cluster",
                f"ha={peer}",
                "--initial-cluster-state",
                "new",
                "--log-level",
                "warn",
            ],
            as_user=True,
        )
        wait_for(
            "etcd healthy",
            lambda: self._alive("etcd") and http_json(f"{client}/health")[0] == 200,
            30,
        )

    def _patroni_config(self, node: Node) -> Path:
        self._own(node.dir)
        config = {
            "scope": SCOPE,
            "name": node.name,
            "log": {"level": "INFO"},
            "restapi": {
                "listen": f"127.0.0.1:{node.rest_port}",
                "connect_address": f"127.0.0.1:{node.rest_port}",
            },
            "etcd3": {"hosts": [f"127.0.0.1:{self.etcd_port}"]},
            "bootstrap": {
                "dcs": {
                    **PATRONI_TIMINGS,
                    "maximum_lag_on_failover": 1048576,
                    "synchronous_mode": True,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "use_slots": True,
                        "parameters": {
                            "wal_level": "replica",
                            "hot_standby": "on",
                            "wal_log_hints": "on",
                            "max_wal_senders": 10,
                            "max_replication_slots": 10,
                            "max_connections": 200,
                            # Small WAL: three throwaway nodes in a temporary directory.
                            "min_wal_size": "32MB",
                            "max_wal_size": "128MB",
                        },
                    },
                },
                "initdb": [{"encoding": "UTF8"}, {"auth": "trust"}],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{node.pg_port}",
                "connect_address": f"127.0.0.1:{node.pg_port}",
                "data_dir": str(node.data_dir),
                "bin_dir": str(PG_BIN),
                "pgpass": str(node.dir / "pgpass"),
                # Loopback only, a throwaway cluster: trust keeps the harness free of secrets.
                "pg_hba": [
                    "local all all trust",
                    "host all all 127.0.0.1/32 trust",
                    "host replication replicator 127.0.0.1/32 trust",
                ],
                "authentication": {
                    "superuser": {"username": "postgres", "password": "postgres"},
                    "replication": {"username": "replicator", "password": "replicator"},
                    "rewind": {"username": "postgres", "password": "postgres"},
                },
                "parameters": {"unix_socket_directories": str(node.dir)},
            },
        }
        path = node.dir / "patroni.yml"
        path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        path.chmod(0o644)
        return path

    def _start_patroni(self, node: Node) -> None:
        self._spawn(node.name, ["patroni", str(self._patroni_config(node))], as_user=True)

    def _start_haproxy(self) -> None:
        servers = "\n".join(
            f"  server {n.name} 127.0.0.1:{n.pg_port} check port {n.rest_port}" for n in self.nodes
        )
        # The router Patroni's documentation describes: a node is routed to only while its REST API
        # answers /primary with 200; `on-marked-down shutdown-sessions` cuts connections to a node
        # that stops being the primary (a switchover turns it into a read-only standby).
        config = f"""global
  maxconn 2000
defaults
  mode tcp
  timeout connect 1s
  timeout client 30m
  timeout server 30m
  timeout check 1s
listen stats
  mode http
  bind 127.0.0.1:{self.haproxy_stats_port}
  stats enable
  stats uri /
listen primary
  bind 127.0.0.1:{self.haproxy_port}
  option httpchk GET /primary
  http-check expect status 200
  default-server inter 250ms fastinter 250ms downinter 250ms fall 2 rise 1
  default-server on-marked-down shutdown-sessions
{servers}
"""
        path = self.dir / "haproxy.cfg"
        path.write_text(config)
        check = subprocess.run(
            [str(HAPROXY), "-c", "-q", "-f", str(path)], capture_output=True, timeout=30
        )
        if check.returncode != 0:
            raise RuntimeError(f"haproxy -c: {check.stderr.decode()[-2000:]}")
        self._spawn("haproxy", [str(HAPROXY), "-db", "-f", str(path)], as_user=False)

    # --- state ------------------------------------------------------------------------------------

    def _alive(self, name: str) -> bool:
        process = self.processes.get(name)
        if process is None or process.poll() is not None:
            tail = (self.dir / f"{name}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"ha cluster: {name} exited:\n{tail}")
        return True

    def members(self) -> list[dict]:
        """Patroni's view (GET /cluster of the first node that answers)."""
        for node in self.nodes:
            status, body = http_json(f"{node.rest}/cluster")
            if status == 200 and isinstance(body, dict):
                return list(body.get("members", []))
        return []

    def leader(self) -> Node | None:
        """The node whose REST API answers /primary with 200 (what haproxy routes to)."""
        for node in self.nodes:
            if http_json(f"{node.rest}/primary", timeout=0.5)[0] == 200:
                return node
        return None

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def healthy(self) -> bool:
        """A leader, and both others streaming, one of them the synchronous standby."""
        members = self.members()
        if len(members) != 3:
            return False
        roles = sorted(m.get("role", "") for m in members)
        states = {m.get("state") for m in members}
        return roles == ["leader", "replica", "sync_standby"] and states <= {"running", "streaming"}

    def wait_healthy(self, deadline_s: float) -> None:
        def check() -> bool:
            for name in ["etcd", *(n.name for n in self.nodes)]:
                self._alive(name)
            return self.healthy()

        wait_for("three members, one leader and a synchronous standby", check, deadline_s, 0.2)

    def routed_primary(self) -> str | None:
        """The server haproxy routes to now (from its stats CSV), if it routes to exactly one."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.haproxy_stats_port}/;csv", timeout=1
            ) as response:
                rows = response.read().decode().splitlines()
        except OSError:
            return None
        header = rows[0].lstrip("# ").split(",")
        up = []
        for row in rows[1:]:
            fields = dict(zip(header, row.split(","), strict=False))
            server = fields.get("svname", "")
            # "UP 1/2" is still routed to (going down after another failed check).
            routed = fields.get("status", "").startswith("UP")
            if fields.get("pxname") == "primary" and server.startswith("pg") and routed:
                up.append(server)
        return up[0] if len(up) == 1 else None

    @property
    def url_host_port(self) -> str:
        return f"127.0.0.1:{self.haproxy_port}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Runs sql through haproxy (on the primary) as the superuser."""
        result = subprocess.run(
            [
                str(PG_BIN / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.haproxy_port),
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                sql,
            ],
            capture_output=True,
            timeout=30,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {result.stderr.strip()}")
        return result.stdout.strip()

    # --- faults -----------------------------------------------------------------------------------

    def kill_primary(self) -> Node:
        """SIGKILL of the primary's postmaster: the node Patroni's REST API names the leader, the
        pid from its data directory's postmaster.pid."""
        leader = self.leader()
        if leader is None:
            raise RuntimeError("ha cluster: no primary to kill")
        pid = leader.postmaster_pid()
        if pid is None:
            raise RuntimeError(f"ha cluster: {leader.name} has no postmaster.pid")
        os.kill(pid, signal.SIGKILL)
        return leader

    def switchover(self, candidate: Node) -> Node:
        """A clean `patronictl switchover` from the current leader to `candidate`."""
        leader = self.leader()
        if leader is None:
            raise RuntimeError("ha cluster: no primary to switch over from")
        config = leader.dir / "patroni.yml"
        args = [
            "patronictl",
            "-c",
            str(config),
            "switchover",
            "--leader",
            leader.name,
            "--candidate",
            candidate.name,
            "--force",
            SCOPE,
        ]
        if self.user:
            args = ["runuser", "-u", self.user, "--", *args]
        result = subprocess.run(args, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"patronictl switchover: {result.stdout}{result.stderr}")
        return leader

    # --- stop -------------------------------------------------------------------------------------

    def stop(self, deadline_s: float = 30) -> None:
        """Ends everything started here: haproxy, the Patroni daemons (each stops its PostgreSQL),
        then any postmaster still running (SIGKILL, from its pid file), then etcd."""
        deadline = time.monotonic() + deadline_s
        order = ["haproxy", *(n.name for n in self.nodes), "etcd"]
        for name in order[:-1]:
            self._signal(name, signal.SIGTERM)
        for name in order[:-1]:
            self._reap(name, deadline)
        for node in self.nodes:
            pid = node.postmaster_pid()
            if pid is not None and _running(pid):
                os.kill(pid, signal.SIGKILL)
        self._signal("etcd", signal.SIGTERM)
        self._reap("etcd", deadline)

    def _signal(self, name: str, sig: int) -> None:
        process = self.processes.get(name)
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)

    def _reap(self, name: str, deadline: float) -> None:
        process = self.processes.get(name)
        if process is None:
            return
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            self._signal(name, signal.SIGKILL)
            process.wait(timeout=10)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        try:
            return (self.dir / f"{name}.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill 0.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
