"""The synchronous client."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from types import TracebackType
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from tessera_auth_client._proto.tessera.v1 import auth_pb2 as pb
from tessera_auth_client._proto.tessera.v1 import auth_pb2_grpc

from . import _wire
from ._wire import DEFAULT_RETRY, DEFAULT_TIMEOUT, TTL, ChannelOptions, RetryPolicy
from .admin import Admin
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

__all__ = ["Client", "RevocationWatch"]

_log = logging.getLogger("tessera_auth_client")

_Req = TypeVar("_Req", bound=Message)
_Resp = TypeVar("_Resp", bound=Message)


class Client:
    """A synchronous Tessera client, safe to share between threads.

    Args:
        target: the Tessera gRPC API as ``host:port``, ``http://host:port`` (plaintext) or
            ``https://host:port`` (TLS); anything else raises :class:`ValueError` here. A list of
            addresses (replicas, in order of preference) fails over: after ``UNAVAILABLE`` the next
            address takes over. Calls safe to repeat move on at once; ``login``, ``unlock``,
            ``issue_token`` and a consuming ``introspect`` only when gRPC had no connection to send
            them on, never after they may have reached a server.
        token: Bearer token sent with every call that needs a caller (all but ``login``).
        tls: ``False`` for plaintext, ``True`` for TLS with the system's roots, or
            :func:`~tessera_auth_client.tls_credentials` (your CA file, a client certificate
            for mutual TLS) or any ``grpc.ChannelCredentials``.
        timeout: Default deadline of each call, retries included (seconds or a timedelta).
        retry: Backoff for ``UNAVAILABLE`` on calls safe to repeat; ``NO_RETRY`` to disable.
        options: gRPC channel options.
        interceptors: ``grpc`` client interceptors (tracing, metrics).

    Failures raise a :class:`~tessera_auth_client.TesseraError` subclass named after the server's
    reason.
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
        interceptors: Sequence[
            grpc.UnaryUnaryClientInterceptor | grpc.UnaryStreamClientInterceptor
        ] = (),
    ) -> None:
        endpoints = []
        for address, security in _wire.parse_targets(target, tls):
            credentials = _wire.channel_credentials(security)
            owned = (
                grpc.secure_channel(address, credentials, options=options)
                if credentials is not None
                else grpc.insecure_channel(address, options=options)
            )
            channel = grpc.intercept_channel(owned, *interceptors) if interceptors else owned
            endpoints.append(_Endpoint(address, owned, channel))
        self._replicas = _Replicas(endpoints)
        self._owns_channels = True
        self._metadata = _wire.bearer_metadata(token)
        self._timeout = _wire.seconds(timeout)
        self._retry = retry

    @property
    def _channel(self) -> grpc.Channel:
        return self._replicas.current().channel

    @property
    def _stub(self) -> auth_pb2_grpc.AuthServiceStub:
        return self._replicas.current().stub

    @property
    def address(self) -> str:
        """The ``host:port`` calls go to now (with several addresses, it changes on failover)."""
        return self._replicas.current().address

    def with_token(self, token: str | None) -> Client:
        """A client for the same servers and channels that sends ``token`` instead. Closing it
        leaves the shared channels open; close the original."""
        other = object.__new__(Client)
        other._replicas = self._replicas
        other._owns_channels = False
        other._metadata = _wire.bearer_metadata(token)
        other._timeout = self._timeout
        other._retry = self._retry
        return other

    @property
    def admin(self) -> Admin:
        """AdminService (accounts, TOTP enrollment, tokens, audit) with this client's channel,
        token, deadline and retry policy."""
        return Admin(self._channel, self._metadata, self._timeout, self._retry)

    def close(self) -> None:
        """Closes the channels (if this client opened them); open watches end."""
        if self._owns_channels:
            self._replicas.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- the API ----------------------------------------------------------------------------------

    def login(
        self,
        username: str,
        password: str,
        *,
        totp_code: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> Session:
        """Opens a session. Raises :class:`~tessera_auth_client.InvalidCredentials`,
        :class:`~tessera_auth_client.MfaRequired` (send ``totp_code``) or
        :class:`~tessera_auth_client.AccountLocked`. Never retried: each attempt counts."""
        request = _wire.login_request(username, password, totp_code)
        response = self._unary(lambda stub: stub.Login, request, timeout, retry=False, auth=False)
        return _wire.session(response)

    def unlock(
        self,
        password: str,
        *,
        totp_code: str | None = None,
        ttl: TTL | None = None,
        timeout: float | timedelta | None = None,
    ) -> ElevatedToken:
        """Mints an elevated child of this client's session token ("sudo mode"), from the
        break-glass root password or the caller's own (with ``totp_code`` when enrolled)."""
        request = _wire.unlock_request(password, totp_code, ttl)
        return _wire.elevated(self._unary(lambda stub: stub.Unlock, request, timeout, retry=False))

    def revoke(
        self,
        *,
        token: str | None = None,
        token_id: str | None = None,
        session_id: str | None = None,
        subject: str | None = None,
        reason: str = "",
        timeout: float | timedelta | None = None,
    ) -> int:
        """Revokes exactly one target and everything derived from it; returns how many tokens were
        newly revoked (0 when already revoked). Idempotent, so retried on ``UNAVAILABLE``."""
        request = _wire.revoke_request(
            token=token, token_id=token_id, session_id=session_id, subject=subject, reason=reason
        )
        return self._unary(lambda stub: stub.Revoke, request, timeout, retry=True).revoked_count

    def issue_token(
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
        """Derives a token from this client's; every bound defaults to the caller's own and asking
        for more raises :class:`~tessera_auth_client.PrivilegeExceeded`."""
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
            self._unary(lambda stub: stub.IssueToken, request, timeout, retry=False)
        )

    def introspect(
        self, token: str, *, peek: bool = False, timeout: float | timedelta | None = None
    ) -> Introspection:
        """What ``token`` holds; an inactive token gives ``active=False`` (not an exception).
        Counts one use of a limited-use token unless ``peek``; only a peek is retried."""
        request = _wire.introspect_request(token, peek)
        return _wire.introspection(
            self._unary(lambda stub: stub.Introspect, request, timeout, retry=peek)
        )

    def check_namespace(
        self,
        token: str,
        identifiers: str | Iterable[str],
        *,
        action: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> NamespaceCheck:
        """Whether ``token`` may touch each identifier (and holds ``action``, if given). Never
        consumes a use."""
        request = _wire.check_namespace_request(token, identifiers, action)
        response = self._unary(lambda stub: stub.CheckNamespace, request, timeout, retry=True)
        return _wire.namespace_check(response)

    def watch_revocations(
        self,
        *,
        after_sequence: int = 0,
        on_resync: Callable[[int], None] | None = None,
    ) -> RevocationWatch:
        """Every revocation in order, as an iterator that blocks for the next one. After an
        ``UNAVAILABLE`` it reconnects with backoff and resumes after the last sequence it yielded.
        It ends when closed (``close()``, from any thread, or a ``with`` block) or when the
        server ends the stream.

        When the server has pruned revocations after the resume point (``RESYNC_REQUIRED``), the
        watch starts again from sequence 0. With ``on_resync`` it first calls
        ``on_resync(oldest_sequence)``, where the caller drops every verdict it cached, and goes
        on; without, ``next()`` raises :class:`ResyncRequired` once and the next ``next()``
        replays from 0."""
        return RevocationWatch(self, after_sequence, on_resync)

    # --- plumbing ---------------------------------------------------------------------------------

    def _unary(
        self,
        method: Callable[
            [auth_pb2_grpc.AuthServiceStub], grpc.UnaryUnaryMultiCallable[_Req, _Resp]
        ],
        request: _Req,
        timeout: float | timedelta | None,
        *,
        retry: bool,
        auth: bool = True,
    ) -> _Resp:
        budget = self._timeout if timeout is None else _wire.seconds(timeout)
        deadline = time.monotonic() + budget
        metadata = self._metadata if auth else ()
        attempt = 0
        # Each other address is tried at once after an UNAVAILABLE; after a full round the
        # retry policy's backoff applies.
        failovers_left = len(self._replicas) - 1
        while True:
            attempt += 1
            endpoint = self._replicas.current()
            try:
                return method(endpoint.stub)(
                    request,
                    timeout=budget if attempt == 1 else max(deadline - time.monotonic(), 0.001),
                    metadata=metadata,
                )
            except grpc.RpcError as rpc_error:
                error = _wire.unary_failure(rpc_error)
                if isinstance(error, Unavailable) and len(self._replicas) > 1:
                    now = self._replicas.failed(endpoint)
                    # A call that is not safe to repeat moves on only when it surely never left.
                    if failovers_left > 0 and (retry or _wire.never_sent(rpc_error)):
                        failovers_left -= 1
                        attempt -= 1
                        _log.info(
                            "tessera at %s unavailable; failing over to %s",
                            endpoint.address,
                            now.address,
                        )
                        continue
                delay = _wire.retry_delay(
                    self._retry, error, attempt, retry=retry, deadline=deadline
                )
                if delay is None:
                    raise error from rpc_error
                failovers_left = len(self._replicas) - 1
            _log.info("tessera unavailable; retrying in %.2fs (attempt %d)", delay, attempt)
            time.sleep(delay)


class RevocationWatch(Iterator[Revocation]):
    """An open ``watch_revocations`` stream; iterate it for
    :class:`~tessera_auth_client.Revocation`s.

    ``last_sequence`` is the sequence of the last revocation yielded: persist it to resume later
    with ``watch_revocations(after_sequence=...)``.
    """

    def __init__(
        self,
        client: Client,
        after_sequence: int,
        on_resync: Callable[[int], None] | None = None,
    ) -> None:
        _wire.watch_request(after_sequence)  # validates
        self._client = client
        self.last_sequence = after_sequence
        self._on_resync = on_resync
        self._lock = threading.Lock()
        self._call: Iterator[pb.WatchRevocationsResponse] | None = None
        self._closed = False
        self._failures = 0
        self._failing_since = 0.0
        self._endpoint: _Endpoint | None = None

    def __iter__(self) -> RevocationWatch:
        return self

    def __next__(self) -> Revocation:
        while True:
            call = self._open()
            try:
                message = next(call)
            except StopIteration:
                self.close()
                raise
            except grpc.RpcError as rpc_error:
                if self._closed:
                    raise StopIteration from None
                error = from_rpc_error(rpc_error)
                if isinstance(error, ResyncRequired):
                    # What was missed is gone: start over from 0, after the caller has dropped
                    # what it cached (a silent gap would keep revoked tokens cached).
                    with self._lock:
                        self._call = None
                    self.last_sequence = 0
                    _log.warning(
                        "revocation feed pruned past sequence resumed from (oldest %d); resyncing",
                        error.oldest_sequence,
                    )
                    if self._on_resync is None:
                        raise error from rpc_error
                    self._on_resync(error.oldest_sequence)
                    continue
                if isinstance(error, Unavailable) and len(self._client._replicas) > 1:
                    # The replica went away (or is draining): resume on the next one at once.
                    endpoint, self._endpoint = self._endpoint, None
                    if endpoint is not None:
                        self._client._replicas.failed(endpoint)
                    if self._failures == 0:
                        self._failing_since = time.monotonic()
                        self._failures += 1
                        with self._lock:
                            self._call = None
                        continue
                if self._failures == 0:
                    self._failing_since = time.monotonic()
                self._failures += 1
                delay = _wire.watch_reconnect_delay(
                    self._client._retry, error, self._failures, self._failing_since
                )
                if delay is None:
                    self.close()
                    raise error from rpc_error
                with self._lock:
                    self._call = None
                _log.info("revocation watch interrupted; reconnecting in %.2fs", delay)
                time.sleep(delay)
                continue
            self._failures = 0
            self.last_sequence = message.sequence
            return _wire.revocation(message)

    def _open(self) -> Iterator[pb.WatchRevocationsResponse]:
        with self._lock:
            if self._closed:
                raise StopIteration
            if self._call is None:
                client = self._client
                self._endpoint = client._replicas.current()
                self._call = self._endpoint.stub.WatchRevocations(
                    _wire.watch_request(self.last_sequence), metadata=client._metadata
                )
            return self._call

    def close(self) -> None:
        """Ends the watch; a thread blocked in ``next()`` gets ``StopIteration``."""
        with self._lock:
            self._closed = True
            call, self._call = self._call, None
        if isinstance(call, grpc.RpcContext):
            call.cancel()

    def __enter__(self) -> RevocationWatch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Endpoint:
    """One address: its channel (the one to close) and what calls go through."""

    def __init__(self, address: str, owned: grpc.Channel, channel: grpc.Channel) -> None:
        self.address = address
        self.owned = owned
        self.channel = channel
        self.stub = auth_pb2_grpc.AuthServiceStub(channel)


class _Replicas:
    """The addresses of one Tessera deployment in order of preference, and the one in use. Calls
    stay on one address until it fails with ``UNAVAILABLE``; then the next one takes over."""

    def __init__(self, endpoints: list[_Endpoint]) -> None:
        self._endpoints = endpoints
        self._current = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._endpoints)

    def current(self) -> _Endpoint:
        return self._endpoints[self._current]

    def failed(self, endpoint: _Endpoint) -> _Endpoint:
        """Moves on from ``endpoint`` unless another caller already did; returns the one in use."""
        with self._lock:
            if self._endpoints[self._current] is endpoint:
                self._current = (self._current + 1) % len(self._endpoints)
            return self._endpoints[self._current]

    def close(self) -> None:
        for endpoint in self._endpoints:
            endpoint.owned.close()
