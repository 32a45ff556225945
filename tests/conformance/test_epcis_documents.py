"""EPCIS 2.0 documents: GS1's examples, the official JSON Schema, invalid documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lineside.epcis import (
    check_document,
    parse_document,
)
from lineside.epcis.validate import EPCISSchema
from tests.support.epcis_documents import builders_document


@pytest.fixture(scope="module")
def schema(vectors_dir: Path) -> EPCISSchema:
    return EPCISSchema(vectors_dir / "epcis" / "gs1-EPCIS" / "EPCIS-JSON-Schema.json")


def _rebuilt(data: dict[str, Any]) -> dict[str, Any]:
    """The document with every event replaced by its parse -> to_jsonld round trip."""
    document = parse_document(data)
    events = [e.to_jsonld() for e in document.events]
    body = data["epcisBody"]
    if "eventList" in body:
        return {**data, "epcisBody": {**body, "eventList": events}}
    results = body["queryResults"]
    resultsbody = {**results["resultsBody"], "eventList": events}
    return {**data, "epcisBody": {**body, "queryResults": {**results, "resultsBody": resultsbody}}}


def test_gs1_examples_parse_validate_and_round_trip(vectors_dir: Path, schema: EPCISSchema) -> None:
    files = sorted((vectors_dir / "epcis" / "gs1-EPCIS" / "JSON").rglob("*.jsonld"))
    assert len(files) == 47
    problems = {}
    for path in files:
        data = json.loads(path.read_text())
        report = check_document(data, schema=schema)
        round_trip = check_document(_rebuilt(data), schema=schema)
        if not (report.valid and round_trip.valid):
            problems[path.name] = [str(i) for i in report.issues + round_trip.issues]
    assert problems == {}


def test_builders_documents_validate_against_the_official_schema(
    schema: EPCISSchema,
) -> None:
    document = builders_document().to_jsonld()
    report = check_document(document, schema=schema)
    assert [str(i) for i in report.issues] == []
    assert report.checks[-1] == "schema (EPCIS-JSON-Schema.json)"


def test_openepcis_invalid_documents_are_rejected(vectors_dir: Path, schema: EPCISSchema) -> None:
    folder = (
        vectors_dir / "epcis" / "openepcis-test-resources" / "2.0" / "JSON" / "Capture" / "Invalid"
    )
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent from this copy of the vectors")
    accepted = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        if check_document(data, schema=schema).valid:
            accepted.append(path.name)
    assert accepted == []
