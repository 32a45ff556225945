"""First checks: health, sign-in and one protected route."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from server.db.models import User
from server.services.auth import Role, hash_password
from tests.server.api.conftest import auth


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
