"""Sequential calls from grpcio must not wait for the client's delayed ACK (Nagle on the server)."""

from __future__ import annotations

import statistics
import time

from tessera_auth_client import Client

from .support import Tessera

# A reply held back by Nagle's algorithm waits for the client's delayed ACK, 40 ms on Linux; a
# healthy loopback call takes well under a millisecond, so half of it is a bound that holds on a
# busy machine and still fails on a stall.
NAGLE_STALL_S = 0.040


def test_sequential_calls_do_not_wait_for_delayed_acks(tessera: Tessera, service: Client) -> None:
    for _ in range(5):  # warm the channel and the server's cache
        service.introspect(tessera.admin_token)
    took = []
    for _ in range(50):
        start = time.perf_counter()
        service.introspect(tessera.admin_token)
        took.append(time.perf_counter() - start)
    median = statistics.median(took)
    assert median < NAGLE_STALL_S / 2, f"sequential p50 {median * 1000:.1f} ms: TCP_NODELAY off?"
