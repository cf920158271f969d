#!/usr/bin/env python3
"""Starts deploy/compose's stack under podman and runs the smoke test through nginx.

A compose runner of its own, for the subset deploy/compose uses, because the available ones cannot
start this stack here: podman-compose 1.6 with Debian's podman 4.3 ignores `condition:
service_healthy` ("podman 4.3.1 doesn't support healthy") and starts the migration before
PostgreSQL is up, and podman 4.3 runs healthchecks from systemd timers, which a machine without
systemd does not have. This runner reads the compose files the way compose does (YAML anchors and
merge keys, later files merged over earlier ones: mappings key by key, other values replaced), puts
every service on one podman network under its service name, starts them in `depends_on` order and
honours the three conditions (started; healthy: it runs the service's healthcheck itself, as the
timer would; completed successfully), with each service's image, entrypoint, command, environment,
volumes (bind mounts relative to the first file's folder, named volumes per project), tmpfs,
read_only, cap_drop, security_opt, restart and stop_grace_period. Ports are not published on the
host (other processes here may hold them): the test reaches the containers on the network.

Then the smoke test, through nginx: a login (the CLI, on replica a), a token issued, forward-auth
admitting it (the demo app sees who nginx let through) and refusing no token, the token revoked and
refused, then the drill from the compose file's header: `stop tessera-a` (SIGTERM, drained), and
the web app still answers a token issued afterwards, the edges now asking replica b. Every
container, the network and the volumes are removed at the end.

Usage: compose.py --project NAME --bin TARGET/debug -f FILE [-f FILE …]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

ADMIN = ("admin", "CHANGE-ME-admin-password")


def log(message: str) -> None:
    print(f"compose: {message}", flush=True)


class Failed(Exception):
    pass


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise Failed(f"podman {' '.join(args[:3])}…: {done.stderr.strip() or done.stdout.strip()}")
    return done


def merge(base, over):
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = merge(base[key], value) if key in base else value
        return out
    return over


def seconds(text, default: float) -> float:
    if text is None:
        return default
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", str(text))
    if not match:
        raise Failed(f"a duration this runner does not read: {text}")
    value = float(match.group(1))
    return value / 1000 if match.group(2) == "ms" else value * 60 if match.group(2) == "m" else value


def as_list(value) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def depends(svc: dict) -> dict[str, str]:
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return {d: "service_started" for d in deps}
    return {d: (c or {}).get("condition", "service_started") for d, c in deps.items()}


class Stack:
    def __init__(self, project: str, files: list[Path]):
        self.project = project
        self.dir = files[0].resolve().parent
        doc: dict = {}
        for path in files:
            doc = merge(doc, yaml.safe_load(path.read_text()))
        self.services: dict[str, dict] = doc["services"]
        self.volumes = list((doc.get("volumes") or {}).keys())
        self.network = f"{project}-net"
        self.started: list[str] = []

    def name(self, service: str) -> str:
        return f"{self.project}-{service}"

    def order(self) -> list[str]:
        done: list[str] = []

        def visit(service: str, path: tuple[str, ...]) -> None:
            if service in done:
                return
            if service in path:
                raise Failed(f"depends_on cycle: {' → '.join(path + (service,))}")
            if service not in self.services:
                raise Failed(f"depends_on names {service}, which is no service")
            for dep in depends(self.services[service]):
                visit(dep, path + (service,))
            done.append(service)

        for service in self.services:
            visit(service, ())
        return done

    def run_args(self, service: str) -> list[str]:
        svc = self.services[service]
        unknown = set(svc) - {
            "image", "build", "command", "entrypoint", "environment", "volumes", "ports",
            "depends_on", "healthcheck", "restart", "read_only", "cap_drop", "security_opt",
            "stop_grace_period", "tmpfs"}
        if unknown:
            raise Failed(f"{service}: keys this runner does not implement: {sorted(unknown)}")
        args = ["run", "-d", "--name", self.name(service), "--network", self.network,
                "--network-alias", service, "--hostname", service]
        if svc.get("read_only"):
            args.append("--read-only")
        for cap in as_list(svc.get("cap_drop")):
            args += ["--cap-drop", cap]
        for opt in as_list(svc.get("security_opt")):
            args += ["--security-opt", opt]
        restart = svc.get("restart")
        if restart and restart != "no":
            args += ["--restart", restart]
        args += ["--stop-timeout", str(int(seconds(svc.get("stop_grace_period"), 10)))]
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env)
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        for volume in as_list(svc.get("volumes")):
            source, _, rest = volume.partition(":")
            if source.startswith("."):
                source = str((self.dir / source).resolve())
            else:
                source = f"{self.project}_{source}"
            args += ["-v", f"{source}:{rest}"]
        for path in as_list(svc.get("tmpfs")):
            args += ["--tmpfs", path]
        if (svc.get("healthcheck") or {}).get("disable"):
            args.append("--no-healthcheck")
        if "entrypoint" in svc:
            args += ["--entrypoint", json.dumps(as_list(svc["entrypoint"]))]
        args.append(svc["image"])
        args += as_list(svc.get("command"))
        return args

    def healthy(self, service: str) -> None:
        check = self.services[service].get("healthcheck") or {}
        test = check.get("test")
        if not test:
            raise Failed(f"{service}: service_healthy asked of a service without a healthcheck")
        command = test[1:] if test[0] == "CMD" else ["sh", "-c", test[1]]
        interval = seconds(check.get("interval"), 30)
        retries = int(check.get("retries", 3))
        for _ in range(max(retries, 1) * 3):
            if podman("exec", self.name(service), *command, check=False).returncode == 0:
                return
            time.sleep(interval)
        raise Failed(f"{service} never became healthy:\n{self.logs(service)}")

    def completed(self, service: str) -> None:
        done = podman("wait", self.name(service), timeout=300)
        if done.stdout.strip() != "0":
            raise Failed(f"{service} exited {done.stdout.strip()}:\n{self.logs(service)}")

    def logs(self, service: str) -> str:
        done = podman("logs", "--tail", "30", self.name(service), check=False)
        return (done.stdout + done.stderr).strip()

    def up(self) -> None:
        podman("network", "create", self.network)
        for volume in self.volumes:
            podman("volume", "create", f"{self.project}_{volume}")
        for service in self.order():
            for dep, condition in depends(self.services[service]).items():
                if condition == "service_healthy":
                    self.healthy(dep)
                elif condition == "service_completed_successfully":
                    self.completed(dep)
                elif condition != "service_started":
                    raise Failed(f"{service}: depends_on condition {condition} not implemented")
            podman(*self.run_args(service))
            self.started.append(service)
            log(f"started {service}")

    def ip(self, service: str) -> str:
        done = podman("inspect", self.name(service), "--format",
                      "{{json .NetworkSettings.Networks}}")
        return json.loads(done.stdout)[self.network]["IPAddress"]

    def running(self, service: str) -> bool:
        done = podman("inspect", self.name(service), "--format", "{{.State.Running}}",
                      check=False)
        return done.stdout.strip() == "true"

    def down(self) -> None:
        for service in reversed(self.started):
            podman("rm", "-f", "-t", "10", self.name(service), check=False)
        for volume in self.volumes:
            podman("volume", "rm", "-f", f"{self.project}_{volume}", check=False)
        podman("network", "rm", "-f", self.network, check=False)


def get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as answer:
            return answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except OSError as e:
        return 0, str(e)


def until(what: str, probe, within: float = 90) -> None:
    deadline = time.monotonic() + within
    last = None
    while time.monotonic() < deadline:
        ok, last = probe()
        if ok:
            return
        time.sleep(0.5)
    raise Failed(f"{what} within {within:.0f}s; last: {last}")


def smoke(stack: Stack, tessera: Path, home: Path) -> None:
    cli_env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}

    def cli(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run([str(tessera), *args], input=stdin, capture_output=True, text=True,
                              env=cli_env, timeout=60)
        if done.returncode != 0:
            raise Failed(f"tessera {' '.join(args[:2])}: {done.stderr.strip()}")
        return done.stdout

    servers = {r: f"http://{stack.ip(r)}:50051" for r in ("tessera-a", "tessera-b")}
    for replica, server in servers.items():
        until(f"{replica} SERVING", lambda s=server: (
            subprocess.run([str(tessera), "health", "--server", s], capture_output=True)
            .returncode == 0, s))
    site = f"http://{stack.ip('nginx')}:8080/"
    until("nginx answering", lambda: (get(site)[0] in (302, 401), get(site)))

    status, _ = get(site)
    if status not in (302, 401):
        raise Failed(f"nginx let a request without a token through ({status})")
    # The browser block: the edge's own pages and session endpoints answer through nginx (the
    # login form, /logout, /api/auth/…), never the app and never the login redirect.
    status, body = get(site + "login")
    if status != 200 or "<form" not in body:
        raise Failed(f"GET /login through nginx: {status} {body[:200]}")
    for path in ("api/auth/session/status", "logout"):
        status, body = get(site + path)
        if status in (0, 302) or body.startswith("app:"):
            raise Failed(f"/{path} through nginx did not reach the edge: {status} {body[:200]}")
    log("the edge's login page and session endpoints answer through nginx")
    a = servers["tessera-a"]
    cli("login", "--server", a, "--username", ADMIN[0], "--password-stdin", stdin=ADMIN[1] + "\n")
    issued = json.loads(cli("token", "issue", "--server", a, "--namespace", "*", "--ttl", "10m",
                            "--json"))
    status, body = get(site, issued["token"])
    if status != 200 or "user=admin" not in body or "authorization=" + "Bearer" in body:
        raise Failed(f"forward-auth did not admit the issued token as admin: {status} {body}")
    log(f"through nginx with a token: {body.strip()}")
    cli("token", "revoke", "--server", a, issued["token_id"])
    until("the revoked token refused through nginx",
          lambda: (get(site, issued["token"])[0] in (302, 401), get(site, issued["token"])))
    log("revoked token refused")

    # The compose header's drill: stop replica a; the web app keeps answering.
    started = time.monotonic()
    podman("stop", stack.name("tessera-a"), timeout=60)
    log(f"stopped tessera-a in {time.monotonic() - started:.1f}s")
    b = servers["tessera-b"]
    cli("login", "--server", b, "--username", ADMIN[0], "--password-stdin", stdin=ADMIN[1] + "\n")
    fresh = json.loads(cli("token", "issue", "--server", b, "--namespace", "*", "--ttl", "10m",
                           "--json"))
    until("the web app answering with replica a stopped",
          lambda: (get(site, fresh["token"])[0] == 200, get(site, fresh["token"])), within=30)
    log("the web app still answers with tessera-a stopped")
    for service in ("edge-http", "edge-line", "tessera-b", "nginx"):
        if not stack.running(service):
            raise Failed(f"{service} is not running after the drill:\n{stack.logs(service)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--bin", required=True, type=Path)
    parser.add_argument("-f", dest="files", action="append", type=Path, required=True)
    args = parser.parse_args()
    stack = Stack(args.project, args.files)
    home = Path(subprocess.run(["mktemp", "-d"], capture_output=True, text=True).stdout.strip())
    try:
        stack.up()
        smoke(stack, args.bin / "tessera", home)
        log(f"{args.project}: smoke test passed")
    except (Failed, subprocess.TimeoutExpired) as e:
        print(f"compose: FAILED: {e}", file=sys.stderr)
        for service in stack.started:
            print(f"--- {service}:\n{stack.logs(service)}", file=sys.stderr)
        raise SystemExit(1)
    finally:
        stack.down()
        subprocess.run(["rm", "-rf", str(home)])


if __name__ == "__main__":
    main()
