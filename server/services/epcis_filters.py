"""SimpleEventQuery parameters answered from the stored event document.

The store indexes what most queries ask (event type, time, business step, location,
EPCs); the rest of the standard's parameter set (error declarations, persistent
dispositions, transformation IDs, quantities, sensor data, extension fields) is checked
on each candidate event's JSON-LD document. :func:`document_filter` turns one parameter
into a predicate, or says the name is not a parameter it knows.

>>> match = document_filter("EXISTS_errorDeclaration", [""])
>>> match({"errorDeclaration": {"declarationTime": "2026-01-01T00:00:00Z"}}), match({})
(True, False)
>>> document_filter("GT_quantity", ["5"])({"quantityList": [{"quantity": 6}]})
True
>>> document_filter("EQ_example:colour", ["red"])({"example:colour": "red"})
True
>>> document_filter("bogus", ["x"]) is None
True
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from server.db.events import normalise_disposition
from server.errors import QueryParameterException

__all__ = ["DocumentPredicate", "document_filter"]

DocumentPredicate = Callable[[dict[str, Any]], bool]

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": operator.eq,
    "GT": operator.gt,
    "GE": operator.ge,
    "LT": operator.lt,
    "LE": operator.le,
}
_QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
#: Sensor report fields named by ``EQ_<field>`` (compared as strings).
_REPORT_FIELDS = (
    "type",
    "deviceID",
    "dataProcessingMethod",
    "microorganism",
    "chemicalSubstance",
    "stringValue",
    "hexBinaryValue",
)
#: Sensor report fields named by ``GT_value`` and the like (compared as numbers).
_REPORT_NUMBERS = ("value", "minValue", "maxValue", "meanValue", "sDev", "percValue")
#: Parameters of the EQ_/GT_... form that are columns, not document fields.
_NOT_FIELDS = frozenset({"action", "bizStep", "disposition", "readPoint", "bizLocation", "eventID"})


def _time(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise QueryParameterException(f"{name}: {value!r:.60} is not a timestamp with a zone")
    return parsed


def _number(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise QueryParameterException(f"{name}: {value!r:.60} is not a number") from None


def _dicts(value: object) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def _sensor_reports(event: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for element in _dicts(event.get("sensorElementList")):
        metadata = element.get("sensorMetadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        for report in _dicts(element.get("sensorReport")):
            yield metadata, report
        if not isinstance(element.get("sensorReport"), list):
            yield metadata, {}


def _as_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _compare_time(found: object, op: Callable[[Any, Any], bool], bound: datetime) -> bool:
    moment = _as_time(found)
    return moment is not None and op(moment, bound)


def _compare_number(found: object, op: Callable[[Any, Any], bool], bound: float) -> bool:
    return isinstance(found, int | float) and not isinstance(found, bool) and op(found, bound)


def _error_filters(name: str, values: Sequence[str]) -> DocumentPredicate | None:
    def declaration(event: dict[str, Any]) -> dict[str, Any] | None:
        found = event.get("errorDeclaration")
        return found if isinstance(found, dict) else None

    if name == "EXISTS_errorDeclaration":
        return lambda event: declaration(event) is not None
    if name in ("GE_errorDeclarationTime", "LT_errorDeclarationTime"):
        op = operator.ge if name.startswith("GE") else operator.lt
        bound = _time(values[-1], name)
        return lambda e: _compare_time((declaration(e) or {}).get("declarationTime"), op, bound)
    if name == "EQ_errorReason":
        wanted = {v.removeprefix("urn:epcglobal:cbv:er:") for v in values}

        def reason(event: dict[str, Any]) -> bool:
            given = (declaration(event) or {}).get("reason")
            return isinstance(given, str) and given.removeprefix("urn:epcglobal:cbv:er:") in wanted

        return reason
    if name == "EQ_correctiveEventID":
        ids = set(values)
        return lambda e: bool(ids & set((declaration(e) or {}).get("correctiveEventIDs") or []))
    return None


def _event_filters(name: str, values: Sequence[str]) -> DocumentPredicate | None:
    if name in ("EQ_persistentDisposition_set", "EQ_persistentDisposition_unset"):
        key = name.rsplit("_", 1)[1]
        wanted = {normalise_disposition(v) for v in values}

        def persistent(event: dict[str, Any]) -> bool:
            given = event.get("persistentDisposition")
            listed = given.get(key) if isinstance(given, dict) else None
            return any(
                isinstance(v, str) and normalise_disposition(v) in wanted for v in listed or []
            )

        return persistent
    if name == "EQ_transformationID":
        ids = set(values)
        return lambda event: event.get("transformationID") in ids
    if name == "EQ_bizRules":
        rules = set(values)
        return lambda e: any(m.get("bizRules") in rules for m, _ in _sensor_reports(e))
    prefix, _, field = name.partition("_")
    if field == "quantity" and prefix in _COMPARISONS:
        op, bound = _COMPARISONS[prefix], _number(values[-1], name)
        return lambda event: any(
            _compare_number(item.get("quantity"), op, bound)
            for key in _QUANTITY_LISTS
            for item in _dicts(event.get(key))
        )
    return None


def _sensor_filters(name: str, values: Sequence[str]) -> DocumentPredicate | None:
    prefix, _, field = name.partition("_")
    if field in ("startTime", "endTime") and prefix in ("GE", "LT"):
        op, moment = _COMPARISONS[prefix], _time(values[-1], name)
        return lambda e: any(_compare_time(m.get(field), op, moment) for m, _ in _sensor_reports(e))
    if prefix == "EQ" and field in _REPORT_FIELDS:
        wanted = set(values)
        return lambda e: any(
            report.get(field) in wanted or (field == "deviceID" and meta.get(field) in wanted)
            for meta, report in _sensor_reports(e)
        )
    if field in _REPORT_NUMBERS and prefix in _COMPARISONS:
        op, bound = _COMPARISONS[prefix], _number(values[-1], name)
        return lambda e: any(
            _compare_number(r.get(field), op, bound) for _, r in _sensor_reports(e)
        )
    return None


def _field_value(event: dict[str, Any], path: str, inner: bool) -> list[Any]:
    """The values of an extension field at the top level, in ``ilmd`` (``ILMD_``), or
    at any depth (``INNER_``)."""
    if path.startswith("ILMD_"):
        ilmd = event.get("ilmd")
        return (
            _field_value(ilmd, path.removeprefix("ILMD_"), inner) if isinstance(ilmd, dict) else []
        )
    if not inner:
        return [event[path]] if path in event else []
    found: list[Any] = []
    stack: list[Any] = [event]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.extend(value for key, value in node.items() if key == path)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _extension_filters(name: str, values: Sequence[str]) -> DocumentPredicate | None:
    prefix, _, rest = name.partition("_")
    inner = rest.startswith(("INNER_", "ILMD_INNER_"))
    path = rest.replace("INNER_", "", 1) if inner else rest
    field = path.removeprefix("ILMD_")
    if ":" not in field or field in _NOT_FIELDS:
        return None  # extension fields are namespaced (prefix:name or a URI)
    if prefix == "EXISTS":
        return lambda event: bool(_field_value(event, path, inner))
    if prefix == "EQ":
        wanted = set(values)
        return lambda event: any(
            str(v) in wanted for v in _field_value(event, path, inner) if not isinstance(v, dict)
        )
    if prefix in _COMPARISONS:
        op = _COMPARISONS[prefix]
        moment = _as_time(values[-1])
        if moment is not None:
            return lambda e: any(_compare_time(v, op, moment) for v in _field_value(e, path, inner))
        bound = _number(values[-1], name)
        return lambda e: any(_compare_number(v, op, bound) for v in _field_value(e, path, inner))
    return None


def document_filter(name: str, values: Sequence[str]) -> DocumentPredicate | None:
    """A predicate on the event document for the query parameter ``name``, or None
    when ``name`` is not a document parameter."""
    for build in (_error_filters, _event_filters, _sensor_filters, _extension_filters):
        predicate = build(name, values)
        if predicate is not None:
            return predicate
    return None
