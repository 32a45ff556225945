"""The scanner interface every driver implements.

A scanner is configuration plus one async generator, :meth:`Scanner.events`, that owns
the device for as long as it is iterated: it connects, yields reads and status changes,
reconnects with backoff when the device disappears, and releases everything when the
iteration stops (``break``, cancellation, or ``aclose()``)::

    scanner = open_scanner("tcp://10.0.0.7:2001", "verify-1")
    async with contextlib.aclosing(scanner.reads()) as reads:
        async for read in reads:
            ...
"""

from __future__ import annotations

import abc
from collections.abc import AsyncGenerator

from edge.scanners.read import ScanEvent, ScannerStatus, ScanRead
from lineside.backoff import Backoff

#: Scanners retry for ever: a line keeps running across a cable being re-seated.
SCANNER_BACKOFF = Backoff(initial=0.2, factor=2.0, maximum=10.0, jitter=0.1, attempts=None)


class Scanner(abc.ABC):
    """A barcode reader; iterate :meth:`reads` (or :meth:`events` to see status too)."""

    device_id: str
    url: str

    @abc.abstractmethod
    def events(self) -> AsyncGenerator[ScanEvent, None]:
        """Reads and status changes, in order, until the iteration is closed."""

    async def reads(self) -> AsyncGenerator[ScanRead, None]:
        """Only the reads; status changes are still logged by the driver.

        Closing this iterator closes the underlying :meth:`events` iterator.
        """
        events = self.events()
        try:
            async for event in events:
                if isinstance(event, ScanRead):
                    yield event
        finally:
            await events.aclose()


__all__ = ["SCANNER_BACKOFF", "ScanEvent", "Scanner", "ScannerStatus"]
