"""The failover drill's load: issue → introspect → revoke → introspect cycles on both replicas and
the edge, cached and uncached Introspects, limited-use tokens, logins, a WatchRevocations follower,
and the recovery probes (a fresh call every 50 ms, each in a thread of its own)."""

from __future__ import annotations

import random
import threading
import time

import grpc
from ledger import Ledger, now
from processes import CALL_TIMEOUT_S, Edge, Replica
from tessera_auth_client import (
    NO_RETRY,
    Client,
    RetryPolicy,
    TesseraError,
    Unavailable,
)

LOGIN_USER, LOGIN_PASSWORD = "ha-user", "ha-user-password-1"
EDGE_503 = Unavailable("503 Service Unavailable", code=grpc.StatusCode.UNAVAILABLE)


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
        # Retries up to the 10 s deadline (the SDK's default policy stops after four attempts,
        # under a second of backoff): whether a switchover loses a safe call is then Tessera's.
        until_deadline = RetryPolicy(max_attempts=100, initial_backoff=0.05, max_backoff=0.5)
        self.retrying = Client(
            [b.url, a.url], token=service_token, timeout=10, retry=until_deadline
        )
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
            self.introspect_expect(
                name, issued.token, issued.token_id, active=True, op="introspect-before-revoke"
            )
        self.edge_expect(issued.token, issued.token_id, active=True)
        revoke = lambda: self.admin[home].revoke(token_id=issued.token_id, reason="ha cycle")  # noqa: E731
        if self.attempt("revoke", revoke) is None:
            return  # ambiguous: not checked either way
        with ledger.lock:
            ledger.revoked[issued.token_id] = now()
        for name in (other, home):
            self.introspect_expect(
                name, issued.token, issued.token_id, active=False, op="introspect-after-revoke"
            )
        self.edge_expect(issued.token, issued.token_id, active=False)

    def since_revoke(self, token_id: str) -> str:
        with self.ledger.lock:
            acknowledged = self.ledger.revoked.get(token_id)
        late = "" if acknowledged is None else f", {(now() - acknowledged) * 1000:.0f} ms after"
        return f"token {token_id}{late} its Revoke returned"

    def introspect_expect(
        self, replica: str, token: str, token_id: str, *, active: bool, op: str
    ) -> None:
        result = self.attempt(op, lambda: self.service[replica].introspect(token, peek=True))
        if result is None:
            return
        if result.active and not active:
            self.ledger.violation(
                "revoked-token-accepted",
                f"{op}: replica {replica} answered active for {self.since_revoke(token_id)}",
            )
        if active and not result.active:
            self.ledger.violation(
                "wrong-inactive", f"replica {replica}: acknowledged token inactive"
            )

    def edge_expect(self, token: str, token_id: str, *, active: bool) -> None:
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
                "revoked-token-accepted",
                f"edge /auth/verify answered 200 for {self.since_revoke(token_id)}",
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
        token_id = random.choice(revoked)
        token = self.ledger.issued[token_id]
        for name in ("a", "b"):
            self.introspect_expect(
                name, token, token_id, active=False, op="introspect-revoked-again"
            )
        time.sleep(0.02)

    def retrying_probe(self) -> None:
        """The SDK retrying a safe call until its 10 s deadline: a switchover must lose none."""
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
