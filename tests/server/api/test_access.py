"""Every protected route refuses missing, bad and wrong-role tokens.

The routes come from the app's OpenAPI document, so a new route cannot escape.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.services.auth import Role
from server.settings import ServerSettings
from tests.server.api.conftest import auth

#: Routes anyone may call (rate limited).
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/auth/token"),
    ("GET", "/login"),
    ("POST", "/login"),
    *(
        (method, path)
        for method in ("GET", "HEAD", "OPTIONS")
        for path in ("/01/{path}", "/00/{path}", "/414/{path}", "/{segment}")
    ),
    ("GET", "/.well-known/gs1resolver"),
    ("GET", "/p/01/{path}"),
    ("GET", "/media/products/{gtin}"),
}


def _operations() -> list[tuple[str, str]]:
    app = create_app(ServerSettings(database_url="sqlite://"))
    found = []
    for path, item in app.openapi()["paths"].items():
        for method in item:
            found.append((method.upper(), path))
    return sorted(found)


OPERATIONS = _operations()
PROTECTED = [op for op in OPERATIONS if op not in PUBLIC]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_the_route_list_is_not_empty_and_covers_the_public_routes() -> None:
    assert len(PROTECTED) >= 30
    assert set(OPERATIONS) >= PUBLIC


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_protected_route_refuses_requests_without_a_valid_token(
    client: TestClient, method: str, path: str
) -> None:
    url = _concrete(path)
    missing = client.request(method, url, json={})
    assert missing.status_code == 401, missing.text
    forged = client.request(method, url, json={}, headers=auth("not-a-real-token"))
    assert forged.status_code == 401, forged.text


@pytest.mark.parametrize(("method", "path"), [op for op in PROTECTED if op[0] != "GET"])
def test_writes_refuse_the_auditor_role(
    client: TestClient, tokens: dict[Role, str], method: str, path: str
) -> None:
    answer = client.request(method, _concrete(path), json={}, headers=auth(tokens[Role.AUDITOR]))
    if path == "/auth/logout":
        assert answer.status_code == 204
    elif path == "/logout":  # signing out is every user's right; it ends on the login page
        assert answer.url.path == "/login"
    else:
        assert answer.status_code == 403, answer.text


def test_writes_ignore_the_session_cookie(client: TestClient, tokens: dict[Role, str]) -> None:
    client.cookies.set("lineside_session", tokens[Role.ADMINISTRATOR])
    answer = client.post("/recalls", json={"gtin": "08934567890120", "reason": "x"})
    assert answer.status_code == 401
    assert client.get("/auth/me").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/recalls", {Role.INSPECTOR}),
        ("POST", "/products", set()),
        ("POST", "/lines", {Role.TECHNICIAN}),
        ("POST", "/lines/1/serial-blocks", {Role.TECHNICIAN}),
        ("POST", "/work-orders", {Role.OPERATOR, Role.TECHNICIAN}),
        ("DELETE", "/lines/1", set()),
        ("POST", "/users", set()),
        ("GET", "/audit", {Role.INSPECTOR, Role.AUDITOR}),
        ("GET", "/audit/verify", {Role.INSPECTOR, Role.AUDITOR}),
    ],
)
def test_each_role_is_admitted_or_refused(
    client: TestClient,
    tokens: dict[Role, str],
    method: str,
    path: str,
    allowed: set[Role],
) -> None:
    for role in Role:
        answer = client.request(method, path, json={}, headers=auth(tokens[role]))
        if role is Role.ADMINISTRATOR or role in allowed:
            assert answer.status_code != 403, (role, answer.text)
        else:
            assert answer.status_code == 403, (role, answer.text)
            assert role.value in answer.json()["detail"]
