"""Tessera through PostgreSQL primary failovers under load (issue 32).

Two `tessera serve` replicas on the haproxy address of a Patroni cluster (tests/ha/cluster.py):
replica A with its decision cache, replica B with `--no-cache` (every Introspect reads PostgreSQL),
and the HTTP edge in front of both for `/auth/verify`. Load runs throughout: issue → introspect →
revoke → introspect cycles on both replicas and the edge, cached Introspects on A, uncached ones on
B, limited-use tokens consumed on A, logins, and a WatchRevocations follower. Meanwhile the
primary's postmaster is SIGKILLed (found through Patroni's REST API) and the cluster is switched
over cleanly with `patronictl switchover`.

Invariants, each counted as a violation when broken:
  * no acknowledged revocation lost (the database, and the WatchRevocations follower, hold each);
  * no revoked token accepted (Introspect on either replica, the edge) after its Revoke returned;
  * no acknowledged token or session lost, and no wrong "inactive" for one (nor 401 at the edge);
  * no "active" from replica A's cache once no primary could be reached past the feed lease;
  * a limited-use token never answers active more often than its uses;
  * every refused call is UNAVAILABLE (503 at the edge): never INTERNAL, a deadline or other code;
  * a clean switchover loses no call that is safe to retry (the SDK's retrying client);
  * Tessera serves again without a restart: recovery (kill → first successful uncached Introspect)
    ≤ Patroni's promotion (another node answers /primary) + 2 s, health SERVING again, `tessera
    migrate` not stuck.

Usage: failover.py [--kills N] [--switchovers M] [--report FILE]; see tests/ha/run.sh.
Env: TESSERA_BIN (the server; the edge is `tessera-edge-http` beside it).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from cluster import PATRONI_TIMINGS, HaCluster, free_ports, missing_tools, wait_for
from tessera_auth_client import (
    NO_RETRY,
    Client,
    TesseraError,
    TokenNotFound,
    TokenType,
    Unavailable,
)

FEED_LEASE_S = 0.25  # tessera serve's --feed-lease default
TRUST_SLACK_S = 0.5  # added to the lease before a cached "active" without a primary is a violation
RECOVERY_MARGIN_S = 2.0  # issue 32: recovery ≤ Patroni's promotion + 2 s
CALL_TIMEOUT_S = 10.0  # the SDK's default deadline: Tessera must refuse well within it
ADMIN, ADMIN_PASSWORD = "ha-admin", "ha-admin-password-1"
LOGIN_USER, LOGIN_PASSWORD = "ha-user", "ha-user-password-1"


EDGE_503 = Unavailable("503 Service Unavailable", code=grpc.StatusCode.UNAVAILABLE)


# Violations this drill has found and that are known not to be fixed yet; the checks stay, so the
# drill fails until they are (see docs/operations.md, "Highly available PostgreSQL").
KNOWN_DEFECTS = {
    "refused-not-unavailable": "calls that reach a node still in recovery (haproxy follows "
    "Patroni's /primary, 200 once the node holds the leader lock, before promotion ends) get "
    "INTERNAL: SQLSTATE 25006 read_only_sql_transaction is not classified as unavailable "
    "(crates/tessera-store/src/error.rs)",
    "slow-recovery": "calls keep failing until ~4.2 s after the kill whatever the promotion time: "
    "connections opened through haproxy while no node was up are held ~3 s and then closed, and "
    "Tessera's calls wait on them (the pool's 2 s acquire; the replica's two in-flight token "
    "reads, service/misses.rs) instead of opening fresh ones once the new primary is routed",
    "feed-ended": "the Python SDK's watch_revocations gives up after RetryPolicy.max_attempts (4) "
    "failed reconnects, under a second of backoff: shorter than a failover",
}


def now() -> float:
    return time.monotonic()


@dataclass
class Event:
    kind: str  # "kill" or "switchover"
    at: float
    old: str
    new: str = ""
    promoted_s: float | None = None  # Patroni: another node answers /primary 200
    routed_s: float | None = None  # haproxy: that node UP
    recovered_s: float | None = None  # first successful uncached Introspect after a failure
    cached_recovered_s: float | None = None
    edge_recovered_s: float | None = None
    healthy_s: float | None = None  # both replicas' health SERVING again
    refused: collections.Counter = field(default_factory=collections.Counter)
    violations: int = 0


class Ledger:
    """What the load saw, shared by every worker thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.start = now()
        self.events: list[Event] = []
        self.ok: collections.Counter = collections.Counter()
        self.refused: collections.Counter = collections.Counter()  # (op, code)
        self.slowest_refusal: dict[str, float] = {}  # op -> seconds until the refusal came
        self.violations: list[str] = []
        self.violation_kinds: collections.Counter = collections.Counter()
        self.issued: dict[str, str] = {}  # acknowledged issues: token_id -> token
        self.revoked: dict[str, float] = {}  # acknowledged revocations: token_id -> ack time
        self.sessions: dict[str, str] = {}  # acknowledged logins: token_id -> token
        self.watched: dict[
            str, int
        ] = {}  # token_id -> sequence, from the WatchRevocations follower
        self.watch_sequences: list[int] = []
        # (start, end, ok) of the probes that recovery is measured from.
        self.probes: dict[str, list[tuple[float, float, bool]]] = collections.defaultdict(list)

    def t(self, at: float | None = None) -> str:
        return f"t+{(at or now()) - self.start:7.3f}s"

    def event(self) -> Event | None:
        return self.events[-1] if self.events else None

    def violation(self, kind: str, detail: str) -> None:
        with self.lock:
            self.violation_kinds[kind] += 1
            if self.event():
                self.event().violations += 1
            if self.violation_kinds[kind] <= 20:
                self.violations.append(f"{self.t()} {kind}: {detail}")
        print(f"VIOLATION {self.t()} {kind}: {detail}", flush=True)

    def success(self, op: str) -> None:
        with self.lock:
            self.ok[op] += 1

    def refusal(self, op: str, error: Exception, took: float = 0.0) -> None:
        """A failed call: UNAVAILABLE is the only right refusal while no primary answers."""
        code = error.code.name if isinstance(error, TesseraError) else type(error).__name__
        reason = getattr(error, "reason", None)
        label = f"{code}/{reason}" if reason and reason != code else code
        with self.lock:
            self.refused[(op, label)] += 1
            self.slowest_refusal[op] = round(max(self.slowest_refusal.get(op, 0.0), took), 2)
            if self.event():
                self.event().refused[op] += 1
        if code != "UNAVAILABLE":
            self.violation("refused-not-unavailable", f"{op} refused with {label}: {error}")

    def probe(self, name: str, started: float, ok: bool) -> None:
        with self.lock:
            self.probes[name].append((started, now(), ok))


# --- processes ------------------------------------------------------------------------------------


class Replica:
    """One `tessera serve` on the cluster's haproxy address."""

    def __init__(self, binary: Path, name: str, database_url: str, workdir: Path, *extra: str):
        self.name = name
        self.log = workdir / f"tessera-{name}.log"
        env = {**os.environ, "TESSERA_LOG": os.environ.get("TESSERA_LOG", "info")}
        args = [
            str(binary),
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            database_url,
            "--direct-database-url",
            database_url,
            *extra,
        ]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                args,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.addr = wait_for(f"tessera {name} serving", self._serving, 90, 0.05)

    def _serving(self) -> str | None:
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("fields", {}).get("message") == "tessera serving gRPC":
                return str(entry["fields"]["addr"])
        if self.process.poll() is not None:
            raise RuntimeError(f"tessera {self.name} exited:\n{self.log.read_text()[-3000:]}")
        return None

    @property
    def url(self) -> str:
        return f"http://{self.addr}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        stop_process(self.process)


class Edge:
    """tessera-edge-http in front of both replicas, serving /auth/verify (no upstream)."""

    def __init__(self, binary: Path, replicas: list[Replica], service_token: str, workdir: Path):
        self.port = free_ports(1)[0]
        self.log = workdir / "edge-http.log"
        args = [
            str(binary),
            "--listen",
            f"127.0.0.1:{self.port}",
            "--tessera",
            ",".join(r.url for r in replicas),
            "--front-proxy",
            "nginx",
        ]
        env = {**os.environ, "TESSERA_SERVICE_TOKEN": service_token}
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                args,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def up() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"edge exited:\n{self.log.read_text()[-3000:]}")
            return self.verify("not-a-token") in (401, 400)

        wait_for("edge answering /auth/verify", up, 60, 0.1)

    def verify(self, token: str) -> int:
        """Status of GET /auth/verify for `token` (nginx auth_request's headers); 0: no answer."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/auth/verify",
            headers={
                "Authorization": f"Bearer {token}",
                "X-Original-Method": "GET",
                "X-Original-URI": "/ha/check",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=CALL_TIMEOUT_S + 2) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return 0

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def health(url: str) -> str:
    """grpc.health.v1 Check of the whole server: SERVING, NOT_SERVING or the failure's code."""
    with grpc.insecure_channel(url.removeprefix("http://")) as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        try:
            answer = check(b"", timeout=2)
        except grpc.RpcError as error:
            return error.code().name
    # HealthCheckResponse{status = 1}: field 1, varint.
    return {b"\x08\x01": "SERVING", b"\x08\x02": "NOT_SERVING"}.get(answer, f"status {answer!r}")


# --- load -----------------------------------------------------------------------------------------


class Load:
    def __init__(
        self,
        ledger: Ledger,
        a: Replica,
        b: Replica,
        edge: Edge,
        admin_token: str,
        service_token: str,
        long_lived: list[str],
        probe_token: str,
    ) -> None:
        self.ledger = ledger
        self.stop = threading.Event()
        self.edge = edge
        self.long_lived = long_lived
        self.probe_token = probe_token

        def client(replica: Replica, token: str) -> Client:
            return Client(replica.url, token=token, timeout=CALL_TIMEOUT_S, retry=NO_RETRY)

        self.admin = {r.name: client(r, admin_token) for r in (a, b)}
        self.service = {r.name: client(r, service_token) for r in (a, b)}
        self.login_clients = [client(a, ""), client(b, "")]
        # The SDK as an application uses it: both replicas, retries of what is safe to repeat.
        self.retrying = Client([b.url, a.url], token=service_token, timeout=10)
        self.watch_client = Client([a.url, b.url], token=service_token, timeout=10)
        self.threads: list[threading.Thread] = []
        self.watch = None

    def attempt(self, op: str, call):
        """call() counted as a success of op, or as a refusal (None) with how long it took."""
        started = now()
        try:
            result = call()
        except TesseraError as error:
            self.ledger.refusal(op, error, now() - started)
            return None
        self.ledger.success(op)
        return result

    def run(self, name: str, body) -> None:
        def loop() -> None:
            while not self.stop.is_set():
                try:
                    body()
                except Exception as error:
                    self.ledger.violation("load-worker-crashed", f"{name}: {error!r}")
                    time.sleep(0.2)

        thread = threading.Thread(target=loop, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def start(self) -> None:
        self.run("cycle-a", lambda: self.cycle("a", "b"))
        self.run("cycle-b", lambda: self.cycle("b", "a"))
        self.run("cached", self.cached)
        self.run("uncached", self.uncached_probe)
        prober = threading.Thread(target=self.probes, name="probes", daemon=True)
        prober.start()
        self.threads.append(prober)
        self.run("limited-use", self.limited_use)
        self.run("logins", self.login)
        self.run("edge", self.edge_load)
        self.run("revoked-recheck", self.revoked_recheck)
        self.run("retrying", self.retrying_probe)
        watcher = threading.Thread(target=self.follow, name="watch", daemon=True)
        watcher.start()
        self.threads.append(watcher)

    def halt(self) -> None:
        """Stops the load; the follower goes on until close_watch (the final checks need it)."""
        self.stop.set()
        for thread in self.threads:
            if thread.name != "watch":
                thread.join(timeout=CALL_TIMEOUT_S + 10)

    def close_watch(self) -> None:
        self.stop.set()
        if self.watch is not None:
            self.watch.close()

    # One cycle: issue on one replica, check it on both and the edge, revoke, check again.
    def cycle(self, home: str, other: str) -> None:
        ledger = self.ledger
        issued = self.attempt(
            "issue", lambda: self.admin[home].issue_token(ttl="30m", description="ha cycle")
        )
        if issued is None:
            time.sleep(0.05)
            return
        with ledger.lock:
            ledger.issued[issued.token_id] = issued.token
        for name in (other, home):
            self.introspect_expect(name, issued.token, active=True, op="introspect-before-revoke")
        self.edge_expect(issued.token, active=True)
        revoke = lambda: self.admin[home].revoke(token_id=issued.token_id, reason="ha cycle")  # noqa: E731
        if self.attempt("revoke", revoke) is None:
            return  # ambiguous: not checked either way
        with ledger.lock:
            ledger.revoked[issued.token_id] = now()
        for name in (other, home):
            self.introspect_expect(name, issued.token, active=False, op="introspect-after-revoke")
        self.edge_expect(issued.token, active=False)

    def introspect_expect(self, replica: str, token: str, *, active: bool, op: str) -> None:
        result = self.attempt(op, lambda: self.service[replica].introspect(token, peek=True))
        if result is None:
            return
        if result.active and not active:
            self.ledger.violation("revoked-token-accepted", f"replica {replica} answered active")
        if active and not result.active:
            self.ledger.violation(
                "wrong-inactive", f"replica {replica}: acknowledged token inactive"
            )

    def edge_expect(self, token: str, *, active: bool) -> None:
        started = now()
        status = self.edge.verify(token)
        if status == 503:
            self.ledger.refusal("edge-verify", EDGE_503, now() - started)
            return
        if status not in (200, 401):
            self.ledger.violation("edge-refused-not-503", f"/auth/verify answered {status}")
            return
        self.ledger.success("edge-verify")
        if status == 200 and not active:
            self.ledger.violation(
                "revoked-token-accepted", "edge answered 200 after Revoke returned"
            )
        if status == 401 and active:
            self.ledger.violation("wrong-inactive", "edge answered 401 for an acknowledged token")

    def cached(self) -> None:
        token = random.choice(self.long_lived)
        result = self.attempt(
            "introspect-cached", lambda: self.service["a"].introspect(token, peek=True)
        )
        if result is None:
            time.sleep(0.01)
            return
        if not result.active:
            self.ledger.violation("wrong-inactive", "replica a: long-lived token inactive (cached)")
        time.sleep(0.002)

    def uncached_probe(self) -> None:
        call = lambda: self.service["b"].introspect(self.probe_token, peek=True)  # noqa: E731
        result = self.attempt("introspect-uncached", call)
        if result is None:
            time.sleep(0.02)
            return
        if not result.active:
            self.ledger.violation("wrong-inactive", "replica b: probe token inactive (uncached)")
        time.sleep(0.02)

    def limited_use(self) -> None:
        """A three-use token consumed on A until refused: never more than three actives."""
        issue = lambda: self.admin["a"].issue_token(ttl="30m", max_uses=3, description="ha uses")  # noqa: E731
        issued = self.attempt("issue", issue)
        if issued is None:
            time.sleep(0.05)
            return
        with self.ledger.lock:
            self.ledger.issued[issued.token_id] = issued.token
        actives = 0
        for _ in range(6):
            result = self.attempt(
                "introspect-consume", lambda: self.service["a"].introspect(issued.token)
            )
            if result is None:
                continue
            actives += result.active
            if self.stop.is_set():
                break
        if actives > 3:
            self.ledger.violation(
                "uses-exceeded", f"a three-use token answered active {actives} times"
            )

    def login(self) -> None:
        client = random.choice(self.login_clients)
        session = self.attempt("login", lambda: client.login(LOGIN_USER, LOGIN_PASSWORD))
        if session is not None:
            with self.ledger.lock:
                self.ledger.sessions[session.token_id] = session.token
        time.sleep(0.15)

    def edge_probe(self) -> bool:
        started = now()
        status = self.edge.verify(self.long_lived[0])
        if status == 200:
            self.ledger.success("edge-verify")
        elif status == 503:
            self.ledger.refusal("edge-verify", EDGE_503, now() - started)
        elif status == 401:
            self.ledger.violation("wrong-inactive", "edge answered 401 for a long-lived token")
        else:
            self.ledger.violation("edge-refused-not-503", f"/auth/verify answered {status}")
        return status == 200

    def edge_load(self) -> None:
        self.edge_probe()
        time.sleep(0.01)

    def probes(self) -> None:
        """Every 50 ms a fresh uncached Introspect on B, a cached one on A and an /auth/verify,
        each in its own thread: recovery is read from these, and a call stuck in a refusal (up to
        seconds) delays none of the next ones."""
        in_flight = threading.BoundedSemaphore(300)

        def once(name: str, call) -> None:
            started = now()
            try:
                ok = call()
            finally:
                in_flight.release()
            self.ledger.probe(name, started, ok)

        def introspect(op: str, replica: str, token: str):
            return lambda: self.attempt(
                op, lambda: self.service[replica].introspect(token, peek=True)
            )

        kinds = {
            "uncached": lambda: (
                introspect("introspect-uncached", "b", self.probe_token)() is not None
            ),
            "cached": lambda: bool(
                (r := introspect("introspect-cached", "a", self.long_lived[1])()) and r.active
            ),
            "edge": self.edge_probe,
        }
        while not self.stop.is_set():
            for name, call in kinds.items():
                if in_flight.acquire(timeout=1):
                    threading.Thread(target=once, args=(name, call), daemon=True).start()
            time.sleep(0.05)

    def revoked_recheck(self) -> None:
        """A token revoked a while ago, asked again on A (its cache) and B."""
        with self.ledger.lock:
            revoked = list(self.ledger.revoked)
        if not revoked:
            time.sleep(0.1)
            return
        token = self.ledger.issued[random.choice(revoked)]
        for name in ("a", "b"):
            self.introspect_expect(name, token, active=False, op="introspect-revoked-again")
        time.sleep(0.02)

    def retrying_probe(self) -> None:
        """The SDK's own retries (10 s budget) of a safe call: a switchover must lose none."""
        started = now()
        try:
            result = self.retrying.introspect(self.probe_token, peek=True)
        except TesseraError as error:
            kind = self.ledger.event().kind if self.ledger.event() else "none"
            self.ledger.refusal("introspect-retrying", error, now() - started)
            if kind == "switchover":
                self.ledger.violation("switchover-lost-safe-call", f"retried peek failed: {error}")
            return
        self.ledger.success("introspect-retrying")
        if not result.active:
            self.ledger.violation("wrong-inactive", "retrying client: probe token inactive")
        time.sleep(0.05)

    def follow(self) -> None:
        """A WatchRevocations follower across both replicas, with the SDK's defaults (it reconnects
        and resumes after the last sequence). Should it give up, that is a violation, and the watch
        starts again after its last sequence so the rest of the feed is still checked."""
        last = 0
        while not self.stop.is_set():
            self.watch = self.watch_client.watch_revocations(after_sequence=last)
            try:
                for revocation in self.watch:
                    with self.ledger.lock:
                        self.ledger.watched[revocation.token_id] = revocation.sequence
                        self.ledger.watch_sequences.append(revocation.sequence)
                    if revocation.sequence <= last:
                        self.ledger.violation(
                            "feed-out-of-order", f"sequence {revocation.sequence} after {last}"
                        )
                    last = max(last, revocation.sequence)
            except TesseraError as error:
                if not self.stop.is_set():
                    self.ledger.violation("feed-ended", f"WatchRevocations gave up: {error!r}")
                    time.sleep(0.5)


# --- the drill ------------------------------------------------------------------------------------


def first_recovery(ledger: Ledger, probe: str, since: float, until: float) -> float | None:
    """Seconds from `since` to the first success among the probes started after the last failed
    one began: when the refusals stopped for good (a call already waiting in a refusal does not
    hide calls that succeed meanwhile). 0 when none failed; None while not recovered, or while the
    newest probe failed."""
    with ledger.lock:
        samples = [s for s in ledger.probes[probe] if s[0] >= since - 0.05]
    if not samples or until < since + 1.0:
        return None
    failures = [started for started, _, ok in samples if not ok]
    if not failures:
        return 0.0
    after = [ended for started, ended, ok in samples if ok and started > failures[-1]]
    return min(after) - since if after else None


def drill(
    cluster: HaCluster, load: Load, ledger: Ledger, kind: str, replicas: list[Replica]
) -> Event:
    candidate = None
    if kind == "switchover":
        leader = cluster.leader()
        sync = [m["name"] for m in cluster.members() if m.get("role") == "sync_standby"]
        candidate = cluster.node(sync[0]) if sync else next(n for n in cluster.nodes if n != leader)
    at = now()
    event = Event(kind, at, "")
    with ledger.lock:
        ledger.events.append(event)
    old = cluster.kill_primary() if kind == "kill" else cluster.switchover(candidate)
    event.old = old.name
    print(f"{ledger.t(at)} {kind}: primary {old.name}", flush=True)

    deadline = at + 60
    while now() < deadline and (event.promoted_s is None or event.routed_s is None):
        leader = cluster.leader()
        if event.promoted_s is None and leader is not None and leader.name != old.name:
            event.promoted_s, event.new = now() - at, leader.name
        routed = cluster.routed_primary()
        if event.routed_s is None and event.new and routed == event.new:
            event.routed_s = now() - at
        time.sleep(0.02)
    if event.promoted_s is None:
        raise RuntimeError(f"{kind}: Patroni promoted no new primary within 60 s")

    def recovered() -> bool:
        end = now()
        event.recovered_s = first_recovery(ledger, "uncached", at, end)
        event.cached_recovered_s = first_recovery(ledger, "cached", at, end)
        event.edge_recovered_s = first_recovery(ledger, "edge", at, end)
        return None not in (event.recovered_s, event.cached_recovered_s, event.edge_recovered_s)

    try:
        wait_for("recovery", recovered, 60, 0.05)
    except TimeoutError:
        ledger.violation(
            "no-recovery",
            f"{kind}: uncached={event.recovered_s} cached={event.cached_recovered_s} "
            f"edge={event.edge_recovered_s} 60 s after; Tessera does not serve again",
        )
    back, promoted = event.recovered_s, event.promoted_s
    if kind == "kill" and back is not None and back > promoted + RECOVERY_MARGIN_S:
        ledger.violation(
            "slow-recovery",
            f"{kind}: uncached Introspect back {back:.2f} s after, Patroni promoted at "
            f"{promoted:.2f} s, haproxy routed at {fmt(event.routed_s)} (bound: promotion + "
            f"{RECOVERY_MARGIN_S:.0f} s)",
        )

    def serving() -> bool:
        return all(health(r.url) == "SERVING" for r in replicas)

    try:
        wait_for("health SERVING", serving, 15, 0.1)
        event.healthy_s = now() - at
    except TimeoutError:
        states = {r.name: health(r.url) for r in replicas}
        ledger.violation("health-wrong", f"{kind}: health {states} 15 s after, calls served again")

    if kind == "kill" and event.routed_s is not None:
        # No cache may be trusted once no primary answers: an "active" (a 200 at the edge) that
        # came back between the kill plus the feed lease (and slack) and haproxy routing to the new
        # primary was served from a cache past its trust bound.
        start, end = at + FEED_LEASE_S + TRUST_SLACK_S, at + event.routed_s - 0.1
        for probe, who in (("cached", "replica a's cache"), ("edge", "the edge's cache")):
            with ledger.lock:
                stale = [e for s, e, ok in ledger.probes[probe] if ok and start <= e < end]
            if stale:
                ledger.violation(
                    "cache-trusted-without-primary",
                    f"{who}: {len(stale)} 'active' answers {stale[0] - at:.2f}.."
                    f"{stale[-1] - at:.2f} s after the kill, no primary routed until "
                    f"{event.routed_s:.2f} s",
                )
    for replica in replicas:
        if not replica.alive():
            ledger.violation("replica-exited", f"tessera {replica.name} exited during the {kind}")
    cluster.wait_healthy(90)
    print(
        f"{ledger.t()} {kind} {old.name}→{event.new}: promoted {event.promoted_s:.2f}s, "
        f"routed {fmt(event.routed_s)}, uncached back {fmt(event.recovered_s)}, cached back "
        f"{fmt(event.cached_recovered_s)}, edge back {fmt(event.edge_recovered_s)}, "
        f"refused {dict(event.refused)}",
        flush=True,
    )
    return event


def fmt(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f}s"


def final_checks(
    ledger: Ledger,
    replicas: list[Replica],
    admin_token: str,
    service_token: str,
    binary: Path,
    database_url: str,
) -> dict:
    """After the load: what was acknowledged is in the database and reached the follower."""
    results: dict = {}
    with ledger.lock:
        revoked = dict(ledger.revoked)
        issued = dict(ledger.issued)
        sessions = dict(ledger.sessions)

    # The follower: every acknowledged revocation arrives (give the feed 10 s to catch up).
    def followed() -> bool:
        with ledger.lock:
            return all(token_id in ledger.watched for token_id in revoked)

    try:
        wait_for("the follower to see every acknowledged revocation", followed, 10, 0.1)
    except TimeoutError:
        with ledger.lock:
            missing = [i for i in revoked if i not in ledger.watched]
        ledger.violation(
            "feed-missed-revocation",
            f"{len(missing)} acknowledged revocations never "
            f"reached the WatchRevocations follower, e.g. {missing[:3]}",
        )
    with ledger.lock:
        sequences = list(ledger.watch_sequences)
    results["feed_revocations"] = len(sequences)
    results["feed_duplicates"] = len(sequences) - len(set(sequences))

    with Client([r.url for r in replicas], token=admin_token, timeout=30) as admin:
        tokens = {t.token_id: t for t in admin.admin.list_tokens(include_inactive=True)}
        lost_revocations = [i for i in revoked if i in tokens and tokens[i].revoked_at is None]
        lost_tokens = []
        for token_id in issued:
            if token_id in tokens:
                continue
            try:
                admin.admin.get_token(token_id)
            except TokenNotFound:
                lost_tokens.append(token_id)
        lost_revocations += [i for i in revoked if i in lost_tokens]
        service = admin.with_token(service_token)
        lost_sessions = [
            i for i, t in sessions.items() if not service.introspect(t, peek=True).active
        ]
    if lost_revocations:
        ledger.violation(
            "revocation-lost",
            f"{len(lost_revocations)} acknowledged revocations not in "
            f"the database, e.g. {lost_revocations[:3]}",
        )
    if lost_tokens:
        ledger.violation(
            "token-lost", f"{len(lost_tokens)} acknowledged tokens missing, e.g. {lost_tokens[:3]}"
        )
    if lost_sessions:
        ledger.violation("session-lost", f"{len(lost_sessions)} acknowledged sessions inactive")
    results.update(
        acknowledged_revocations=len(revoked),
        acknowledged_tokens=len(issued),
        acknowledged_sessions=len(sessions),
        lost_revocations=len(lost_revocations),
        lost_tokens=len(lost_tokens),
        lost_sessions=len(lost_sessions),
    )

    # The migration lock: a `tessera migrate` through haproxy finishes after the failovers.
    started = now()
    try:
        migrate = subprocess.run(
            [str(binary), "migrate", "--database-url", database_url],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if migrate.returncode != 0:
            ledger.violation("migrate-failed", migrate.stderr.strip()[-500:])
    except subprocess.TimeoutExpired:
        ledger.violation("migration-lock-stuck", "tessera migrate did not finish within 30 s")
    results["migrate_s"] = round(now() - started, 2)
    for replica in replicas:
        if not replica.alive():
            ledger.violation("replica-exited", f"tessera {replica.name} is not running")
    return results


def bootstrap(a: Replica) -> tuple[str, str, list[str], str]:
    """The admin session, a service token (introspect only), long-lived tokens and the probe's."""
    with Client(a.url, timeout=30) as anonymous:
        session = anonymous.login(ADMIN, ADMIN_PASSWORD)
    with Client(a.url, token=session.token, timeout=30) as admin:
        service = admin.issue_token(
            ttl="6h",
            permissions=["introspect"],
            token_type=TokenType.SERVICE,
            description="ha service",
        )
        long_lived = [
            admin.issue_token(ttl="6h", description="ha long-lived").token for _ in range(20)
        ]
        probe = admin.issue_token(ttl="6h", description="ha probe").token
    return session.token, service.token, long_lived, probe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--switchovers", type=int, default=1)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds of load between drills")
    parser.add_argument("--report", type=Path, help="write the figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()

    missing = missing_tools()
    if missing:
        print(
            "SKIPPED: tests/ha (Tessera through PostgreSQL failover): missing "
            + ", ".join(missing),
            flush=True,
        )
        return 3
    binary = Path(os.environ.get("TESSERA_BIN", "target/debug/tessera")).resolve()
    edge_binary = binary.parent / "tessera-edge-http"
    for path in (binary, edge_binary):
        if not os.access(path, os.X_OK):
            print(f"ha: {path} is not an executable (set TESSERA_BIN)", file=sys.stderr)
            return 2

    cluster = HaCluster()
    processes: list = []
    ledger = Ledger()
    load: Load | None = None
    report: dict = {"patroni": PATRONI_TIMINGS | {"synchronous_mode": True}, "events": []}
    started = now()
    try:
        cluster.start()
        print(
            f"ha: patroni cluster up in {now() - started:.1f}s, primary {cluster.leader().name}, "
            f"haproxy 127.0.0.1:{cluster.haproxy_port}, logs in {cluster.dir}",
            flush=True,
        )
        cluster.psql("CREATE ROLE tessera LOGIN PASSWORD 'tessera'")
        cluster.psql("CREATE DATABASE tessera OWNER tessera")
        database_url = f"postgres://tessera:tessera@{cluster.url_host_port}/tessera"
        accounts = json.dumps(
            [
                {
                    "username": ADMIN,
                    "password": ADMIN_PASSWORD,
                    "role": "admin",
                    "display_name": "HA",
                },
                {
                    "username": LOGIN_USER,
                    "password": LOGIN_PASSWORD,
                    "role": "user",
                    "display_name": "HA",
                },
            ]
        )
        a = Replica(binary, "a", database_url, cluster.dir, "--bootstrap-accounts-json", accounts)
        processes.append(a)
        b = Replica(binary, "b", database_url, cluster.dir, "--skip-migrations", "--no-cache")
        processes.append(b)
        admin_token, service_token, long_lived, probe = bootstrap(a)
        edge = Edge(edge_binary, [a, b], service_token, cluster.dir)
        processes.append(edge)
        ledger = Ledger()
        load = Load(ledger, a, b, edge, admin_token, service_token, long_lived, probe)
        load.start()
        time.sleep(3)  # warm caches and the follower
        plan = ["kill"] * args.kills
        # Switchovers go between the kills (a kill first: the harsher case on a fresh cluster).
        for i in range(args.switchovers):
            plan.insert(
                min(len(plan), 1 + i * (len(plan) // max(args.switchovers, 1) + 1)), "switchover"
            )
        for kind in plan:
            drill(cluster, load, ledger, kind, [a, b])
            time.sleep(args.settle)
        load.halt()
        report["final"] = final_checks(
            ledger, [a, b], admin_token, service_token, binary, database_url
        )
    except Exception as error:
        print(f"ha: FAILED to run the drill: {error!r}", file=sys.stderr, flush=True)
        for name in ["etcd", "pg0", "pg1", "pg2", "haproxy"]:
            print(f"--- {name}.log ---\n{cluster.log_tail(name, 1500)}", file=sys.stderr)
        ledger.violation("drill-failed", repr(error))
    finally:
        if load is not None:
            load.halt()
            load.close_watch()
        for process in reversed(processes):
            process.stop()
        cluster.stop()

    report["events"] = [
        {
            "kind": e.kind,
            "old": e.old,
            "new": e.new,
            "promoted_s": e.promoted_s,
            "routed_s": e.routed_s,
            "recovered_uncached_s": e.recovered_s,
            "recovered_cached_s": e.cached_recovered_s,
            "recovered_edge_s": e.edge_recovered_s,
            "health_serving_s": e.healthy_s,
            "refused": dict(e.refused),
            "violations": e.violations,
        }
        for e in ledger.events
    ]
    report["ok"] = dict(ledger.ok)
    report["refused"] = {f"{op} {code}": n for (op, code), n in sorted(ledger.refused.items())}
    report["slowest_refusal_s"] = dict(ledger.slowest_refusal)
    report["violations"] = dict(ledger.violation_kinds)
    report["duration_s"] = round(now() - started, 1)
    print_report(report, ledger)
    if args.report:
        args.report.write_text(json.dumps(report, indent=2, default=str))
    if args.keep:
        print(f"ha: work directory kept: {cluster.dir}")
    else:
        import shutil

        shutil.rmtree(cluster.dir, ignore_errors=True)
    if not ledger.violation_kinds:
        return 0
    unknown = set(ledger.violation_kinds) - set(KNOWN_DEFECTS)
    if os.environ.get("TESSERA_HA_TOLERATE_KNOWN") == "1" and not unknown:
        print("ha: only known defects broke invariants; tolerated (TESSERA_HA_TOLERATE_KNOWN=1)")
        return 0
    return 1


def print_report(report: dict, ledger: Ledger) -> None:
    print("\n== ha failover figures (seconds from the kill / switchover) ==")
    print(f"patroni: {report['patroni']}")
    print(
        f"{'event':<11}{'old→new':<10}{'promoted':>9}{'routed':>8}{'uncached':>9}{'cached':>8}"
        f"{'edge':>7}{'health':>8}  refused calls"
    )
    for e in report["events"]:
        print(
            f"{e['kind']:<11}{e['old'] + '→' + e['new']:<10}{fmt(e['promoted_s']):>9}"
            f"{fmt(e['routed_s']):>8}{fmt(e['recovered_uncached_s']):>9}"
            f"{fmt(e['recovered_cached_s']):>8}{fmt(e['recovered_edge_s']):>7}"
            f"{fmt(e['health_serving_s']):>8}  {sum(e['refused'].values())} {e['refused']}"
        )
    print(f"calls answered: {report['ok']}")
    print(f"calls refused:  {report['refused']}")
    print(f"slowest refusal per call (s): {report['slowest_refusal_s']}")
    if "final" in report:
        print(f"final checks:   {report['final']}")
    print(f"duration: {report['duration_s']}s")
    if ledger.violation_kinds:
        print(f"\nFAILED: invariant violations {dict(ledger.violation_kinds)}")
        for kind, why in KNOWN_DEFECTS.items():
            if kind in ledger.violation_kinds:
                print(f"  known defect, not yet fixed: {kind}: {why}")
        for line in ledger.violations:
            print(f"  {line}")
    else:
        print("\nPASSED: every invariant held")


if __name__ == "__main__":
    sys.exit(main())
