"""What the sync and async clients share: settings, request building, response conversion, TTLs and
the retry policy. Nothing here does I/O."""

from __future__ import annotations

import hashlib
import math
import os
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar, TypeAlias

import grpc
from google.protobuf import timestamp_pb2
from grpc import aio

from tessera_auth_client._proto.tessera.v1 import auth_pb2 as pb

from .errors import DeadlineExceeded, TesseraError, Unavailable, from_rpc_error
from .types import (
    ElevatedToken,
    IdentifierDecision,
    Introspection,
    IssuedToken,
    NamespaceCheck,
    Revocation,
    Session,
    TokenFormat,
    TokenType,
    User,
)

#: A lifetime: a :class:`~datetime.timedelta`, or Tessera's own notation such as ``"15m"``,
#: ``"1h30m"`` or ``"7d"`` (units w, d, h, m, s, largest first).
TTL: TypeAlias = timedelta | str

#: gRPC channel options, as ``grpc.insecure_channel`` takes them.
ChannelOptions = Sequence[tuple[str, Any]]

#: Call metadata as the clients pass it: pairs, or a ``grpc.aio.Metadata`` built once.
Metadata: TypeAlias = "tuple[tuple[str, str], ...] | aio.Metadata"

DEFAULT_TIMEOUT = timedelta(seconds=10)


@dataclass(frozen=True)
class RetryPolicy:
    """Retries with exponential backoff and full jitter, only for ``UNAVAILABLE`` and only on calls
    that are safe to repeat: ``revoke``, ``check_namespace``, ``introspect(peek=True)`` and
    (re)connecting ``watch_revocations``. ``login``, ``unlock``, ``issue_token`` and a
    use-consuming ``introspect`` are never retried. Retries stay within the call's deadline.
    """

    max_attempts: int = 4
    """Attempts in all, the first included; 1 disables retries."""
    initial_backoff: float = 0.1
    """Seconds before the first retry (the upper bound of its jitter)."""
    max_backoff: float = 2.0
    """Seconds the backoff never exceeds."""
    multiplier: float = 2.0
    watch_reconnect_window: float = 30.0
    """Seconds a ``watch_revocations`` stream keeps reconnecting through ``UNAVAILABLE`` (a
    replica restarting, a database failover) before it raises; ``max_attempts`` bounds one call,
    this a long-lived stream. With ``max_attempts`` 1 a watch does not reconnect."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < 0 or self.multiplier < 1:
            raise ValueError("backoffs must be non-negative and multiplier at least 1")
        if self.watch_reconnect_window < 0:
            raise ValueError("watch_reconnect_window must be non-negative")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        return random.uniform(0, ceiling)


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(max_attempts=1)


def unary_failure(error: grpc.RpcError) -> TesseraError:
    """Classifies the failure of a unary call. These clients never cancel a unary call, so a
    ``CANCELLED`` one was cancelled by the server's timeout: tonic reports an expired deadline as
    ``CANCELLED`` ("Timeout expired") when its timer fires before the client's."""
    classified = from_rpc_error(error)
    if type(classified) is TesseraError and classified.code is grpc.StatusCode.CANCELLED:
        return DeadlineExceeded(
            classified.message,
            code=classified.code,
            reason=classified.reason,
            metadata=classified.metadata,
        )
    return classified


def retry_delay(
    policy: RetryPolicy,
    error: TesseraError,
    attempt: int,
    *,
    retry: bool,
    deadline: float | None,
) -> float | None:
    """Seconds to wait before repeating a call whose attempt number ``attempt`` failed with
    ``error``, or ``None`` to give up: the call is not safe to repeat, the failure is not
    ``UNAVAILABLE``, the attempts are spent, or the backoff would pass the deadline."""
    if not retry or not isinstance(error, Unavailable) or attempt >= policy.max_attempts:
        return None
    delay = policy.backoff(attempt)
    if deadline is not None and time.monotonic() + delay >= deadline:
        return None
    return delay


def watch_reconnect_delay(
    policy: RetryPolicy, error: TesseraError, failures: int, failing_since: float
) -> float | None:
    """Seconds to wait before reconnecting a watch after its ``failures``-th consecutive failure
    (the first at ``failing_since``, ``time.monotonic()``), or ``None`` to raise: the failure is
    not ``UNAVAILABLE``, retries are off, or the stream has failed for longer than the policy's
    ``watch_reconnect_window``."""
    if not isinstance(error, Unavailable) or policy.max_attempts <= 1:
        return None
    if time.monotonic() - failing_since >= policy.watch_reconnect_window:
        return None
    return policy.backoff(failures)


def seconds(value: float | timedelta) -> float:
    """A timeout in seconds, from seconds or a timedelta."""
    result = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not result > 0:
        raise ValueError("timeout must be positive")
    return result


def format_ttl(ttl: TTL | None) -> str:
    """The wire form of a TTL: ``""`` for none (the server's default), strings as given, and
    timedeltas rounded up to whole seconds, e.g. ``timedelta(minutes=90)`` -> ``"1h30m"``."""
    if ttl is None:
        return ""
    if isinstance(ttl, str):
        return ttl.strip()
    total = math.ceil(ttl / timedelta(seconds=1))
    if total <= 0:
        raise ValueError("ttl must be positive")
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def token_hash(token: str) -> str:
    """The lowercase hex SHA-256 of a token secret: the key of revocations and edge caches."""
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()


def channel_credentials(
    tls: bool | grpc.ChannelCredentials,
) -> grpc.ChannelCredentials | None:
    """``None`` for plaintext; the system's roots for ``True``; else the given credentials."""
    if isinstance(tls, grpc.ChannelCredentials):
        return tls
    return grpc.ssl_channel_credentials() if tls else None


def tls_credentials(
    *,
    ca_file: str | os.PathLike[str] | None = None,
    cert_file: str | os.PathLike[str] | None = None,
    key_file: str | os.PathLike[str] | None = None,
) -> grpc.ChannelCredentials:
    """TLS credentials for ``tls=``: trust the PEM CA certificates in ``ca_file`` (default: the
    system's roots) and, for a server that asks for client certificates (``--client-ca``), present
    the PEM chain ``cert_file`` with its key ``key_file``. Unreadable files raise here."""
    if (cert_file is None) != (key_file is None):
        raise ValueError("give cert_file and key_file together")

    def read(path: str | os.PathLike[str] | None) -> bytes | None:
        return None if path is None else Path(path).read_bytes()

    return grpc.ssl_channel_credentials(
        root_certificates=read(ca_file),
        private_key=read(key_file),
        certificate_chain=read(cert_file),
    )


def never_sent(error: grpc.RpcError) -> bool:
    """Whether a failed call certainly never reached a server: gRPC found no connection to send it
    on (refused, unreachable, or still backing off after such a failure). Only then may a call that
    is not safe to repeat (login, a consuming introspect, ...) go to another address."""
    details = error.details() if isinstance(error, grpc.Call) else None
    return error_code(error) is grpc.StatusCode.UNAVAILABLE and bool(
        details and "failed to connect to all addresses" in details
    )


def error_code(error: grpc.RpcError) -> grpc.StatusCode | None:
    return error.code() if isinstance(error, grpc.Call) else None


def parse_targets(
    target: str | Sequence[str], tls: bool | grpc.ChannelCredentials
) -> list[tuple[str, bool | grpc.ChannelCredentials]]:
    """One address or several (replicas to fail over between, in order of preference), each read
    by :func:`parse_target`."""
    targets = [target] if isinstance(target, str) else list(target)
    if not targets:
        raise ValueError(f"no Tessera address given; use {ADDRESS_FORMS}")
    return [parse_target(one, tls) for one in targets]


#: The address forms every Tessera client accepts, as an error shows them.
ADDRESS_FORMS = (
    "host:port, http://host:port (plaintext) or https://host:port (TLS), "
    "e.g. http://127.0.0.1:50051"
)


def parse_target(
    target: str, tls: bool | grpc.ChannelCredentials
) -> tuple[str, bool | grpc.ChannelCredentials]:
    """Reads ``host:port``, ``http://host:port`` (plaintext) or ``https://host:port`` (TLS: the
    given credentials, else the system's roots) into the ``host:port`` gRPC dials and the transport
    security. Raises :class:`ValueError`, showing an accepted form, for anything else."""

    def refuse(why: str) -> ValueError:
        return ValueError(f"{target!r} is not a Tessera address ({why}); use {ADDRESS_FORMS}")

    rest = target.strip()
    scheme = ""
    for prefix in ("https://", "http://"):
        if rest.startswith(prefix):
            scheme, rest = prefix[:-3], rest[len(prefix) :]
            break
    else:
        if "://" in rest or ":///" in rest:
            raise refuse("unknown scheme")
    rest = rest.removesuffix("/")
    if any(c in rest for c in "/?#@ \t"):
        raise refuse("only host and port, no path, query or user")
    host, sep, port = rest.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host_ok = len(host) > 2
    else:
        host_ok = bool(host) and ":" not in host
    if not sep or not host_ok:
        raise refuse("the host or port is missing")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise refuse("the port must be a number from 1 to 65535")
    if scheme == "http":
        if tls:
            raise refuse("http:// means plaintext, but tls was given; use https://")
        return rest, False
    if scheme == "https":
        return rest, tls if isinstance(tls, grpc.ChannelCredentials) else True
    return rest, tls


# --- requests -------------------------------------------------------------------------------------


def login_request(username: str, password: str, totp_code: str | None) -> pb.LoginRequest:
    return pb.LoginRequest(username=username, password=password, totp_code=totp_code or "")


def unlock_request(password: str, totp_code: str | None, ttl: TTL | None) -> pb.UnlockRequest:
    return pb.UnlockRequest(password=password, totp_code=totp_code or "", ttl=format_ttl(ttl))


def revoke_request(
    *,
    token: str | None,
    token_id: str | None,
    session_id: str | None,
    subject: str | None,
    reason: str,
) -> pb.RevokeRequest:
    targets = {
        "token": token,
        "token_id": token_id,
        "session_id": session_id,
        "subject": subject,
    }
    named = {name: value for name, value in targets.items() if value is not None}
    if len(named) != 1:
        raise ValueError("name exactly one of token, token_id, session_id or subject")
    ((name, value),) = named.items()
    request = pb.RevokeRequest(reason=reason)
    setattr(request, name, value)
    return request


def issue_request(
    *,
    ttl: TTL | None,
    max_uses: int | None,
    namespace: str | None,
    permissions: Iterable[str],
    description: str,
    token_format: TokenFormat,
    token_type: TokenType,
) -> pb.IssueTokenRequest:
    if max_uses is not None and max_uses < 1:
        raise ValueError("max_uses must be at least 1 (None means unlimited)")
    if isinstance(permissions, str):
        raise TypeError("permissions must be a collection of names, not one string")
    return pb.IssueTokenRequest(
        ttl=format_ttl(ttl),
        max_uses=max_uses or 0,
        namespace=namespace or "",
        permissions=list(permissions),
        description=description,
        format=pb.TokenFormat.ValueType(int(token_format)),
        token_type=pb.TokenType.ValueType(int(token_type)),
    )


def introspect_request(token: str, peek: bool) -> pb.IntrospectRequest:
    return pb.IntrospectRequest(token=token, peek=peek)


def check_namespace_request(
    token: str, identifiers: str | Iterable[str], action: str | None
) -> pb.CheckNamespaceRequest:
    names = [identifiers] if isinstance(identifiers, str) else list(identifiers)
    return pb.CheckNamespaceRequest(token=token, identifiers=names, action=action or "")


def watch_request(after_sequence: int) -> pb.WatchRevocationsRequest:
    if after_sequence < 0:
        raise ValueError("after_sequence must not be negative")
    return pb.WatchRevocationsRequest(after_sequence=after_sequence)


# --- responses ------------------------------------------------------------------------------------


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _instant(stamp: timestamp_pb2.Timestamp) -> datetime:
    """``stamp.ToDatetime(tzinfo=timezone.utc)``, a third of its cost (nanos are in [0, 1e9))."""
    return _EPOCH + timedelta(seconds=stamp.seconds, microseconds=stamp.nanos // 1000)


def _time(message: Any, name: str) -> datetime | None:
    if not message.HasField(name):
        return None
    stamp: timestamp_pb2.Timestamp = getattr(message, name)
    return _instant(stamp)


def _token_type(value: int) -> TokenType:
    try:
        return TokenType(value)
    except ValueError:  # a kind added to the server later
        return TokenType.UNSPECIFIED


def session(response: pb.LoginResponse) -> Session:
    user = response.user
    return Session(
        token=response.token,
        token_id=response.token_id,
        session_id=response.session_id,
        expires_at=_time(response, "expires_at"),
        user=User(
            user_id=user.user_id,
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            totp_enabled=user.totp_enabled,
        ),
    )


def elevated(response: pb.UnlockResponse) -> ElevatedToken:
    return ElevatedToken(
        token=response.token,
        token_id=response.token_id,
        expires_at=_time(response, "expires_at"),
    )


def issued(response: pb.IssueTokenResponse) -> IssuedToken:
    return IssuedToken(
        token=response.token,
        token_id=response.token_id,
        expires_at=_time(response, "expires_at"),
        namespace=response.namespace,
        permissions=tuple(response.permissions),
        max_uses=response.max_uses if response.HasField("max_uses") else None,
    )


_INACTIVE = Introspection(active=False)


def introspection(response: pb.IntrospectResponse) -> Introspection:
    """The answer of an introspection, read from ``response`` field by field as it is used."""
    if not response.active:
        return _INACTIVE
    return _ReplyIntrospection.read(response)


def namespace_check(response: pb.CheckNamespaceResponse) -> NamespaceCheck:
    """The answer of a namespace check, read from ``response`` field by field as it is used."""
    return _ReplyNamespaceCheck.read(response)


class _FromReply:
    """A result read lazily from its gRPC reply: a subclass of the public frozen dataclass whose
    fields are properties that convert the reply's field on first use (and keep what they built).

    Every call decodes the reply (protobuf, in C) anyway; what this saves is building the dataclass
    and its tuples, datetimes and enums for fields the caller never reads, which costs a Python
    service more than the rest of the SDK's per-call work together (a middleware reads ``active``
    and ``permissions`` only). To the caller it is the public class: ``isinstance``,
    ``dataclasses.fields`` / ``asdict`` / ``replace``, ``==`` and ``hash`` against a plain
    instance, ``repr``, pickling and copying (which give the plain class) behave as for it."""

    __slots__ = ()
    _public: ClassVar[type[Any]]

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # dataclasses.replace() builds type(obj)(**fields): a plain instance of the public class.
        return cls._public(*args, **kwargs)

    def plain(self) -> Any:
        """The same result as an instance of the public dataclass itself."""
        return self._public(*self._values())

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in fields(self._public))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _FromReply):
            other = other.plain()
        return bool(self.plain() == other)

    def __hash__(self) -> int:
        return hash(self.plain())

    def __repr__(self) -> str:
        return repr(self.plain())

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self._public, self._values()


class _ReplyIntrospection(_FromReply, Introspection):
    """An active :class:`Introspection` read from its reply (see :class:`_FromReply`)."""

    __slots__ = ("_expires_at", "_issued_at", "_permissions", "_reply", "_roles")
    _public = Introspection
    _reply: pb.IntrospectResponse
    _roles: tuple[str, ...]
    _permissions: tuple[str, ...]
    _issued_at: datetime | None
    _expires_at: datetime | None

    @classmethod
    def read(cls, response: pb.IntrospectResponse) -> _ReplyIntrospection:
        result: _ReplyIntrospection = object.__new__(cls)
        object.__setattr__(result, "_reply", response)
        return result

    @property
    def active(self) -> bool:
        return True

    @property
    def token_id(self) -> str:
        return self._reply.token_id

    @property
    def token_type(self) -> TokenType:
        return _token_type(self._reply.token_type)

    @property
    def subject(self) -> str:
        return self._reply.subject

    @property
    def username(self) -> str:
        return self._reply.username

    @property
    def roles(self) -> tuple[str, ...]:
        try:
            return self._roles
        except AttributeError:
            roles = tuple(self._reply.roles)
            object.__setattr__(self, "_roles", roles)
            return roles

    @property
    def permissions(self) -> tuple[str, ...]:
        try:
            return self._permissions
        except AttributeError:
            permissions = tuple(self._reply.permissions)
            object.__setattr__(self, "_permissions", permissions)
            return permissions

    @property
    def namespace(self) -> str:
        return self._reply.namespace

    @property
    def issued_at(self) -> datetime | None:
        try:
            return self._issued_at
        except AttributeError:
            issued_at = _time(self._reply, "issued_at")
            object.__setattr__(self, "_issued_at", issued_at)
            return issued_at

    @property
    def expires_at(self) -> datetime | None:
        try:
            return self._expires_at
        except AttributeError:
            expires_at = _time(self._reply, "expires_at")
            object.__setattr__(self, "_expires_at", expires_at)
            return expires_at

    @property
    def elevated(self) -> bool:
        return self._reply.elevated

    @property
    def uses_remaining(self) -> int | None:
        reply = self._reply
        return reply.uses_remaining if reply.HasField("uses_remaining") else None

    @property
    def session_id(self) -> str:
        return self._reply.session_id

    def has_permission(self, permission: str) -> bool:
        """See :meth:`Introspection.has_permission` (answered from the reply, building nothing)."""
        held = self._reply.permissions
        return "*" in held or permission in held


class _ReplyNamespaceCheck(_FromReply, NamespaceCheck):
    """A :class:`NamespaceCheck` read from its reply (see :class:`_FromReply`)."""

    __slots__ = ("_reply", "_results")
    _public = NamespaceCheck
    _reply: pb.CheckNamespaceResponse
    _results: tuple[IdentifierDecision, ...]

    @classmethod
    def read(cls, response: pb.CheckNamespaceResponse) -> _ReplyNamespaceCheck:
        result: _ReplyNamespaceCheck = object.__new__(cls)
        object.__setattr__(result, "_reply", response)
        return result

    @property
    def active(self) -> bool:
        return self._reply.active

    @property
    def allowed(self) -> bool:
        reply = self._reply
        return reply.active and reply.allowed

    @property
    def results(self) -> tuple[IdentifierDecision, ...]:
        try:
            return self._results
        except AttributeError:
            results = tuple(
                IdentifierDecision(r.identifier, r.allowed) for r in self._reply.results
            )
            object.__setattr__(self, "_results", results)
            return results

    @property
    def namespace(self) -> str:
        return self._reply.namespace

    @property
    def token_id(self) -> str:
        return self._reply.token_id


def revocation(response: pb.WatchRevocationsResponse) -> Revocation:
    return Revocation(
        sequence=response.sequence,
        token_id=response.token_id,
        token_hash=response.token_hash,
        revoked_at=_time(response, "revoked_at"),
    )
