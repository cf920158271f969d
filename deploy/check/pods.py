#!/usr/bin/env python3
"""Runs the Helm chart's pods the way a kubelet would, on this machine, until each is Ready.

For one TLS mode (plaintext, tls: a leaf-only Secret plus a CA Secret, mtls: clients must present
a certificate), it renders the chart with `helm template`, then for the migration Job and each
Deployment's pod (one replica each):

* materialises the Secret volumes the pod mounts (items, defaultMode, the pod's fsGroup) from
  Secrets made here (a private CA by openssl, a real PostgreSQL, the edges' service tokens made by
  running the chart's NOTES commands as printed);
* starts the container's command and arguments (the image's ENTRYPOINT and CMD from
  deploy/Dockerfile where the pod leaves them out) with exactly the rendered environment, as the
  pod's user and groups, in its own mount namespace with the volumes bind-mounted at their
  mountPath, the built binaries at /usr/local/bin (where the image has them) and a read-only root
  filesystem when the pod asks for one;
* runs the readiness and liveness probes as the kubelet does (exec inside the container's
  namespaces with its environment, httpGet, tcpSocket, gRPC health in plaintext) until the pod is
  Ready; a container that exits, a probe that never passes, or a liveness probe that fails on a
  Ready pod fails the run.

Every pod shares one private network namespace (loopback only); the Services' names resolve to
127.0.0.1 through a private /etc/hosts. Needs root (namespaces, bind mounts); without it, says so
and exits 2.

Usage: pods.py --mode plaintext|tls|mtls --bin TARGET/debug --helm HELM [--chart DIR]
"""

from __future__ import annotations

import argparse
import base64
import json
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

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stand_ins  # noqa: E402
from stand_ins import DB_PASSWORD, Pki, Postgres, fail, log, run  # noqa: E402

stand_ins.WHO = "chart pods"

ROOT = Path(__file__).resolve().parents[2]
RELEASE = "t"
READY_WITHIN = 90.0
# The Services every pod may dial, all on this loopback.
HOSTS = ["postgres", "app", "ztick"]
ADMIN_PASSWORD = "pods-check-admin-password"


def image_defaults() -> tuple[list[str], list[str]]:
    """The runtime stage's ENTRYPOINT and CMD, as the image would have them."""
    entrypoint: list[str] = []
    cmd: list[str] = []
    for line in (ROOT / "deploy/Dockerfile").read_text().splitlines():
        if line.startswith("FROM "):
            entrypoint, cmd = [], []
        elif line.startswith("ENTRYPOINT "):
            entrypoint = json.loads(line.split(" ", 1)[1])
        elif line.startswith("CMD "):
            cmd = json.loads(line.split(" ", 1)[1])
    return entrypoint, cmd


class Pod:
    """One pod's one container, started as the kubelet would."""

    def __init__(self, cluster: "Cluster", name: str, spec: dict):
        self.cluster = cluster
        self.name = name
        self.spec = spec
        (self.container,) = spec["containers"]
        self.dir = cluster.scratch / "pods" / name
        self.dir.mkdir(parents=True)
        self.process: subprocess.Popen | None = None
        pod_sc = spec.get("securityContext") or {}
        sc = {**pod_sc, **(self.container.get("securityContext") or {})}
        self.uid = int(sc.get("runAsUser", 0))
        self.gid = int(sc.get("runAsGroup", self.uid))
        self.fs_group = pod_sc.get("fsGroup")
        self.read_only_root = bool(sc.get("readOnlyRootFilesystem"))

    # -- what the container gets --------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOSTNAME": self.name}
        for item in self.container.get("env") or []:
            if "value" in item:
                env[item["name"]] = str(item["value"])
                continue
            ref = item["valueFrom"]["secretKeyRef"]
            value = self.cluster.secret(ref["name"]).get(ref["key"])
            if value is None:
                fail(f"{self.name}: env {item['name']} names key {ref['key']} missing from Secret "
                     f"{ref['name']} (the kubelet would refuse to start the container)")
            env[item["name"]] = value.decode()
        return env

    def volumes(self) -> list[tuple[Path, str]]:
        """Each mounted volume materialised: (directory here, mountPath)."""
        by_name = {v["name"]: v for v in self.spec.get("volumes") or []}
        mounts = []
        for mount in self.container.get("volumeMounts") or []:
            volume = by_name.get(mount["name"])
            if volume is None or "secret" not in volume:
                fail(f"{self.name}: volume {mount['name']} is not a Secret volume this check knows")
            source = volume["secret"]
            data = self.cluster.secret(source["secretName"])
            mode = source.get("defaultMode", 0o644)
            where = self.dir / "volumes" / mount["name"]
            where.mkdir(parents=True)
            items = source.get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                if item["key"] not in data:
                    fail(f"{self.name}: volume {mount['name']} wants key {item['key']} that Secret "
                         f"{source['secretName']} lacks (the kubelet would not start the pod)")
                path = where / item["path"]
                path.write_bytes(data[item["key"]])
                os.chmod(path, item.get("mode", mode))
                if self.fs_group is not None:
                    os.chown(path, 0, int(self.fs_group))
            os.chmod(where, 0o755)
            mounts.append((where, mount["mountPath"]))
        return mounts

    def argv(self) -> list[str]:
        entrypoint, cmd = image_defaults()
        command = self.container.get("command") or entrypoint
        args = self.container.get("args")
        return [*command, *(cmd if args is None and not self.container.get("command") else args or [])]

    def user(self) -> list[str]:
        groups = [str(self.gid)] + ([str(self.fs_group)] if self.fs_group is not None else [])
        return ["setpriv", "--reuid", str(self.uid), "--regid", str(self.gid),
                "--groups", ",".join(groups), "--inh-caps=-all", "--bounding-set=-all",
                "--no-new-privs"]

    # -- running ---------------------------------------------------------------------------------

    def start(self) -> None:
        mounts = self.volumes()
        script = ["set -e"]
        for where, mount_path in mounts:
            script.append(f"mkdir -p {shlex.quote(mount_path)} 2>/dev/null || true")
            script.append(f"mount --bind {shlex.quote(str(where))} {shlex.quote(mount_path)}")
            script.append(f"mount -o remount,bind,ro {shlex.quote(mount_path)}")
        # The image's binaries where the image has them.
        script.append(f"mount --bind {shlex.quote(str(self.cluster.bin))} /usr/local/bin")
        if self.read_only_root:
            script.append("mount -o remount,bind,ro /")
            script.append("mount -o remount,bind,ro /etc")
        script.append('exec "$@"')
        env = self.env()
        argv = self.argv()
        log(f"{self.name}: {' '.join(shlex.quote(a) for a in argv)}")
        self.process = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", "\n".join(script),
             "pod", *self.user(), "--reset-env", "env", "-i",
             *[f"{k}={v}" for k, v in env.items()], *argv],
            stdin=subprocess.DEVNULL, stdout=open(self.dir / "log", "w"), stderr=subprocess.STDOUT,
            start_new_session=True)

    def in_container(self, argv: list[str], stdin: bytes | None = None,
                     timeout: float = 30) -> subprocess.CompletedProcess:
        """What `kubectl exec` and an exec probe do: the command in the container's mount
        namespace, as its user, with its environment."""
        if self.process is None or self.process.poll() is not None:
            return subprocess.CompletedProcess(argv, 1, b"", b"the container is not running")
        # The first child of the unshare'd shell is the container's process.
        target = self.container_pid()
        env = self.env()
        return subprocess.run(
            ["nsenter", "--target", str(target), "--mount", "--", *self.user(), "--reset-env",
             "env", "-i", *[f"{k}={v}" for k, v in env.items()], *argv],
            input=stdin, capture_output=True, timeout=timeout)

    def container_pid(self) -> int:
        # `unshare` forks nothing: the shell execs setpriv, which execs env, which execs the
        # command, so the pid is the container's own.
        assert self.process is not None
        return self.process.pid

    def log_tail(self) -> str:
        try:
            return "\n".join((self.dir / "log").read_text().splitlines()[-30:])
        except OSError:
            return ""

    def port(self, ref) -> int:
        if isinstance(ref, int):
            return ref
        for port in self.container.get("ports") or []:
            if port.get("name") == ref:
                return int(port["containerPort"])
        fail(f"{self.name}: a probe names port {ref!r}, which the container does not declare")
        raise AssertionError

    def probe(self, probe: dict) -> tuple[bool, str]:
        timeout = float(probe.get("timeoutSeconds", 1))
        if "exec" in probe:
            try:
                done = self.in_container(probe["exec"]["command"], timeout=timeout)
            except subprocess.TimeoutExpired:
                return False, f"timed out after {timeout}s"
            out = (done.stdout + done.stderr).decode(errors="replace").strip()
            return done.returncode == 0, out
        if "httpGet" in probe:
            get = probe["httpGet"]
            url = f"http://127.0.0.1:{self.port(get['port'])}{get.get('path', '/')}"
            try:
                with urllib.request.urlopen(url, timeout=timeout) as answer:
                    return 200 <= answer.status < 400, f"HTTP {answer.status}"
            except Exception as e:  # noqa: BLE001 - any failure is a failed probe
                return False, f"GET {url}: {e}"
        if "tcpSocket" in probe:
            port = self.port(probe["tcpSocket"]["port"])
            try:
                socket.create_connection(("127.0.0.1", port), timeout=timeout).close()
                return True, "connected"
            except OSError as e:
                return False, f"connect 127.0.0.1:{port}: {e}"
        if "grpc" in probe:
            # The kubelet's gRPC prober: grpc.health.v1 Check in plaintext, from outside the pod.
            grpc = probe["grpc"]
            done = subprocess.run(
                [str(self.cluster.bin / "tessera"), "health", "--server",
                 f"http://127.0.0.1:{grpc['port']}", "--service", grpc.get("service", ""),
                 "--timeout", f"{max(1, int(timeout))}s"],
                capture_output=True, text=True)
            return done.returncode == 0, (done.stdout + done.stderr).strip()
        fail(f"{self.name}: a probe of a kind this check does not know: {probe}")
        raise AssertionError

    def wait_ready(self) -> None:
        readiness = self.container.get("readinessProbe")
        liveness = self.container.get("livenessProbe")
        if not readiness or not liveness:
            fail(f"{self.name}: a long-running container without both probes")
        deadline = time.monotonic() + READY_WITHIN
        live_failures = 0
        next_live = time.monotonic() + float(liveness.get("initialDelaySeconds", 0))
        last = ""
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                fail(f"{self.name} exited ({self.process.returncode}) before it was Ready:\n"
                     f"{self.log_tail()}")
            if time.monotonic() >= next_live:
                alive, why = self.probe(liveness)
                live_failures = 0 if alive else live_failures + 1
                if live_failures >= int(liveness.get("failureThreshold", 3)):
                    fail(f"{self.name}: the liveness probe failed {live_failures} times in a row "
                         f"(the kubelet restarts it): {why}\n{self.log_tail()}")
                next_live = time.monotonic() + float(liveness.get("periodSeconds", 10))
            ready, last = self.probe(readiness)
            if ready:
                break
            if time.monotonic() > deadline:
                fail(f"{self.name} never became Ready in {READY_WITHIN:.0f}s; the readiness probe "
                     f"said: {last}\nits log:\n{self.log_tail()}")
            time.sleep(0.5)
        # Ready: the liveness probe must pass now too, or the kubelet would restart it.
        alive, why = self.probe(liveness)
        if not alive:
            fail(f"{self.name} is Ready but its liveness probe fails: {why}")
        log(f"{self.name} is Ready ({last or 'probe passed'})")

    def run_to_completion(self) -> None:
        self.start()
        assert self.process is not None
        try:
            code = self.process.wait(READY_WITHIN)
        except subprocess.TimeoutExpired:
            fail(f"{self.name} did not finish in {READY_WITHIN:.0f}s:\n{self.log_tail()}")
        if code != 0:
            fail(f"{self.name} failed ({code}):\n{self.log_tail()}")
        log(f"{self.name} completed")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class Cluster:
    """The Secrets, the running pods and the stand-ins the pods call."""

    def __init__(self, scratch: Path, bin_dir: Path):
        self.scratch = scratch
        self.bin = bin_dir
        self.secrets_dir = scratch / "secrets"
        self.secrets_dir.mkdir()
        self.pods: dict[str, Pod] = {}
        self.extra: list[subprocess.Popen] = []

    def put_secret(self, name: str, data: dict[str, bytes]) -> None:
        where = self.secrets_dir / name
        where.mkdir(exist_ok=True)
        for key, value in data.items():
            (where / key).write_bytes(value)

    def secret(self, name: str) -> dict[str, bytes]:
        where = self.secrets_dir / name
        if not where.is_dir():
            fail(f"Secret {name} does not exist (the kubelet would not start the pod)")
        return {p.name: p.read_bytes() for p in where.iterdir()}

    def stop(self) -> None:
        for pod in reversed(list(self.pods.values())):
            pod.stop()
        for process in self.extra:
            if process.poll() is None:
                process.terminate()
                process.wait(10)


def kubectl_shim(scratch: Path, cluster_state: Path) -> Path:
    """`kubectl` for the NOTES commands: exec in a running pod, port-forward (a no-op: this
    loopback is the cluster's), create secret generic."""
    bin_dir = scratch / "operator-bin"
    bin_dir.mkdir()
    shim = bin_dir / "kubectl"
    shim.write_text(f"""#!/usr/bin/env python3
import sys
sys.argv[0] = "kubectl"
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
import pods
raise SystemExit(pods.kubectl_main(sys.argv[1:], {str(cluster_state)!r}))
""")
    shim.chmod(0o755)
    return bin_dir


def kubectl_main(argv: list[str], state_file: str) -> int:
    state = json.loads(Path(state_file).read_text())
    if argv[:1] == ["port-forward"]:
        print(f"Forwarding from 127.0.0.1 ({' '.join(argv[1:])}): this loopback is the cluster's")
        return 0
    if argv[:3] == ["create", "secret", "generic"]:
        name = argv[3]
        where = Path(state["secrets"]) / name
        where.mkdir(exist_ok=True)
        for arg in argv[4:]:
            if arg.startswith("--from-file="):
                key, path = arg.split("=", 2)[1:]
                (where / key).write_bytes(Path(path).read_bytes())
            elif arg.startswith("--from-literal="):
                key, value = arg.split("=", 2)[1:]
                (where / key).write_text(value)
            else:
                print(f"kubectl shim: unsupported argument {arg}", file=sys.stderr)
                return 2
        print(f"secret/{name} created")
        return 0
    if argv[:1] == ["exec"]:
        rest = argv[1:]
        interactive = False
        while rest and rest[0].startswith("-") and rest[0] != "--":
            interactive |= rest[0] in ("-i", "-it", "-ti")
            rest = rest[1:]
        target, dash, *command = rest
        if dash != "--" or not target.startswith("deploy/"):
            print("kubectl shim: exec deploy/NAME -- COMMAND…", file=sys.stderr)
            return 2
        pod = state["pods"].get(target.split("/", 1)[1])
        if pod is None:
            print(f"Error from server (NotFound): deployments.apps {target} not found",
                  file=sys.stderr)
            return 1
        done = subprocess.run(
            ["nsenter", "--target", str(pod["pid"]), "--mount", "--", *pod["user"],
             "--reset-env", "env", "-i", *pod["env"], *command],
            stdin=None if interactive else subprocess.DEVNULL)
        return done.returncode
    print(f"kubectl shim: unsupported command {argv}", file=sys.stderr)
    return 2


def notes_commands(notes: str) -> list[str]:
    """The shell commands NOTES.txt prints (indented lines that start with a command)."""
    commands = []
    for line in notes.splitlines():
        text = line.strip()
        if line.startswith("  ") and re.match(r"^(kubectl|tessera) ", text):
            commands.append(text)
    return commands


def render(helm: str, chart: Path, values: list[str], scratch: Path) -> tuple[list[dict], str]:
    sets = [arg for v in values for arg in ("--set", v)]
    manifests = run([helm, "template", RELEASE, str(chart), *sets]).stdout
    docs = [d for d in yaml.safe_load_all(manifests) if d]
    # NOTES.txt as `helm install` prints it (which needs a cluster even for a dry run): the same
    # template, rendered with the same values by a copy of the chart that includes it.
    copy = scratch / "chart"
    shutil.copytree(chart, copy)
    (copy / "templates/zz-notes.yaml").write_text(
        'notes: |\n{{ include "tessera/templates/NOTES.txt" . | indent 2 }}\n')
    rendered = run([helm, "template", RELEASE, str(copy), "--show-only",
                    "templates/zz-notes.yaml", *sets]).stdout
    notes = (yaml.safe_load(rendered) or {}).get("notes", "")
    if not notes.strip():
        fail("NOTES.txt rendered empty")
    return docs, notes


def mode_values(mode: str) -> list[str]:
    values = ["edges.http.enabled=true", "edges.line.enabled=true",
              # The demo app listens beside the HTTP edge's 8080 on this shared loopback.
              "edges.http.upstream=http://app:9080"]
    if mode == "tls":
        values += ["tls.enabled=true", "tls.ca.secretName=tessera-ca"]
    elif mode == "mtls":
        values += ["tls.enabled=true", "tls.clientCaKey=ca.crt"]
    return values


def inside(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="tessera-pods-"))
    os.chmod(scratch, 0o755)
    run(["ip", "link", "set", "lo", "up"])
    # A private /etc: the pods' mount points and the Services' names, never the machine's.
    overlay = scratch / "etc-overlay"
    overlay.mkdir()
    run(["mount", "-t", "tmpfs", "tmpfs", str(overlay)])
    (overlay / "upper").mkdir()
    (overlay / "work").mkdir()
    run(["mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir=/etc,upperdir={overlay}/upper,workdir={overlay}/work", "/etc"])
    fullname = f"{RELEASE}-tessera"
    names = [*HOSTS, fullname, f"{fullname}-edge-http", f"{fullname}-edge-line"]
    Path("/etc/hosts").write_text(f"127.0.0.1 localhost {' '.join(names)}\n")

    chart = Path(args.chart)
    docs, notes = render(args.helm, chart, mode_values(args.mode), scratch)
    workloads = {(d["kind"], d["metadata"]["name"]): d for d in docs
                 if d["kind"] in ("Deployment", "Job")}

    cluster = Cluster(scratch, Path(args.bin).resolve())
    pg = Postgres(scratch / "pg")
    try:
        pki = Pki(scratch / "pki", fullname)
        cluster.put_secret("tessera-database", {
            "url": f"postgres://tessera:{DB_PASSWORD}@postgres:5432/tessera?sslmode=disable".encode()})
        cluster.put_secret("tessera-totp-key", {"key": base64.b64encode(os.urandom(32))})
        if args.mode == "tls":
            # Leaf only: the CA lives in its own Secret.
            cluster.put_secret("tessera-tls", {"tls.crt": pki.read("server.crt"),
                                               "tls.key": pki.read("server.key")})
            cluster.put_secret("tessera-ca", {"ca.crt": pki.read("ca.crt")})
        elif args.mode == "mtls":
            cluster.put_secret("tessera-tls", {"tls.crt": pki.read("server.crt"),
                                               "tls.key": pki.read("server.key"),
                                               "ca.crt": pki.read("ca.crt")})
            cluster.put_secret("tessera-client-tls", {"tls.crt": pki.read("client.crt"),
                                                      "tls.key": pki.read("client.key")})

        # The stand-ins the edges forward to: a web app and the demo scheduler.
        app_root = scratch / "app"
        app_root.mkdir()
        (app_root / "index.html").write_text("the app\n")
        cluster.extra.append(subprocess.Popen(
            [sys.executable, "-m", "http.server", "9080", "--bind", "127.0.0.1",
             "--directory", str(app_root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        cluster.extra.append(subprocess.Popen(
            [str(cluster.bin / "tessera-line-demo"), "--listen", "127.0.0.1:5678"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        # The pre-install hook, then the server.
        for (kind, name), doc in workloads.items():
            if kind == "Job":
                job = Pod(cluster, name, doc["spec"]["template"]["spec"])
                cluster.pods[name] = job
                job.run_to_completion()
        server = Pod(cluster, fullname, workloads[("Deployment", fullname)]["spec"]["template"]["spec"])
        cluster.pods[fullname] = server
        server.start()
        server.wait_ready()

        # The operator's steps from NOTES.txt, run as printed (kubectl by the shim).
        state = scratch / "cluster.json"
        state.write_text(json.dumps({
            "secrets": str(cluster.secrets_dir),
            "pods": {fullname: {"pid": server.container_pid(), "user": server.user(),
                                "env": [f"{k}={v}" for k, v in server.env().items()]}},
        }))
        operator = scratch / "operator"
        operator.mkdir()
        (operator / "admin-password.txt").write_text(ADMIN_PASSWORD + "\n")
        for theirs, ours in [("ca.crt", "ca.crt"), ("client.crt", "client.crt"),
                             ("client.key", "client.key")]:
            shutil.copy(pki.dir / ours, operator / theirs)
        shim = kubectl_shim(scratch, state)
        env = {"PATH": f"{shim}:{cluster.bin}:{os.environ['PATH']}", "HOME": str(operator),
               "XDG_CONFIG_HOME": str(operator / ".config")}
        commands = notes_commands(notes)
        if not commands:
            fail(f"NOTES.txt printed no commands:\n{notes}")
        for command in commands:
            log(f"NOTES: {command}")
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=operator,
                                  env=env, capture_output=True, text=True, timeout=60)
            if done.returncode != 0:
                fail(f"the NOTES command failed ({done.returncode}): {command}\n"
                     f"{done.stdout}{done.stderr}")

        for kind, name in workloads:
            if kind == "Deployment" and name != fullname:
                edge = Pod(cluster, name, workloads[(kind, name)]["spec"]["template"]["spec"])
                cluster.pods[name] = edge
                edge.start()
                edge.wait_ready()
        log(f"{args.mode}: every pod is Ready")
    finally:
        cluster.stop()
        pg.stop()
        if not args.keep:
            # The overlay's tmpfs is a mount point inside the scratch folder: unmounted first,
            # or the folder stays behind.
            subprocess.run(["umount", "-l", "/etc"], capture_output=True)
            subprocess.run(["umount", "-l", str(overlay)], capture_output=True)
            shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--mode", choices=["plaintext", "tls", "mtls"], required=True)
    parser.add_argument("--bin", required=True, help="the directory with the built binaries")
    parser.add_argument("--helm", required=True)
    parser.add_argument("--chart", default=str(ROOT / "deploy/helm/tessera"))
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for binary in ("tessera", "tessera-edge-http", "tessera-edge-line", "tessera-line-demo"):
        if not (Path(args.bin) / binary).is_file():
            fail(f"{binary} is not built in {args.bin}")
    if args.inside:
        inside(args)
        return
    if os.geteuid() != 0:
        print("chart pods: SKIPPED: running the chart's pods needs root (network and mount "
              "namespaces, bind mounts)", file=sys.stderr)
        raise SystemExit(2)
    # A private network and mount namespace for the whole run: loopback only, nothing shared.
    done = subprocess.run(["unshare", "--net", "--mount", "--propagation", "private", "--fork",
                           sys.executable, __file__, *sys.argv[1:], "--inside"])
    raise SystemExit(done.returncode)


if __name__ == "__main__":
    main()
