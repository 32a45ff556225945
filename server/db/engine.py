"""Engines and sessions for SQLite (WAL) and PostgreSQL, from one URL.

>>> engine = make_engine("sqlite://")
>>> engine.dialect.name
'sqlite'
>>> engine.dispose()
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from lineside.errors import ConfigError

logger = logging.getLogger(__name__)

SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def normalise_url(url: str | URL) -> URL:
    """Parse a database URL and pick our drivers (psycopg 3 for PostgreSQL).

    >>> normalise_url("postgresql://postgres@127.0.0.1/test").drivername
    'postgresql+psycopg'
    >>> normalise_url("mysql://x/y")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lineside.errors.ConfigError: database URL: backend 'mysql' is not supported ...
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError and ValueError alike
        raise ConfigError(f"database URL: cannot parse {str(url)!r}: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"database URL: backend {backend!r} is not supported (use sqlite or postgresql)"
        )
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets the dashboard read while the ingestor writes; NORMAL is durable in WAL
        # mode across application crashes (only an OS crash may lose the last commit).
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Two ingestors (or ingestor + API) on one file wait rather than fail.
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the settings Lineside relies on.

    SQLite gets WAL, foreign keys and a busy timeout on every connection; PostgreSQL
    gets psycopg 3 and ``pool_pre_ping`` (unless ``pool_pre_ping=False`` is passed: the
    ingestor retries a batch whose connection died, and saves the round trip).
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {}).setdefault("check_same_thread", False)
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


#: ``application_name`` of the connections that serve reads (``pg_stat_activity``).
READ_APPLICATION_NAME = "lineside-read"


def make_read_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for reads from a PostgreSQL streaming-replication standby.

    Its connections give up after two seconds, so a replica that is down is noticed fast
    and reads go to the primary; they are named ``lineside-read`` in ``pg_stat_activity``
    and are read-only, so a write sent to the replica by mistake fails on any server.
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(
            f"read replica URL: backend {parsed.get_backend_name()!r} is not supported "
            "(a read replica is a PostgreSQL standby)"
        )
    connect_args = kwargs.setdefault("connect_args", {})
    connect_args.setdefault("connect_timeout", 2)
    connect_args.setdefault("application_name", READ_APPLICATION_NAME)
    connect_args.setdefault("options", "-c default_transaction_read_only=on")
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back on an exception."""
    with factory() as session, session.begin():
        yield session
