"""The SimpleEventQuery parameters beyond the indexed ones: order, limits, error
declarations, persistent dispositions, transformation IDs, quantities, sensor data,
extension fields and locations with what lies below them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from lineside.epcis import event_hash
from tests.server.factories import epcis_document, object_event, sgtin

LOT_CLASS = "urn:epc:class:lgtin:0614141.107346.L1"


def _capture(client: TestClient, events: list[dict[str, Any]]) -> None:
    document = epcis_document(events)
    document["@context"].append({"example": "https://ns.example.com/epcis/"})
    for event in events:  # the events were changed after they were built: hash them again
        body = {key: value for key, value in event.items() if key != "eventID"}
        event["eventID"] = event_hash(body, context=document["@context"])
    response = client.post("/epcis/capture", json=document)
    assert response.status_code == 202, response.text


def _ids(client: TestClient, **params: str) -> list[str]:
    response = client.get("/epcis/events", params=params)
    assert response.status_code == 200, response.text
    events = response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return [event["eventID"] for event in events]


@pytest.fixture
def events(client: TestClient) -> list[dict[str, Any]]:
    """Four events, each with one thing the others lack."""
    plain = object_event([sgtin(1)], minutes=3)
    declared = object_event([sgtin(2)], minutes=1)
    declared["errorDeclaration"] = {
        "declarationTime": "2026-03-02T00:00:00Z",
        "reason": "incorrect_data",
    }
    declared["persistentDisposition"] = {"set": ["completeness_verified"]}
    measured = object_event([], minutes=2)
    measured["quantityList"] = [{"epcClass": LOT_CLASS, "quantity": 12, "uom": "KGM"}]
    measured["sensorElementList"] = [
        {
            "sensorMetadata": {"startTime": "2026-03-01T00:00:00Z", "deviceID": "urn:x:probe:7"},
            "sensorReport": [{"type": "Temperature", "value": 31.5, "uom": "CEL"}],
        }
    ]
    extended = object_event([sgtin(4)], minutes=0)
    extended["example:colour"] = "red"
    extended["example:batch"] = {"example:line": "L2"}
    extended["bizLocation"] = {"id": "https://id.gs1.org/414/0614141007770/254/dock-3"}
    found = [plain, declared, measured, extended]
    _capture(client, found)
    return found


def test_order_by_event_time_in_both_directions(
    client: TestClient, events: list[dict[str, Any]]
) -> None:
    by_time = sorted(events, key=lambda e: e["eventTime"])
    ascending = _ids(client, orderBy="eventTime", orderDirection="ASC")
    assert ascending == [e["eventID"] for e in by_time]
    assert _ids(client, orderBy="eventTime") == ascending[::-1]  # DESC is the default
    response = client.get("/epcis/events", params={"orderBy": "colour"})
    assert response.status_code == 400


def test_order_survives_paging(client: TestClient, events: list[dict[str, Any]]) -> None:
    first = client.get("/epcis/events", params={"orderBy": "eventTime", "perPage": 3})
    assert first.status_code == 200
    next_url = first.headers["Link"].split(">", 1)[0].lstrip("<")
    rest = client.get(next_url).json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    firsts = first.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    times = [e["eventTime"] for e in firsts + rest]
    assert len(times) == 4
    assert times == sorted(times, reverse=True)


def test_event_count_limit_and_max_event_count(
    client: TestClient, events: list[dict[str, Any]]
) -> None:
    assert len(_ids(client, eventCountLimit="2")) == 2
    too_many = client.get("/epcis/events", params={"maxEventCount": "3"})
    assert too_many.status_code == 413
    assert too_many.json()["type"] == "epcisException:QueryTooLargeException"
    assert len(_ids(client, maxEventCount="4")) == 4


@pytest.mark.parametrize(
    ("params", "which"),
    [
        ({"EXISTS_errorDeclaration": ""}, 1),
        ({"EQ_errorReason": "incorrect_data"}, 1),
        ({"GE_errorDeclarationTime": "2026-03-01T12:00:00Z"}, 1),
        ({"EQ_persistentDisposition_set": "completeness_verified"}, 1),
        ({"MATCH_epcClass": LOT_CLASS}, 2),
        ({"MATCH_anyEPCClass": "urn:epc:idpat:sgtin:0614141.107346.*"}, 2),
        ({"GT_quantity": "10"}, 2),
        ({"EQ_type": "Temperature"}, 2),
        ({"GE_value": "30"}, 2),
        ({"EQ_deviceID": "urn:x:probe:7"}, 2),
        ({"GE_startTime": "2026-02-28T00:00:00Z"}, 2),
        ({"EQ_example:colour": "red"}, 3),
        ({"EXISTS_example:colour": ""}, 3),
        ({"EQ_INNER_example:line": "L2"}, 3),
        ({"WD_bizLocation": "https://id.gs1.org/414/0614141007770"}, 3),
    ],
)
def test_each_parameter_selects_its_event(
    client: TestClient, events: list[dict[str, Any]], params: dict[str, str], which: int
) -> None:
    assert _ids(client, **params) == [events[which]["eventID"]]


def test_no_event_matches_a_value_none_has(
    client: TestClient, events: list[dict[str, Any]]
) -> None:
    assert _ids(client, GT_quantity="100") == []
    assert _ids(client, EQ_transformationID="urn:uuid:7f0a0000-0000-4000-8000-000000000000") == []


@pytest.mark.parametrize(
    "params",
    [
        {"GT_quantity": "many"},
        {"GE_errorDeclarationTime": "yesterday"},
        {"EQ_colour": "red"},  # not namespaced: not an extension field
        {"eventCountLimit": "2", "maxEventCount": "2"},
        {"perPage": "0"},
    ],
)
def test_bad_parameters_are_query_parameter_exceptions(
    client: TestClient, params: dict[str, str]
) -> None:
    response = client.get("/epcis/events", params=params)
    assert response.status_code == 400
    assert response.json()["type"] == "epcisException:QueryParameterException"
