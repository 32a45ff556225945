"""What a simulated reader reads, and how it may get it wrong.

A :class:`SimCode` is a symbol's content as a reader decodes it: an AIM symbology
identifier and the data, GS (0x1D) included. :class:`ScanEncoder` turns it into the
bytes a reader would transmit, with scripted faults: missed reads, misreads, a dropped
GS, no AIM prefix, a GS substitution character.

>>> code = code_from_text("(01)08934567890120(10)L1(21)ABC")
>>> code
SimCode(symbology=']d2', data='010893456789012010L1\\x1d21ABC')
>>> ScanEncoder(ScanFaults(drop_gs=True)).encode(code)
b']d2010893456789012010L121ABC\\r\\n'
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from lineside.errors import GS1Error
from lineside.gs1 import GS1Message

GS = "\x1d"
_AIM = re.compile(r"\][A-Za-z][0-9A-Za-z]")
_MISREAD_ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"


@dataclass(frozen=True, slots=True)
class SimCode:
    """A symbol's decoded content: ``]d2`` + ``0108934567890120...``."""

    symbology: str
    data: str

    @property
    def transmitted(self) -> str:
        """Identifier and data, as a reader with AIM prefixes on sends it."""
        return self.symbology + self.data


def code_from_text(text: str) -> SimCode:
    """Interpret one line of a codes file.

    ``(01)...(21)...`` is a GS1 element string for a GS1 DataMatrix; ``https://...`` a
    Digital Link QR; ``]xx...`` an explicit identifier and data, where ``<GS>`` stands
    for the separator; anything else is plain QR text. Raises ``ValueError``.

    >>> code_from_text("https://id.example.com/01/08934567890120").symbology
    ']Q1'
    >>> code_from_text("]C1" + "00389345678901234568<GS>").data
    '00389345678901234568\\x1d'
    """
    text = text.strip().replace("<GS>", GS)
    if not text:
        raise ValueError("empty code")
    if text.startswith("("):
        try:
            message = GS1Message.parse(text)
        except GS1Error as exc:
            raise ValueError(f"{text!r} is not a GS1 element string: {exc}") from exc
        return SimCode("]d2", message.as_raw())
    if _AIM.match(text):
        return SimCode(text[:3], text[3:])
    return SimCode("]Q1", text)


@dataclass(frozen=True, slots=True)
class ScanFaults:
    """How a simulated reader misbehaves; probabilities are per read."""

    miss: float = 0.0
    misread: float = 0.0
    drop_gs: bool = False
    aim_prefix: bool = True
    gs_substitute: str | None = None
    terminator: bytes = b"\r\n"

    def __post_init__(self) -> None:
        for name in ("miss", "misread"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
        if not self.terminator:
            raise ValueError("terminator must not be empty")


@dataclass(slots=True)
class SimStats:
    """What a simulator did so far."""

    scanned: int = 0
    missed: int = 0
    misread: int = 0
    sent: list[bytes] = field(default_factory=list)


class ScanEncoder:
    """Encode codes as a reader transmits them, applying :class:`ScanFaults`; seeded."""

    def __init__(self, faults: ScanFaults | None = None, seed: int | None = 0) -> None:
        self.faults = faults or ScanFaults()
        self.stats = SimStats()
        self._rng = random.Random(seed)

    def encode(self, code: SimCode) -> bytes | None:
        """The bytes for one read, or ``None`` when the reader misses it."""
        faults = self.faults
        self.stats.scanned += 1
        if faults.miss and self._rng.random() < faults.miss:
            self.stats.missed += 1
            return None
        data = code.data
        if faults.misread and data and self._rng.random() < faults.misread:
            self.stats.misread += 1
            at = self._rng.randrange(len(data))
            choices = [c for c in _MISREAD_ALPHABET if c != data[at]]
            data = data[:at] + self._rng.choice(choices) + data[at + 1 :]
        if faults.drop_gs:
            data = data.replace(GS, "")
        elif faults.gs_substitute is not None:
            data = data.replace(GS, faults.gs_substitute)
        text = (code.symbology if faults.aim_prefix else "") + data
        wire = text.encode("utf-8") + faults.terminator
        self.stats.sent.append(wire)
        return wire
