"""What the client methods return: frozen dataclasses with aware datetimes and plain Python types.

Fields holding a secret (``token``) are left out of ``repr`` so results can be logged safely.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "ElevatedToken",
    "IdentifierDecision",
    "Introspection",
    "IssuedToken",
    "NamespaceCheck",
    "Revocation",
    "Session",
    "TokenFormat",
    "TokenType",
    "User",
]


class TokenType(enum.IntEnum):
    """The kind of a token, also visible in its prefix (``tsr_<kind>_…``)."""

    UNSPECIFIED = 0
    SESSION = 1
    ELEVATED = 2
    API = 3
    SERVICE = 4
    STATIC = 5
    MASTER = 6


class TokenFormat(enum.IntEnum):
    """How an issued token is encoded."""

    UNSPECIFIED = 0
    OPAQUE = 1
    JWT = 2


@dataclass(frozen=True, slots=True)
class User:
    """The public view of an account."""

    user_id: str
    username: str
    display_name: str
    role: str
    totp_enabled: bool


@dataclass(frozen=True, slots=True)
class Session:
    """A login session, from ``login``."""

    token: str = field(repr=False)
    token_id: str
    session_id: str
    expires_at: datetime | None
    user: User


@dataclass(frozen=True, slots=True)
class ElevatedToken:
    """A short-lived elevated child of a session, from ``unlock``; revoke it to lock again."""

    token: str = field(repr=False)
    token_id: str
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token derived from the caller's, from ``issue_token``."""

    token: str = field(repr=False)
    token_id: str
    expires_at: datetime | None
    namespace: str
    permissions: tuple[str, ...]
    max_uses: int | None
    """Uses the token allows; ``None`` when unlimited."""


@dataclass(frozen=True, slots=True)
class Introspection:
    """What a token holds (RFC 7662 shape). An inactive token has only ``active=False``: the server
    never says why, and every other field keeps its empty default."""

    active: bool
    token_id: str = ""
    token_type: TokenType = TokenType.UNSPECIFIED
    subject: str = ""
    username: str = ""
    roles: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()
    namespace: str = ""
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    """``None`` when the token never expires."""
    elevated: bool = False
    uses_remaining: int | None = None
    """Uses left after this introspection; ``None`` when unlimited."""
    session_id: str = ""

    def has_permission(self, permission: str) -> bool:
        """Whether the (active) token holds ``permission``; ``*`` holds every permission."""
        return self.active and ("*" in self.permissions or permission in self.permissions)

    def may_touch(self, identifier: str) -> bool:
        """Tessera's namespace rule, decided locally: ``*`` allows everything, otherwise the
        identifier must start with the namespace prefix (``deploy.`` allows ``deploy.daily``, not
        ``deploy``). Use ``check_namespace`` to have the server decide."""
        if not self.active or not self.namespace:
            return False
        return self.namespace == "*" or identifier.startswith(self.namespace)


@dataclass(frozen=True, slots=True)
class IdentifierDecision:
    """The verdict on one identifier."""

    identifier: str
    allowed: bool


@dataclass(frozen=True, slots=True)
class NamespaceCheck:
    """The answer of ``check_namespace``: one decision per identifier, in request order."""

    active: bool
    """Whether the token is good; when ``False`` nothing else is set."""
    allowed: bool
    """``True`` when every identifier is allowed (and the action, if any, is held)."""
    results: tuple[IdentifierDecision, ...]
    namespace: str
    token_id: str

    @property
    def allowed_identifiers(self) -> tuple[str, ...]:
        """The identifiers the token may touch, in request order (result filtering)."""
        return tuple(d.identifier for d in self.results if d.allowed)


@dataclass(frozen=True, slots=True)
class Revocation:
    """One revocation from ``watch_revocations``."""

    sequence: int
    """Monotonic; resume a watch after the last one seen."""
    token_id: str
    token_hash: str
    """Lowercase hex SHA-256 of the token secret (see :func:`tessera_auth_client.token_hash`)."""
    revoked_at: datetime | None
