"""The journal's schema, as numbered migrations keyed on ``PRAGMA user_version``.

A new journal runs every migration; an existing one runs those past its ``user_version``,
each in its own transaction with the version it reaches, so a crash between two leaves a
journal that the next start migrates on from where it stopped.

Journals written before the schema was versioned say ``user_version = 0`` whatever tables
they hold, so each migration also accepts a database that already has what it adds.

>>> import sqlite3
>>> conn = sqlite3.connect(":memory:", isolation_level=None)
>>> migrate(conn), LATEST
(3, 3)
>>> migrate(conn)
3
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from edge.journal.errors import JournalError, translate

_FIRST_TABLES = (
    """CREATE TABLE IF NOT EXISTS reserve (
        serial TEXT PRIMARY KEY,
        source TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS serials (
        serial TEXT PRIMARY KEY,
        gtin TEXT NOT NULL,
        lot TEXT NOT NULL,
        work_order TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        container TEXT,
        allocated_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS serials_by_order ON serials (work_order, state)",
    """CREATE TABLE IF NOT EXISTS work_orders (
        id TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        state TEXT NOT NULL,
        updated_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS containers (
        sscc TEXT PRIMARY KEY,
        level TEXT NOT NULL,
        work_order TEXT NOT NULL,
        parent TEXT,
        children INTEGER NOT NULL,
        created_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    )""",
    # The first, unchained operator log; kept so the records of old journals stay readable.
    """CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        operator TEXT NOT NULL,
        action TEXT NOT NULL,
        serial TEXT,
        reason TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS reports (
        work_order TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        created_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL,
        event_id TEXT,
        created_at REAL NOT NULL
    )""",
)


def _first_tables(conn: sqlite3.Connection) -> None:
    for statement in _FIRST_TABLES:
        conn.execute(statement)


def _hash_chained_audit(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS audit_log (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            role TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            reason TEXT NOT NULL,
            details TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )"""
    )


def _reserve_per_gtin(conn: sqlite3.Connection) -> None:
    columns = {row[1] for row in conn.execute("PRAGMA table_info(reserve)")}
    if "gtin" not in columns:
        # Serials reserved before reserves were kept per GTIN (NULL) fit any GTIN.
        conn.execute("ALTER TABLE reserve ADD COLUMN gtin TEXT")
    conn.execute("CREATE INDEX IF NOT EXISTS reserve_by_gtin ON reserve (gtin)")


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema: ``apply`` takes a journal at ``version - 1`` to ``version``."""

    version: int
    description: str
    apply: Callable[[sqlite3.Connection], None]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "serials, reserve, work orders, containers, outbox", _first_tables),
    Migration(2, "hash-chained audit trail", _hash_chained_audit),
    Migration(3, "serial reserve kept per GTIN", _reserve_per_gtin),
)

#: The schema version this code writes.
LATEST = MIGRATIONS[-1].version


def schema_version(conn: sqlite3.Connection) -> int:
    """The journal's ``PRAGMA user_version``."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the journal on ``conn`` (in autocommit mode) to :data:`LATEST`; return it.

    Raises :class:`JournalError` for a journal written by a newer Lineside, which this code
    must not touch.
    """
    try:
        current = schema_version(conn)
        if current > LATEST:
            raise JournalError(
                f"journal schema version {current} is newer than this agent's ({LATEST}): "
                "run the Lineside version that wrote it"
            )
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                migration.apply(conn)
                # PRAGMA takes no parameters; the version is one of ours, an int.
                conn.execute(f"PRAGMA user_version = {int(migration.version)}")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            current = migration.version
    except sqlite3.Error as exc:
        raise translate(exc) from exc
    return current
