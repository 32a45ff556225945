"""EPCIS 1.2 XML input: the vectors' documents in the 1.2 layout read as their 2.0 form.

The shared vectors hold no EPCIS 1.2 document, so every EPCIS 2.0 XML example (GS1's and
the event-hash reference's) is written in the 1.2 layout (``tests.support.epcis_v12``)
and must convert to 2.0 with the hashes the vectors give, validate against the EPCIS 2.0
XSD and JSON Schema, and convert to JSON-LD and XML.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lineside.epcis import document_hashes
from lineside.epcis.validate import EPCISSchema, check_document
from lineside.epcis.xml import (
    XMLSchemaCheck,
    document_to_xml,
    parse_xml_document,
    upgrade_xml,
    xml_to_jsonld,
)
from lineside.errors import EPCISError
from tests.support.epcis_v12 import to_v12


@pytest.fixture(scope="module")
def xsd(vectors_dir: Path) -> XMLSchemaCheck:
    return XMLSchemaCheck(vectors_dir / "epcis" / "gs1-EPCIS" / "XSD")


@pytest.fixture(scope="module")
def schema(vectors_dir: Path) -> EPCISSchema:
    return EPCISSchema(vectors_dir / "epcis" / "gs1-EPCIS" / "EPCIS-JSON-Schema.json")


def _manifest(vectors_dir: Path) -> list[dict[str, Any]]:
    data = json.loads((vectors_dir / "epcis-event-hash" / "manifest.json").read_text())
    cases: list[dict[str, Any]] = data["cases"]
    return cases


def test_every_xml_hash_vector_in_the_1_2_layout_hashes_as_the_vectors_say(
    vectors_dir: Path,
) -> None:
    root = vectors_dir / "epcis-event-hash"
    checked = 0
    failures: dict[str, Any] = {}
    for case in _manifest(vectors_dir):
        for name in case["documents"]:
            if not name.endswith(".xml"):
                continue
            v12 = to_v12((root / name).read_bytes())
            assert b'schemaVersion="1.2"' in v12
            assert b"urn:epcglobal:epcis:xsd:2" not in v12
            hashes = document_hashes(xml_to_jsonld(v12))
            if hashes != case["expected_hashes"]:
                failures[name] = hashes
            checked += 1
    assert failures == {}
    assert checked == 17


def _gs1_event_documents(vectors_dir: Path) -> list[Path]:
    paths = []
    for path in sorted((vectors_dir / "epcis" / "gs1-EPCIS" / "XML").rglob("*.xml")):
        try:
            parse_xml_document(path.read_bytes())
        except EPCISError:
            continue  # master data and capture-job documents: not event documents
        paths.append(path)
    return paths


def test_gs1_examples_in_the_1_2_layout_convert_to_valid_2_0_with_the_same_hashes(
    vectors_dir: Path, xsd: XMLSchemaCheck, schema: EPCISSchema
) -> None:
    paths = _gs1_event_documents(vectors_dir)
    hash_examples = sorted((vectors_dir / "epcis-event-hash" / "examples").glob("*.xml"))
    paths += hash_examples
    assert len(paths) == 48
    problems: dict[str, list[str]] = {}
    for path in paths:
        original = path.read_bytes()
        v12 = to_v12(original)
        before = parse_xml_document(original)
        # Checks the 2.0 original passes (a few GS1 examples do not pass them all).
        xsd_valid = xsd.issues(original) == []
        json_issues = check_document(before.to_jsonld(), schema=schema).issues
        issues: list[str] = []
        upgraded = upgrade_xml(v12)
        assert upgraded is not None
        if xsd_valid:
            issues += [f"2.0 rewrite: {i}" for i in xsd.issues(upgraded)]
            issues += [f"1.2 against the XSD: {i}" for i in xsd.issues(v12)]
        if document_hashes(parse_xml_document(upgraded)) != document_hashes(before):
            issues.append("the 2.0 rewrite hashes differently")
        document = parse_xml_document(v12)
        if document_hashes(document) != document_hashes(before):
            issues.append("hashes differ from the 2.0 original")
        report = check_document(document.to_jsonld(), schema=schema)
        if report.issues != json_issues:
            issues += [f"JSON-LD: {i}" for i in report.issues]
        if not document.epcis_header:
            issues += [f"written: {i}" for i in xsd.issues(document_to_xml(document))]
        if issues:
            problems[path.name] = issues
    assert problems == {}
