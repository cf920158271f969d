"""Tessera's failures as exceptions, one class per reason of the API contract.

Every failure the server answers carries a gRPC code and a ``google.rpc.ErrorInfo`` detail with
``domain: "tessera"`` and a machine-readable ``reason``; :func:`from_rpc_error` turns it into the
exception class of that reason. Catch the classes (or compare :attr:`TesseraError.reason`), never
the message text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

__all__ = [
    "ERROR_DOMAIN",
    "AccountLocked",
    "AuthDenied",
    "AuthFailed",
    "AuthRequired",
    "DeadlineExceeded",
    "ElevationRequired",
    "Internal",
    "InvalidArgument",
    "InvalidCredentials",
    "MfaRequired",
    "OverPrivileged",
    "PrivilegeExceeded",
    "ResourceExhausted",
    "TesseraError",
    "Unavailable",
    "from_rpc_error",
]

#: The ``google.rpc.ErrorInfo`` domain of Tessera's own errors; details of any other domain (a
#: proxy, a mesh) are ignored.
ERROR_DOMAIN = "tessera"

# Where gRPC carries the serialized google.rpc.Status with its details.
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


class TesseraError(Exception):
    """A failed call to Tessera, or a transport failure on the way to it.

    Attributes:
        code: The gRPC status code.
        reason: The ``ErrorInfo`` reason of domain ``"tessera"``, such as ``"AUTH_FAILED"``;
            ``None`` when the failure did not come from Tessera's error table (the connection
            failed, a proxy answered), in which case the class was chosen from the code alone.
        message: The server's human-readable message. Never branch on it.
        field: The request field at fault, when the server named one (``INVALID_ARGUMENT``).
        metadata: All ``ErrorInfo`` metadata.
    """

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode,
        reason: str | None = None,
        field: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.field = field
        self.metadata: dict[str, str] = dict(metadata or {})

    def __str__(self) -> str:
        label = (self.reason or self.code.name).lower()
        text = f"{label}: {self.message}" if self.message else label
        if self.field and not self.message.startswith(f"{self.field}:"):
            text += f" (field {self.field})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code.name}, reason={self.reason!r}, "
            f"message={self.message!r}, field={self.field!r})"
        )


class AuthRequired(TesseraError):
    """The call needs a bearer token and none was sent."""


class AuthFailed(TesseraError):
    """The caller's token is invalid, expired, revoked or used up (deliberately not told apart)."""


class AuthDenied(TesseraError):
    """The caller's token is good but lacks the permission or namespace the call needs."""


class InvalidCredentials(TesseraError):
    """Wrong username, password or TOTP code (deliberately not told apart)."""


class MfaRequired(TesseraError):
    """The password was right but the account has TOTP enrolled: send ``totp_code`` too."""


class AccountLocked(TesseraError):
    """Too many failed attempts; the account is locked for a while."""


class PrivilegeExceeded(TesseraError):
    """A derived token would be broader than its parent (namespace, permissions, TTL or uses)."""


class ElevationRequired(TesseraError):
    """An admin action without an admin role or an elevated token (see ``unlock``)."""


class OverPrivileged(TesseraError):
    """A service token would hold more than its job needs (admin rights)."""


class InvalidArgument(TesseraError):
    """Malformed input; :attr:`field` names the request field at fault."""


class UserNotFound(TesseraError):
    """An admin call named an account that does not exist."""


class UserExists(TesseraError):
    """``create_user`` named a username that is taken."""


class TokenNotFound(TesseraError):
    """An admin call named a token id that does not exist (or is not the caller's)."""


class ResourceExhausted(TesseraError):
    """The server is at capacity for this kind of work (e.g. password hashing); retry later."""


class Unavailable(TesseraError):
    """Tessera, or its database, cannot be reached: nothing was decided (fail closed)."""


class Internal(TesseraError):
    """A server bug or unexpected state."""


class ResyncRequired(TesseraError):
    """``WatchRevocations`` was asked to resume from a sequence whose successors the server has
    pruned (its ``--revocation-retention``): revocations may have been missed. Drop every verdict
    cached while following the feed and watch again from 0 (the watches of this package do the
    latter by themselves). Code ``FAILED_PRECONDITION``."""

    @property
    def oldest_sequence(self) -> int:
        """The oldest sequence the server still retains (0 if it did not say)."""
        try:
            return int(self.metadata.get("oldest_sequence", "0"))
        except ValueError:
            return 0


class DeadlineExceeded(TesseraError):
    """The call did not finish within its deadline; whether it took effect is unknown. The code is
    ``DEADLINE_EXCEEDED``, or ``CANCELLED`` when the server's timer fired first (tonic reports its
    timeouts so)."""


_BY_REASON: dict[str, type[TesseraError]] = {
    "AUTH_REQUIRED": AuthRequired,
    "AUTH_FAILED": AuthFailed,
    "AUTH_DENIED": AuthDenied,
    "INVALID_CREDENTIALS": InvalidCredentials,
    "MFA_REQUIRED": MfaRequired,
    "ACCOUNT_LOCKED": AccountLocked,
    "PRIVILEGE_EXCEEDED": PrivilegeExceeded,
    "ELEVATION_REQUIRED": ElevationRequired,
    "OVER_PRIVILEGED": OverPrivileged,
    "INVALID_ARGUMENT": InvalidArgument,
    "USER_NOT_FOUND": UserNotFound,
    "USER_EXISTS": UserExists,
    "TOKEN_NOT_FOUND": TokenNotFound,
    "RESOURCE_EXHAUSTED": ResourceExhausted,
    "RESYNC_REQUIRED": ResyncRequired,
    "UNAVAILABLE": Unavailable,
    "INTERNAL": Internal,
}

# Failures without a reason this package knows (a transport failure, a proxy, a reason added to the
# server later) are classified by their gRPC code alone.
_BY_CODE: dict[grpc.StatusCode, type[TesseraError]] = {
    grpc.StatusCode.UNAUTHENTICATED: AuthFailed,
    grpc.StatusCode.PERMISSION_DENIED: AuthDenied,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.INTERNAL: Internal,
    grpc.StatusCode.UNKNOWN: Internal,
    grpc.StatusCode.DATA_LOSS: Internal,
}


def from_rpc_error(error: grpc.RpcError) -> TesseraError:
    """Classifies a failed gRPC call (sync or ``grpc.aio``) by its Tessera ``ErrorInfo`` reason.

    Useful also for calls made with the generated stubs directly.
    """
    if not callable(getattr(error, "code", None)):
        # A bare RpcError without status (raised by some interceptors): nothing to read.
        return Internal(str(error) or "rpc failed", code=grpc.StatusCode.UNKNOWN)
    code = error.code() or grpc.StatusCode.UNKNOWN
    message = error.details() or ""
    reason, metadata = _error_info(error.trailing_metadata() or ())
    cls = _BY_REASON.get(reason or "") or _BY_CODE.get(code, TesseraError)
    return cls(message, code=code, reason=reason, field=metadata.get("field"), metadata=metadata)


def _error_info(trailers: Iterable[Any]) -> tuple[str | None, dict[str, str]]:
    """The reason and metadata of the first ErrorInfo of domain "tessera" in the trailers (pairs
    of key and value, as both sync and ``grpc.aio`` calls give them)."""
    for key, value in trailers:
        if key != _STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status()
        try:
            status.ParseFromString(value)
        except Exception:  # a garbled detail must not hide the status code itself
            return None, {}
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info) and info.domain == ERROR_DOMAIN:
                return info.reason or None, dict(info.metadata)
    return None, {}
