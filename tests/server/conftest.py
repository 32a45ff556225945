"""Database fixtures for every server test, on SQLite and on PostgreSQL.

- ``db_url`` (session scope): URL of a freshly migrated database; parametrised over a
  SQLite file (WAL) and a PostgreSQL database created for this test session on
  127.0.0.1:5432 (user ``postgres``) and dropped at the end.
- ``engine`` / ``session_factory`` (session scope): for that URL.
- ``session``: a session on a database emptied before the test.
- ``clean_db``: empties every table (use it when a test needs only ``db_url``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from server.db import make_engine, make_session_factory, migrate
from server.db.models import Base
from tests.support.databases import postgres_database


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A freshly migrated database URL (SQLite file or PostgreSQL database)."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "lineside.db"
        url = f"sqlite:///{path}"
        migrate(url)
        yield url
        return
    for url in postgres_database():
        migrate(url)
        yield url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url``."""
    created = make_engine(db_url)
    yield created
    created.dispose()


@pytest.fixture(scope="session")
def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory on ``engine`` (objects stay readable after commit)."""
    return make_session_factory(engine)


def empty_all_tables(engine: Engine) -> None:
    """Delete every row of every table, children first."""
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def clean_db(engine: Engine) -> Engine:
    """The engine, after every table has been emptied."""
    empty_all_tables(engine)
    return engine


@pytest.fixture
def session(clean_db: Engine, session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session on an empty, migrated database; closed (not committed) after the test."""
    with session_factory() as opened:
        yield opened
