"""The one transport interface every device driver uses."""

from __future__ import annotations

import abc

from lineside.lifecycle import AsyncResource


class Transport(AsyncResource):
    """An async byte stream to one device.

    The lifecycle is explicit: :meth:`open` before use, :meth:`close` after (or
    ``async with``). Every failure is a :class:`lineside.errors.TransportError`
    (:class:`lineside.errors.DeviceTimeout` when a deadline passes); the lower
    library's exception is kept as ``__cause__``.
    """

    url: str

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect to the device; raise ``TransportError`` when it cannot be reached."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the device; closing twice is harmless."""

    @property
    @abc.abstractmethod
    def is_open(self) -> bool:
        """Whether :meth:`open` succeeded and the link has not failed or been closed since."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None:
        """Send all of ``data``; raise ``TransportError`` if the link fails."""

    @abc.abstractmethod
    async def read(self, max_bytes: int = 4096, timeout: float | None = None) -> bytes:
        """Return 1..max_bytes bytes as soon as any arrive.

        Raises ``DeviceTimeout`` when nothing arrives within ``timeout`` seconds and
        ``TransportError`` when the device closes the link (never returns ``b""``).
        """
