"""Every refused request is an RFC 9457 problem (``application/problem+json``) with the
status each case had before the one handler existed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from lineside.errors import ConfigError, GS1Error, LinesideError, TransportError
from server.api.problems import PROBLEM_JSON, install_problem_handler, status_of
from server.app import create_app
from server.errors import (
    CaptureLimitExceededException,
    Conflict,
    NoSuchResourceException,
    NotAllowed,
    NotFound,
    NotSignedIn,
    QueryParameterException,
    TooManyRequests,
    ValidationException,
)
from server.services.auth import Role
from server.settings import ServerSettings
from tests.server.api.conftest import GTIN, RecordingPublisher, auth, build_world


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    return body


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (NotSignedIn("x"), 401),
        (NotAllowed("x"), 403),
        (TooManyRequests("x", retry_after=1), 429),
        (GS1Error("x"), 422),
        (TransportError("x"), 503),
        (ValidationException("x"), 400),
        (QueryParameterException("x"), 400),
        (CaptureLimitExceededException("x"), 413),
        (NoSuchResourceException("x"), 404),
        (ConfigError("x"), 500),
        (LinesideError("x"), 500),
    ],
)
def test_each_exception_has_its_status(error: LinesideError, status: int) -> None:
    assert status_of(error) == status


def test_missing_and_bad_tokens_are_401_with_a_challenge(client: TestClient) -> None:
    missing = client.get("/lines")
    body = _problem(missing, 401)
    assert body["type"] == "about:blank"
    assert body["title"] == "Unauthorized"
    assert body["detail"] == "a bearer token is required"
    assert missing.headers["www-authenticate"] == "Bearer"
    forged = client.get("/lines", headers=auth("forged"))
    _problem(forged, 401)
    assert forged.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_wrong_password_is_401(client: TestClient) -> None:
    answer = client.post("/auth/token", json={"username": "nobody", "password": "x"})
    assert _problem(answer, 401)["detail"] == "wrong username or password"


def test_wrong_role_is_403(client: TestClient, tokens: dict[Role, str]) -> None:
    answer = client.get("/users", headers=auth(tokens[Role.OPERATOR]))
    assert "may not do this" in _problem(answer, 403)["detail"]


def test_unknown_record_and_duplicate_key(
    client: TestClient, session_factory: sessionmaker[Session], tokens: dict[Role, str]
) -> None:
    build_world(session_factory)
    tech = auth(tokens[Role.TECHNICIAN])
    assert _problem(client.get("/lines/L9", headers=tech), 404)["detail"] == "lines: no 'L9'"
    again = client.post("/lines", json={"id": "L1", "site": "factory-1"}, headers=tech)
    assert _problem(again, 409)["detail"] == "line 'L1' already exists"


def test_unreadable_code_is_422_and_unknown_code_404(
    client: TestClient, tokens: dict[Role, str]
) -> None:
    reader = auth(tokens[Role.AUDITOR])
    garbage = client.get("/trace/(01)08934567890121", headers=reader)
    assert "check digit" in _problem(garbage, 422)["detail"]
    unknown = client.get(f"/trace/(01){GTIN}(21)NOPE", headers=reader)
    assert "nothing is known" in _problem(unknown, 404)["detail"]


def test_request_validation_is_422_with_every_error(
    client: TestClient, tokens: dict[Role, str]
) -> None:
    answer = client.post("/lines", json={"id": "bad id!"}, headers=auth(tokens[Role.TECHNICIAN]))
    body = _problem(answer, 422)
    assert body["detail"].startswith("body.")
    assert {tuple(error["loc"]) for error in body["errors"]} >= {("body", "id"), ("body", "site")}


def test_broker_refusal_is_503(
    client: TestClient,
    session_factory: sessionmaker[Session],
    tokens: dict[Role, str],
    publisher: RecordingPublisher,
) -> None:
    world = build_world(session_factory)
    publisher.fail = True
    order = {
        "code": "WO-1",
        "line_id": world.line_id,
        "product_id": world.product_id,
        "lot": "L1",
        "production_date": "2026-03-01",
        "quantity": 10,
    }
    answer = client.post("/work-orders", json=order, headers=auth(tokens[Role.OPERATOR]))
    detail = _problem(answer, 503)["detail"]
    assert detail == "the broker did not take the command: broker unreachable (test)"


def test_unknown_path_and_wrong_method_are_problems(client: TestClient) -> None:
    _problem(client.get("/no/such/path"), 404)
    _problem(client.delete("/healthz"), 405)


def test_linkset_for_an_unknown_code_is_a_problem(client: TestClient) -> None:
    answer = client.get(f"/01/{GTIN}/21/NOPE", headers={"Accept": "application/linkset+json"})
    assert _problem(answer, 404)["detail"] == f"nothing is known about (01){GTIN}"


def test_rate_limit_is_429_with_retry_after(
    db_url: str, clean_db: Engine, session_factory: sessionmaker[Session]
) -> None:
    settings = ServerSettings(database_url=db_url, rate_limit_per_minute=60, rate_limit_burst=1)
    app = create_app(
        settings, session_factory=session_factory, command_publisher=RecordingPublisher()
    )
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        refused = client.get("/healthz")
        _problem(refused, 429)
        assert refused.headers["retry-after"] == "1"


def test_epcis_refusals_keep_their_exception_type(
    client: TestClient, tokens: dict[Role, str]
) -> None:
    tech = auth(tokens[Role.TECHNICIAN])
    bad = client.post("/epcis/capture", content=b"{nope", headers=tech)
    body = _problem(bad, 400)
    assert body["type"] == "epcisException:ValidationException"
    assert body["title"] == "Invalid EPCIS document"
    job = client.get("/epcis/capture/nope", headers=tech)
    assert _problem(job, 404)["type"] == "epcisException:NoSuchResourceException"


def test_an_error_no_request_can_cause_is_500_without_its_message() -> None:
    app = FastAPI()
    install_problem_handler(app)

    @app.get("/broken")
    def broken() -> None:
        raise ConfigError("broker_url 'mqtt://admin:secret@x': wrong")

    with TestClient(app, raise_server_exceptions=False) as client:
        body = _problem(client.get("/broken"), 500)
    assert "secret" not in body["detail"]


def test_the_openapi_document_describes_errors_as_problems() -> None:
    schema = create_app(ServerSettings(database_url="sqlite://")).openapi()
    invalid = schema["paths"]["/lines"]["post"]["responses"]["422"]["content"]
    assert list(invalid) == [PROBLEM_JSON]
    assert "Problem" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
