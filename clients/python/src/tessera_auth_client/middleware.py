"""Bearer-token guards for Python web apps: an ASGI middleware and a WSGI decorator.

Both read ``Authorization: Bearer <token>``, introspect the token with Tessera and hand the
:class:`~tessera_auth_client.Introspection` to the handler (see :func:`identity`). They answer like
Tessera's HTTP edge (RFC 6750): no or inactive token -> 401 ``invalid_token``; missing permission
-> 403 ``insufficient_scope``; Tessera unreachable, overloaded or refusing the guard's own token
-> 503, failing closed. Each request counts one use of a limited-use token unless
``consume_use=False``.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .aio import AsyncClient
from .client import Client
from .errors import InvalidArgument, ResourceExhausted, TesseraError
from .types import Introspection

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "IDENTITY_KEY",
    "TesseraAuthMiddleware",
    "bearer_token",
    "identity",
    "require_token",
]

_log = logging.getLogger("tessera_auth_client.middleware")

#: Where the guards put the caller's :class:`~tessera_auth_client.Introspection`: the ASGI scope
#: (also as ``scope["state"]["tessera_identity"]``, i.e. Starlette's
#: ``request.state.tessera_identity``) or the WSGI environ.
IDENTITY_KEY = "tessera.identity"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else ``None``."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
        return None
    return token


def identity(carrier: Mapping[str, Any]) -> Introspection:
    """The caller's identity from a guarded request's ASGI scope or WSGI environ."""
    found = carrier.get(IDENTITY_KEY)
    if not isinstance(found, Introspection):
        raise LookupError("no tessera identity here: is the route behind the tessera guard?")
    return found


@dataclass(frozen=True)
class _Refusal:
    """An HTTP answer refusing the request."""

    status: int
    error: str
    description: str
    www_authenticate: str | None = None
    retry_after: int | None = None

    def headers(self) -> list[tuple[str, str]]:
        headers = [
            ("content-type", "application/json"),
            ("cache-control", "no-store"),
        ]
        if self.www_authenticate:
            headers.append(("www-authenticate", self.www_authenticate))
        if self.retry_after is not None:
            headers.append(("retry-after", str(self.retry_after)))
        return headers

    def body(self) -> bytes:
        return json.dumps({"error": self.error, "error_description": self.description}).encode()


_REASON_PHRASES = {
    401: "Unauthorized",
    403: "Forbidden",
    503: "Service Unavailable",
}


class _Policy:
    """The decisions both guards share."""

    def __init__(self, permission: str | None, consume_use: bool, realm: str) -> None:
        self.permission = permission
        self.peek = not consume_use
        self.realm = realm

    def no_token(self) -> _Refusal:
        return _Refusal(
            401, "invalid_token", "a bearer token is required", f'Bearer realm="{self.realm}"'
        )

    def judge(self, found: Introspection) -> _Refusal | None:
        if not found.active:
            return _Refusal(
                401,
                "invalid_token",
                "the token is not active",
                f'Bearer realm="{self.realm}", error="invalid_token"',
            )
        if self.permission is not None and not found.has_permission(self.permission):
            return _Refusal(
                403,
                "insufficient_scope",
                f"the token lacks the {self.permission} permission",
                f'Bearer realm="{self.realm}", error="insufficient_scope", '
                f'scope="{self.permission}"',
            )
        return None

    def failed(self, error: TesseraError) -> _Refusal:
        if isinstance(error, InvalidArgument) and error.field == "token":
            # A malformed token (say, a control character) is just not a valid token.
            return _Refusal(
                401,
                "invalid_token",
                "the token is not valid",
                f'Bearer realm="{self.realm}", error="invalid_token"',
            )
        # Anything else is not the client's fault: Tessera is down or overloaded, or refused the
        # guard's own token (an operator's problem). Fail closed.
        _log.error("tessera introspection failed; refusing the request: %s", error)
        retry_after = 1 if isinstance(error, ResourceExhausted) else None
        return _Refusal(
            503, "temporarily_unavailable", "authorization is unavailable", None, retry_after
        )


class TesseraAuthMiddleware:
    """ASGI middleware admitting only requests whose bearer token Tessera says is active.

    Args:
        app: The ASGI app to protect (HTTP and WebSocket; lifespan passes through).
        client: An :class:`~tessera_auth_client.AsyncClient` whose token holds ``introspect`` (a
            service token). It may be built at import time; its channel opens in the server's
            loop.
        permission: A permission the caller's token must hold as well (403 otherwise).
        consume_use: Count one use of a limited-use token per request (the default); ``False``
            peeks.
        exempt_paths: Exact paths served without a token, such as ``/healthz``.
        realm: The ``realm`` of ``WWW-Authenticate``.
    """

    def __init__(
        self,
        app: ASGIApp,
        client: AsyncClient,
        *,
        permission: str | None = None,
        consume_use: bool = True,
        exempt_paths: Collection[str] = (),
        realm: str = "tessera",
    ) -> None:
        self.app = app
        self._client = client
        self._policy = _Policy(permission, consume_use, realm)
        self._exempt = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in self._exempt:
            await self.app(scope, receive, send)
            return
        verdict = await self._authorize(_header(scope, b"authorization"))
        if isinstance(verdict, _Refusal):
            await _refuse(scope, send, verdict)
            return
        scope = dict(scope)
        scope[IDENTITY_KEY] = verdict
        scope["state"] = {**scope.get("state", {}), "tessera_identity": verdict}
        await self.app(scope, receive, send)

    async def _authorize(self, authorization: str | None) -> Introspection | _Refusal:
        token = bearer_token(authorization)
        if token is None:
            return self._policy.no_token()
        try:
            found = await self._client.introspect(token, peek=self._policy.peek)
        except TesseraError as error:
            return self._policy.failed(error)
        return self._policy.judge(found) or found


def _header(scope: Scope, name: bytes) -> str | None:
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers", ())
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _refuse(scope: Scope, send: Send, refusal: _Refusal) -> None:
    if scope["type"] == "websocket":
        # Closing before accepting makes the server answer the handshake with 403.
        await send({"type": "websocket.close", "code": 1008, "reason": refusal.error})
        return
    await send(
        {
            "type": "http.response.start",
            "status": refusal.status,
            "headers": [(k.encode(), v.encode()) for k, v in refusal.headers()],
        }
    )
    await send({"type": "http.response.body", "body": refusal.body()})


def require_token(
    client: Client,
    *,
    permission: str | None = None,
    consume_use: bool = True,
    realm: str = "tessera",
) -> Callable[[WSGIApplication], WSGIApplication]:
    """Decorates a WSGI app so that it runs only for requests with an active bearer token; the
    identity is in ``environ["tessera.identity"]`` (see :func:`identity`). Arguments as for
    :class:`TesseraAuthMiddleware`, with a sync :class:`~tessera_auth_client.Client`."""
    policy = _Policy(permission, consume_use, realm)

    def decorate(app: WSGIApplication) -> WSGIApplication:
        @functools.wraps(app)
        def guarded(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            verdict = _authorize_sync(client, policy, environ.get("HTTP_AUTHORIZATION"))
            if isinstance(verdict, _Refusal):
                status = f"{verdict.status} {_REASON_PHRASES[verdict.status]}"
                start_response(status, verdict.headers())
                return [verdict.body()]
            environ[IDENTITY_KEY] = verdict
            return app(environ, start_response)

        return guarded

    return decorate


def _authorize_sync(
    client: Client, policy: _Policy, authorization: str | None
) -> Introspection | _Refusal:
    token = bearer_token(authorization)
    if token is None:
        return policy.no_token()
    try:
        found = client.introspect(token, peek=policy.peek)
    except TesseraError as error:
        return policy.failed(error)
    return policy.judge(found) or found
