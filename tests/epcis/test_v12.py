"""EPCIS 1.x XML documents read as EPCIS 2.0 (``lineside.epcis.v12``)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree  # type: ignore[import-untyped]
from typer.testing import CliRunner

from app.cli import app
from lineside.epcis import EPCISDocument, Event, document_hashes, event_hash, parse_document
from lineside.epcis.v12 import is_epcis_1, upgrade_tree
from lineside.epcis.validate import SCHEMA_ENV
from lineside.epcis.xml import document_to_xml, parse_xml_document, upgrade_xml, xml_to_jsonld
from lineside.errors import EPCISError
from tests.epcis.test_xml_properties import _CREATED, _EVENTS
from tests.support.epcis_v12 import V12, V20, V20_EVENTS, to_v12


def _v12(body: str, *, root: str = "EPCISDocument", ns: str = "urn:epcglobal:epcis:xsd:1") -> bytes:
    return (
        f'<epcis:{root} xmlns:epcis="{ns}" schemaVersion="1.2" '
        f'creationDate="2024-05-01T01:00:00Z"><EPCISBody>{body}</EPCISBody></epcis:{root}>'
    ).encode()


def _event(fields: str, kind: str = "ObjectEvent") -> bytes:
    head = (
        "<eventTime>2024-05-01T08:00:00+07:00</eventTime>"
        "<eventTimeZoneOffset>+07:00</eventTimeZoneOffset>"
    )
    return _v12(f"<EventList><{kind}>{head}{fields}</{kind}></EventList>")


def test_a_1_2_document_reads_as_its_2_0_twin() -> None:
    document = parse_xml_document(V12)
    assert document.schema_version == "2.0"
    assert document_hashes(document) == document_hashes(parse_document(V20))
    events = document.to_jsonld()["epcisBody"]["eventList"]
    assert [e["type"] for e in events] == ["ObjectEvent", "TransformationEvent", "ObjectEvent"]
    assert events[0]["eventID"] == V20_EVENTS[0]["eventID"]
    assert events[0]["bizStep"] == "commissioning"  # the CBV URN as the bare 2.0 term
    assert events[0]["vn:line"] == "L1"


def test_a_quantity_event_becomes_an_observing_object_event() -> None:
    event = xml_to_jsonld(V12)["epcisBody"]["eventList"][2]
    assert event["type"] == "ObjectEvent"
    assert event["action"] == "OBSERVE"
    assert event["quantityList"] == [
        {"epcClass": "urn:epc:idpat:sgtin:8934567.089012.*", "quantity": 40}
    ]


def test_the_2_0_rewrite_puts_fields_in_the_2_0_order_and_keeps_the_cbv_urns() -> None:
    text = upgrade_xml(V12)
    assert text is not None
    root = etree.fromstring(text)
    assert etree.QName(root).namespace == "urn:epcglobal:epcis:xsd:2"
    assert root.get("schemaVersion") == "2.0"
    assert root.get("{http://www.w3.org/2001/XMLSchema-instance}schemaLocation") is None
    first = root.find("EPCISBody/EventList")[0]
    assert [etree.QName(c).localname for c in first] == [
        "eventTime",
        "eventTimeZoneOffset",
        "eventID",
        "epcList",
        "action",
        "bizStep",
        "disposition",
        "readPoint",
        "quantityList",
        "sourceList",
        "ilmd",
        "line",
    ]
    assert first.findtext("bizStep") == "urn:epcglobal:cbv:bizstep:commissioning"
    assert root.find("EPCISBody/EventList")[1].tag == "TransformationEvent"


def test_error_declaration_and_nested_2_0_fields_leave_their_wrappers() -> None:
    fields = (
        "<baseExtension><errorDeclaration>"
        "<declarationTime>2024-05-02T00:00:00Z</declarationTime>"
        "<reason>urn:epcglobal:cbv:er:incorrect_data</reason>"
        "</errorDeclaration></baseExtension>"
        "<epcList><epc>urn:epc:id:sgtin:8934567.089012.Ab3x</epc></epcList>"
        "<action>OBSERVE</action>"
        "<extension><extension><persistentDisposition>"
        "<set>urn:epcglobal:cbv:disp:completeness_verified</set>"
        "</persistentDisposition></extension></extension>"
    )
    event = parse_xml_document(_event(fields)).to_jsonld()["epcisBody"]["eventList"][0]
    assert event["errorDeclaration"]["reason"] == "incorrect_data"
    assert event["persistentDisposition"] == {"set": ["completeness_verified"]}


def test_an_association_event_with_sensor_data_from_the_bridging_layout() -> None:
    event = (
        "<eventTime>2024-05-01T08:00:00+07:00</eventTime>"
        "<eventTimeZoneOffset>+07:00</eventTimeZoneOffset>"
        "<parentID>urn:epc:id:grai:8934567.55555.1</parentID>"
        "<childEPCs><epc>urn:epc:id:giai:8934567.77</epc></childEPCs>"
        "<action>ADD</action>"
        "<sensorElementList><sensorElement>"
        '<sensorMetaData time="2024-05-01T07:55:00+07:00"/>'
        '<sensorReport type="gs1:Temperature" value="4.5" uom="CEL"/>'
        "</sensorElement></sensorElementList>"
    )
    xml = _v12(
        "<EventList><extension><extension><AssociationEvent>"
        f"{event}</AssociationEvent></extension></extension></EventList>"
    )
    (parsed,) = parse_xml_document(xml).to_jsonld()["epcisBody"]["eventList"]
    assert parsed["type"] == "AssociationEvent"
    # GS1's bridging examples spell it sensorMetaData; 2.0 says sensorMetadata.
    [element] = parsed["sensorElementList"]
    assert element["sensorMetadata"] == {"time": "2024-05-01T07:55:00+07:00"}
    assert element["sensorReport"][0]["value"] == 4.5


def test_a_query_document_and_a_header_are_upgraded_too() -> None:
    query = (
        b'<epcisq:EPCISQueryDocument xmlns:epcisq="urn:epcglobal:epcis-query:xsd:1" '
        b'xmlns:sbdh="http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader" '
        b'schemaVersion="1.2" creationDate="2024-05-01T01:00:00Z">'
        b"<EPCISHeader><sbdh:StandardBusinessDocumentHeader><sbdh:HeaderVersion>1.0"
        b"</sbdh:HeaderVersion></sbdh:StandardBusinessDocumentHeader></EPCISHeader>"
        b"<EPCISBody><epcisq:QueryResults><queryName>SimpleEventQuery</queryName>"
        b"<resultsBody><EventList><QuantityEvent>"
        b"<eventTime>2024-05-01T08:00:00+07:00</eventTime>"
        b"<eventTimeZoneOffset>+07:00</eventTimeZoneOffset>"
        b"<epcClass>urn:epc:class:lgtin:8934567.089012.LOT7</epcClass><quantity>3</quantity>"
        b"</QuantityEvent></EventList></resultsBody></epcisq:QueryResults></EPCISBody>"
        b"</epcisq:EPCISQueryDocument>"
    )
    data = xml_to_jsonld(query)
    assert data["type"] == "EPCISQueryDocument"
    assert "epcisHeader" in data
    results = data["epcisBody"]["queryResults"]
    assert results["queryName"] == "SimpleEventQuery"
    assert results["resultsBody"]["eventList"][0]["type"] == "ObjectEvent"
    text = upgrade_xml(query)
    assert text is not None
    assert b"urn:epcglobal:epcis-query:xsd:2" in text
    assert b"xsd:1" not in text


def test_the_source_tree_is_left_alone() -> None:
    root = etree.fromstring(V12)
    before = etree.tostring(root)
    upgrade_tree(root)
    assert etree.tostring(root) == before
    assert is_epcis_1(root)


def test_a_2_0_document_is_not_upgraded() -> None:
    v20 = _v12("<EventList/>", ns="urn:epcglobal:epcis:xsd:2")
    assert upgrade_xml(v20) is None
    with pytest.raises(EPCISError, match="is not an EPCIS 1.x document"):
        upgrade_tree(etree.fromstring(v20))


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (
            _v12("<EventList><SensorEvent/></EventList>"),
            "EventList[0]: <SensorEvent> (line 1) is not an EPCIS 1.x event",
        ),
        (
            _event("<action>OBSERVE</action><bizstep>x</bizstep>"),
            "<bizstep> (line 1) is not a field of an EPCIS 1.x ObjectEvent",
        ),
        (
            _event("<action>OBSERVE</action><action>ADD</action>"),
            "EventList[0] (ObjectEvent, line 1): <action> (line 1) is given twice",
        ),
        (
            _event("<quantity>4</quantity>", kind="QuantityEvent"),
            "a QuantityEvent needs an <epcClass>",
        ),
        (
            _event("<epcClass>urn:x</epcClass><action>ADD</action>", kind="QuantityEvent"),
            "<action> (line 1) is not a field of an EPCIS 1.x QuantityEvent",
        ),
        (
            _event(
                "<epcList/><action>OBSERVE</action>"
                "<bizStep>urn:epcglobal:cbv:bizstep:packng</bizStep>"
            ),
            "epcisBody.eventList[0].bizStep",
        ),
        (
            _v12("<EventList/>", root="EPCISMasterDataDocument"),
            "is not an EPCIS 2.0 document",
        ),
        (b"<epcis:EPCISDocument xmlns:epcis='urn:epcglobal:epcis:xsd:1'>", "not well-formed"),
    ],
)
def test_a_malformed_1_2_document_is_refused_with_what_is_wrong(xml: bytes, message: str) -> None:
    with pytest.raises(EPCISError) as caught:
        parse_xml_document(xml)
    assert message in str(caught.value)


# --- the command line --------------------------------------------------------------


@pytest.fixture
def v12_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(SCHEMA_ENV, raising=False)
    path = tmp_path / "v12.xml"
    path.write_bytes(V12)
    return path


def test_cli_validates_and_hashes_a_1_2_document(v12_file: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["epcis", "validate", str(v12_file)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["epcis", "hash", str(v12_file), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["hash"] for r in rows] == document_hashes(parse_document(V20))
    assert [r["type"] for r in rows][2] == "ObjectEvent"


@pytest.mark.parametrize("target", ["jsonld", "json"])
def test_cli_converts_a_1_2_document_to_json_ld(v12_file: Path, target: str) -> None:
    result = CliRunner().invoke(app, ["epcis", "convert", str(v12_file), "--to", target])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schemaVersion"] == "2.0"
    assert document_hashes(data) == document_hashes(parse_document(V20))


def test_cli_converts_a_1_2_document_to_2_0_xml(v12_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "v20.xml"
    result = CliRunner().invoke(
        app, ["epcis", "convert", str(v12_file), "--to", "xml", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert b'xmlns:epcis="urn:epcglobal:epcis:xsd:2"' in out.read_bytes()
    assert upgrade_xml(out.read_bytes()) is None  # already 2.0
    assert document_hashes(parse_xml_document(out.read_bytes())) == document_hashes(
        parse_document(V20)
    )


def test_cli_names_what_is_wrong_in_a_1_2_document(tmp_path: Path) -> None:
    path = tmp_path / "bad.xml"
    path.write_bytes(_event("<action>OBSERVE</action><bizstep>x</bizstep>"))
    for command in ("validate", "hash"):
        result = CliRunner().invoke(app, ["epcis", command, str(path)])
        assert result.exit_code == 2
        assert "<bizstep>" in result.output


# --- properties ---------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(_EVENTS)
def test_any_event_written_in_the_1_2_layout_reads_back_unchanged(event: Event) -> None:
    written = document_to_xml(EPCISDocument.of([event], creation_date=_CREATED))
    (parsed,) = parse_xml_document(to_v12(written)).events
    assert parsed == event
    assert event_hash(parsed) == event_hash(event)


_V12ISH = st.lists(
    st.sampled_from(
        [
            "<",
            ">",
            "</",
            "/>",
            "epcis:EPCISDocument",
            ' xmlns:epcis="urn:epcglobal:epcis:xsd:1"',
            ' schemaVersion="1.2"',
            "EPCISBody",
            "EventList",
            "ObjectEvent",
            "QuantityEvent",
            "TransformationEvent",
            "extension",
            "baseExtension",
            "epcClass",
            "quantity",
            "eventTime",
            "x",
        ]
    ),
    max_size=40,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(_V12ISH)
def test_1_2_like_text_never_crashes_the_reader(text: str) -> None:
    with contextlib.suppress(EPCISError):
        parse_xml_document(text)
