"""A fixture that fails an async test which leaves tasks running behind it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Autouse in the conftest of suites that drive devices and streams."""
    yield
    await asyncio.sleep(0)  # let cancelled tasks finish
    leftover = [
        task
        for task in asyncio.all_tasks()
        if task is not asyncio.current_task() and not task.done()
    ]
    assert not leftover, f"the test left tasks running: {leftover}"
