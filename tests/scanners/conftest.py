"""Helpers for scanner tests: collect events; every async test is checked for leaked tasks."""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator

import pytest

from edge.scanners.read import ScanEvent, ScannerStatus, ScanRead
from tests.support.asyncio_checks import no_leaked_tasks

__all__ = ["no_leaked_tasks"]


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
