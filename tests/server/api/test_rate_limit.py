"""Public routes are rate limited per client address."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from server.app import create_app
from server.settings import ServerSettings
from tests.server.api.conftest import RecordingPublisher


def test_public_routes_answer_429_when_the_bucket_is_empty(
    db_url: str, clean_db: Engine, session_factory: sessionmaker[Session]
) -> None:
    settings = ServerSettings(database_url=db_url, rate_limit_per_minute=1, rate_limit_burst=3)
    app = create_app(
        settings, session_factory=session_factory, command_publisher=RecordingPublisher()
    )
    with TestClient(app) as client:
        codes = [client.get("/healthz").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert client.get("/01/08934567890120").status_code == 429
        metrics = client.get("/metrics")
        assert metrics.status_code == 429


def test_metrics_count_requests_by_route_template(
    db_url: str, clean_db: Engine, session_factory: sessionmaker[Session]
) -> None:
    settings = ServerSettings(database_url=db_url)
    app = create_app(
        settings, session_factory=session_factory, command_publisher=RecordingPublisher()
    )
    with TestClient(app) as client:
        client.get("/01/08934567890120/21/A")
        client.get("/lines/L9")
        text = client.get("/metrics").text
    assert 'route="/01/{path:path}",status="404"} 1' in text
    assert 'route="/lines/{line_id}",status="401"} 1' in text
    assert "lineside_events 0" in text
