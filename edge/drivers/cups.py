"""CUPS transport: raw jobs to a print queue through the ``zebra`` package (``lpr -oraw``).

CUPS gives no status back-channel: :meth:`CupsTransport.read` always raises, so a
driver on a CUPS queue cannot poll ``~HS`` and must be configured to print blind.
"""

from __future__ import annotations

import asyncio
import importlib
import shutil
import subprocess
from typing import Any

from edge.drivers.base import Transport
from edge.drivers.url import CupsSpec
from lineside.errors import TransportError

_CUPS_HINT = "install cups-client (lpr, lpstat) and the 'cups' extra (zebra)"


def _zebra() -> Any:
    # The zebra package is untyped and optional; load it only when a CUPS URL is used.
    return importlib.import_module("zebra")


class CupsTransport(Transport):
    """Each :meth:`write` is one raw CUPS job.

    >>> from edge.drivers.url import parse_transport_url
    >>> CupsTransport(parse_transport_url("cups://Zebra_ZT230")).url
    'cups://Zebra_ZT230'
    """

    def __init__(self, spec: CupsSpec) -> None:
        self.url = spec.url
        self._spec = spec
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open

    def _check_blocking(self) -> None:
        for tool in ("lpr", "lpstat"):
            if shutil.which(tool) is None:
                raise TransportError(f"{self.url}: `{tool}` is not installed; {_CUPS_HINT}")
        try:
            zebra = _zebra()
        except ImportError as exc:
            raise TransportError(f"{self.url}: the zebra package is missing; {_CUPS_HINT}") from exc
        queues = zebra.Zebra().getqueues()
        if self._spec.queue not in queues:
            known = ", ".join(queues) or "none"
            raise TransportError(
                f"{self.url}: CUPS has no queue {self._spec.queue!r} (queues: {known})"
            )

    async def open(self) -> None:
        await asyncio.to_thread(self._check_blocking)
        self._open = True

    async def close(self) -> None:
        self._open = False

    def _output_blocking(self, data: bytes) -> None:
        _zebra().Zebra(self._spec.queue).output(data)

    async def write(self, data: bytes) -> None:
        if not self._open:
            raise TransportError(f"{self.url}: not open")
        try:
            await asyncio.to_thread(self._output_blocking, data)
        except (OSError, subprocess.SubprocessError) as exc:
            raise TransportError(f"{self.url}: lpr failed: {exc}") from exc

    async def read(self, max_bytes: int = 4096, timeout: float | None = None) -> bytes:
        raise TransportError(
            f"{self.url}: a CUPS queue cannot be read (no status back-channel); "
            "use tcp://, usb:// or serial:// to poll the printer"
        )
