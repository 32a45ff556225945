"""Capture semantics of the REST binding: ``GS1-Capture-Error-Behaviour``, conflicting
event IDs, query documents as input, extension prefixes in query results and
``GS1-EPC-Format`` on output."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from lineside.epcis import event_hash
from server.db.models import Organisation
from tests.server.factories import epcis_document, object_event, sgtin

PROCEED = {"GS1-Capture-Error-Behaviour": "proceed"}


def _events(client: TestClient, **params: str) -> list[dict[str, Any]]:
    response = client.get("/epcis/events", params={"perPage": "100", **params})
    assert response.status_code == 200, response.text
    return list(response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"])


def _job(client: TestClient, response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    job = client.get(response.headers["Location"]).json()
    assert isinstance(job, dict)
    return job


def _invalid(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "action": "SOMETIMES"}


def test_proceed_stores_the_valid_events_and_lists_the_refused_ones(client: TestClient) -> None:
    good, bad = object_event([sgtin(1)]), _invalid(object_event([sgtin(2)], minutes=1))
    response = client.post("/epcis/capture", json=epcis_document([good, bad]), headers=PROCEED)
    job = _job(client, response)
    assert job["captureErrorBehaviour"] == "proceed"
    assert job["success"] is False
    assert job["running"] is False
    assert job["eventCount"] == 1
    (error,) = job["errors"]
    assert error["instance"] == "epcisBody.eventList[1]"
    assert "action" in error["detail"]
    assert [e["eventID"] for e in _events(client)] == [good["eventID"]]


def test_rollback_refuses_the_whole_document(client: TestClient) -> None:
    good, bad = object_event([sgtin(1)]), _invalid(object_event([sgtin(2)], minutes=1))
    for headers in ({}, {"GS1-Capture-Error-Behaviour": "rollback"}):
        response = client.post("/epcis/capture", json=epcis_document([good, bad]), headers=headers)
        assert response.status_code == 400
        assert response.json()["type"] == "epcisException:ValidationException"
    assert _events(client) == []
    wrong = client.post(
        "/epcis/capture", json=epcis_document([good]), headers={"GS1-Capture-Error-Behaviour": "x"}
    )
    assert wrong.status_code == 400
    assert "GS1-Capture-Error-Behaviour" in wrong.json()["detail"]


#: Event IDs that are not event hashes: re-using one with other content is a conflict (an
#: event-hash ID that is not its event's hash is refused outright, as forged).
UUID_1 = "urn:uuid:6a7c1b8e-0f6d-4a4e-9d8e-1c1d0e5f3a01"
UUID_2 = "urn:uuid:6a7c1b8e-0f6d-4a4e-9d8e-1c1d0e5f3a02"


def test_a_conflicting_event_id_is_an_error_not_a_silent_skip(client: TestClient) -> None:
    first = {**object_event([sgtin(1)]), "eventID": UUID_1}
    assert client.post("/epcis/capture", json=epcis_document([first])).status_code == 202
    other = {**object_event([sgtin(9)], minutes=5), "eventID": first["eventID"]}
    fresh = object_event([sgtin(3)], minutes=2)
    job = _job(client, client.post("/epcis/capture", json=epcis_document([fresh, other])))
    assert job["success"] is False
    assert job["errors"][0]["type"] == "epcisException:ResourceAlreadyExistsException"
    assert job["errors"][0]["instance"] == first["eventID"]
    assert job["eventCount"] == 0  # rollback: nothing of the job is stored
    assert [e["eventID"] for e in _events(client)] == [first["eventID"]]
    job = _job(
        client,
        client.post("/epcis/capture", json=epcis_document([fresh, other]), headers=PROCEED),
    )
    assert job["success"] is False
    assert job["eventCount"] == 1
    stored = {e["eventID"]: e for e in _events(client)}
    assert stored[first["eventID"]]["epcList"] == [sgtin(1)]
    assert fresh["eventID"] in stored


def test_the_same_event_again_is_a_duplicate_and_an_error_declaration_amends_it(
    client: TestClient,
) -> None:
    event = object_event([sgtin(1)])
    client.post("/epcis/capture", json=epcis_document([event]))
    job = _job(client, client.post("/epcis/capture", json=epcis_document([event])))
    assert job["success"] is True
    assert job["duplicateCount"] == 1
    declaration = {
        **event,
        "errorDeclaration": {"declarationTime": "2026-03-02T00:00:00Z", "reason": "incorrect_data"},
    }
    job = _job(client, client.post("/epcis/capture", json=epcis_document([declaration])))
    assert job["success"] is True
    assert [e["eventID"] for e in _events(client, EXISTS_errorDeclaration="")] == [event["eventID"]]


def test_a_query_document_is_captured(client: TestClient) -> None:
    event = object_event([sgtin(1)])
    document = client.get("/epcis/events").json()
    document["epcisBody"]["queryResults"]["resultsBody"]["eventList"] = [event]
    job = _job(client, client.post("/epcis/capture", json=document))
    assert job["success"] is True
    assert job["eventCount"] == 1
    assert [e["eventID"] for e in _events(client)] == [event["eventID"]]


def test_query_documents_declare_the_captured_extension_prefixes(client: TestClient) -> None:
    event = {**object_event([sgtin(1)]), "ex:lot": "L-7"}
    document = epcis_document([event])
    document["@context"] = [*document["@context"], {"ex": "https://example.com/lineside/"}]
    body = {key: value for key, value in event.items() if key != "eventID"}
    event["eventID"] = event_hash(body, context=document["@context"])
    assert client.post("/epcis/capture", json=document).status_code == 202
    plain = object_event([sgtin(2)], minutes=1)
    assert client.post("/epcis/capture", json=epcis_document([plain])).status_code == 202
    answer = client.get("/epcis/events/" + quote(event["eventID"], safe="")).json()
    assert answer["@context"][1] == {"ex": "https://example.com/lineside/"}
    assert answer["epcisBody"]["queryResults"]["resultsBody"]["eventList"][0]["ex:lot"] == "L-7"
    xml = client.get(
        "/epcis/events/" + quote(event["eventID"], safe=""), headers={"Accept": "application/xml"}
    )
    assert xml.status_code == 200
    assert b"https://example.com/lineside/" in xml.content
    only_plain = client.get("/epcis/events/" + quote(plain["eventID"], safe="")).json()
    assert len(only_plain["@context"]) == 1


def test_epc_format_header_translates_the_output(client: TestClient, session: Session) -> None:
    session.add(Organisation(name="GS1 US example", gs1_company_prefix="0614141"))
    session.commit()
    link = "https://id.gs1.org/01/10614141073464/21/7"
    unknown = "https://id.gs1.org/01/08934567890120/21/A1"
    event = object_event([link, unknown])
    assert client.post("/epcis/capture", json=epcis_document([event])).status_code == 202
    as_urn = client.get("/epcis/events", headers={"GS1-EPC-Format": "Always_EPC_URN"})
    assert as_urn.headers["GS1-EPC-Format"] == "Always_EPC_URN"
    (found,) = as_urn.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert found["epcList"] == ["urn:epc:id:sgtin:0614141.107346.7", unknown]
    as_link = client.get("/epcis/events", headers={"GS1-EPC-Format": "Always_GS1_Digital_Link"})
    (found,) = as_link.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert found["epcList"] == [link, unknown]
    never = client.get("/epcis/events", headers={"GS1-EPC-Format": "Never_Translates"})
    (found,) = never.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert found["epcList"] == [link, unknown]
    bad = client.get("/epcis/events", headers={"GS1-EPC-Format": "Sometimes"})
    assert bad.status_code == 400
    assert "GS1-EPC-Format" in bad.json()["detail"]


def test_digital_link_output_of_urns(client: TestClient) -> None:
    event = object_event([sgtin(7)])
    assert client.post("/epcis/capture", json=epcis_document([event])).status_code == 202
    as_link = client.get("/epcis/events", headers={"GS1-EPC-Format": "Always_GS1_Digital_Link"})
    (found,) = as_link.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert found["epcList"] == ["https://id.gs1.org/01/10614141073464/21/7"]


def test_one_event_is_captured_synchronously_on_the_events_resource(client: TestClient) -> None:
    event = {**object_event([sgtin(4)]), "eventID": UUID_2}
    created = client.post("/epcis/events", json=event)
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == "/epcis/events/" + quote(event["eventID"], safe="")
    assert client.get(created.headers["Location"]).status_code == 200
    assert client.post("/epcis/events", json=event).status_code == 201  # the same again
    other = {**object_event([sgtin(5)]), "eventID": event["eventID"]}
    conflict = client.post("/epcis/events", json=other)
    assert conflict.status_code == 409
    assert conflict.json()["type"] == "epcisException:ResourceAlreadyExistsException"
    assert client.post("/epcis/events", json={"epcList": []}).status_code == 400
    assert client.options("/epcis/events").headers["Allow"] == "OPTIONS, GET, POST"
