"""Named queries: created, listed, read, run and deleted as GS1's OpenAPI says."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.server.factories import epcis_document, object_event, sgtin

SHIPPING = {"name": "shipped", "query": {"EQ_bizStep": ["shipping", "receiving"]}}


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    events = response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return [e["eventID"] for e in events]


def test_a_named_query_is_created_read_run_and_deleted(client: TestClient) -> None:
    commission = object_event([sgtin(1)])
    ship = object_event([sgtin(1)], biz_step="shipping", minutes=1)
    assert client.post("/epcis/capture", json=epcis_document([commission, ship])).status_code == 202
    created = client.post("/epcis/queries", json=SHIPPING)
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == "/epcis/queries/shipped"
    assert client.get("/epcis/queries/shipped").json() == SHIPPING
    assert client.get("/epcis/queries").json() == [SHIPPING]
    assert _ids(client.get("/epcis/queries/shipped/events")) == [ship["eventID"]]
    xml = client.get("/epcis/queries/shipped/events", headers={"Accept": "application/xml"})
    assert xml.headers["content-type"].startswith("application/xml")
    assert client.delete("/epcis/queries/shipped").status_code == 204
    for path in ("/epcis/queries/shipped", "/epcis/queries/shipped/events"):
        missing = client.get(path)
        assert missing.status_code == 404
        assert missing.json()["type"] == "epcisException:NoSuchNameException"
    assert client.delete("/epcis/queries/shipped").status_code == 404


def test_a_taken_name_is_409_and_bad_definitions_are_400(client: TestClient) -> None:
    assert client.post("/epcis/queries", json=SHIPPING).status_code == 201
    again = client.post("/epcis/queries", json=SHIPPING)
    assert again.status_code == 409
    assert again.json()["type"] == "epcisException:ResourceAlreadyExistsException"
    for body, detail in (
        ({"name": "a/b", "query": {}}, "name"),
        ({"name": "x", "query": {"EQ_colour": ["red"]}}, "EQ_colour"),
        ({"name": "x", "query": {"GE_eventTime": "yesterday"}}, "GE_eventTime"),
        ({"name": "x"}, "query"),
        ([1], "JSON object"),
    ):
        refused = client.post("/epcis/queries", json=body)
        assert refused.status_code == 400, body
        assert detail in refused.json()["detail"]
    plain = client.post("/epcis/queries", content=b"name=x", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415


def test_the_query_list_pages_and_the_events_take_only_paging(client: TestClient) -> None:
    for name in ("a", "b", "c"):
        client.post("/epcis/queries", json={"name": name, "query": {"eventType": "ObjectEvent"}})
    first = client.get("/epcis/queries", params={"perPage": 2})
    assert [q["name"] for q in first.json()] == ["a", "b"]
    next_url = first.headers["Link"].split(">", 1)[0].lstrip("<")
    assert [q["name"] for q in client.get(next_url).json()] == ["c"]
    for n in range(3):
        client.post("/epcis/capture", json=epcis_document([object_event([sgtin(n)], minutes=n)]))
    assert len(_ids(client.get("/epcis/queries/a/events", params={"perPage": 2}))) == 2
    refused = client.get("/epcis/queries/a/events", params={"EQ_bizStep": "shipping"})
    assert refused.status_code == 400


def test_discovery_names_the_methods_of_the_query_resources(client: TestClient) -> None:
    assert "queries" in client.get("/epcis/").json()["member"]
    for path, allow in (
        ("/epcis/queries", "OPTIONS, GET, POST"),
        ("/epcis/queries/a", "OPTIONS, GET, DELETE"),
        ("/epcis/queries/a/events", "OPTIONS, GET"),
        ("/epcis/queries/a/subscriptions", "OPTIONS, GET, POST"),
        ("/epcis/queries/a/subscriptions/s1", "OPTIONS, GET, DELETE"),
    ):
        assert client.options(path).headers["Allow"] == allow, path
