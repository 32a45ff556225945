"""Property tests: AggregationEvent and TransformationEvent survive JSON-LD and XML round
trips unchanged, hash the same in both bindings, and the XML reader never crashes."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lineside.epcis import (
    AggregationEvent,
    EPCISDocument,
    Event,
    TransformationEvent,
    event_hash,
    parse_document_bytes,
    parse_event,
)
from lineside.epcis.vocabulary import BizStep, BizTransactionType, Disposition, SourceDestType
from lineside.epcis.xml import document_to_xml, parse_xml_document, xml_to_jsonld
from lineside.errors import EPCISError

_SERIAL = st.text(
    alphabet="ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz0123456789", min_size=1, max_size=20
)
_DIGITS = st.text(alphabet="0123456789", min_size=13, max_size=13)


def _check(body: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str(-total % 10)


_GTIN = _DIGITS.map(_check)
_UNIT = st.builds(lambda g, s: f"https://id.gs1.org/01/{g}/21/{s}", _GTIN, _SERIAL)
_LOT_CLASS = st.builds(lambda g, s: f"https://id.gs1.org/01/{g}/10/{s}", _GTIN, _SERIAL)
_SSCC = st.text(alphabet="0123456789", min_size=17, max_size=17).map(
    lambda b: f"https://id.gs1.org/00/{_check(b)}"
)
_GLN = st.text(alphabet="0123456789", min_size=12, max_size=12).map(
    lambda b: f"https://id.gs1.org/414/{_check(b)}"
)
_OFFSET_MINUTES = st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: m - m % 15)
_TIME = st.builds(
    lambda base, millis, minutes: (base + timedelta(milliseconds=millis)).astimezone(
        timezone(timedelta(minutes=minutes))
    ),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)).map(
        lambda d: d.replace(microsecond=0, tzinfo=UTC)
    ),
    st.integers(min_value=0, max_value=999),
    _OFFSET_MINUTES,
)
_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
    min_size=1,
    max_size=30,
).filter(lambda t: t.strip() == t and ":" not in t)
_QUANTITY = st.builds(
    lambda cls, q, uom: {
        "epcClass": cls,
        **({"quantity": q} if q is not None else {}),
        **({"uom": uom} if q is not None and uom else {}),
    },
    _LOT_CLASS,
    st.none()
    | st.integers(min_value=0, max_value=10**6)
    | st.decimals(min_value=0, max_value=10**5, places=3, allow_nan=False).map(float),
    st.sampled_from(["", "KGM", "LTR", "EA"]),
)


def _offset(moment: datetime) -> str:
    minutes = int(moment.utcoffset().total_seconds()) // 60  # type: ignore[union-attr]
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@st.composite
def _common(draw: st.DrawFn) -> dict[str, Any]:
    moment = draw(_TIME)
    data: dict[str, Any] = {"eventTime": moment, "eventTimeZoneOffset": _offset(moment)}
    if draw(st.booleans()):
        data["bizStep"] = draw(st.sampled_from(list(BizStep)))
    if draw(st.booleans()):
        data["disposition"] = draw(st.sampled_from(list(Disposition)))
    if draw(st.booleans()):
        data["readPoint"] = {"id": draw(_GLN)}
    if draw(st.booleans()):
        data["bizLocation"] = {"id": draw(_GLN)}
    if draw(st.booleans()):
        data["bizTransactionList"] = [
            {
                "type": draw(st.sampled_from(list(BizTransactionType))),
                "bizTransaction": f"urn:x:po:{n}",
            }
            for n in draw(st.lists(st.integers(0, 999), min_size=1, max_size=3))
        ]
    if draw(st.booleans()):
        data["sourceList"] = [
            {"type": draw(st.sampled_from(list(SourceDestType))), "source": draw(_GLN)}
        ]
        data["destinationList"] = [
            {"type": draw(st.sampled_from(list(SourceDestType))), "destination": draw(_GLN)}
        ]
    if draw(st.booleans()):
        data["persistentDisposition"] = {"set": [draw(st.sampled_from(list(Disposition)))]}
    if draw(st.booleans()):
        data["lineside:note"] = draw(_TEXT)
    return data


@st.composite
def aggregation_events(draw: st.DrawFn) -> AggregationEvent:
    data = draw(_common())
    data.update(type="AggregationEvent", action=draw(st.sampled_from(["ADD", "OBSERVE", "DELETE"])))
    data["parentID"] = draw(_SSCC)
    data["childEPCs"] = draw(st.lists(_UNIT, min_size=1, max_size=5, unique=True))
    if draw(st.booleans()):
        data["childQuantityList"] = draw(st.lists(_QUANTITY, min_size=1, max_size=3))
    event = parse_event(data)
    assert isinstance(event, AggregationEvent)
    return event


@st.composite
def transformation_events(draw: st.DrawFn) -> TransformationEvent:
    data = draw(_common())
    data["type"] = "TransformationEvent"
    data["inputEPCList"] = draw(st.lists(_UNIT, max_size=4, unique=True))
    data["inputQuantityList"] = draw(st.lists(_QUANTITY, min_size=1, max_size=3))
    data["outputEPCList"] = draw(st.lists(_UNIT, min_size=1, max_size=4, unique=True))
    if draw(st.booleans()):
        data["transformationID"] = f"urn:lineside:transformation:{draw(_SERIAL)}"
    if draw(st.booleans()):
        data["ilmd"] = {"cbvmda:lotNumber": draw(_SERIAL), "lineside:grade": draw(_TEXT)}
    event = parse_event(data)
    assert isinstance(event, TransformationEvent)
    return event


_EVENTS = st.one_of(aggregation_events(), transformation_events())
_CREATED = datetime(2024, 5, 1, tzinfo=UTC)


def _via_xml(event: Event) -> Event:
    document = parse_xml_document(
        document_to_xml(EPCISDocument.of([event], creation_date=_CREATED))
    )
    (parsed,) = document.events
    return parsed


@settings(max_examples=60, deadline=None)
@given(_EVENTS)
def test_json_ld_round_trip(event: Event) -> None:
    assert parse_event(event.to_jsonld()) == event


@settings(max_examples=60, deadline=None)
@given(_EVENTS)
def test_xml_round_trip(event: Event) -> None:
    assert _via_xml(event) == event


@settings(max_examples=60, deadline=None)
@given(_EVENTS)
def test_both_bindings_hash_the_same(event: Event) -> None:
    document = EPCISDocument.of([event], creation_date=_CREATED)
    from_xml = parse_document_bytes(document_to_xml(document), "application/xml")
    from_json = parse_document_bytes(json.dumps(document.to_jsonld()).encode(), None)
    assert event_hash(from_xml.events[0]) == event_hash(from_json.events[0]) == event_hash(event)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash_the_xml_reader(data: bytes) -> None:
    with contextlib.suppress(EPCISError):
        xml_to_jsonld(data)


_XMLISH = st.lists(
    st.sampled_from(
        [
            "<",
            ">",
            "</",
            "/>",
            "epcis:EPCISDocument",
            ' xmlns:epcis="urn:epcglobal:epcis:xsd:2"',
            ' creationDate="2024-01-01T00:00:00Z"',
            "EPCISBody",
            "EventList",
            "ObjectEvent",
            "extension",
            "quantity",
            "eventTime",
            "&amp;",
            "&x;",
            "<!DOCTYPE a>",
            "x",
            "1.5",
        ]
    ),
    max_size=40,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(_XMLISH)
def test_xml_like_text_never_crashes_the_reader(text: str) -> None:
    with contextlib.suppress(EPCISError):
        parse_xml_document(text)
