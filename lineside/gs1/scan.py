"""What a barcode reader transmitted: symbology identifier, then GS1 or plain data.

:func:`parse_scan` turns one read (bytes from a scanner or a decoder) into a
:class:`ScanResult`. GS1 symbologies (``]d2``, ``]Q3``, ``]C1``, ``]e0``, ``]J1``) carry
element strings with GS separators; plain QR/DataMatrix (``]Q1``, ``]d1``) or data
without an identifier may hold a GS1 Digital Link URI or a bare GTIN; ``]E0``/``]E4``
carry EAN-13/EAN-8.

>>> r = parse_scan(b"]d201089345678901201" + b"0LOT7\\x1d21X7K2")
>>> r.symbology_name, r.primary_key, [q.ai for q in r.qualifiers]
('GS1 DataMatrix', ElementString(ai='01', value='08934567890120'), ['10', '21'])
>>> parse_scan("https://id.gs1.org/01/08934567890120/21/X7K2").message.get("21")
'X7K2'
>>> parse_scan(b"]Q1hello").is_gs1
False

Missing GS separators
---------------------
Keyboard-wedge readers keep the ``]d2`` prefix but drop the GS (FNC1) control character,
so ``]d2 01… 10LOT1 GS 21SERIAL`` arrives as ``]d2 01… 10LOT121SERIAL``: a lot that
swallowed the serial. Such a read cannot be told apart from a well-formed symbol whose
last value merely contains those characters, so the decision is:

* Data that carries at least one GS (or ``^``) shows that this reader transmits
  separators; it is believed as it stands.
* Data with no separator at all is checked: when the last value (the only one that can
  have swallowed anything) splits into a valid value for its AI followed by element
  strings whose values are all valid, and the rebuilt message repeats no AI with another
  value and pairs no mutually exclusive AIs, the read is kept but carries a
  ``suspect_missing_gs`` warning naming the AI and the position of the hidden AI.
* ``parse_scan(data, strict=True)`` raises :class:`ScanDataError` instead.

Verification that matches reads by serial still rejects the swallowed case, because the
serial is absent from the message.

>>> parse_scan(b"]d2010893456789012010LOT121SERIAL").warnings
("suspect_missing_gs: AI (10) value 'LOT121SERIAL' may end with AI (21) at position 23 \
('21SERIAL'): GS separator missing?",)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lineside.errors import GS1Error, ScanDataError
from lineside.gs1.digital_link import key_and_qualifiers, parse_digital_link, split_digital_link
from lineside.gs1.keys import gs1_check_digit
from lineside.gs1.message import GS, MAX_DATA_LENGTH, ElementString, GS1Message, find_swallowed

__all__ = ["SUSPECT_MISSING_GS", "SYMBOLOGY_NAMES", "ScanResult", "parse_scan"]

#: Warning code: a value may hide element strings after a dropped GS separator.
SUSPECT_MISSING_GS = "suspect_missing_gs"

#: AIM symbology identifiers Lineside knows by name.
SYMBOLOGY_NAMES = {
    "]d2": "GS1 DataMatrix",
    "]d1": "DataMatrix",
    "]Q3": "GS1 QR Code",
    "]Q1": "QR Code",
    "]C1": "GS1-128",
    "]C0": "Code 128",
    "]e0": "GS1 DataBar",
    "]J1": "GS1 DotCode",
    "]E0": "EAN-13",
    "]E4": "EAN-8",
    "]A0": "Code 39",
    "]I0": "ITF",
}
_GS1_ELEMENT_SYMBOLOGIES = frozenset(("]d2", "]Q3", "]C1", "]e0", "]J1"))
_EAN_LENGTHS = {"]E0": 13, "]E4": 8}
_GTIN_LENGTHS = frozenset((8, 12, 13, 14))


@dataclass(frozen=True, slots=True)
class ScanResult:
    """One interpreted read.

    ``message`` is the validated GS1 data (``None`` for non-GS1 text); ``digital_link``
    is the URI when the data was one; ``text`` is the data after the symbology
    identifier. ``warnings`` are ``"code: detail"`` strings for reads that parsed but
    may be wrong (see the module docstring); empty for a clean read.
    """

    raw: bytes
    symbology: str | None
    symbology_name: str | None
    is_gs1: bool
    message: GS1Message | None
    digital_link: str | None
    primary_key: ElementString | None
    qualifiers: tuple[ElementString, ...]
    text: str
    warnings: tuple[str, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``raw`` as hex).

        >>> parse_scan(b"]E08934567890120").to_json_dict()["elements"]
        [{'ai': '01', 'value': '08934567890120', 'title': 'GTIN'}]
        """
        message = self.message
        return {
            "raw": self.raw.hex(),
            "symbology": self.symbology,
            "symbology_name": self.symbology_name,
            "is_gs1": self.is_gs1,
            "text": self.text,
            "elements": (
                [{"ai": e.ai, "value": e.value, "title": e.title} for e in message.elements]
                if message is not None
                else None
            ),
            "bracketed": message.as_bracketed() if message is not None else None,
            "digital_link": self.digital_link,
            "primary_key": (
                {"ai": self.primary_key.ai, "value": self.primary_key.value}
                if self.primary_key is not None
                else None
            ),
            "qualifiers": [{"ai": q.ai, "value": q.value} for q in self.qualifiers],
            "warnings": list(self.warnings),
        }


def _decode(data: bytes | str) -> tuple[bytes, str]:
    if isinstance(data, str):
        try:
            return data.encode("utf-8"), data
        except UnicodeEncodeError as exc:
            raise ScanDataError(
                f"scan data: character {exc.object[exc.start]!r} at position {exc.start + 1} "
                "cannot be encoded"
            ) from None
    raw = bytes(data)
    try:
        return raw, raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScanDataError(
            f"scan data: invalid UTF-8 at byte {exc.start + 1} (0x{raw[exc.start]:02X}); "
            "expected text"
        ) from None


def _gtin_result(raw: bytes, symbology: str | None, text: str, gtin14: str) -> ScanResult:
    element = ElementString("01", gtin14)
    return ScanResult(
        raw=raw,
        symbology=symbology,
        symbology_name=SYMBOLOGY_NAMES.get(symbology) if symbology else None,
        is_gs1=True,
        message=GS1Message((element,)),
        digital_link=None,
        primary_key=element,
        qualifiers=(),
        text=text,
    )


def _is_good_gtin(text: str) -> bool:
    return (
        len(text) in _GTIN_LENGTHS
        and text.isascii()
        and text.isdigit()
        and gs1_check_digit(text[:-1]) == text[-1]
    )


def _where(symbology: str | None, name: str | None) -> str:
    """The error-message prefix; built only when an error is raised."""
    if symbology is None:
        return "scan data"
    return f"scan data ({symbology} {name})" if name else f"scan data ({symbology})"


def _missing_gs_warning(text: str, message: GS1Message) -> str | None:
    body = text[1:] if text[:1] in (GS, "^") else text
    if GS in body or "^" in body:
        return None
    found = find_swallowed(message)
    if found is None:
        return None
    # The last value runs to the end of the data; positions count from 1 after the
    # symbology identifier, like the other scan-data messages.
    position = len(text) - len(found.value) + found.offset + 1
    tail = found.value[found.offset :]
    return (
        f"{SUSPECT_MISSING_GS}: AI ({found.ai}) value {found.value!r} may end with "
        f"AI ({found.hidden_ai}) at position {position} ({tail!r}): GS separator missing?"
    )


def parse_scan(data: bytes | str, *, strict: bool = False) -> ScanResult:
    """Interpret one barcode read; :class:`ScanDataError` says what is wrong and where.

    With ``strict=True`` a read that would carry a warning (see the module docstring)
    raises :class:`ScanDataError` instead.

    >>> parse_scan(b"]C1011234567890123")
    Traceback (most recent call last):
    ...
    lineside.errors.ScanDataError: scan data (]C1 GS1-128): AI (01): 14 characters expected \
at position 3, got '1234567890123'
    """
    if len(data) > MAX_DATA_LENGTH:
        raise ScanDataError(
            f"scan data: {len(data)} bytes, at most {MAX_DATA_LENGTH} expected from one symbol"
        )
    raw, text = _decode(data)
    symbology: str | None = None
    if text.startswith("]"):
        if len(text) < 3 or not text[1].isascii() or not text[1].isalpha():
            raise ScanDataError(
                f"scan data: position 1: expected an AIM symbology identifier like ]d2, "
                f"got {text[:3]!r}"
            )
        symbology, text = text[:3], text[3:]
    name = SYMBOLOGY_NAMES.get(symbology) if symbology else None

    if symbology in _GS1_ELEMENT_SYMBOLOGIES:
        try:
            message = GS1Message.parse(text, separators_trusted=True)
            message.validate()
        except GS1Error as exc:
            # Offsets inside the element string are shifted by the 3-character identifier.
            raise ScanDataError(f"{_where(symbology, name)}: {exc}") from None
        warning = _missing_gs_warning(text, message)
        if warning is not None and strict:
            raise ScanDataError(f"{_where(symbology, name)}: {warning}")
        key, qualifiers = key_and_qualifiers(message)
        return ScanResult(
            raw,
            symbology,
            name,
            True,
            message,
            None,
            key,
            qualifiers,
            text,
            (warning,) if warning is not None else (),
        )

    if symbology in _EAN_LENGTHS:
        expected = _EAN_LENGTHS[symbology]
        if len(text) != expected or not _is_good_gtin(text):
            raise ScanDataError(
                f"{_where(symbology, name)}: expected {expected} digits with a valid "
                f"check digit, got {text!r}"
            )
        return _gtin_result(raw, symbology, text, text.zfill(14))

    body = text.rstrip("\r\n")
    if body[:8].lower().startswith(("http://", "https://")):
        try:
            split_digital_link(body)
        except GS1Error:
            split_ok = False
        else:
            split_ok = True
        if split_ok:
            try:
                message = parse_digital_link(body)
            except GS1Error as exc:
                raise ScanDataError(f"{_where(symbology, name)}: {exc}") from None
            key, qualifiers = key_and_qualifiers(message)
            return ScanResult(raw, symbology, name, True, message, body, key, qualifiers, text)
    elif _is_good_gtin(body):
        return _gtin_result(raw, symbology, text, body.zfill(14))
    return ScanResult(raw, symbology, name, False, None, None, None, (), text)
