"""The counterparts deploy/check's runs make on this machine (no cluster, registry or managed
database is reachable here): a private CA with openssl, a PostgreSQL from the machine's own
binaries, and the messages and failures every run reports the same way.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

DB_PASSWORD = "check-db-password"
# Who speaks in messages: the run that imported this sets it.
WHO = "deploy check"


def log(message: str) -> None:
    print(f"{WHO}: {message}", flush=True)


def fail(message: str) -> None:
    print(f"{WHO}: FAILED: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


class Pki:
    """A private CA, a leaf for the service name, and a client certificate, by openssl."""

    def __init__(self, where: Path, server_name: str, other_names: list[str] | None = None):
        self.dir = where
        where.mkdir()

        def ssl(*args: str) -> None:
            run(["openssl", *args], cwd=where)

        ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=pods check ca")
        for name, subject, ext in [
            ("server", server_name,
             "subjectAltName=" + ",".join(f"DNS:{n}" for n in [server_name, *(other_names or [])])
             + "\nextendedKeyUsage=serverAuth"),
            ("client", "tessera-probe", "extendedKeyUsage=clientAuth"),
        ]:
            (where / f"{name}.ext").write_text(ext + "\n")
            ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={subject}")
            ssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext")

    def read(self, name: str) -> bytes:
        return (self.dir / name).read_bytes()


class Postgres:
    """PostgreSQL from the machine's binaries, as the `postgres` Service on 127.0.0.1:5432."""

    def __init__(self, where: Path):
        binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not binaries:
            fail("no PostgreSQL binaries under /usr/lib/postgresql")
        self.bin = binaries[-1]
        self.dir = where
        where.mkdir()
        shutil.chown(where, "postgres", "postgres")
        as_pg = ["setpriv", "--reuid", "postgres", "--regid", "postgres", "--init-groups"]
        run([*as_pg, str(self.bin / "initdb"), "-D", str(where / "data"), "-U", "postgres",
             "--auth=trust", "-E", "UTF8"])
        self.process = subprocess.Popen(
            [*as_pg, str(self.bin / "postgres"), "-D", str(where / "data"), "-k", str(where),
             "-h", "127.0.0.1", "-p", "5432"],
            stdout=open(where / "log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
        psql = [*as_pg, str(self.bin / "psql"), "-h", str(where), "-U", "postgres", "-q",
                "-v", "ON_ERROR_STOP=1"]
        deadline = time.monotonic() + 30
        while subprocess.run([*psql, "-c", "select 1"], capture_output=True).returncode != 0:
            if time.monotonic() > deadline or self.process.poll() is not None:
                fail(f"PostgreSQL did not start: {(where / 'log').read_text()[-2000:]}")
            time.sleep(0.2)
        run([*psql, "-c", f"create role tessera login password '{DB_PASSWORD}'",
             "-c", "create database tessera owner tessera"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
