"""Cases and pallets: what each holds, and the SSCC serial references the line has used."""

from __future__ import annotations

import time
from collections.abc import Iterable

from edge.journal.database import Database
from edge.journal.errors import JournalError
from edge.journal.outbox import OutboxItem, OutboxStore


class ContainerStore:
    """The cases (children are serials) and pallets (children are cases) of one line."""

    def __init__(self, db: Database, outbox: OutboxStore) -> None:
        self._db = db
        self._outbox = outbox

    def add(
        self,
        sscc: str,
        *,
        level: str,
        work_order: str,
        serials: Iterable[str] = (),
        child_containers: Iterable[str] = (),
        outbox: Iterable[OutboxItem] = (),
    ) -> None:
        """Record a case (children are serials) or pallet (children are cases) and its event."""
        serials = list(serials)
        children = list(child_containers)
        with self._db.transaction():
            self._db.run(
                "INSERT INTO containers (sscc, level, work_order, children, created_at) "
                "VALUES (?,?,?,?,?)",
                (sscc, level, work_order, len(serials) + len(children), time.time()),
            )
            self._db.run_many(
                "UPDATE serials SET container = ? WHERE serial = ?", [(sscc, s) for s in serials]
            )
            self._db.run_many(
                "UPDATE containers SET parent = ? WHERE sscc = ?", [(sscc, c) for c in children]
            )
            self._outbox.add(outbox)

    def of_order(self, work_order: str, level: str, *, unparented: bool = False) -> list[str]:
        """The SSCCs of a work order's cases or pallets, oldest first (only those not on a
        pallet when ``unparented``)."""
        sql = "SELECT sscc FROM containers WHERE work_order = ? AND level = ?"
        if unparented:
            sql += " AND parent IS NULL"
        rows = self._db.all(sql + " ORDER BY rowid", (work_order, level))
        return [r[0] for r in rows]

    def count_of_order(self, work_order: str, level: str) -> int:
        """How many cases or pallets a work order has (counted by SQLite: a million-unit
        order has tens of thousands of cases, not to be read into memory to count them)."""
        row = self._db.one(
            "SELECT count(*) FROM containers WHERE work_order = ? AND level = ?",
            (work_order, level),
        )
        return int(row[0]) if row is not None else 0

    def container_of(self, serial: str) -> str | None:
        """The SSCC of the case ``serial`` is packed in, or ``None``."""
        row = self._db.one("SELECT container FROM serials WHERE serial = ?", (serial,))
        return None if row is None else row[0]

    def unpack(self, serial: str) -> None:
        """Take ``serial`` out of its case (joins an open transaction)."""
        with self._db.transaction():
            row = self._db.one("SELECT container FROM serials WHERE serial = ?", (serial,))
            if row is None or row[0] is None:
                raise JournalError(f"serial {serial!r} is not packed in a case")
            self._db.run("UPDATE serials SET container = NULL WHERE serial = ?", (serial,))
            self._db.run("UPDATE containers SET children = children - 1 WHERE sscc = ?", (row[0],))

    def next_sscc_reference(self, first: int, last: int) -> int:
        """Take the next unused SSCC serial reference in ``[first, last]``, durably.

        The last reference used is kept in the ``sscc_reference`` counter and never handed out
        again, even when the range in the configuration changes. Raises
        :class:`JournalError` when the range is used up.

        >>> from edge.journal import Journal
        >>> j = Journal.open(":memory:")
        >>> j.containers.next_sscc_reference(500, 501), j.containers.next_sscc_reference(500, 501)
        (500, 501)
        """
        with self._db.transaction():
            used = self._last_reference()
            reference = max(first, used + 1)
            if reference > last:
                raise JournalError(
                    f"SSCC range [{first}, {last}] is used up (last reference used: {used})"
                )
            self._db.run(
                "INSERT INTO counters (name, value) VALUES ('sscc_reference', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (reference,),
            )
        return reference

    def sscc_references_left(self, first: int, last: int) -> int:
        """How many references of ``[first, last]`` are still unused."""
        return max(0, last - max(first, self._last_reference() + 1) + 1)

    def _last_reference(self) -> int:
        row = self._db.one("SELECT value FROM counters WHERE name = 'sscc_reference'")
        return 0 if row is None else int(row[0])
