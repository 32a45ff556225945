"""What a scanner driver yields: typed reads and status changes.

A read that cannot be interpreted (invalid UTF-8, wrong check digit, a missing GS, an
overlong line) is still a :class:`ScanRead`, with ``result`` ``None`` and a precise
``error``: bad data never stops a scanner task.

>>> stamp = ReadStamper("verify-1", clock=lambda: 12.5, wall=lambda: _EPOCH)
>>> read = stamp.error(b"\\xff", "invalid UTF-8 at byte 0 (0xff)")
>>> (read.device_id, read.ok, read.error)
('verify-1', False, 'invalid UTF-8 at byte 0 (0xff)')
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from lineside.codecs.framing import AimMode, Frame, split_aim_prefix
from lineside.errors import InvalidInput
from lineside.gs1 import ScanResult, parse_scan

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ScanRead:
    """One read from one scanner.

    ``monotonic`` orders reads and measures latency; ``wall_time`` (UTC) goes into
    events. ``symbology`` is the AIM identifier (``]d2``) when the reader sent one.
    Exactly one of ``result`` and ``error`` is set.
    """

    device_id: str
    monotonic: float
    wall_time: datetime
    symbology: str | None
    raw: bytes
    result: ScanResult | None
    error: str | None
    #: Print-quality grade (A-F) of the symbol, from a grading camera; its lowest
    #: parameter in ``grade_parameter`` (see :mod:`edge.scanners.grading`).
    grade: str | None = None
    grade_parameter: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the read was parsed."""
        return self.error is None


class ScannerState(StrEnum):
    """Where a scanner's link stands."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    #: A TCP-server scanner waits for readers to connect.
    LISTENING = "listening"
    DISCONNECTED = "disconnected"
    #: A finite source (a video file) has ended; no reconnection follows.
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class ScannerStatus:
    """A change in a scanner's link, e.g. "disconnected: connection reset; retry in 2 s"."""

    device_id: str
    monotonic: float
    wall_time: datetime
    state: ScannerState
    detail: str = ""
    retry_in: float | None = None


ScanEvent = ScanRead | ScannerStatus


def _decode_error(data: bytes) -> str | None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start} (0x{data[exc.start]:02x})"
    return None


class ReadStamper:
    """Turns frames into :class:`ScanRead` for one device: timestamps, then parsing.

    ``aim`` says whether reads carry an AIM prefix; when the reader sends none,
    ``default_symbology`` (e.g. ``]d2`` for a verify scanner that reads only GS1
    DataMatrix) is assumed so GS1 data is still recognised.
    """

    def __init__(
        self,
        device_id: str,
        *,
        aim: AimMode = AimMode.AUTO,
        default_symbology: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.device_id = device_id
        self.aim = aim
        self.default_symbology = default_symbology
        self._clock = clock
        self._wall = wall

    def status(
        self, state: ScannerState, detail: str = "", retry_in: float | None = None
    ) -> ScannerStatus:
        """A status event stamped now."""
        return ScannerStatus(self.device_id, self._clock(), self._wall(), state, detail, retry_in)

    def error(self, raw: bytes, message: str, symbology: str | None = None) -> ScanRead:
        """A read that failed before parsing (overlong, undecodable...)."""
        return ScanRead(self.device_id, self._clock(), self._wall(), symbology, raw, None, message)

    def frame(self, frame: Frame) -> ScanRead:
        """Parse a framed line (with or without an AIM prefix)."""
        if frame.error is not None:
            return self.error(frame.data, frame.error)
        symbology, payload = split_aim_prefix(frame.data, self.aim)
        if symbology is None and self.aim is AimMode.REQUIRED:
            return self.error(
                frame.data, "symbology identifier missing: the reader must send an AIM prefix"
            )
        return self.payload(symbology, payload, raw=frame.data)

    def payload(self, symbology: str | None, payload: bytes, raw: bytes | None = None) -> ScanRead:
        """Parse ``payload`` decoded as ``symbology`` (how a camera reports what it saw)."""
        monotonic, wall = self._clock(), self._wall()
        raw = (symbology or "").encode("ascii") + payload if raw is None else raw
        problem = _decode_error(raw)
        if problem is not None:
            return ScanRead(self.device_id, monotonic, wall, symbology, raw, None, problem)
        effective = symbology or self.default_symbology
        data = (effective or "").encode("ascii") + payload
        try:
            result = parse_scan(data)
        except InvalidInput as exc:
            return ScanRead(self.device_id, monotonic, wall, symbology, raw, None, str(exc))
        except Exception as exc:
            # A parser bug must not stop the line: report the read as an error, log loudly.
            logger.exception("parser failed on %r from %s", raw, self.device_id)
            return ScanRead(
                self.device_id,
                monotonic,
                wall,
                symbology,
                raw,
                None,
                f"internal parser error: {type(exc).__name__}: {exc}",
            )
        return ScanRead(self.device_id, monotonic, wall, symbology, raw, result, None)
