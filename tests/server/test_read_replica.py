"""Trace and resolver reads from a streaming-replication standby, and the fallbacks.

One primary and one standby are started for the module (tests.support.replication).
That a read came from the standby is shown by what only the primary has: while the
standby's replay is paused, a code captured afterwards is unknown to reads served by
the standby and known to reads served by the primary.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from app.bench.pg_cluster import ReplicationPair
from lineside.errors import ConfigError
from server.app import create_app
from server.db import make_engine, make_session_factory
from server.db.engine import READ_APPLICATION_NAME, make_read_engine
from server.db.models import ConsumerScan, EventEpc, Product, User
from server.services.auth import Role, issue_token
from server.settings import ServerSettings, load_settings
from tests.server.api.conftest import DOMAIN, GTIN, auth, build_world, commissioning_event
from tests.server.conftest import empty_all_tables
from tests.support.replication import DATABASE, replicated_database

pytestmark = pytest.mark.postgres

OTHER_GTIN = "08934567890137"


@pytest.fixture(scope="module")
def pair() -> Iterator[ReplicationPair]:
    yield from replicated_database()


@pytest.fixture(scope="module")
def primary(pair: ReplicationPair) -> Iterator[Engine]:
    engine = make_engine(pair.primary_url(DATABASE))
    yield engine
    engine.dispose()


@pytest.fixture
def factory(pair: ReplicationPair, primary: Engine) -> Iterator[sessionmaker[Session]]:
    """The primary's sessions, on an emptied database with the test world (serial S1) that
    the standby has replayed; replay is running again after the test."""
    pair.start(pair.standby)
    pair.resume_replay()
    empty_all_tables(primary)
    factory = make_session_factory(primary)
    build_world(factory)
    pair.wait_replayed()
    yield factory
    pair.start(pair.standby)
    pair.resume_replay()


def _app(pair: ReplicationPair, **overrides: float) -> TestClient:
    settings = ServerSettings(
        database_url=pair.primary_url(DATABASE),
        database_read_url=pair.standby_url(DATABASE),
        resolver_domain=DOMAIN,
        secret_key="test-salt",
        rate_limit_per_minute=100_000,
        rate_limit_burst=100_000,
        secure_cookies=False,
        epcis_subscriptions_enabled=False,
        **overrides,  # type: ignore[arg-type]
    )
    return TestClient(create_app(settings))


def _inspector(factory: sessionmaker[Session]) -> dict[str, str]:
    with factory() as session, session.begin():
        user = User(username="inspector", role=Role.INSPECTOR, password_hash="")
        session.add(user)
        session.flush()
        return auth(issue_token(session, user, timedelta(hours=1)))


def _capture(factory: sessionmaker[Session], serial: str) -> None:
    """Commission ``serial`` on the primary."""
    with factory() as session, session.begin():
        event = commissioning_event(
            f"ni:///sha-256;{serial.encode().hex().ljust(64, '0')}?ver=CBV2.0",
            serial,
            datetime(2026, 3, 2, tzinfo=UTC),
        )
        session.add(event)
        session.flush()
        session.add(EventEpc(event_id=event.event_id, epc=event.document["epcList"][0], role="epc"))


def _register_other_product(factory: sessionmaker[Session]) -> None:
    with factory() as session, session.begin():
        product = session.scalars(select(Product)).one()
        session.add(
            Product(gtin=OTHER_GTIN, organisation_id=product.organisation_id, name_vi="Trà")
        )


def _status(client: TestClient, serial: str, headers: dict[str, str]) -> str:
    """The verdict of a trace of the test GTIN's ``serial``."""
    answer = client.get(f"/trace/(01){GTIN}(21){serial}", headers=headers)
    assert answer.status_code == 200, answer.text
    status: str = answer.json()["status"]
    return status


def _read_connections(pair: ReplicationPair, url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"
            found = connection.execute(text(query), {"name": READ_APPLICATION_NAME})
            return int(found.scalar_one())
    finally:
        engine.dispose()


def test_trace_and_resolver_read_from_the_standby(
    pair: ReplicationPair, factory: sessionmaker[Session]
) -> None:
    headers = _inspector(factory)
    pair.wait_replayed()
    pair.pause_replay()
    _capture(factory, "S2")
    _register_other_product(factory)
    with _app(pair, replica_max_lag_seconds=3600) as client:
        assert _status(client, "S1", headers) == "genuine"
        # Captured after the standby stopped replaying: the standby does not know it yet.
        assert _status(client, "S2", headers) == "unknown"
        linkset = {"Accept": "application/linkset+json"}
        assert client.get(f"/01/{GTIN}", headers=linkset).status_code == 200
        assert client.get(f"/01/{OTHER_GTIN}", headers=linkset).status_code == 404
        assert _read_connections(pair, pair.standby_url()) >= 1
        assert _read_connections(pair, pair.primary_url()) == 0
        ready = client.get("/readyz").json()
        assert ready["status"] == "ok"
        assert ready["replica"]["serving"] is True
        pair.resume_replay()
        pair.wait_replayed()
        assert _status(client, "S2", headers) == "genuine"
        assert client.get(f"/01/{OTHER_GTIN}", headers=linkset).status_code == 200


def test_consumer_page_reads_the_standby_and_records_the_view_on_the_primary(
    pair: ReplicationPair, factory: sessionmaker[Session]
) -> None:
    pair.pause_replay()
    _capture(factory, "S2")
    with _app(pair, replica_max_lag_seconds=3600) as client:
        page = client.get(f"/01/{GTIN}/10/L2026/21/S1", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert 'data-status="genuine"' in page.text
        # S2 exists only on the primary: the page, read from the standby, does not know it,
        # and the view of an unknown code is still recorded, on the primary.
        missing = client.get(f"/p/01/{GTIN}/21/S2", headers={"Accept": "text/html"})
        assert missing.status_code == 404
    with factory() as session:
        recorded = session.scalars(select(ConsumerScan.serial).order_by(ConsumerScan.id)).all()
    assert recorded == ["S1", "S2"]


def test_reads_go_to_the_primary_while_the_standby_is_down(
    pair: ReplicationPair, factory: sessionmaker[Session]
) -> None:
    headers = _inspector(factory)
    with _app(pair, replica_check_interval_seconds=0) as client:
        assert client.get("/readyz").json()["replica"]["serving"] is True
        pair.stop(pair.standby)
        _capture(factory, "S3")  # the standby cannot have it
        assert _status(client, "S3", headers) == "genuine"
        assert client.get(f"/p/01/{GTIN}/21/S3").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["replica"] == {
            "serving": False,
            "detail": "unreachable",
            "lag_seconds": None,
        }
        pair.start(pair.standby)
        pair.wait_replayed()
        assert client.get("/readyz").json()["replica"]["serving"] is True


def test_a_standby_that_dies_between_checks_is_noticed_by_the_next_request(
    pair: ReplicationPair, factory: sessionmaker[Session]
) -> None:
    headers = _inspector(factory)
    with _app(pair, replica_check_interval_seconds=60) as client:
        assert _status(client, "S1", headers) == "genuine"  # a pooled standby connection
        pair.stop(pair.standby)
        _capture(factory, "S3")
        # The last check (trusted for a minute) said the standby serves; taking its
        # connection fails, so this request and the next ones read the primary.
        assert _status(client, "S3", headers) == "genuine"
        assert client.get("/readyz").json()["replica"]["serving"] is False
        metrics = client.get("/metrics").text
    assert "lineside_read_replica_serving 0.0" in metrics
    assert 'lineside_read_sessions_total{target="replica"} 1.0' in metrics
    assert 'lineside_read_sessions_total{target="primary"} 1.0' in metrics


def test_reads_go_to_the_primary_while_the_standby_lags_beyond_the_limit(
    pair: ReplicationPair, factory: sessionmaker[Session]
) -> None:
    headers = _inspector(factory)
    pair.wait_replayed()
    pair.pause_replay()
    # The standby's last replayed commit grows older than the limit, and it misses one.
    with factory() as session:
        session.execute(text("SELECT pg_sleep(0.6)"))
    _capture(factory, "S4")
    with _app(pair, replica_max_lag_seconds=0.5, replica_check_interval_seconds=0) as client:
        assert _status(client, "S4", headers) == "genuine"
        replica = client.get("/readyz").json()["replica"]
        assert replica["serving"] is False
        assert replica["detail"].startswith("lagging:")
        assert replica["lag_seconds"] > 0.5
        pair.resume_replay()
        pair.wait_replayed()
        assert client.get("/readyz").json()["replica"]["serving"] is True


def test_writes_never_reach_the_replica(
    pair: ReplicationPair, factory: sessionmaker[Session]
) -> None:
    # The read engine's connections are read-only even on a server that could write ...
    for url in (pair.primary_url(DATABASE), pair.standby_url(DATABASE)):
        engine = make_read_engine(url)
        try:
            with pytest.raises(DBAPIError, match="read-only transaction"), engine.begin() as conn:
                conn.execute(text("CREATE TABLE written_by_mistake (id int)"))
        finally:
            engine.dispose()
    # ... and a consumer's view, read from the standby, is written to the primary.
    with _app(pair, replica_max_lag_seconds=3600) as client:
        assert client.get(f"/p/01/{GTIN}/10/L2026/21/S1").status_code == 200
    pair.wait_replayed()
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(ConsumerScan)) == 1


def test_replica_settings_are_checked_with_clear_errors(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    cases = {
        'database_url = "postgresql://lineside@db/lineside"\n'
        'database_read_url = "sqlite:///replica.db"\n': "database_read_url",
        'database_read_url = "postgresql://lineside@replica/lineside"\n': (
            "database_read_url needs database_url on PostgreSQL"
        ),
        'database_url = "postgresql://lineside@db/lineside"\n'
        'database_read_url = "postgresql+psycopg://lineside@db/lineside"\n': "same database",
        "replica_max_lag_seconds = 0\n": "replica_max_lag_seconds",
    }
    for body, message in cases.items():
        config.write_text(body, encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            load_settings(config)
    config.write_text(
        'database_url = "postgresql://lineside@db/lineside"\n'
        'database_read_url = "postgresql://lineside:replica-secret@replica/lineside"\n'
        "replica_max_lag_seconds = 2.5\n",
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert settings.replica_max_lag_seconds == 2.5
    assert "replica-secret" not in repr(settings)
    assert "lineside:***@replica" in repr(settings)
    assert ServerSettings(database_url="sqlite://").database_read_url is None
