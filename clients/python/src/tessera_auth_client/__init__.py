"""Tessera's Python client: typed wrappers over the generated gRPC stubs (package ``tessera.v1``).

>>> from tessera_auth_client import Client
>>> with Client("localhost:50051", token=service_token) as tessera:
...     if tessera.introspect(user_token).active: ...

:class:`Client` is synchronous, :class:`AsyncClient` runs on ``grpc.aio``; both raise a
:class:`TesseraError` subclass named after the server's reason.
:mod:`tessera_auth_client.middleware`
guards ASGI and WSGI apps; :mod:`tessera_auth_client.tracing` (extra ``otel``) continues the
caller's OpenTelemetry trace into Tessera.
"""

from ._wire import NO_RETRY, TTL, RetryPolicy, format_ttl, tls_credentials, token_hash
from .admin import Admin, AsyncAdmin, AuditEvent, TokenInfo, TotpEnrollment, UserSummary
from .aio import AsyncClient, AsyncRevocationWatch
from .client import Client, RevocationWatch
from .errors import (
    ERROR_DOMAIN,
    AccountLocked,
    AuthDenied,
    AuthFailed,
    AuthRequired,
    DeadlineExceeded,
    ElevationRequired,
    Internal,
    InvalidArgument,
    InvalidCredentials,
    MfaRequired,
    OverPrivileged,
    PrivilegeExceeded,
    ResourceExhausted,
    ResyncRequired,
    TesseraError,
    TokenNotFound,
    Unavailable,
    UserExists,
    UserNotFound,
    from_rpc_error,
)
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

__all__ = [
    "ERROR_DOMAIN",
    "NO_RETRY",
    "TTL",
    "AccountLocked",
    "Admin",
    "AsyncAdmin",
    "AsyncClient",
    "AsyncRevocationWatch",
    "AuditEvent",
    "AuthDenied",
    "AuthFailed",
    "AuthRequired",
    "Client",
    "DeadlineExceeded",
    "ElevatedToken",
    "ElevationRequired",
    "IdentifierDecision",
    "Internal",
    "Introspection",
    "InvalidArgument",
    "InvalidCredentials",
    "IssuedToken",
    "MfaRequired",
    "NamespaceCheck",
    "OverPrivileged",
    "PrivilegeExceeded",
    "ResourceExhausted",
    "ResyncRequired",
    "RetryPolicy",
    "Revocation",
    "RevocationWatch",
    "Session",
    "TesseraError",
    "TokenFormat",
    "TokenInfo",
    "TokenNotFound",
    "TokenType",
    "TotpEnrollment",
    "Unavailable",
    "User",
    "UserExists",
    "UserNotFound",
    "UserSummary",
    "format_ttl",
    "from_rpc_error",
    "tls_credentials",
    "token_hash",
]
