"""The resync protocol against a real server whose revocation feed keeps one second: a watch
resuming from a pruned sequence is told RESYNC_REQUIRED (with the oldest retained sequence), and
the watches start again from 0 after the caller dropped its cache, never leaving a silent gap."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import tessera_auth_client as tc
from tessera_auth_client import AsyncClient, Client

from .support import Tessera

DEADLINE = 30.0


def _revoke_three(admin: Client) -> list[str]:
    ids = []
    for n in range(3):
        issued = admin.issue_token(ttl="10m", description=f"pruned {n}")
        assert admin.revoke(token_id=issued.token_id) == 1
        ids.append(issued.token_id)
    return ids


def _first_sequence(service: Client, token_id: str) -> int:
    with service.watch_revocations() as watch:
        guard = threading.Timer(20, watch.close)
        guard.start()
        try:
            return next(r for r in watch if r.token_id == token_id).sequence
        finally:
            guard.cancel()


def _until_resync(service: Client, after: int) -> tc.ResyncRequired:
    """Polls until the sweeper has pruned past `after` (it keeps one second, sweeping each)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        watch = service.watch_revocations(after_sequence=after)
        guard = threading.Timer(2, watch.close)
        guard.start()
        try:
            next(watch)
        except tc.ResyncRequired as resync:
            return resync
        except StopIteration:
            pass
        finally:
            guard.cancel()
            watch.close()
        assert time.monotonic() < deadline, "the feed was not pruned in time"
        time.sleep(0.5)


def test_a_pruned_resume_point_answers_resync_and_the_watch_starts_over(
    pruning_tessera: Tessera,
) -> None:
    with (
        pruning_tessera.client(pruning_tessera.admin_token) as admin,
        pruning_tessera.client(pruning_tessera.service_token) as service,
    ):
        ids = _revoke_three(admin)
        first = _first_sequence(service, ids[0])
        resync = _until_resync(service, first)
        assert resync.reason == "RESYNC_REQUIRED"
        assert resync.code.name == "FAILED_PRECONDITION"
        assert resync.oldest_sequence > first + 1

        # Without a handler: raised once, then the same watch replays from 0.
        with service.watch_revocations(after_sequence=first) as watch:
            with pytest.raises(tc.ResyncRequired):
                next(watch)
            assert watch.last_sequence == 0
            replayed = next(watch)
        assert replayed.sequence >= resync.oldest_sequence

        # With a handler: the cache is dropped and the watch goes on from 0 by itself.
        dropped: list[int] = []
        cache = {"stale": True}

        def drop(oldest: int) -> None:
            dropped.append(oldest)
            cache.clear()

        with service.watch_revocations(after_sequence=first, on_resync=drop) as watch:
            again = next(watch)
        assert dropped and dropped[0] >= resync.oldest_sequence
        assert cache == {}
        assert again.sequence >= resync.oldest_sequence


def test_the_async_watch_resyncs_too(pruning_tessera: Tessera) -> None:
    with (
        pruning_tessera.client(pruning_tessera.admin_token) as admin,
        pruning_tessera.client(pruning_tessera.service_token) as service,
    ):
        ids = _revoke_three(admin)
        first = _first_sequence(service, ids[0])
        _until_resync(service, first)

    async def run() -> tuple[list[int], int]:
        dropped: list[int] = []

        async def drop(oldest: int) -> None:
            dropped.append(oldest)

        async with AsyncClient(pruning_tessera.addr, token=pruning_tessera.service_token) as client:
            async with client.watch_revocations(after_sequence=first) as watch:
                with pytest.raises(tc.ResyncRequired):
                    await asyncio.wait_for(watch.__anext__(), DEADLINE)
                assert watch.last_sequence == 0
            async with client.watch_revocations(after_sequence=first, on_resync=drop) as watch:
                revocation = await asyncio.wait_for(watch.__anext__(), DEADLINE)
        return dropped, revocation.sequence

    dropped, sequence = asyncio.run(run())
    assert len(dropped) == 1
    assert sequence >= dropped[0]
