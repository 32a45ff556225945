"""A simulated line: a unit printer and a verify camera joined by a conveyor, in-process.

Used by tests, by ``lineside edge run --simulate`` and by the benchmark. The printer hands
each printed label to the conveyor; after ``travel_s`` the camera "reads" it — or misses it,
reads garbage, a foreign code or the wrong product, as scripted — and the read goes to the
engine exactly like a real scanner's :class:`edge.scanners.read.ScanRead` would.

>>> import random
>>> script = ReadScript(miss=0.0, garbage=0.0)
>>> script.choose(random.Random(1))
'good'
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from edge.codes import ContainerLabel, UnitLabel
from edge.scanners.read import ReadStamper, ScanRead
from lineside.errors import PrinterFault

#: A GS1 code of another company's product, as a foreign code on the line would be.
FOREIGN_CODE = b"0108934567890007" + b"21FOREIGN1"


@dataclass(frozen=True, slots=True)
class ReadScript:
    """Probabilities of what the camera makes of a label."""

    miss: float = 0.0
    garbage: float = 0.0
    foreign: float = 0.0
    wrong_product: float = 0.0

    def choose(self, rng: random.Random) -> str:
        x = rng.random()
        for name in ("miss", "garbage", "foreign", "wrong_product"):
            p: float = getattr(self, name)
            if x < p:
                return name
            x -= p
        return "good"


class SimulatedUnitPrinter:
    """Prints instantly (or after ``print_s``); runs out of paper after ``paper_out_after``."""

    def __init__(
        self,
        conveyor: Callable[[UnitLabel], None],
        *,
        print_s: float = 0.0,
        paper_out_after: int | None = None,
        keep: int = 10_000,
    ) -> None:
        self._conveyor = conveyor
        self._print_s = print_s
        self._paper_left = paper_out_after
        #: The last ``keep`` labels printed (bounded: the simulator may run for days).
        self.printed: deque[UnitLabel] = deque(maxlen=keep)
        self.status_listeners: list[Callable[[str | None], None]] = []

    async def print_unit(self, label: UnitLabel) -> None:
        if self._paper_left is not None and self._paper_left <= 0:
            for listener in self.status_listeners:
                listener("paper out")
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
        for listener in self.status_listeners:
            listener(None)


class SimulatedCasePrinter:
    def __init__(self) -> None:
        self.printed: list[ContainerLabel] = []

    async def print_container(self, label: ContainerLabel) -> None:
        self.printed.append(label)


class SimulatedVerifyCamera:
    """Reads each label ``travel_s`` after it is printed, as ``script`` says."""

    def __init__(
        self,
        deliver: Callable[[ScanRead], None],
        *,
        travel_s: float = 0.005,
        script: ReadScript | None = None,
        seed: int = 0,
    ) -> None:
        self._deliver = deliver
        self._travel = travel_s
        self._script = script or ReadScript()
        self._rng = random.Random(seed)
        self._stamper = ReadStamper("verify-sim")

    def carry(self, label: UnitLabel) -> None:
        """Put a printed label on the conveyor."""
        outcome = self._script.choose(self._rng)
        asyncio.get_running_loop().call_later(self._travel, self._read, label, outcome)

    def _read(self, label: UnitLabel, outcome: str) -> None:
        if outcome == "miss":
            return
        if outcome == "garbage":
            data = bytes(self._rng.randrange(256) for _ in range(self._rng.randrange(1, 40)))
            self._deliver(self._stamper.payload(None, data))
            return
        if outcome == "foreign":
            self._deliver(self._stamper.payload("]d2", FOREIGN_CODE))
            return
        text = label.element_string
        if outcome == "wrong_product":
            text = text.replace(label.gtin, "08934567890007", 1)
        self._deliver(self._stamper.payload("]d2", text.encode()))

    def read_code(self, data: bytes, symbology: str | None = "]d2") -> None:
        """Deliver an arbitrary read now (tests)."""
        self._deliver(self._stamper.payload(symbology, data))
