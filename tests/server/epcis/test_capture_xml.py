"""POST /epcis/capture with an EPCIS 2.0 XML document (Content-Type: application/xml)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from lineside.epcis import parse_document
from lineside.epcis.xml import document_to_xml
from tests.server.factories import aggregation_event, epcis_document, object_event, sgtin, sscc

XML = {"Content-Type": "application/xml"}


def _xml(events: list[dict[str, Any]]) -> bytes:
    return document_to_xml(parse_document(epcis_document(events)))


def _stored(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/epcis/events")
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["epcisBody"]["queryResults"]["resultsBody"][
        "eventList"
    ]
    return events


def test_xml_capture_stores_the_events(client: TestClient) -> None:
    events = [
        object_event([sgtin(1), sgtin(2)]),
        aggregation_event(sscc(7), [sgtin(1), sgtin(2)], minutes=1),
    ]
    response = client.post("/epcis/capture", content=_xml(events), headers=XML)
    assert response.status_code == 202, response.text
    job = client.get(response.headers["Location"]).json()
    assert (job["success"], job["eventCount"]) == (True, 2)
    stored = {e["eventID"]: e for e in _stored(client)}
    assert set(stored) == {e["eventID"] for e in events}
    packed = stored[events[1]["eventID"]]
    assert (packed["type"], packed["bizStep"], packed["parentID"]) == (
        "AggregationEvent",
        "packing",
        sscc(7),
    )


def test_the_same_events_in_json_then_xml_are_duplicates(client: TestClient) -> None:
    events = [object_event([sgtin(n)], minutes=n) for n in range(3)]
    first = client.post("/epcis/capture", json=epcis_document(events))
    assert first.status_code == 202, first.text
    again = client.post(
        "/epcis/capture", content=_xml(events), headers={"Content-Type": "text/xml"}
    )
    assert again.status_code == 202, again.text
    job = client.get(again.headers["Location"]).json()
    assert (job["eventCount"], job["duplicateCount"]) == (0, 3)


def test_event_without_id_gets_the_same_hash_in_both_bindings(client: TestClient) -> None:
    event = object_event([sgtin(9)])
    del event["eventID"]
    assert client.post("/epcis/capture", content=_xml([event]), headers=XML).status_code == 202
    again = client.post("/epcis/capture", json=epcis_document([event]))
    assert client.get(again.headers["Location"]).json()["duplicateCount"] == 1


def test_invalid_xml_is_a_validation_exception(client: TestClient) -> None:
    bad = _xml([object_event([sgtin(1)])]).replace(
        b"urn:epcglobal:cbv:bizstep:commissioning", b"packng"
    )
    response = client.post("/epcis/capture", content=bad, headers=XML)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "bizStep: 'packng' is not a CBV 2.0 business step" in response.json()["detail"]


def test_malformed_and_hostile_xml_is_refused(client: TestClient) -> None:
    malformed = client.post("/epcis/capture", content=b"<a><b></a>", headers=XML)
    assert malformed.status_code == 400
    assert "not well-formed XML" in malformed.json()["detail"]
    xxe = b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + _xml(
        [object_event([sgtin(1)])]
    ).split(b"?>", 1)[1].replace(b"<action>", b"<action>&x;")
    refused = client.post("/epcis/capture", content=xxe, headers=XML)
    assert refused.status_code == 400
    assert "a DTD is not allowed" in refused.json()["detail"]
    assert "root:" not in refused.text
    assert _stored(client) == []
