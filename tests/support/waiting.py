"""Waiting on a condition with a deadline: the one way tests synchronise with threads,
processes and tasks (never a bare sleep). The deadline is a safety net against hangs, not
a speed assertion: it is generous on purpose."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def wait_until(
    predicate: Callable[[], bool], what: str = "condition", timeout: float = 30.0
) -> None:
    """Return once ``predicate()`` is true; fail the test naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:g} s")
        time.sleep(0.01)


async def until(
    predicate: Callable[[], bool], what: str = "condition", timeout: float = 30.0
) -> None:
    """:func:`wait_until` for async tests: the event loop keeps running meanwhile."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:g} s")
        await asyncio.sleep(0.005)
