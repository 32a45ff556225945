"""Lineside's access control on top of the EPCIS query subscriptions: a WebSocket needs
a province-wide reader's bearer token; named queries and webhooks are defined by
inspectors (a subscription is not limited to one organisation), not by read-only auditors
nor by business users."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server.services.auth import Role
from tests.server.api.conftest import auth

QUERY = {"name": "shipped", "query": {"EQ_bizStep": "shipping"}}


def test_a_websocket_subscription_needs_a_reader_token(
    client: TestClient, tokens: dict[Role, str]
) -> None:
    created = client.post("/epcis/queries", json=QUERY, headers=auth(tokens[Role.INSPECTOR]))
    assert created.status_code == 201, created.text
    path = "/epcis/queries/shipped/events?stream=true"
    for headers in ({}, auth("not-a-real-token")):
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect(path, headers=headers),
        ):
            pass
        assert refused.value.code == 1008
    with client.websocket_connect(path, headers=auth(tokens[Role.AUDITOR])) as socket:
        socket.close()
    with (  # a business user's stream would carry other organisations' events
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(path, headers=auth(tokens[Role.OPERATOR])),
    ):
        pass
    assert refused.value.code == 1008


def test_auditors_read_named_queries_but_do_not_make_them(
    client: TestClient, tokens: dict[Role, str]
) -> None:
    auditor = auth(tokens[Role.AUDITOR])
    assert client.post("/epcis/queries", json=QUERY, headers=auditor).status_code == 403
    operator = auth(tokens[Role.OPERATOR])
    assert client.post("/epcis/queries", json=QUERY, headers=operator).status_code == 403
    client.post("/epcis/queries", json=QUERY, headers=auth(tokens[Role.INSPECTOR]))
    assert client.get("/epcis/queries/shipped/events", headers=auditor).status_code == 200
    hook = {"dest": "http://127.0.0.1:9/hook", "stream": True}
    refused = client.post("/epcis/queries/shipped/subscriptions", json=hook, headers=auditor)
    assert refused.status_code == 403
