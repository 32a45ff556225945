"""Fuzz the EPCIS 2.0 readers: documents, events, validation and the event hash.

Only :class:`~lineside.errors.EPCISError` may escape the parsers and the hash;
``validate_document`` never raises at all (it reports). What parses must serialise and
parse back to the same model, with the same event hash.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import given
from hypothesis import strategies as st

from lineside.epcis import (
    EPCISDocument,
    Event,
    commissioning_event,
    decommissioning_event,
    document_hashes,
    event_hash,
    packing_event,
    parse_document,
    parse_event,
    validate_document,
)
from lineside.errors import EPCISError
from tests.fuzz.support import (
    InputCounter,
    fuzz_settings,
    hostile_bytes,
    hostile_text,
    json_values,
    long_bytes,
    mutated_json,
    mutated_text,
    returns_or_refuses,
)

_HASH = re.compile(r"^ni:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0$")
_TIME = datetime(2026, 5, 1, 8, 0, tzinfo=timezone(timedelta(hours=7)))
_UNIT = "https://id.gs1.org/01/08934567890120/21/Ab3x"
_GLN = "https://id.gs1.org/414/8934567000017"

_EVENTS = [
    commissioning_event(
        epcs=[_UNIT, "https://id.gs1.org/01/08934567890120/21/Zz9"],
        event_time=_TIME,
        read_point=_GLN + "/254/L1",
        biz_location=_GLN,
        lot="L2405",
        expiry=date(2027, 5, 1),
        production_date=date(2026, 5, 1),
    ),
    decommissioning_event(
        epcs=[_UNIT], event_time=_TIME, read_point=_GLN, biz_location=_GLN, reason="no read"
    ),
    packing_event(
        parent="https://id.gs1.org/00/389345670000000018",
        children=[_UNIT],
        event_time=_TIME,
        read_point=_GLN,
        biz_location=_GLN,
    ),
]
EVENT_SEEDS: list[dict[str, Any]] = [e.to_jsonld() for e in _EVENTS]
EVENT_SEEDS.append(
    {
        "type": "ObjectEvent",
        "eventTime": "2026-05-01T01:00:00.123Z",
        "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "quantityList": [
            {
                "epcClass": "https://id.gs1.org/01/08934567890120/10/L1",
                "quantity": 12.5,
                "uom": "KGM",
            }
        ],
        "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:1:2"}],
        "sourceList": [{"type": "owning_party", "source": _GLN}],
        "destinationList": [{"type": "location", "destination": _GLN}],
        "errorDeclaration": {"declarationTime": "2026-05-02T00:00:00Z", "reason": "incorrect_data"},
        "example:note": {"@value": "x", "example:n": 3},
    }
)
DOCUMENT_SEEDS: list[dict[str, Any]] = [
    EPCISDocument.of(_EVENTS, creation_date=datetime(2026, 5, 1, tzinfo=UTC)).to_jsonld(),
    {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-05-01T00:00:00Z",
        "epcisBody": {"eventList": EVENT_SEEDS[3:]},
    },
]
FIELD_NAMES = sorted({key for seed in EVENT_SEEDS for key in seed} | set(DOCUMENT_SEEDS[1]))


_Model = TypeVar("_Model", bound=EPCISDocument | Event)


def _fixed_point(parse: Callable[[Any], _Model], serialised: dict[str, Any]) -> _Model:
    """Parse what a model wrote until the JSON-LD stops changing: within two rounds.

    The first write normalises (a null ``@context`` or extension field is dropped, then
    defaulted); after that, reading and writing must change nothing.
    """
    model = parse(serialised)
    for _ in range(2):
        written = model.to_jsonld()
        if written == serialised:
            return model
        serialised, model = written, parse(written)
    assert model.to_jsonld() == serialised, "JSON-LD keeps changing on re-parse"
    return model


def _check_event_hash(event: object, inputs: InputCounter) -> None:
    inputs.tried("epcis.event_hash")
    if not isinstance(event, dict):
        return
    found = returns_or_refuses(lambda: event_hash(event), EPCISError)
    if found is not None:
        assert _HASH.match(found), found


def _check_event(data: object, inputs: InputCounter) -> None:
    inputs.tried("epcis.parse_event")
    if not isinstance(data, dict):
        assert returns_or_refuses(lambda: parse_event(data), EPCISError) is None  # type: ignore[arg-type]
        return
    _check_event_hash(data, inputs)
    event = returns_or_refuses(lambda: parse_event(data), EPCISError)
    if event is None:
        return
    serialised = event.to_jsonld()
    json.dumps(serialised)  # what the model writes is JSON, nothing else
    again = _fixed_point(parse_event, serialised)
    digest = returns_or_refuses(lambda: event_hash(event), EPCISError)
    if digest is not None:
        assert _HASH.match(digest)
        assert event_hash(again) == digest


def _check_document(data: object, inputs: InputCounter) -> None:
    inputs.tried("epcis.validate_document")
    issues = validate_document(data)
    assert all(str(issue) for issue in issues)
    inputs.tried("epcis.parse_document")
    document = returns_or_refuses(
        lambda: parse_document(data if isinstance(data, dict | str | bytes) else json.dumps(data)),
        EPCISError,
    )
    if document is None:
        return
    again = _fixed_point(parse_document, document.to_jsonld())
    assert len(again.events) == len(document.events)
    hashes = returns_or_refuses(lambda: document_hashes(document), EPCISError)
    if hashes is not None:
        assert len(hashes) == len(document.events)
        assert all(_HASH.match(h) for h in hashes)


@fuzz_settings()
@given(data=st.one_of(hostile_bytes(), hostile_text(extra='{}[]":,'), json_values()))
def test_document_random_input(data: Any, inputs: InputCounter) -> None:
    if isinstance(data, str | bytes):
        inputs.tried("epcis.parse_document")
        assert returns_or_refuses(lambda: parse_document(data), EPCISError) is None
        return
    _check_document(data, inputs)


@fuzz_settings()
@given(document=mutated_json(DOCUMENT_SEEDS, field_names=FIELD_NAMES))
def test_document_mutations(document: Any, inputs: InputCounter) -> None:
    _check_document(document, inputs)


@fuzz_settings(0.5)
@given(text=mutated_text([json.dumps(d) for d in DOCUMENT_SEEDS], alphabet='{}[]":,0123456789'))
def test_document_text_mutations(text: str, inputs: InputCounter) -> None:
    inputs.tried("epcis.parse_document")
    for data in (text, text.encode("utf-8", "surrogatepass")):
        document = returns_or_refuses(functools.partial(parse_document, data), EPCISError)
        if document is not None:
            _fixed_point(parse_document, document.to_jsonld())


@fuzz_settings(0.25)
@given(
    data=st.one_of(
        long_bytes(prefix=b'{"type":"EPCISDocument","epcisBody":{"eventList":['),
        st.builds(lambda n: b"[" * n, st.integers(1_000, 1_000_000)),
        st.builds(lambda n: b'{"a":' * n, st.integers(1_000, 200_000)),
    )
)
def test_document_long_or_deep_input_is_refused(data: bytes, inputs: InputCounter) -> None:
    inputs.tried("epcis.parse_document")
    assert returns_or_refuses(lambda: parse_document(data), EPCISError) is None


@fuzz_settings()
@given(event=mutated_json(EVENT_SEEDS, field_names=FIELD_NAMES))
def test_event_mutations(event: Any, inputs: InputCounter) -> None:
    _check_event(event, inputs)


@fuzz_settings()
@given(event=st.dictionaries(st.sampled_from(FIELD_NAMES), json_values(), max_size=8))
def test_event_random_fields(event: dict[str, Any], inputs: InputCounter) -> None:
    _check_event(event, inputs)


@functools.cache
def _vector_documents(vectors_dir: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted((vectors_dir / "epcis-event-hash" / "examples").glob("*.jsonld")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        if isinstance(data, dict):
            found.append(data)
    return found


@fuzz_settings(0.5)
@given(data=st.data())
def test_conformance_documents_mutated(
    data: st.DataObject, vectors_dir: Path, inputs: InputCounter
) -> None:
    seeds = _vector_documents(vectors_dir)
    assert seeds, "the event-hash examples hold JSON-LD documents"
    document = data.draw(mutated_json(seeds, field_names=FIELD_NAMES))
    _check_document(document, inputs)
    inputs.tried("epcis.document_hashes")
    if isinstance(document, dict):
        hashes = returns_or_refuses(lambda: document_hashes(document), EPCISError)
        assert hashes is None or all(_HASH.match(h) for h in hashes)
