"""Reject outputs: what physically pushes a bad unit off the line.

Each output has one method, ``fire(serial, reason)``, which pulses the actuator and returns.
The engine never waits on it in the verdict path (it runs as a task), so a slow relay board
cannot slow the line down.

>>> import asyncio
>>> out = RecordingReject()
>>> asyncio.run(out.fire("Ab3x", "no read"))
>>> out.fired
[('Ab3x', 'no read')]
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Protocol

from edge.config import GpioReject, RejectOutputConfig, SerialRelayReject, SimulatedReject
from edge.drivers.base import Transport
from lineside.errors import DeviceError

logger = logging.getLogger(__name__)


class RejectOutput(Protocol):
    """Something that rejects the unit carrying ``serial``."""

    async def fire(self, serial: str, reason: str) -> None: ...

    async def close(self) -> None: ...


class RecordingReject:
    """A simulated output: records every firing (tests, dry runs, the simulated line)."""

    def __init__(self) -> None:
        self.fired: list[tuple[str, str]] = []

    async def fire(self, serial: str, reason: str) -> None:
        self.fired.append((serial, reason))
        logger.info("reject %s: %s", serial, reason)

    async def close(self) -> None:
        return None


class GpioFileReject:
    """A GPIO line driven through a sysfs-style ``value`` file: write 1, wait, write 0."""

    def __init__(self, value_path: Path, *, active_high: bool = True, pulse_ms: int = 200) -> None:
        self._path = value_path
        self._on = b"1" if active_high else b"0"
        self._off = b"0" if active_high else b"1"
        self._pulse = pulse_ms / 1000

    async def fire(self, serial: str, reason: str) -> None:
        try:
            await asyncio.to_thread(self._path.write_bytes, self._on)
            await asyncio.sleep(self._pulse)
            await asyncio.to_thread(self._path.write_bytes, self._off)
        except OSError as exc:
            raise DeviceError(f"reject GPIO {self._path}: {exc.strerror}") from exc

    async def close(self) -> None:
        return None


class SerialRelayRejectOutput:
    """A relay board driven by byte commands over a serial or TCP transport."""

    def __init__(self, url: str, *, on: bytes, off: bytes, pulse_ms: int) -> None:
        self._url = url
        self._on = on
        self._off = off
        self._pulse = pulse_ms / 1000
        self._transport: Transport | None = None

    async def fire(self, serial: str, reason: str) -> None:
        from edge.drivers import open_transport

        if self._transport is None:
            transport = open_transport(self._url)
            await transport.open()
            self._transport = transport
        await self._transport.write(self._on)
        await asyncio.sleep(self._pulse)
        await self._transport.write(self._off)

    async def close(self) -> None:
        if self._transport is not None:
            await self._transport.close()
            self._transport = None


def make_reject_output(config: RejectOutputConfig) -> RejectOutput:
    """The reject output a line configuration asks for."""
    if isinstance(config, SimulatedReject):
        return RecordingReject()
    if isinstance(config, GpioReject):
        return GpioFileReject(
            config.value_path, active_high=config.active_high, pulse_ms=config.pulse_ms
        )
    if isinstance(config, SerialRelayReject):
        return SerialRelayRejectOutput(
            config.url,
            on=bytes.fromhex(config.on),
            off=bytes.fromhex(config.off),
            pulse_ms=config.pulse_ms,
        )
    raise AssertionError(f"unknown reject output {config!r}")
