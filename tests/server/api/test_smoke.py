"""First checks: health, sign-in and one protected route."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from server.db.models import User
from server.services.auth import Role, hash_password
from tests.server.api.conftest import auth, build_world


def test_healthz_and_readyz_answer_ok(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "detail": ""}
    assert client.get("/readyz").json()["status"] == "ok"


def test_sign_in_returns_a_token_that_opens_protected_routes(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session, session.begin():
        session.add(User(username="an", role=Role.AUDITOR, password_hash=hash_password("pw-1")))
    wrong = client.post("/auth/token", json={"username": "an", "password": "nope"})
    assert wrong.status_code == 401
    answer = client.post("/auth/token", json={"username": "an", "password": "pw-1"})
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    me = client.get("/auth/me", headers=auth(token))
    assert me.json() == {"username": "an", "role": "auditor", "organisation_id": None}
    assert client.post("/auth/logout", headers=auth(token)).status_code == 204
    assert client.get("/auth/me", headers=auth(token)).status_code == 401


def test_metrics_are_prometheus_text(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    build_world(session_factory)
    client.get("/healthz")
    client.get("/healthz")
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {family.name: family for family in text_string_to_metric_families(answer.text)}
    requests = {
        (sample.labels["method"], sample.labels["route"], sample.labels["status"]): sample.value
        for sample in families["lineside_http_requests"].samples
        if sample.name == "lineside_http_requests_total"
    }
    assert requests[("GET", "/healthz", "200")] == 2
    assert families["lineside_events"].type == "gauge"
    assert families["lineside_events"].samples[0].value == 1
    assert families["lineside_products"].samples[0].value == 1
    assert families["lineside_dead_letters"].samples[0].value == 0
