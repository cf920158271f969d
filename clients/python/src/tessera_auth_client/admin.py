"""AdminService: accounts, TOTP enrollment, tokens and the audit trail.

Every write needs admin rights (an admin role's session, or an elevated token from ``unlock``;
otherwise :class:`~tessera_auth_client.ElevationRequired`) and is audited. Reached as
``client.admin``,
with that client's channel, token, deadline and retry policy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from tessera_auth_client._proto.tessera.v1 import admin_pb2 as apb
from tessera_auth_client._proto.tessera.v1 import admin_pb2_grpc
from tessera_auth_client._proto.tessera.v1 import auth_pb2 as pb

from . import _wire
from ._wire import RetryPolicy
from .types import TokenType, User

_log = logging.getLogger("tessera_auth_client")
_Resp = TypeVar("_Resp", bound=Message)


@dataclass(frozen=True, slots=True)
class UserSummary:
    """An account as listed."""

    user: User
    disabled: bool
    locked_until: datetime | None
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class TotpEnrollment:
    """A new TOTP secret to show the account's owner once, then confirm with a code."""

    secret: str = field(repr=False)
    otpauth_uri: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed; never its secret."""

    token_id: str
    token_type: TokenType
    subject: str
    parent_id: str
    session_id: str
    namespace: str
    permissions: tuple[str, ...]
    elevated: bool
    description: str
    issued_at: datetime | None
    expires_at: datetime | None
    uses_remaining: int | None
    max_uses: int | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One entry of the audit trail."""

    id: int
    at: datetime | None
    action: str
    outcome: str
    actor: str
    username: str
    token_id: str
    detail_json: str


def _user(message: pb.User) -> User:
    return User(
        user_id=message.user_id,
        username=message.username,
        display_name=message.display_name,
        role=message.role,
        totp_enabled=message.totp_enabled,
    )


def _summary(message: apb.UserSummary) -> UserSummary:
    return UserSummary(
        user=_user(message.user),
        disabled=message.disabled,
        locked_until=_wire._time(message, "locked_until"),
        created_at=_wire._time(message, "created_at"),
    )


def _token(message: apb.TokenInfo) -> TokenInfo:
    return TokenInfo(
        token_id=message.token_id,
        token_type=_wire._token_type(message.token_type),
        subject=message.subject,
        parent_id=message.parent_id,
        session_id=message.session_id,
        namespace=message.namespace,
        permissions=tuple(message.permissions),
        elevated=message.elevated,
        description=message.description,
        issued_at=_wire._time(message, "issued_at"),
        expires_at=_wire._time(message, "expires_at"),
        uses_remaining=message.uses_remaining if message.HasField("uses_remaining") else None,
        max_uses=message.max_uses if message.HasField("max_uses") else None,
        revoked_at=_wire._time(message, "revoked_at"),
    )


def _stamp(at: datetime | None) -> timestamp_pb2.Timestamp | None:
    if at is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(at)
    return stamp


class Admin:
    """The AdminService calls; get one from ``Client.admin``."""

    def __init__(
        self,
        channel: grpc.Channel,
        metadata: tuple[tuple[str, str], ...],
        timeout: float,
        retry: RetryPolicy,
    ) -> None:
        self._stub = admin_pb2_grpc.AdminServiceStub(channel)
        self._metadata = metadata
        self._timeout = timeout
        self._retry = retry

    def create_user(
        self, username: str, password: str, *, role: str = "user", display_name: str = ""
    ) -> User:
        """Creates an account. Raises :class:`~tessera_auth_client.UserExists`."""
        request = apb.CreateUserRequest(
            username=username, password=password, role=role, display_name=display_name
        )
        return _user(self._call(self._stub.CreateUser, request, retry=False).user)

    def list_users(self) -> list[UserSummary]:
        """Every account, by username (all pages)."""
        users: list[UserSummary] = []
        page = ""
        while True:
            request = apb.ListUsersRequest(page_size=500, page_token=page)
            response = self._call(self._stub.ListUsers, request, retry=True)
            users.extend(_summary(u) for u in response.users)
            page = response.next_page_token
            if not page:
                return users

    def set_user_disabled(self, username: str, disabled: bool) -> UserSummary:
        """Disables an account (it cannot log in; its tokens are revoked at once), or enables it.
        Raises :class:`~tessera_auth_client.UserNotFound`."""
        request = apb.SetUserDisabledRequest(username=username, disabled=disabled)
        return _summary(self._call(self._stub.SetUserDisabled, request, retry=True).user)

    def set_role(self, username: str, role: str) -> User:
        """Changes an account's role; its tokens are revoked so the role applies at once."""
        request = apb.SetRoleRequest(username=username, role=role)
        return _user(self._call(self._stub.SetRole, request, retry=True).user)

    def set_password(self, username: str, password: str) -> None:
        """Sets an account's password, clears a lockout and revokes its tokens."""
        request = apb.SetPasswordRequest(username=username, password=password)
        self._call(self._stub.SetPassword, request, retry=False)

    def begin_totp_enrollment(self, username: str) -> TotpEnrollment:
        """A new TOTP secret for the account; nothing changes until it is confirmed."""
        request = apb.BeginTotpEnrollmentRequest(username=username)
        response = self._call(self._stub.BeginTotpEnrollment, request, retry=False)
        return TotpEnrollment(secret=response.secret, otpauth_uri=response.otpauth_uri)

    def confirm_totp_enrollment(self, username: str, secret: str, code: str) -> User:
        """Enrolls ``secret`` once ``code`` from the authenticator matches it."""
        request = apb.ConfirmTotpEnrollmentRequest(username=username, secret=secret, code=code)
        return _user(self._call(self._stub.ConfirmTotpEnrollment, request, retry=False).user)

    def remove_totp(self, username: str) -> User:
        """Removes the account's TOTP second factor."""
        request = apb.RemoveTotpRequest(username=username)
        return _user(self._call(self._stub.RemoveTotp, request, retry=True).user)

    def list_tokens(
        self, username: str | None = None, *, include_inactive: bool = False
    ) -> list[TokenInfo]:
        """The caller's tokens, or ``username``'s (admin rights needed)."""
        request = apb.ListTokensRequest(username=username or "", include_inactive=include_inactive)
        return [_token(t) for t in self._call(self._stub.ListTokens, request, retry=True).tokens]

    def get_token(self, token_id: str) -> TokenInfo:
        """One token by id. Raises :class:`~tessera_auth_client.TokenNotFound`."""
        request = apb.GetTokenRequest(token_id=token_id)
        return _token(self._call(self._stub.GetToken, request, retry=True).token)

    def list_audit_events(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> list[AuditEvent]:
        """The most recent audit events matching the filters, newest first."""
        request = apb.ListAuditEventsRequest(
            actor=actor or "",
            action=action or "",
            since=_stamp(since),
            until=_stamp(until),
            page_size=limit,
        )
        response = self._call(self._stub.ListAuditEvents, request, retry=True)
        return [
            AuditEvent(
                id=e.id,
                at=_wire._time(e, "at"),
                action=e.action,
                outcome=e.outcome,
                actor=e.actor,
                username=e.username,
                token_id=e.token_id,
                detail_json=e.detail_json,
            )
            for e in response.events
        ]

    def _call(self, method: Callable[..., _Resp], request: Any, *, retry: bool) -> _Resp:
        deadline = time.monotonic() + self._timeout
        attempt = 0
        while True:
            attempt += 1
            try:
                return method(
                    request,
                    timeout=max(deadline - time.monotonic(), 0.001),
                    metadata=self._metadata,
                )
            except grpc.RpcError as rpc_error:
                error = _wire.unary_failure(rpc_error)
                delay = _wire.retry_delay(
                    self._retry, error, attempt, retry=retry, deadline=deadline
                )
                if delay is None:
                    raise error from rpc_error
            _log.info("tessera unavailable; retrying in %.2fs (attempt %d)", delay, attempt)
            time.sleep(delay)


class _AdminCalls(Protocol):
    """What :class:`AsyncAdmin` needs of its client (an ``AsyncClient``): one AdminService call
    by name, with the client's token, deadline, retry policy and replica failover. Named here so
    that this module does not import ``aio``, which imports it."""

    async def _admin_unary(self, name: str, request: Any, *, retry: bool) -> Any: ...


class AsyncAdmin:
    """The AdminService calls, awaited; get one from ``AsyncClient.admin``. Same methods and
    failures as :class:`Admin`."""

    def __init__(self, client: _AdminCalls) -> None:
        self._client = client

    async def _call(self, name: str, request: Any, *, retry: bool) -> Any:
        return await self._client._admin_unary(name, request, retry=retry)

    async def create_user(
        self, username: str, password: str, *, role: str = "user", display_name: str = ""
    ) -> User:
        request = apb.CreateUserRequest(
            username=username, password=password, role=role, display_name=display_name
        )
        return _user((await self._call("CreateUser", request, retry=False)).user)

    async def list_users(self) -> list[UserSummary]:
        users: list[UserSummary] = []
        page = ""
        while True:
            request = apb.ListUsersRequest(page_size=500, page_token=page)
            response = await self._call("ListUsers", request, retry=True)
            users.extend(_summary(u) for u in response.users)
            page = response.next_page_token
            if not page:
                return users

    async def set_user_disabled(self, username: str, disabled: bool) -> UserSummary:
        request = apb.SetUserDisabledRequest(username=username, disabled=disabled)
        return _summary((await self._call("SetUserDisabled", request, retry=True)).user)

    async def set_role(self, username: str, role: str) -> User:
        request = apb.SetRoleRequest(username=username, role=role)
        return _user((await self._call("SetRole", request, retry=True)).user)

    async def set_password(self, username: str, password: str) -> None:
        request = apb.SetPasswordRequest(username=username, password=password)
        await self._call("SetPassword", request, retry=False)

    async def begin_totp_enrollment(self, username: str) -> TotpEnrollment:
        request = apb.BeginTotpEnrollmentRequest(username=username)
        response = await self._call("BeginTotpEnrollment", request, retry=False)
        return TotpEnrollment(secret=response.secret, otpauth_uri=response.otpauth_uri)

    async def confirm_totp_enrollment(self, username: str, secret: str, code: str) -> User:
        request = apb.ConfirmTotpEnrollmentRequest(username=username, secret=secret, code=code)
        return _user((await self._call("ConfirmTotpEnrollment", request, retry=False)).user)

    async def remove_totp(self, username: str) -> User:
        request = apb.RemoveTotpRequest(username=username)
        return _user((await self._call("RemoveTotp", request, retry=True)).user)

    async def list_tokens(
        self, username: str | None = None, *, include_inactive: bool = False
    ) -> list[TokenInfo]:
        request = apb.ListTokensRequest(username=username or "", include_inactive=include_inactive)
        return [_token(t) for t in (await self._call("ListTokens", request, retry=True)).tokens]

    async def get_token(self, token_id: str) -> TokenInfo:
        request = apb.GetTokenRequest(token_id=token_id)
        return _token((await self._call("GetToken", request, retry=True)).token)

    async def list_audit_events(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> list[AuditEvent]:
        request = apb.ListAuditEventsRequest(
            actor=actor or "",
            action=action or "",
            since=_stamp(since),
            until=_stamp(until),
            page_size=limit,
        )
        response = await self._call("ListAuditEvents", request, retry=True)
        return [
            AuditEvent(
                id=e.id,
                at=_wire._time(e, "at"),
                action=e.action,
                outcome=e.outcome,
                actor=e.actor,
                username=e.username,
                token_id=e.token_id,
                detail_json=e.detail_json,
            )
            for e in response.events
        ]


__all__ = ["Admin", "AsyncAdmin", "AuditEvent", "TokenInfo", "TotpEnrollment", "UserSummary"]
