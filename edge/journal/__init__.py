"""The line journal: every serial the line ever allocated, and what became of it.

One SQLite database (WAL mode, ``synchronous=FULL``) per line holds the serial reserve and
journal, the work orders, cases and pallets, the operator audit trail and the outbox of
messages to publish. Keeping the outbox in the same database means an event is written in the
SAME transaction as the state change it reports: there is never a commissioned unit without
its event, nor an event without its unit.

:class:`Journal` opens the database, migrates its schema (:mod:`edge.journal.migrations`)
and gives one store per concern, all sharing one connection and one transaction:

* :attr:`Journal.serials` — the reserve, allocation, serial states (:mod:`.serials`);
* :attr:`Journal.outbox` — messages waiting for the broker (:mod:`.outbox`);
* :attr:`Journal.containers` — cases, pallets, SSCC references (:mod:`.containers`);
* :attr:`Journal.work_orders` — work orders and their reports (:mod:`.work_orders`);
* :attr:`Journal.audit` — the hash-chained operator audit trail (:mod:`.audit`).

``sqlite3`` errors never leave the journal: they become :class:`JournalError`, or
:class:`JournalWriteError` when the database cannot take writes (:mod:`.errors`).

>>> j = Journal.open(":memory:")
>>> j.serials.add_to_reserve(["AAA", "BBB"], source="local")
2
>>> j.serials.allocate(1, work_order="WO1", gtin="08934567890128", lot="L1")
['AAA']
>>> j.serials.state_of("AAA")
<SerialState.ALLOCATED: 'allocated'>
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edge.journal.audit import AuditStore
from edge.journal.containers import ContainerStore
from edge.journal.database import Database, connect
from edge.journal.errors import JournalError, JournalWriteError, is_write_failure
from edge.journal.migrations import migrate
from edge.journal.outbox import OutboxItem, OutboxStore
from edge.journal.serials import SerialState, SerialStore
from edge.journal.work_orders import WorkOrderState, WorkOrderStore

__all__ = [
    "Journal",
    "JournalError",
    "JournalWriteError",
    "OutboxItem",
    "SerialState",
    "WorkOrderState",
    "connect",
    "is_write_failure",
]


class Journal:
    """The line database, used from one thread (the engine's event loop).

    Every store method is one transaction, or joins the one open around it
    (:meth:`transaction`, or the group transaction of :meth:`hold`). Use :meth:`open`.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        migrate(conn)
        self._db = Database(conn)
        self.outbox = OutboxStore(self._db)
        self.serials = SerialStore(self._db, self.outbox)
        self.containers = ContainerStore(self._db, self.outbox)
        self.work_orders = WorkOrderStore(self._db)
        self.audit = AuditStore(self._db)

    @classmethod
    def open(cls, path: str | Path) -> Journal:
        """Open (creating and migrating if needed) the journal at ``path``."""
        conn = connect(path)
        try:
            return cls(conn)
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        self._db.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for tests that inspect or break the database."""
        return self._db.connection

    def hold(self) -> None:
        """Open a group transaction: store calls join it until :meth:`flush`.

        Group commit lets the engine write many verdicts with one fsync; nothing is visible
        to the publisher (or durable) before :meth:`flush`.
        """
        self._db.hold()

    def flush(self) -> bool:
        """Commit the group transaction opened by :meth:`hold`; return whether one was open."""
        return self._db.flush()

    def abandon(self) -> None:
        """Roll back whatever transaction is open, quietly (after a failed write)."""
        self._db.abandon()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` transaction around several store calls; nested use joins
        the outer one."""
        with self._db.transaction():
            yield
