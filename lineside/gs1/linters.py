"""Content checks ("linters") for one component of an AI value.

Each linter named in the specification column of the GS1 Barcode Syntax Dictionary
(``N14,csum`` applies ``csum`` to a 14-digit component) is a function taking the
component text and returning ``None`` when it is fine or a :class:`LintFailure` that
names the problem and the span of the offending characters.

>>> lint("csum", "12345673")
LintFailure(code='INCORRECT_CHECK_DIGIT', start=7, end=8)
>>> lint("yymmdd", "260228") is None
True
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from importlib import resources
from types import MappingProxyType

from lineside.errors import GS1Error
from lineside.gs1.coupon import lint_couponcode, lint_couponposoffer
from lineside.gs1.lintcore import (
    DIGITS,
    LintFailure,
    date_linter,
    first_outside,
    non_digit,
    whole,
)

__all__ = [
    "CSET39",
    "CSET64",
    "CSET82",
    "LINTER_NAMES",
    "LintFailure",
    "describe",
    "lint",
]

#: GS1 AI encodable character set 82, in its defined order (the order matters to csumalpha).
CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
#: GS1 AI encodable character set 39.
CSET39 = "#-/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: File-safe URI-safe base64 (RFC 4648 "base64url") alphabet, without padding.
CSET64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#: Check-character alphabet of the alphanumeric check pair (GMN, MUDI).
_CSET32 = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_CSET82_VALUE = {c: i for i, c in enumerate(CSET82)}
_CSET39_SET = frozenset(CSET39)
_CSET64_SET = frozenset(CSET64)
_IMPORTER_INDEX = frozenset("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")
_HEX = frozenset("0123456789abcdefABCDEF")
_IBAN_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_MEDIA_TYPES = frozenset([f"{n:02d}" for n in range(1, 11)] + [str(n) for n in range(80, 100)])


def _primes(count: int) -> tuple[int, ...]:
    found: list[int] = []
    candidate = 2
    while len(found) < count:
        if all(candidate % p for p in found if p * p <= candidate):
            found.append(candidate)
        candidate += 1
    return tuple(found)


# The check-pair weights are the primes, the smallest on the rightmost data character;
# 97 of them bound the data length the algorithm is defined for.
_CHECK_PAIR_WEIGHTS = _primes(97)


_DESCRIPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "NON_DIGIT_CHARACTER": "a digit is expected",
        "INVALID_CSET82_CHARACTER": "character outside GS1 character set 82",
        "INVALID_CSET39_CHARACTER": "character outside GS1 character set 39",
        "INVALID_CSET64_CHARACTER": "character outside the base64url character set",
        "INVALID_CSET64_PADDING": "bad base64url padding",
        "INCORRECT_CHECK_DIGIT": "incorrect check digit",
        "TOO_SHORT_FOR_CHECK_DIGIT": "too short to carry a check digit",
        "INCORRECT_CHECK_PAIR": "incorrect check character pair",
        "TOO_SHORT_FOR_CHECK_PAIR": "too short to carry a check character pair",
        "TOO_LONG_FOR_CHECK_PAIR_IMPLEMENTATION": "too long for a check character pair",
        "INVALID_GCP_PREFIX": "not a valid GS1 Company Prefix",
        "IMPORTER_IDX_MUST_BE_ONE_CHARACTER": "the importer index must be one character",
        "INVALID_IMPORT_IDX_CHARACTER": "not a valid importer index character",
        "ILLEGAL_ZERO_VALUE": "zero is not allowed",
        "NOT_ZERO": "must be zero",
        "ILLEGAL_ZERO_PREFIX": "a leading zero is not allowed",
        "NOT_ZERO_OR_ONE": "must be 0 or 1",
        "INVALID_WINDING_DIRECTION": "winding direction must be 0, 1 or 9",
        "NOT_ISO3166": "not an ISO 3166 numeric country code",
        "NOT_ISO3166_OR_999": "not an ISO 3166 numeric country code or 999",
        "NOT_ISO3166_ALPHA2": "not an ISO 3166 alpha-2 country code",
        "NOT_ISO4217": "not an ISO 4217 numeric currency code",
        "IBAN_TOO_SHORT": "IBAN too short",
        "IBAN_TOO_LONG": "IBAN too long",
        "INVALID_IBAN_CHARACTER": "character not allowed in an IBAN",
        "ILLEGAL_IBAN_COUNTRY_CODE": "not an IBAN country code",
        "INCORRECT_IBAN_CHECKSUM": "incorrect IBAN check digits",
        "DATE_TOO_SHORT": "date too short",
        "DATE_TOO_LONG": "date too long",
        "ILLEGAL_MONTH": "not a valid month",
        "ILLEGAL_DAY": "not a valid day",
        "HOUR_TOO_SHORT": "hour too short",
        "HOUR_TOO_LONG": "hour too long",
        "HOUR_WITH_MINUTE_TOO_SHORT": "time too short",
        "HOUR_WITH_MINUTE_TOO_LONG": "time too long",
        "MINUTE_TOO_SHORT": "minute too short",
        "MINUTE_TOO_LONG": "minute too long",
        "SECOND_TOO_SHORT": "second too short",
        "SECOND_TOO_LONG": "second too long",
        "ILLEGAL_HOUR": "not a valid hour",
        "ILLEGAL_MINUTE": "not a valid minute",
        "ILLEGAL_SECOND": "not a valid second",
        "INVALID_LENGTH_FOR_PIECE_OF_TOTAL": "piece and total must have the same length",
        "ZERO_PIECE_NUMBER": "piece number is zero",
        "ZERO_TOTAL_PIECES": "total number of pieces is zero",
        "PIECE_NUMBER_EXCEEDS_TOTAL": "piece number exceeds the total",
        "INVALID_PERCENT_SEQUENCE": "bad percent-escape",
        "NOT_HYPHEN": "must be hyphens",
        "REQUIRES_NON_DIGIT_CHARACTER": "needs at least one non-digit",
        "INVALID_MEDIA_TYPE": "not an AIDC media type code",
        "INVALID_PACKAGE_TYPE": "not a package type code",
        "INVALID_BIOLOGICAL_SEX_CODE": "not an ISO 5218 sex code",
        "LATITUDE_INVALID_LENGTH": "latitude must be 10 digits",
        "LONGITUDE_INVALID_LENGTH": "longitude must be 10 digits",
        "INVALID_LATITUDE": "latitude out of range",
        "INVALID_LONGITUDE": "longitude out of range",
        "POSITION_IN_SEQUENCE_MALFORMED": "expected position/total",
        "POSITION_EXCEEDS_END": "position exceeds the total",
        "TOO_SHORT_FOR_GCP": "shorter than the shortest GS1 Company Prefix",
        "COUPON_EXCESS_DATA": "coupon data after the last recognised field",
        "COUPON_EXPIRATION_BEFORE_START": "coupon expires before its start date",
        "COUPON_INVALID_EXIPIRATION_DATE": "coupon expiration date is not a valid date",
    }
)


_COUPON_WORDING = (
    ("missing", "missing"),
    ("truncated", "too short"),
    ("invalid", "not valid"),
    ("too short for", "too short"),
)


def describe(code: str) -> str:
    """A short English description of a linter failure code.

    >>> describe("ILLEGAL_DAY"), describe("COUPON_TRUNCATED_OFFER_CODE")
    ('not a valid day', 'coupon offer code too short')
    """
    known = _DESCRIPTIONS.get(code)
    if known is not None:
        return known
    words = code.lower().replace("_", " ")
    if code.startswith("COUPON_"):
        # "COUPON_TRUNCATED_OFFER_CODE" -> "coupon offer code too short".
        for prefix, suffix in _COUPON_WORDING:
            head = f"coupon {prefix} "
            if words.startswith(head):
                field = words[len(head) :].replace(" vli", " length indicator")
                return f"coupon {field} {suffix}"
    return words


@functools.cache
def _code_list(name: str) -> frozenset[str]:
    """Load a bundled one-column code list (``#`` starts a comment line)."""
    text = resources.files("lineside.gs1").joinpath("data", name).read_text("utf-8")
    return frozenset(
        line.split()[0] for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


@functools.cache
def _iso3166_alpha2() -> frozenset[str]:
    text = resources.files("lineside.gs1").joinpath("data", "iso3166.txt").read_text("utf-8")
    return frozenset(
        line.split()[1] for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


# --- character sets ------------------------------------------------------------------


def _csetnumeric(text: str) -> LintFailure | None:
    return non_digit(text)


def _cset82(text: str) -> LintFailure | None:
    for index, char in enumerate(text):
        if char not in _CSET82_VALUE:
            return LintFailure("INVALID_CSET82_CHARACTER", index, index + 1)
    return None


def _cset39(text: str) -> LintFailure | None:
    return first_outside(text, _CSET39_SET, "INVALID_CSET39_CHARACTER")


def _cset64(text: str) -> LintFailure | None:
    data = text.rstrip("=")
    failure = first_outside(data, _CSET64_SET, "INVALID_CSET64_CHARACTER")
    if failure is not None:
        return failure
    padding = len(text) - len(data)
    if padding and (padding > 2 or not data or len(text) % 3 != 0):
        return LintFailure("INVALID_CSET64_PADDING", len(data), len(text))
    return None


# --- check digits ----------------------------------------------------------------------


def _csum(text: str) -> LintFailure | None:
    if not text:
        return LintFailure("TOO_SHORT_FOR_CHECK_DIGIT", 0, 0)
    if not (text.isascii() and text.isdigit()):
        return non_digit(text)
    # Weights alternate 3, 1, 3... leftwards from the digit before the check digit;
    # summing the ASCII codes and removing 48 per digit keeps the loop in C.
    data = text.encode("ascii")
    tripled, single = data[-2::-2], data[-3::-2]
    total = 3 * (sum(tripled) - 48 * len(tripled)) + sum(single) - 48 * len(single)
    if str(-total % 10) != text[-1]:
        return LintFailure("INCORRECT_CHECK_DIGIT", len(text) - 1, len(text))
    return None


def check_pair(data: str) -> str:
    """The two check characters for ``data`` (CSET 82), as used by GMN and MUDI.

    >>> check_pair("1987654Ad4X4bL5ttr2310c")
    '2K'
    """
    weights = _CHECK_PAIR_WEIGHTS
    total = 0
    for index, char in enumerate(reversed(data)):
        total += _CSET82_VALUE[char] * weights[index]
    total %= 1021
    return _CSET32[total >> 5] + _CSET32[total & 31]


def _csumalpha(text: str) -> LintFailure | None:
    if len(text) < 2:
        return whole("TOO_SHORT_FOR_CHECK_PAIR", text)
    if len(text) > len(_CHECK_PAIR_WEIGHTS) + 2:
        return whole("TOO_LONG_FOR_CHECK_PAIR_IMPLEMENTATION", text)
    failure = _cset82(text[:-2])
    if failure is not None:
        return failure
    if check_pair(text[:-2]) != text[-2:]:
        return LintFailure("INCORRECT_CHECK_PAIR", len(text) - 2, len(text))
    return None


# The shortest GS1 Company Prefix: the GS1 prefix and at least one more digit.
_GCP_MIN_LENGTH = 4


def _gcppos1(text: str) -> LintFailure | None:
    # Only the structure is checked: whether a prefix was actually allocated needs GS1's
    # prefix database, which is not bundled (see the conformance known-failures list).
    if len(text) < _GCP_MIN_LENGTH:
        return whole("TOO_SHORT_FOR_GCP", text)
    head = text[:_GCP_MIN_LENGTH]
    if head.isascii() and head.isdigit():
        return None
    return first_outside(head, DIGITS, "INVALID_GCP_PREFIX")


def _gcppos2(text: str) -> LintFailure | None:
    # The GS1 Company Prefix starts after one leading character (extension digit,
    # indicator or type).
    if not text:
        return whole("TOO_SHORT_FOR_GCP", text)
    failure = _gcppos1(text[1:])
    if failure is None:
        return None
    return LintFailure(failure.code, failure.start + 1, failure.end + 1)


# --- codes -----------------------------------------------------------------------------


def _in_list(
    code: str, values: Callable[[], frozenset[str]]
) -> Callable[[str], LintFailure | None]:
    def check(text: str) -> LintFailure | None:
        return None if text in values() else whole(code, text)

    return check


def _iso3166999(text: str) -> LintFailure | None:
    if text == "999" or text in _code_list("iso3166.txt"):
        return None
    return whole("NOT_ISO3166_OR_999", text)


def _importeridx(text: str) -> LintFailure | None:
    if len(text) != 1:
        return whole("IMPORTER_IDX_MUST_BE_ONE_CHARACTER", text)
    if text not in _IMPORTER_INDEX:
        return LintFailure("INVALID_IMPORT_IDX_CHARACTER", 0, 1)
    return None


def _single_of(code: str, allowed: str) -> Callable[[str], LintFailure | None]:
    values = frozenset(allowed)

    def check(text: str) -> LintFailure | None:
        return None if len(text) == 1 and text in values else whole(code, text)

    return check


# ISO 13616 sets no per-format minimum that GS1 applies: the shortest registered IBAN
# has 15 characters, and GS1's reference accepts anything above 10 (enough for the
# check characters), so a stricter per-country table would refuse data GS1 accepts.
_IBAN_MIN_LENGTH = 11


def _iban(text: str) -> LintFailure | None:
    if len(text) < _IBAN_MIN_LENGTH:
        return whole("IBAN_TOO_SHORT", text)
    if len(text) > 34:
        return whole("IBAN_TOO_LONG", text)
    failure = first_outside(text, _IBAN_CHARS, "INVALID_IBAN_CHARACTER")
    if failure is not None:
        return failure
    if text[:2] not in _iso3166_alpha2():
        return LintFailure("ILLEGAL_IBAN_COUNTRY_CODE", 0, 2)
    if not text[2:4].isdigit():
        return LintFailure("INCORRECT_IBAN_CHECKSUM", 2, 4)
    rearranged = text[4:] + text[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    if int(number) % 97 != 1:
        return LintFailure("INCORRECT_IBAN_CHECKSUM", 2, 4)
    return None


# --- numbers ---------------------------------------------------------------------------


def _nonzero(text: str) -> LintFailure | None:
    failure = non_digit(text)
    if failure is not None:
        return failure
    return whole("ILLEGAL_ZERO_VALUE", text) if not text.strip("0") else None


def _zero(text: str) -> LintFailure | None:
    return None if text and not text.strip("0") else whole("NOT_ZERO", text)


def _nozeroprefix(text: str) -> LintFailure | None:
    failure = non_digit(text)
    if failure is not None:
        return failure
    return LintFailure("ILLEGAL_ZERO_PREFIX", 0, 1) if text.startswith("0") else None


def _hyphen(text: str) -> LintFailure | None:
    return None if text and not text.strip("-") else whole("NOT_HYPHEN", text)


def _hasnondigit(text: str) -> LintFailure | None:
    if any(char not in DIGITS for char in text):
        return None
    return whole("REQUIRES_NON_DIGIT_CHARACTER", text)


def _pieceoftotal(text: str) -> LintFailure | None:
    if not text or len(text) % 2:
        return whole("INVALID_LENGTH_FOR_PIECE_OF_TOTAL", text)
    failure = non_digit(text)
    if failure is not None:
        return failure
    half = len(text) // 2
    piece, total = int(text[:half]), int(text[half:])
    if piece == 0:
        return LintFailure("ZERO_PIECE_NUMBER", 0, half)
    if total == 0:
        return LintFailure("ZERO_TOTAL_PIECES", half, len(text))
    if piece > total:
        return whole("PIECE_NUMBER_EXCEEDS_TOTAL", text)
    return None


def _posinseqslash(text: str) -> LintFailure | None:
    position, slash, end = text.partition("/")
    if (
        not slash
        or not position.isdigit()
        or not end.isdigit()
        or not position.isascii()
        or not end.isascii()
    ):
        return whole("POSITION_IN_SEQUENCE_MALFORMED", text)
    if position.startswith("0"):
        return LintFailure("ILLEGAL_ZERO_PREFIX", 0, len(position))
    if end.startswith("0"):
        return LintFailure("ILLEGAL_ZERO_PREFIX", len(position) + 1, len(text))
    if int(position) > int(end):
        return whole("POSITION_EXCEEDS_END", text)
    return None


def _pcenc(text: str) -> LintFailure | None:
    index = text.find("%")
    while index != -1:
        escape = text[index + 1 : index + 3]
        if len(escape) != 2 or escape[0] not in _HEX or escape[1] not in _HEX:
            return LintFailure("INVALID_PERCENT_SEQUENCE", index, index + 1 + len(escape))
        index = text.find("%", index + 3)
    return None


def _coordinate(
    limit: int, length_code: str, range_code: str
) -> Callable[[str], LintFailure | None]:
    def check(text: str) -> LintFailure | None:
        if len(text) != 10:
            return whole(length_code, text)
        failure = non_digit(text)
        if failure is not None:
            return failure
        return whole(range_code, text) if int(text) > limit else None

    return check


# --- dates and times -------------------------------------------------------------------


def _two_digit(name: str, limit: int) -> Callable[[str], LintFailure | None]:
    def check(text: str) -> LintFailure | None:
        if len(text) < 2:
            return whole(f"{name}_TOO_SHORT", text)
        if len(text) > 2:
            return whole(f"{name}_TOO_LONG", text)
        failure = non_digit(text)
        if failure is not None:
            return failure
        return whole(f"ILLEGAL_{name}", text) if int(text) > limit else None

    return check


def _hhmi(text: str) -> LintFailure | None:
    if len(text) < 4:
        return whole("HOUR_WITH_MINUTE_TOO_SHORT", text)
    if len(text) > 4:
        return whole("HOUR_WITH_MINUTE_TOO_LONG", text)
    failure = non_digit(text)
    if failure is not None:
        return failure
    if int(text[:2]) > 23:
        return LintFailure("ILLEGAL_HOUR", 0, 2)
    if int(text[2:]) > 59:
        return LintFailure("ILLEGAL_MINUTE", 2, 4)
    return None


_LINTERS: Mapping[str, Callable[[str], LintFailure | None]] = MappingProxyType(
    {
        "csetnumeric": _csetnumeric,
        "cset82": _cset82,
        "cset39": _cset39,
        "cset64": _cset64,
        "csum": _csum,
        "csumalpha": _csumalpha,
        "gcppos1": _gcppos1,
        "gcppos2": _gcppos2,
        "iso3166": _in_list("NOT_ISO3166", lambda: _code_list("iso3166.txt")),
        "iso3166999": _iso3166999,
        "iso3166alpha2": _in_list("NOT_ISO3166_ALPHA2", _iso3166_alpha2),
        "iso4217": _in_list("NOT_ISO4217", lambda: _code_list("iso4217.txt")),
        "iso5218": _single_of("INVALID_BIOLOGICAL_SEX_CODE", "0129"),
        "importeridx": _importeridx,
        "iban": _iban,
        "mediatype": _in_list("INVALID_MEDIA_TYPE", lambda: _MEDIA_TYPES),
        "packagetype": _in_list("INVALID_PACKAGE_TYPE", lambda: _code_list("packagetype.txt")),
        "nonzero": _nonzero,
        "zero": _zero,
        "nozeroprefix": _nozeroprefix,
        "yesno": _single_of("NOT_ZERO_OR_ONE", "01"),
        "winding": _single_of("INVALID_WINDING_DIRECTION", "019"),
        "hyphen": _hyphen,
        "hasnondigit": _hasnondigit,
        "pieceoftotal": _pieceoftotal,
        "posinseqslash": _posinseqslash,
        "pcenc": _pcenc,
        "latitude": _coordinate(1_800_000_000, "LATITUDE_INVALID_LENGTH", "INVALID_LATITUDE"),
        "longitude": _coordinate(3_600_000_000, "LONGITUDE_INVALID_LENGTH", "INVALID_LONGITUDE"),
        "yymmdd": date_linter(2, day_zero=False),
        "yymmd0": date_linter(2, day_zero=True),
        "yyyymmdd": date_linter(4, day_zero=False),
        "yyyymmd0": date_linter(4, day_zero=True),
        "hh": _two_digit("HOUR", 23),
        "mi": _two_digit("MINUTE", 59),
        "ss": _two_digit("SECOND", 59),
        "hhmi": _hhmi,
        "couponcode": lint_couponcode,
        "couponposoffer": lint_couponposoffer,
    }
)

#: Names of every linter this module implements.
LINTER_NAMES: frozenset[str] = frozenset(_LINTERS)


def linter(name: str) -> Callable[[str], LintFailure | None]:
    """The linter function called ``name``; :class:`GS1Error` when there is none.

    >>> linter("csum")("02345673") is None
    True
    """
    try:
        return _LINTERS[name]
    except KeyError:
        raise GS1Error(f"unknown GS1 syntax linter {name!r}") from None


def lint(name: str, text: str) -> LintFailure | None:
    """Apply linter ``name`` to ``text``.

    >>> lint("iso3166", "704") is None
    True
    """
    return linter(name)(text)
