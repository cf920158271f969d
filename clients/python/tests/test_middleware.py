"""The ASGI middleware guarding a real app served by uvicorn over a socket; the WSGI decorator."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from wsgiref.util import setup_testing_defaults

import httpx
import pytest
import uvicorn

from tessera_auth_client import NO_RETRY, AsyncClient, Client
from tessera_auth_client.middleware import (
    IDENTITY_KEY,
    Message,
    Receive,
    Scope,
    Send,
    TesseraAuthMiddleware,
    identity,
    require_token,
)

from .support import PASSWORD, Tessera, closed_port


async def whoami(scope: Scope, receive: Receive, send: Send) -> None:
    """The protected app: answers with the caller's identity as the middleware exposed it."""
    if scope["path"].endswith("/healthz"):
        body = json.dumps({"identified": IDENTITY_KEY in scope}).encode()
    else:
        caller = identity(scope)
        assert scope["state"]["tessera_identity"] is caller
        body = json.dumps({"username": caller.username, "token_id": caller.token_id}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Router:
    """Mounts differently configured guards under path prefixes, and closes their clients when the
    server shuts down (the lifespan protocol)."""

    def __init__(self, tessera: Tessera) -> None:
        self.clients = {
            "service": AsyncClient(tessera.addr, token=tessera.service_token),
            "down": AsyncClient(f"127.0.0.1:{closed_port()}", token="t", retry=NO_RETRY),
        }
        service = self.clients["service"]
        self.mounts = {
            "/app": TesseraAuthMiddleware(whoami, service, exempt_paths={"/app/healthz"}),
            "/peek": TesseraAuthMiddleware(whoami, service, consume_use=False),
            "/writers": TesseraAuthMiddleware(whoami, service, permission="write"),
            "/down": TesseraAuthMiddleware(whoami, self.clients["down"]),
            # The guard's own token lacks `introspect`: the operator's mistake, not the caller's.
            "/misconfigured": TesseraAuthMiddleware(
                whoami, service.with_token("tsr_api_" + "z" * 49)
            ),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    for client in self.clients.values():
                        await client.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        prefix = "/" + scope["path"].split("/")[1]
        await self.mounts[prefix](scope, receive, send)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serves an ASGI app with uvicorn on a free loopback port, in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture(scope="module")
def site(tessera: Tessera) -> Iterator[httpx.Client]:
    with serve(Router(tessera)) as url, httpx.Client(base_url=url, timeout=20) as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def session_token(tessera: Tessera) -> str:
    with tessera.client() as client:
        return client.login("middleware", PASSWORD).token


def test_asgi_admits_an_active_token_and_exposes_the_identity(
    site: httpx.Client, session_token: str
) -> None:
    answer = site.get("/app/whoami", headers=bearer(session_token))
    assert answer.status_code == 200
    assert answer.json()["username"] == "middleware"


def test_asgi_refuses_missing_and_invalid_tokens(site: httpx.Client) -> None:
    missing = site.get("/app/whoami")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="tessera"'
    assert missing.json()["error"] == "invalid_token"

    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer two words"):
        assert site.get("/app/whoami", headers={"authorization": header}).status_code == 401

    bogus = site.get("/app/whoami", headers=bearer("tsr_api_" + "q" * 49))
    assert bogus.status_code == 401
    assert 'error="invalid_token"' in bogus.headers["www-authenticate"]


def test_asgi_exempt_paths_need_no_token(site: httpx.Client) -> None:
    health = site.get("/app/healthz")
    assert health.status_code == 200 and health.json() == {"identified": False}
    with pytest.raises(LookupError):
        identity({})


def test_asgi_counts_a_use_per_request_unless_peeking(tessera: Tessera, site: httpx.Client) -> None:
    with tessera.client(tessera.admin_token) as admin:
        once = admin.issue_token(ttl="5m", max_uses=1).token
        peeked = admin.issue_token(ttl="5m", max_uses=1).token
    assert site.get("/app/x", headers=bearer(once)).status_code == 200
    assert site.get("/app/x", headers=bearer(once)).status_code == 401
    assert site.get("/peek/x", headers=bearer(peeked)).status_code == 200
    assert site.get("/peek/x", headers=bearer(peeked)).status_code == 200


def test_asgi_required_permission(tessera: Tessera, site: httpx.Client, session_token: str) -> None:
    with tessera.client(session_token) as owner:
        reader = owner.issue_token(ttl="5m", permissions=["read"]).token
    refused = site.get("/writers/x", headers=bearer(reader))
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert site.get("/writers/x", headers=bearer(session_token)).status_code == 200


def test_asgi_fails_closed(site: httpx.Client, session_token: str) -> None:
    for prefix in ("/down", "/misconfigured"):
        answer = site.get(f"{prefix}/x", headers=bearer(session_token))
        assert answer.status_code == 503, prefix
        assert answer.json()["error"] == "temporarily_unavailable"


def test_asgi_websocket_refused_before_the_handshake_completes(tessera: Tessera) -> None:
    async def scenario() -> list[Message]:
        async with AsyncClient(tessera.addr, token=tessera.service_token) as client:
            sent: list[Message] = []

            async def receive() -> Message:
                return {"type": "websocket.connect"}

            async def send(message: Message) -> None:
                sent.append(message)

            guard = TesseraAuthMiddleware(whoami, client)
            await guard({"type": "websocket", "path": "/ws", "headers": []}, receive, send)
            return sent

    assert asyncio.run(scenario()) == [
        {"type": "websocket.close", "code": 1008, "reason": "invalid_token"}
    ]


# --- WSGI -----------------------------------------------------------------------------------------


def hello(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("content-type", "text/plain")])
    return [f"hello {identity(environ).username}".encode()]


def call_wsgi(app: Any, token: str | None = None) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {"wsgi.input": io.BytesIO()}
    setup_testing_defaults(environ)
    if token is not None:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer["status"], answer["headers"] = status, dict(headers)

    body = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], body


def test_wsgi_decorator_guards_the_app(tessera: Tessera, session_token: str) -> None:
    with tessera.client(tessera.service_token) as client:
        app = require_token(client)(hello)
        assert call_wsgi(app, session_token)[::2] == ("200 OK", b"hello middleware")

        status, headers, body = call_wsgi(app)
        assert status == "401 Unauthorized" and headers["www-authenticate"].startswith("Bearer")
        assert json.loads(body)["error"] == "invalid_token"
        assert call_wsgi(app, "tsr_api_" + "w" * 49)[0] == "401 Unauthorized"

        writers = require_token(client, permission="write", consume_use=False)(hello)
        reader = client.with_token(session_token).issue_token(ttl="5m", permissions=["read"])
        assert call_wsgi(writers, reader.token)[0] == "403 Forbidden"

    with Client(f"127.0.0.1:{closed_port()}", token="t", retry=NO_RETRY) as down:
        assert call_wsgi(require_token(down)(hello), session_token)[0] == "503 Service Unavailable"
