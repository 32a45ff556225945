"""POST /epcis/capture and GET /epcis/events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from server.api.problems import install_problem_handler
from server.api.routes.epcis import create_router
from tests.server.epcis.conftest import TEST_CAPTURE_MAX_BYTES
from tests.server.factories import aggregation_event, epcis_document, object_event, sgtin, sscc


def _capture(client: TestClient, events: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post("/epcis/capture", json=epcis_document(events))
    assert response.status_code == 202, response.text
    job = client.get(response.headers["Location"])
    assert job.status_code == 200
    body: dict[str, Any] = job.json()
    return body


def _events(client: TestClient, **params: str) -> list[dict[str, Any]]:
    response = client.get("/epcis/events", params=params)
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["type"] == "EPCISQueryDocument"
    events: list[dict[str, Any]] = document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return events


def test_capture_is_accepted_and_idempotent(client: TestClient) -> None:
    events = [object_event([sgtin(n)], minutes=n) for n in range(3)]
    job = _capture(client, events)
    assert (job["success"], job["running"], job["eventCount"]) == (True, False, 3)
    again = _capture(client, events)
    assert (again["eventCount"], again["duplicateCount"]) == (0, 3)
    assert len(_events(client)) == 3
    listed = client.get("/epcis/capture").json()
    assert {j["captureID"] for j in listed} == {job["captureID"], again["captureID"]}


def test_event_without_id_gets_the_event_hash(client: TestClient) -> None:
    event = object_event([sgtin(1)])
    del event["eventID"]
    _capture(client, [event])
    (stored,) = _events(client)
    assert stored["eventID"].startswith("ni:///sha-256;")
    assert stored["recordTime"].endswith("Z")


def test_invalid_document_is_a_validation_exception(client: TestClient) -> None:
    bad = object_event([sgtin(1)], biz_step="packng")
    response = client.post("/epcis/capture", json=epcis_document([bad]))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "epcisException:ValidationException"
    assert "bizStep" in problem["detail"]
    assert _events(client) == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{nope", "the body is not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"type": "EPCISMasterDataDocument"}', "is not 'EPCISDocument'"),
        (b'{"type": "EPCISQueryDocument"}', "creationDate"),
        (json.dumps({"type": "EPCISDocument'; DROP TABLE events; --"}).encode(), "is not"),
    ],
)
def test_malformed_bodies_are_refused(client: TestClient, body: bytes, detail: str) -> None:
    response = client.post(
        "/epcis/capture", content=body, headers={"content-type": "application/ld+json"}
    )
    assert response.status_code == 400
    assert detail in response.json()["detail"]


def test_oversized_document_is_413(client: TestClient) -> None:
    response = client.post(
        "/epcis/capture",
        content=b" " * (TEST_CAPTURE_MAX_BYTES + 1),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["type"] == "epcisException:CaptureLimitExceededException"


def test_unknown_capture_job_is_404(client: TestClient) -> None:
    response = client.get("/epcis/capture/nope")
    assert response.status_code == 404


def test_query_filters(client: TestClient) -> None:
    units = [sgtin(n) for n in range(4)]
    commissioned = [object_event([u], minutes=n) for n, u in enumerate(units)]
    packed = aggregation_event(sscc(1), units[:2], minutes=10)
    shipped = object_event([sscc(1)], biz_step="shipping", minutes=20, read_point="urn:x:dock")
    _capture(client, [*commissioned, packed, shipped])

    def ids(**params: str) -> set[str]:
        return {e["eventID"] for e in _events(client, **params)}

    assert ids(EQ_bizStep="shipping") == {shipped["eventID"]}
    assert ids(EQ_bizStep="urn:epcglobal:cbv:bizstep:packing") == {packed["eventID"]}
    assert ids(MATCH_epc=units[0]) == {commissioned[0]["eventID"], packed["eventID"]}
    assert ids(MATCH_parentID=sscc(1)) == {packed["eventID"]}
    assert ids(MATCH_anyEPC=sscc(1)) == {packed["eventID"], shipped["eventID"]}
    assert ids(eventType="AggregationEvent") == {packed["eventID"]}
    assert ids(EQ_action="ADD", EQ_readPoint="urn:x:dock") == {shipped["eventID"]}
    assert ids(GE_eventTime="2026-03-01T01:10:00Z", LT_eventTime="2026-03-01T01:20:00Z") == {
        packed["eventID"]
    }
    assert ids(MATCH_epc=f"{units[2]}|{units[3]}") == {
        commissioned[2]["eventID"],
        commissioned[3]["eventID"],
    }
    assert ids(MATCH_epc="x' OR '1'='1") == set()


def test_query_pages_with_link_header(client: TestClient) -> None:
    events = [object_event([sgtin(n)], minutes=n) for n in range(7)]
    _capture(client, events)
    seen: list[str] = []
    url: str | None = "/epcis/events?perPage=3&EQ_bizStep=commissioning"
    pages = 0
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200
        seen += [
            e["eventID"]
            for e in response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        ]
        link = response.headers.get("link")
        url = link.split(";")[0].strip("<>") if link else None
        pages += 1
    assert pages == 3
    assert sorted(seen) == sorted(e["eventID"] for e in events)


@pytest.mark.parametrize(
    "query",
    [
        "unknownParam=1",
        "perPage=0",
        "perPage=abc",
        "nextPageToken=%27%3B--",
        "GE_eventTime=yesterday",
        "GE_eventTime=2026-01-01T00:00:00",
    ],
)
def test_bad_query_parameters_are_query_parameter_exceptions(
    client: TestClient, query: str
) -> None:
    response = client.get(f"/epcis/events?{query}")
    assert response.status_code == 400
    assert response.json()["type"] == "epcisException:QueryParameterException"


def test_mounted_router_requires_sign_in(session_factory: sessionmaker[Session]) -> None:
    app = FastAPI()
    app.state.session_factory = session_factory
    install_problem_handler(app)
    app.include_router(create_router())
    with TestClient(app) as anonymous:
        assert anonymous.post("/epcis/capture", json={}).status_code == 401
        assert anonymous.get("/epcis/events").status_code == 401
