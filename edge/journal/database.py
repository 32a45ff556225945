"""One SQLite connection and its transaction discipline, shared by every journal store.

Every store runs its SQL through one :class:`Database`, so they share one transaction: a
serial's new state and the event that reports it are written together. ``sqlite3`` errors
are translated here (:func:`edge.journal.errors.translate`), at the journal's boundary.

>>> db = Database(connect(":memory:"))
>>> _ = db.run("CREATE TABLE t (x INTEGER)")
>>> with db.transaction():
...     db.run("INSERT INTO t VALUES (?)", (7,))
1
>>> db.one("SELECT x FROM t")
(7,)
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edge.journal.errors import translate

Row = tuple[Any, ...]


def connect(path: str | Path) -> sqlite3.Connection:
    """Open the line database with the settings every connection must use."""
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
    except sqlite3.Error as exc:
        raise translate(exc) from exc
    return conn


class Database:
    """The line database's connection, used from one thread (the engine's event loop).

    A store method is one transaction (:meth:`transaction`), or joins the transaction open
    around it: the group transaction of :meth:`hold`, or an outer :meth:`transaction`.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._in_tx = False
        self._rollback_listeners: list[Callable[[], None]] = []

    def on_rollback(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` whenever a transaction is rolled back (a store that keeps
        figures in memory forgets them)."""
        self._rollback_listeners.append(listener)

    def _rolled_back(self) -> None:
        for listener in self._rollback_listeners:
            listener()

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection (tests inspect and break the database through it)."""
        return self._conn

    def close(self) -> None:
        self._conn.close()

    # -- statements, translated ---------------------------------------------------------

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row ``sql`` returns, or ``None``."""
        try:
            row: Row | None = self._conn.execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise translate(exc) from exc
        return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Every row ``sql`` returns."""
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise translate(exc) from exc

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute a statement that returns no rows; return how many rows it changed."""
        try:
            return self._conn.execute(sql, params).rowcount
        except sqlite3.Error as exc:
            raise translate(exc) from exc

    def run_many(self, sql: str, params: Iterable[Sequence[Any]]) -> int:
        """Execute ``sql`` once for each parameter tuple; return how many rows it changed."""
        try:
            return self._conn.executemany(sql, params).rowcount
        except sqlite3.Error as exc:
            raise translate(exc) from exc

    def next_counter(self, name: str) -> int:
        """Increment a durable counter and return its new value (1, 2, ...).

        Call it inside a transaction: the number is used only if that transaction commits.
        """
        row = self.one(
            "INSERT INTO counters (name, value) VALUES (?, 1) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
            (name,),
        )
        assert row is not None
        return int(row[0])

    # -- transactions -------------------------------------------------------------------

    def hold(self) -> None:
        """Open a group transaction: the following calls join it until :meth:`flush`.

        Group commit lets the engine write many verdicts with one fsync; nothing is visible
        to the publisher (or durable) before :meth:`flush`.
        """
        if not self._in_tx:
            self.run("BEGIN IMMEDIATE")
            self._in_tx = True

    def flush(self) -> bool:
        """Commit the group transaction opened by :meth:`hold`; return whether one was open."""
        if not self._in_tx:
            return False
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self.abandon()
            raise translate(exc) from exc
        self._in_tx = False
        return True

    def abandon(self) -> None:
        """Roll back whatever transaction is open, quietly (after a failed write)."""
        self._in_tx = False
        with contextlib.suppress(sqlite3.Error):
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        self._rolled_back()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` transaction; nested use joins the outer one."""
        if self._in_tx:
            yield
            return
        self.run("BEGIN IMMEDIATE")
        self._in_tx = True
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            self._rolled_back()
            raise
        else:
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                self._rolled_back()
                raise translate(exc) from exc
        finally:
            self._in_tx = False
