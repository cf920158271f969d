#!/usr/bin/env python3
"""Installs the systemd units with deploy/systemd/install.sh and runs each unit's service the way
systemd would start it, where this machine has no systemd to start them.

In private mount and network namespaces (so /etc, /usr and the network are this run's own): runs
install.sh as written (it creates the `tessera` group, /etc/tessera, the env files from the
examples, the binaries and the guide Documentation= names); checks every path the units name
exists; fills in only the env files' CHANGE-ME values, as an operator would (a real PostgreSQL, a
TOTP key, a private CA's certificates under /etc/tessera/tls readable by the group); makes the
edges' tokens with the CLI; then for each unit: reads its EnvironmentFile= (systemd's own parser:
`systemd-analyze` is not needed for that, the format is KEY=VALUE lines), Environment=,
LoadCredential= (copied into a credentials directory for %d), runs ExecStart as a dynamic user
(an unused uid in systemd's dynamic range) with the unit's SupplementaryGroups=, and waits until it
serves (gRPC health over TLS, the HTTP edge's ping, the line edge's port). ExecReload is sent to
the server, which must keep serving; KillSignal= must stop each within TimeoutStopSec=.

The units' sandboxing directives (ProtectSystem=, SystemCallFilter=, …) need systemd itself and
are not applied here: `systemd-analyze verify` and `security` check them (deploy/check.sh).

Usage: units.py --bin TARGET/debug    (root; exits 2 with a reason otherwise)
"""

from __future__ import annotations

import argparse
import base64
import grp
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stand_ins  # noqa: E402
from stand_ins import DB_PASSWORD, Pki, Postgres, fail, run  # noqa: E402

stand_ins.WHO = "systemd units"

ROOT = Path(__file__).resolve().parents[2]
UNITS = ["tessera", "tessera-edge-http", "tessera-edge-line"]
DYNAMIC_UID = 61184 + 4242
ADMIN_PASSWORD = "units-check-admin-password"


log = stand_ins.log


def unit_settings(path: Path) -> dict[str, list[str]]:
    """The [Service] and [Unit] settings: name -> values in order (continuation lines joined)."""
    settings: dict[str, list[str]] = {}
    for raw in path.read_text().replace("\\\n", " ").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or line.startswith("["):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def environment_file(path: Path) -> dict[str, str]:
    env = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def fill_in(path: Path, values: dict[str, str]) -> None:
    """Replaces the lines an operator must change (CHANGE-ME), and only those."""
    lines = []
    for line in path.read_text().splitlines():
        key = line.split("=", 1)[0]
        if "CHANGE-ME" in line:
            if key not in values:
                fail(f"{path} has a CHANGE-ME value this check does not know how to fill: {key}")
            line = f"{key}={values[key]}"
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")


class Service:
    def __init__(self, name: str, scratch: Path):
        self.name = name
        self.unit = Path("/etc/systemd/system") / f"{name}.service"
        self.settings = unit_settings(self.unit)
        self.scratch = scratch
        self.process: subprocess.Popen | None = None

    def one(self, key: str, default: str | None = None) -> str:
        values = self.settings.get(key)
        if not values:
            if default is None:
                fail(f"{self.name}: no {key}=")
            return default  # type: ignore[return-value]
        return values[-1]

    def env(self, credentials: Path) -> dict[str, str]:
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "LANG": "C.UTF-8"}
        for spec in self.settings.get("EnvironmentFile", []):
            optional = spec.startswith("-")
            path = Path(spec.lstrip("-"))
            if not path.exists():
                if optional:
                    continue
                fail(f"{self.name}: EnvironmentFile={path} does not exist after install.sh")
            env.update(environment_file(path))
        for spec in self.settings.get("Environment", []):
            for assignment in shlex.split(spec):
                key, _, value = assignment.partition("=")
                env[key] = value.replace("%d", str(credentials))
        return env

    def start(self) -> None:
        credentials = self.scratch / "credentials" / self.name
        credentials.mkdir(parents=True)
        for spec in self.settings.get("LoadCredential", []):
            cred, _, source = spec.partition(":")
            if not Path(source).is_file():
                fail(f"{self.name}: LoadCredential={spec}: {source} does not exist")
            shutil.copy(source, credentials / cred)
            os.chown(credentials / cred, DYNAMIC_UID, DYNAMIC_UID)
            os.chmod(credentials / cred, 0o400)
        os.chown(credentials, DYNAMIC_UID, DYNAMIC_UID)
        os.chmod(credentials, 0o500)
        groups = [str(DYNAMIC_UID)]
        for group in " ".join(self.settings.get("SupplementaryGroups", [])).split():
            try:
                groups.append(str(grp.getgrnam(group).gr_gid))
            except KeyError:
                fail(f"{self.name}: SupplementaryGroups={group}, but no such group exists "
                     "after install.sh (systemd would refuse to start the unit)")
        if self.one("DynamicUser", "no") != "yes":
            fail(f"{self.name}: this check runs DynamicUser= units only")
        argv = shlex.split(self.one("ExecStart"))
        if not Path(argv[0]).is_file():
            fail(f"{self.name}: ExecStart={argv[0]} does not exist after install.sh")
        env = self.env(credentials)
        umask = int(self.one("UMask", "0022"), 8)
        log(f"{self.name}: {' '.join(argv)} as uid {DYNAMIC_UID}, groups {','.join(groups)}")
        self.process = subprocess.Popen(
            ["setpriv", "--reuid", str(DYNAMIC_UID), "--regid", str(DYNAMIC_UID),
             "--groups", ",".join(groups), "--no-new-privs", "--", *argv],
            env=env, cwd="/", stdin=subprocess.DEVNULL,
            stdout=open(self.scratch / f"{self.name}.log", "w"), stderr=subprocess.STDOUT,
            preexec_fn=lambda: os.umask(umask), start_new_session=True)

    def log_tail(self) -> str:
        text = (self.scratch / f"{self.name}.log").read_text()
        return "\n".join(text.splitlines()[-25:])

    def wait(self, ready, what: str) -> None:
        deadline = time.monotonic() + 60
        last = ""
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                fail(f"{self.name} exited ({self.process.returncode}):\n{self.log_tail()}")
            ok, last = ready()
            if ok:
                log(f"{self.name} serves ({what})")
                return
            if time.monotonic() > deadline:
                fail(f"{self.name} did not serve within 60 s ({last}):\n{self.log_tail()}")
            time.sleep(0.3)

    def reload(self) -> None:
        command = self.one("ExecReload").replace("$MAINPID", str(self.process.pid))
        run(shlex.split(command))
        log(f"{self.name}: ExecReload sent ({command})")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        sig = getattr(signal, self.one("KillSignal", "SIGTERM"))
        limit = float(self.one("TimeoutStopSec", "90").rstrip("s"))
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            self.process.wait(limit)
        except subprocess.TimeoutExpired:
            self.process.kill()
            fail(f"{self.name} ignored {sig.name} for TimeoutStopSec={limit:.0f}s")
        log(f"{self.name} stopped by {sig.name} in {time.monotonic() - started:.1f}s")


def health(ca: Path, server: str):
    def probe() -> tuple[bool, str]:
        done = subprocess.run(["/usr/local/bin/tessera", "health", "--server", server,
                               "--ca", str(ca)], capture_output=True, text=True)
        return done.returncode == 0, (done.stdout + done.stderr).strip()
    return probe


def http_ok(url: str):
    def probe() -> tuple[bool, str]:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.status == 200, f"HTTP {answer.status}"
        except Exception as e:  # noqa: BLE001
            return False, str(e)
    return probe


def port_open(address: str):
    host, port = address.rsplit(":", 1)

    def probe() -> tuple[bool, str]:
        try:
            socket.create_connection((host.replace("0.0.0.0", "127.0.0.1"), int(port)), 2).close()
            return True, "connected"
        except OSError as e:
            return False, str(e)
    return probe


def overlay(path: str, scratch: Path) -> None:
    where = scratch / f"overlay{path.replace('/', '-')}"
    where.mkdir()
    run(["mount", "-t", "tmpfs", "tmpfs", str(where)])
    (where / "upper").mkdir()
    (where / "work").mkdir()
    run(["mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir={path},upperdir={where}/upper,workdir={where}/work", path])


def inside(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="tessera-units-"))
    os.chmod(scratch, 0o755)
    run(["ip", "link", "set", "lo", "up"])
    for path in ("/etc", "/usr"):
        overlay(path, scratch)
    # /run as on a booted machine (install.sh asks it whether systemd runs: it does not here).
    run(["mount", "-t", "tmpfs", "tmpfs", "/run"])
    Path("/etc/hosts").write_text(
        "127.0.0.1 localhost postgres tessera-a.internal tessera-b.internal db.internal\n")
    services: list[Service] = []
    pg = Postgres(scratch / "pg")
    try:
        if subprocess.run(["getent", "group", "tessera"], capture_output=True).returncode == 0:
            fail("a tessera group exists before install.sh: the check could not tell it made one")
        done = subprocess.run(["bash", str(ROOT / "deploy/systemd/install.sh"), args.bin],
                              capture_output=True, text=True)
        if done.returncode != 0:
            fail(f"install.sh failed:\n{done.stdout}{done.stderr}")
        log("install.sh ran:\n  " + "\n  ".join(done.stdout.strip().splitlines()))
        gid = grp.getgrnam("tessera").gr_gid
        for name in UNITS:
            settings = unit_settings(Path("/etc/systemd/system") / f"{name}.service")
            for doc in settings.get("Documentation", []):
                for url in doc.split():
                    if url.startswith("file://") and not Path(url[len("file://"):]).is_file():
                        fail(f"{name}: Documentation={url} is not installed")
        etc = Path("/etc/tessera")
        if (etc.stat().st_gid, etc.stat().st_mode & 0o777) != (gid, 0o750):
            fail("/etc/tessera is not 0750 root:tessera")

        # The operator's part: certificates, the CHANGE-ME values, the edges' tokens.
        # Both example addresses of the edges' env files name this one server here (the hosts
        # file above), so their fail-over list works as shipped.
        pki = Pki(scratch / "pki", "tessera-a.internal", ["tessera-b.internal"])
        tls = etc / "tls"
        tls.mkdir(mode=0o750)
        os.chown(tls, 0, gid)
        for source, target in [("server.crt", "tls.crt"), ("server.key", "tls.key"),
                               ("ca.crt", "ca.crt")]:
            shutil.copy(pki.dir / source, tls / target)
            os.chown(tls / target, 0, gid)
            os.chmod(tls / target, 0o640)
        fill_in(etc / "tessera.env", {
            "TESSERA_DATABASE_URL":
                f"postgres://tessera:{DB_PASSWORD}@db.internal:5432/tessera?sslmode=disable",
            "TESSERA_TOTP_KEY": base64.b64encode(os.urandom(32)).decode(),
        })
        for edge in ("edge-http", "edge-line"):
            fill_in(etc / f"{edge}.env", {})

        server = Service("tessera", scratch)
        services.append(server)
        # `tessera migrate` first, as docs/operations.md says, with the unit's own settings.
        migrate = subprocess.run(["/usr/local/bin/tessera", "migrate"],
                                 env={**server.env(scratch), "PATH": os.environ["PATH"]},
                                 capture_output=True, text=True)
        if migrate.returncode != 0:
            fail(f"tessera migrate: {migrate.stdout}{migrate.stderr}")
        server.start()
        server_env = environment_file(etc / "tessera.env")
        port = server_env["TESSERA_LISTEN"].rsplit(":", 1)[1]
        address = f"https://tessera-a.internal:{port}"
        server.wait(health(tls / "ca.crt", address), f"gRPC health over TLS at {address}")
        server.reload()
        time.sleep(1)
        server.wait(health(tls / "ca.crt", address), "still, after the reload")

        # The edges' service tokens, made with the CLI as the guide says.
        home = scratch / "operator"
        home.mkdir()
        cli_env = {"PATH": os.environ["PATH"], "HOME": str(home),
                   "TESSERA_DATABASE_URL": server_env["TESSERA_DATABASE_URL"]}
        subprocess.run(["/usr/local/bin/tessera", "user", "add", "--username", "admin", "--role",
                        "admin", "--password-stdin"], input=ADMIN_PASSWORD + "\n", text=True,
                       env=cli_env, check=True, capture_output=True)
        remote = ["--server", address, "--ca", str(tls / "ca.crt")]
        subprocess.run(["/usr/local/bin/tessera", "login", *remote, "--username", "admin",
                        "--password-stdin"], input=ADMIN_PASSWORD + "\n", text=True, env=cli_env,
                       check=True, capture_output=True)
        for edge in ("edge-http", "edge-line"):
            issued = subprocess.run(
                ["/usr/local/bin/tessera", "token", "issue", "--service", "--permission",
                 "introspect", "--description", edge, "--json", *remote],
                env=cli_env, check=True, capture_output=True, text=True)
            token = re.search(r'"token":\s*"([^"]+)"', issued.stdout).group(1)
            (etc / f"{edge}.token").write_text(token + "\n")
            os.chmod(etc / f"{edge}.token", 0o600)

        # The scheduler the line edge's example env file points at.
        demo = subprocess.Popen([str(Path(args.bin) / "tessera-line-demo"), "--listen",
                                 environment_file(etc / "edge-line.env")["TESSERA_LINE_UPSTREAM"]],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        http = Service("tessera-edge-http", scratch)
        services.append(http)
        http.start()
        listen = environment_file(etc / "edge-http.env")["TESSERA_HTTP_LISTEN"]
        http.wait(http_ok(f"http://{listen}/api/v1/public/ping"), f"ping on {listen}")
        line = Service("tessera-edge-line", scratch)
        services.append(line)
        line.start()
        listen = environment_file(etc / "edge-line.env")["TESSERA_LINE_LISTEN"]
        line.wait(port_open(listen), f"port {listen}")
        for service in reversed(services):
            service.stop()
        demo.terminate()
        log("every unit started, served and stopped")
    finally:
        for service in services:
            if service.process is not None and service.process.poll() is None:
                service.process.kill()
        pg.stop()
        # The overlays' tmpfs are mount points inside the scratch folder: unmounted first, or
        # the folder stays behind.
        for mount in ("/run", "/usr", "/etc", *map(str, scratch.glob("overlay-*"))):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.bin = str(Path(args.bin).resolve())
    if args.inside:
        inside(args)
        return
    if os.geteuid() != 0:
        print("systemd units: SKIPPED: installing and running the units needs root",
              file=sys.stderr)
        raise SystemExit(2)
    done = subprocess.run(["unshare", "--net", "--mount", "--propagation", "private", "--fork",
                           sys.executable, __file__, *sys.argv[1:], "--inside"])
    raise SystemExit(done.returncode)


if __name__ == "__main__":
    main()
