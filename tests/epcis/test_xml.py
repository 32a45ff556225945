"""The EPCIS 2.0 XML binding: reading, writing, hardening, and binding detection."""

from __future__ import annotations

from datetime import date

import pytest

from lineside.epcis import (
    Action,
    AggregationEvent,
    Binding,
    BizStep,
    Disposition,
    EPCISDocument,
    ObjectEvent,
    TransformationEvent,
    binding_for,
    commissioning_event,
    decommissioning_event,
    document_hashes,
    event_hash,
    packing_event,
    parse_document,
    parse_document_bytes,
)
from lineside.epcis.xml import document_to_xml, event_to_xml, parse_xml_document, xml_to_jsonld
from lineside.errors import EPCISError
from tests.epcis.conftest import CASE, LINE, SITE, UNIT, UNIT2

HEAD = (
    '<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" '
    'xmlns:example="https://ns.example.com/epcis/" '
    'schemaVersion="2.0" creationDate="2024-05-01T01:00:00Z"><EPCISBody><EventList>'
)
TAIL = "</EventList></EPCISBody></epcis:EPCISDocument>"
WHEN = (
    "<eventTime>2024-05-01T08:00:00.250+07:00</eventTime>"
    "<eventTimeZoneOffset>+07:00</eventTimeZoneOffset>"
)


def _doc(*events: str) -> str:
    return HEAD + "".join(events) + TAIL


def test_object_event_with_legacy_urns_extension_wrapper_and_ilmd() -> None:
    xml = _doc(
        f"<ObjectEvent>{WHEN}<epcList><epc>urn:epc:id:sgtin:8934567.089012.Ab3x</epc></epcList>"
        "<action>ADD</action><bizStep>urn:epcglobal:cbv:bizstep:commissioning</bizStep>"
        "<disposition>urn:epcglobal:cbv:disp:active</disposition>"
        "<readPoint><id>urn:epc:id:sgln:8934567.00001.L1</id></readPoint>"
        "<extension><quantityList><quantityElement><epcClass>urn:epc:class:lgtin:8934567.089012.L1"
        "</epcClass><quantity>2.50</quantity><uom>KGM</uom></quantityElement></quantityList>"
        "</extension>"
        "<ilmd><example:lot>L1</example:lot></ilmd>"
        "<example:note lang='vi'>Hàng mẫu</example:note></ObjectEvent>"
    )
    (event,) = parse_xml_document(xml).events
    assert isinstance(event, ObjectEvent)
    assert (event.action, event.biz_step, event.disposition) == (
        Action.ADD,
        BizStep.COMMISSIONING,
        Disposition.ACTIVE,
    )
    assert event.quantity_list is not None
    assert (event.quantity_list[0].quantity, event.quantity_list[0].uom) == (2.5, "KGM")
    assert event.ilmd == {"example:lot": "L1"}
    assert event.to_jsonld()["example:note"] == {"lang": "vi", "#text": "Hàng mẫu"}
    assert event.event_time.microsecond == 250000


def test_user_extensions_nest_and_repeat() -> None:
    xml = _doc(
        f"<ObjectEvent>{WHEN}<epcList><epc>{UNIT}</epc></epcList><action>OBSERVE</action>"
        "<example:batch><example:step>wash</example:step><example:step>dry</example:step>"
        "</example:batch></ObjectEvent>"
    )
    data = xml_to_jsonld(xml)
    event = data["epcisBody"]["eventList"][0]
    assert event["example:batch"] == {"example:step": ["wash", "dry"]}
    assert data["@context"][1] == {
        "example": {"@id": "https://ns.example.com/epcis/", "@prefix": True}
    }


def test_cbv_compact_iris_and_source_destination() -> None:
    xml = _doc(
        f"<ObjectEvent>{WHEN}<epcList><epc>{UNIT}</epc></epcList><action>OBSERVE</action>"
        "<bizStep>cbv:BizStep-shipping</bizStep>"
        "<bizTransactionList><bizTransaction type='cbv:BTT-po'>urn:x:po:1</bizTransaction>"
        "</bizTransactionList>"
        "<sourceList><source type='urn:epcglobal:cbv:sdt:owning_party'>"
        f"{SITE}</source></sourceList>"
        "</ObjectEvent>"
    )
    (event,) = parse_xml_document(xml).events
    assert event.biz_step is BizStep.SHIPPING
    assert event.to_jsonld()["bizTransactionList"] == [
        {"type": "po", "bizTransaction": "urn:x:po:1"}
    ]
    assert event.to_jsonld()["sourceList"] == [{"type": "owning_party", "source": SITE}]


def test_sensor_elements_become_json_ld_objects() -> None:
    xml = _doc(
        f"<ObjectEvent>{WHEN}<epcList><epc>{UNIT}</epc></epcList><action>OBSERVE</action>"
        "<sensorElementList><sensorElement>"
        "<sensorMetadata time='2024-05-01T07:59:00+07:00' deviceID='urn:x:dev:1'/>"
        "<sensorReport type='gs1:Temperature' value='4.5' uom='CEL' booleanValue='true'"
        " example:cv='3'/>"
        "<example:calibrated>2024-01-01</example:calibrated>"
        "</sensorElement></sensorElementList></ObjectEvent>"
    )
    (event,) = parse_xml_document(xml).events
    assert event.sensor_element_list == (
        {
            "sensorMetadata": {"time": "2024-05-01T07:59:00+07:00", "deviceID": "urn:x:dev:1"},
            "sensorReport": [
                {
                    "type": "gs1:Temperature",
                    "value": 4.5,
                    "uom": "CEL",
                    "booleanValue": True,
                    "example:cv": "3",
                }
            ],
            "example:calibrated": "2024-01-01",
        },
    )


def test_all_event_types_and_the_1_2_event_list_extension() -> None:
    xml = _doc(
        f"<AggregationEvent>{WHEN}<parentID>{CASE}</parentID><childEPCs><epc>{UNIT}</epc>"
        "</childEPCs><action>ADD</action></AggregationEvent>",
        f"<extension><TransformationEvent>{WHEN}<inputEPCList><epc>{UNIT}</epc></inputEPCList>"
        f"<outputEPCList><epc>{UNIT2}</epc></outputEPCList></TransformationEvent></extension>",
        f"<TransactionEvent>{WHEN}<bizTransactionList><bizTransaction>urn:x:po:1</bizTransaction>"
        f"</bizTransactionList><epcList><epc>{UNIT}</epc></epcList><action>ADD</action>"
        "</TransactionEvent>",
        f"<AssociationEvent>{WHEN}<parentID>urn:epc:id:grai:8934567.00001.9</parentID>"
        f"<childEPCs><epc>{UNIT}</epc></childEPCs><action>ADD</action></AssociationEvent>",
    )
    kinds = [type(e).__name__ for e in parse_xml_document(xml).events]
    assert kinds == [
        "AggregationEvent",
        "TransformationEvent",
        "TransactionEvent",
        "AssociationEvent",
    ]


def test_error_declaration_and_nil_quantity() -> None:
    xml = _doc(
        f"<ObjectEvent>{WHEN}<errorDeclaration><declarationTime>2024-05-02T00:00:00Z"
        "</declarationTime><reason>urn:epcglobal:cbv:er:incorrect_data</reason>"
        "<correctiveEventIDs><correctiveEventID>urn:uuid:1</correctiveEventID>"
        "</correctiveEventIDs></errorDeclaration><action>OBSERVE</action>"
        "<quantityList><quantityElement><epcClass>urn:epc:class:lgtin:8934567.089012.L1</epcClass>"
        "<quantity xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' xsi:nil='true'/>"
        "</quantityElement></quantityList></ObjectEvent>"
    )
    (event,) = parse_xml_document(xml).events
    assert event.to_jsonld()["errorDeclaration"] == {
        "declarationTime": "2024-05-02T00:00:00.000Z",
        "reason": "incorrect_data",
        "correctiveEventIDs": ["urn:uuid:1"],
    }
    assert event.to_jsonld()["quantityList"] == [
        {"epcClass": "urn:epc:class:lgtin:8934567.089012.L1"}
    ]


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<a><b></a>", "(root): not well-formed XML"),
        ("<EPCISDocument/>", "is not an EPCIS 2.0 document"),
        (HEAD.replace("<EPCISBody><EventList>", "") + "</epcis:EPCISDocument>", "EPCISBody"),
        (_doc("<QuantityEvent/>"), "EventList[0]: <QuantityEvent> (line 1) is not an EPCIS 2.0"),
        (
            _doc(f"<ObjectEvent>{WHEN}<action>ADD</action><bizStep>packng</bizStep></ObjectEvent>"),
            "epcisBody.eventList[0].bizStep: 'packng' is not a CBV 2.0 business step",
        ),
        (
            _doc(
                f"<ObjectEvent>{WHEN}<action>ADD</action><quantityList><quantityElement>"
                "<epcClass>urn:x:1</epcClass><quantity>many</quantity></quantityElement>"
                "</quantityList></ObjectEvent>"
            ),
            "quantity: 'many' is not a number",
        ),
    ],
)
def test_errors_name_what_is_wrong(xml: str, message: str) -> None:
    with pytest.raises(EPCISError) as caught:
        parse_xml_document(xml)
    assert message in str(caught.value)


# --- hardening -----------------------------------------------------------------------


def test_external_entities_are_never_read(tmp_path: pytest.TempPathFactory) -> None:
    secret = tmp_path / "secret.txt"  # type: ignore[operator]
    secret.write_text("TOP-SECRET")
    xml = f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>' + _doc(
        f"<ObjectEvent>{WHEN}<action>ADD</action><example:leak>&x;</example:leak></ObjectEvent>"
    )
    with pytest.raises(EPCISError, match="a DTD is not allowed") as caught:
        parse_xml_document(xml)
    assert "TOP-SECRET" not in str(caught.value)


def test_billion_laughs_is_refused_without_expansion() -> None:
    entities = '<!ENTITY l0 "ha">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    )
    xml = f"<!DOCTYPE d [{entities}]>" + _doc(
        f"<ObjectEvent>{WHEN}<action>ADD</action><example:x>&l9;</example:x></ObjectEvent>"
    )
    # libxml2 may stop it first (amplification limit); either way nothing is expanded.
    with pytest.raises(EPCISError, match="a DTD is not allowed|entity amplification"):
        parse_xml_document(xml)


def test_external_dtd_is_refused_and_not_fetched() -> None:
    xml = '<!DOCTYPE d SYSTEM "http://127.0.0.1:9/evil.dtd">' + _doc()
    with pytest.raises(EPCISError, match="a DTD is not allowed"):
        parse_xml_document(xml)


def test_bare_doctype_is_harmless_and_accepted() -> None:
    assert parse_xml_document("<!DOCTYPE project>" + _doc()).events == ()


def test_entity_reference_without_declaration_is_malformed() -> None:
    with pytest.raises(EPCISError, match="not well-formed XML"):
        parse_xml_document(_doc(f"<ObjectEvent>{WHEN}<action>&x;</action></ObjectEvent>"))


# --- writing -----------------------------------------------------------------------------


def _events(event_time: object) -> list[ObjectEvent | AggregationEvent]:
    assert not isinstance(event_time, str)
    return [
        commissioning_event(
            epcs=[UNIT, UNIT2],
            event_time=event_time,  # type: ignore[arg-type]
            read_point=LINE,
            biz_location=SITE,
            lot="L2405",
            expiry=date(2026, 5, 1),
        ),
        decommissioning_event(
            epcs=[UNIT],
            event_time=event_time,  # type: ignore[arg-type]
            read_point=LINE,
            biz_location=SITE,
            reason="nhãn trùng <dup> & lặp",
        ),
        packing_event(
            parent=CASE,
            children=[UNIT, UNIT2],
            event_time=event_time,  # type: ignore[arg-type]
            read_point=LINE,
            biz_location=SITE,
        ),
    ]


def test_builders_events_round_trip_through_xml(event_time: object) -> None:
    events = _events(event_time)
    document = EPCISDocument.of(events, creation_date=events[0].event_time)
    xml = document_to_xml(document)
    assert b"<bizStep>urn:epcglobal:cbv:bizstep:commissioning</bizStep>" in xml
    assert b'xmlns:lineside="urn:lineside:epcis:"' in xml
    back = parse_xml_document(xml)
    assert list(back.events) == events
    assert document_hashes(back) == [e.event_id for e in events]


def test_event_to_xml_writes_one_element(event_time: object) -> None:
    event = _events(event_time)[2]
    xml = event_to_xml(event.to_jsonld())
    assert xml.startswith(b"<?xml")
    assert b"<AggregationEvent>" in xml
    assert event_to_xml(event.to_jsonld()) == xml


def test_writing_an_undeclared_prefix_is_refused() -> None:
    data = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "eventTime": "2024-05-01T00:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": [UNIT],
        "acme:field": "x",
    }
    with pytest.raises(EPCISError, match="the prefix 'acme' of 'acme:field' is not declared"):
        event_to_xml(data)


def test_compact_iri_values_are_expanded_when_written() -> None:
    document = parse_document(
        {
            "@context": [
                "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                {"ex": "https://ex.com/"},
            ],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2024-05-01T00:00:00Z",
            "epcisBody": {
                "eventList": [
                    {
                        "type": "ObjectEvent",
                        "action": "OBSERVE",
                        "eventTime": "2024-05-01T00:00:00Z",
                        "eventTimeZoneOffset": "+00:00",
                        "epcList": [UNIT],
                        "ex:kind": "ex:fruit",
                    }
                ]
            },
        }
    )
    xml = document_to_xml(document)
    assert b"<ex:kind>https://ex.com/fruit</ex:kind>" in xml
    assert document_hashes(parse_xml_document(xml)) == document_hashes(document)


def test_query_documents_round_trip_with_ignore_fields() -> None:
    data = {
        "@context": [{"rx": "https://rx.example.com/", "ex": "https://ex.com/"}],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-05-01T00:00:00Z",
        "epcisBody": {
            "queryResults": {
                "queryName": "SimpleEventQuery",
                "rx:ignoreFields": ["ex:captureID"],
                "resultsBody": {
                    "eventList": [
                        {
                            "type": "ObjectEvent",
                            "action": "OBSERVE",
                            "eventTime": "2024-05-01T00:00:00Z",
                            "eventTimeZoneOffset": "+00:00",
                            "epcList": [UNIT],
                            "ex:captureID": "42",
                        }
                    ]
                },
            }
        },
    }
    xml = document_to_xml(parse_document(data))
    assert b"<epcisq:QueryResults>" in xml
    assert b"<ex:captureID/>" in xml
    back = xml_to_jsonld(xml)
    assert back["epcisBody"]["queryResults"]["rx:ignoreFields"] == ["ex:captureID"]
    assert document_hashes(back) == document_hashes(data)
    plain = dict(data["epcisBody"]["queryResults"]["resultsBody"]["eventList"][0])  # type: ignore[index]
    assert document_hashes(back) == [
        event_hash({k: v for k, v in plain.items() if k != "ex:captureID"})
    ]


def test_transformation_uom_without_quantity_cannot_be_written() -> None:
    event = TransformationEvent.model_validate(
        {
            "eventTime": "2024-05-01T00:00:00Z",
            "eventTimeZoneOffset": "+00:00",
            "inputQuantityList": [{"epcClass": "urn:x:c", "uom": "KGM"}],
        }
    )
    with pytest.raises(EPCISError, match=r"inputQuantityList\[0\].uom: XML allows a uom only"):
        event_to_xml(event.to_jsonld())


# --- binding detection -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type", "expected"),
    [
        (b"  <x/>", None, Binding.XML),
        (b"\xef\xbb\xbf<x/>", "application/octet-stream", Binding.XML),
        (b"{}", None, Binding.JSON_LD),
        (b"<x/>", "application/ld+json", Binding.JSON_LD),
        (b"{}", "text/xml; charset=utf-8", Binding.XML),
        (b"{}", "application/epcis+xml", Binding.XML),
        (b"{}", "application/json", Binding.JSON_LD),
    ],
)
def test_binding_for(data: bytes, content_type: str | None, expected: Binding) -> None:
    assert binding_for(data, content_type) is expected


def test_parse_document_bytes_reads_both_bindings(event_time: object) -> None:
    events = _events(event_time)
    document = EPCISDocument.of(events, creation_date=events[0].event_time)
    from_xml = parse_document_bytes(document_to_xml(document), "application/xml")
    from_json = parse_document_bytes(
        document.model_dump_json(by_alias=True, exclude_none=True).encode()
    )
    assert from_xml.events == from_json.events == document.events
    with pytest.raises(EPCISError, match="content type 'text/html' is not an EPCIS binding"):
        parse_document_bytes(b"<html/>", "text/html")
