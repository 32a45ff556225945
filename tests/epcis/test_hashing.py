from __future__ import annotations

import json
import logging
import random
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lineside.epcis import (
    EPCISDocument,
    Event,
    commissioning_event,
    decommissioning_event,
    document_hashes,
    event_hash,
    hashing,
    packing_event,
    parse_event,
    prehash_string,
    unpacking_event,
    with_event_id,
)
from lineside.errors import EPCISError
from tests.epcis.conftest import CASE, LINE, SITE, UNIT, UNIT2

BASE: dict[str, Any] = {
    "type": "ObjectEvent",
    "eventTime": "2024-05-01T08:30:15.123+07:00",
    "eventTimeZoneOffset": "+07:00",
    "epcList": [UNIT, "urn:epc:id:sgtin:8934567.089012.Zq9w"],
    "action": "OBSERVE",
    "bizStep": "shipping",
    "readPoint": {"id": LINE},
    "bizTransactionList": [
        {"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:8934567000017:42"}
    ],
    "example:note": "x",
    "@context": [{"example": "https://ns.example.com/epcis/"}],
}


def test_prehash_string_has_the_canonical_form() -> None:
    assert prehash_string(BASE) == (
        "eventType=ObjectEvent"
        "eventTime=2024-05-01T01:30:15.123ZeventTimeZoneOffset=+07:00"
        "epcListepc=https://id.gs1.org/01/08934567890120/21/Ab3x"
        "epc=https://id.gs1.org/01/08934567890120/21/Zq9w"
        "action=OBSERVEbizStep=https://ref.gs1.org/cbv/BizStep-shipping"
        "readPointid=https://id.gs1.org/414/8934567000017/254/L1"
        "bizTransactionListtype=https://ref.gs1.org/cbv/BTT-po"
        "bizTransaction=urn:epcglobal:cbv:bt:8934567000017:42"
        "{https://ns.example.com/epcis/}note=x"
    )


def test_ignored_fields_do_not_change_the_hash() -> None:
    noisy = {
        **BASE,
        "eventID": "ni:///sha-256;00?ver=CBV2.0",
        "recordTime": "2030-01-01T00:00:00Z",
        "errorDeclaration": {"declarationTime": "2030-01-01T00:00:00Z"},
        "comment": "seen twice",
    }
    assert event_hash(noisy) == event_hash(BASE)


def test_any_real_change_changes_the_hash() -> None:
    assert event_hash({**BASE, "bizStep": "receiving"}) != event_hash(BASE)
    assert event_hash({**BASE, "epcList": [UNIT]}) != event_hash(BASE)
    assert event_hash({**BASE, "example:note": "y"}) != event_hash(BASE)


def test_ignore_fields() -> None:
    assert event_hash(BASE, ignore_fields=["example:note"]) == event_hash(
        {k: v for k, v in BASE.items() if k != "example:note"}
    )


def test_an_event_needs_a_type() -> None:
    with pytest.raises(EPCISError, match="^type: "):
        prehash_string({"eventTime": "2024-05-01T00:00:00Z"})


def test_document_hashes_follow_document_order() -> None:
    second = {**BASE, "bizStep": "receiving"}
    document = {
        "@context": BASE["@context"],
        "epcisBody": {"eventList": [BASE, second]},
    }
    assert document_hashes(document) == [event_hash(BASE), event_hash(second)]


def test_document_errors_name_the_event() -> None:
    with pytest.raises(EPCISError, match=r"^epcisBody\.eventList\[1\]\.type: "):
        document_hashes({"epcisBody": {"eventList": [BASE, {"action": "ADD"}]}})


@given(st.randoms(use_true_random=False))
def test_hash_is_invariant_under_key_and_list_order(rnd: random.Random) -> None:
    items = list(BASE.items())
    rnd.shuffle(items)
    shuffled = dict(items)
    shuffled["epcList"] = rnd.sample(BASE["epcList"], k=len(BASE["epcList"]))
    assert event_hash(shuffled) == event_hash(BASE)


@given(
    st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1)),
    st.integers(min_value=-12 * 60, max_value=14 * 60),
)
def test_hash_is_invariant_under_time_zone(moment: datetime, offset_minutes: int) -> None:
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000, tzinfo=UTC)
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    utc = {**BASE, "eventTime": moment.isoformat().replace("+00:00", "Z")}
    shifted = {**BASE, "eventTime": local.isoformat()}
    assert event_hash(utc) == event_hash(shifted)


@given(
    st.datetimes(min_value=datetime(1001, 1, 1), max_value=datetime(9998, 12, 31)),
    st.integers(min_value=-12 * 60, max_value=14 * 60),
    st.sampled_from(["milliseconds", "microseconds", "seconds"]),
)
def test_times_written_in_any_form_reach_the_canonical_one(
    moment: datetime, offset_minutes: int, precision: str
) -> None:
    # The canonical form is kept as it is (the line writes its times so); every other
    # spelling of the same moment is brought to it.
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000, tzinfo=UTC)
    canonical = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    assert hashing.prehash_value(canonical, time=True) == canonical
    if precision != "seconds" or moment.microsecond == 0:
        assert hashing.prehash_value(local.isoformat(timespec=precision), time=True) == canonical


_UTC_TIMES = st.builds(
    "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}{}Z".format,
    st.integers(1000, 9999),
    st.integers(0, 13),
    st.integers(0, 31),
    st.integers(0, 24),
    st.integers(0, 59),
    st.integers(0, 60),
    st.one_of(st.integers(0, 999), st.sampled_from([0, 1, 2, 998, 999])),
    st.one_of(
        st.sampled_from(["", "0", "000", "4", "49999", "5", "50", "5000", "5001", "6", "9"]),
        st.text(alphabet="0123456789", max_size=7),
    ),
)


@settings(max_examples=400)
@given(_UTC_TIMES)
def test_utc_times_take_a_short_path_to_the_same_text(text: str) -> None:
    # Times in UTC with digits past the milliseconds (what a line writes) are rounded
    # without going through a datetime; the result must be the general path's, for
    # halves, carries into the next second, and dates that do not exist alike.
    assert hashing._utc_millis(text) == hashing._utc_millis_parsed(text)


def test_times_that_are_no_date_are_kept_as_written() -> None:
    for text in ("2024-02-30T00:00:00.000Z", "2024-13-01T00:00:00.000Z", "not a time"):
        assert hashing.prehash_value(text, time=True) == text


def test_precision_and_spelling_do_not_change_the_hash() -> None:
    variants = [
        {**BASE, "eventTime": "2024-05-01T08:30:15.1230000+07:00"},
        {**BASE, "eventTime": "2024-05-01T01:30:15.123Z"},
        {**BASE, "bizStep": "urn:epcglobal:cbv:bizstep:shipping"},
        {**BASE, "bizStep": "https://ref.gs1.org/cbv/BizStep-shipping"},
        {**BASE, "epcList": list(reversed(BASE["epcList"]))},
    ]
    assert {event_hash(v) for v in variants} == {event_hash(BASE)}


# --- builders --------------------------------------------------------------------------


def _built(event_time: datetime) -> list[Event]:
    return [
        commissioning_event(
            epcs=[UNIT, UNIT2],
            event_time=event_time,
            read_point=LINE,
            biz_location=SITE,
            lot="L2405",
            expiry=date(2026, 5, 1),
            production_date=date(2024, 5, 1),
            best_before=date(2026, 4, 1),
        ),
        decommissioning_event(
            epcs=[UNIT], event_time=event_time, read_point=LINE, biz_location=SITE, reason="no read"
        ),
        decommissioning_event(
            epcs=[UNIT2],
            event_time=event_time,
            read_point=LINE,
            biz_location=SITE,
            reason="label torn",
            destroyed=True,
        ),
        packing_event(
            parent=CASE,
            children=[UNIT, UNIT2],
            event_time=event_time,
            read_point=LINE,
            biz_location=SITE,
        ),
        unpacking_event(
            parent=CASE,
            children=[UNIT2],
            event_time=event_time,
            read_point=LINE,
            biz_location=SITE,
        ),
    ]


def test_builders_use_the_cbv_terms(event_time: datetime) -> None:
    shapes = [
        (e.to_jsonld()["action"], e.to_jsonld()["bizStep"], e.to_jsonld().get("disposition"))
        for e in _built(event_time)
    ]
    assert shapes == [
        ("ADD", "commissioning", "active"),
        ("DELETE", "decommissioning", "inactive"),
        ("DELETE", "destroying", "destroyed"),
        ("ADD", "packing", "in_progress"),
        ("DELETE", "unpacking", None),
    ]
    first = _built(event_time)[0].to_jsonld()
    assert first["eventTimeZoneOffset"] == "+07:00"
    assert first["ilmd"] == {
        "cbvmda:lotNumber": "L2405",
        "cbvmda:itemExpirationDate": "2026-05-01",
        "cbvmda:bestBeforeDate": "2026-04-01",
        "cbvmda:productionDate": "2024-05-01",
    }
    assert _built(event_time)[1].to_jsonld()["lineside:reason"] == "no read"


def test_builder_event_id_is_the_hash_and_stable(event_time: datetime) -> None:
    for event in _built(event_time):
        assert event.event_id == event_hash(event)
        assert with_event_id(event) == event
        assert parse_event(event.to_jsonld()) == event


def test_builders_reject_bad_input(event_time: datetime) -> None:
    with pytest.raises(EPCISError, match=r"^epcList\[0\]: '123' is not an absolute URI"):
        commissioning_event(epcs=["123"], event_time=event_time, read_point=LINE, biz_location=SITE)
    with pytest.raises(EPCISError, match="^epcList: at least one EPC"):
        commissioning_event(epcs=[], event_time=event_time, read_point=LINE, biz_location=SITE)
    with pytest.raises(EPCISError, match="^event_time: .* has no time-zone offset"):
        commissioning_event(
            epcs=[UNIT], event_time=datetime(2024, 1, 1), read_point=LINE, biz_location=SITE
        )
    with pytest.raises(EPCISError, match="^reason: "):
        decommissioning_event(
            epcs=[UNIT], event_time=event_time, read_point=LINE, biz_location=SITE, reason=" "
        )


@pytest.mark.filterwarnings("ignore:open_text is deprecated:DeprecationWarning")
def test_builders_agree_with_the_reference_implementation(
    event_time: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    json_to_py = pytest.importorskip("epcis_event_hash_generator.json_to_py")
    hash_generator = pytest.importorskip("epcis_event_hash_generator.hash_generator")
    events = _built(event_time)
    document = EPCISDocument.of(events, creation_date=event_time).to_jsonld()
    with caplog.at_level(logging.CRITICAL):
        tree = json_to_py.event_list_from_epcis_document_str(json.dumps(document))
        reference = hash_generator.epcis_hashes_from_events(tree)
    # The reference skips events it cannot read (with a log line only): compare counts too.
    assert reference == [e.event_id for e in events]
    assert document_hashes(document) == reference


_TEXTS = st.sampled_from(
    [
        "",
        " ",
        "ADD",
        " OBSERVE ",
        "commissioning",
        "urn:epcglobal:cbv:bizstep:packing",
        "https://ref.gs1.org/cbv/Disp-active",
        "in_progress",
        "007",
        "2.50",
        "cbv:x",
        "2026-01-01T07:00:00.0005+07:00",
        "2026-01-01T00:00:00Z",
        "not a time",
        "+07:00",
        "urn:epc:id:sgtin:8934567.089012.S1",
        "urn:epc:id:sscc:8934567.0000000001",
        "https://id.gs1.org/01/08934567890128/21/A1",
        "https://example.com/01/8934567890128/21/x?y",
        " https://id.gs1.org/414/8934567000017 ",
    ]
)
_LISTS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
_LOCATIONS = ("readPoint", "bizLocation")
_SCALARS = ("eventTime", "eventTimeZoneOffset", "parentID", "action", "bizStep", "disposition")
#: Events of the plain shape: every field optional, each of its usual type.
_PLAIN_EVENTS = st.fixed_dictionaries(
    {},
    optional={
        **{key: st.lists(_TEXTS, max_size=4) for key in _LISTS},
        **{key: st.fixed_dictionaries({"id": _TEXTS}) for key in _LOCATIONS},
        **dict.fromkeys((*_SCALARS, "eventID", "recordTime", "lineside:reason"), _TEXTS),
        # A line's lot and dates; keys of any prefix, known or not, or none.
        "ilmd": st.dictionaries(
            st.sampled_from(
                ["cbvmda:lotNumber", "cbvmda:itemExpirationDate", "ex:grade", "lot", "gs1:x"]
            ),
            _TEXTS,
            max_size=3,
        ),
        "example:note": _TEXTS,
    },
)
#: Anything that makes an event not plain: an unusual value or another field.
_ODD = st.tuples(
    st.sampled_from(
        [*_LISTS, *_LOCATIONS, *_SCALARS, "errorDeclaration", "example:x", "ilmd", "comment"]
    ),
    st.one_of(
        _TEXTS,
        st.integers(),
        st.none(),
        st.fixed_dictionaries({"cbvmda:lotNumber": st.one_of(st.integers(), st.none())}),
        st.fixed_dictionaries({"comment": _TEXTS, "rdfs:comment": _TEXTS}),
        st.fixed_dictionaries({"cbvmda:lotNumber": st.fixed_dictionaries({"#text": _TEXTS})}),
        st.lists(st.one_of(_TEXTS, st.none(), st.integers()), max_size=3),
        st.fixed_dictionaries({"id": st.one_of(_TEXTS, st.integers())}),
        st.fixed_dictionaries({"id": _TEXTS, "#text": _TEXTS}),
    ),
)


@settings(max_examples=500)
@given(_PLAIN_EVENTS, st.lists(_ODD, max_size=2))
def test_plain_events_hash_as_through_the_tree(
    fields: dict[str, Any], odd: list[tuple[str, Any]]
) -> None:
    # Events of the plain shape a line sends take a direct path; it must agree with the
    # general rendering, and anything else must be left to the general rendering.
    event = {"type": "ObjectEvent", **fields, **dict(odd)}
    assert prehash_string(event) == hashing._tree_prehash(event, "ObjectEvent", None, ())
