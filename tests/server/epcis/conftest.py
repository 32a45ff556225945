"""An app with only the EPCIS router, open (no sign-in), on the test database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from server.api.epcis_http import add_version_headers
from server.api.problems import install_problem_handler
from server.api.routes.epcis import create_router
from server.api.routes.epcis_queries import create_queries_router
from server.api.routes.epcis_resources import create_resources_router

#: Small capture limit so the 413 test needs no big payload.
TEST_CAPTURE_MAX_BYTES = 256 * 1024


def epcis_app(session_factory: sessionmaker[Session]) -> FastAPI:
    app = FastAPI()
    app.state.session_factory = session_factory
    install_problem_handler(app)
    app.include_router(
        create_router(writer=None, reader=None, capture_max_bytes=TEST_CAPTURE_MAX_BYTES)
    )
    app.include_router(create_queries_router(reader=None, writer=None))
    app.include_router(create_resources_router(reader=None))
    app.middleware("http")(add_version_headers)
    return app


@pytest.fixture
def client(session: Session, session_factory: sessionmaker[Session]) -> Iterator[TestClient]:
    with TestClient(epcis_app(session_factory)) as test_client:
        yield test_client
