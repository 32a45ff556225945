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
    """Something that hands out serials reserved for this line (and for ``gtin``, if it may)."""

    name: str
    #: Whether its serials may be used for any GTIN (made on the line) or only the one asked.
    for_any_gtin: bool

    async def fetch(self, count: int, gtin: str | None = None) -> list[str]: ...


class FixedSerialSource:
    """A source with a given list (tests; blocks received over MQTT)."""

    name = "fixed"
    for_any_gtin = True

    def __init__(self, serials: Sequence[str]) -> None:
        self._serials = list(serials)

    async def fetch(self, count: int, gtin: str | None = None) -> list[str]:
        taken, self._serials = self._serials[:count], self._serials[count:]
        return taken


class LocalSerialSource:
    """Random serials generated on the line (offline reserve)."""

    name = "local"
    for_any_gtin = True

    def __init__(self, length: int = 12) -> None:
        from lineside.gs1 import SerialGenerator

        self._generator = SerialGenerator(length=length)

    async def fetch(self, count: int, gtin: str | None = None) -> list[str]:
        return [self._generator.generate() for _ in range(count)]


#: The server issues at most this many serials per block.
SERVER_MAX_BLOCK = 20_000


class HttpSerialSource:
    """Blocks from the server: ``POST {base}/lines/{line}/serial-blocks``.

    The request is ``{"gtin", "count", "serial_length", "publish": false}`` (the answer
    carries the serials, so the server need not also send them over MQTT); the answer (201)
    is the block: ``{"id", "gtin", "line_id", "count", "serials", ...}``. Calls carry a
    bearer token: a fixed ``token``, or one obtained from ``POST {base}/auth/token`` with
    ``username`` and ``password`` and renewed when the server answers 401.
    """

    name = "server"
    for_any_gtin = False

    def __init__(
        self,
        base_url: str,
        line_id: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        serial_length: int = 12,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        base = base_url.rstrip("/")
        self._url = f"{base}/lines/{line_id}/serial-blocks"
        self._token_url = f"{base}/auth/token"
        self._line_id = line_id
        self._token = token
        self._credentials = (username, password) if username and password else None
        self._serial_length = serial_length
        self._timeout = timeout
        self._transport = transport
        #: Ids of the blocks received, oldest first.
        self.blocks: list[str] = []

    async def fetch(self, count: int, gtin: str | None = None) -> list[str]:
        if gtin is None:
            raise SerialSourceError(
                f"{self._url}: the server reserves serials per GTIN; none given"
            )
        serials: list[str] = []
        async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as client:
            while len(serials) < count:
                want = min(SERVER_MAX_BLOCK, count - len(serials))
                serials += await self._block(client, gtin, want)
        return serials

    async def _block(self, client: httpx.AsyncClient, gtin: str, count: int) -> list[str]:
        body = {
            "gtin": gtin,
            "count": count,
            "serial_length": self._serial_length,
            "publish": False,
        }
        if self._token is None and self._credentials is not None:
            await self._sign_in(client)
        response = await self._post(client, self._url, body, auth=True)
        if response.status_code == 401 and self._credentials is not None:
            # The token expired or was revoked: sign in again, once.
            await self._sign_in(client)
            response = await self._post(client, self._url, body, auth=True)
        if response.status_code != 201:
            raise SerialSourceError(f"{self._url}: {_problem(response)}")
        try:
            data = response.json()
            serials = data["serials"]
            block_id = str(data.get("id", ""))
            answered_gtin = data.get("gtin", gtin)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SerialSourceError(f"{self._url}: answer has no 'serials' list") from exc
        if not isinstance(serials, list) or not all(isinstance(s, str) for s in serials):
            raise SerialSourceError(f"{self._url}: 'serials' must be a list of strings")
        if answered_gtin != gtin:
            raise SerialSourceError(
                f"{self._url}: block {block_id} is for GTIN {answered_gtin}, {gtin} asked"
            )
        if len(serials) != count:
            raise SerialSourceError(
                f"{self._url}: block {block_id} has {len(serials)} serials, {count} asked"
            )
        self.blocks.append(block_id)
        logger.info("serial block %s: %d serials of GTIN %s", block_id, count, gtin)
        return serials

    async def _post(
        self, client: httpx.AsyncClient, url: str, body: dict[str, object], *, auth: bool
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._token}"} if auth and self._token else {}
        try:
            return await client.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SerialSourceError(f"{url}: {type(exc).__name__}: {exc}") from exc

    async def _sign_in(self, client: httpx.AsyncClient) -> None:
        assert self._credentials is not None
        username, password = self._credentials
        response = await self._post(
            client, self._token_url, {"username": username, "password": password}, auth=False
        )
        if response.status_code != 200:
            raise SerialSourceError(
                f"{self._token_url}: sign-in as {username!r}: {_problem(response)}"
            )
        try:
            token = response.json()["access_token"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SerialSourceError(f"{self._token_url}: answer has no 'access_token'") from exc
        if not isinstance(token, str) or not token:
            raise SerialSourceError(f"{self._token_url}: 'access_token' must be a string")
        self._token = token


def _problem(response: httpx.Response) -> str:
    """``HTTP 404: lines: no 'L9'`` — the status and the server's ``detail``, if any."""
    detail = ""
    try:
        data = response.json()
        if isinstance(data, dict) and "detail" in data:
            detail = data["detail"] if isinstance(data["detail"], str) else str(data["detail"])
    except ValueError:
        detail = response.text[:200]
    return f"HTTP {response.status_code}" + (f": {detail[:300]}" if detail else "")


class SerialSupply:
    """Keeps the journal's reserve above ``low_water``, trying each source in order."""

    def __init__(
        self, journal: Journal, sources: Sequence[SerialSource], *, low_water: int, block: int
    ) -> None:
        self._journal = journal
        self._sources = list(sources)
        self._low_water = low_water
        self._block = block

    async def ensure(self, needed: int, gtin: str | None = None) -> int:
        """Top up the reserve so it holds at least ``needed`` (and ``low_water``) serials
        usable for ``gtin``.

        Returns the reserve size; raises :class:`SerialSourceError` when no source delivers.
        """
        size = self._journal.serials.reserve_size(gtin)
        target = max(needed, self._low_water)
        errors = []
        for source in self._sources:
            if size >= target:
                break
            want = max(self._block, target - size)
            try:
                serials = await source.fetch(want, gtin)
            except SerialSourceError as exc:
                errors.append(str(exc))
                logger.warning("serial source %s failed: %s", source.name, exc)
                continue
            owner = None if source.for_any_gtin else gtin
            added = self._journal.serials.add_to_reserve(serials, source=source.name, gtin=owner)
            if added < len(serials):
                logger.warning(
                    "%d serials from %s were already known and skipped",
                    len(serials) - added,
                    source.name,
                )
            size = self._journal.serials.reserve_size(gtin)
        if size < needed:
            raise SerialSourceError(
                f"serial reserve has {size} serials, {needed} needed"
                + (f" ({'; '.join(errors)})" if errors else "")
            )
        return size
