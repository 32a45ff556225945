from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lineside.epcis import (
    Action,
    AggregationEvent,
    BizStep,
    Disposition,
    EPCISDocument,
    ObjectEvent,
    parse_document,
    parse_event,
)
from lineside.errors import EPCISError
from tests.epcis.conftest import CASE, ICT, LINE, SITE, UNIT, UNIT2


def _object_event(**extra: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": "2024-05-01T08:30:15.123+07:00",
        "eventTimeZoneOffset": "+07:00",
        "epcList": [UNIT],
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "readPoint": {"id": LINE},
        **extra,
    }


def test_parse_event_reads_the_json_ld_names() -> None:
    event = parse_event(_object_event(ilmd={"cbvmda:lotNumber": "L1"}))
    assert isinstance(event, ObjectEvent)
    assert event.action is Action.ADD
    assert event.biz_step is BizStep.COMMISSIONING
    assert event.disposition is Disposition.ACTIVE
    assert event.event_time == datetime(2024, 5, 1, 8, 30, 15, 123000, tzinfo=ICT)
    assert event.epc_list == (UNIT,)
    assert event.read_point is not None
    assert event.read_point.id == LINE
    assert event.ilmd == {"cbvmda:lotNumber": "L1"}


def test_to_jsonld_writes_the_standard_shape() -> None:
    data = parse_event(
        _object_event(
            bizStep="urn:epcglobal:cbv:bizstep:commissioning", recordTime="2024-05-01T01:30:16Z"
        )
    ).to_jsonld()
    assert data == _object_event(recordTime="2024-05-01T01:30:16.000Z")


def test_extension_fields_are_kept() -> None:
    event = parse_event(_object_event(**{"example:myField": {"example:sub": [1, 2]}}))
    assert event.to_jsonld()["example:myField"] == {"example:sub": [1, 2]}


def test_models_are_frozen() -> None:
    event = parse_event(_object_event())
    with pytest.raises(ValueError, match="frozen"):
        setattr(event, "biz_step", BizStep.SHIPPING)  # noqa: B010 - the point is to try


def test_aggregation_event() -> None:
    event = parse_event(
        {
            "type": "AggregationEvent",
            "eventTime": "2024-05-01T08:30:15+07:00",
            "eventTimeZoneOffset": "+07:00",
            "parentID": CASE,
            "childEPCs": [UNIT, UNIT2],
            "action": "ADD",
            "bizStep": "packing",
        }
    )
    assert isinstance(event, AggregationEvent)
    assert event.parent_id == CASE
    assert event.child_epcs == (UNIT, UNIT2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bizStep": "packng"}, "^bizStep: 'packng' is not a CBV 2.0 business step$"),
        ({"disposition": "broken"}, "^disposition: 'broken' is not a CBV 2.0 disposition$"),
        ({"action": "ADDED"}, "^action: Input should be 'ADD', 'OBSERVE' or 'DELETE'$"),
        (
            {"epcList": [UNIT, "8934567890120"]},
            r"^epcList\[1\]: '8934567890120' is not an absolute URI",
        ),
        (
            {"eventTime": "2024-05-01T08:30:15"},
            "^eventTime: '2024-05-01T08:30:15' is not an RFC 3339",
        ),
        ({"eventTimeZoneOffset": "7"}, "^eventTimeZoneOffset: String should match pattern"),
        ({"readPoint": {}}, "^readPoint.id: required field is missing$"),
        ({"type": "ThingEvent"}, "^type: 'ThingEvent' is not an EPCIS 2.0 event type"),
    ],
)
def test_errors_name_the_path(change: dict[str, Any], message: str) -> None:
    with pytest.raises(EPCISError, match=message):
        parse_event(_object_event(**change))


def _document(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-05-01T01:30:00Z",
        "epcisBody": {"eventList": events},
    }


def test_parse_document_names_the_event_index() -> None:
    events = [_object_event(), _object_event(), _object_event(), _object_event(bizStep="packng")]
    with pytest.raises(
        EPCISError,
        match=r"^epcisBody\.eventList\[3\]\.bizStep: 'packng' is not a CBV 2.0 business step$",
    ):
        parse_document(json.dumps(_document(events)).encode())


@pytest.mark.parametrize("as_bytes", [False, True])
@pytest.mark.parametrize("surrogate", ["\\ud800", "\ud800"], ids=["escape", "raw"])
def test_parse_document_refuses_a_lone_surrogate(surrogate: str, as_bytes: bool) -> None:
    # Found by the fuzz suite: such a document parsed, then could not be written out again.
    text = json.dumps(_document([_object_event()])).replace(
        '"type": "EPCISDocument"', ('"type": "EPCISDocument", "comment": "x' + surrogate + '"')
    )
    data: str | bytes = text.encode("utf-8", "surrogatepass") if as_bytes else text
    with pytest.raises(EPCISError, match=r"^\(root\): holds '\\ud800', a lone surrogate"):
        parse_document(data)


def test_parse_document_and_events() -> None:
    document = parse_document(_document([_object_event()]))
    assert document.type == "EPCISDocument"
    assert [e.type for e in document.events] == ["ObjectEvent"]
    assert parse_document(document.to_jsonld()) == document


def test_document_of_builds_the_envelope(utc_time: datetime) -> None:
    event = parse_event(_object_event())
    document = EPCISDocument.of([event], creation_date=utc_time)
    data = document.to_jsonld()
    assert data["schemaVersion"] == "2.0"
    assert data["creationDate"] == "2024-05-01T01:30:15.123Z"
    assert data["epcisBody"]["eventList"] == [event.to_jsonld()]


@pytest.mark.parametrize("text", [b"", b"[]", b"{", b'{"type": "EPCISDocument"}', "null"])
def test_bad_documents_raise_epcis_error(text: bytes | str) -> None:
    with pytest.raises(EPCISError):
        parse_document(text)


# --- properties ---------------------------------------------------------------------

_uris = st.sampled_from([UNIT, UNIT2, CASE, "urn:epc:id:sgtin:0614141.107346.2017"])
_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(ICT)
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))


@st.composite
def object_events(draw: st.DrawFn) -> ObjectEvent:
    data: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": draw(_times),
        "eventTimeZoneOffset": "+07:00",
        "action": draw(st.sampled_from(list(Action))),
        "epcList": draw(st.lists(_uris, max_size=3)),
    }
    if draw(st.booleans()):
        data["bizStep"] = draw(st.sampled_from(list(BizStep)))
    if draw(st.booleans()):
        data["disposition"] = draw(st.sampled_from(list(Disposition)))
    if draw(st.booleans()):
        data["readPoint"] = {"id": SITE}
    if draw(st.booleans()):
        data["ilmd"] = {"cbvmda:lotNumber": draw(st.text(min_size=1, max_size=10))}
    event = parse_event(data)
    assert isinstance(event, ObjectEvent)
    return event


@given(object_events())
def test_parse_of_to_jsonld_is_identity(event: ObjectEvent) -> None:
    assert parse_event(event.to_jsonld()) == event
    assert parse_event(json.loads(json.dumps(event.to_jsonld()))) == event


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "eventTime", "epcList", "action", "bizStep", "x", "epcisBody"])
            | st.text(max_size=5),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=200)
@given(_json)
def test_random_json_raises_only_epcis_error(data: object) -> None:
    # Bad input types are part of the property: the functions must cope at run time.
    with contextlib.suppress(EPCISError):
        parse_document(cast(Any, data))
    with contextlib.suppress(EPCISError):
        parse_event(cast(Any, data))


@given(st.binary(max_size=64))
def test_random_bytes_raise_only_epcis_error(data: bytes) -> None:
    with pytest.raises(EPCISError):
        parse_document(data)
