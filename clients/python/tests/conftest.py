"""Starts one real Tessera (`tessera dev`: embedded PostgreSQL + gRPC server) for the whole run.

The binary is $TESSERA_BIN, else target/debug/tessera of this repository (run-tests.sh builds it).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera_auth_client import Client

from .support import (
    BOOTSTRAP_USERS,
    HASH_QUEUE,
    HASH_WORKERS,
    MAX_FAILED_LOGINS,
    PASSWORD,
    REPO,
    TOTP_USERS,
    Tessera,
)

START_TIMEOUT = 90.0


def _binary() -> Path:
    binary = Path(os.environ.get("TESSERA_BIN") or REPO / "target" / "debug" / "tessera")
    if not binary.is_file():
        pytest.exit(f"{binary} is missing: run `cargo build -p tessera-cli` first", returncode=2)
    return binary


def _enroll_totp(binary: Path, database_url: str, totp_key: str, username: str) -> bytes:
    done = subprocess.run(
        [str(binary), "user", "add", "--username", username, "--password-stdin", "--totp"],
        input=PASSWORD + "\n",
        env={**os.environ, "TESSERA_DATABASE_URL": database_url, "TESSERA_TOTP_KEY": totp_key},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    uri = next(word for word in done.stdout.split() if word.startswith("otpauth://"))
    secret = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


@contextlib.contextmanager
def _dev_server(extra_env: dict[str, str], *, enroll_totp: bool) -> Iterator[Tessera]:
    """A `tessera dev` of its own (embedded PostgreSQL in a temporary directory), stopped after."""
    binary = _binary()
    with tempfile.TemporaryDirectory(prefix="tessera-py-") as tmp:
        # `tessera dev` run as root hands PostgreSQL to an unprivileged user, who must reach the
        # data directory.
        os.chmod(tmp, 0o711)
        data_dir, ready_file, log_path = Path(tmp, "dev"), Path(tmp, "ready.json"), Path(tmp, "log")
        accounts = [{"username": u, "password": PASSWORD, "role": "user"} for u in BOOTSTRAP_USERS]
        env = {
            **os.environ,
            "TESSERA_HASH_WORKERS": str(HASH_WORKERS),
            "TESSERA_HASH_QUEUE": str(HASH_QUEUE),
            "TESSERA_MAX_FAILED_LOGINS": str(MAX_FAILED_LOGINS),
            "TESSERA_BOOTSTRAP_ACCOUNTS_JSON": json.dumps(accounts),
            "TESSERA_LOG_FORMAT": "text",
            "NO_COLOR": "1",
            **extra_env,
        }
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                [
                    str(binary),
                    "dev",
                    "--data-dir",
                    str(data_dir),
                    "--listen",
                    "127.0.0.1:0",
                    "--ready-file",
                    str(ready_file),
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            ready = _wait_ready(server, ready_file, log_path)
            totp_key = (data_dir / "totp.key").read_text().strip()
            secrets = {
                user: _enroll_totp(binary, ready["database_url"], totp_key, user)
                for user in (TOTP_USERS if enroll_totp else [])
            }
            yield Tessera(
                addr=ready["grpc_addr"],
                admin_username=ready["admin_username"],
                admin_password=ready["admin_password"],
                admin_token=ready["admin_token"],
                service_token=ready["service_token"],
                totp_secrets=secrets,
                data_dir=data_dir,
                database_url=ready["database_url"],
            )
        finally:
            _stop(server)


@pytest.fixture(scope="session")
def tessera() -> Iterator[Tessera]:
    with _dev_server({}, enroll_totp=True) as server:
        yield server


@pytest.fixture(scope="session")
def pruning_tessera() -> Iterator[Tessera]:
    """A second server whose revocation feed keeps one second (sweeping every second), for the
    resync protocol; started only by the tests that ask for it."""
    env = {
        "TESSERA_REVOCATION_RETENTION": "1s",
        "TESSERA_REVOCATION_RETENTION_RESYNC": "true",
        "TESSERA_SWEEP_INTERVAL": "1s",
    }
    with _dev_server(env, enroll_totp=False) as server:
        yield server


def _wait_ready(server: subprocess.Popen[bytes], ready_file: Path, log: Path) -> dict[str, str]:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if ready_file.exists():
            ready: dict[str, str] = json.loads(ready_file.read_text())
            return ready
        if server.poll() is not None:
            break
        time.sleep(0.05)
    _stop(server)
    raise RuntimeError(f"tessera dev did not become ready; its log:\n{log.read_text()[-4000:]}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="session")
def service(tessera: Tessera) -> Iterator[Client]:
    """A client with the dev service token (introspect only)."""
    with tessera.client(tessera.service_token) as client:
        yield client


@pytest.fixture(scope="session")
def admin(tessera: Tessera) -> Iterator[Client]:
    """A client with the dev admin's session (role admin, permissions *)."""
    with tessera.client(tessera.admin_token) as client:
        yield client
