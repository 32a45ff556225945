"""GS1 Digital Link URIs (uncompressed): build them from, and read them into, element strings.

The path holds the primary key and its key qualifiers in dictionary order; other AIs
that the syntax dictionary permits as data attributes go in the query string:
predefined-length AIs (dates, measures, other keys) first, then the others, each group
in message order.

>>> m = GS1Message.parse("(01)08934567890120(17)261231(10)LOT/7(21)X7K2")
>>> uri = to_digital_link(m, stem="https://trace.example.vn/p")
>>> uri
'https://trace.example.vn/p/01/08934567890120/10/LOT%2F7/21/X7K2?17=261231'
>>> parse_digital_link(uri).as_bracketed()
'(01)08934567890120(10)LOT/7(21)X7K2(17)261231'
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from types import MappingProxyType

from lineside.errors import DigitalLinkError, GS1Error
from lineside.gs1.dictionary import AIDefinition, syntax_dictionary
from lineside.gs1.message import MAX_DATA_LENGTH, ElementString, GS1Message

__all__ = [
    "CONVENIENCE_ALPHAS",
    "GS1_RESOLVER_ROOT",
    "DigitalLinkParts",
    "key_and_qualifiers",
    "parse_digital_link",
    "percent_decode",
    "percent_encode",
    "split_digital_link",
    "to_digital_link",
]

#: GS1's own resolver: the default stem of a Digital Link, and the domain of the canonical
#: Digital Link URIs that EPCIS events use as EPCs.
GS1_RESOLVER_ROOT = "https://id.gs1.org"

#: The short path names ("convenience alphas") of GS1 Digital Link 1.0 for primary
#: keys and key qualifiers; later versions use the numeric AIs only.
CONVENIENCE_ALPHAS: Mapping[str, str] = MappingProxyType(
    {
        "sscc": "00",
        "gtin": "01",
        "cpv": "22",
        "lot": "10",
        "ser": "21",
        "gdti": "253",
        "glnx": "254",
        "gcn": "255",
        "ginc": "401",
        "gsin": "402",
        "gln": "414",
        "party": "417",
        "grai": "8003",
        "giai": "8004",
        "itip": "8006",
        "cpid": "8010",
        "cpsn": "8011",
        "gmn": "8013",
        "gsrnp": "8017",
        "gsrn": "8018",
        "srin": "8019",
    }
)

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_URI_CHARS = frozenset(string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=%")
_HOST_CHARS = frozenset(string.ascii_letters + string.digits + "-.:[]")
_HEX = frozenset("0123456789abcdefABCDEF")
_SCHEME = re.compile(r"^(https?|HTTPS?)://")


@dataclass(frozen=True, slots=True)
class DigitalLinkParts:
    """A Digital Link split into its roles.

    ``ignored_query`` lists non-AI query parameters the parser skipped.
    """

    stem: str
    primary_key: ElementString
    qualifiers: tuple[ElementString, ...]
    attributes: tuple[ElementString, ...]
    ignored_query: tuple[str, ...]

    @property
    def message(self) -> GS1Message:
        """Path AIs, then query AIs, as one message."""
        return GS1Message((self.primary_key, *self.qualifiers, *self.attributes))

    def as_uri(self, stem: str | None = None) -> str:
        """The URI again, on ``stem`` (default: its own), keeping the path as given
        and the data attributes in :func:`to_digital_link` order; ignored query
        parameters are dropped. Call :func:`parse_digital_link` first to validate.

        >>> parts = split_digital_link("https://a.example/01/08934567890120/235/X1?10=L1&k=v")
        >>> parts.as_uri("https://b.example")
        'https://b.example/01/08934567890120/235/X1?10=L1'
        """
        return _build_uri(
            self.stem if stem is None else stem,
            (self.primary_key, *self.qualifiers),
            list(self.attributes),
        )


def percent_encode(value: str, *, query: bool = False) -> str:
    """Percent-encode everything but RFC 3986 unreserved characters.

    A space becomes ``%20`` in a path segment and ``+`` in a query value. A path segment
    that is only ``.`` or ``..`` has its dots escaped: every client removes such dot
    segments from a URI's path (RFC 3986, 5.2.4), which would lose the value.

    >>> percent_encode("A B/1"), percent_encode("A B", query=True)
    ('A%20B%2F1', 'A+B')
    >>> percent_encode(".."), percent_encode("...")
    ('%2E%2E', '...')
    """
    if not query and value in (".", ".."):
        return value.replace(".", "%2E")
    out: list[str] = []
    for char in value:
        if char in _UNRESERVED:
            out.append(char)
        elif char == " " and query:
            out.append("+")
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
    return "".join(out)


def percent_decode(value: str, *, query: bool = False) -> str:
    """Decode ``%XX`` escapes (and ``+`` as space in a query value).

    Each escape stands for one byte, returned as the character of the same code
    (Latin-1); a ``%`` not followed by two hex digits is kept literally.

    >>> percent_decode("ABC%2d123"), percent_decode("A+B", query=True), percent_decode("A%4g")
    ('ABC-123', 'A B', 'A%4g')
    """
    if "%" not in value and not (query and "+" in value):
        return value
    out: list[str] = []
    index = 0
    length = len(value)
    while index < length:
        char = value[index]
        if (
            char == "%"
            and index + 2 < length + 0
            and value[index + 1] in _HEX
            and value[index + 2] in _HEX
        ):
            out.append(chr(int(value[index + 1 : index + 3], 16)))
            index += 3
            continue
        out.append(" " if query and char == "+" else char)
        index += 1
    return "".join(out)


def _qualifier_sequence(definition: AIDefinition, present: AbstractSet[str]) -> tuple[str, ...]:
    """The qualifier alternative to use: the first that has any of the present AIs."""
    for sequence in definition.dl_qualifiers:
        if not present.isdisjoint(sequence):
            return sequence
    return definition.dl_qualifiers[0] if definition.dl_qualifiers else ()


def to_digital_link(
    message: GS1Message, stem: str = GS1_RESOLVER_ROOT, *, permit_unknown_ais: bool = False
) -> str:
    """Build the uncompressed GS1 Digital Link URI for ``message``.

    The first primary-key AI (01, 00, 414, 8004...) goes in the path with its present
    key qualifiers in dictionary order; every other AI must be a permitted data
    attribute and goes in the query string, predefined-length AIs first, each group in
    message order (exact repeats dropped).
    The message is validated first. ``stem`` is the resolver: scheme, domain and an
    optional path prefix. ``permit_unknown_ais`` lets AIs absent from the dictionary
    through, as data attributes.

    >>> to_digital_link(GS1Message.parse("(00)089345678912345677"))
    'https://id.gs1.org/00/089345678912345677'
    """
    try:
        message.validate(permit_unknown_ais=permit_unknown_ais)
    except DigitalLinkError:
        raise
    except GS1Error as exc:
        raise DigitalLinkError(f"cannot build a Digital Link: {exc}") from exc
    dictionary = syntax_dictionary()
    primary, qualifiers = key_and_qualifiers(message)
    if primary is None:
        raise DigitalLinkError(
            f"cannot build a Digital Link: no primary key AI in {message.as_bracketed()}"
        )
    in_path = {primary, *qualifiers}
    path_ais = {element.ai for element in in_path}
    attributes: list[ElementString] = []
    for element in message.elements:
        if element in in_path or element in attributes:
            continue
        if element.ai in path_ais:
            raise DigitalLinkError(
                f"cannot build a Digital Link: AI ({element.ai}) repeats a path AI with "
                f"another value"
            )
        definition = dictionary.get(element.ai)
        if (definition is None and not permit_unknown_ais) or (
            definition is not None and not definition.dl_data_attribute
        ):
            raise DigitalLinkError(
                f"cannot build a Digital Link: AI ({element.ai}) is not permitted as a "
                "data attribute"
            )
        attributes.append(element)
    return _build_uri(stem, (primary, *qualifiers), attributes)


def _build_uri(stem: str, path: Iterable[ElementString], attributes: list[ElementString]) -> str:
    dictionary = syntax_dictionary()
    # Stable: predefined-length AIs first, as in the raw element string form (an
    # unknown AI's length is unknown, so it counts as variable).
    ordered = sorted(attributes, key=lambda element: _needs_separator(dictionary.get(element.ai)))
    path_text = "".join(f"/{element.ai}/{percent_encode(element.value)}" for element in path)
    query = "&".join(
        f"{element.ai}={percent_encode(element.value, query=True)}" for element in ordered
    )
    uri = stem.rstrip("/") + path_text
    return f"{uri}?{query}" if query else uri


def _needs_separator(definition: AIDefinition | None) -> bool:
    return definition is None or definition.fnc1_required


def key_and_qualifiers(
    message: GS1Message,
) -> tuple[ElementString | None, tuple[ElementString, ...]]:
    """The message's primary key (its first key AI) and present key qualifiers in order.

    >>> key, quals = key_and_qualifiers(GS1Message.parse("(21)S1(01)08934567890120(10)L1"))
    >>> key.ai, [q.ai for q in quals]
    ('01', ['10', '21'])
    """
    dictionary = syntax_dictionary()
    elements = message.elements
    for element in elements:
        definition = dictionary.get(element.ai)
        if definition is not None and definition.dl_primary_key:
            # The first element of each AI, as GS1Message.get returns it.
            first: dict[str, ElementString] = {}
            for other in elements:
                first.setdefault(other.ai, other)
            sequence = _qualifier_sequence(definition, first.keys())
            return element, tuple(first[ai] for ai in sequence if ai in first)
    return None, ()


def _check_uri_characters(uri: str) -> None:
    for index, char in enumerate(uri):
        if char not in _URI_CHARS:
            raise DigitalLinkError(
                f"Digital Link: character {char!r} at position {index + 1} is not allowed in a URI"
            )


def _decode_value(ai: str, raw: str, *, query: bool) -> str:
    value = percent_decode(raw, query=query)
    if not value:
        raise DigitalLinkError(f"Digital Link: AI ({ai}) has an empty value")
    if "\x00" in value:
        raise DigitalLinkError(f"Digital Link: AI ({ai}) value contains a NUL byte")
    return value


def split_digital_link(
    uri: str,
    *,
    permit_zero_suppressed_gtin: bool = False,
    permit_unknown_ais: bool = False,
    permit_convenience_alphas: bool = False,
) -> DigitalLinkParts:
    """Split a Digital Link URI into stem, primary key, qualifiers and data attributes.

    Only syntax is checked here; :func:`parse_digital_link` also validates the AIs.
    ``permit_unknown_ais`` takes query parameters named by 2-4 digits that are not in
    the dictionary as data attributes; ``permit_convenience_alphas`` reads the short
    names of GS1 Digital Link 1.0 (``/gtin/``, ``/ser/``...) in the path as their AIs.

    >>> parts = split_digital_link("https://a.example/x/01/08934567890120/21/S1?17=261231&k=v")
    >>> parts.stem, parts.primary_key.value, parts.qualifiers[0].ai, parts.ignored_query
    ('https://a.example/x', '08934567890120', '21', ('k=v',))
    """
    prefix, host, path, query = _split_uri(uri)
    segments = path[1:].split("/")
    stem_segments = list(segments)
    if permit_convenience_alphas:
        # Only AI positions (every other segment, counted back from the last value).
        for position in range(len(segments) - 2, -1, -2):
            segments[position] = CONVENIENCE_ALPHAS.get(segments[position], segments[position])
    key_index = _primary_key_index(segments, path)
    primary, qualifiers = _path_elements(segments, key_index, permit_zero_suppressed_gtin)
    attributes, ignored = _query_elements(
        query, primary, qualifiers, permit_zero_suppressed_gtin, permit_unknown_ais
    )
    return DigitalLinkParts(
        stem=prefix + host + "/".join(["", *stem_segments[:key_index]]),
        primary_key=primary,
        qualifiers=qualifiers,
        attributes=attributes,
        ignored_query=ignored,
    )


def _split_uri(uri: str) -> tuple[str, str, str, str]:
    """Scheme and ``//``, host, path and query of a Digital Link, each checked."""
    if len(uri) > MAX_DATA_LENGTH:
        raise DigitalLinkError(
            f"Digital Link is {len(uri)} characters, at most {MAX_DATA_LENGTH} accepted"
        )
    match = _SCHEME.match(uri)
    if match is None:
        raise DigitalLinkError(
            f"Digital Link must start with http:// or https://, got {uri[:12]!r}"
        )
    _check_uri_characters(uri)
    rest = uri[match.end() :].split("#", 1)[0]
    path_and_host, _, query = rest.partition("?")
    slash = path_and_host.find("/")
    if slash <= 0:
        raise DigitalLinkError("Digital Link: a domain and a path are required")
    host = path_and_host[:slash]
    bad_host = next((char for char in host if char not in _HOST_CHARS), None)
    if bad_host is not None:
        raise DigitalLinkError(f"Digital Link: character {bad_host!r} not allowed in domain")
    path = path_and_host[slash:]
    if path.endswith("/"):
        raise DigitalLinkError("Digital Link: the path must not end with '/'")
    return uri[: match.end()], host, path, query


def _primary_key_index(segments: list[str], path: str) -> int:
    """Where the primary key AI is: the last run of AI/value pairs ends the path."""
    dictionary = syntax_dictionary()
    index = len(segments) - 2
    while index >= 0:
        ai = segments[index]
        definition = dictionary.get(ai) if ai.isdigit() else None
        if definition is None:
            break
        if definition.dl_primary_key:
            return index
        index -= 2
    raise DigitalLinkError(f"Digital Link: no primary key AI found in path {path!r}")


def _path_elements(
    segments: list[str], key_index: int, permit_zero_suppressed_gtin: bool
) -> tuple[ElementString, tuple[ElementString, ...]]:
    """The primary key and its qualifiers, in an order the key's definition allows."""
    pairs = [(segments[i], segments[i + 1]) for i in range(key_index, len(segments) - 1, 2)]
    for ai, raw in pairs:
        if not raw:
            raise DigitalLinkError(f"Digital Link: AI ({ai}) has an empty value in the path")
    key_ai, key_raw = pairs[0]
    key_value = _decode_value(key_ai, key_raw, query=False)
    if key_ai == "01":
        key_value = _expand_gtin(key_value, permit_zero_suppressed_gtin)
    key_definition = syntax_dictionary()[key_ai]
    qualifier_ais = [ai for ai, _ in pairs[1:]]
    if qualifier_ais and not any(
        _is_ordered_subsequence(qualifier_ais, sequence)
        for sequence in key_definition.dl_qualifiers
    ):
        allowed = " or ".join(",".join(seq) for seq in key_definition.dl_qualifiers) or "none"
        raise DigitalLinkError(
            f"Digital Link: path qualifiers {','.join(qualifier_ais)} are not valid after "
            f"AI ({key_ai}) (allowed in order: {allowed})"
        )
    qualifiers = tuple(
        ElementString(ai, _decode_value(ai, raw, query=False)) for ai, raw in pairs[1:]
    )
    return ElementString(key_ai, key_value), qualifiers


def _query_elements(
    query: str,
    primary: ElementString,
    qualifiers: tuple[ElementString, ...],
    permit_zero_suppressed_gtin: bool,
    permit_unknown_ais: bool,
) -> tuple[tuple[ElementString, ...], tuple[str, ...]]:
    """The data attributes of the query string, and the parameters that are not AIs."""
    dictionary = syntax_dictionary()
    key_definition = dictionary[primary.ai]
    qualifier_ais = [element.ai for element in qualifiers]
    path_ais = {primary.ai, *qualifier_ais}
    # A query AI that could have been a path qualifier (in an alternative the path
    # qualifiers fit) must be in the path instead.
    open_qualifiers = {
        ai
        for sequence in key_definition.dl_qualifiers
        if _is_ordered_subsequence(qualifier_ais, sequence)
        for ai in sequence
    }
    attributes: list[ElementString] = []
    ignored: list[str] = []
    for parameter in query.split("&"):
        if not parameter:
            continue
        name, equals, raw = parameter.partition("=")
        if not name.isdigit():
            ignored.append(parameter)
            continue
        definition = dictionary.get(name)
        if definition is None and not (permit_unknown_ais and 2 <= len(name) <= 4):
            raise DigitalLinkError(f"Digital Link: query parameter {name!r} is not a known AI")
        if not equals:
            raise DigitalLinkError(f"Digital Link: query AI ({name}) has no value")
        if name in path_ais or name in open_qualifiers:
            raise DigitalLinkError(
                f"Digital Link: AI ({name}) belongs in the path, not the query string"
            )
        if any(element.ai == name for element in attributes):
            raise DigitalLinkError(f"Digital Link: AI ({name}) appears twice in the query string")
        if definition is not None and not definition.dl_data_attribute:
            raise DigitalLinkError(
                f"Digital Link: AI ({name}) is not permitted as a data attribute"
            )
        value = _decode_value(name, raw, query=True)
        if name == "01":
            value = _expand_gtin(value, permit_zero_suppressed_gtin)
        attributes.append(ElementString(name, value))
    return tuple(attributes), tuple(ignored)


def _expand_gtin(value: str, permit_zero_suppressed: bool) -> str:
    if len(value) in (8, 12, 13) and value.isdigit() and value.isascii():
        if not permit_zero_suppressed:
            raise DigitalLinkError(
                f"Digital Link: GTIN {value} must have 14 digits (zero-suppressed GTIN)"
            )
        return value.zfill(14)
    return value


def _is_ordered_subsequence(items: list[str], sequence: tuple[str, ...]) -> bool:
    position = 0
    for item in items:
        try:
            position = sequence.index(item, position) + 1
        except ValueError:
            return False
    return True


def parse_digital_link(
    uri: str,
    *,
    permit_zero_suppressed_gtin: bool = False,
    permit_unknown_ais: bool = False,
    permit_convenience_alphas: bool = False,
) -> GS1Message:
    """Read a GS1 Digital Link URI into a validated :class:`GS1Message`.

    Path AIs come first, then the query AIs in URI order; non-AI query parameters and
    the fragment are ignored. Errors are :class:`DigitalLinkError` naming the problem.
    The options are those of :func:`split_digital_link`.

    >>> parse_digital_link("https://a.example/gtin/08934567890120/ser/S1",
    ...                    permit_convenience_alphas=True).as_bracketed()
    '(01)08934567890120(21)S1'

    >>> parse_digital_link("https://id.gs1.org/01/08934567890120?17=261231").get("17")
    '261231'
    >>> parse_digital_link("https://id.gs1.org/01/08934567890120?10=LOT1")
    Traceback (most recent call last):
    ...
    lineside.errors.DigitalLinkError: Digital Link: AI (10) belongs in the path, not the \
query string
    """
    parts = split_digital_link(
        uri,
        permit_zero_suppressed_gtin=permit_zero_suppressed_gtin,
        permit_unknown_ais=permit_unknown_ais,
        permit_convenience_alphas=permit_convenience_alphas,
    )
    message = parts.message
    try:
        message.validate(permit_unknown_ais=permit_unknown_ais)
    except DigitalLinkError:
        raise
    except GS1Error as exc:
        raise DigitalLinkError(f"Digital Link: {exc}") from exc
    return message
