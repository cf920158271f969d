"""The Tessera processes of the failover drill: `tessera serve` replicas and the HTTP edge on the
cluster's haproxy address, and a raw gRPC health check."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import grpc
from cluster import free_ports, wait_for

CALL_TIMEOUT_S = 10.0  # the SDK's default deadline: Tessera must refuse well within it


class Replica:
    """One `tessera serve` on the cluster's haproxy address."""

    def __init__(self, binary: Path, name: str, database_url: str, workdir: Path, *extra: str):
        self.name = name
        self.log = workdir / f"tessera-{name}.log"
        env = {**os.environ, "TESSERA_LOG": os.environ.get("TESSERA_LOG", "info")}
        args = [
            str(binary),
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            database_url,
            "--direct-database-url",
            database_url,
            *extra,
        ]
        self.process = launch(args, env, self.log)
        self.addr = wait_for(f"tessera {name} serving", self._serving, 90, 0.05)

    def _serving(self) -> str | None:
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("fields", {}).get("message") == "tessera serving gRPC":
                return str(entry["fields"]["addr"])
        if self.process.poll() is not None:
            raise RuntimeError(f"tessera {self.name} exited:\n{self.log.read_text()[-3000:]}")
        return None

    @property
    def url(self) -> str:
        return f"http://{self.addr}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        stop_process(self.process)


class Edge:
    """tessera-edge-http in front of both replicas, serving /auth/verify (no upstream)."""

    def __init__(self, binary: Path, replicas: list[Replica], service_token: str, workdir: Path):
        self.port = free_ports(1)[0]
        self.log = workdir / "edge-http.log"
        args = [
            str(binary),
            "--listen",
            f"127.0.0.1:{self.port}",
            "--tessera",
            ",".join(r.url for r in replicas),
            "--front-proxy",
            "nginx",
        ]
        env = {**os.environ, "TESSERA_SERVICE_TOKEN": service_token}
        self.process = launch(args, env, self.log)

        def up() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"edge exited:\n{self.log.read_text()[-3000:]}")
            return self.verify("not-a-token") in (401, 400)

        wait_for("edge answering /auth/verify", up, 60, 0.1)

    def verify(self, token: str) -> int:
        """Status of GET /auth/verify for `token` (nginx auth_request's headers); 0: no answer."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/auth/verify",
            headers={
                "Authorization": f"Bearer {token}",
                "X-Original-Method": "GET",
                "X-Original-URI": "/ha/check",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=CALL_TIMEOUT_S + 2) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return 0

    def stop(self) -> None:
        stop_process(self.process)


def launch(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Starts a process in a session of its own (so a stop reaches its children), its output in
    `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def health(url: str) -> str:
    """grpc.health.v1 Check of the whole server: SERVING, NOT_SERVING or the failure's code."""
    with grpc.insecure_channel(url.removeprefix("http://")) as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        try:
            answer = check(b"", timeout=2)
        except grpc.RpcError as error:
            return error.code().name
    # HealthCheckResponse{status = 1}: field 1, varint.
    return {b"\x08\x01": "SERVING", b"\x08\x02": "NOT_SERVING"}.get(answer, f"status {answer!r}")
