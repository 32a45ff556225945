"""The devices an agent drives, as small protocols, and the bundle it is given.

A line has a unit printer and a verify reader, and may have a case printer and a case
reader. The agent (:class:`edge.agent.Agent`) drives whatever fits these protocols: the
real printers and scanners its configuration names (:func:`edge.devices.open_line_devices`)
or a simulated line, which the application layer composes (``lineside edge run
--simulate``); the edge itself knows no simulator.

A reader fed by software rather than by a scanner driver, such as the end of a simulated
conveyor, is a :class:`PushReader`: what it is told was transmitted becomes a read, stamped
as a scanner driver stamps one.

>>> reads = []
>>> reader = PushReader("verify-sim", deliver=reads.append)
>>> reader.transmit("]d2", b"0108934567890120" + b"21ABC")
>>> reads[0].result.message.get("21")
'ABC'
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from edge.cases import CasePrinter
from edge.engine import UnitPrinter
from edge.scanners.read import ReadStamper, ScanRead
from lineside.contract import AlarmCode

#: ``report(fault, alarm code)``: the printer's fault, or ``None`` when it is ready again.
PrinterReport = Callable[[str | None, AlarmCode], None]
#: Where a reader hands each read (the engine's ``on_read``).
ReadSink = Callable[[ScanRead], None]
#: ``report(connected, detail)``: a reader's link changed.
LinkReport = Callable[[bool, str], None]


class UnitPrinterDevice(UnitPrinter, Protocol):
    """The unit printer as the agent drives it: the engine's :class:`UnitPrinter`, plus
    its link and the faults it reports as it stops and recovers."""

    async def open(self) -> None:
        """Connect, before the line runs."""

    async def close(self) -> None:
        """Disconnect, after the line stopped."""

    def watch(self, report: PrinterReport) -> None:
        """Call ``report`` whenever the printer's faults change, from now on."""

    async def supervise(self, paused: Callable[[], bool], report: PrinterReport) -> None:
        """Until cancelled: while ``paused()``, look for a cleared fault and report it."""


class CasePrinterDevice(CasePrinter, Protocol):
    """The case printer as the agent drives it: the packer's :class:`CasePrinter` (case and
    pallet labels, SSCC), plus its link."""

    async def open(self) -> None:
        """Connect, before the line runs."""

    async def close(self) -> None:
        """Disconnect, after the line stopped."""


class ReaderDevice(Protocol):
    """A scanner or camera on the line, or anything else that produces reads."""

    async def feed(self, deliver: ReadSink, report: LinkReport) -> None:
        """Hand every read to ``deliver`` and every change of the link to ``report``,
        until cancelled."""


@dataclass(frozen=True, slots=True)
class LineDevices:
    """Everything on the line an agent drives."""

    unit_printer: UnitPrinterDevice
    verify_reader: ReaderDevice
    case_printer: CasePrinterDevice | None = None
    #: With a case reader, every case label is verified by reading its SSCC back;
    #: without one, a case is verified by its count.
    case_reader: ReaderDevice | None = None


class PushReader:
    """A reader fed by software: :meth:`transmit` what a reader would have sent.

    Reads go to ``deliver`` from construction, or to whoever :meth:`feed` gives once it
    runs; a transmission with nowhere to go (before either) is counted in
    :attr:`dropped`, as a scanner nobody listens to loses its reads.
    """

    def __init__(self, device_id: str, *, deliver: ReadSink | None = None) -> None:
        self._stamper = ReadStamper(device_id)
        self._deliver = deliver
        self.dropped = 0

    def transmit(self, symbology: str | None, data: bytes) -> None:
        """One read: ``symbology`` (an AIM identifier such as ``]d2``, or none) and data."""
        if self._deliver is None:
            self.dropped += 1
            return
        self._deliver(self._stamper.payload(symbology, data))

    async def feed(self, deliver: ReadSink, report: LinkReport) -> None:
        """Deliver reads to ``deliver`` until cancelled; the link never drops."""
        previous, self._deliver = self._deliver, deliver
        try:
            await asyncio.Event().wait()
        finally:
            self._deliver = previous
