"""Subscriptions to named queries: webhooks posted from a durable outbox to a real
local HTTP receiver (signed, retried with backoff, surviving a restart of the worker),
schedules, and WebSocket streams to a real WebSocket client against uvicorn."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from websockets.sync.client import connect

from server.db.models import OutboxState, SubscriptionDelivery
from server.db.types import utcnow
from server.services.epcis_subscriptions import SubscriptionWorker, deliver_due, enqueue_due
from tests.server.epcis.conftest import epcis_app
from tests.server.factories import epcis_document, object_event, sgtin
from tests.support.broker import free_port
from tests.support.waiting import wait_until

SECRET = "13df38d8275b13f05704629e5f1cf3d45d6132d5"


@dataclass
class Receiver:
    """A real HTTP server keeping what it is posted; answers ``fail_next`` 500s first."""

    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_next: int = 0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if state.fail_next > 0:
                state.fail_next -= 1
                self.send_response(500)
            else:
                state.received.append((dict(self.headers.items()), body))
                self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    thread.join()
    server.server_close()


def _ids(document: dict[str, Any]) -> list[str]:
    events = document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return [e["eventID"] for e in events]


def _capture(client: TestClient, *events: dict[str, Any]) -> None:
    assert client.post("/epcis/capture", json=epcis_document(list(events))).status_code == 202


def _subscribe(client: TestClient, body: dict[str, Any], query: str = "all") -> dict[str, Any]:
    client.post("/epcis/queries", json={"name": query, "query": {"eventType": ["ObjectEvent"]}})
    response = client.post(f"/epcis/queries/{query}/subscriptions", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["Location"].endswith(created["subscriptionID"])
    return dict(created)


def test_a_stream_subscription_posts_new_events_signed(
    client: TestClient, session_factory: sessionmaker[Session], receiver: Receiver
) -> None:
    before = object_event([sgtin(1)])
    _capture(client, before)
    created = _subscribe(client, {"dest": receiver.url, "signatureToken": SECRET, "stream": True})
    assert "signatureToken" not in created
    assert "secret" not in json.dumps(client.get("/epcis/queries/all/subscriptions").json())
    after = object_event([sgtin(2)], minutes=1)
    _capture(client, after)
    with httpx.Client() as http:
        result = SubscriptionWorker(session_factory).run_once(http)
    assert result.sent == 1
    ((headers, body),) = receiver.received
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["GS1-Signature"] == expected
    document = json.loads(body)
    assert document["type"] == "EPCISQueryDocument"
    assert document["epcisBody"]["queryResults"]["subscriptionID"] == created["subscriptionID"]
    assert _ids(document) == [after["eventID"]]  # only what came after subscribing
    with httpx.Client() as http:
        assert SubscriptionWorker(session_factory).run_once(http).sent == 0
    got = client.get(f"/epcis/queries/all/subscriptions/{created['subscriptionID']}").json()
    assert "lastNotifiedAt" in got


def test_a_failed_post_is_retried_with_backoff_by_a_restarted_worker(
    client: TestClient, session_factory: sessionmaker[Session], receiver: Receiver
) -> None:
    _subscribe(client, {"dest": receiver.url, "stream": True})
    event = object_event([sgtin(3)])
    _capture(client, event)
    receiver.fail_next = 1
    with session_factory() as session, session.begin():
        assert enqueue_due(session) == 1
    with httpx.Client() as http:
        assert deliver_due(session_factory, http).retried == 1
    with session_factory() as session:
        (delivery,) = session.scalars(select(SubscriptionDelivery))
        assert delivery.state is OutboxState.PENDING
        assert delivery.attempts == 1
        retry_at = delivery.next_attempt_at
    assert retry_at > utcnow()
    # A new worker (after a restart) finds the document in the outbox and sends it.
    with httpx.Client() as http:
        assert deliver_due(session_factory, http, now=retry_at).sent == 1
    ((_, body),) = receiver.received
    assert _ids(json.loads(body)) == [event["eventID"]]


def test_a_scheduled_subscription_reports_at_its_time(
    client: TestClient, session_factory: sessionmaker[Session], receiver: Receiver
) -> None:
    _subscribe(
        client,
        {"dest": receiver.url, "schedule": {"minute": "*/5"}, "reportIfEmpty": True},
    )
    later = utcnow() + timedelta(minutes=6)
    with session_factory() as session, session.begin():
        assert enqueue_due(session) == 0  # not yet its time
        assert enqueue_due(session, now=later) == 1
        assert enqueue_due(session, now=later) == 0  # once per scheduled time
    with httpx.Client() as http:
        assert deliver_due(session_factory, http, now=later).sent == 1
    ((_, body),) = receiver.received
    assert _ids(json.loads(body)) == []  # reportIfEmpty: sent although nothing matched


def test_subscriptions_are_listed_and_deleted_and_bad_ones_refused(
    client: TestClient, receiver: Receiver
) -> None:
    created = _subscribe(client, {"dest": receiver.url, "stream": True})
    path = f"/epcis/queries/all/subscriptions/{created['subscriptionID']}"
    assert client.get(path).json()["stream"] is True
    assert [s["subscriptionID"] for s in client.get("/epcis/queries/all/subscriptions").json()] == [
        created["subscriptionID"]
    ]
    for body, detail in (
        ({"dest": "ftp://example.com/x", "stream": True}, "http"),
        ({"dest": receiver.url}, "stream"),
        ({"dest": receiver.url, "stream": True, "schedule": {"hour": "1"}}, "not both"),
        ({"dest": receiver.url, "schedule": {"hour": "25"}}, "hour"),
        ({"dest": receiver.url, "schedule": {"minute": "sometimes"}}, "minute"),
    ):
        refused = client.post("/epcis/queries/all/subscriptions", json=body)
        assert refused.status_code == 400, body
        assert refused.json()["type"] == "epcisException:SubscriptionControlsException"
        assert detail in refused.json()["detail"]
    assert client.post("/epcis/queries/none/subscriptions", json={}).status_code == 404
    assert client.delete(path).status_code == 204
    assert client.get(path).status_code == 404
    _subscribe(client, {"dest": receiver.url, "stream": True}, query="other")
    assert client.delete("/epcis/queries/other").status_code == 204


@pytest.fixture
def served(session_factory: sessionmaker[Session], client: TestClient) -> Iterator[str]:
    """The EPCIS app on a real port (uvicorn), for a real WebSocket client."""
    port = free_port()
    app = epcis_app(session_factory)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), "uvicorn started")
    assert server.started
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join()


def test_a_websocket_streams_new_matching_events(client: TestClient, served: str) -> None:
    client.post("/epcis/queries", json={"name": "ships", "query": {"EQ_bizStep": "shipping"}})
    _capture(client, object_event([sgtin(1)], biz_step="shipping"))  # before: not sent
    with connect(f"ws://{served}/epcis/queries/ships/events?stream=true") as socket:
        commissioned = object_event([sgtin(2)], minutes=1)
        shipped = object_event([sgtin(2)], biz_step="shipping", minutes=2)
        _capture(client, commissioned, shipped)
        document = json.loads(socket.recv(timeout=30))
        assert _ids(document) == [shipped["eventID"]]
        assert document["epcisBody"]["queryResults"]["queryName"] == "ships"


def test_a_websocket_for_an_unknown_query_or_bad_parameters_is_closed(served: str) -> None:
    from websockets.exceptions import InvalidStatus

    for path in ("/epcis/queries/none/events?stream=true", "/epcis/queries/none/events"):
        with pytest.raises(InvalidStatus):
            connect(f"ws://{served}{path}").close()
