#!/usr/bin/env python3
"""Checks rendered Kubernetes manifests (`helm template` output on stdin) against the rules every
Tessera object must follow. Prints each violation and exits 1 if there is any.

Rules: every workload's containers have requests and limits for cpu and memory, run as non-root
with no privilege escalation and a read-only root filesystem, drop all capabilities; every
long-running container has readiness and liveness probes; no environment variable that looks
secret carries a literal value (it must come from a Secret); images are pinned (no :latest);
the objects the values ask for (PDB, NetworkPolicy, HPA, migration Job, edges) are present.
"""

from __future__ import annotations

import re
import sys

import yaml

SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN(?!_FILE)|TOTP_KEY|DATABASE_URL|HASH)", re.I)


def pod_spec(obj: dict) -> dict | None:
    kind = obj.get("kind")
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return obj["spec"]["template"]["spec"]
    return None


def check_container(where: str, pod: dict, c: dict, long_running: bool, errors: list[str]) -> None:
    res = c.get("resources") or {}
    for part in ("requests", "limits"):
        for what in ("cpu", "memory"):
            if not (res.get(part) or {}).get(what):
                errors.append(f"{where}: resources.{part}.{what} missing")
    pod_sc = pod.get("securityContext") or {}
    sc = c.get("securityContext") or {}
    if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
        errors.append(f"{where}: runAsNonRoot not set")
    if (sc.get("runAsUser", pod_sc.get("runAsUser")) or 0) == 0:
        errors.append(f"{where}: runs as uid 0 or no uid given")
    if sc.get("allowPrivilegeEscalation") is not False:
        errors.append(f"{where}: allowPrivilegeEscalation is not false")
    if sc.get("readOnlyRootFilesystem") is not True:
        errors.append(f"{where}: readOnlyRootFilesystem is not true")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        errors.append(f"{where}: capabilities not dropped")
    if long_running:
        for probe in ("readinessProbe", "livenessProbe"):
            if not c.get(probe):
                errors.append(f"{where}: {probe} missing")
    image = str(c.get("image", ""))
    if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
        errors.append(f"{where}: image {image!r} is not pinned to a tag")
    for env in c.get("env") or []:
        if SECRET_NAME.search(env["name"]) and "value" in env:
            errors.append(f"{where}: env {env['name']} has a literal value; use secretKeyRef")


def check(docs: list[dict], expect: set[str]) -> list[str]:
    errors: list[str] = []
    kinds: dict[str, list[str]] = {}
    for obj in docs:
        name = obj["metadata"]["name"]
        kinds.setdefault(obj["kind"], []).append(name)
        if obj["kind"] == "Secret" or obj["kind"] == "ConfigMap" and SECRET_NAME.search(str(obj.get("data"))):
            errors.append(f"{obj['kind']}/{name}: the chart must not carry secrets")
        pod = pod_spec(obj)
        if pod is None:
            continue
        if pod.get("automountServiceAccountToken") is not False:
            errors.append(f"{obj['kind']}/{name}: automountServiceAccountToken is not false")
        for c in pod.get("containers", []):
            check_container(f"{obj['kind']}/{name}/{c['name']}", pod, c, obj["kind"] != "Job", errors)
    for want in expect:
        kind, _, suffix = want.partition(":")
        names = kinds.get(kind, [])
        if not any(n.endswith(suffix) for n in names):
            errors.append(f"expected a {kind} named *{suffix}, got {names}")
    return errors


def main() -> int:
    expect = set(sys.argv[1:])
    docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
    errors = check(docs, expect)
    for e in errors:
        print(f"manifest check: {e}", file=sys.stderr)
    print(f"manifest check: {len(docs)} objects, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
