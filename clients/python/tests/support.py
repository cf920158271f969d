"""What the tests share: the running server's details and small helpers."""

from __future__ import annotations

import hashlib
import hmac
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from tessera_auth_client import Client

REPO = Path(__file__).resolve().parents[3]
PASSWORD = "correct horse battery"
MAX_FAILED_LOGINS = 3
# Password verifications the server runs at once, and may queue; past both, Login is refused.
HASH_WORKERS, HASH_QUEUE = 2, 1

# Accounts made at start-up through TESSERA_BOOTSTRAP_ACCOUNTS_JSON; one per test that changes an
# account's state (lockout), so tests stay independent.
BOOTSTRAP_USERS = ["alice", "bob", "locked-sync", "locked-async", "middleware"]
# Accounts with TOTP enrolled through `tessera user add --totp`; each TOTP step is accepted once
# per account, so the sync and async tests get one each.
TOTP_USERS = ["mfa-sync", "mfa-async"]


@dataclass(frozen=True)
class Tessera:
    """A running server and what tests need to talk to it."""

    addr: str
    admin_username: str
    admin_password: str
    admin_token: str
    service_token: str
    totp_secrets: dict[str, bytes]
    data_dir: Path
    database_url: str = ""

    def client(self, token: str | None = None) -> Client:
        return Client(self.addr, token=token)


def totp_code(secret: bytes, at: float | None = None) -> str:
    """RFC 6238 (HMAC-SHA1, 30 s, 6 digits), as the server checks it."""
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
