"""Where serials come from: blocks reserved by the server, or a local offline reserve.

The line keeps a reserve of serials in its journal. :class:`SerialSupply` tops it up from a
:class:`SerialSource` — normally the server (``POST /lines/{id}/serial-blocks``, which reserves
the block to this line so two lines never collide) and, when the server cannot be reached,
serials generated locally with :class:`lineside.gs1.SerialGenerator` and checked unique
against the journal.

>>> import asyncio
>>> from edge.journal import Journal
>>> j = Journal.open(":memory:")
>>> supply = SerialSupply(j, [FixedSerialSource(["A1", "B2", "C3"])], low_water=2, block=3)
>>> asyncio.run(supply.ensure(2))
3
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import httpx

from edge.journal import Journal
from lineside.errors import LinesideError

logger = logging.getLogger(__name__)


class SerialSourceError(LinesideError):
    """A serial source could not deliver (server unreachable, bad answer)."""


class SerialSource(Protocol):
    """Something that hands out serials reserved for this line."""

    name: str

    async def fetch(self, count: int) -> list[str]: ...


class FixedSerialSource:
    """A source with a given list (tests; blocks received over MQTT)."""

    name = "fixed"

    def __init__(self, serials: Sequence[str]) -> None:
        self._serials = list(serials)

    async def fetch(self, count: int) -> list[str]:
        taken, self._serials = self._serials[:count], self._serials[count:]
        return taken


class LocalSerialSource:
    """Random serials generated on the line (offline reserve)."""

    name = "local"

    def __init__(self, length: int = 12) -> None:
        from lineside.gs1 import SerialGenerator

        self._generator = SerialGenerator(length=length)

    async def fetch(self, count: int) -> list[str]:
        return [self._generator.generate() for _ in range(count)]


class HttpSerialSource:
    """Blocks from the server: ``POST {base}/lines/{line}/serial-blocks`` ``{"count": n}``.

    The answer is ``{"serials": [...]}`` (``block_id`` optional).
    """

    name = "server"

    def __init__(
        self, base_url: str, line_id: str, *, token: str | None = None, timeout: float = 5.0
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/lines/{line_id}/serial-blocks"
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = timeout

    async def fetch(self, count: int) -> list[str]:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(
                    self._url, json={"count": count}, headers=self._headers
                )
        except httpx.HTTPError as exc:
            raise SerialSourceError(f"{self._url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise SerialSourceError(f"{self._url}: HTTP {response.status_code}")
        try:
            data = response.json()
            serials = data["serials"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SerialSourceError(f"{self._url}: answer has no 'serials' list") from exc
        if not isinstance(serials, list) or not all(isinstance(s, str) for s in serials):
            raise SerialSourceError(f"{self._url}: 'serials' must be a list of strings")
        return serials


class SerialSupply:
    """Keeps the journal's reserve above ``low_water``, trying each source in order."""

    def __init__(
        self, journal: Journal, sources: Sequence[SerialSource], *, low_water: int, block: int
    ) -> None:
        self._journal = journal
        self._sources = list(sources)
        self._low_water = low_water
        self._block = block

    async def ensure(self, needed: int) -> int:
        """Top up the reserve so it holds at least ``needed`` (and ``low_water``) serials.

        Returns the reserve size; raises :class:`SerialSourceError` when no source delivers.
        """
        size = self._journal.reserve_size()
        target = max(needed, self._low_water)
        errors = []
        for source in self._sources:
            if size >= target:
                break
            want = max(self._block, target - size)
            try:
                serials = await source.fetch(want)
            except SerialSourceError as exc:
                errors.append(str(exc))
                logger.warning("serial source %s failed: %s", source.name, exc)
                continue
            added = self._journal.add_to_reserve(serials, source=source.name)
            if added < len(serials):
                logger.warning(
                    "%d serials from %s were already known and skipped",
                    len(serials) - added,
                    source.name,
                )
            size = self._journal.reserve_size()
        if size < needed:
            raise SerialSourceError(
                f"serial reserve has {size} serials, {needed} needed"
                + (f" ({'; '.join(errors)})" if errors else "")
            )
        return size
