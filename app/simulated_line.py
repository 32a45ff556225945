"""The agent's devices on the in-process simulated line.

The edge knows no simulator, and the simulators know no edge: this module, in the
application layer, composes the two. The unit printer of :mod:`simulators.line` puts each
label on a conveyor whose reader transmits, as :class:`~simulators.line.ReadScript`
says, to a :class:`~edge.line_devices.PushReader`, which stamps each transmission into a
read as a scanner driver would. ``lineside edge run --simulate`` and the line benchmark
run the agent's engine on it.

>>> line = simulated_line(SimulationOptions(ReadScript(travel_s=0.005, miss=0.1)))
>>> line.conveyor.script.miss, line.devices.case_reader is None
(0.1, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.line_devices import LineDevices, PushReader
from simulators.line import Conveyor, ReadScript, SimulatedCasePrinter, SimulatedUnitPrinter

#: The verify reader's device id in reads and logs.
READER_ID = "verify-sim"


@dataclass(frozen=True, slots=True)
class SimulationOptions:
    """How the in-process simulated line behaves."""

    #: What the reader makes of each label, and how long the conveyor takes.
    script: ReadScript = field(default_factory=lambda: ReadScript(travel_s=0.005))
    #: Seconds the unit printer takes per label (0: flat out).
    print_s: float = 0.0
    #: How many printed labels the unit printer (and the case printer) remembers.
    keep: int = 10_000


@dataclass(frozen=True, slots=True)
class SimulatedLine:
    """The in-process line's parts; :attr:`devices` is what the agent drives."""

    devices: LineDevices
    printer: SimulatedUnitPrinter
    case_printer: SimulatedCasePrinter
    conveyor: Conveyor
    reader: PushReader


def simulated_line(options: SimulationOptions | None = None) -> SimulatedLine:
    """A unit printer, a conveyor to a verify reader, and a case printer, in process.

    Cases are verified by their count: the in-process line has no case reader.
    """
    options = options or SimulationOptions()
    reader = PushReader(READER_ID)
    conveyor = Conveyor.in_process(reader.transmit, options.script)
    printer = SimulatedUnitPrinter(conveyor.carry, print_s=options.print_s, keep=options.keep)
    case_printer = SimulatedCasePrinter(keep=options.keep)
    devices = LineDevices(unit_printer=printer, verify_reader=reader, case_printer=case_printer)
    return SimulatedLine(devices, printer, case_printer, conveyor, reader)
