"""GS1's EPCIS 2.0 example documents (JSON-LD and XML) are captured and each event is
read back by its ``eventID`` equal to what was sent.

Several examples carry illustrative event-hash IDs (``ni:///sha-256;...``) that are not
their events' hashes. The server refuses an event-hash ID that is not the event's hash
(a forged ID could otherwise claim another event's place), so such a document is refused
with 400; sent again without those IDs (the server then computes them), it is captured.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from lineside.epcis import event_hash, parse_document_bytes
from server.services.event_rights import hash_problem

JSON_EXAMPLES = "epcis/gs1-EPCIS/JSON"
XML_EXAMPLES = "epcis/gs1-EPCIS/XML"
_DOCUMENT_TYPES = ("EPCISDocument", "EPCISQueryDocument")


def _example_names(folder: str, pattern: str) -> list[str]:
    from tests.conftest import _vectors_root

    root = _vectors_root() / folder
    if not root.is_dir():
        return ["(vectors absent)"]
    return sorted(str(p.relative_to(root)) for p in root.rglob(pattern))


def _events_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    body = data["epcisBody"]
    if "eventList" in body:
        return list(body["eventList"])
    return list(body["queryResults"]["resultsBody"]["eventList"])


def _with_ids(data: dict[str, Any]) -> list[dict[str, Any]]:
    context = data.get("@context")
    return [
        e if "eventID" in e else {**e, "eventID": event_hash(e, context=context)}
        for e in _events_of(data)
    ]


def _without_forged_ids(data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The document with every event-hash ``eventID`` that is not its event's hash
    removed, and whether there was one."""
    context = data.get("@context")
    events, forged = [], False
    for event in _events_of(data):
        if hash_problem(event, context=context) is not None:
            event = {k: v for k, v in event.items() if k != "eventID"}
            forged = True
        events.append(event)
    body = dict(data["epcisBody"])
    if "eventList" in body:
        body["eventList"] = events
    else:
        results = dict(body["queryResults"])
        results["resultsBody"] = {**results["resultsBody"], "eventList": events}
        body["queryResults"] = results
    return {**data, "epcisBody": body}, forged


def _capture_honest(client: TestClient, data: dict[str, Any], refused: Any) -> dict[str, Any]:
    """Capture ``data``; when it holds forged IDs, check ``refused`` (the answer to the
    document as it was) says so and capture it without them. The document captured."""
    honest, forged = _without_forged_ids(data)
    if not forged:
        return data
    assert refused.status_code == 400, refused.text
    assert "is not the event's hash" in refused.text
    again = client.post("/epcis/capture", json=honest)
    assert again.status_code == 202, again.text
    return honest


def _read_back(client: TestClient, event_id: str, accept: str) -> Any:
    response = client.get("/epcis/events/" + quote(event_id, safe=""), headers={"Accept": accept})
    assert response.status_code == 200, response.text
    return response


def _check_round_trip(client: TestClient, sent: list[dict[str, Any]]) -> None:
    """Each event comes back as sent; an event sent again with an ``errorDeclaration``
    (the standard's error declaration) comes back declared."""
    expected: dict[str, dict[str, Any]] = {}
    for event in sent:
        if event["eventID"] not in expected or "errorDeclaration" in event:
            expected[event["eventID"]] = event
    for event in expected.values():
        document = _read_back(client, event["eventID"], "application/ld+json").json()
        (found,) = _events_of(document)
        found.pop("recordTime")
        assert found == {k: v for k, v in event.items() if k != "recordTime"}
        as_xml = _read_back(client, event["eventID"], "application/xml").content
        (from_xml,) = _events_of(parse_document_bytes(as_xml, "application/xml").to_jsonld())
        assert from_xml["eventID"] == event["eventID"]
        assert from_xml["type"] == event["type"]


@pytest.mark.parametrize("name", _example_names(JSON_EXAMPLES, "*.jsonld"))
def test_gs1_json_example_round_trips(client: TestClient, vectors_dir: Path, name: str) -> None:
    data = json.loads((vectors_dir / JSON_EXAMPLES / name).read_text(encoding="utf-8"))
    response = client.post("/epcis/capture", json=data)
    if data.get("type") not in _DOCUMENT_TYPES:
        assert response.status_code == 400
        return
    captured = _capture_honest(client, data, response)
    if captured is data:
        assert response.status_code == 202, response.text
        job = client.get(response.headers["Location"]).json()
        assert job["success"], job
    _check_round_trip(client, _with_ids(captured))


@pytest.mark.parametrize("name", _example_names(XML_EXAMPLES, "*.xml"))
def test_gs1_xml_example_round_trips(client: TestClient, vectors_dir: Path, name: str) -> None:
    body = (vectors_dir / XML_EXAMPLES / name).read_bytes()
    response = client.post(
        "/epcis/capture", content=body, headers={"Content-Type": "application/xml"}
    )
    head = body[:2000]
    if b"EPCISDocument" not in head and b"EPCISQueryDocument" not in head:
        assert response.status_code == 400, response.text
        return
    data = parse_document_bytes(body, "application/xml").to_jsonld()
    captured = _capture_honest(client, data, response)
    if captured is data:
        assert response.status_code == 202, response.text
    _check_round_trip(client, _with_ids(captured))
