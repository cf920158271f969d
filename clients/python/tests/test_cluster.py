"""TLS, mutual TLS and failover against real ``tessera serve`` replicas that share the dev server's
PostgreSQL. Certificates come from ``openssl`` (Debian's): a server CA, and a separate CA for
client certificates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tessera_auth_client import (
    NO_RETRY,
    AsyncClient,
    Client,
    InvalidCredentials,
    TesseraError,
    Unavailable,
    tls_credentials,
)

from .conftest import _binary
from .support import Tessera, closed_port


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_ca: Path
    client_cert: Path
    client_key: Path


def _openssl(cwd: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _issue(cwd: Path, ca: str, name: str, subject: str, extensions: str) -> None:
    """A P-256 key and a certificate for it signed by ``ca``, valid for a day."""
    (cwd / f"{name}.ext").write_text(extensions)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(cwd, "req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject)
    signer = ["-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial", "-days", "1"]
    _openssl(cwd, "x509", "-req", "-in", f"{name}.csr", *signer, "-out", f"{name}.pem",
             "-extfile", f"{name}.ext")  # fmt: skip


def _ca(cwd: Path, name: str) -> None:
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(cwd, "req", "-x509", *key, "-keyout", f"{name}.key", "-out", f"{name}.pem",
             "-days", "1", "-subj", f"/CN={name}")  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    _ca(d, "server-ca")
    _issue(d, "server-ca", "server", "/CN=tessera",
           "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")  # fmt: skip
    _ca(d, "client-ca")
    _issue(d, "client-ca", "client", "/CN=python-sdk-test",
           "extendedKeyUsage=clientAuth\n")  # fmt: skip
    return Pki(
        ca=d / "server-ca.pem",
        server_cert=d / "server.pem",
        server_key=d / "server.key",
        client_ca=d / "client-ca.pem",
        client_cert=d / "client.pem",
        client_key=d / "client.key",
    )


class Replica:
    """One ``tessera serve`` on the dev server's database, over TLS."""

    def __init__(self, tessera: Tessera, pki: Pki, log: Path, *extra: str) -> None:
        env = {
            **os.environ,
            "TESSERA_DATABASE_URL": tessera.database_url,
            "TESSERA_TOTP_KEY": (tessera.data_dir / "totp.key").read_text().strip(),
            "TESSERA_LOG": "info",
        }
        args = [str(_binary()), "--log-format", "json", "serve", "--listen", "127.0.0.1:0",
                "--skip-migrations", "--tls-cert", str(pki.server_cert),
                "--tls-key", str(pki.server_key), *extra]  # fmt: skip
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                args, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        self.addr = self._wait_serving()

    def _wait_serving(self) -> str:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            for line in self.log.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("fields", {}).get("message") == "tessera serving gRPC":
                    return str(entry["fields"]["addr"])
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"tessera serve did not start:\n{self.log.read_text()[-4000:]}")

    @property
    def url(self) -> str:
        return f"https://{self.addr}"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def replicas(tessera: Tessera, pki: Pki, tmp_path: Path) -> Iterator[tuple[Replica, Replica]]:
    """Two TLS replicas; the second also demands a client certificate (mutual TLS)."""
    plain = Replica(tessera, pki, tmp_path / "a.log")
    try:
        mutual = Replica(tessera, pki, tmp_path / "b.log", "--client-ca", str(pki.client_ca))
    except BaseException:
        plain.stop()
        raise
    yield plain, mutual
    plain.stop()
    mutual.stop()


def test_tls_with_a_ca_file(tessera: Tessera, pki: Pki, replicas: tuple[Replica, Replica]) -> None:
    plain, _ = replicas
    trusted = tls_credentials(ca_file=pki.ca)
    with Client(plain.url, token=tessera.service_token, tls=trusted) as client:
        assert client.introspect(tessera.service_token, peek=True).active
    # The system's roots do not know the test CA: the handshake fails, closed.
    with (
        Client(plain.url, token=tessera.service_token, timeout=5) as client,
        pytest.raises(Unavailable),
    ):
        client.introspect(tessera.service_token, peek=True)
    # https:// is TLS; a plaintext client gets nothing from a TLS port.
    with (
        Client(f"http://{plain.addr}", token=tessera.service_token, timeout=5) as client,
        pytest.raises(TesseraError),
    ):
        client.introspect(tessera.service_token, peek=True)


def test_mutual_tls_needs_a_client_certificate(
    tessera: Tessera, pki: Pki, replicas: tuple[Replica, Replica]
) -> None:
    _, mutual = replicas
    without = tls_credentials(ca_file=pki.ca)
    with (
        Client(mutual.url, token=tessera.service_token, tls=without, timeout=5) as client,
        pytest.raises(Unavailable),
    ):
        client.introspect(tessera.service_token, peek=True)
    with_cert = tls_credentials(ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.client_key)
    with Client(mutual.url, token=tessera.service_token, tls=with_cert) as client:
        assert client.introspect(tessera.service_token, peek=True).active
    with pytest.raises(ValueError):
        tls_credentials(cert_file=pki.client_cert)


def test_failover_when_a_replica_dies_mid_load(
    tessera: Tessera, pki: Pki, replicas: tuple[Replica, Replica]
) -> None:
    """Issue, check, revoke, check again in a loop over both replicas; the preferred one is killed
    midway. Calls move to the other; no revoked token is ever accepted and no acknowledged write is
    lost. Prints the failover time (kill to the next successful call)."""
    first, second = replicas
    creds = tls_credentials(ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.client_key)
    targets = [first.url, second.url]
    admin = Client(targets, token=tessera.admin_token, tls=creds, timeout=10)
    service = admin.with_token(tessera.service_token)
    acknowledged: list[str] = []
    accepted_after_revoke = 0
    ambiguous = 0
    killed_at: float | None = None
    failover: float | None = None
    try:
        for round_ in range(60):
            if round_ == 20:
                first.kill()
                killed_at = time.monotonic()
            try:
                issued = admin.issue_token(ttl="10m", max_uses=5)
            except Unavailable:
                # Sent to the dying replica: it may or may not have been issued. Not retried.
                ambiguous += 1
                continue
            if killed_at is not None and failover is None:
                failover = time.monotonic() - killed_at
            assert service.introspect(issued.token, peek=True).active
            admin.revoke(token_id=issued.token_id, reason="failover test")
            acknowledged.append(issued.token_id)
            if service.introspect(issued.token, peek=True).active:
                accepted_after_revoke += 1
        assert admin.address == second.addr
    finally:
        admin.close()
    assert killed_at is not None and failover is not None
    assert accepted_after_revoke == 0
    assert ambiguous <= 1, "only a call in flight at the kill may fail"
    # Every acknowledged revocation is in the database, as the dev server (a third replica) sees.
    with tessera.client(tessera.admin_token) as check:
        lost = [i for i in acknowledged if check.admin.get_token(i).revoked_at is None]
    assert lost == []
    assert len(acknowledged) >= 55
    print(
        f"python failover: {failover * 1000:.1f} ms from kill to the next successful call, "
        f"{ambiguous} call(s) in flight failed, {accepted_after_revoke} revoked tokens accepted"
    )


def test_a_login_moves_on_only_from_an_address_it_never_reached(tessera: Tessera) -> None:
    """Login is never retried blindly: it moves to the next address only because gRPC had no
    connection to the first to send it on."""
    dead = f"http://127.0.0.1:{closed_port()}"
    live = f"http://{tessera.addr}"
    with Client([dead, live], timeout=10, retry=NO_RETRY) as client:
        with pytest.raises(InvalidCredentials):
            client.login("nobody-failover", "not the password")
        assert client.address == tessera.addr


@pytest.mark.asyncio
async def test_async_client_fails_over_when_a_replica_dies(
    tessera: Tessera, pki: Pki, replicas: tuple[Replica, Replica]
) -> None:
    first, second = replicas
    creds = tls_credentials(ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.client_key)
    admin = AsyncClient([first.url, second.url], token=tessera.admin_token, tls=creds, timeout=10)
    service = admin.with_token(tessera.service_token)
    failed = 0
    try:
        for round_ in range(20):
            if round_ == 5:
                first.kill()
            try:
                issued = await admin.issue_token(ttl="10m")
            except Unavailable:
                failed += 1
                continue
            await admin.revoke(token_id=issued.token_id, reason="async failover test")
            assert not (await service.introspect(issued.token, peek=True)).active
        assert admin.address == second.addr
    finally:
        await admin.close()
    assert failed <= 1
