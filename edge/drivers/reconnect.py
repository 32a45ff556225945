"""Connect and reconnect with exponential backoff.

:class:`Backoff` is the policy (pure: it only computes delays); :class:`ReconnectingTransport`
wraps any transport and reopens it before the next operation after a failure. It never
replays a failed write: a label half-sent to a printer must be decided by the driver
(reprint or void), not silently sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from edge.drivers.base import Transport
from lineside.errors import TransportError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays between connection attempts: ``initial * factor**n``, capped at ``maximum``.

    ``jitter`` spreads each delay by up to that fraction so a whole line of agents does
    not reconnect in lockstep after a switch reboots. ``attempts=None`` retries forever.

    >>> list(Backoff(initial=0.5, factor=2, maximum=3, jitter=0, attempts=5).delays())
    [0.5, 1.0, 2.0, 3.0]
    """

    initial: float = 0.2
    factor: float = 2.0
    maximum: float = 10.0
    jitter: float = 0.1
    attempts: int | None = 8

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < self.initial or self.factor < 1:
            raise ValueError("Backoff: need 0 <= initial <= maximum and factor >= 1")
        if self.attempts is not None and self.attempts < 1:
            raise ValueError("Backoff: attempts must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("Backoff: jitter must be between 0 and 1")

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The waits between attempts (one fewer than ``attempts``)."""
        rng = rng or random.Random()
        delay = self.initial
        n = 1
        while self.attempts is None or n < self.attempts:
            spread = delay * self.jitter * (2 * rng.random() - 1) if self.jitter else 0.0
            yield float(max(0.0, min(self.maximum, delay + spread)))
            delay = float(min(self.maximum, delay * self.factor))
            n += 1


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
