"""A throw-away PostgreSQL database for tests (127.0.0.1:5432, user postgres, trust auth).

Set ``LINESIDE_TEST_PG_URL`` to point the tests at another server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

#: Administrative connection used to create and drop per-session databases.
PG_ADMIN_URL = os.environ.get(
    "LINESIDE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def postgres_database() -> Iterator[str]:
    """Yield the URL of a new, empty database; drop it afterwards.

    Skips the calling test when PostgreSQL cannot be reached.
    """
    name = f"lineside_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any connection failure means "no PostgreSQL here"
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
