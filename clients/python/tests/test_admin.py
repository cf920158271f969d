"""AdminService through ``client.admin``, and the one address form, against the real server."""

from __future__ import annotations

import base64
import time
import urllib.parse

import grpc
import pytest

from tessera_auth_client import (
    AsyncClient,
    Client,
    InvalidCredentials,
    TokenNotFound,
    UserExists,
    UserNotFound,
)

from .support import Tessera, totp_code


def test_admin_manages_accounts_totp_tokens_and_audit(admin: Client, tessera: Tessera) -> None:
    name = f"pyadm{time.time_ns()}"
    user = admin.admin.create_user(name, "py-admin-password-1", display_name="Py Admin")
    assert (user.username, user.role) == (name, "user")
    with pytest.raises(UserExists):
        admin.admin.create_user(name, "py-admin-password-1")
    assert any(u.user.username == name for u in admin.admin.list_users())
    assert admin.admin.set_role(name, "admin").role == "admin"
    with pytest.raises(UserNotFound):
        admin.admin.set_role(name + "-missing", "admin")
    assert admin.admin.set_user_disabled(name, True).disabled
    assert not admin.admin.set_user_disabled(name, False).disabled
    admin.admin.set_password(name, "py-admin-password-2")
    with tessera.client() as anonymous:
        with pytest.raises(InvalidCredentials):
            anonymous.login(name, "py-admin-password-1")
        anonymous.login(name, "py-admin-password-2")

    enrollment = admin.admin.begin_totp_enrollment(name)
    assert enrollment.secret not in repr(enrollment)
    query = urllib.parse.parse_qs(urllib.parse.urlparse(enrollment.otpauth_uri).query)
    secret = query["secret"][0]
    seed = base64.b32decode(secret + "=" * (-len(secret) % 8))
    enrolled = admin.admin.confirm_totp_enrollment(name, enrollment.secret, totp_code(seed))
    assert enrolled.totp_enabled
    assert not admin.admin.remove_totp(name).totp_enabled

    issued = admin.issue_token(ttl="1h", namespace="deploy.", description="py admin test")
    listed = admin.admin.list_tokens()
    assert any(t.token_id == issued.token_id and t.description == "py admin test" for t in listed)
    info = admin.admin.get_token(issued.token_id)
    assert info.namespace == "deploy."
    with pytest.raises(TokenNotFound):
        admin.admin.get_token("00000000-0000-4000-8000-000000000000")
    events = admin.admin.list_audit_events(action="user.create", limit=100)
    assert any(e.username == name for e in events)


def test_the_three_address_forms_work_and_others_are_refused_at_construction(
    tessera: Tessera,
) -> None:
    for target in (tessera.addr, f"http://{tessera.addr}", f"http://{tessera.addr}/"):
        with Client(target, token=tessera.service_token) as client:
            assert not client.introspect("tsr_api_unknown", peek=True).active
    for bad in ("localhost", "ftp://h:1", "dns:///h:1", "http://h", "h:0", "http://h:1/x", "::1:1"):
        with pytest.raises(ValueError, match=r"http://127\.0\.0\.1:50051"):
            Client(bad)
    with pytest.raises(ValueError, match="plaintext"):
        Client(f"http://{tessera.addr}", tls=True)
    # https:// means TLS: a plaintext server answers a TLS client with UNAVAILABLE.
    with Client(f"https://{tessera.addr}", timeout=3) as client, pytest.raises(Exception) as caught:
        client.login("admin", "x")
    assert "UNAVAILABLE" in str(caught.value).upper() or isinstance(caught.value, grpc.RpcError)


@pytest.mark.asyncio
async def test_async_admin_has_the_same_calls(tessera: Tessera) -> None:
    name = f"pyaadm{time.time_ns()}"
    async with AsyncClient(tessera.addr, token=tessera.admin_token) as client:
        user = await client.admin.create_user(name, "py-admin-password-1")
        assert user.username == name
        with pytest.raises(UserExists):
            await client.admin.create_user(name, "py-admin-password-1")
        assert any(u.user.username == name for u in await client.admin.list_users())
        with pytest.raises(UserNotFound):
            await client.admin.set_role(name + "-missing", "admin")
        assert (await client.admin.set_user_disabled(name, True)).disabled
        with pytest.raises(TokenNotFound):
            await client.admin.get_token("00000000-0000-4000-8000-000000000000")
        events = await client.admin.list_audit_events(action="user.create", limit=100)
        assert any(e.username == name for e in events)
