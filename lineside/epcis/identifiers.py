"""Canonical GS1 Digital Link form of the identifiers found in EPCIS events.

The event hash (CBV 2.0) compares identifiers in one form: the canonical GS1 Digital
Link URI on ``https://id.gs1.org`` at the finest level of identification, without
query string or CPV. This module converts EPC URNs (``urn:epc:id:...``), EPC class URNs
(``urn:epc:class:lgtin:...``), EPC ID pattern URNs (``urn:epc:idpat:...``) and Digital
Link URIs on any domain to that form; anything else gives ``None``.

It needs no company-prefix table: the partition of an EPC URN is given by its dots.

>>> canonical_digital_link("urn:epc:id:sgtin:4012345.011111.987")
'https://id.gs1.org/01/04012345111118/21/987'
>>> canonical_digital_link("https://example.com/gtin/9780345418913/lot/12/ser/A1?17=291231")
'https://id.gs1.org/01/09780345418913/21/A1'
>>> canonical_digital_link("urn:epcglobal:cbv:bt:0614141073467:1152") is None
True

The other direction, :func:`epc_urn`, needs the company prefix's length, which a Digital
Link does not carry:

>>> epc_urn("https://id.gs1.org/01/04012345111118/21/987", 7)
'urn:epc:id:sgtin:4012345.011111.987'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from urllib.parse import unquote

from lineside.gs1.digital_link import GS1_RESOLVER_ROOT

__all__ = ["canonical_digital_link", "epc_urn", "gs1_check_digit"]

DL_ROOT = GS1_RESOLVER_ROOT + "/"

# One character of an EPC URN component: a literal from the URN-safe part of GS1
# character set 82, or a %-escape.
_URN_CHAR = r"(?:%[0-9A-Fa-f]{2}|[!'()*+,.0-9:;=A-Za-z_\-])"
# One character of a canonical DL value: GS1 Digital Link's unreserved subset, or a
# %-escape of one of the characters it encodes.
_DL_CHAR = r"(?:%[0-9A-F]{2}|[\"'\-.0-9;<=>?A-Z_a-z])"
# Characters that GS1 Digital Link percent-encodes but EPC URNs leave literal.
_DL_ESCAPES = {"!": "%21", "(": "%28", ")": "%29", "*": "%2A", "+": "%2B", ",": "%2C", ":": "%3A"}

_SHORT_NAMES = {
    "gtin": "01",
    "itip": "8006",
    "cpid": "8010",
    "gln": "414",
    "party": "417",
    "gsrnp": "8017",
    "gsrn": "8018",
    "gcn": "255",
    "sscc": "00",
    "gdti": "253",
    "ginc": "401",
    "gsin": "402",
    "grai": "8003",
    "giai": "8004",
    "cpv": "22",
    "lot": "10",
    "ser": "21",
}
_PRIMARY_KEYS = frozenset(
    {"01", "8006", "8010", "414", "417", "8017", "8018", "255", "00", "253", "401", "402"}
    | {"8003", "8004"}
)

_CANONICAL = re.compile(
    "^https://id\\.gs1\\.org/(?:"
    + "|".join(
        (
            r"00/\d{18}",
            rf"01/\d{{14}}(?:/21/{_DL_CHAR}{{0,20}}|/10/{_DL_CHAR}{{0,20}}|/235/{_DL_CHAR}{{0,28}})?",
            rf"253/\d{{13}}{_DL_CHAR}{{0,17}}",
            r"255/\d{13}\d{0,12}",
            rf"401/{_DL_CHAR}{{0,30}}",
            r"402/\d{17}",
            rf"414/\d{{13}}(?:/254/{_DL_CHAR}{{0,20}})?",
            r"417/\d{13}",
            rf"8003/\d{{14}}{_DL_CHAR}{{0,16}}",
            rf"8004/{_DL_CHAR}{{0,30}}",
            rf"8006/\d{{18}}(?:/21/{_DL_CHAR}{{0,20}}|/10/{_DL_CHAR}{{0,20}})?",
            r"8010/[#\-/0-9A-Z]{0,30}(?:/8011/\d{0,12})?",
            r"801[78]/\d{18}",
        )
    )
    + ")$"
)


def gs1_check_digit(digits: str) -> str:
    """The GS1 mod-10 check digit for a key written without it.

    >>> gs1_check_digit("0401234511111")
    '8'
    """
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str(-total % 10)


def _dl_escape(component: str) -> str:
    return "".join(_DL_ESCAPES.get(ch, ch) for ch in component)


def _chars(component: str, low: int, high: int) -> bool:
    return re.fullmatch(f"{_URN_CHAR}{{{low},{high}}}", component) is not None


def _digits(value: str, length: int | None = None) -> bool:
    return value.isascii() and value.isdigit() and (length is None or len(value) == length)


def _prefix_ok(prefix: str) -> bool:
    return _digits(prefix) and 6 <= len(prefix) <= 12


def _gtin(prefix: str, item_ref: str) -> str | None:
    """GTIN-14 from an EPC company prefix and indicator+item reference."""
    if not (_prefix_ok(prefix) and _digits(item_ref) and len(prefix) + len(item_ref) == 13):
        return None
    body = item_ref[0] + prefix + item_ref[1:]
    return body + gs1_check_digit(body)


def _key12(prefix: str, ref: str) -> str | None:
    """A 13-digit key (GLN, GDTI, GCN, GRAI body) from prefix and a reference; 12 + check."""
    if not (_prefix_ok(prefix) and (ref == "" or _digits(ref)) and len(prefix) + len(ref) == 12):
        return None
    return prefix + ref + gs1_check_digit(prefix + ref)


def _split(body: str, parts: int) -> list[str] | None:
    fields = body.split(".", parts - 1)
    return fields if len(fields) == parts else None


def _sgtin(body: str) -> str | None:
    f = _split(body, 3)
    if f is None or not _chars(f[2], 1, 20):
        return None
    gtin = _gtin(f[0], f[1])
    return None if gtin is None else f"01/{gtin}/21/{_dl_escape(f[2])}"


def _sscc(body: str) -> str | None:
    f = _split(body, 2)
    if f is None or not (_prefix_ok(f[0]) and _digits(f[1]) and len(f[0]) + len(f[1]) == 17):
        return None
    raw = f[1][0] + f[0] + f[1][1:]
    return f"00/{raw}{gs1_check_digit(raw)}"


def _sgln(body: str) -> str | None:
    f = _split(body, 3)
    if f is None or not _chars(f[2], 1, 20):
        return None
    gln = _key12(f[0], f[1])
    if gln is None:
        return None
    return f"414/{gln}" if f[2] == "0" else f"414/{gln}/254/{_dl_escape(f[2])}"


def _grai(body: str) -> str | None:
    f = _split(body, 3)
    if f is None or not _chars(f[2], 1, 16):
        return None
    key = _key12(f[0], f[1])
    return None if key is None else f"8003/0{key}{_dl_escape(f[2])}"


def _giai(body: str) -> str | None:
    f = _split(body, 2)
    if f is None or not _prefix_ok(f[0]) or not _chars(f[1], 1, 30 - len(f[0])):
        return None
    return f"8004/{f[0]}{_dl_escape(f[1])}"


def _service(ai: str) -> Callable[[str], str | None]:
    def convert(body: str) -> str | None:
        f = _split(body, 2)
        if f is None or not (_prefix_ok(f[0]) and _digits(f[1]) and len(f[0]) + len(f[1]) == 17):
            return None
        return f"{ai}/{f[0]}{f[1]}{gs1_check_digit(f[0] + f[1])}"

    return convert


def _gdti(body: str) -> str | None:
    f = _split(body, 3)
    if f is None or not _chars(f[2], 1, 17):
        return None
    key = _key12(f[0], f[1])
    return None if key is None else f"253/{key}{_dl_escape(f[2])}"


def _cpi(body: str) -> str | None:
    f = body.split(".")
    if len(f) != 3 or not _prefix_ok(f[0]) or not _digits(f[2]) or not 1 <= len(f[2]) <= 12:
        return None
    if not re.fullmatch(r"(?:%2[3dfDF]|[0-9A-Z\-])+", f[1]):
        return None
    return f"8010/{_dl_escape(f[0] + f[1])}/8011/{f[2]}"


def _sgcn(body: str) -> str | None:
    f = _split(body, 3)
    if f is None or not _digits(f[2]) or not 1 <= len(f[2]) <= 12:
        return None
    key = _key12(f[0], f[1])
    return None if key is None else f"255/{key}{f[2]}"


def _ginc(body: str) -> str | None:
    f = _split(body, 2)
    if f is None or not _prefix_ok(f[0]) or not _chars(f[1], 1, 30 - len(f[0])):
        return None
    return f"401/{f[0]}{_dl_escape(f[1])}"


def _gsin(body: str) -> str | None:
    f = _split(body, 2)
    if f is None or not (_prefix_ok(f[0]) and _digits(f[1]) and len(f[0]) + len(f[1]) == 16):
        return None
    return f"402/{f[0]}{f[1]}{gs1_check_digit(f[0] + f[1])}"


def _itip(body: str) -> str | None:
    f = _split(body, 5)
    if f is None or not (_digits(f[2], 2) and _digits(f[3], 2) and _chars(f[4], 1, 20)):
        return None
    gtin = _gtin(f[0], f[1])
    return None if gtin is None else f"8006/{gtin}{f[2]}{f[3]}/21/{_dl_escape(f[4])}"


def _upui(body: str) -> str | None:
    f = _split(body, 3)
    if f is None or not _chars(f[2], 1, 28):
        return None
    gtin = _gtin(f[0], f[1])
    return None if gtin is None else f"01/{gtin}/235/{_dl_escape(f[2])}"


def _pgln(body: str) -> str | None:
    f = _split(body, 2)
    if f is None:
        return None
    key = _key12(f[0], f[1])
    return None if key is None else f"417/{key}"


def _lgtin(body: str) -> str | None:
    f = _split(body, 3)
    if f is None or not _chars(f[2], 1, 20):
        return None
    gtin = _gtin(f[0], f[1])
    return None if gtin is None else f"01/{gtin}/10/{_dl_escape(f[2])}"


def _pattern(body: str) -> list[str] | None:
    """The fields of an ID pattern body that ends in ``.*``."""
    if not body.endswith(".*"):
        return None
    return body[:-2].split(".")


def _idpat(scheme: str, body: str) -> str | None:
    f = _pattern(body)
    if f is None:
        return None
    if scheme in ("sgtin", "upui") and len(f) == 2:
        gtin = _gtin(f[0], f[1])
        return None if gtin is None else f"01/{gtin}"
    if scheme == "itip" and len(f) == 4 and _digits(f[2], 2) and _digits(f[3], 2):
        gtin = _gtin(f[0], f[1])
        return None if gtin is None else f"8006/{gtin}{f[2]}{f[3]}"
    if scheme in ("grai", "gdti", "sgcn") and len(f) == 2:
        key = _key12(f[0], f[1])
        ai = {"grai": "8003/0", "gdti": "253/", "sgcn": "255/"}[scheme]
        return None if key is None else f"{ai}{key}"
    cpi_ref = r"(?:%2[3dfDF]|[0-9A-Z\-])+"
    if scheme == "cpi" and len(f) == 2 and _prefix_ok(f[0]) and re.fullmatch(cpi_ref, f[1]):
        return f"8010/{_dl_escape(f[0] + f[1])}"
    return None


_EPC_SCHEMES: dict[str, Callable[[str], str | None]] = {
    "sgtin": _sgtin,
    "sscc": _sscc,
    "sgln": _sgln,
    "grai": _grai,
    "giai": _giai,
    "gsrn": _service("8018"),
    "gsrnp": _service("8017"),
    "gdti": _gdti,
    "cpi": _cpi,
    "sgcn": _sgcn,
    "ginc": _ginc,
    "gsin": _gsin,
    "itip": _itip,
    "upui": _upui,
    "pgln": _pgln,
}

_CANONICAL_ITEM = re.compile(r"https://id\.gs1\.org/01/\d{14}/21/[^/?#]+", re.ASCII)
_URL = re.compile(r"^https?://[^/?#]*(?P<path>/[^?#]*)(?:\?[^#]*)?(?:#.*)?$")


def _from_urn(value: str) -> str | None:
    parts = value.split(":", 4)
    if len(parts) != 5 or parts[0] != "urn" or parts[1] != "epc":
        return None
    kind, scheme, body = parts[2], parts[3], parts[4]
    if kind == "id" and scheme in _EPC_SCHEMES:
        path = _EPC_SCHEMES[scheme](body)
    elif kind == "class" and scheme == "lgtin":
        path = _lgtin(body)
    elif kind == "idpat":
        path = _idpat(scheme, body)
    else:
        path = None
    return None if path is None else DL_ROOT + path


def _from_digital_link(value: str) -> str | None:
    match = _URL.match(value)
    if match is None:
        return None
    segments = match["path"].split("/")[1:]
    if segments and segments[-1] == "":
        segments.pop()  # a trailing slash
    for start, segment in enumerate(segments):
        ai = _SHORT_NAMES.get(segment, segment)
        if ai in _PRIMARY_KEYS and start + 1 < len(segments):
            break
    else:
        return None
    key_value = segments[start + 1]
    if not re.match(r"^\d{4}", key_value):
        return None
    if ai == "01" and _digits(key_value) and len(key_value) in (8, 12, 13):
        key_value = key_value.zfill(14)
    rest = segments[start + 2 :]
    if len(rest) % 2:
        return None
    qualifiers = [(_SHORT_NAMES.get(rest[i], rest[i]), rest[i + 1]) for i in range(0, len(rest), 2)]
    # CPV is not an identification level; with both lot and serial the serial is finer.
    qualifiers = [(q, v) for q, v in qualifiers if q != "22"]
    if any(q == "21" for q, _ in qualifiers):
        qualifiers = [(q, v) for q, v in qualifiers if q != "10"]
    candidate = DL_ROOT + "/".join([ai, key_value] + [f"{q}/{v}" for q, v in qualifiers])
    return candidate if _CANONICAL.match(candidate) else None


def canonical_digital_link(value: object) -> str | None:
    """The canonical Digital Link of a GS1 identifier, or None if ``value`` is not one.

    >>> canonical_digital_link("urn:epc:id:sscc:4012345.0000000333")
    'https://id.gs1.org/00/040123450000003338'
    >>> canonical_digital_link("urn:epc:id:sgln:4012345.00011.0")
    'https://id.gs1.org/414/4012345000115'
    """
    if not isinstance(value, str) or "." not in value:
        return None
    return _canonical(value)


# An event's identifiers are read several times on their way in (its hash, its owner, its
# index), within one batch of at most a few hundred events: each is worked out once. Small,
# as a line's memory must stay flat over millions of units.
@lru_cache(maxsize=1024)
def _canonical(value: str) -> str | None:
    if _CANONICAL_ITEM.fullmatch(value):
        # A serialised item written canonically (what a line writes): rebuilt from its
        # parts it would come back as it is, when it is valid.
        return value if _CANONICAL.match(value) else None
    if value.startswith("urn:"):
        return _from_urn(value)
    return _from_digital_link(value)


def _urn_escape(value: str) -> str:
    # EPC URNs percent-encode the characters of CSET 82 that URNs reserve.
    return "".join(c if c.isalnum() or c in "-_.:*'()!,;=+" else f"%{ord(c):02X}" for c in value)


def epc_urn(link: str, company_prefix_length: int) -> str | None:
    """The EPC URN of an SGTIN, SSCC or LGTIN Digital Link URI (numeric AIs, any domain),
    or None when it is none of those or the prefix length does not fit the key.

    >>> epc_urn("https://id.example.vn/00/040123450000003338", 7)
    'urn:epc:id:sscc:4012345.0000000333'
    >>> epc_urn("https://id.gs1.org/01/08934567890120/10/A%2F1", 7)
    'urn:epc:class:lgtin:8934567.089012.A%2F1'
    >>> epc_urn("https://id.gs1.org/01/08934567890120", 7) is None
    True
    """
    match = _URL.match(link)
    if match is None or not 6 <= company_prefix_length <= 12:
        return None
    n = company_prefix_length
    parts = match["path"].strip("/").split("/")
    if len(parts) == 2 and parts[0] == "00" and _digits(parts[1], 18):
        sscc = parts[1]
        return f"urn:epc:id:sscc:{sscc[1 : n + 1]}.{sscc[0]}{sscc[n + 1 : 17]}"
    if len(parts) != 4 or parts[0] != "01" or parts[2] not in ("21", "10"):
        return None
    gtin, qualifier = parts[1].zfill(14), unquote(parts[3])
    if not _digits(gtin, 14) or not qualifier:
        return None
    item = gtin[0] + gtin[n + 1 : 13]
    kind = "id:sgtin" if parts[2] == "21" else "class:lgtin"
    return f"urn:epc:{kind}:{gtin[1 : n + 1]}.{item}.{_urn_escape(qualifier)}"
