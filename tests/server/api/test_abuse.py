"""The server holds under abuse: sign-in floods, guessing, spoofed addresses, big and
hostile bodies. Each test is a finding of a probe against an earlier server."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from server.api.problems import PROBLEM_JSON
from server.app import create_app
from server.cli import uvicorn_config
from server.db.models import AuditEntry, User
from server.services.auth import Role, hash_password, issue_token
from server.settings import ServerSettings
from tests.server.api.conftest import RecordingPublisher, auth
from tests.support.broker import free_port
from tests.support.waiting import until, wait_until

PASSWORD = "đúng-mật-khẩu-1"


def _app(settings: ServerSettings, factory: sessionmaker[Session], **changes: Any) -> FastAPI:
    return create_app(
        settings.model_copy(update=changes),
        session_factory=factory,
        command_publisher=RecordingPublisher(),
    )


def _user(factory: sessionmaker[Session], name: str, role: Role, password: str = "") -> str:
    """Add a user; returns a bearer token for them."""
    with factory() as session, session.begin():
        user = User(username=name, role=role, password_hash=hash_password(password or PASSWORD))
        session.add(user)
        session.flush()
        return issue_token(session, user, timedelta(hours=1))


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


# --------------------------------------------------------------------------- sign-in floods


async def test_a_flood_of_failed_sign_ins_neither_fails_nor_stalls_other_requests(
    settings: ServerSettings, clean_db: Engine, session_factory: sessionmaker[Session]
) -> None:
    # The default pool (5 + 10 connections) and two password checks at a time.
    app = _app(settings, session_factory, password_hash_concurrency=2)
    inspector = _user(session_factory, "thanh-tra", Role.INSPECTOR)
    desk = app.state.sign_in_desk
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://lineside") as http:
        flood = [
            asyncio.create_task(
                http.post("/auth/token", json={"username": f"guess-{i}", "password": "x"})
            )
            for i in range(15)
        ] + [
            asyncio.create_task(
                http.post("/login", data={"username": f"form-{i}", "password": "x"})
            )
            for i in range(15)
        ]
        await until(lambda: desk.waiting >= 5, "sign-ins queued for the password hasher")
        lines = await http.get("/lines", headers=auth(inspector))
        # The inspector is answered while the flood is still being worked through.
        assert lines.status_code == 200
        assert not all(task.done() for task in flood)
        answers = await asyncio.gather(*flood)
    assert sorted({answer.status_code for answer in answers}) == [401]


def test_a_failed_sign_in_takes_one_short_database_connection(
    settings: ServerSettings, clean_db: Engine, session_factory: sessionmaker[Session]
) -> None:
    checkouts: list[int] = []

    def count(*_: Any) -> None:
        checkouts.append(1)

    # No background worker (subscription delivery) taking connections meanwhile.
    app = _app(settings, session_factory, epcis_subscriptions_enabled=False)
    engine = session_factory.kw["bind"]
    with TestClient(app) as client:
        event.listen(engine, "checkout", count)
        try:
            answer = client.post("/auth/token", json={"username": "nobody", "password": "x"})
        finally:
            event.remove(engine, "checkout", count)
    assert answer.status_code == 401
    # The user lookup only: no second connection for an audit record.
    assert len(checkouts) == 1


def test_an_account_is_locked_with_backoff_after_repeated_failures(
    settings: ServerSettings, clean_db: Engine, session_factory: sessionmaker[Session]
) -> None:
    app = _app(settings, session_factory, lockout_threshold=3, lockout_base_seconds=1.0)
    _user(session_factory, "lan", Role.OPERATOR)
    _user(session_factory, "binh", Role.OPERATOR)
    with TestClient(app) as client:

        def sign_in(name: str, password: str) -> httpx.Response:
            answer: httpx.Response = client.post(
                "/auth/token", json={"username": name, "password": password}
            )
            return answer

        assert [sign_in("lan", "sai").status_code for _ in range(3)] == [401, 401, 401]
        locked = sign_in("lan", PASSWORD)  # even the right password, while locked
        body = _problem(locked, 429)
        assert locked.headers["retry-after"] == "1"
        assert "this account" in body["detail"]
        # Other accounts are not affected; the lock lifts by itself.
        assert sign_in("binh", PASSWORD).status_code == 200
        wait_until(lambda: sign_in("lan", PASSWORD).status_code == 200, "lock lifted")
        # A success forgets the failures: one more wrong password is a plain 401.
        assert sign_in("lan", "sai").status_code == 401


def test_failed_sign_ins_are_audited_as_one_count_with_the_name_escaped(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    typed = "\x1b[2J\u202eadmin" + "x" * 90
    answers = [
        client.post("/auth/token", json={"username": typed, "password": "x"}).status_code
        for _ in range(6)
    ]
    assert answers == [401] * 5 + [429]  # locked after the fifth
    with session_factory() as session:
        assert session.scalars(select(AuditEntry)).all() == []  # nothing per attempt
    assert client.app.state.sign_in_desk.flush() == 1  # type: ignore[attr-defined]
    with session_factory() as session:
        (record,) = session.scalars(select(AuditEntry)).all()
    assert record.action == "auth.login_failed"
    assert record.actor.startswith("\\x1b[2J\\u202eadmin")
    assert len(record.actor) <= 64
    assert record.details["failures"] == 5
    assert record.details["refused_while_locked"] == 1
    assert record.details["client"] == "testclient"


# --------------------------------------------------------------------------- addresses


class _Served:
    def __init__(self, app: Any, settings: ServerSettings) -> None:
        self.server = uvicorn.Server(uvicorn_config(app, settings))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.base = f"http://127.0.0.1:{settings.port}"

    def __enter__(self) -> _Served:
        self.thread.start()
        wait_until(lambda: self.server.started or not self.thread.is_alive(), "uvicorn up")
        assert self.server.started
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join()


@pytest.fixture
def served(
    settings: ServerSettings, clean_db: Engine, session_factory: sessionmaker[Session]
) -> Any:
    def serve(**changes: Any) -> _Served:
        changes = {"rate_limit_per_minute": 1, "rate_limit_burst": 2, **changes}
        tuned = settings.model_copy(update={"host": "127.0.0.1", "port": free_port(), **changes})
        return _Served(_app(tuned, session_factory), tuned)

    return serve


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(served: Any) -> None:
    with served() as untrusted, httpx.Client(base_url=untrusted.base) as http:
        codes = [
            http.get("/healthz", headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
            for i in range(3)
        ]
    assert codes == [200, 200, 429]  # one bucket: the peer's
    with (
        served(trusted_proxies=("127.0.0.1",)) as proxied,
        httpx.Client(base_url=proxied.base) as http,
    ):

        def get(forwarded: str) -> int:
            return http.get("/healthz", headers={"X-Forwarded-For": forwarded}).status_code

        assert [get(f"198.51.100.{i}") for i in range(3)] == [200, 200, 200]
        # The client is the address the proxy saw, whatever the client wrote before it.
        assert [get(f"10.9.9.{i}, 198.51.100.7") for i in range(3)] == [200, 200, 429]


# --------------------------------------------------------------------------- bodies


def test_bodies_over_the_cap_are_413_before_they_are_parsed(
    settings: ServerSettings, clean_db: Engine, session_factory: sessionmaker[Session]
) -> None:
    app = _app(settings, session_factory, max_body_bytes=64 * 1024)
    huge = json.dumps({"username": "u" * 200_000, "password": "x"}).encode()
    with TestClient(app) as client:
        declared = client.post(
            "/auth/token", content=huge, headers={"Content-Type": "application/json"}
        )
        assert len(declared.content) < 2000
        _problem(declared, 413)
        chunks = (huge[i : i + 8192] for i in range(0, len(huge), 8192))
        streamed = client.post(
            "/auth/token", content=chunks, headers={"Content-Type": "application/json"}
        )
        assert "content-length" not in streamed.request.headers
        _problem(streamed, 413)


def test_a_422_never_echoes_large_input(client: TestClient, tokens: dict[Role, str]) -> None:
    technician = auth(tokens[Role.TECHNICIAN])
    answer = client.post("/lines", json={"id": "L" * 500_000, "site": "s"}, headers=technician)
    body = _problem(answer, 422)
    assert len(answer.content) < 3000
    assert body["errors"][0]["loc"] == ["body", "id"]
    assert body["errors"][0]["input"].endswith("…")
    odd_key = client.post("/lines", json={"k" * 100_000: 1, "id": "L1"}, headers=technician)
    assert len(odd_key.content) < 3000
    assert len(_problem(odd_key, 422)["detail"]) < 1000


def test_sign_in_bodies_are_capped_small(client: TestClient) -> None:
    answer = client.post("/auth/token", json={"username": "u" * 20_000, "password": "x"})
    _problem(answer, 413)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/products"), ("PATCH", "/lines/L1"), ("POST", "/epcis/capture")],
)
def test_a_write_without_a_token_is_401_before_its_body_is_read(
    client: TestClient, method: str, path: str
) -> None:
    # Not even JSON: had the body been read and parsed first, this would be a 422.
    answer = client.request(method, path, content=b"{not json" * 1000, headers=JSON)
    body = _problem(answer, 401)
    assert body["detail"] == "a bearer token is required"
    assert answer.headers["www-authenticate"] == "Bearer"


# --------------------------------------------------------------------------- hostile input


def _capture(extension: Any) -> bytes:
    document = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-01T08:00:00Z",
        "epcisBody": {
            "eventList": [
                {
                    "type": "ObjectEvent",
                    "eventTime": "2026-03-01T08:00:00Z",
                    "eventTimeZoneOffset": "+07:00",
                    "epcList": ["https://id.gs1.org/01/08934567890120/21/S1"],
                    "action": "ADD",
                    "bizStep": "commissioning",
                    "example:ext": extension,
                }
            ]
        },
    }
    return json.dumps(document).encode()


def _deep(levels: int) -> Any:
    nested: Any = "bottom"
    for _ in range(levels):
        nested = {"example:x": nested}
    return nested


JSON = {"Content-Type": "application/json"}
LD_JSON = {"Content-Type": "application/ld+json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TEXT = {"Content-Type": "text/plain"}

HOSTILE: list[tuple[str, str, str, bytes, dict[str, str], Role | None]] = [
    ("NUL in a query parameter", "GET", "/audit?actor=adm%00in", b"", {}, Role.AUDITOR),
    ("lone surrogate in a query", "GET", "/audit?actor=%ED%A0%80", b"", {}, Role.AUDITOR),
    ("NUL in a path", "GET", "/lines/L%001", b"", {}, Role.INSPECTOR),
    (
        "NUL in a login name",
        "POST",
        "/auth/token",
        b'{"username": "adm\\u0000in", "password": "x"}',
        JSON,
        None,
    ),
    ("NUL in a form login", "POST", "/login", b"username=adm%00in&password=x", FORM, None),
    (
        "lone surrogate in a login name",
        "POST",
        "/auth/token",
        b'{"username": "\\ud800", "password": "x"}',
        JSON,
        None,
    ),
    ("[ x 1000", "POST", "/auth/token", b"[" * 1000, JSON, None),
    ("[ x 1000 to a route with a token", "POST", "/products", b"[" * 1000, JSON, Role.TECHNICIAN),
    (
        "a 500-deep extension",
        "POST",
        "/epcis/capture",
        _capture(_deep(500)),
        LD_JSON,
        Role.TECHNICIAN,
    ),
    (
        "a 50,000-digit integer",
        "POST",
        "/epcis/capture",
        _capture(0).replace(b'"example:ext": 0', b'"example:ext": ' + b"9" * 50_000),
        LD_JSON,
        Role.TECHNICIAN,
    ),
    (
        "a lone surrogate in a capture",
        "POST",
        "/epcis/capture",
        _capture("x").replace(b'"example:ext": "x"', b'"example:ext": "\\udc00"'),
        LD_JSON,
        Role.TECHNICIAN,
    ),
    ("bytes that are not UTF-8", "POST", "/auth/token", b'{"username": "\xff"}', JSON, None),
    ("[ x 1000 as text/plain", "POST", "/epcis/capture", b"[" * 1000, TEXT, Role.TECHNICIAN),
    ("[ x 1000 with no type", "POST", "/auth/token", b"[" * 1000, {}, None),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "role"),
    [case[1:] for case in HOSTILE],
    ids=[case[0] for case in HOSTILE],
)
def test_hostile_input_is_400(
    client: TestClient,
    tokens: dict[Role, str],
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    role: Role | None,
) -> None:
    sent = {**headers, **(auth(tokens[role]) if role is not None else {})}
    answer = client.request(method, path, content=body or None, headers=sent)
    problem = _problem(answer, 400)
    assert len(answer.content) < 2000
    assert problem["type"] == "about:blank"


def test_a_capture_within_limits_still_goes_through(
    client: TestClient, tokens: dict[Role, str]
) -> None:
    answer = client.post(
        "/epcis/capture",
        content=_capture(_deep(10)),
        headers={**LD_JSON, **auth(tokens[Role.TECHNICIAN])},
    )
    assert answer.status_code in {202, 400}, answer.text
    assert "nested deeper" not in answer.text


def test_the_sign_in_form_says_when_the_account_is_locked(
    settings: ServerSettings, clean_db: Engine, session_factory: sessionmaker[Session]
) -> None:
    app = _app(settings, session_factory, lockout_threshold=1, lockout_base_seconds=60.0)
    with TestClient(app) as client:
        form = {"username": "lan", "password": "sai"}
        assert client.post("/login", data=form).status_code == 401
        locked = client.post("/login", data=form)
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == "60"
    assert "Đăng nhập sai quá nhiều lần" in locked.text


def test_failed_sign_ins_are_written_every_window_and_when_the_server_stops(
    settings: ServerSettings, clean_db: Engine, session_factory: sessionmaker[Session]
) -> None:
    def recorded() -> list[int]:
        with session_factory() as session:
            rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
            return [row.details["failures"] for row in rows]

    app = _app(settings, session_factory, failed_login_window_seconds=0.2)
    with TestClient(app) as client:
        client.post("/auth/token", json={"username": "ghost", "password": "x"})
        wait_until(lambda: recorded() == [1], "the window's count written")
        client.post("/auth/token", json={"username": "ghost", "password": "x"})
        # Whatever is still counted when the server stops is written then.
        app.state.sign_in_desk.failures.note("ghost", "testclient", "api")
    assert recorded()[0] == 1
    assert sum(recorded()) == 3
