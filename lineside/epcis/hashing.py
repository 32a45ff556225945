"""The EPCIS event hash (CBV 2.0, ``ni:///sha-256;<hex>?ver=CBV2.0``).

An event hash identifies *what happened*, independent of how it was written down: the
same event serialised with different key order, time zone, timestamp precision, EPC URN
or Digital Link spelling, bare or full CBV terms, hashes the same. This makes it a safe
``eventID``: an event delivered twice is recognised as the same event.

The algorithm builds a *pre-hash string* and hashes its UTF-8 bytes with SHA-256:

1. ``eventType=<type>``;
2. the standard fields in the standard order (``eventTime``, ``eventTimeZoneOffset``,
   ``certificationInfo``, ``parentID``, ``epcList``, ``inputEPCList``, ``childEPCs``,
   ``quantityList``, ``childQuantityList``, ``inputQuantityList``, ``outputEPCList``,
   ``outputQuantityList``, ``action``, ``transformationID``, ``bizStep``,
   ``disposition``, ``persistentDisposition``, ``readPoint``, ``bizLocation``,
   ``sensorElementList``), each written ``name=value`` (containers as ``name`` followed by
   their children; repeated values sorted);
3. everything else, each written the same way and sorted: ``ilmd``, ``bizTransactionList``,
   ``sourceList``, ``destinationList`` and user extensions (``{namespace}name=value``).
   Placing the three lists here, rather than before ``sensorElementList``, is what the
   published reference implementation and its test vectors do; we follow the vectors.

``eventID``, ``recordTime``, ``errorDeclaration`` and comments are left out. Values are
normalised: timestamps to UTC with millisecond precision (``2020-03-04T10:00:30.000Z``),
identifiers to canonical GS1 Digital Link (:func:`canonical_digital_link`), CBV terms to
their ``https://ref.gs1.org/cbv/`` URIs, numbers to their shortest form (``"2.50"`` ->
``2.5``, ``"007"`` -> ``7``).

>>> event = {
...     "type": "ObjectEvent", "action": "OBSERVE",
...     "eventTime": "2020-03-04T11:00:30.000+01:00", "eventTimeZoneOffset": "+01:00",
...     "epcList": ["urn:epc:id:sscc:4012345.0000000333"], "bizStep": "departing",
... }
>>> prehash_string(event)[:64]
'eventType=ObjectEventeventTime=2020-03-04T10:00:30.000ZeventTime'
>>> event_hash(event)[:20]
'ni:///sha-256;96b0b7'
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from lineside.epcis.identifiers import canonical_digital_link
from lineside.epcis.vocabulary import (
    LINESIDE_NAMESPACE,
    BizStep,
    BizTransactionType,
    Disposition,
    SourceDestType,
    expand_cbv_term,
)
from lineside.errors import EPCISError

if TYPE_CHECKING:
    from lineside.epcis.models import EPCISDocument, Event

__all__ = [
    "STANDARD_PREFIXES",
    "document_hashes",
    "document_prehashes",
    "event_hash",
    "hash_prehash",
    "prehash_string",
]

#: Prefixes defined by the EPCIS 2.0 JSON-LD context, used to expand extension names.
STANDARD_PREFIXES: Mapping[str, str] = {
    "epcis": "https://ref.gs1.org/epcis/",
    "cbv": "https://ref.gs1.org/cbv/",
    "cbvmda": "urn:epcglobal:cbv:mda:",
    "gs1": "https://gs1.org/voc/",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dcterms": "http://purl.org/dc/terms/",
}
# Lineside's own extension prefix is known too, so that an event hashes the same on its
# own and inside a document that declares it.
_KNOWN_PREFIXES: Mapping[str, str] = {**STANDARD_PREFIXES, "lineside": LINESIDE_NAMESPACE}

_GS1_VOC = "https://gs1.org/voc/"
_IGNORED_EVERYWHERE = frozenset({"#text", "comment", "rdfs:comment", "@context"})
_IGNORED_TOP = frozenset({"recordTime", "eventID", "type", "errorDeclaration"})
_EPC_LISTS = frozenset({"epcList", "inputEPCList", "outputEPCList", "childEPCs"})
_QUANTITY_LISTS = frozenset(
    {"quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"}
)
_PAIR_LISTS = {"bizTransactionList": "bizTransaction", "sourceList": "source"}
_PAIR_LISTS["destinationList"] = "destination"
_PAIR = "\x00pair"  # a node holding one (type, value) pair; never a JSON key

_Order = Sequence[tuple[str, "_Order | None"]]

_QUANTITY: _Order = (("epcClass", None), ("quantity", None), ("uom", None))
_SENSOR_METADATA: _Order = tuple(
    (name, None)
    for name in (
        "time",
        "startTime",
        "endTime",
        "deviceID",
        "deviceMetadata",
        "rawData",
        "dataProcessingMethod",
        "bizRules",
    )
)
_SENSOR_REPORT: _Order = tuple(
    (name, None)
    for name in (
        "type",
        "exception",
        "deviceID",
        "deviceMetadata",
        "rawData",
        "dataProcessingMethod",
        "time",
        "microorganism",
        "chemicalSubstance",
        "value",
        "component",
        "stringValue",
        "booleanValue",
        "hexBinaryValue",
        "uriValue",
        "minValue",
        "maxValue",
        "meanValue",
        "sDev",
        "percRank",
        "percValue",
        "uom",
        "coordinateReferenceSystem",
    )
)
_EVENT_ORDER: _Order = (
    ("eventTime", None),
    ("eventTimeZoneOffset", None),
    ("certificationInfo", None),
    ("parentID", None),
    ("epcList", (("epc", None),)),
    ("inputEPCList", (("epc", None),)),
    ("childEPCs", (("epc", None),)),
    ("quantityList", (("quantityElement", _QUANTITY),)),
    ("childQuantityList", (("quantityElement", _QUANTITY),)),
    ("inputQuantityList", (("quantityElement", _QUANTITY),)),
    ("outputEPCList", (("epc", None),)),
    ("outputQuantityList", (("quantityElement", _QUANTITY),)),
    ("action", None),
    ("transformationID", None),
    ("bizStep", None),
    ("disposition", None),
    ("persistentDisposition", (("set", None), ("unset", None))),
    ("readPoint", (("id", None),)),
    ("bizLocation", (("id", None),)),
    (
        "sensorElementList",
        (
            (
                "sensorElement",
                (("sensorMetadata", _SENSOR_METADATA), ("sensorReport", _SENSOR_REPORT)),
            ),
        ),
    ),
)


@dataclass
class _Node:
    """One element of the event tree, shaped like the XML binding: name, text, children."""

    name: str
    text: str = ""
    children: list[_Node] = field(default_factory=list)


@dataclass(frozen=True)
class _Namespaces:
    keys: Mapping[str, str]
    values: Mapping[str, str]

    def key(self, name: str) -> str:
        prefix, sep, local = name.partition(":")
        if sep and prefix in self.keys:
            return "{" + self.keys[prefix] + "}" + local
        return name

    def value(self, text: str) -> str:
        prefix, sep, local = text.partition(":")
        if sep and prefix in self.values:
            return self.values[prefix] + local
        return text


def _namespaces(context: object) -> _Namespaces:
    """Prefix maps from a JSON-LD ``@context`` (a URL, a mapping, or a list of them)."""
    if context is None:
        return _NO_CONTEXT
    declared: dict[str, str] = {}
    names_only: dict[str, str] = {}
    items = context if isinstance(context, list) else [context]
    for item in items:
        if isinstance(item, Mapping):
            declared.update({k: v for k, v in item.items() if isinstance(v, str)})
            names_only.update(
                {
                    k: v["@id"]
                    for k, v in item.items()
                    if isinstance(v, Mapping) and isinstance(v.get("@id"), str)
                }
            )
    # Names expand with the standard prefixes too; values only with those the document
    # declares itself as plain strings, as the reference implementation does. Prefixes
    # defined as {"@id": ...} objects come from XML namespaces (see lineside.epcis.xml):
    # they expand names only, because XML text is never a compact IRI.
    return _Namespaces(keys={**_KNOWN_PREFIXES, **names_only, **declared}, values=declared)


#: The prefix maps of an event without ``@context`` (the usual case), built once.
_NO_CONTEXT = _Namespaces(keys=dict(_KNOWN_PREFIXES), values={})


# --- value normalisation -------------------------------------------------------------

_RFC3339 = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d\d):?(\d\d))?$"
)
_LEGACY_CBV = (
    ("urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-"),
    ("urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-"),
    ("urn:epcglobal:cbv:btt:", "https://ref.gs1.org/cbv/BTT-"),
    ("urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-"),
    ("urn:epcglobal:cbv:er:", "https://ref.gs1.org/cbv/ER-"),
)


#: A UTC timestamp with milliseconds or more digits (``Z``), as a line writes its times.
_UTC_TIME = re.compile(r"([1-9]\d{3})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})(\d*)Z", re.ASCII)


def _utc_millis(text: str) -> str:
    """A timestamp in UTC at millisecond precision; unparseable text is kept as is."""
    m = _UTC_TIME.fullmatch(text)
    if m is None:
        return _utc_millis_parsed(text)
    if not m[8]:
        # Canonical already. Valid, it renders as itself; invalid (a 30th of February),
        # it is kept as is.
        return text
    try:
        year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return text
    # Round the digits past the milliseconds half to even, as the general path does.
    millis, rest = int(m[7]), m[8]
    if rest[0] > "5" or (rest[0] == "5" and (rest[1:].strip("0") or millis % 2)):
        millis += 1
        if millis == 1000:  # into the next second: the general path carries it
            return _utc_millis_parsed(text)
    return f"{text[:19]}.{millis:03d}Z"


def _utc_millis_parsed(text: str) -> str:
    """:func:`_utc_millis` of any RFC 3339 timestamp, through its date and time."""
    m = _RFC3339.match(text)
    if m is None:
        return text
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    millis = Decimal("0." + (m[7] or "0")).quantize(Decimal("0.001"), ROUND_HALF_EVEN)
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return text
    if m[9]:
        offset = timedelta(hours=int(m[10]), minutes=int(m[11]))
        moment -= offset if m[9] == "+" else -offset
    # A timestamp without offset is read as UTC (EPCIS requires one; this is a fallback).
    moment += timedelta(milliseconds=int(millis * 1000))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _numeric(text: str) -> str:
    """Numbers in their shortest form: ``"2.50"`` -> ``"2.5"``, ``"007"`` -> ``"7"``."""
    try:
        number = float(text)
    except ValueError:
        return text
    if number.is_integer():
        return str(int(number))
    return str(number)


# Most values of a line's events repeat (business step, read point, GTIN, company
# prefix): their normalised form is kept rather than worked out again for every event.
@lru_cache(maxsize=4096)
def _canonical_value(text: str) -> str:
    for legacy, web in _LEGACY_CBV:
        text = text.replace(legacy, web)
    text = _numeric(text)
    return canonical_digital_link(text) or text


def _is_time(name: str) -> bool:
    lowered = name.lower()
    return "time" in lowered and "offset" not in lowered


# --- JSON to tree ----------------------------------------------------------------------


def _text(value: object, ns: _Namespaces) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return ns.value(value)
    return str(value)


_expand_term = lru_cache(maxsize=1024)(expand_cbv_term)


def _vocabulary(name: str, value: object, parent: str) -> object:
    """Expand a bare vocabulary term the way the JSON-LD context does."""
    if not isinstance(value, str):
        return value
    if parent == "" and name == "bizStep":
        return _expand_term(BizStep, value)
    if (parent == "" and name == "disposition") or parent == "persistentDisposition":
        return _expand_term(Disposition, value)
    if parent == "bizTransactionList" and name == "type":
        return _expand_term(BizTransactionType, value)
    if parent in ("sourceList", "destinationList") and name == "type":
        return _expand_term(SourceDestType, value)
    if parent == "sensorReport" and name in ("type", "exception", "component"):
        if ":" in value:
            prefix, _, local = value.partition(":")
            base = STANDARD_PREFIXES.get(prefix)
            return base + local if base else value
        return ("https://ref.gs1.org/cbv/Comp-" if name == "component" else _GS1_VOC) + value
    return value


def _list_item_name(key: str) -> str | None:
    if key in _EPC_LISTS:
        return "epc"
    if key in _QUANTITY_LISTS:
        return "quantityElement"
    if key.endswith("List"):
        return key[:-4]
    return None


def _nodes(obj: Mapping[str, Any], ns: _Namespaces, parent: str) -> list[_Node]:
    nodes: list[_Node] = []
    for raw_key, value in obj.items():
        if not isinstance(raw_key, str) or raw_key in _IGNORED_EVERYWHERE or value is None:
            continue
        key = ns.key(raw_key)
        if isinstance(value, list) and raw_key in _PAIR_LISTS:
            nodes.append(_Node(key, children=[_pair(v, raw_key, ns) for v in value]))
        elif isinstance(value, list):
            item = _list_item_name(raw_key)
            elements = [_node(item or key, v, ns, parent, raw_key) for v in _flatten(value)]
            nodes.extend([_Node(key, children=elements)] if item else elements)
        else:
            nodes.append(_node(key, value, ns, parent, raw_key))
    return nodes


def _flatten(values: Iterable[Any]) -> Iterable[Any]:
    for v in values:
        if isinstance(v, list):
            yield from _flatten(v)
        elif v is not None:
            yield v


def _node(
    name: str, value: object, ns: _Namespaces, parent: str, raw_name: str | None = None
) -> _Node:
    value = _vocabulary(raw_name or name, value, parent)
    if isinstance(value, Mapping):
        text = value.get("#text")
        return _Node(
            name,
            _text(text, ns) if text is not None else "",
            _nodes(value, ns, raw_name or name),
        )
    return _Node(name, _text(value, ns))


def _pair(entry: object, list_name: str, ns: _Namespaces) -> _Node:
    """One bizTransaction/source/destination: its type (if any) then its value."""
    value_key = _PAIR_LISTS[list_name]
    children: list[_Node] = []
    if isinstance(entry, Mapping):
        if entry.get("type") is not None:
            children.append(_Node("type", _text(_vocabulary("type", entry["type"], list_name), ns)))
        if entry.get(value_key) is not None:
            children.append(_Node(value_key, _text(entry[value_key], ns)))
    return _Node(_PAIR, children=children)


# --- tree to pre-hash string -------------------------------------------------------------


def _is_user_extension(node: _Node) -> bool:
    return node.name.startswith("{") and "/}" in node.name


def _ordered(children: list[_Node], order: _Order, *, top: bool) -> str:
    """Render the children named in ``order``, consuming them; then nested extensions."""
    extensions: list[_Node] = []
    if not top and len(children) > 1:
        extensions = [c for c in children if _is_user_extension(c)]
        for c in extensions:
            children.remove(c)
    # The children of each name, in their order: one pass, not one per name of ``order``.
    named: dict[str, list[_Node]] = {}
    for child in children:
        named.setdefault(child.name, []).append(child)
    out: list[str] = []
    consumed: list[_Node] = []
    for name, sub_order in order:
        group = named.get(name)
        if group is None:
            continue
        values = []
        for child in group:
            rendered = _ordered_child(child, sub_order)
            if rendered:
                values.append(rendered)
            if not child.children:
                consumed.append(child)
        out.extend(sorted(values))
    if consumed:
        gone = {id(child) for child in consumed}
        children[:] = [child for child in children if id(child) not in gone]
    if extensions:
        out.append(_generic(extensions))
    return "".join(out)


def _ordered_child(child: _Node, sub_order: _Order | None) -> str:
    grand = _ordered(child.children, sub_order, top=False) if sub_order else ""
    text = child.text.strip()
    if text:
        text = "=" + (_utc_millis(text) if _is_time(child.name) else _canonical_value(text))
    return child.name + text + grand if (text or grand) else ""


def prehash_value(text: str, *, time: bool = False) -> str:
    """A leaf value (a time when ``time``) as the pre-hash string of an event without
    ``@context`` writes it.

    >>> prehash_value("2024-01-01T07:00:00+07:00", time=True)
    '2024-01-01T00:00:00.000Z'
    """
    text = _no_context().value(text).strip()
    return _utc_millis(text) if time else _canonical_value(text)


@functools.cache
def _no_context() -> _Namespaces:
    return _namespaces(None)


def _generic(children: list[_Node]) -> str:
    """Render what no order covers: each ``name=value`` plus its children, sorted."""
    out = []
    for child in children:
        if child.name == _PAIR:
            out.append(_generic(child.children))
            continue
        text = child.text.strip()
        out.append(child.name + ("=" + _canonical_value(text) if text else ""))
        out[-1] += _generic(child.children)
    # Within one bizTransaction/source/destination the type stays before the value.
    if not any(c.name in ("bizTransaction", "source", "destination") for c in children):
        out.sort()
    return "".join(out)


def _as_dict(event: Event | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(event, Mapping):
        return event
    return event.to_jsonld()


def prehash_string(
    event: Event | Mapping[str, Any],
    *,
    context: object = None,
    ignore_fields: Iterable[str] = (),
) -> str:
    """The canonical pre-hash string of one event (JSON-LD dict or model).

    ``context`` is the ``@context`` of the document the event came from: it declares the
    namespace prefixes of extension fields. Without it, the event's own ``@context`` (if
    any) and the standard EPCIS prefixes are used. ``ignore_fields`` names extension
    fields (``"example:captureID"``) to leave out, as a document's ``ignoreFields`` does.

    >>> prehash_string({"type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
    ...                 "eventTime": "2024-01-01T07:00:00+07:00"})
    'eventType=ObjectEventeventTime=2024-01-01T00:00:00.000Zaction=ADDbizStep=https://ref.gs1.org/cbv/BizStep-commissioning'
    """
    data = _as_dict(event)
    event_type = data.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise EPCISError("type: an event needs its type (ObjectEvent, AggregationEvent...)")
    if context is None and not ignore_fields:
        plain = _plain_prehash(data)
        if plain is not None:
            return f"eventType={event_type}{plain}"
    return _tree_prehash(data, event_type, context, ignore_fields)


def _tree_prehash(
    data: Mapping[str, Any], event_type: str, context: object, ignore_fields: Iterable[str]
) -> str:
    """The pre-hash string of any event, through the tree of its fields."""
    ns = _namespaces(context if context is not None else data.get("@context"))
    children = _nodes(data, ns, "")
    ordered = _ordered(children, _EVENT_ORDER, top=True)
    ignored = _IGNORED_TOP | {ns.key(name) for name in ignore_fields}
    rest = _generic([c for c in children if c.name not in ignored])
    return f"eventType={event_type}{ordered}{rest}"


#: The fields of a plain event (the kind a line sends) as :func:`_plain_prehash` renders
#: them: each is text, a list of identifiers, or a location; in the standard order.
_PLAIN_TEXT = ("eventTime", "eventTimeZoneOffset", "parentID")
_PLAIN_LISTS = ("epcList", "inputEPCList", "childEPCs", "outputEPCList")
_PLAIN_TERMS = ("action", "bizStep", "disposition")
_PLAIN_LOCATIONS = ("readPoint", "bizLocation")
_PLAIN_FIELDS = frozenset(
    (*_PLAIN_TEXT, *_PLAIN_LISTS, *_PLAIN_TERMS, *_PLAIN_LOCATIONS, *_IGNORED_TOP)
)


def _plain_prehash(data: Mapping[str, Any]) -> str | None:
    """The pre-hash string after ``eventType=`` of a plain event, or None when ``data`` is
    not one (another field, a value of another shape): the tree renders those.

    A plain event names only the standard fields of :data:`_PLAIN_FIELDS`, an ``ilmd`` of
    text values (a line's lot and dates) and text extension fields (``lineside:reason``),
    without ``@context``; rendered here directly, it gives what the tree gives, at a
    fraction of the cost.
    """
    rest: list[str] = []
    for key, value in data.items():
        if key not in _PLAIN_FIELDS:
            extra = _plain_rest(key, value)
            if extra is None:
                return None
            rest.append(extra)
            continue
        if value is None:
            continue
        if key in _PLAIN_LISTS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return None
        elif key in _PLAIN_LOCATIONS:
            if not isinstance(value, dict) or value.keys() != {"id"}:
                return None
            if not isinstance(value["id"], str):
                return None
        elif not isinstance(value, str):
            return None
    out: list[str] = []
    for key in ("eventTime", "eventTimeZoneOffset", "parentID"):
        _plain_text(out, key, data.get(key))
    for key in _PLAIN_LISTS:
        values = data.get(key)
        if values:
            rendered = sorted(
                "epc=" + _canonical_value(text) for v in values if (text := v.strip())
            )
            if rendered:
                out.append(key + "".join(rendered))
    _plain_text(out, "action", data.get("action"))
    for key, kind in (("bizStep", BizStep), ("disposition", Disposition)):
        term = data.get(key)
        _plain_text(out, key, _expand_term(kind, term) if isinstance(term, str) else None)
    for key in _PLAIN_LOCATIONS:
        location = data.get(key)
        if isinstance(location, dict):
            place = location["id"].strip()
            if place:
                out.append(f"{key}id={_canonical_value(place)}")
    out.extend(sorted(rest))
    return "".join(out)


def _plain_rest(key: str, value: object) -> str | None:
    """An ``ilmd`` of text values or a text extension field as the tree renders it among
    the unordered fields, or None for anything else."""
    if key == "ilmd" and isinstance(value, dict):
        leaves = [_plain_leaf(name, text) for name, text in value.items()]
        if None in leaves:
            return None
        return "ilmd" + "".join(sorted(leaf for leaf in leaves if leaf is not None))
    if ":" in key:
        return _plain_leaf(key, value)
    return None


def _plain_leaf(name: object, value: object) -> str | None:
    if not isinstance(name, str) or name in _IGNORED_EVERYWHERE or not isinstance(value, str):
        return None
    text = value.strip()
    return _NO_CONTEXT.key(name) + (f"={_canonical_value(text)}" if text else "")


def _plain_text(out: list[str], key: str, value: object) -> None:
    if isinstance(value, str) and (text := value.strip()):
        out.append(f"{key}={_utc_millis(text) if _is_time(key) else _canonical_value(text)}")


def hash_prehash(prehash: str) -> str:
    """The ``ni:///sha-256;...?ver=CBV2.0`` hash of a pre-hash string."""
    try:
        data = prehash.encode("utf-8")
    except UnicodeEncodeError as exc:
        # JSON "\ud800" escapes decode to lone surrogates, which have no UTF-8 form.
        raise EPCISError(
            f"event holds {exc.object[exc.start]!r}, a lone surrogate that is not text"
        ) from exc
    return f"ni:///sha-256;{hashlib.sha256(data).hexdigest()}?ver=CBV2.0"


def event_hash(
    event: Event | Mapping[str, Any],
    *,
    context: object = None,
    ignore_fields: Iterable[str] = (),
) -> str:
    """The CBV 2.0 event hash of one event; see :func:`prehash_string`."""
    return hash_prehash(prehash_string(event, context=context, ignore_fields=ignore_fields))


def _ignore_fields(*holders: object) -> list[str]:
    """Names listed under ``<prefix>:ignoreFields`` in the document or its query results."""
    names: list[str] = []
    for holder in holders:
        if not isinstance(holder, Mapping):
            continue
        for key, value in holder.items():
            if isinstance(key, str) and key.rpartition(":")[2] == "ignoreFields":
                listed = value if isinstance(value, list) else [value]
                names.extend(v for v in listed if isinstance(v, str))
    return names


@dataclass(frozen=True)
class _DocumentEvents:
    context: object
    events: list[Any]
    path: str
    ignore_fields: list[str]


def _document_events(document: EPCISDocument | Mapping[str, Any]) -> _DocumentEvents:
    data = document if isinstance(document, Mapping) else document.to_jsonld()
    body = data.get("epcisBody")
    if not isinstance(body, Mapping):
        raise EPCISError("epcisBody: missing or not an object")
    results = body.get("queryResults")
    path = "epcisBody.eventList"
    if "eventList" in body:
        events = body["eventList"]
    elif "event" in body:
        events, path = [body["event"]], "epcisBody.event"
    elif isinstance(results, Mapping) and isinstance(results.get("resultsBody"), Mapping):
        events = results["resultsBody"].get("eventList")
        path = "epcisBody.queryResults.resultsBody.eventList"
    else:
        events = None
    if not isinstance(events, list):
        raise EPCISError(f"{path}: missing or not a list")
    return _DocumentEvents(data.get("@context"), events, path, _ignore_fields(data, results))


def document_prehashes(document: EPCISDocument | Mapping[str, Any]) -> list[str]:
    """The pre-hash string of every event of an EPCIS (query) document, in order."""
    found = _document_events(document)
    out = []
    for index, event in enumerate(found.events):
        where = f"{found.path}[{index}]"
        if not isinstance(event, Mapping):
            raise EPCISError(f"{where}: an event must be an object")
        try:
            out.append(
                prehash_string(event, context=found.context, ignore_fields=found.ignore_fields)
            )
        except EPCISError as exc:
            raise EPCISError(f"{where}.{exc}") from exc
    return out


def document_hashes(document: EPCISDocument | Mapping[str, Any]) -> list[str]:
    """The event hash of every event of an EPCIS (query) document, in order."""
    return [hash_prehash(p) for p in document_prehashes(document)]
