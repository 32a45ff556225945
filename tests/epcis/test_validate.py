from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lineside.epcis import check_document, validate_document
from lineside.epcis.validate import SCHEMA_ENV
from tests.epcis.conftest import CASE, LINE, UNIT


def _doc(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-05-01T01:30:00Z",
        "epcisBody": {"eventList": list(events)},
    }


def _event(**fields: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": "2024-05-01T08:30:15+07:00",
        "eventTimeZoneOffset": "+07:00",
        "action": "OBSERVE",
        "epcList": [UNIT],
        "readPoint": {"id": LINE},
        **fields,
    }


def test_a_valid_document_has_no_issues(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCHEMA_ENV, raising=False)
    report = check_document(_doc(_event()))
    assert report.valid
    assert report.checks == ("structure", "vocabulary", "rules")


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (_event(bizStep="packng"), "bizStep: 'packng' is not a CBV 2.0 business step"),
        (
            _event(epcList=[]),
            ": an ObjectEvent needs a non-empty epcList, quantityList or sensor data",
        ),
        (
            _event(ilmd={"cbvmda:lotNumber": "L1"}),
            ": ilmd is only allowed with action ADD, not OBSERVE",
        ),
        (
            _event(action="ADD", ilmd={"lotNumber": "L1"}),
            ".ilmd.lotNumber: ILMD field names need a namespace prefix (cbvmda:lotNumber)",
        ),
        (_event(bizstep="shipping"), ".bizstep: unknown field (extension fields need a namespace"),
        (
            {**_event(), "type": "AggregationEvent", "action": "ADD", "childEPCs": [UNIT]},
            ": an AggregationEvent with action ADD needs a parentID",
        ),
        (
            {**_event(), "type": "AggregationEvent", "action": "ADD", "parentID": CASE},
            ": an AggregationEvent with action ADD needs childEPCs or childQuantityList",
        ),
        (
            {**_event(), "type": "TransactionEvent"},
            ": a TransactionEvent needs a non-empty bizTransactionList",
        ),
        (
            _event(sourceList=[{"type": "owning_party", "destination": CASE}]),
            ".sourceList[0]: needs a source",
        ),
    ],
)
def test_rules(event: dict[str, Any], expected: str) -> None:
    issues = [str(i) for i in validate_document(_doc(_event(), event))]
    assert any(i.startswith("epcisBody.eventList[1]") and expected in i for i in issues), issues
    assert not any(i.startswith("epcisBody.eventList[0]") for i in issues)


def test_structure_problems_are_all_listed() -> None:
    issues = validate_document({"type": "EPCISDocument"})
    assert [(i.path, i.message) for i in issues] == [
        ("creationDate", "required field is missing"),
        ("epcisBody", "required field is missing"),
    ]
    assert validate_document([]) != []


def test_schema_check_runs_when_given(tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": "object", "required": ["schemaVersion", "sender"]}')
    report = check_document(_doc(_event()), schema=schema)
    assert report.checks[-1] == "schema (schema.json)"
    assert [str(i) for i in report.issues] == ["(root): 'sender' is a required property"]
    assert report.issues[0].check == "schema"


def test_schema_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    schema = tmp_path / "s.json"
    schema.write_text("{}")
    monkeypatch.setenv(SCHEMA_ENV, str(schema))
    assert "schema (s.json)" in check_document(_doc(_event())).checks
