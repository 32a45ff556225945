"""Random, hard-to-guess serial numbers for AI (21).

Serials are drawn with :mod:`secrets`, so the count of units made cannot be read off
the codes and a forger cannot enumerate them.

>>> generator = SerialGenerator()
>>> len(generator.generate()), len(generator.symbols)
(12, 56)
>>> generator.guess_probability(1_000_000) < 1e-14
True
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field

from lineside.errors import GS1Error
from lineside.gs1.linters import CSET82

__all__ = ["DEFAULT_ALPHABET", "SerialGenerator"]

_AMBIGUOUS = frozenset("0Oo1Il")
_URI_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_CSET82 = frozenset(CSET82)

#: Digits, upper and lower case letters: a subset of GS1 character set 82 that needs no
#: percent-encoding in a Digital Link URI.
DEFAULT_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase


@dataclass(frozen=True, slots=True)
class SerialGenerator:
    """Draws serials of ``length`` characters from ``alphabet``.

    With the defaults (12 characters from 56 symbols: digits and letters without the
    look-alikes 0 O o 1 I l) the space holds 56**12 ≈ 9.6e20 serials: after issuing one
    million, a guessed serial is valid with probability ≈ 1.0e-15, far below the EU FMD
    ceiling of 1/10,000.

    >>> SerialGenerator(length=4, alphabet="AB", avoid_ambiguous=False).space_size
    16
    """

    length: int = 12
    alphabet: str = DEFAULT_ALPHABET
    avoid_ambiguous: bool = True
    _symbols: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.length, bool) or not 1 <= self.length <= 20:
            raise GS1Error(f"serial length must be 1 to 20 (AI 21 is X..20), got {self.length!r}")
        for char in self.alphabet:
            if char not in _CSET82:
                raise GS1Error(f"serial alphabet: {char!r} is not in GS1 character set 82")
            if char not in _URI_UNRESERVED:
                raise GS1Error(
                    f"serial alphabet: {char!r} would need percent-encoding in a Digital Link"
                )
        symbols = "".join(dict.fromkeys(self.alphabet))
        if self.avoid_ambiguous:
            symbols = "".join(char for char in symbols if char not in _AMBIGUOUS)
        if len(symbols) < 2:
            raise GS1Error("serial alphabet needs at least 2 distinct usable characters")
        object.__setattr__(self, "_symbols", symbols)

    @property
    def symbols(self) -> str:
        """The characters serials are drawn from (after removing look-alikes)."""
        return self._symbols

    @property
    def space_size(self) -> int:
        """How many distinct serials exist: ``len(symbols) ** length``."""
        size: int = len(self._symbols) ** self.length
        return size

    def generate(self) -> str:
        """One new random serial."""
        # One draw for the whole serial (uniform over the space), written in base len(symbols):
        # the same distribution as a draw per character, for one call to the OS's RNG.
        symbols = self._symbols
        base = len(symbols)
        number = secrets.randbelow(self.space_size)
        chars = []
        for _ in range(self.length):
            number, digit = divmod(number, base)
            chars.append(symbols[digit])
        return "".join(chars)

    def guess_probability(self, issued: int) -> float:
        """Chance that one random guess hits one of ``issued`` serials.

        >>> SerialGenerator(length=2, alphabet="ABCD", avoid_ambiguous=False).guess_probability(4)
        0.25
        """
        if issued < 0:
            raise GS1Error(f"issued count must not be negative, got {issued}")
        return issued / self.space_size
