"""Printer simulators: a Zebra-like ZPL printer and an ESC/POS printer.

Each speaks the real wire protocol on a real TCP port and/or a pseudo-terminal,
answers status queries like the device, prints at a configurable speed, keeps every
printed label as data, and injects faults on demand (Python API or control channel).
"""

from simulators.printers.engines import EscposEngine, Faults, PrintedLabel, ZplEngine
from simulators.printers.server import PrinterSimulator

__all__ = ["EscposEngine", "Faults", "PrintedLabel", "PrinterSimulator", "ZplEngine"]
