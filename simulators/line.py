"""The simulated packing line: printers and readers joined by conveyors, in process or on wires.

A real packing line has no software between the printer and the verify scanner: a label
comes out of the printer, the conveyor carries it for a moment, and the scanner reads
whatever is in front of it. A :class:`Conveyor` plays that part. A :class:`ReadScript`
says what the reader at its end makes of each label: a good read (``]d2`` + the element
string with GS separators), or a miss, a misread character, garbage bytes, another
company's code (:data:`FOREIGN_CODE`) or the right serial under the wrong product. The
reader transmits ``travel_s`` after the label was printed, in belt order.

The line runs in one of two modes, with the same script and the same counts
(:class:`ConveyorStats`):

- **in process** (``lineside edge run --simulate``, the line benchmark, engine tests):
  :class:`SimulatedUnitPrinter` puts each unit label it is given straight on the conveyor
  (:meth:`Conveyor.in_process`), whose reader hands each transmission to a callback, and
  :class:`SimulatedCasePrinter` keeps the case labels. No socket, no clock but the loop's.
- **on the wire** (``lineside sim line``, the demo, end-to-end tests): the agent prints
  through its real drivers to the printer simulators of :mod:`simulators.printers` on TCP
  ports; the conveyor (:meth:`Conveyor.on_the_wire`) decodes the symbols each printed
  label carries (:func:`symbols_on_label`) and the scanner simulators of
  :mod:`simulators.scanners` transmit the reads on TCP ports to the agent's real scanner
  drivers. :class:`PhysicalLine` moves the belts and ticks the printers' clocks: a real
  printer prints whether or not the host asks for its status.

>>> label = b"^XA^FO16,144^BXN,5,200,,,,_^FH\\\\^FD_10108934567890120_121ABC^FS^XZ"
>>> [(s.symbology, s.data) for s in symbols_on_label(label)]
[(']d2', '0108934567890120\\x1d21ABC')]
>>> ReadScript(miss=0.5).choose(random.Random(1))
'miss'
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from lineside.codecs.zpl import parse_commands, unescape_field
from lineside.contract import AlarmCode
from lineside.errors import PrinterFault
from simulators.printers.engines import EscposEngine, PrintedLabel, ZplEngine
from simulators.scanners.codes import GS, SimCode
from simulators.scanners.line import TcpScannerSimulator

logger = logging.getLogger(__name__)

#: Another company's GS1 unit code, as a stray pack from a neighbouring line would carry.
FOREIGN_CODE = SimCode("]d2", "0108934567890007" + "21" + "STRAY0001")
#: The GTIN of the wrong product (a label roll of the product made before this one).
WRONG_GTIN = "08934567890007"

#: What a reader can make of a label, in the order :meth:`ReadScript.choose` draws them.
OUTCOMES = ("miss", "misread", "garbage", "foreign", "wrong_product")

#: ZPL field data with these barcode commands is a symbol a scanner can read.
_BARCODE_COMMANDS = {"BX": "datamatrix", "BQ": "qr", "BC": "code128"}
_MISREAD_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


# --------------------------------------------------------------------------- the script


@dataclass(frozen=True, slots=True)
class ReadScript:
    """What the reader at the end of a conveyor makes of each label; probabilities.

    >>> ReadScript(miss=0.6, garbage=0.6)
    Traceback (most recent call last):
    ...
    ValueError: miss + misread + garbage + foreign + wrong_product is 1.2, more than 1
    """

    #: Seconds from "printed" to "in front of the reader".
    travel_s: float = 0.05
    miss: float = 0.0
    #: One character of the serial read as another (a damaged module).
    misread: float = 0.0
    garbage: float = 0.0
    foreign: float = 0.0
    #: The right serial under another product's GTIN.
    wrong_product: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        total = 0.0
        for name in OUTCOMES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
            total += value
        if total > 1.0:
            raise ValueError(f"{' + '.join(OUTCOMES)} is {total:g}, more than 1")
        if self.travel_s < 0:
            raise ValueError(f"travel_s must not be negative, got {self.travel_s}")

    def choose(self, rng: random.Random) -> str:
        """``good`` or one of :data:`OUTCOMES` for one label."""
        x = rng.random()
        for name in OUTCOMES:
            p: float = getattr(self, name)
            if x < p:
                return name
            x -= p
        return "good"


@dataclass(slots=True)
class ConveyorStats:
    """What happened on one conveyor so far."""

    labels: int = 0
    good: int = 0
    miss: int = 0
    misread: int = 0
    garbage: int = 0
    foreign: int = 0
    wrong_product: int = 0
    #: Labels without a readable symbol (a template with no barcode).
    unreadable: int = 0

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def add(self, other: ConveyorStats) -> None:
        """Add ``other``'s counts to these (several lines' totals)."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True, slots=True)
class Transmission:
    """What a reader sends for one label: an AIM identifier (none for noise) and data."""

    symbology: str | None
    data: bytes

    @property
    def line(self) -> bytes:
        """As a line reader sends it: identifier, data, CR LF."""
        return (self.symbology or "").encode("ascii") + self.data + b"\r\n"


# --------------------------------------------------------------------------- the symbols


def _datamatrix(data: str, params: bytes) -> SimCode:
    fields = params.decode("ascii", "replace").split(",")
    escape = fields[6] if len(fields) > 6 and fields[6] else None
    if escape is not None and data.startswith(escape + "1"):
        body = data[2:].replace(escape + "1", GS)
        return SimCode("]d2", body)
    return SimCode("]d1", data)


def _qr(data: str) -> SimCode:
    # ^BQ field data starts with the error correction level and input mode ("MA,").
    text = data.split(",", 1)[1] if "," in data[:4] else data
    return SimCode("]Q1", text)


def _code128(data: str) -> SimCode:
    gs1 = data.startswith((">;>8", ">8"))
    out: list[str] = []
    i = 0
    while i < len(data):
        if data[i] == ">" and i + 1 < len(data):
            code = data[i + 1]
            if code == "8":
                out.append(GS)
            elif code == ">":
                out.append(">")
            # >; >: >9 >5 >6 >7 switch subsets or start codes: nothing is encoded.
            i += 2
            continue
        out.append(data[i])
        i += 1
    text = "".join(out).lstrip(GS)
    return SimCode("]C1" if gs1 else "]C0", text)


def symbols_on_label(raw: bytes) -> list[SimCode]:
    """The symbols a scanner could read on one ZPL label, in the order they are drawn.

    DataMatrix with an FNC1 escape character becomes ``]d2`` with GS separators,
    QR codes ``]Q1``, Code 128 with a leading FNC1 (``>;>8``) ``]C1``.
    """
    found: list[SimCode] = []
    barcode: tuple[str, bytes] | None = None
    hex_escape = False
    for command in parse_commands(raw):
        name = command.name
        if name in _BARCODE_COMMANDS:
            barcode = (name, command.params)
        elif name == "FH":
            hex_escape = True
        elif name == "FD" and barcode is not None:
            params = unescape_field(command.params) if hex_escape else command.params
            data = params.decode("utf-8", "replace")
            kind, bc_params = barcode
            if kind == "BX":
                found.append(_datamatrix(data, bc_params))
            elif kind == "BQ":
                found.append(_qr(data))
            else:
                found.append(_code128(data))
        elif name == "FS":
            barcode = None
            hex_escape = False
    return found


def symbols_on_printed(label: PrintedLabel) -> list[SimCode]:
    """The readable symbols of a label a printer simulator printed (ZPL or ESC/POS)."""
    if label.kind == "zpl":
        return symbols_on_label(label.raw)
    # The ESC/POS simulator keeps QR and 1D data as fields; a Digital Link QR is what a
    # scanner reads on a thermal unit label.
    return [
        SimCode("]Q1", text) if text.startswith("http") else SimCode("]C0", text)
        for text in label.fields
    ]


# --------------------------------------------------------------------------- the conveyor


class UnitLabelData(Protocol):
    """What the in-process line needs of a unit label (the agent's ``UnitLabel`` fits)."""

    @property
    def serial(self) -> str: ...

    @property
    def gtin(self) -> str: ...

    @property
    def element_string(self) -> str: ...


class CaseLabelData(Protocol):
    """What the in-process line keeps of a case or pallet label."""

    @property
    def sscc(self) -> str: ...

    @property
    def element_string(self) -> str: ...


class Conveyor:
    """Carries printed labels to a reader, which transmits what :class:`ReadScript` says.

    Build one with :meth:`in_process` or :meth:`on_the_wire`. ``aim_at`` is the element
    string prefix of the symbol the reader is aimed at (``"01"`` a unit's DataMatrix,
    ``"00"`` a case's SSCC); without a match, or with ``""``, it reads the first symbol on
    the label.
    """

    def __init__(
        self,
        script: ReadScript | None = None,
        *,
        aim_at: str = "",
        reader: Callable[[str | None, bytes], None] | None = None,
        printer: ZplEngine | EscposEngine | None = None,
        scanner: TcpScannerSimulator | None = None,
    ) -> None:
        self.script = script or ReadScript()
        self.stats = ConveyorStats()
        self.printer = printer
        self.scanner = scanner
        self._reader = reader
        self._aim_at = aim_at
        self._rng = random.Random(self.script.seed)
        self._seen = len(printer.printed) if printer is not None else 0
        self._belt: deque[tuple[float, Transmission]] = deque()
        self._arrived = asyncio.Event()

    @classmethod
    def in_process(
        cls, reader: Callable[[str | None, bytes], None], script: ReadScript | None = None
    ) -> Conveyor:
        """Labels come from :meth:`carry`; ``reader(symbology, data)`` gets each read."""
        return cls(script, reader=reader)

    @classmethod
    def on_the_wire(
        cls,
        printer: ZplEngine | EscposEngine,
        scanner: TcpScannerSimulator,
        script: ReadScript | None = None,
        *,
        aim_at: str = "",
    ) -> Conveyor:
        """Labels come from ``printer`` (a printer simulator's engine, see :meth:`poll`);
        ``scanner`` transmits the reads (see :meth:`deliver`)."""
        return cls(script, aim_at=aim_at, printer=printer, scanner=scanner)

    # -- what the reader makes of a label ----------------------------------------------

    def read(self, symbols: Sequence[SimCode]) -> Transmission | None:
        """Count one label and decide its transmission (``None``: nothing is sent)."""
        if not symbols:
            self.stats.labels += 1
            self.stats.count("unreadable")
            return None
        symbol = next((s for s in symbols if s.data.startswith(self._aim_at)), symbols[0])
        return self._read_symbol(symbol)

    def _read_symbol(self, symbol: SimCode) -> Transmission | None:
        self.stats.labels += 1
        outcome = self.script.choose(self._rng)
        self.stats.count(outcome)
        data = symbol.data
        if outcome == "miss":
            return None
        if outcome == "garbage":
            noise = bytes(self._rng.randrange(1, 256) for _ in range(self._rng.randrange(3, 30)))
            return Transmission(None, noise.replace(b"\r", b"").replace(b"\n", b""))
        if outcome == "foreign":
            return Transmission(FOREIGN_CODE.symbology, FOREIGN_CODE.data.encode())
        if outcome == "wrong_product" and data.startswith("01") and len(data) >= 16:
            data = "01" + WRONG_GTIN + data[16:]
        elif outcome == "misread" and data:
            # A damaged module: one character of the serial read as another.
            at = max(data.rfind(GS + "21") + 3, len(data) - 4)
            at = min(at, len(data) - 1)
            choices = [c for c in _MISREAD_ALPHABET if c != data[at]]
            data = data[:at] + self._rng.choice(choices) + data[at + 1 :]
        return Transmission(symbol.symbology, data.encode("utf-8"))

    # -- in process ----------------------------------------------------------------------

    def carry(self, label: UnitLabelData) -> None:
        """Put a printed unit label on the belt; its read reaches the reader ``travel_s``
        later."""
        transmission = self._read_symbol(SimCode("]d2", label.element_string))
        if transmission is not None:
            loop = asyncio.get_running_loop()
            loop.call_later(self.script.travel_s, self._hand_over, transmission)

    def _hand_over(self, transmission: Transmission) -> None:
        if self._reader is None:
            raise RuntimeError("an in-process conveyor needs a reader: use Conveyor.in_process")
        self._reader(transmission.symbology, transmission.data)

    # -- on the wire ---------------------------------------------------------------------

    def poll(self, now: float) -> None:
        """Take the labels the printer simulator printed since the last call onto the belt."""
        if self.printer is None:
            return
        printed = self.printer.printed
        while self._seen < len(printed):
            label = printed[self._seen]
            self._seen += 1
            transmission = self.read(symbols_on_printed(label))
            if transmission is not None:
                self._belt.append((now + self.script.travel_s, transmission))
                self._arrived.set()

    async def deliver(self) -> None:
        """Transmit each label's read when it reaches the scanner, in belt order; forever."""
        if self.scanner is None:
            raise RuntimeError("a conveyor on the wire needs a scanner: use Conveyor.on_the_wire")
        loop = asyncio.get_running_loop()
        while True:
            if not self._belt:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            due, transmission = self._belt[0]
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._belt.popleft()
            await self.scanner.send_raw(transmission.line)

    @property
    def on_belt(self) -> int:
        """Labels printed and not yet in front of the scanner (on the wire)."""
        return len(self._belt)


# --------------------------------------------------------------------------- in process


class SimulatedUnitPrinter:
    """Prints at once (or after ``print_s``) onto a conveyor; runs out of paper after
    ``paper_out_after`` labels.

    It is a unit printer as the agent drives one: :meth:`watch` hears of paper out and
    of the refill; opening, closing and supervising have nothing to do.
    """

    def __init__(
        self,
        conveyor: Callable[[UnitLabelData], None],
        *,
        print_s: float = 0.0,
        paper_out_after: int | None = None,
        keep: int = 10_000,
    ) -> None:
        self._conveyor = conveyor
        self._print_s = print_s
        self._paper_left = paper_out_after
        #: The last ``keep`` labels printed (bounded: the simulator may run for days).
        self.printed: deque[UnitLabelData] = deque(maxlen=keep)
        self._listeners: list[Callable[[str | None, AlarmCode], None]] = []

    async def open(self) -> None:
        """Nothing to connect: the printer is in process."""

    async def close(self) -> None:
        """Nothing to disconnect."""

    def watch(self, report: Callable[[str | None, AlarmCode], None]) -> None:
        """Call ``report("paper out", PAPER_OUT)`` when the roll ends, ``report(None, ...)``
        when it is refilled."""
        self._listeners.append(report)

    async def supervise(
        self, paused: Callable[[], bool], report: Callable[[str | None, AlarmCode], None]
    ) -> None:
        """Nothing to poll: the simulated printer reports its faults itself."""

    def _report(self, fault: str | None) -> None:
        for listener in self._listeners:
            listener(fault, AlarmCode.PAPER_OUT)

    async def print_unit(self, label: UnitLabelData) -> None:
        if self._paper_left is not None and self._paper_left <= 0:
            self._report("paper out")
            raise PrinterFault("paper out")
        if self._print_s:
            await asyncio.sleep(self._print_s)
        if self._paper_left is not None:
            self._paper_left -= 1
        self.printed.append(label)
        self._conveyor(label)

    def refill(self, labels: int | None = None) -> None:
        """Load paper (``None``: never runs out again) and report the printer ready."""
        self._paper_left = labels
        self._report(None)


class SimulatedCasePrinter:
    """Keeps the last ``keep`` case and pallet labels it is asked to print (bounded: the
    simulator may run for days)."""

    def __init__(self, keep: int = 10_000) -> None:
        self.printed: deque[CaseLabelData] = deque(maxlen=keep)

    async def open(self) -> None:
        """Nothing to connect: the printer is in process."""

    async def close(self) -> None:
        """Nothing to disconnect."""

    async def print_container(self, label: CaseLabelData) -> None:
        self.printed.append(label)


# --------------------------------------------------------------------------- on the wire


@dataclass
class PhysicalLine:
    """A unit printer → verify scanner conveyor and, optionally, case printer → case scanner,
    all on the wire (see :meth:`Conveyor.on_the_wire`).

    Run :meth:`run` as a task next to the simulators (their servers must be started);
    cancel it to stop the belts.
    """

    unit: Conveyor
    case: Conveyor | None = None
    #: How often the belts and the printers' clocks advance.
    tick_s: float = 0.001

    @property
    def conveyors(self) -> list[Conveyor]:
        return [c for c in (self.unit, self.case) if c is not None]

    async def run(self) -> None:
        """Tick the printers and move the belts until cancelled.

        Every ``tick_s`` while a printer holds labels; otherwise the line waits until a
        printer is fed (an idle line costs nothing).
        """
        loop = asyncio.get_running_loop()
        fed = asyncio.Event()
        printers = [c.printer for c in self.conveyors if c.printer is not None]
        for printer in printers:
            printer.on_feed = fed.set
        delivering = [asyncio.create_task(c.deliver()) for c in self.conveyors]
        try:
            while True:
                fed.clear()
                now = loop.time()
                for conveyor in self.conveyors:
                    if isinstance(conveyor.printer, ZplEngine):
                        conveyor.printer.tick()
                    conveyor.poll(now)
                if any(printer.holds_labels for printer in printers):
                    await asyncio.sleep(self.tick_s)
                else:
                    await fed.wait()
        finally:
            for printer in printers:
                printer.on_feed = None
            for task in delivering:
                task.cancel()
            for task in delivering:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # -- faults an operator would meet -----------------------------------------------

    def _unit_printer(self) -> ZplEngine | EscposEngine:
        if self.unit.printer is None:
            raise RuntimeError("the unit conveyor has no printer simulator")
        return self.unit.printer

    def paper_out_after(self, labels: int) -> None:
        """The unit printer's roll ends after ``labels`` more labels."""
        self._unit_printer().faults.paper_out_after = labels

    def refill(self) -> None:
        """Load a new roll in the unit printer."""
        faults = self._unit_printer().faults
        faults.paper_out_after = None
        faults.paper_out = False

    @property
    def paper_out(self) -> bool:
        return self._unit_printer().faults.paper_out
