"""EPCIS 2.0 XML binding: GS1's XML examples, the official XSD, and JSON-LD <-> XML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lineside.epcis import (
    document_hashes,
    parse_document,
)
from lineside.epcis.xml import XMLSchemaCheck, document_to_xml, parse_xml_document
from lineside.errors import EPCISError
from tests.support.epcis_documents import builders_document

# Not EPCIS event documents: master data documents and capture-job responses.
_NOT_EVENT_DOCUMENTS = {
    "CBV-11.4-2020-06-16a.xml",
    "Example-masterData.xml",
    "Example-CaptureJobRunning.xml",
    "Example-CaptureJobSuccess.xml",
    "Example-CaptureJobWithErrorFile.xml",
    "Example-CaptureJobWithErrors.xml",
}


@pytest.fixture(scope="module")
def xsd(vectors_dir: Path) -> XMLSchemaCheck:
    return XMLSchemaCheck(vectors_dir / "epcis" / "gs1-EPCIS" / "XSD")


def _xml_examples(vectors_dir: Path) -> list[Path]:
    gs1 = sorted((vectors_dir / "epcis" / "gs1-EPCIS" / "XML").rglob("*.xml"))
    hashes = sorted((vectors_dir / "epcis-event-hash" / "examples").glob("*.xml"))
    return gs1 + hashes


def test_xml_examples_parse_and_round_trip_valid_with_the_same_hashes(
    vectors_dir: Path, xsd: XMLSchemaCheck
) -> None:
    files = _xml_examples(vectors_dir)
    assert len(files) == 54
    refused: dict[str, str] = {}
    problems: dict[str, list[str]] = {}
    round_tripped = 0
    for path in files:
        try:
            document = parse_xml_document(path.read_bytes())
        except EPCISError as exc:
            refused[path.name] = str(exc)
            continue
        if document.epcis_header:
            continue  # master data in a header: reading only (see the module docs)
        written = document_to_xml(document)
        issues = xsd.issues(written)
        same = document_hashes(parse_xml_document(written)) == document_hashes(document)
        if issues or not same:
            problems[path.name] = [str(i) for i in issues] + ([] if same else ["hashes differ"])
        round_tripped += 1
    assert set(refused) == _NOT_EVENT_DOCUMENTS
    assert all("is not an EPCIS 2.0 document" in why for why in refused.values())
    assert problems == {}
    assert round_tripped == 47


def test_json_ld_examples_become_xsd_valid_xml_with_the_same_hashes(
    vectors_dir: Path, xsd: XMLSchemaCheck
) -> None:
    files = sorted((vectors_dir / "epcis" / "gs1-EPCIS" / "JSON").rglob("*.jsonld"))
    files += sorted((vectors_dir / "epcis-event-hash" / "examples").glob("*.jsonld"))
    assert len(files) == 69
    problems: dict[str, Any] = {}
    for path in files:
        data = json.loads(path.read_text())
        written = document_to_xml(parse_document(data))
        issues = [str(i) for i in xsd.issues(written)]
        if issues or document_hashes(parse_xml_document(written)) != document_hashes(data):
            problems[path.name] = issues or "hashes differ"
    assert problems == {}


def test_builders_documents_are_xsd_valid(xsd: XMLSchemaCheck) -> None:
    written = document_to_xml(builders_document())
    assert xsd.issues(written) == []


def test_xsd_check_reports_line_numbers(xsd: XMLSchemaCheck) -> None:
    bad = (
        b'<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0"\n'
        b' creationDate="2024-05-01T00:00:00Z"><EPCISBody><EventList>\n'
        b"<ObjectEvent><action>ADD</action></ObjectEvent>\n"
        b"</EventList></EPCISBody></epcis:EPCISDocument>"
    )
    issues = xsd.issues(bad)
    assert [i.path for i in issues] == ["line 3"]
    assert "eventTime" in issues[0].message
