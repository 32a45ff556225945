"""Schema migrations (Alembic) driven from Python, with no ``alembic.ini``.

>>> import tempfile, pathlib
>>> url = f"sqlite:///{pathlib.Path(tempfile.mkdtemp()) / 'doc.db'}"
>>> migrate(url)
>>> current_revision(url) == head_revision()
True
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

from server.db.engine import make_engine, normalise_url
from server.db.partitions import ensure_event_partitions

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str | URL) -> Config:
    """An Alembic configuration for ``url`` pointing at ``server/migrations``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ``%`` is Alembic's interpolation character; passwords may contain it.
    rendered = normalise_url(url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def migrate(url: str | URL, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision`` (the newest by default).

    On a partitioned PostgreSQL store, the yearly event partitions are then brought up
    to date too (:func:`server.db.partitions.ensure_event_partitions`).
    """
    command.upgrade(alembic_config(url), revision)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            ensure_event_partitions(connection)
    finally:
        engine.dispose()


def downgrade(url: str | URL, revision: str = "base") -> None:
    """Downgrade the database at ``url`` to ``revision`` (empty by default)."""
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str:
    """The newest migration's revision id."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(url: str | URL) -> str | None:
    """The revision the database at ``url`` is at, ``None`` when never migrated."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
