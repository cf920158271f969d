"""The asyncio client, on ``grpc.aio``."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeVar, cast

import grpc
from google.protobuf.message import Message
from grpc import aio

from tessera_auth_client._proto.tessera.v1 import admin_pb2_grpc, auth_pb2_grpc
from tessera_auth_client._proto.tessera.v1 import auth_pb2 as pb

from . import _wire
from ._wire import DEFAULT_RETRY, DEFAULT_TIMEOUT, TTL, ChannelOptions, RetryPolicy
from .admin import AsyncAdmin
from .errors import ResyncRequired, Unavailable, from_rpc_error
from .types import (
    ElevatedToken,
    Introspection,
    IssuedToken,
    NamespaceCheck,
    Revocation,
    Session,
    TokenFormat,
    TokenType,
)

__all__ = ["AsyncClient", "AsyncRevocationWatch"]

_log = logging.getLogger("tessera_auth_client")

_Req = TypeVar("_Req", bound=Message)
_Resp = TypeVar("_Resp", bound=Message)


class _Endpoint:
    """One ``grpc.aio`` channel, opened on first use inside the running event loop, so that a client
    can be built at import time (say, for an ASGI middleware) and used from the server's loop."""

    def __init__(
        self,
        target: str,
        credentials: grpc.ChannelCredentials | None,
        options: ChannelOptions,
        interceptors: Sequence[aio.ClientInterceptor],
    ) -> None:
        self.target = target
        self._credentials = credentials
        self._options = options
        self._interceptors = list(interceptors)
        self._channel: aio.Channel | None = None
        self._stub: auth_pb2_grpc.AuthServiceAsyncStub | None = None
        self._admin_stub: admin_pb2_grpc.AdminServiceAsyncStub | None = None

    def stub(self) -> auth_pb2_grpc.AuthServiceAsyncStub:
        if self._stub is None:
            if self._credentials is not None:
                self._channel = aio.secure_channel(
                    self.target,
                    self._credentials,
                    options=self._options,
                    interceptors=self._interceptors,
                )
            else:
                self._channel = aio.insecure_channel(
                    self.target, options=self._options, interceptors=self._interceptors
                )
            self._stub = auth_pb2_grpc.AuthServiceStub(self._channel)
        return self._stub

    def admin_stub(self) -> admin_pb2_grpc.AdminServiceAsyncStub:
        self.stub()
        if self._admin_stub is None:
            assert self._channel is not None
            self._admin_stub = admin_pb2_grpc.AdminServiceStub(self._channel)
        return self._admin_stub

    async def close(self) -> None:
        self._admin_stub = None
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            await channel.close()


class _Connection:
    """The addresses of one deployment in order of preference, and the one in use; calls stay on
    one until it fails with ``UNAVAILABLE``, then the next takes over."""

    def __init__(
        self,
        targets: list[tuple[str, grpc.ChannelCredentials | None]],
        options: ChannelOptions,
        interceptors: Sequence[aio.ClientInterceptor],
    ) -> None:
        self._endpoints = [_Endpoint(t, c, options, interceptors) for t, c in targets]
        self._current = 0
        self.intercepted = bool(interceptors)

    def call_metadata(self, metadata: tuple[tuple[str, str], ...]) -> _wire.Metadata:
        """What unary calls pass as ``metadata``: a ``grpc.aio.Metadata`` built once, which
        ``grpc.aio`` would otherwise build from the tuple on every call, unless interceptors might
        change it in place (then the tuple, for a fresh one each call)."""
        if self.intercepted or not metadata:
            return metadata
        return aio.Metadata(*metadata)

    def __len__(self) -> int:
        return len(self._endpoints)

    def current(self) -> _Endpoint:
        return self._endpoints[self._current]

    def stub(self) -> auth_pb2_grpc.AuthServiceAsyncStub:
        return self.current().stub()

    def admin_stub(self) -> admin_pb2_grpc.AdminServiceAsyncStub:
        return self.current().admin_stub()

    def failed(self, endpoint: _Endpoint) -> _Endpoint:
        """Moves on from ``endpoint`` unless another call already did; returns the one in use.
        One event loop runs every call, so no lock is needed."""
        if self._endpoints[self._current] is endpoint:
            self._current = (self._current + 1) % len(self._endpoints)
        return self._endpoints[self._current]

    async def close(self) -> None:
        for endpoint in self._endpoints:
            await endpoint.close()


class AsyncClient:
    """An asyncio Tessera client; the same API as :class:`~tessera_auth_client.Client`, awaited.

    The channel opens on the first call and belongs to the event loop of that call; use a client
    from one loop only. Arguments as for :class:`~tessera_auth_client.Client` (interceptors are
    ``grpc.aio`` interceptors).
    """

    def __init__(
        self,
        target: str | Sequence[str],
        *,
        token: str | None = None,
        tls: bool | grpc.ChannelCredentials = False,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        options: ChannelOptions = (),
        interceptors: Sequence[aio.ClientInterceptor] = (),
    ) -> None:
        targets = [
            (address, _wire.channel_credentials(security))
            for address, security in _wire.parse_targets(target, tls)
        ]
        self._connection = _Connection(targets, options, interceptors)
        self._owns_connection = True
        self._metadata = _wire.bearer_metadata(token)
        self._call_metadata = self._connection.call_metadata(self._metadata)
        self._timeout = _wire.seconds(timeout)
        self._retry = retry

    @property
    def admin(self) -> AsyncAdmin:
        """AdminService (accounts, TOTP enrollment, tokens, audit), awaited, with this client's
        channel, token, deadline and retry policy."""
        return AsyncAdmin(self)

    def with_token(self, token: str | None) -> AsyncClient:
        """A client sharing this one's channel that sends ``token`` instead. Closing it leaves the
        shared channel open; close the original."""
        other = object.__new__(AsyncClient)
        other._connection = self._connection
        other._owns_connection = False
        other._metadata = _wire.bearer_metadata(token)
        other._call_metadata = other._connection.call_metadata(other._metadata)
        other._timeout = self._timeout
        other._retry = self._retry
        return other

    async def close(self) -> None:
        """Closes the channel (if this client opened it); open watches end."""
        if self._owns_connection:
            await self._connection.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- the API ----------------------------------------------------------------------------------

    async def login(
        self,
        username: str,
        password: str,
        *,
        totp_code: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> Session:
        """See :meth:`tessera_auth_client.Client.login`."""
        request = _wire.login_request(username, password, totp_code)
        return _wire.session(
            await self._unary(lambda stub: stub.Login, request, timeout, False, auth=False)
        )

    async def unlock(
        self,
        password: str,
        *,
        totp_code: str | None = None,
        ttl: TTL | None = None,
        timeout: float | timedelta | None = None,
    ) -> ElevatedToken:
        """See :meth:`tessera_auth_client.Client.unlock`."""
        request = _wire.unlock_request(password, totp_code, ttl)
        return _wire.elevated(await self._unary(lambda stub: stub.Unlock, request, timeout, False))

    async def revoke(
        self,
        *,
        token: str | None = None,
        token_id: str | None = None,
        session_id: str | None = None,
        subject: str | None = None,
        reason: str = "",
        timeout: float | timedelta | None = None,
    ) -> int:
        """See :meth:`tessera_auth_client.Client.revoke`."""
        request = _wire.revoke_request(
            token=token, token_id=token_id, session_id=session_id, subject=subject, reason=reason
        )
        return (await self._unary(lambda stub: stub.Revoke, request, timeout, True)).revoked_count

    async def issue_token(
        self,
        *,
        ttl: TTL | None = None,
        max_uses: int | None = None,
        namespace: str | None = None,
        permissions: Iterable[str] = (),
        description: str = "",
        token_format: TokenFormat = TokenFormat.OPAQUE,
        token_type: TokenType = TokenType.API,
        timeout: float | timedelta | None = None,
    ) -> IssuedToken:
        """See :meth:`tessera_auth_client.Client.issue_token`."""
        request = _wire.issue_request(
            ttl=ttl,
            max_uses=max_uses,
            namespace=namespace,
            permissions=permissions,
            description=description,
            token_format=token_format,
            token_type=token_type,
        )
        return _wire.issued(
            await self._unary(lambda stub: stub.IssueToken, request, timeout, False)
        )

    async def introspect(
        self, token: str, *, peek: bool = False, timeout: float | timedelta | None = None
    ) -> Introspection:
        """See :meth:`tessera_auth_client.Client.introspect`."""
        request = _wire.introspect_request(token, peek)
        return _wire.introspection(
            await self._unary(lambda stub: stub.Introspect, request, timeout, peek)
        )

    async def check_namespace(
        self,
        token: str,
        identifiers: str | Iterable[str],
        *,
        action: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> NamespaceCheck:
        """See :meth:`tessera_auth_client.Client.check_namespace`."""
        request = _wire.check_namespace_request(token, identifiers, action)
        return _wire.namespace_check(
            await self._unary(lambda stub: stub.CheckNamespace, request, timeout, True)
        )

    def watch_revocations(
        self,
        *,
        after_sequence: int = 0,
        on_resync: Callable[[int], Awaitable[None] | None] | None = None,
    ) -> AsyncRevocationWatch:
        """Every revocation in order, as an async iterator (``async for``); reconnects after
        ``UNAVAILABLE`` and resumes after the last sequence yielded. It ends when closed
        (``aclose()``, an ``async with`` block) or when the server ends the stream.

        After ``RESYNC_REQUIRED`` (revocations after the resume point were pruned) it starts again
        from 0: with ``on_resync`` (a function or coroutine function) it first calls
        ``on_resync(oldest_sequence)`` to drop every cached verdict; without, it raises
        :class:`ResyncRequired` once and the next ``__anext__`` replays from 0."""
        return AsyncRevocationWatch(self, after_sequence, on_resync)

    # --- plumbing ---------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """The ``host:port`` calls go to now (with several addresses, it changes on failover)."""
        return self._connection.current().target

    async def _admin_unary(self, name: str, request: Any, *, retry: bool) -> Any:
        """One AdminService call, for :class:`AsyncAdmin`."""
        connection = self._connection
        # The AdminService stub of whichever replica is in use when the call is (re)sent.
        return await self._unary(
            lambda _auth_stub: getattr(connection.admin_stub(), name), request, None, retry
        )

    async def _unary(
        self,
        method: Callable[
            [auth_pb2_grpc.AuthServiceAsyncStub], aio.UnaryUnaryMultiCallable[_Req, _Resp]
        ],
        request: _Req,
        timeout: float | timedelta | None,
        retry: bool,
        *,
        auth: bool = True,
    ) -> _Resp:
        budget = self._timeout if timeout is None else _wire.seconds(timeout)
        deadline = time.monotonic() + budget
        metadata = self._call_metadata if auth else ()
        attempt = 0
        failovers_left = len(self._connection) - 1
        while True:
            attempt += 1
            endpoint = self._connection.current()
            try:
                return await method(endpoint.stub())(
                    request,
                    timeout=budget if attempt == 1 else max(deadline - time.monotonic(), 0.001),
                    metadata=metadata,
                )
            except grpc.RpcError as rpc_error:
                error = _wire.unary_failure(rpc_error)
                if isinstance(error, Unavailable) and len(self._connection) > 1:
                    now = self._connection.failed(endpoint)
                    # As in Client: a call not safe to repeat moves on only if it never left.
                    if failovers_left > 0 and (retry or _wire.never_sent(rpc_error)):
                        failovers_left -= 1
                        attempt -= 1
                        _log.info(
                            "tessera at %s unavailable; failing over to %s",
                            endpoint.target,
                            now.target,
                        )
                        continue
                delay = _wire.retry_delay(
                    self._retry, error, attempt, retry=retry, deadline=deadline
                )
                if delay is None:
                    raise error from rpc_error
                failovers_left = len(self._connection) - 1
            _log.info("tessera unavailable; retrying in %.2fs (attempt %d)", delay, attempt)
            await asyncio.sleep(delay)


class AsyncRevocationWatch(AsyncIterator[Revocation]):
    """An open ``watch_revocations`` stream; ``async for`` it. ``last_sequence`` is the sequence of
    the last revocation yielded, to resume from later."""

    def __init__(
        self,
        client: AsyncClient,
        after_sequence: int,
        on_resync: Callable[[int], Awaitable[None] | None] | None = None,
    ) -> None:
        _wire.watch_request(after_sequence)  # validates
        self._client = client
        self.last_sequence = after_sequence
        self._on_resync = on_resync
        self._call: (
            aio.UnaryStreamCall[pb.WatchRevocationsRequest, pb.WatchRevocationsResponse] | None
        ) = None
        self._closed = False
        self._failures = 0
        self._failing_since = 0.0
        self._endpoint: _Endpoint | None = None

    def __aiter__(self) -> AsyncRevocationWatch:
        return self

    async def __anext__(self) -> Revocation:
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._call is None:
                client = self._client
                self._endpoint = client._connection.current()
                self._call = self._endpoint.stub().WatchRevocations(
                    _wire.watch_request(self.last_sequence), metadata=client._metadata
                )
            try:
                message = await self._call.read()
            except asyncio.CancelledError:
                await self.aclose()
                raise
            except grpc.RpcError as rpc_error:
                if self._closed:
                    raise StopAsyncIteration from None
                error = from_rpc_error(rpc_error)
                if isinstance(error, ResyncRequired):
                    # What was missed is gone: start over from 0 once the caller dropped its cache.
                    self._call = None
                    self.last_sequence = 0
                    _log.warning(
                        "revocation feed pruned past sequence resumed from (oldest %d); resyncing",
                        error.oldest_sequence,
                    )
                    if self._on_resync is None:
                        raise error from rpc_error
                    outcome = self._on_resync(error.oldest_sequence)
                    if inspect.isawaitable(outcome):
                        await outcome
                    continue
                connection = self._client._connection
                if isinstance(error, Unavailable) and len(connection) > 1:
                    # The replica went away (or is draining): resume on the next one at once.
                    if self._endpoint is not None:
                        connection.failed(self._endpoint)
                    if self._failures == 0:
                        self._failing_since = time.monotonic()
                        self._failures += 1
                        self._call = None
                        continue
                if self._failures == 0:
                    self._failing_since = time.monotonic()
                self._failures += 1
                delay = _wire.watch_reconnect_delay(
                    self._client._retry, error, self._failures, self._failing_since
                )
                if delay is None:
                    await self.aclose()
                    raise error from rpc_error
                self._call = None
                _log.info("revocation watch interrupted; reconnecting in %.2fs", delay)
                await asyncio.sleep(delay)
                continue
            if message is aio.EOF:
                await self.aclose()
                raise StopAsyncIteration
            message = cast(pb.WatchRevocationsResponse, message)
            self._failures = 0
            self.last_sequence = message.sequence
            return _wire.revocation(message)

    async def aclose(self) -> None:
        """Ends the watch."""
        self._closed = True
        call, self._call = self._call, None
        if call is not None:
            call.cancel()

    async def __aenter__(self) -> AsyncRevocationWatch:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
