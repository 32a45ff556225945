"""The broker-credential routes answer clearly before they ever reach a broker: unknown or
hostile line ids, and a server that has no broker administrator configured.

(With a real broker they are tested in ``tests/deploy/test_mosquitto_config.py``.)
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from server.db.models import Line
from server.services.auth import Role
from tests.server.api.conftest import auth


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_an_unknown_line_is_404(client: TestClient, tokens: dict[Role, str], method: str) -> None:
    answer = client.request(
        method,
        "/lines/L404/broker-credentials",
        params={"reason": "x"},
        headers=auth(tokens[Role.ADMINISTRATOR]),
    )
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("line_id", ["L1%2B", "%23", "L%00", "x" * 65])
def test_a_line_id_that_could_widen_a_topic_is_refused(
    client: TestClient, tokens: dict[Role, str], line_id: str
) -> None:
    answer = client.post(
        f"/lines/{line_id}/broker-credentials", headers=auth(tokens[Role.ADMINISTRATOR])
    )
    assert answer.status_code in {400, 404, 422}, answer.text
    assert answer.status_code < 500


def test_without_a_broker_administrator_the_answer_says_so(
    client: TestClient, tokens: dict[Role, str], session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session, session.begin():
        session.add(Line(id="L1", site="factory-1", name="L1"))
    answer = client.post("/lines/L1/broker-credentials", headers=auth(tokens[Role.ADMINISTRATOR]))
    assert answer.status_code == 503
    assert "broker_admin_username" in answer.json()["detail"]
    assert "password" not in answer.json()
