"""GS1 check digits and identification keys: GTIN, SSCC and GLN.

Each key is a small frozen dataclass holding the digits with a verified check digit.

>>> Gtin.parse("8934567890120").value
'08934567890120'
>>> Sscc.build("893456789", 1234567).value
'089345678912345677'
>>> gs1_check_digit("893456789012")
'0'
"""

from __future__ import annotations

from dataclasses import dataclass

from lineside.errors import GS1Error

__all__ = ["Gln", "Gtin", "Sscc", "gs1_check_digit"]


def gs1_check_digit(digits: str) -> str:
    """Return the GS1 mod-10 check digit for ``digits`` (the key without its check digit).

    Weights 3 and 1 alternate from the rightmost digit.

    >>> gs1_check_digit("0893456789012")
    '0'
    """
    if not digits or not digits.isascii() or not digits.isdigit():
        raise GS1Error(f"check digit needs a non-empty string of digits, got {digits!r}")
    total = 0
    weight = 3
    for char in reversed(digits):
        total += (ord(char) - 48) * weight
        weight = 4 - weight
    return str((10 - total % 10) % 10)


def _verify(kind: str, text: str, lengths: tuple[int, ...]) -> str:
    """Check ``text`` is all digits, one of ``lengths`` long, with a good check digit."""
    if not text.isascii() or not text.isdigit():
        raise GS1Error(f"{kind} {text!r}: expected digits only")
    if len(text) not in lengths:
        expected = " or ".join(str(n) for n in lengths)
        raise GS1Error(f"{kind} {text}: expected {expected} digits, got {len(text)}")
    expected_digit = gs1_check_digit(text[:-1])
    if text[-1] != expected_digit:
        raise GS1Error(f"{kind} {text}: check digit {expected_digit} expected, got {text[-1]}")
    return text


@dataclass(frozen=True, slots=True)
class Gtin:
    """A Global Trade Item Number, always stored as 14 digits in ``value``.

    >>> g = Gtin.parse("8934567890120")
    >>> g.value, g.as_gtin13()
    ('08934567890120', '8934567890120')
    """

    value: str

    def __post_init__(self) -> None:
        _verify("GTIN", self.value, (14,))

    @classmethod
    def parse(cls, text: str) -> Gtin:
        """Parse a GTIN-8, -12, -13 or -14 (surrounding whitespace is ignored)."""
        digits = _verify("GTIN", text.strip(), (8, 12, 13, 14))
        return cls(digits.zfill(14))

    def as_gtin13(self) -> str | None:
        """The GTIN-13 form, or ``None`` when the indicator digit is not 0."""
        return self.value[1:] if self.value[0] == "0" else None

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Sscc:
    """A Serial Shipping Container Code (18 digits).

    >>> Sscc.parse("089345678912345677").extension
    0
    """

    value: str

    def __post_init__(self) -> None:
        _verify("SSCC", self.value, (18,))

    @classmethod
    def parse(cls, text: str) -> Sscc:
        """Parse an 18-digit SSCC and verify its check digit."""
        return cls(_verify("SSCC", text.strip(), (18,)))

    @classmethod
    def build(cls, company_prefix: str, serial_reference: int | str, extension: int = 0) -> Sscc:
        """Build an SSCC from its GS1 Company Prefix, serial reference and extension digit.

        The serial reference is zero-padded to fill the 16 digits after the extension
        digit that the prefix leaves free.

        >>> Sscc.build("8934567", "42", extension=3).value
        '389345670000000421'
        """
        if not company_prefix.isascii() or not company_prefix.isdigit():
            raise GS1Error(f"SSCC company prefix {company_prefix!r}: expected digits only")
        if not 4 <= len(company_prefix) <= 12:
            raise GS1Error(
                f"SSCC company prefix {company_prefix}: expected 4 to 12 digits, "
                f"got {len(company_prefix)}"
            )
        if isinstance(extension, bool) or not 0 <= extension <= 9:
            raise GS1Error(f"SSCC extension digit must be 0 to 9, got {extension!r}")
        reference = str(serial_reference)
        if not reference.isascii() or not reference.isdigit():
            raise GS1Error(f"SSCC serial reference {reference!r}: expected digits only")
        room = 16 - len(company_prefix)
        if len(reference) > room:
            raise GS1Error(
                f"SSCC serial reference {reference}: {len(reference)} digits do not fit the "
                f"{room} left by company prefix {company_prefix}"
            )
        body = f"{extension}{company_prefix}{reference.zfill(room)}"
        return cls(body + gs1_check_digit(body))

    @property
    def extension(self) -> int:
        """The extension digit (first digit)."""
        return int(self.value[0])

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Gln:
    """A Global Location Number (13 digits).

    >>> Gln.parse("8934567000000").value
    '8934567000000'
    """

    value: str

    def __post_init__(self) -> None:
        _verify("GLN", self.value, (13,))

    @classmethod
    def parse(cls, text: str) -> Gln:
        """Parse a 13-digit GLN and verify its check digit."""
        return cls(_verify("GLN", text.strip(), (13,)))

    def __str__(self) -> str:
        return self.value
