"""Sans-I/O framing of a scanner's byte stream into reads.

Readers on RS-232, USB-CDC or TCP send one read per line. :class:`LineFramer` turns
whatever chunks the transport delivers (one byte at a time, or many reads at once) into
frames, keeps the GS (0x1D) separator, and bounds its buffer: a line longer than
``max_length`` becomes one "overlong read" error frame and the framer resynchronises on
the next terminator, so a stuck or noisy line never grows memory.

>>> framer = LineFramer(terminator=b"\\r\\n")
>>> framer.feed(b"]d2010893456789012010AB\\x1d21X\\r")
[]
>>> [f.data for f in framer.feed(b"\\n]Q1https://x\\r\\n")]
[b']d2010893456789012010AB\\x1d21X', b']Q1https://x']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

GS = b"\x1d"

#: An AIM symbology identifier: "]", a code character, a modifier character.
_AIM = re.compile(rb"\][A-Za-z][0-9A-Za-z]")


@dataclass(frozen=True, slots=True)
class Frame:
    """One line from the reader, without its terminator, or an error in its place.

    ``error`` is set for an overlong line; ``data`` then holds its first bytes, for the log.
    """

    data: bytes
    error: str | None = None


class AimMode(StrEnum):
    """How a line's leading AIM symbology identifier (``]d2``, ``]Q3``...) is treated."""

    #: Detect the identifier when present (the default: readers differ).
    AUTO = "auto"
    #: Every read must start with an identifier; one without it is an error.
    REQUIRED = "required"
    #: The reader never sends one; a leading ``]`` is data.
    NONE = "none"


def split_aim_prefix(data: bytes, mode: AimMode = AimMode.AUTO) -> tuple[str | None, bytes]:
    """Split a leading AIM symbology identifier from ``data``.

    >>> split_aim_prefix(b"]d2010893456789012")
    (']d2', b'010893456789012')
    >>> split_aim_prefix(b"0108934567890120")
    (None, b'0108934567890120')
    >>> split_aim_prefix(b"]d2x", AimMode.NONE)
    (None, b']d2x')
    """
    if mode is not AimMode.NONE and _AIM.match(data):
        return data[:3].decode("ascii"), data[3:]
    return None, data


_PREVIEW = 32


class LineFramer:
    """Split a byte stream into lines ending with ``terminator``; sans-I/O.

    Leading and trailing CR/LF are stripped and empty lines dropped, so a reader sending
    CR+LF to a framer set to CR yields no stray LF (GS1 data never holds CR or LF).
    Memory is bounded by ``max_length``.

    >>> f = LineFramer(terminator=b"\\r", max_length=8)
    >>> first, second = f.feed(b"0123456789abc\\r42\\r")
    >>> first.data, first.error.split(";")[0]
    (b'01234567', "overlong read: more than 8 bytes without the terminator b'\\\\r'")
    >>> second
    Frame(data=b'42', error=None)
    """

    def __init__(self, terminator: bytes = b"\r\n", max_length: int = 4096) -> None:
        if not terminator:
            raise ValueError("terminator must not be empty")
        if max_length < 1:
            raise ValueError(f"max_length must be positive, got {max_length}")
        self.terminator = terminator
        self.max_length = max_length
        self._buffer = bytearray()
        # Where to resume searching: bytes before it hold no terminator start.
        self._searched = 0
        self._discarding = False

    @property
    def buffered(self) -> int:
        """How many bytes wait for a terminator."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """Add ``data`` and return the frames it completes (often none: need more bytes)."""
        frames: list[Frame] = []
        buf = self._buffer
        buf += data
        term = self.terminator
        tlen = len(term)
        start = 0
        search = self._searched
        while True:
            end = buf.find(term, search)
            if end < 0:
                break
            if self._discarding:
                self._discarding = False
            elif end - start > self.max_length:
                frames.append(self._overlong(bytes(buf[start:end])))
            else:
                line = bytes(buf[start:end]).strip(b"\r\n")
                if line:
                    frames.append(Frame(line))
            start = end + tlen
            search = start
        if start:
            del buf[:start]
        pending = len(buf)
        # A complete line may be max_length long plus all but one terminator byte.
        if pending > self.max_length + tlen - 1:
            if not self._discarding:
                frames.append(self._overlong(bytes(buf)))
                self._discarding = True
            # Keep only what could be the start of a terminator split across chunks.
            keep = tlen - 1
            if keep:
                del buf[:-keep]
            else:
                buf.clear()
            pending = len(buf)
        self._searched = max(0, pending - tlen + 1)
        return frames

    def reset(self) -> None:
        """Forget buffered bytes, e.g. after the link was re-established."""
        self._buffer.clear()
        self._searched = 0
        self._discarding = False

    def _overlong(self, line: bytes) -> Frame:
        return Frame(
            line[: min(_PREVIEW, self.max_length)],
            error=(
                f"overlong read: more than {self.max_length} bytes without the terminator "
                f"{self.terminator!r}; discarded up to the next terminator"
            ),
        )
