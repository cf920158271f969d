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
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from cluster import PATRONI_TIMINGS, HaCluster, missing_tools, wait_for
from ledger import Event, Ledger, now
from load import LOGIN_PASSWORD, LOGIN_USER, Load
from processes import Edge, Replica, health
from tessera_auth_client import (
    Client,
    TokenNotFound,
    TokenType,
)

FEED_LEASE_S = 0.25  # tessera serve's --feed-lease default
TRUST_SLACK_S = 0.5  # added to the lease before a cached "active" without a primary is a violation
RECOVERY_MARGIN_S = 2.0  # issue 32: recovery ≤ Patroni's promotion + 2 s
ADMIN, ADMIN_PASSWORD = "ha-admin", "ha-admin-password-1"


# Violations this drill has found and that are known not to be fixed yet; the checks stay, so the
# drill fails until they are. Empty: the four it found (a revoked token accepted after Revoke,
# INTERNAL from a node in recovery, slow recovery, the Python watch giving up) are fixed.
KNOWN_DEFECTS: dict[str, str] = {}


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
