"""A simulated physical line: printer simulators and scanner simulators joined by conveyors.

A real packing line has no software between the printer and the verify scanner: a label
comes out of the printer, the conveyor carries it for a moment, and the scanner reads
whatever is in front of it. :class:`PhysicalLine` plays that part between the device
simulators of :mod:`simulators.printers` and :mod:`simulators.scanners`, so the edge agent
talks to them through its normal configuration URLs (``tcp://127.0.0.1:PORT``) and runs its
real printer and scanner drivers:

- every label the unit printer simulator finishes printing is decoded back into the
  symbols it carries (the GS1 DataMatrix of a ZPL unit label, the QR of an ESC/POS one);
- after ``travel_s`` the verify scanner simulator transmits what a real reader would:
  ``]d2`` + the element string with GS separators, or a scripted miss, a misread
  character, garbage bytes or a foreign product's code (:class:`ConveyorScript`);
- case labels from the case printer simulator travel the same way to the case scanner.

The simulators only know time through their own clocks, so :meth:`PhysicalLine.run` also
ticks the printers: a real printer prints whether or not the host asks for its status.

>>> label = b"^XA^FO16,144^BXN,5,200,,,,_^FH\\\\^FD_10108934567890120_121ABC^FS^XZ"
>>> [(s.symbology, s.data) for s in symbols_on_label(label)]
[(']d2', '0108934567890120\\x1d21ABC')]
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from dataclasses import dataclass

from lineside.codecs.zpl import parse_commands, unescape_field
from simulators.printers.engines import EscposEngine, PrintedLabel, ZplEngine
from simulators.scanners.codes import GS, SimCode
from simulators.scanners.line import TcpScannerSimulator

logger = logging.getLogger(__name__)

#: Another company's GS1 unit code, as a stray pack from a neighbouring line would carry.
FOREIGN_CODE = SimCode("]d2", "0108934567890007" + "21" + "STRAY0001")

#: ZPL field data with these barcode commands is a symbol a scanner can read.
_BARCODE_COMMANDS = {"BX": "datamatrix", "BQ": "qr", "BC": "code128"}


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


@dataclass(frozen=True, slots=True)
class ConveyorScript:
    """What the scanner at the end of a conveyor makes of each label; probabilities."""

    #: Seconds from "printed" to "in front of the scanner".
    travel_s: float = 0.05
    miss: float = 0.0
    misread: float = 0.0
    garbage: float = 0.0
    foreign: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        total = 0.0
        for name in ("miss", "misread", "garbage", "foreign"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
            total += value
        if total > 1.0:
            raise ValueError(f"miss + misread + garbage + foreign is {total:g}, more than 1")
        if self.travel_s < 0:
            raise ValueError(f"travel_s must not be negative, got {self.travel_s}")

    def choose(self, rng: random.Random) -> str:
        """``good``, ``miss``, ``misread``, ``garbage`` or ``foreign`` for one label."""
        x = rng.random()
        for name in ("miss", "misread", "garbage", "foreign"):
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
    #: Labels without a readable symbol (a template with no barcode).
    unreadable: int = 0

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


_MISREAD_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


class Conveyor:
    """Carries printed labels from one printer simulator to one scanner simulator.

    ``aim_at`` is the element string prefix of the symbol the scanner is aimed at
    (``"01"`` a unit's DataMatrix, ``"00"`` a case's SSCC); without a match, or with
    ``""``, it reads the first symbol on the label.
    """

    def __init__(
        self,
        printer: ZplEngine | EscposEngine,
        scanner: TcpScannerSimulator,
        script: ConveyorScript | None = None,
        *,
        aim_at: str = "",
    ) -> None:
        self.printer = printer
        self.scanner = scanner
        self.script = script or ConveyorScript()
        self.stats = ConveyorStats()
        self._aim_at = aim_at
        self._rng = random.Random(self.script.seed)
        self._seen = len(printer.printed)
        self._belt: deque[tuple[float, bytes]] = deque()
        self._arrived = asyncio.Event()

    def poll(self, now: float) -> None:
        """Take the labels printed since the last call and put them on the belt."""
        printed = self.printer.printed
        while self._seen < len(printed):
            label = printed[self._seen]
            self._seen += 1
            wire = self._read(label)
            self.stats.labels += 1
            if wire is not None:
                self._belt.append((now + self.script.travel_s, wire))
                self._arrived.set()

    def _read(self, label: PrintedLabel) -> bytes | None:
        symbols = symbols_on_printed(label)
        if not symbols:
            self.stats.count("unreadable")
            return None
        symbol = next((s for s in symbols if s.data.startswith(self._aim_at)), symbols[0])
        outcome = self.script.choose(self._rng)
        self.stats.count(outcome)
        data = symbol.data
        if outcome == "miss":
            return None
        if outcome == "garbage":
            noise = bytes(self._rng.randrange(1, 256) for _ in range(self._rng.randrange(3, 30)))
            return noise.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n"
        if outcome == "foreign":
            return (FOREIGN_CODE.transmitted + "\r\n").encode()
        if outcome == "misread" and data:
            # A damaged module: one character of the serial read as another.
            at = max(data.rfind(GS + "21") + 3, len(data) - 4)
            at = min(at, len(data) - 1)
            choices = [c for c in _MISREAD_ALPHABET if c != data[at]]
            data = data[:at] + self._rng.choice(choices) + data[at + 1 :]
        return (symbol.symbology + data + "\r\n").encode("utf-8")

    async def deliver(self) -> None:
        """Transmit each label's read when it reaches the scanner, in belt order; forever."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._belt:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            due, wire = self._belt[0]
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._belt.popleft()
            await self.scanner.send_raw(wire)

    @property
    def on_belt(self) -> int:
        """Labels printed and not yet in front of the scanner."""
        return len(self._belt)


@dataclass
class PhysicalLine:
    """A unit printer → verify scanner conveyor and, optionally, case printer → case scanner.

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
        """Tick the printers and move the belts until cancelled."""
        loop = asyncio.get_running_loop()
        delivering = [asyncio.create_task(c.deliver()) for c in self.conveyors]
        try:
            while True:
                now = loop.time()
                for conveyor in self.conveyors:
                    printer = conveyor.printer
                    if isinstance(printer, ZplEngine):
                        printer.tick()
                    conveyor.poll(now)
                await asyncio.sleep(self.tick_s)
        finally:
            for task in delivering:
                task.cancel()
            for task in delivering:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # -- faults an operator would meet -----------------------------------------------

    def paper_out_after(self, labels: int) -> None:
        """The unit printer's roll ends after ``labels`` more labels."""
        self.unit.printer.faults.paper_out_after = labels

    def refill(self) -> None:
        """Load a new roll in the unit printer."""
        faults = self.unit.printer.faults
        faults.paper_out_after = None
        faults.paper_out = False

    @property
    def paper_out(self) -> bool:
        return self.unit.printer.faults.paper_out
