"""Parse (and, for simulators, format) a Zebra's ``~HS`` host status reply.

The reply is three ``STX ... ETX CR LF`` strings of comma-separated fields::

    1: aaa,b,c,dddd,eee,f,g,h,iii,j,k,l   b paper out, c paused, eee formats in buffer,
                                          f buffer full, h partial format
    2: mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www   o head open, p ribbon out, uuuuuuuu labels
                                          remaining in the batch
    3: xxxx,y

>>> s = parse_host_status(format_host_status(PrinterStatus(paper_out=True, formats_in_buffer=2)))
>>> s.paper_out, s.formats_in_buffer, s.ready
(True, 2, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from lineside.errors import InvalidInput

STX, ETX = b"\x02", b"\x03"


class StatusReplyError(InvalidInput):
    """A status reply from a printer is malformed (garbage, truncated, wrong fields)."""


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """What a printer reports about itself; shared by the ZPL and ESC/POS drivers."""

    online: bool = True
    paper_out: bool = False
    ribbon_out: bool = False
    head_open: bool = False
    paused: bool = False
    buffer_full: bool = False
    formats_in_buffer: int = 0
    labels_remaining: int = 0
    partial_format: bool = False
    #: The paper roll is nearly empty (still printing): ESC/POS, or a ~HQES warning.
    paper_near_end: bool = False
    #: From ~HQES (or ~HS over-temperature): conditions ~HS alone cannot report.
    cutter_fault: bool = False
    head_too_hot: bool = False
    motor_too_hot: bool = False
    #: Printhead element bad, printhead not detected or its thermistor open.
    head_fault: bool = False
    #: The raw ~HQES error and warning flags (0 when the printer was not asked).
    error_flags: int = 0
    warning_flags: int = 0

    @property
    def faults(self) -> tuple[str, ...]:
        """Names of the conditions that stop printing, e.g. ``('paper_out',)``.

        ~HQES error bits without a field of their own appear as ``error_0x...``.
        """
        active = tuple(name for name in _FAULT_FIELDS if getattr(self, name))
        other = self.error_flags & ~_NAMED_ERROR_MASK
        if other:
            active = (*active, f"error_0x{other:016X}")
        return active if self.online else ("offline", *active)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Names of the ~HQES warnings (and ``paper_near_end``); printing goes on."""
        names = [name for bit, name in WARNING_BITS.items() if self.warning_flags & bit]
        if self.paper_near_end and "paper_near_end" not in names:
            names.append("paper_near_end")
        return tuple(names)

    @property
    def ready(self) -> bool:
        """Whether a new label can be sent now."""
        return not self.faults

    @property
    def busy(self) -> bool:
        """Whether labels are still queued or printing."""
        return self.formats_in_buffer > 0 or self.labels_remaining > 0 or self.partial_format

    def with_changes(self, **changes: bool | int) -> PrinterStatus:
        """A copy with some fields changed (used by simulators)."""
        return replace(self, **changes)  # type: ignore[arg-type]


_FAULT_FIELDS = (
    "paper_out",
    "ribbon_out",
    "head_open",
    "paused",
    "buffer_full",
    "cutter_fault",
    "head_too_hot",
    "motor_too_hot",
    "head_fault",
)

#: ~HQES error bits (low word) and the :class:`PrinterStatus` field each sets.
ERROR_BITS: dict[int, str] = {
    0x001: "paper_out",  # media out
    0x002: "ribbon_out",
    0x004: "head_open",
    0x008: "cutter_fault",
    0x010: "head_too_hot",  # printhead over temperature
    0x020: "motor_too_hot",
    0x040: "head_fault",  # bad printhead element
    0x080: "head_fault",  # printhead detection error
    0x200: "head_fault",  # printhead thermistor open
}
_NAMED_ERROR_MASK = sum(ERROR_BITS)
#: ~HQES warning bits (low word) and their names.
WARNING_BITS: dict[int, str] = {
    0x1: "calibrate_media",
    0x2: "clean_head",
    0x4: "replace_head",
    0x8: "paper_near_end",
}


def _flag(text: bytes, where: str) -> bool:
    if text not in (b"0", b"1"):
        raise StatusReplyError(f"~HS {where}: expected 0 or 1, got {text!r}")
    return text == b"1"


def _number(text: bytes, where: str) -> int:
    # ~HS numbers have at most 8 digits; longer is garbage (and int() refuses > 4300).
    if not text.isdigit() or len(text) > 8:
        raise StatusReplyError(f"~HS {where}: expected up to 8 digits, got {text[:16]!r}")
    return int(text)


def split_frames(data: bytes) -> tuple[list[bytes], bytes]:
    """Split complete ``STX..ETX`` frames from ``data``; return them and the remainder.

    Bytes before an STX are dropped (line noise). ``"need more bytes"`` is a normal
    answer: an incomplete frame stays in the remainder.

    >>> split_frames(b"\\x02a\\x03\\r\\n\\x02b")
    ([b'a'], b'\\x02b')
    """
    frames: list[bytes] = []
    # An offset, not re-slicing the rest: many short frames must cost linear time.
    position = 0
    while True:
        start = data.find(STX, position)
        if start < 0:
            return frames, b""
        end = data.find(ETX, start + 1)
        if end < 0:
            return frames, data[start:]
        frames.append(data[start + 1 : end])
        position = end + 1


def parse_host_status(reply: bytes) -> PrinterStatus:
    """Parse a complete ``~HS`` reply (three framed strings).

    Raises :class:`StatusReplyError` naming the string and field that is wrong.
    """
    frames, _ = split_frames(reply)
    if len(frames) != 3:
        raise StatusReplyError(f"~HS reply: expected 3 framed strings, got {len(frames)}")
    return _host_status(frames)


def _host_status(frames: list[bytes]) -> PrinterStatus:
    one = frames[0].split(b",")
    two = frames[1].split(b",")
    if len(one) != 12:
        raise StatusReplyError(f"~HS string 1: expected 12 fields, got {len(one)}")
    if len(two) != 11:
        raise StatusReplyError(f"~HS string 2: expected 11 fields, got {len(two)}")
    return PrinterStatus(
        online=True,
        paper_out=_flag(one[1], "string 1 field 2 (paper out)"),
        paused=_flag(one[2], "string 1 field 3 (pause)"),
        formats_in_buffer=_number(one[4], "string 1 field 5 (formats in buffer)"),
        buffer_full=_flag(one[5], "string 1 field 6 (buffer full)"),
        partial_format=_flag(one[7], "string 1 field 8 (partial format)"),
        head_too_hot=_flag(one[11], "string 1 field 12 (over temperature)"),
        head_open=_flag(two[2], "string 2 field 3 (head up)"),
        ribbon_out=_flag(two[3], "string 2 field 4 (ribbon out)"),
        labels_remaining=_number(two[8], "string 2 field 9 (labels remaining)"),
    )


def parse_status_replies(reply: bytes, *, host_query: bool) -> PrinterStatus:
    """Parse the replies to ``~HS`` and, with ``host_query``, ``~HQES`` sent right after it.

    >>> both = format_host_status(PrinterStatus()) + format_host_query(HostQueryStatus(8))
    >>> parse_status_replies(both, host_query=True).faults
    ('cutter_fault',)
    """
    frames, _ = split_frames(reply)
    expected = 4 if host_query else 3
    if len(frames) != expected:
        what = "~HS and ~HQES replies" if host_query else "~HS reply"
        raise StatusReplyError(f"{what}: expected {expected} framed strings, got {len(frames)}")
    status = _host_status(frames[:3])
    if host_query:
        status = _host_query(frames[3]).apply_to(status)
    return status


def format_host_status(status: PrinterStatus, label_length_dots: int = 320) -> bytes:
    """The ``~HS`` reply a Zebra would send for ``status`` (for simulators and tests)."""

    def b(flag: bool) -> str:
        return "1" if flag else "0"

    one = (
        f"030,{b(status.paper_out)},{b(status.paused)},{label_length_dots:04d},"
        f"{min(status.formats_in_buffer, 999):03d},{b(status.buffer_full)},0,"
        f"{b(status.partial_format)},000,0,0,{b(status.head_too_hot)}"
    )
    two = (
        f"001,0,{b(status.head_open)},{b(status.ribbon_out)},0,2,6,0,"
        f"{min(status.labels_remaining, 99999999):08d},1,000"
    )
    three = "1234,0"
    return b"".join(STX + s.encode("ascii") + ETX + b"\r\n" for s in (one, two, three))


HQES_HEADER = "PRINTER STATUS"
_HQES_LINE = re.compile(r"^\s*(ERRORS|WARNINGS):\s*([01])\s+([0-9A-F]{8})\s+([0-9A-F]{8})\s*$")


@dataclass(frozen=True, slots=True)
class HostQueryStatus:
    """The ``~HQES`` reply: 64 bits of error flags and 64 of warning flags.

    >>> q = parse_host_query(format_host_query(HostQueryStatus(errors=0x18)))
    >>> q.apply_to(PrinterStatus()).faults
    ('cutter_fault', 'head_too_hot')
    """

    errors: int = 0
    warnings: int = 0

    @classmethod
    def from_status(cls, status: PrinterStatus) -> HostQueryStatus:
        """The flags a printer in ``status`` reports (for simulators)."""
        errors = status.error_flags
        for bit, name in ERROR_BITS.items():
            # Several bits mean head_fault: set the first only when none of them is set.
            same = sum(b for b, n in ERROR_BITS.items() if n == name)
            if getattr(status, name) and not errors & same:
                errors |= bit
        warnings = status.warning_flags | (0x8 if status.paper_near_end else 0)
        return cls(errors, warnings)

    def apply_to(self, status: PrinterStatus) -> PrinterStatus:
        """``status`` (from ``~HS``) with these flags added: a flag only ever adds a fault."""
        changes: dict[str, bool | int] = {"error_flags": self.errors}
        for bit, name in ERROR_BITS.items():
            if self.errors & bit:
                changes[name] = True
        changes["warning_flags"] = self.warnings
        if self.warnings & 0x8:
            changes["paper_near_end"] = True
        return status.with_changes(**changes)


def parse_host_query(reply: bytes) -> HostQueryStatus:
    """Parse a complete ``~HQES`` reply (one framed block).

    Raises :class:`StatusReplyError` naming what is missing or malformed.
    """
    frames, _ = split_frames(reply)
    if len(frames) != 1:
        raise StatusReplyError(f"~HQES reply: expected 1 framed block, got {len(frames)}")
    return _host_query(frames[0])


def _host_query(frame: bytes) -> HostQueryStatus:
    try:
        text = frame.decode("ascii")
    except UnicodeDecodeError as exc:
        raise StatusReplyError(
            f"~HQES reply: byte 0x{frame[exc.start]:02X} at {exc.start} is not ASCII"
        ) from exc
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if HQES_HEADER not in lines:
        raise StatusReplyError(f"~HQES reply: no {HQES_HEADER!r} line in {text[:40]!r}")
    values: dict[str, int] = {}
    for line in lines:
        match = _HQES_LINE.match(line.upper())
        if match is not None:
            values[match.group(1)] = int(match.group(3) + match.group(4), 16)
        elif line.upper().startswith(("ERRORS", "WARNINGS")):
            raise StatusReplyError(
                f"~HQES reply: {line!r}: expected 'NAME: f hhhhhhhh hhhhhhhh' "
                "(a 0/1 flag and two groups of 8 hex digits)"
            )
    for name in ("ERRORS", "WARNINGS"):
        if name not in values:
            raise StatusReplyError(f"~HQES reply: no {name} line")
    return HostQueryStatus(values["ERRORS"], values["WARNINGS"])


def format_host_query(query: HostQueryStatus) -> bytes:
    """The ``~HQES`` reply a Zebra would send for these flags (for simulators and tests)."""

    def line(name: str, bits: int) -> str:
        return f"   {name + ':':<16}{int(bits != 0)} {bits >> 32:08X} {bits & 0xFFFFFFFF:08X}\r\n"

    body = "\r\n\r\n  " + HQES_HEADER + "\r\n"
    body += line("ERRORS", query.errors) + line("WARNINGS", query.warnings)
    return STX + body.encode("ascii") + ETX
