"""Barcode scanners: serial, TCP (client and server), USB-HID keyboard wedge, cameras.

Every driver yields typed :class:`ScanRead` objects; a read that cannot be interpreted
carries a precise ``error`` and never stops the scanner::

    scanner = open_scanner("serial:///dev/ttyACM0?terminator=cr", "verify-1")
    async with contextlib.aclosing(scanner.reads()) as reads:
        async for read in reads:
            handle(read.result if read.ok else read.error)

Framing (:mod:`lineside.codecs.framing`), key decoding (:mod:`edge.scanners.hid`) and the
self-test (:mod:`edge.scanners.selftest`) are sans-I/O and tested without devices.
"""

from edge.scanners.base import Scanner
from edge.scanners.read import ReadStamper, ScanEvent, ScannerState, ScannerStatus, ScanRead
from edge.scanners.urls import open_scanner
from lineside.codecs.framing import AimMode, Frame, LineFramer, split_aim_prefix

__all__ = [
    "AimMode",
    "Frame",
    "LineFramer",
    "ReadStamper",
    "ScanEvent",
    "ScanRead",
    "Scanner",
    "ScannerState",
    "ScannerStatus",
    "open_scanner",
    "split_aim_prefix",
]
