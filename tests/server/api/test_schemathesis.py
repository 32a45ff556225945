"""Property-based calls generated from ``/openapi.json``: no input may cause a 500.

Bounded: a few examples per operation (a few hundred calls), as administrator so the
requests reach the handlers rather than stopping at authentication.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Err

from server.app import create_app
from server.db import make_engine, make_session_factory, migrate
from server.db.models import User
from server.services.auth import Role, issue_token
from server.services.demo import seed_demo
from server.settings import ServerSettings
from tests.server.api.conftest import RecordingPublisher

EXAMPLES_PER_OPERATION = 6


def test_no_generated_request_causes_a_server_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fuzz.db'}"
    migrate(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    seed_demo(factory, "fuzz-pass-1", units=3)
    with factory() as session, session.begin():
        admin = session.query(User).filter_by(role=Role.ADMINISTRATOR).one()
        token = issue_token(session, admin, timedelta(hours=1))
    app = create_app(
        ServerSettings(database_url=url, rate_limit_per_minute=10**6, rate_limit_burst=10**6),
        session_factory=factory,
        command_publisher=RecordingPublisher(),
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            pytest.fail(f"invalid OpenAPI operation: {result.err()}")
        operation = result.ok()
        calls += _exercise(operation.as_strategy(), headers, failures)
    engine.dispose()
    assert calls >= 100
    if failures:
        pytest.fail("server errors:\n" + "\n".join(sorted(set(failures))[:20]))


def _exercise(
    strategy: st.SearchStrategy[Any], headers: dict[str, str], failures: list[str]
) -> int:
    """Run a few generated cases of one operation; returns how many calls were made."""
    calls = 0

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        nonlocal calls
        response = case.call(headers=headers)
        calls += 1
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")

    run()
    return calls
