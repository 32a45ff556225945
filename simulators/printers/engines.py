"""The simulated printers' logic, sans I/O: ``feed(bytes) -> reply bytes``, ``tick()``.

>>> engine = ZplEngine()
>>> engine.feed(b"~HS")[:4]
b'\\x02030'
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from PIL import Image

from lineside.codecs.escpos import DLE_EOT, format_dle_eot
from lineside.codecs.zpl import parse_commands, unescape_field
from lineside.codecs.zpl_status import (
    HostQueryStatus,
    PrinterStatus,
    format_host_query,
    format_host_status,
)


@dataclass
class Faults:
    """Faults to inject; change them at any time."""

    #: Paper runs out after this many more labels (``None``: never).
    paper_out_after: int | None = None
    paper_out: bool = False
    head_open: bool = False
    ribbon_out: bool = False
    #: Reported by ~HQES only (and ~HS over temperature for ``head_too_hot``).
    cutter_fault: bool = False
    head_too_hot: bool = False
    #: Answer status queries with garbage (~HS and DLE EOT).
    garbage_status: bool = False
    #: Answer ~HQES with garbage.
    garbage_hqes: bool = False
    #: Answer nothing at all.
    silent: bool = False
    #: Drop the link when the next label has half arrived.
    disconnect_mid_label: bool = False
    #: Extra seconds before answering a status query.
    status_delay: float = 0.0

    @property
    def stops_printing(self) -> bool:
        """Whether a fault holds the printer (labels wait in its buffer)."""
        return (
            self.paper_out
            or self.head_open
            or self.ribbon_out
            or self.cutter_fault
            or self.head_too_hot
        )

    def label_printed(self) -> None:
        """Count one printed label against ``paper_out_after``; the paper runs out at 0."""
        if self.paper_out_after is None:
            return
        self.paper_out_after -= 1
        if self.paper_out_after <= 0:
            self.paper_out = True
            self.paper_out_after = None


@dataclass(frozen=True, slots=True)
class PrintedLabel:
    """One label the simulator printed: its raw bytes and the field data it carried."""

    index: int
    raw: bytes
    #: The field data, when known at printing (``None``: read from ``raw`` when asked).
    known_fields: tuple[str, ...] | None
    kind: Literal["zpl", "escpos"]
    image: Image.Image | None = field(default=None, compare=False)

    @property
    def fields(self) -> tuple[str, ...]:
        """The field data (``^FD``) the label carried, in order."""
        if self.known_fields is not None:
            return self.known_fields
        return zpl_fields(self.raw)


def zpl_fields(raw: bytes) -> tuple[str, ...]:
    """The field data of one ZPL format, ``^FH`` escapes decoded."""
    fields: list[str] = []
    hex_mode = False
    for command in parse_commands(raw):
        if command.name == "FH":
            hex_mode = True
        elif command.name == "FD":
            data = unescape_field(command.params) if hex_mode else command.params
            fields.append(data.decode("utf-8", "replace"))
        elif command.name == "FS":
            hex_mode = False
    return tuple(fields)


class LinkDrop(Exception):
    """The engine wants the server to drop the connection now (injected fault)."""


class ZplEngine:
    """A Zebra-like ZPL printer: ``~HS``, ``~HQES``, ``~JA``, ``~DY``, ``^XA..^XZ``.

    ``answers_hqes=False`` plays an older or emulating printer that ignores ``~HQES``.
    """

    def __init__(
        self,
        *,
        ips: float = 6.0,
        label_length_dots: int = 320,
        dpi: int = 203,
        render_images: bool = True,
        answers_hqes: bool = True,
    ) -> None:
        self.faults = Faults()
        self.answers_hqes = answers_hqes
        self.ips = ips
        self.label_length_dots = label_length_dots
        self.dpi = dpi
        self.render_images = render_images
        self.printed: list[PrintedLabel] = []
        self.fonts: dict[str, bytes] = {}
        self._buffer = b""
        self._queue: deque[bytes] = deque()
        self._printing_until: float | None = None
        self.paused = False
        #: Called after every :meth:`feed` (the physical line wakes up to move the belt).
        self.on_feed: Callable[[], None] | None = None

    @property
    def holds_labels(self) -> bool:
        """Whether labels wait in the buffer or are printing (its clock must advance)."""
        return bool(self._queue)

    @property
    def seconds_per_label(self) -> float:
        """Time to print one label at the configured speed."""
        return self.label_length_dots / self.dpi / self.ips

    def status(self) -> PrinterStatus:
        """The status the printer would report now."""
        self.tick()
        return PrinterStatus(
            paper_out=self.faults.paper_out,
            head_open=self.faults.head_open,
            ribbon_out=self.faults.ribbon_out,
            cutter_fault=self.faults.cutter_fault,
            head_too_hot=self.faults.head_too_hot,
            paused=self.paused,
            # The format being printed has left the receive buffer; it is the label remaining.
            formats_in_buffer=len(self._queue) - (1 if self._printing_until is not None else 0),
            labels_remaining=1 if self._printing_until is not None else 0,
            partial_format=b"^XA" in self._buffer,
        )

    def _status_reply(self) -> bytes:
        if self.faults.garbage_status:
            return b"\x02\xff\xfeGARBAGE,,\x03\r\n" * 3
        return format_host_status(self.status(), self.label_length_dots)

    def _reply_to(self, query: bytes) -> bytes:
        if self.faults.silent:
            return b""
        if query == b"~HS":
            return self._status_reply()
        return self._hqes() if self.answers_hqes else b""

    def _hqes(self) -> bytes:
        if self.faults.garbage_hqes:
            return b"\x02\r\nPRINTER STATUS\r\n   ERRORS: 1 zz\xff\r\n\x03"
        return format_host_query(HostQueryStatus.from_status(self.status()))

    def tick(self, now: float | None = None) -> None:
        """Advance printing to ``now`` (monotonic seconds)."""
        now = time.monotonic() if now is None else now
        while True:
            if self._printing_until is not None:
                if now < self._printing_until:
                    return
                self._printing_until = None
                self._finish(self._queue.popleft())
            if not self._queue or self.faults.stops_printing or self.paused:
                return
            self._printing_until = now + self.seconds_per_label

    def _finish(self, raw: bytes) -> None:
        # The fields are parsed when someone asks (a scanner reads the symbols itself).
        image = None
        if self.render_images:
            from lineside.codecs.render import render_zpl

            image = render_zpl(raw, engine="builtin")
        self.printed.append(PrintedLabel(len(self.printed) + 1, raw, None, "zpl", image))
        self.faults.label_printed()

    def feed(self, data: bytes) -> bytes:
        """Take bytes from the host; return the bytes the printer answers."""
        try:
            return self._feed(data)
        finally:
            if self.on_feed is not None:
                self.on_feed()

    def _feed(self, data: bytes) -> bytes:
        self._buffer += data
        replies: list[bytes] = []
        while self._buffer:
            buf = self._buffer
            prefix = re.search(rb"[\^~]", buf)
            if prefix is None:
                self._buffer = b""
                break
            buf = buf[prefix.start() :]
            if buf.startswith(b"^XA"):
                end = buf.find(b"^XZ")
                if end < 0:
                    if self.faults.disconnect_mid_label:
                        self.faults.disconnect_mid_label = False
                        self._buffer = b""
                        raise LinkDrop("disconnect mid-label")
                    # Tilde commands act at once, even inside a format still arriving.
                    for query in (b"~HQES", b"~HS"):
                        at = buf.find(query)
                        if at >= 0:
                            buf = buf[:at] + buf[at + len(query) :]
                            replies.append(self._reply_to(query))
                    self._buffer = buf
                    break
                if self.faults.disconnect_mid_label:
                    self.faults.disconnect_mid_label = False
                    self._buffer = b""
                    raise LinkDrop("disconnect mid-label")
                self._queue.append(buf[: end + 3])
                self._buffer = buf[end + 3 :]
                self.tick()
                continue
            if len(buf) < 3:
                self._buffer = buf
                break
            head = buf[:3].upper()
            if head == b"~DY":
                commands = parse_commands(buf)
                first = commands[0] if commands else None
                params = first.params if first else b""
                header = params.split(b",", 5)
                if len(header) < 6 or len(header[5]) < int(header[3] or b"0"):
                    self._buffer = buf
                    break
                self.fonts[header[0].decode("ascii", "replace")] = header[5]
                self._buffer = buf[3 + len(params) :]
                continue
            if head == b"~HS":
                replies.append(self._reply_to(b"~HS"))
            elif head == b"~HQ":
                if len(buf) < 5:
                    self._buffer = buf
                    break
                if buf[:5].upper() == b"~HQES":
                    replies.append(self._reply_to(b"~HQES"))
                buf = buf[2:]
            elif head == b"~JA":
                self._queue.clear()
                self._printing_until = None
            elif head in {b"~PS", b"^PR"}:
                self.paused = False
            elif head == b"~PP":
                self.paused = True
            self._buffer = buf[3:]
        return b"".join(replies)


_GS_K = b"\x1dk"
_QR_STORE = b"\x1d(k"


class EscposEngine:
    """An ESC/POS printer: answers ``DLE EOT 1..4``; a label ends at a cut (``GS V``)."""

    def __init__(self, *, seconds_per_label: float = 0.0) -> None:
        self.faults = Faults()
        self.seconds_per_label = seconds_per_label
        self.printed: list[PrintedLabel] = []
        self._buffer = b""
        self.online = True
        #: Called after every :meth:`feed` (the physical line wakes up to move the belt).
        self.on_feed: Callable[[], None] | None = None
        #: Labels print as they arrive: nothing waits for the clock.
        self.holds_labels = False

    def status(self) -> PrinterStatus:
        """The status the printer would report now."""
        return PrinterStatus(
            online=self.online, paper_out=self.faults.paper_out, head_open=self.faults.head_open
        )

    def _label(self, raw: bytes) -> None:
        fields: list[str] = []
        i = 0
        while i < len(raw):
            if raw.startswith(_QR_STORE, i) and raw[i + 5 : i + 8] == b"1P0":
                size = raw[i + 3] + 256 * raw[i + 4] - 3
                fields.append(raw[i + 8 : i + 8 + size].decode("utf-8", "replace"))
                i += 8 + size
            elif raw.startswith(_GS_K, i) and i + 3 < len(raw) and raw[i + 2] >= 65:
                size = raw[i + 3]
                fields.append(raw[i + 4 : i + 4 + size].decode("latin-1"))
                i += 4 + size
            else:
                i += 1
        self.printed.append(PrintedLabel(len(self.printed) + 1, raw, tuple(fields), "escpos"))
        self.faults.label_printed()

    def feed(self, data: bytes) -> bytes:
        """Take bytes from the host; return the bytes the printer answers."""
        try:
            return self._feed(data)
        finally:
            if self.on_feed is not None:
                self.on_feed()

    def _feed(self, data: bytes) -> bytes:
        self._buffer += data
        replies: list[bytes] = []
        while True:
            at = self._buffer.find(DLE_EOT)
            if at < 0 or at + 2 >= len(self._buffer):
                break
            n = self._buffer[at + 2]
            self._buffer = self._buffer[:at] + self._buffer[at + 3 :]
            if self.faults.silent:
                continue
            if self.faults.garbage_status:
                replies.append(b"\xff")
            elif 1 <= n <= 4:
                replies.append(format_dle_eot(n, self.status()))
        while True:
            cut = self._buffer.find(b"\x1dV")
            if cut < 0 or cut + 3 > len(self._buffer):
                if self.faults.disconnect_mid_label and len(self._buffer) > 16:
                    self.faults.disconnect_mid_label = False
                    self._buffer = b""
                    raise LinkDrop("disconnect mid-label")
                break
            raw, self._buffer = self._buffer[: cut + 3], self._buffer[cut + 3 :]
            if not (self.faults.paper_out or self.faults.head_open):
                self._label(raw)
        return b"".join(replies)
