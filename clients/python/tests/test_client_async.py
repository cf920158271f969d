"""Every method of AsyncClient, and each exception, against the real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import grpc
import pytest
import pytest_asyncio
from grpc import aio

import tessera_auth_client as tc
from tessera_auth_client import AsyncClient, RetryPolicy, TokenType

from .support import (
    HASH_QUEUE,
    HASH_WORKERS,
    MAX_FAILED_LOGINS,
    PASSWORD,
    Tessera,
    closed_port,
    totp_code,
)

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def service(tessera: Tessera) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(tessera.addr, token=tessera.service_token) as client:
        yield client


@pytest_asyncio.fixture
async def admin(service: AsyncClient, tessera: Tessera) -> AsyncClient:
    return service.with_token(tessera.admin_token)


def _soon(when: datetime | None, after: timedelta) -> bool:
    assert when is not None and when.tzinfo is not None
    return abs(when - (datetime.now(timezone.utc) + after)) < timedelta(seconds=30)


async def test_login_lockout_and_mfa(tessera: Tessera, service: AsyncClient) -> None:
    session = await service.login("alice", PASSWORD)
    assert session.token.startswith("tsr_ses_") and session.user.username == "alice"
    assert _soon(session.expires_at, timedelta(hours=12))

    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(tc.InvalidCredentials):
            await service.login("locked-async", "wrong password")
    # Locked: the right password is refused exactly like a wrong one (no enumeration).
    with pytest.raises(tc.InvalidCredentials) as locked:
        await service.login("locked-async", PASSWORD)
    assert locked.value.reason == "INVALID_CREDENTIALS"

    with pytest.raises(tc.MfaRequired) as mfa:
        await service.login("mfa-async", PASSWORD)
    assert mfa.value.code is grpc.StatusCode.FAILED_PRECONDITION
    code = totp_code(tessera.totp_secrets["mfa-async"])
    assert (await service.login("mfa-async", PASSWORD, totp_code=code)).user.totp_enabled


async def test_unlock_and_revoke(
    tessera: Tessera, service: AsyncClient, admin: AsyncClient
) -> None:
    session = await service.login(tessera.admin_username, tessera.admin_password)
    owner = service.with_token(session.token)
    elevated = await owner.unlock(tessera.admin_password, ttl="5m")
    assert _soon(elevated.expires_at, timedelta(minutes=5))
    seen = await service.introspect(elevated.token, peek=True)
    assert seen.elevated and seen.token_type is TokenType.ELEVATED

    alice = service.with_token((await service.login("alice", PASSWORD)).token)
    with pytest.raises(tc.ElevationRequired):
        await alice.revoke(session_id=session.session_id)
    assert await owner.revoke(session_id=session.session_id, reason="async test") == 2
    assert not (await service.introspect(elevated.token, peek=True)).active

    bob = await service.login("bob", PASSWORD)
    assert await admin.revoke(subject=bob.user.user_id) >= 1
    mine = await alice.issue_token(ttl="1m")
    assert await alice.revoke(token=mine.token) == 1
    assert await alice.revoke(token_id=mine.token_id) == 0


async def test_issue_introspect_and_check_namespace(
    service: AsyncClient, admin: AsyncClient
) -> None:
    issued = await admin.issue_token(
        ttl=timedelta(minutes=20), max_uses=2, namespace="deploy.", permissions=["issue", "read"]
    )
    assert issued.max_uses == 2 and _soon(issued.expires_at, timedelta(minutes=20))

    peeked = await service.introspect(issued.token, peek=True)
    assert peeked.active and peeked.uses_remaining == 2 and peeked.namespace == "deploy."
    assert (await service.introspect(issued.token)).uses_remaining == 1

    check = await service.check_namespace(issued.token, ["deploy.a", "other"], action="read")
    assert check.active and check.allowed_identifiers == ("deploy.a",) and not check.allowed
    assert (await service.introspect(issued.token, peek=True)).uses_remaining == 1

    # A limited-use token spends a use on each call it makes, so the caller here is unlimited.
    deploy = service.with_token(
        (await admin.issue_token(ttl="5m", namespace="deploy.", permissions=["issue"])).token
    )
    with pytest.raises(tc.PrivilegeExceeded):
        await deploy.issue_token(namespace="*")
    with pytest.raises(tc.PrivilegeExceeded):
        await deploy.issue_token(permissions=["admin"])
    with pytest.raises(tc.OverPrivileged):
        await admin.issue_token(token_type=TokenType.SERVICE, permissions=["introspect", "admin"])
    with pytest.raises(tc.AuthDenied):
        await service.issue_token()  # the service token holds only introspect
    with pytest.raises(tc.InvalidArgument) as bad:
        await admin.issue_token(namespace="has space")
    assert bad.value.field == "namespace"


async def test_watch_revocations_delivers_a_revocation(
    service: AsyncClient, admin: AsyncClient
) -> None:
    doomed = await admin.issue_token(ttl="10m")

    async def first_revocation_of(token_id: str) -> tc.Revocation:
        async with service.watch_revocations() as watch:
            async for revocation in watch:
                if revocation.token_id == token_id:
                    return revocation
        raise AssertionError("the watch ended")

    waiting = asyncio.create_task(first_revocation_of(doomed.token_id))
    assert await admin.revoke(token=doomed.token) == 1
    seen = await asyncio.wait_for(waiting, timeout=20)
    assert seen.token_hash == tc.token_hash(doomed.token)
    assert _soon(seen.revoked_at, timedelta(0))

    after = await admin.issue_token(ttl="10m")
    await admin.revoke(token_id=after.token_id)
    async with service.watch_revocations(after_sequence=seen.sequence) as resumed:
        nxt = await asyncio.wait_for(resumed.__anext__(), timeout=20)
    assert nxt.sequence > seen.sequence
    assert resumed.last_sequence == nxt.sequence


async def test_caller_credentials_are_checked(tessera: Tessera, service: AsyncClient) -> None:
    anonymous = service.with_token(None)
    with pytest.raises(tc.AuthRequired):
        await anonymous.check_namespace(tessera.admin_token, "x")
    stranger = service.with_token("tsr_api_" + "y" * 49)
    with pytest.raises(tc.AuthFailed) as failed:
        await stranger.introspect(tessera.admin_token)
    assert failed.value.code is grpc.StatusCode.UNAUTHENTICATED
    async with stranger.watch_revocations() as watch:
        with pytest.raises(tc.AuthFailed):
            await watch.__anext__()


class _CountingInterceptor(aio.UnaryUnaryClientInterceptor):
    def __init__(self) -> None:
        self.calls = 0

    async def intercept_unary_unary(
        self, continuation: Callable[..., Awaitable[Any]], client_call_details: Any, request: Any
    ) -> Any:
        self.calls += 1
        return await continuation(client_call_details, request)


async def test_unreachable_server_raises_unavailable_after_retrying_only_safe_calls() -> None:
    counter = _CountingInterceptor()
    policy = RetryPolicy(
        max_attempts=3, initial_backoff=0.01, max_backoff=0.05, watch_reconnect_window=0.5
    )
    async with AsyncClient(
        f"127.0.0.1:{closed_port()}", token="t", retry=policy, interceptors=[counter]
    ) as down:
        with pytest.raises(tc.Unavailable) as unavailable:
            await down.introspect("tok", peek=True)
        assert unavailable.value.reason is None and counter.calls == 3

        counter.calls = 0
        with pytest.raises(tc.Unavailable):
            await down.introspect("tok")
        assert counter.calls == 1, "a use-consuming introspect is never retried"

        counter.calls = 0
        with pytest.raises(tc.Unavailable):
            await down.check_namespace("tok", ["a", "b"])
        assert counter.calls == 3

        async with down.watch_revocations() as watch:
            with pytest.raises(tc.Unavailable):
                await watch.__anext__()


async def test_floods_and_deadlines(service: AsyncClient) -> None:
    flood = 4 * (HASH_WORKERS + HASH_QUEUE) + 4
    outcomes = await asyncio.gather(
        *(service.login(f"flood-async-{i}", "wrong password") for i in range(flood)),
        return_exceptions=True,
    )
    assert any(isinstance(o, tc.ResourceExhausted) for o in outcomes)
    assert all(isinstance(o, (tc.ResourceExhausted, tc.InvalidCredentials)) for o in outcomes)

    with pytest.raises(tc.DeadlineExceeded):
        await service.login("nobody-here", "wrong password", timeout=timedelta(milliseconds=1))
