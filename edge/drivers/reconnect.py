"""Connect and reconnect with exponential backoff.

:class:`lineside.backoff.Backoff` is the policy (it only computes delays);
:class:`ReconnectingTransport` wraps any transport and reopens it before the next
operation after a failure. It never replays a failed write: a label half-sent to a
printer must be decided by the driver (reprint or void), not silently sent twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from edge.drivers.base import Transport
from lineside.backoff import Backoff
from lineside.errors import TransportError

logger = logging.getLogger(__name__)


async def open_with_backoff(
    transport: Transport,
    backoff: Backoff,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Open ``transport``, retrying on ``TransportError`` as ``backoff`` says.

    Raises the last error, with the attempt count, when every attempt failed.
    """
    delays = backoff.delays()
    attempt = 1
    while True:
        try:
            await transport.open()
        except TransportError as exc:
            delay = next(delays, None)
            if delay is None:
                raise TransportError(f"{exc} (gave up after {attempt} attempts)") from exc
            logger.warning(
                "%s: attempt %d failed (%s); retry in %.2f s", transport.url, attempt, exc, delay
            )
            await sleep(delay)
            attempt += 1
        else:
            return


class ReconnectingTransport(Transport):
    """A transport that reopens its inner transport (with backoff) after the link fails.

    The failed operation still raises, so the caller knows data may be lost; the next
    operation reconnects first.

    >>> from edge.drivers.file import FileTransport
    >>> from edge.drivers.url import parse_transport_url
    >>> t = ReconnectingTransport(FileTransport(parse_transport_url("file:///tmp/x")))
    >>> t.url
    'file:///tmp/x'
    """

    def __init__(self, inner: Transport, backoff: Backoff | None = None) -> None:
        self.inner = inner
        self.url = inner.url
        self.backoff = backoff or Backoff()
        self._wanted = False
        self.reconnects = 0

    @property
    def is_open(self) -> bool:
        return self.inner.is_open

    async def open(self) -> None:
        self._wanted = True
        await open_with_backoff(self.inner, self.backoff)

    async def close(self) -> None:
        self._wanted = False
        await self.inner.close()

    async def _ensure(self) -> None:
        if not self._wanted:
            raise TransportError(f"{self.url}: not open")
        if not self.inner.is_open:
            await self.inner.close()
            await open_with_backoff(self.inner, self.backoff)
            self.reconnects += 1
            logger.info("%s: reconnected", self.url)

    async def write(self, data: bytes) -> None:
        await self._ensure()
        await self.inner.write(data)

    async def read(self, max_bytes: int = 4096, timeout: float | None = None) -> bytes:
        await self._ensure()
        return await self.inner.read(max_bytes, timeout)
