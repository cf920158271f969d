"""Drives a Tessera server from Python through the package's AsyncClient (grpcio), the way a
Python service calls it; tessera-bench runs it to put a Python row beside the tonic and grpc-go
rows. The same phases and JSON lines as clients/go/cmd/tessera-load: the named calls alternate in
rounds, each for one phase per round with the same concurrency on one channel.

The arrangement is the one clients/python/README.md ("Performance") recommends to a Python service:
one AsyncClient (one grpcio aio channel, default options) per process and event loop, shared by all
its requests; Check goes on a channel of the same kind. --clients N (N clients round-robin, each on
its own connection) and --uvloop measure the alternatives the README compares: neither changes the
ratios (the event loop's thread is the bottleneck, not the connection). Each call uses its answer
as a service would: Introspect its `active`, CheckNamespace its `allowed`.

    python tessera_load.py --addr 127.0.0.1:50051 --caller tsr_svc_… --target tsr_api_… \
        --calls check,introspect,checknamespace --rounds 5 --phase 2 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import grpc
from tessera_auth_client.aio import AsyncClient

# grpc.health.v1.Health/Check with an empty HealthCheckRequest (service ""): no health package
# needed, the request and reply go as raw bytes.
HEALTH_CHECK = "/grpc.health.v1.Health/Check"


async def phase(
    name: str,
    call: Callable[[], Awaitable[object]],
    seconds: float,
    concurrency: int,
    rnd: int,
) -> dict[str, object]:
    latencies: list[float] = []
    errors = 0
    first_error = ""
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors, first_error
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                await call()
            except Exception as error:  # noqa: BLE001 - reported, then the phase fails
                errors += 1
                first_error = first_error or repr(error)
                continue
            latencies.append(time.perf_counter() - start)

    begin = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - begin
    latencies.sort()
    p50 = statistics.median(latencies) * 1e6 if latencies else 0.0
    p99 = latencies[int(len(latencies) * 0.99)] * 1e6 if latencies else 0.0
    line: dict[str, object] = {
        "call": name,
        "round": rnd,
        "calls": len(latencies),
        "errors": errors,
        "seconds": elapsed,
        "per_second": len(latencies) / elapsed,
        "p50_us": p50,
        "p99_us": p99,
    }
    if first_error:
        line["first_error"] = first_error
    return line


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", required=True)
    parser.add_argument("--caller", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--calls", default="check,introspect,checknamespace")
    parser.add_argument("--ids", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--phase", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=16)
    # Arrangements the SDK's README compares (the bench runs the default: one client, asyncio).
    parser.add_argument(
        "--clients",
        type=int,
        default=1,
        help="AsyncClients (and Check channels) used round-robin, each on a connection of its own",
    )
    parser.add_argument(
        "--uvloop", action="store_true", help="run on uvloop (if installed)"
    )
    return parser.parse_args()


async def main(args: argparse.Namespace) -> int:
    identifiers = [
        f"deploy.job{i}" if i % 2 == 0 else f"backup.job{i}" for i in range(args.ids)
    ]
    # One client: the default channel. Several: grpc shares one connection between channels of
    # equal options unless each has a subchannel pool of its own.
    options = [("grpc.use_local_subchannel_pool", 1)] if args.clients > 1 else []
    clients = [
        AsyncClient(args.addr, token=args.caller, timeout=10.0, options=options)
        for _ in range(args.clients)
    ]
    channels = [grpc.aio.insecure_channel(args.addr, options=options) for _ in clients]
    healths = [
        channel.unary_unary(
            HEALTH_CHECK,
            request_serializer=lambda raw: raw,
            response_deserializer=lambda raw: raw,
        )
        for channel in channels
    ]
    next_client = itertools.cycle(clients).__next__
    next_health = itertools.cycle(healths).__next__

    async def check() -> object:
        return await next_health()(b"", timeout=10.0)

    async def introspect() -> object:
        answer = await next_client().introspect(args.target)
        if not answer.active:
            raise RuntimeError("target token inactive")
        return answer

    async def check_namespace() -> object:
        answer = await next_client().check_namespace(
            args.target, identifiers, action="read"
        )
        if not answer.active:
            raise RuntimeError("target token inactive")
        return answer.allowed

    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "check": check,
        "introspect": introspect,
        "checknamespace": check_namespace,
    }
    names = [name for name in args.calls.split(",") if name]
    unknown = [name for name in names if name not in calls]
    if unknown:
        print(f"tessera_load.py: unknown calls {unknown}", file=sys.stderr)
        return 2
    # Unmeasured warm-up: connections up, caller and target cached.
    for name in names:
        await phase(name, calls[name], min(args.phase, 0.5), args.concurrency, -1)
    for rnd in range(args.rounds):
        for name in names:
            line = await phase(name, calls[name], args.phase, args.concurrency, rnd)
            print(json.dumps(line), flush=True)
    for client in clients:
        await client.close()
    for channel in channels:
        await channel.close()
    return 0


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.uvloop:
        import uvloop  # not a dependency of the client; install it to compare

        uvloop.install()
    sys.exit(asyncio.run(main(arguments)))
