"""What the failover drill's load saw: answers, refusals (with their codes and how long they
took), violations of the invariants, acknowledged writes, the follower's feed and the probes that
recovery is measured from. Shared by every worker thread."""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field

from tessera_auth_client import (
    TesseraError,
)


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
