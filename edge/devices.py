"""Real devices for the agent: printer drivers and scanners, opened from the configuration.

The agent drives the small protocols of :mod:`edge.line_devices`; this module adapts the
printer drivers of :mod:`edge.printers` and the scanners of :mod:`edge.scanners` to them
(:func:`open_line_devices`), and turns printer status changes into the engine's
pause/resume calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from edge.codes import ContainerLabel, UnitLabel
from edge.config import LineConfig, PrinterDevice, PrinterLanguage, ScannerDevice
from edge.drivers import open_transport
from edge.engine import PrintConfirmation
from edge.line_devices import LineDevices, LinkReport, PrinterReport, ReadSink
from edge.printers.driver import EscposPrinter, PrintReceipt, StatusChange, ZplPrinter
from edge.printers.label_data import LabelData
from edge.printers.templates import EscposTemplate, ZplTemplate, load_template
from edge.scanners.read import ScannerState, ScannerStatus
from edge.scanners.urls import open_scanner
from lineside.contract import AlarmCode
from lineside.errors import ConfigError, DeviceError, TransportError

logger = logging.getLogger(__name__)

Driver = ZplPrinter | EscposPrinter


def open_printer(device: PrinterDevice, template_path: Path) -> Driver:
    """A printer driver for ``device`` with the template at ``template_path``."""
    template = load_template(template_path)
    transport = open_transport(device.url)
    if device.language is PrinterLanguage.ZPL:
        if not isinstance(template, ZplTemplate):
            raise ConfigError(f"{template_path.name}: device {device.id} prints ZPL")
        return ZplPrinter(transport, template, max_in_flight=device.max_in_flight)
    if not isinstance(template, EscposTemplate):
        raise ConfigError(f"{template_path.name}: device {device.id} prints ESC/POS")
    return EscposPrinter(transport, template)


class DriverUnitPrinter:
    """Prints unit labels through a printer driver (ZPL or ESC/POS)."""

    def __init__(self, driver: Driver, *, resolver: str) -> None:
        self.driver = driver
        self._resolver = resolver
        # The last unit's data without its serial: a work order's units differ only in it.
        self._order_data: tuple[tuple[object, ...], LabelData] | None = None

    async def open(self) -> None:
        await self.driver.transport.open()

    async def close(self) -> None:
        await self.driver.transport.close()

    def watch(self, report: PrinterReport) -> None:
        watch_printer(self.driver, report)

    async def supervise(self, paused: Callable[[], bool], report: PrinterReport) -> None:
        """Poll the printer's status while the line is paused (see :func:`poll_printer`)."""
        await poll_printer(self.driver, paused, ready=lambda: report(None, AlarmCode.PAPER_OUT))

    def _data(self, label: UnitLabel) -> LabelData:
        key = (label.product_name, label.gtin, label.lot, label.expiry, label.production_date)
        if self._order_data is None or self._order_data[0] != key:
            order_data = LabelData(
                product_name=label.product_name,
                gtin=label.gtin,
                lot=label.lot,
                expiry=label.expiry,
                production_date=label.production_date,
                resolver=self._resolver,
            )
            self._order_data = (key, order_data)
        return self._order_data[1].with_serial(label.serial)

    async def print_unit(self, label: UnitLabel) -> None:
        await self.driver.print_label(self._data(label))

    async def send_unit(self, label: UnitLabel) -> PrintConfirmation:
        """Send the label; a ZPL printer that confirms takes the next before this one has
        printed (see :class:`edge.printers.driver.ZplPrinter`)."""
        if isinstance(self.driver, ZplPrinter) and self.driver.confirm:
            return await self.driver.submit(self._data(label))
        return _Printed(await self.driver.print_label(self._data(label)))


class _Printed:
    """A label already printed when it was sent (no pipelining)."""

    def __init__(self, receipt: PrintReceipt) -> None:
        self.receipt = receipt

    async def confirmed(self) -> PrintReceipt:
        return self.receipt


class DriverCasePrinter:
    """Prints case and pallet labels (SSCC) through a printer driver."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    async def open(self) -> None:
        await self.driver.transport.open()

    async def close(self) -> None:
        await self.driver.transport.close()

    async def print_container(self, label: ContainerLabel) -> None:
        data = LabelData(
            product_name=label.product_name or f"{label.level.upper()} {label.sscc}",
            gtin=label.gtin,
            lot=label.lot,
            expiry=label.expiry,
            extra={"sscc": label.sscc, "count": str(label.count), "level": label.level},
        )
        await self.driver.print_label(data)


def watch_printer(driver: Driver, report: PrinterReport) -> None:
    """Call ``report(fault or None, alarm code)`` whenever the printer's faults change."""

    def on_change(change: StatusChange) -> None:
        faults = change.current.faults
        code = AlarmCode.PRINTER_OFFLINE
        if "paper_out" in faults:
            code = AlarmCode.PAPER_OUT
        elif "head_open" in faults:
            code = AlarmCode.HEAD_OPEN
        elif "ribbon_out" in faults:
            code = AlarmCode.RIBBON_OUT
        report(", ".join(faults) if faults else None, code)

    driver.on_status_change(on_change)


async def feed_reads(device: ScannerDevice, deliver: ReadSink) -> None:
    """Read ``device`` forever, handing each read to ``deliver`` (the engine's on_read)."""
    scanner = open_scanner(device.url, device.id)
    while True:
        try:
            async for read in scanner.reads():
                deliver(read)
        except DeviceError as exc:
            logger.warning("scanner %s: %s; reconnecting", device.id, exc)
            await asyncio.sleep(1.0)


async def feed_events(device: ScannerDevice, deliver: ReadSink, status: LinkReport) -> None:
    """Like :func:`feed_reads`, and report the scanner's link: ``status(connected, detail)``.

    The engine pauses the line while its verify scanner is disconnected.
    """
    scanner = open_scanner(device.url, device.id)
    while True:
        try:
            async for event in scanner.events():
                if isinstance(event, ScannerStatus):
                    if event.state is ScannerState.CONNECTED:
                        status(True, event.detail)
                    elif event.state is ScannerState.DISCONNECTED:
                        status(False, event.detail or "disconnected")
                else:
                    deliver(event)
        except DeviceError as exc:
            logger.warning("scanner %s: %s; reconnecting", device.id, exc)
            status(False, str(exc))
            await asyncio.sleep(1.0)


class ScannerReader:
    """A scanner from the configuration, as the agent reads it (see :func:`feed_events`)."""

    def __init__(self, device: ScannerDevice) -> None:
        self.device = device

    async def feed(self, deliver: ReadSink, report: LinkReport) -> None:
        await feed_events(self.device, deliver, report)


def open_line_devices(config: LineConfig) -> LineDevices:
    """The printers and scanners ``config`` names, adapted for the agent (not yet open).

    Raises :class:`ConfigError` when the line lacks a unit printer or a verify scanner,
    or has a case scanner but no case printer whose labels it could verify.
    """
    unit = config.device("unit_printer")
    verify = config.device("verify_scanner")
    if not isinstance(unit, PrinterDevice) or not isinstance(verify, ScannerDevice):
        raise ConfigError("devices: a unit_printer and a verify_scanner are required")
    unit_printer = DriverUnitPrinter(
        open_printer(unit, template_for(config, "unit")), resolver=config.line.resolver
    )
    case_printer: DriverCasePrinter | None = None
    case = config.device("case_printer")
    if isinstance(case, PrinterDevice):
        case_printer = DriverCasePrinter(open_printer(case, template_for(config, "case")))
    case_scanner = config.device("case_scanner")
    case_reader: ScannerReader | None = None
    if isinstance(case_scanner, ScannerDevice):
        if case_printer is None:
            raise ConfigError("devices: a case_scanner needs a case_printer to verify")
        case_reader = ScannerReader(case_scanner)
    return LineDevices(unit_printer, ScannerReader(verify), case_printer, case_reader)


def template_for(config: LineConfig, name: str) -> Path:
    """The template file a work order or device names, from ``[labels.templates]``."""
    try:
        return config.labels.templates[name]
    except KeyError as exc:
        raise ConfigError(f"labels.templates: no template named {name!r}") from exc


async def poll_printer(
    driver: Driver,
    when: Callable[[], bool],
    interval: float = 1.0,
    *,
    ready: Callable[[], None] | None = None,
) -> None:
    """Ask the printer's status every ``interval`` s while ``when()`` (the line is paused), so
    a cleared fault is seen. Never while printing: the driver polls then, on the same link.

    ``ready()`` is called after a poll that found the printer answering with no fault: a
    link that dropped (a disconnect mid-label) leaves no fault in the printer's own status
    to clear, so its return is only seen this way.
    """
    while True:
        try:
            if when():
                if not driver.transport.is_open:
                    await driver.transport.open()
                status = await driver.status()
                if ready is not None and not status.faults:
                    ready()
        except DeviceError as exc:
            logger.debug("printer status poll failed: %s", exc)
            if "reopen" in str(exc) or isinstance(exc, TransportError):
                # The link dropped: close it so the next poll opens it again.
                with contextlib.suppress(DeviceError, OSError):
                    await driver.transport.close()
        await asyncio.sleep(interval)
