"""The Alembic migration builds exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from lineside.errors import ConfigError
from server.db import current_revision, downgrade, head_revision, make_engine, migrate
from server.db.engine import normalise_url
from server.db.models import Base
from server.db.partitions import include_object


def _differences(engine: Engine) -> list[tuple[str, str, tuple[str, ...]]]:
    """(kind, table, columns) of each difference between the database and the models."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include_object}
        )
        differences = compare_metadata(context, Base.metadata)
    found = []
    for difference in differences:
        kind, item = difference[0], difference[1]
        columns = tuple(column.name for column in getattr(item, "columns", ()))
        found.append((kind, getattr(getattr(item, "table", item), "name", ""), columns))
    return sorted(found)


def test_migrated_database_matches_models(engine: Engine) -> None:
    differences = _differences(engine)
    if engine.dialect.name == "sqlite":
        assert differences == []
        return
    # Partitioned by event time (0010): the event ID is unique with the time, and
    # nothing can reference the event ID alone. Nothing else differs.
    assert differences == [
        ("add_constraint", "events", ("event_id",)),
        ("add_fk", "event_contexts", ("event_id",)),
        ("add_fk", "event_epcs", ("event_id",)),
        ("add_fk", "portal_outbox", ("event_id",)),
        ("remove_constraint", "events", ("event_id", "event_time")),
    ]


def test_migrated_database_is_at_head(db_url: str) -> None:
    assert current_revision(db_url) == head_revision()


def test_downgrade_then_upgrade_round_trip(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'round.db'}"
    assert current_revision(url) is None
    migrate(url)
    downgrade(url)
    engine = make_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()
    migrate(url)
    assert current_revision(url) == head_revision()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        with engine.connect() as connection:
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
    finally:
        engine.dispose()
    assert (mode, keys) == ("wal", 1)


def test_postgres_url_gets_psycopg_driver() -> None:
    assert normalise_url("postgresql://u@h/db").drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "backend 'mysql' is not supported"),
        ("not a url", "cannot parse 'not a url'"),
    ],
)
def test_unsupported_urls_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        normalise_url(url)
