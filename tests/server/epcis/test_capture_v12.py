"""POST /epcis/capture with an EPCIS 1.2 XML document: stored and queried as EPCIS 2.0."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from lxml import etree  # type: ignore[import-untyped]

from lineside.epcis import event_hash
from lineside.epcis.xml import parse_xml_document
from lineside.errors import EPCISError
from tests.support.epcis_v12 import V12, V20, V20_EVENTS, to_v12

XML = {"Content-Type": "application/xml"}


def _stored(client: TestClient, **params: str) -> list[dict[str, Any]]:
    response = client.get("/epcis/events", params={"perPage": "1000", **params})
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["epcisBody"]["queryResults"]["resultsBody"][
        "eventList"
    ]
    return events


def test_a_1_2_document_is_stored_and_queried_as_2_0(client: TestClient) -> None:
    response = client.post("/epcis/capture", content=V12, headers=XML)
    assert response.status_code == 202, response.text
    job = client.get(response.headers["Location"]).json()
    assert (job["success"], job["eventCount"]) == (True, 3)
    stored = _stored(client)
    assert {e["type"] for e in stored} == {"ObjectEvent", "TransformationEvent"}
    # The QuantityEvent, found by its 2.0 form: an ObjectEvent with a quantityList.
    [storing] = _stored(client, EQ_bizStep="storing")
    assert storing["type"] == "ObjectEvent"
    assert storing["action"] == "OBSERVE"
    assert storing["quantityList"][0]["epcClass"] == "urn:epc:idpat:sgtin:8934567.089012.*"
    assert storing["eventID"] == event_hash(V20_EVENTS[2], context=V20["@context"])
    [transformed] = _stored(client, eventType="TransformationEvent")
    assert transformed["bizStep"] == "repackaging"
    # The same events sent again as 2.0 JSON-LD are all known already.
    again = client.post("/epcis/capture", json=V20)
    assert again.status_code == 202, again.text
    assert client.get(again.headers["Location"]).json()["duplicateCount"] == 3


def test_a_malformed_1_2_document_is_a_400_naming_what_is_wrong(client: TestClient) -> None:
    bad = V12.replace(b"<bizStep>urn:epcglobal:cbv:bizstep:storing</bizStep>", b"<bizstep/>")
    response = client.post("/epcis/capture", content=bad, headers=XML)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    detail = response.json()["detail"]
    assert "EventList[2] (QuantityEvent, line " in detail
    assert "<bizstep>" in detail
    assert "is not a field of an EPCIS 1.x QuantityEvent" in detail
    term = V12.replace(b"cbv:bizstep:storing", b"cbv:bizstep:storingg")
    response = client.post("/epcis/capture", content=term, headers=XML)
    assert response.status_code == 400
    assert "bizStep: 'urn:epcglobal:cbv:bizstep:storingg'" in response.json()["detail"]
    assert _stored(client) == []


def _event_documents(vectors_dir: Path) -> list[Path]:
    paths = sorted((vectors_dir / "epcis" / "gs1-EPCIS" / "XML").rglob("*.xml"))
    paths += sorted((vectors_dir / "epcis-event-hash" / "examples").glob("*.xml"))
    kept = []
    for path in paths:
        try:
            parse_xml_document(path.read_bytes())
        except EPCISError:
            continue  # master data and capture-job documents
        if etree.QName(etree.fromstring(path.read_bytes())).localname == "EPCISDocument":
            kept.append(path)
    return kept


def test_every_xml_example_in_the_1_2_layout_is_captured(
    client: TestClient, vectors_dir: Path
) -> None:
    paths = _event_documents(vectors_dir)
    assert len(paths) == 46
    refused = {}
    for path in paths:
        response = client.post("/epcis/capture", content=to_v12(path.read_bytes()), headers=XML)
        if response.status_code != 202:
            refused[path.name] = response.json().get("detail")
    assert refused == {}
