"""Forwarding to a second capture interface on a real port, with failures and retries."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.middleware.base import RequestResponseEndpoint

from server.db import make_engine, make_session_factory, migrate
from server.db.events import EventOrigin, index_event, store_events
from server.db.models import Event, Organisation, OutboxState, PortalOutboxEntry, Product
from server.db.types import utcnow
from server.portal import PortalFormat, PortalTarget, forward_due, outbox_status, portal_records
from tests.server.epcis.conftest import epcis_app
from tests.server.factories import object_event


class Target:
    """A capture interface on a real port that fails the first ``failures`` requests."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory
        self.failures = 0
        self.requests = 0
        self.app: FastAPI = epcis_app(session_factory)
        self.app.middleware("http")(self._flaky)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def _flaky(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        self.requests += 1
        if self.failures > 0:
            self.failures -= 1
            return Response("portal overloaded", status_code=500)
        return await call_next(request)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/epcis/capture"

    def stored(self) -> int:
        with self.session_factory() as session:
            return session.scalar(select(func.count()).select_from(Event)) or 0


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    migrate(url)
    engine = make_engine(url)
    created = Target(make_session_factory(engine))
    created.thread.start()
    deadline = time.monotonic() + 30
    while not created.server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield created
    created.server.should_exit = True
    created.thread.join()
    engine.dispose()


def _seed(session: Session, count: int) -> list[str]:
    events = [
        object_event([f"https://id.gs1.org/01/08934567890128/10/L1/21/S{n}"], minutes=n)
        for n in range(count)
    ]
    store_events(session, [(index_event(e), EventOrigin()) for e in events])
    session.commit()
    return [e["eventID"] for e in events]


def _states(session_factory: sessionmaker[Session]) -> dict[OutboxState, int]:
    with session_factory() as session:
        rows = session.execute(
            select(PortalOutboxEntry.state, func.count()).group_by(PortalOutboxEntry.state)
        ).all()
    return {row[0]: row[1] for row in rows}


def test_events_arrive_exactly_once_after_retries(
    session: Session, session_factory: sessionmaker[Session], target: Target
) -> None:
    _seed(session, 25)
    portal = PortalTarget(name="national", url=target.url, batch_size=10, base_backoff_s=30)
    target.failures = 2
    now = utcnow()
    with httpx.Client() as client:
        assert forward_due(session_factory, portal, client, now).retried == 10
        assert forward_due(session_factory, portal, client, now).retried == 10
        # Both batches are backing off; the last 5 entries go through.
        assert forward_due(session_factory, portal, client, now).sent == 5
        requests = target.requests
        assert forward_due(session_factory, portal, client, now).sent == 0
        assert target.requests == requests
        with session_factory() as check:
            (status,) = outbox_status(check)
        assert (status.pending, status.sent) == (20, 5)
        assert status.last_error.startswith("HTTP 500: portal overloaded")
        later = now + timedelta(seconds=31)
        sent = sum(forward_due(session_factory, portal, client, later).sent for _ in range(3))
    assert sent == 20
    assert target.stored() == 25
    assert _states(session_factory) == {OutboxState.SENT: 25}
    # A re-sent batch (crash between POST and commit) is absorbed by the target.
    with session_factory() as again, again.begin():
        again.execute(update(PortalOutboxEntry).values(state=OutboxState.PENDING))
    with httpx.Client() as client:
        assert forward_due(session_factory, portal, client, later).sent == 10
    assert target.stored() == 25


def test_gives_up_after_max_attempts(
    session: Session, session_factory: sessionmaker[Session], target: Target
) -> None:
    _seed(session, 3)
    portal = PortalTarget(name="national", url=target.url, max_attempts=2, base_backoff_s=1)
    target.failures = 10
    now = utcnow()
    with httpx.Client() as client:
        assert forward_due(session_factory, portal, client, now).retried == 3
        assert forward_due(session_factory, portal, client, now + timedelta(seconds=5)).failed == 3
    with session_factory() as check:
        (status,) = outbox_status(check)
    assert (status.failed, status.pending, status.sent) == (3, 0, 0)
    assert target.stored() == 0


def test_record_format_maps_product_lot_producer_and_stages(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    producer = Organisation(name="HTX Chè Bắc Kạn", address="Chợ Đồn", tax_id="4700000000")
    session.add(Product(gtin="08934567890128", organisation=producer, name_vi="Chè Shan tuyết"))
    session.commit()
    ids = _seed(session, 2)
    received: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        import json

        received.append(json.loads(request.content))
        return httpx.Response(200)

    portal = PortalTarget(name="own", url="http://portal.test/records", format=PortalFormat.RECORD)
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        assert forward_due(session_factory, portal, client).sent == 2
    (payload,) = received
    (record,) = payload["records"]
    assert record["product"]["name"] == "Chè Shan tuyết"
    assert record["product"]["certificates"] == []
    assert record["lot"] == "L1"
    assert record["producer"]["taxId"] == "4700000000"
    assert record["producer"]["country"] == "VN"
    assert set(record) >= {"productionDate", "expiryDate"}
    assert [stage["eventId"] for stage in record["stages"]] == ids


def test_record_format_carries_the_product_passport_fields(session: Session) -> None:
    producer = Organisation(
        name="HTX Chè", address="Chợ Đồn", tax_id="4700000001", gln="8934567000017"
    )
    session.add(
        Product(
            gtin="08934567890128",
            organisation=producer,
            name_vi="Chè Shan tuyết",
            image_url="https://id.example.vn/static/che.jpg",
            safety_warnings="Không dùng cho trẻ dưới 3 tuổi",
            certificate_number="OCOP-BK-2025-0007",
            certificate_valid_until=date(2028, 6, 30),
            ocop_stars=4,
        )
    )
    event = object_event(["https://id.gs1.org/01/08934567890128/10/L1/21/P1"])
    event["ilmd"] = {
        "cbvmda:productionDate": "2026-03-01",
        "cbvmda:itemExpirationDate": "2027-03-01",
    }
    store_events(session, [(index_event(event), EventOrigin())])
    session.commit()
    stored = session.scalars(select(Event)).all()
    (record,) = portal_records(session, stored)
    assert record["product"]["image"] == "https://id.example.vn/static/che.jpg"
    assert record["product"]["safetyWarnings"] == "Không dùng cho trẻ dưới 3 tuổi"
    assert record["product"]["certificates"] == [
        {
            "number": "OCOP-BK-2025-0007",
            "validFrom": None,
            "validUntil": "2028-06-30",
            "ocopStars": 4,
        }
    ]
    assert (record["productionDate"], record["expiryDate"]) == ("2026-03-01", "2027-03-01")
    assert record["producer"]["gln"] == "8934567000017"
    assert record["stages"][0]["codes"] == ["https://id.gs1.org/01/08934567890128/10/L1/21/P1"]


def test_backoff_doubles_from_the_base_and_stops_at_the_cap() -> None:
    portal = PortalTarget(name="n", url="https://p.example/c", base_backoff_s=2, max_backoff_s=60)
    assert [portal.backoff_s(n) for n in range(1, 7)] == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0]
    # A base above the cap waits the cap, as a configured cap promises.
    assert PortalTarget(name="n", url="x", base_backoff_s=90, max_backoff_s=60).backoff_s(1) == 60
