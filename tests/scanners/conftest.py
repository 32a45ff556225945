"""Helpers for scanner tests: run a coroutine, collect events, check nothing leaks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from typing import TypeVar

import pytest

from edge.scanners.read import ScanEvent, ScannerStatus, ScanRead

T = TypeVar("T")

#: A safety net so a broken test fails instead of hanging CI; never a speed assertion.
HANG_GUARD_S = 20.0


def run(coro: Awaitable[T]) -> T:
    """Run ``coro`` on a fresh loop; fail if it leaves tasks behind."""

    async def main() -> T:
        async with asyncio.timeout(HANG_GUARD_S):
            result = await coro
        await asyncio.sleep(0)
        leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not leftover, f"leaked tasks: {leftover}"
        return result

    return asyncio.run(main())


async def collect(
    events: AsyncGenerator[ScanEvent, None],
    until: Callable[[list[ScanEvent]], bool],
    on_event: Callable[[ScanEvent], Awaitable[None]] | None = None,
) -> list[ScanEvent]:
    """Iterate ``events`` until ``until(seen)``; always closes the generator."""
    seen: list[ScanEvent] = []
    try:
        async for event in events:
            seen.append(event)
            if on_event is not None:
                await on_event(event)
            if until(seen):
                break
    finally:
        await events.aclose()
    return seen


def reads_of(events: list[ScanEvent]) -> list[ScanRead]:
    return [e for e in events if isinstance(e, ScanRead)]


def statuses_of(events: list[ScanEvent]) -> list[ScannerStatus]:
    return [e for e in events if isinstance(e, ScannerStatus)]


@pytest.fixture
def no_thread_leak() -> Iterator[None]:
    """Fail a test that leaves a worker thread running."""
    before = set(threading.enumerate())
    yield
    extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not [t for t in extra if t.name.startswith("camera-")], f"leaked threads: {extra}"
