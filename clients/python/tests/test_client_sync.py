"""Every method of the synchronous Client, and each exception, against the real server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import grpc
import pytest

import tessera_auth_client as tc
from tessera_auth_client import Client, RetryPolicy, TokenType

from .support import (
    HASH_QUEUE,
    HASH_WORKERS,
    MAX_FAILED_LOGINS,
    PASSWORD,
    Tessera,
    closed_port,
    totp_code,
)


def _near(
    when: datetime | None, expected: datetime, slack: timedelta = timedelta(seconds=30)
) -> bool:
    assert when is not None and when.tzinfo is not None, "timestamps are aware datetimes"
    return abs(when - expected) < slack


def _now() -> datetime:
    return datetime.now(timezone.utc)


def test_login_opens_a_session_and_bad_passwords_are_refused(
    tessera: Tessera, service: Client
) -> None:
    session = service.login("alice", PASSWORD)
    assert session.token.startswith("tsr_ses_")
    assert session.user.username == "alice" and session.user.role == "user"
    assert not session.user.totp_enabled
    assert session.session_id == session.token_id
    assert _near(session.expires_at, _now() + timedelta(hours=12))
    assert session.token not in repr(session), "secrets stay out of repr"

    with pytest.raises(tc.InvalidCredentials) as refused:
        service.login("nobody-here", PASSWORD)
    assert refused.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert refused.value.reason == "INVALID_CREDENTIALS"


def test_repeated_failures_lock_the_account(service: Client) -> None:
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(tc.InvalidCredentials):
            service.login("locked-sync", "wrong password")
    # Locked: even the right password is refused, with the same answer as a wrong one, so a
    # lockout does not reveal that the account exists.
    with pytest.raises(tc.InvalidCredentials) as locked:
        service.login("locked-sync", PASSWORD)
    assert locked.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert locked.value.reason == "INVALID_CREDENTIALS"


def test_totp_accounts_need_a_code(tessera: Tessera, service: Client) -> None:
    with pytest.raises(tc.MfaRequired) as mfa:
        service.login("mfa-sync", PASSWORD)
    assert mfa.value.code is grpc.StatusCode.FAILED_PRECONDITION
    assert mfa.value.reason == "MFA_REQUIRED"
    session = service.login(
        "mfa-sync", PASSWORD, totp_code=totp_code(tessera.totp_secrets["mfa-sync"])
    )
    assert session.user.totp_enabled


def test_unlock_mints_an_elevated_child_that_revoking_locks_again(
    tessera: Tessera, service: Client
) -> None:
    session = service.login(tessera.admin_username, tessera.admin_password)
    owner = service.with_token(session.token)
    elevated = owner.unlock(tessera.admin_password, ttl=timedelta(minutes=5))
    assert elevated.token.startswith("tsr_elv_")
    assert _near(elevated.expires_at, _now() + timedelta(minutes=5))

    seen = service.introspect(elevated.token)
    assert seen.active and seen.elevated and seen.token_type is TokenType.ELEVATED
    assert seen.session_id == session.session_id

    with pytest.raises(tc.InvalidArgument) as too_long:
        owner.unlock(tessera.admin_password, ttl="2h")
    assert too_long.value.field == "ttl"

    assert owner.revoke(token_id=elevated.token_id, reason="done") == 1
    assert not service.introspect(elevated.token).active


def test_issue_token_derives_within_the_callers_bounds(tessera: Tessera, service: Client) -> None:
    alice = service.with_token(service.login("alice", PASSWORD).token)
    issued = alice.issue_token(
        ttl=timedelta(minutes=30),
        max_uses=3,
        namespace="deploy.",
        permissions=["issue", "read"],
        description="sync test",
    )
    assert issued.token.startswith("tsr_api_")
    assert issued.namespace == "deploy." and set(issued.permissions) == {"issue", "read"}
    assert issued.max_uses == 3
    assert _near(issued.expires_at, _now() + timedelta(minutes=30))

    deploy = service.with_token(issued.token)
    with pytest.raises(tc.PrivilegeExceeded) as broader:
        deploy.issue_token(namespace="backup.")
    assert broader.value.code is grpc.StatusCode.PERMISSION_DENIED
    assert broader.value.reason == "PRIVILEGE_EXCEEDED"

    read_only = service.with_token(alice.issue_token(ttl="10m", permissions=["read"]).token)
    with pytest.raises(tc.AuthDenied) as denied:
        read_only.issue_token()
    assert denied.value.reason == "AUTH_DENIED"

    with pytest.raises(tc.InvalidArgument) as bad_ttl:
        alice.issue_token(ttl="banana")
    assert bad_ttl.value.field == "ttl" and bad_ttl.value.reason == "INVALID_ARGUMENT"


def test_service_tokens_must_not_hold_admin_rights(admin: Client) -> None:
    with pytest.raises(tc.OverPrivileged):
        # Admin is never inherited (least privilege): over-privilege has to be asked for.
        admin.issue_token(
            token_type=TokenType.SERVICE, ttl="5m", permissions=["introspect", "admin"]
        )
    machine = admin.issue_token(token_type=TokenType.SERVICE, ttl="5m", permissions=["introspect"])
    assert machine.token.startswith("tsr_svc_")


def test_introspect_counts_uses_unless_peeking(
    tessera: Tessera, admin: Client, service: Client
) -> None:
    limited = admin.issue_token(ttl="10m", max_uses=2, namespace="jobs.", permissions=["read"])
    peeked = service.introspect(limited.token, peek=True)
    assert peeked.active and peeked.uses_remaining == 2
    assert peeked.token_type is TokenType.API and peeked.username == tessera.admin_username
    assert peeked.namespace == "jobs." and peeked.permissions == ("read",)
    assert peeked.may_touch("jobs.nightly") and not peeked.may_touch("backup.x")
    assert peeked.has_permission("read") and not peeked.has_permission("write")
    assert peeked.issued_at is not None and peeked.issued_at <= _now()

    assert service.introspect(limited.token).uses_remaining == 1
    assert service.introspect(limited.token).uses_remaining == 0
    gone = service.introspect(limited.token)
    assert gone == tc.Introspection(active=False), "inactive answers carry nothing else"

    assert not service.introspect("tsr_api_not-a-real-token").active


def test_check_namespace_decides_each_identifier(admin: Client, service: Client) -> None:
    token = admin.issue_token(ttl="10m", namespace="deploy.", permissions=["read"]).token
    check = service.check_namespace(token, ["deploy.daily", "backup.x", "deploy"])
    assert check.active and not check.allowed and check.namespace == "deploy."
    assert check.allowed_identifiers == ("deploy.daily",)
    assert [d.identifier for d in check.results] == ["deploy.daily", "backup.x", "deploy"]

    assert service.check_namespace(token, "deploy.weekly").allowed
    assert not service.check_namespace(token, "deploy.weekly", action="write").allowed
    # Never consumes a use.
    single = admin.issue_token(ttl="10m", max_uses=1)
    assert service.check_namespace(single.token, "x").allowed
    assert service.introspect(single.token).active

    with pytest.raises(tc.InvalidArgument) as bad:
        service.check_namespace(token, ["has space"])
    assert bad.value.field == "identifiers"


def test_revoke_by_each_target(tessera: Tessera, service: Client, admin: Client) -> None:
    alice = service.with_token(service.login("alice", PASSWORD).token)
    by_secret, by_id = alice.issue_token(ttl="5m"), alice.issue_token(ttl="5m")
    assert alice.revoke(token=by_secret.token) == 1
    assert alice.revoke(token_id=by_id.token_id, reason="rotated") == 1
    assert alice.revoke(token_id=by_id.token_id) == 0, "revoking again changes nothing"

    bob_session = service.login("bob", PASSWORD)
    with pytest.raises(tc.ElevationRequired) as elevation:
        alice.revoke(session_id=bob_session.session_id)
    assert elevation.value.code is grpc.StatusCode.PERMISSION_DENIED
    bob = service.with_token(bob_session.token)
    child = bob.issue_token(ttl="5m")
    assert admin.revoke(session_id=bob_session.session_id) == 2, "the session and its child"
    assert not service.introspect(child.token).active

    bob_again = service.login("bob", PASSWORD)
    assert admin.revoke(subject=bob_again.user.user_id) >= 1
    assert not service.introspect(bob_again.token).active

    with pytest.raises(ValueError):
        alice.revoke()
    with pytest.raises(tc.InvalidArgument) as bad:
        alice.revoke(token_id="not-a-uuid")
    assert bad.value.field == "token_id"


def test_watch_revocations_delivers_a_revocation_and_resumes(
    admin: Client, service: Client
) -> None:
    doomed = admin.issue_token(ttl="10m", description="watch me")
    watch = service.watch_revocations()
    # Never hang the run: close the watch (which ends the iteration) after a while regardless.
    guard = threading.Timer(20, watch.close)
    guard.start()
    try:
        assert admin.revoke(token=doomed.token, reason="watch test") == 1
        seen = next(r for r in watch if r.token_id == doomed.token_id)
    finally:
        guard.cancel()
        watch.close()
    assert seen.token_hash == tc.token_hash(doomed.token)
    assert _near(seen.revoked_at, _now())
    assert watch.last_sequence == seen.sequence

    # Resuming after that sequence does not replay it: the next one seen is newer.
    later = admin.issue_token(ttl="10m")
    admin.revoke(token_id=later.token_id)
    with service.watch_revocations(after_sequence=seen.sequence) as resumed:
        first = next(resumed)
    assert first.sequence > seen.sequence


def test_a_watch_needs_the_introspect_permission(admin: Client, service: Client) -> None:
    reader = service.with_token(admin.issue_token(ttl="5m", permissions=["read"]).token)
    with reader.watch_revocations() as watch, pytest.raises(tc.AuthDenied):
        next(watch)


def test_caller_credentials_are_checked(tessera: Tessera) -> None:
    with tessera.client() as anonymous, pytest.raises(tc.AuthRequired) as required:
        anonymous.introspect(tessera.admin_token)
    assert required.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert required.value.reason == "AUTH_REQUIRED"

    bogus = "tsr_api_" + "x" * 49
    with tessera.client(bogus) as stranger, pytest.raises(tc.AuthFailed) as failed:
        stranger.check_namespace(tessera.admin_token, "x")
    assert failed.value.reason == "AUTH_FAILED"


class _CountingInterceptor(grpc.UnaryUnaryClientInterceptor):
    def __init__(self) -> None:
        self.calls = 0

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        self.calls += 1
        return continuation(details, request)


def test_unreachable_server_raises_unavailable_after_retrying_only_safe_calls() -> None:
    counter = _CountingInterceptor()
    policy = RetryPolicy(
        max_attempts=3, initial_backoff=0.01, max_backoff=0.05, watch_reconnect_window=0.5
    )
    with Client(
        f"127.0.0.1:{closed_port()}", token="t", retry=policy, interceptors=[counter]
    ) as down:
        with pytest.raises(tc.Unavailable) as unavailable:
            down.check_namespace("tok", "x")
        assert unavailable.value.code is grpc.StatusCode.UNAVAILABLE
        assert unavailable.value.reason is None, "a transport failure carries no tessera reason"
        assert counter.calls == 3

        counter.calls = 0
        with pytest.raises(tc.Unavailable):
            down.introspect("tok", peek=True)
        assert counter.calls == 3

        for consuming_call in (
            lambda: down.introspect("tok"),
            lambda: down.login("alice", PASSWORD),
            lambda: down.issue_token(),
            lambda: down.unlock(PASSWORD),
        ):
            counter.calls = 0
            with pytest.raises(tc.Unavailable):
                consuming_call()
            assert counter.calls == 1, "use-consuming and non-idempotent calls are never retried"

        counter.calls = 0
        with pytest.raises(tc.Unavailable):
            down.revoke(token_id="00000000-0000-0000-0000-000000000000")
        assert counter.calls == 3

        # A watch is long-lived: it reconnects through a failover (longer than one call's
        # attempts) for the policy's window, then raises.
        started = time.monotonic()
        with down.watch_revocations() as watch, pytest.raises(tc.Unavailable):
            next(watch)
        assert time.monotonic() - started >= 0.5


def test_closing_a_watch_from_another_thread_ends_the_iteration(service: Client) -> None:
    # Replay everything retained, then block waiting for more, until closed from another thread.
    watch = service.watch_revocations()
    threading.Timer(0.5, watch.close).start()
    started = time.monotonic()
    for _ in watch:
        pass
    assert time.monotonic() - started < 10, "close() unblocked the iteration"
    with pytest.raises(StopIteration):
        next(watch)


def test_a_login_flood_is_refused_with_resource_exhausted(service: Client) -> None:
    def attempt(i: int) -> Exception | None:
        try:
            service.login(f"flood-sync-{i}", "wrong password")
        except tc.TesseraError as error:
            return error
        return None

    flood = 4 * (HASH_WORKERS + HASH_QUEUE) + 4
    with ThreadPoolExecutor(max_workers=flood) as pool:
        outcomes = list(pool.map(attempt, range(flood)))
    refused = [o for o in outcomes if isinstance(o, tc.ResourceExhausted)]
    assert refused, "more logins than the hash pool admits are refused at once"
    assert all(o.code is grpc.StatusCode.RESOURCE_EXHAUSTED for o in refused)
    assert all(isinstance(o, (tc.ResourceExhausted, tc.InvalidCredentials)) for o in outcomes)


def test_a_call_past_its_deadline_raises_deadline_exceeded(service: Client) -> None:
    # Password hashing takes far longer than a millisecond.
    with pytest.raises(tc.DeadlineExceeded) as late:
        service.login("nobody-here", "wrong password", timeout=0.001)
    # Whichever timer fires first: the client's, or the server's honouring the same deadline.
    assert late.value.code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED)
    assert late.value.reason is None
