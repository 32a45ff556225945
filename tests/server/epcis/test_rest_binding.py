"""The EPCIS 2.0 REST binding beyond capture and the events query: discovery, the
top-level resources, one event by ID, version headers, content negotiation and EPC
matching that does not depend on the form an identifier was written in."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

from fastapi.testclient import TestClient

from tests.server.factories import aggregation_event, epcis_document, object_event, sgtin, sscc

#: The same unit as sgtin(7), written as a GS1 Digital Link.
DL_OF_SGTIN_7 = "https://id.gs1.org/01/10614141073464/21/7"


def _capture(client: TestClient, events: list[dict[str, Any]]) -> None:
    response = client.post("/epcis/capture", json=epcis_document(events))
    assert response.status_code == 202, response.text


def _event_ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    events = response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return [e["eventID"] for e in events]


def test_discovery_lists_the_top_level_resources_with_version_headers(client: TestClient) -> None:
    response = client.get("/epcis/")
    assert response.status_code == 200
    assert response.json()["type"] == "Collection"
    assert {"capture", "events", "eventTypes", "epcs", "bizSteps"} <= set(response.json()["member"])
    assert response.headers["GS1-EPCIS-Version"] == "2.0.0"
    assert response.headers["GS1-CBV-Version"] == "2.0.0"


def test_options_answers_204_with_allow_and_versions(client: TestClient) -> None:
    for path, allow in (("/epcis/", "OPTIONS, GET"), ("/epcis/capture", "OPTIONS, GET, POST")):
        response = client.options(path)
        assert response.status_code == 204, path
        assert response.headers["Allow"] == allow
        assert response.headers["GS1-EPCIS-Max"] == "2.0.0"
        assert "GS1-EPC-Format" in response.headers


def test_one_event_by_its_id_and_404_for_an_unknown_one(client: TestClient) -> None:
    first, second = object_event([sgtin(1)]), object_event([sgtin(2)], minutes=1)
    _capture(client, [first, second])
    response = client.get("/epcis/events/" + quote(second["eventID"], safe=""))
    assert _event_ids(response) == [second["eventID"]]
    missing = client.get("/epcis/events/" + quote("urn:uuid:00000000-0000-4000-8000-0", safe=""))
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_collections_list_the_stored_values_and_page(client: TestClient) -> None:
    _capture(
        client,
        [
            object_event([sgtin(1)], biz_step="commissioning"),
            object_event([sgtin(2)], biz_step="shipping", minutes=1),
        ],
    )
    steps = client.get("/epcis/bizSteps").json()["member"]
    assert steps == ["commissioning", "shipping"]
    types = client.get("/epcis/eventTypes").json()["member"]
    assert {"ObjectEvent", "AssociationEvent", "TransformationEvent"} <= set(types)
    first = client.get("/epcis/epcs", params={"perPage": 1})
    assert first.json()["member"] == [sgtin(1)]
    next_url = first.headers["Link"].split(">", 1)[0].lstrip("<")
    assert client.get(next_url).json()["member"] == [sgtin(2)]
    assert client.get("/epcis/nothing").status_code == 404


def test_a_resource_value_has_events_below_it(client: TestClient) -> None:
    ship = object_event([sgtin(2)], biz_step="shipping", minutes=1)
    _capture(client, [object_event([sgtin(1)], biz_step="commissioning"), ship])
    assert client.get("/epcis/bizSteps/shipping").json()["member"] == ["events"]
    assert _event_ids(client.get("/epcis/bizSteps/shipping/events")) == [ship["eventID"]]
    assert client.get("/epcis/bizSteps/destroying").status_code == 404
    by_type = client.get("/epcis/eventTypes/ObjectEvent/events")
    assert len(_event_ids(by_type)) == 2
    by_epc = client.get("/epcis/epcs/" + quote(sgtin(2), safe="") + "/events")
    assert _event_ids(by_epc) == [ship["eventID"]]


def test_an_epc_is_found_whichever_form_it_was_written_in(client: TestClient) -> None:
    as_urn = object_event([sgtin(7)])
    as_link = object_event([DL_OF_SGTIN_7], minutes=1)
    _capture(client, [as_urn, as_link])
    want = {as_urn["eventID"], as_link["eventID"]}
    for value in (sgtin(7), DL_OF_SGTIN_7, "https://id.example.vn/01/10614141073464/21/7"):
        found = client.get("/epcis/events", params={"MATCH_epc": value})
        assert set(_event_ids(found)) == want, value


def test_an_epc_pattern_matches_every_serial_of_the_class(client: TestClient) -> None:
    events = [object_event([sgtin(1)]), object_event([DL_OF_SGTIN_7], minutes=1)]
    other = object_event([sgtin(1, gtin_ref="0614141.107347")], minutes=2)
    _capture(client, [*events, other])
    pattern = "urn:epc:idpat:sgtin:0614141.107346.*"
    found = client.get("/epcis/events", params={"MATCH_epc": pattern})
    assert set(_event_ids(found)) == {e["eventID"] for e in events}


def test_parent_matching_is_format_independent_too(client: TestClient) -> None:
    packing = aggregation_event(sscc(5), [sgtin(1)])
    _capture(client, [packing])
    link = "https://id.gs1.org/00/006141410000000051"
    assert _event_ids(client.get("/epcis/events", params={"MATCH_parentID": link})) == [
        packing["eventID"]
    ]


def test_xml_results_on_request_and_406_for_neither_binding(client: TestClient) -> None:
    event = object_event([sgtin(1)])
    _capture(client, [event])
    response = client.get("/epcis/events", headers={"Accept": "application/xml"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(response.content)  # our own answer, not hostile input
    assert root.tag.endswith("}EPCISQueryDocument")
    assert event["eventID"].encode() in response.content
    refused = client.get("/epcis/events", headers={"Accept": "text/csv"})
    assert refused.status_code == 406
    assert refused.headers["content-type"].startswith("application/problem+json")


def test_a_plain_text_capture_is_415(client: TestClient) -> None:
    body = epcis_document([object_event([sgtin(1)])])
    response = client.post(
        "/epcis/capture", content=json.dumps(body), headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert "text/plain" in response.json()["detail"]
