"""A code as the server reads it: a GTIN or SSCC with its lot, serial and expiry.

:func:`parse_code` reads every form a person or a scanner hands the server, with the
project's one GS1 parser (:mod:`lineside.gs1`): a Digital Link URI, a bracketed element
string, a raw element string (GS or ``^`` separators), scanner data with an AIM
symbology identifier, a bare GTIN, or an EPC URN (``sgtin`` and ``sscc``).
:func:`instance_identifiers` and :func:`class_identifiers` give the identifiers under
which events may name it.

>>> ref = parse_code("(01)08934567890120(10)L1(21)ABC")
>>> ref.gtin, ref.lot, ref.serial
('08934567890120', 'L1', 'ABC')
>>> parse_code("https://id.example.vn/01/08934567890120/21/A%2F1?17=271231").expiry
datetime.date(2027, 12, 31)
>>> parse_code("urn:epc:id:sscc:0893456.0789123456").sscc
'008934567891234562'
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from urllib.parse import quote

from lineside.epcis.identifiers import canonical_digital_link, epc_urn
from lineside.errors import GS1Error
from lineside.gs1 import GS1_RESOLVER_ROOT, GS1Message, parse_digital_link, parse_scan

__all__ = [
    "CodeRef",
    "class_identifiers",
    "expiry_date",
    "instance_identifiers",
    "parse_code",
]

#: Longest code text accepted.
MAX_CODE_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class CodeRef:
    """A code reduced to its GS1 keys and attributes.

    ``company_prefix`` is known when the code states it (an EPC URN); for other forms the
    trace fills it in from the registered organisations.
    """

    gtin: str | None = None
    lot: str | None = None
    serial: str | None = None
    sscc: str | None = None
    expiry: date | None = None
    company_prefix: str | None = None

    @property
    def described(self) -> str:
        """A short human form: ``(01)…(10)…(21)…`` or ``(00)…``."""
        if self.sscc:
            return f"(00){self.sscc}"
        parts = [f"(01){self.gtin}"]
        if self.lot:
            parts.append(f"(10){self.lot}")
        if self.serial:
            parts.append(f"(21){self.serial}")
        return "".join(parts)


def expiry_date(yymmdd: str, today: date | None = None) -> date:
    """The date a ``YYMMDD`` value stands for, by the GS1 General Specifications' rules.

    The century puts the year within 49 years before and 50 years after ``today``; day
    ``00`` means the last day of the month.

    >>> expiry_date("260200", today=date(2026, 1, 1))
    datetime.date(2026, 2, 28)
    >>> expiry_date("991231", today=date(2026, 1, 1))
    datetime.date(1999, 12, 31)
    >>> expiry_date("751231", today=date(2026, 1, 1))
    datetime.date(2075, 12, 31)
    """
    current = (today or datetime.now(UTC).date()).year
    year = current - current % 100 + int(yymmdd[:2])
    if year - current >= 51:
        year -= 100
    elif year - current <= -50:
        year += 100
    month = int(yymmdd[2:4])
    day = int(yymmdd[4:6]) or calendar.monthrange(year, month)[1]
    return date(year, month, day)


def _message(text: str) -> GS1Message:
    """The validated GS1 message of any non-URN form of a code."""
    if text.startswith("("):
        message = GS1Message.parse(text)
    elif text[:8].lower().startswith(("http://", "https://")):
        message = parse_digital_link(text)
    else:
        scan = parse_scan(text)
        if scan.message is not None:
            message = scan.message
        elif scan.symbology is not None:
            raise GS1Error("not a GS1 code")
        else:
            # Raw element strings from a keyboard or a file carry no symbology identifier;
            # the separators they carry are believed, as a reader's would be.
            message = GS1Message.parse(text, separators_trusted=True)
    if message.get("00") is None and message.get("01") is None:
        raise GS1Error("code carries neither a GTIN (01) nor an SSCC (00)")
    message.validate()
    return message


def parse_code(text: str) -> CodeRef:
    """Parse a Digital Link URI, an element string (HRI, raw or scanned) or an EPC URN.

    Raises :class:`GS1Error` saying why the code cannot be used.

    >>> parse_code("(10)LOT")
    Traceback (most recent call last):
    ...
    lineside.errors.GS1Error: code '(10)LOT': code carries neither a GTIN (01) nor an SSCC (00)
    """
    text = text.strip()
    if not text or len(text) > MAX_CODE_LENGTH:
        raise GS1Error(f"code is empty or longer than {MAX_CODE_LENGTH} characters")
    if text.startswith("urn:epc:id:"):
        return _parse_urn(text)
    try:
        message = _message(text)
    except GS1Error as exc:
        raise GS1Error(f"code {text[:80]!r}: {exc}") from exc
    expiry = message.get("17")
    return CodeRef(
        gtin=message.get("01"),
        lot=message.get("10"),
        serial=message.get("21"),
        sscc=message.get("00"),
        expiry=expiry_date(expiry) if expiry is not None else None,
    )


def _parse_urn(text: str) -> CodeRef:
    """An EPC URN, read through its canonical Digital Link (one converter, in the core)."""
    if not text.startswith(("urn:epc:id:sgtin:", "urn:epc:id:sscc:")):
        raise GS1Error(f"EPC URN {text!r}: only sgtin and sscc URNs are supported")
    link = canonical_digital_link(text)
    if link is None:
        raise GS1Error(f"EPC URN {text!r}: not a valid URN (company prefix and reference digits)")
    ref = parse_code(link)
    # The URN's first component is the company prefix, which the Digital Link does not carry.
    company_prefix = text.split(":", 4)[4].split(".", 1)[0]
    return replace(ref, company_prefix=company_prefix)


def instance_identifiers(ref: CodeRef, domains: Sequence[str]) -> list[str]:
    """The identifiers under which events may name this unit, case or pallet.

    >>> instance_identifiers(CodeRef(gtin="08934567890120", serial="A1",
    ...     company_prefix="8934567"), ["https://id.gs1.org"])
    ['https://id.gs1.org/01/08934567890120/21/A1', 'urn:epc:id:sgtin:8934567.089012.A1']
    """
    if ref.sscc:
        path = f"/00/{ref.sscc}"
    elif ref.gtin and ref.serial:
        path = f"/01/{ref.gtin}/21/{quote(ref.serial, safe='')}"
    else:
        return []
    return _with_urn([domain + path for domain in domains], path, ref)


def _with_urn(links: list[str], path: str, ref: CodeRef) -> list[str]:
    if ref.company_prefix is None:
        return links
    urn = epc_urn(GS1_RESOLVER_ROOT + path, len(ref.company_prefix))
    return links + ([urn] if urn else [])


def class_identifiers(ref: CodeRef, domains: Sequence[str]) -> list[str]:
    """The class-level (GTIN + lot) identifiers of a code, as quantity lists name them."""
    if not ref.gtin or not ref.lot:
        return []
    path = f"/01/{ref.gtin}/10/{quote(ref.lot, safe='')}"
    return _with_urn([domain + path for domain in domains], path, ref)
