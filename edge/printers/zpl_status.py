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
    #: ESC/POS only: the paper roll is nearly empty (still printing).
    paper_near_end: bool = False

    @property
    def faults(self) -> tuple[str, ...]:
        """Names of the conditions that stop printing, e.g. ``('paper_out',)``."""
        names = ("paper_out", "ribbon_out", "head_open", "paused", "buffer_full")
        active = tuple(name for name in names if getattr(self, name))
        return active if self.online else ("offline", *active)

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
        head_open=_flag(two[2], "string 2 field 3 (head up)"),
        ribbon_out=_flag(two[3], "string 2 field 4 (ribbon out)"),
        labels_remaining=_number(two[8], "string 2 field 9 (labels remaining)"),
    )


def format_host_status(status: PrinterStatus, label_length_dots: int = 320) -> bytes:
    """The ``~HS`` reply a Zebra would send for ``status`` (for simulators and tests)."""

    def b(flag: bool) -> str:
        return "1" if flag else "0"

    one = (
        f"030,{b(status.paper_out)},{b(status.paused)},{label_length_dots:04d},"
        f"{min(status.formats_in_buffer, 999):03d},{b(status.buffer_full)},0,"
        f"{b(status.partial_format)},000,0,0,0"
    )
    two = (
        f"001,0,{b(status.head_open)},{b(status.ribbon_out)},0,2,6,0,"
        f"{min(status.labels_remaining, 99999999):08d},1,000"
    )
    three = "1234,0"
    return b"".join(STX + s.encode("ascii") + ETX + b"\r\n" for s in (one, two, three))
