#!/usr/bin/env python3
"""Writes the descriptors of Envoy's external authorization API for the HTTP edge's reflection.

The edge serves `envoy.service.auth.v3.Authorization` with the types of the `envoy-types` crate,
which keeps its descriptor set private. This script takes that set from the crate's source (the
version Cargo.lock resolves), keeps `envoy/service/auth/v3/external_auth.proto` and every file it
imports, drops source comments, and writes
crates/tessera-edge-http/src/ext_authz/descriptors.bin. Run it (with a Python that has protobuf,
e.g. clients/python/.venv/bin/python) after changing the envoy-types version; the edge's unit test
checks the file is complete.
"""
import json
import pathlib
import subprocess
import sys

from google.protobuf import descriptor_pb2

ROOT = pathlib.Path(__file__).resolve().parent.parent
SERVICE_FILE = "envoy/service/auth/v3/external_auth.proto"
OUT = ROOT / "crates/tessera-edge-http/src/ext_authz/descriptors.bin"


def envoy_types_dir() -> pathlib.Path:
    metadata = json.loads(
        subprocess.check_output(
            ["cargo", "metadata", "--format-version", "1", "--locked"], cwd=ROOT
        )
    )
    for package in metadata["packages"]:
        if package["name"] == "envoy-types":
            return pathlib.Path(package["manifest_path"]).parent
    sys.exit("envoy-types is not in the workspace's dependency graph")


def main() -> None:
    full = descriptor_pb2.FileDescriptorSet()
    full.ParseFromString((envoy_types_dir() / "src/generated/types.bin").read_bytes())
    by_name = {f.name: f for f in full.file}
    wanted, order = set(), []

    def visit(name: str) -> None:
        if name in wanted:
            return
        if name not in by_name:
            sys.exit(f"{name} is imported but not in envoy-types' descriptor set")
        wanted.add(name)
        for dependency in by_name[name].dependency:
            visit(dependency)
        order.append(name)

    visit(SERVICE_FILE)
    subset = descriptor_pb2.FileDescriptorSet()
    for name in order:
        file = subset.file.add()
        file.CopyFrom(by_name[name])
        file.ClearField("source_code_info")
    OUT.write_bytes(subset.SerializeToString(deterministic=True))
    print(f"{OUT.relative_to(ROOT)}: {len(order)} files, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
