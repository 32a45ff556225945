"""The serial journal: every serial the line ever allocated, and what became of it.

One SQLite database (WAL mode) per line holds the journal, the serial reserve, the work
orders, cases and pallets, the operator audit trail and the outbox of messages to publish.
Keeping the outbox in the same database means an event is written in the SAME transaction
as the state change it reports: there is never a commissioned unit without its event, nor an
event without its unit.

States follow OPEN-SCS::

    allocated ──► sent ──► commissioned
        │           ├────► rejected
        │           ├────► sampled
        │           └────► returned
        └──────────────────► voided   (also from sent/commissioned, by an operator)

A serial is allocated (moved out of the reserve, ``synchronous=FULL``) and committed BEFORE its
label is sent, so a crash or a power cut can never make the line print a serial twice.

>>> j = Journal.open(":memory:")
>>> j.add_to_reserve(["AAA", "BBB"], source="local")
2
>>> from datetime import date
>>> j.allocate(1, work_order="WO1", gtin="08934567890128", lot="L1")
['AAA']
>>> j.state_of("AAA")
<SerialState.ALLOCATED: 'allocated'>
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lineside.audit import AuditRecord, verify_chain
from lineside.contract import LotCounts, WorkOrder
from lineside.errors import LinesideError

logger = logging.getLogger(__name__)


class JournalError(LinesideError):
    """The journal refused an operation (unknown serial, illegal transition, empty reserve)."""


class JournalWriteError(JournalError):
    """The journal could not be written (disk full, I/O error): the line must stop.

    Nothing a failed write touched is durable, so whatever depended on it (a label about to
    be printed) must not happen; the database itself stays intact.
    """


def is_write_failure(exc: BaseException) -> bool:
    """Whether ``exc`` means the line database cannot take writes (full disk, I/O error)."""
    if isinstance(exc, JournalWriteError):
        return True
    if not isinstance(exc, sqlite3.Error):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    # SQLITE_FULL (13), SQLITE_IOERR (10 and its extended codes), SQLITE_READONLY (8),
    # SQLITE_CANTOPEN (14); other errors (constraint violations...) are bugs, not faults.
    return code is None or code & 0xFF in (8, 10, 13, 14)


class SerialState(enum.StrEnum):
    ALLOCATED = "allocated"
    SENT = "sent"
    COMMISSIONED = "commissioned"
    REJECTED = "rejected"
    SAMPLED = "sampled"
    RETURNED = "returned"
    VOIDED = "voided"


class WorkOrderState(enum.StrEnum):
    LOADED = "loaded"
    RUNNING = "running"
    PAUSED = "paused"
    CLOSED = "closed"


_TRANSITIONS: dict[SerialState, frozenset[SerialState]] = {
    SerialState.ALLOCATED: frozenset({SerialState.SENT, SerialState.VOIDED}),
    SerialState.SENT: frozenset(
        {
            SerialState.COMMISSIONED,
            SerialState.REJECTED,
            SerialState.SAMPLED,
            SerialState.RETURNED,
            SerialState.VOIDED,
        }
    ),
    SerialState.COMMISSIONED: frozenset(
        {SerialState.SAMPLED, SerialState.RETURNED, SerialState.VOIDED}
    ),
    SerialState.REJECTED: frozenset(),
    SerialState.SAMPLED: frozenset(),
    SerialState.RETURNED: frozenset(),
    SerialState.VOIDED: frozenset(),
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reserve (
    serial TEXT PRIMARY KEY,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS serials (
    serial TEXT PRIMARY KEY,
    gtin TEXT NOT NULL,
    lot TEXT NOT NULL,
    work_order TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    container TEXT,
    allocated_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS serials_by_order ON serials (work_order, state);
CREATE TABLE IF NOT EXISTS work_orders (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS containers (
    sscc TEXT PRIMARY KEY,
    level TEXT NOT NULL,
    work_order TEXT NOT NULL,
    parent TEXT,
    children INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    operator TEXT NOT NULL,
    action TEXT NOT NULL,
    serial TEXT,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_log (
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
);
CREATE TABLE IF NOT EXISTS reports (
    work_order TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    event_id TEXT,
    created_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A message to publish, built once its per-line sequence number is known."""

    topic: str
    build: Callable[[int], bytes]
    event_id: str | None = None


_AUDIT_SELECT = (
    "SELECT seq, at, actor, role, action, target, reason, details, prev_hash, hash FROM audit_log"
)


def _audit_record(row: tuple[Any, ...]) -> AuditRecord:
    seq = row[0]
    try:
        return AuditRecord(
            seq=seq,
            at=datetime.fromisoformat(row[1]),
            actor=row[2],
            role=row[3],
            action=row[4],
            target=row[5],
            reason=row[6],
            details=json.loads(row[7]),
            prev_hash=row[8],
            hash=row[9],
        )
    except (ValueError, TypeError) as exc:
        # pydantic's ValidationError is a ValueError; so are bad JSON and bad ISO times.
        first = str(exc).splitlines()
        raise JournalError(
            f"record {seq} (audit_log row): unreadable: {first[-1].strip() if first else exc}"
        ) from exc


def connect(path: str | Path) -> sqlite3.Connection:
    """Open the line database with the settings every connection must use."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class Journal:
    """The line database, used from one thread (the engine's event loop).

    Every public method is one transaction. Use :meth:`open` to create it.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._conn.executescript(_SCHEMA)
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(reserve)")}
        if "gtin" not in columns:
            # Journals written before serials were reserved per GTIN: their serials fit any GTIN.
            self._conn.execute("ALTER TABLE reserve ADD COLUMN gtin TEXT")
        self._conn.execute("CREATE INDEX IF NOT EXISTS reserve_by_gtin ON reserve (gtin)")
        self._in_tx = False
        #: Outbox sequence numbers assigned by the last transaction that queued messages.
        self.last_seqs: list[int] = []

    @classmethod
    def open(cls, path: str | Path) -> Journal:
        """Open (creating if needed) the journal at ``path``."""
        return cls(connect(path))

    def close(self) -> None:
        self._conn.close()

    @property
    def connection(self) -> sqlite3.Connection:
        return self._conn

    def hold(self) -> None:
        """Open a group transaction: the following calls join it until :meth:`flush`.

        Group commit lets the engine write many verdicts with one fsync; nothing is visible
        to the publisher (or durable) before :meth:`flush`.
        """
        if not self._in_tx:
            self._conn.execute("BEGIN IMMEDIATE")
            self._in_tx = True

    def flush(self) -> bool:
        """Commit the group transaction opened by :meth:`hold`; return whether one was open."""
        if not self._in_tx:
            return False
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error:
            self.abandon()
            raise
        self._in_tx = False
        return True

    def abandon(self) -> None:
        """Roll back whatever transaction is open, quietly (after a failed write)."""
        self._in_tx = False
        with contextlib.suppress(sqlite3.Error):
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction; nested use joins the outer one."""
        if self._in_tx:
            yield self._conn
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._in_tx = True
        try:
            yield self._conn
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")
        finally:
            self._in_tx = False

    # -- outbox -------------------------------------------------------------------------

    def _enqueue(self, conn: sqlite3.Connection, items: Iterable[OutboxItem]) -> None:
        seqs = []
        for item in items:
            seq = self._next(conn, "event_seq")
            seqs.append(seq)
            conn.execute(
                "INSERT INTO outbox (seq, topic, payload, event_id, created_at) VALUES (?,?,?,?,?)",
                (seq, item.topic, item.build(seq), item.event_id, time.time()),
            )
        if seqs:
            self.last_seqs = seqs

    def enqueue(self, items: Iterable[OutboxItem]) -> None:
        """Queue messages for publication (alarms, reports) in their own transaction."""
        with self.transaction() as conn:
            self._enqueue(conn, items)

    def outbox_pending(self) -> tuple[int, int]:
        """(messages, payload bytes) waiting for the broker's acknowledgement."""
        row = self._conn.execute("SELECT count(*), total(length(payload)) FROM outbox").fetchone()
        return int(row[0]), int(row[1])

    # -- counters -----------------------------------------------------------------------

    @staticmethod
    def _next(conn: sqlite3.Connection, name: str) -> int:
        row = conn.execute(
            "INSERT INTO counters (name, value) VALUES (?, 1) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
            (name,),
        ).fetchone()
        return int(row[0])

    def next_counter(self, name: str) -> int:
        """Increment a durable counter and return its new value (1, 2, ...)."""
        with self.transaction() as conn:
            return self._next(conn, name)

    # -- reserve ------------------------------------------------------------------------

    def add_to_reserve(
        self, serials: Iterable[str], *, source: str, gtin: str | None = None
    ) -> int:
        """Add serials to the reserve, skipping any the line has already seen; return how many.

        ``gtin`` names the product the serials were reserved for (a server block is issued per
        GTIN); ``None`` means any product (serials generated on the line).
        """
        added = 0
        with self.transaction() as conn:
            for serial in serials:
                known = conn.execute("SELECT 1 FROM serials WHERE serial = ?", (serial,)).fetchone()
                if known:
                    continue
                cur = conn.execute(
                    "INSERT OR IGNORE INTO reserve (serial, source, gtin) VALUES (?, ?, ?)",
                    (serial, source, gtin),
                )
                added += cur.rowcount
        return added

    def reserve_size(self, gtin: str | None = None) -> int:
        """Serials in the reserve usable for ``gtin`` (all of them when ``gtin`` is None)."""
        if gtin is None:
            return int(self._conn.execute("SELECT count(*) FROM reserve").fetchone()[0])
        mine = self._conn.execute("SELECT count(*) FROM reserve WHERE gtin = ?", (gtin,))
        anyone = self._conn.execute("SELECT count(*) FROM reserve WHERE gtin IS NULL")
        return int(mine.fetchone()[0]) + int(anyone.fetchone()[0])

    def allocate(self, count: int, *, work_order: str, gtin: str, lot: str) -> list[str]:
        """Move ``count`` serials from the reserve to the journal, durably, and return them.

        Raises :class:`JournalError` when the reserve holds fewer than ``count``.
        """
        now = time.time()
        with self.transaction() as conn:
            # Serials reserved for this GTIN first; serials good for any GTIN after them.
            rows = conn.execute(
                "SELECT serial FROM reserve WHERE gtin = ? ORDER BY rowid LIMIT ?", (gtin, count)
            ).fetchall()
            if len(rows) < count:
                rows += conn.execute(
                    "SELECT serial FROM reserve WHERE gtin IS NULL ORDER BY rowid LIMIT ?",
                    (count - len(rows),),
                ).fetchall()
            if len(rows) < count:
                raise JournalError(
                    f"serial reserve has {len(rows)} serials for GTIN {gtin}, {count} needed"
                )
            serials = [r[0] for r in rows]
            conn.executemany("DELETE FROM reserve WHERE serial = ?", [(s,) for s in serials])
            conn.executemany(
                "INSERT INTO serials (serial, gtin, lot, work_order, state, allocated_at, "
                "updated_at) VALUES (?,?,?,?,?,?,?)",
                [
                    (s, gtin, lot, work_order, SerialState.ALLOCATED.value, now, now)
                    for s in serials
                ],
            )
        return serials

    # -- serial states ------------------------------------------------------------------

    def state_of(self, serial: str) -> SerialState | None:
        row = self._conn.execute("SELECT state FROM serials WHERE serial = ?", (serial,)).fetchone()
        return SerialState(row[0]) if row else None

    def transition(
        self,
        serial: str,
        state: SerialState,
        *,
        reason: str | None = None,
        outbox: Iterable[OutboxItem] = (),
    ) -> SerialState:
        """Move ``serial`` to ``state`` and queue ``outbox`` messages in the same transaction.

        Returns the previous state; raises :class:`JournalError` for an unknown serial or a
        transition OPEN-SCS does not allow (e.g. commissioned → rejected).
        """
        with self.transaction() as conn:
            row = conn.execute("SELECT state FROM serials WHERE serial = ?", (serial,)).fetchone()
            if row is None:
                raise JournalError(f"serial {serial!r} was never allocated on this line")
            previous = SerialState(row[0])
            if state not in _TRANSITIONS[previous]:
                raise JournalError(
                    f"serial {serial!r}: cannot go from {previous.value} to {state.value}"
                )
            conn.execute(
                "UPDATE serials SET state = ?, reason = ?, updated_at = ? WHERE serial = ?",
                (state.value, reason, time.time(), serial),
            )
            self._enqueue(conn, outbox)
        return previous

    def serials_in(self, work_order: str, *states: SerialState) -> list[str]:
        """Serials of a work order in any of ``states``, in allocation order."""
        marks = ",".join("?" * len(states))
        rows = self._conn.execute(
            f"SELECT serial FROM serials WHERE work_order = ? AND state IN ({marks}) "  # noqa: S608
            "ORDER BY rowid",
            (work_order, *[s.value for s in states]),
        ).fetchall()
        return [r[0] for r in rows]

    def uncontained(self, work_order: str) -> list[str]:
        """Commissioned serials of a work order not yet packed into a case."""
        rows = self._conn.execute(
            "SELECT serial FROM serials WHERE work_order = ? AND state = ? AND container IS NULL "
            "ORDER BY rowid",
            (work_order, SerialState.COMMISSIONED.value),
        ).fetchall()
        return [r[0] for r in rows]

    # -- containers ---------------------------------------------------------------------

    def add_container(
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
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO containers (sscc, level, work_order, children, created_at) "
                "VALUES (?,?,?,?,?)",
                (sscc, level, work_order, len(serials) + len(children), time.time()),
            )
            conn.executemany(
                "UPDATE serials SET container = ? WHERE serial = ?", [(sscc, s) for s in serials]
            )
            conn.executemany(
                "UPDATE containers SET parent = ? WHERE sscc = ?", [(sscc, c) for c in children]
            )
            self._enqueue(conn, outbox)

    def next_sscc_reference(self, first: int, last: int) -> int:
        """Take the next unused SSCC serial reference in ``[first, last]``, durably.

        The last reference used is kept in the ``sscc_reference`` counter and never handed out
        again, even when the range in the configuration changes. Raises
        :class:`JournalError` when the range is used up.

        >>> j = Journal.open(":memory:")
        >>> j.next_sscc_reference(500, 501), j.next_sscc_reference(500, 501)
        (500, 501)
        """
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT value FROM counters WHERE name = 'sscc_reference'"
            ).fetchone()
            used = 0 if row is None else int(row[0])
            reference = max(first, used + 1)
            if reference > last:
                raise JournalError(
                    f"SSCC range [{first}, {last}] is used up (last reference used: {used})"
                )
            conn.execute(
                "INSERT INTO counters (name, value) VALUES ('sscc_reference', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (reference,),
            )
        return reference

    def sscc_references_left(self, first: int, last: int) -> int:
        """How many references of ``[first, last]`` are still unused."""
        row = self._conn.execute(
            "SELECT value FROM counters WHERE name = 'sscc_reference'"
        ).fetchone()
        used = 0 if row is None else int(row[0])
        return max(0, last - max(first, used + 1) + 1)

    def container_of(self, serial: str) -> str | None:
        """The SSCC of the case ``serial`` is packed in, or ``None``."""
        row = self._conn.execute(
            "SELECT container FROM serials WHERE serial = ?", (serial,)
        ).fetchone()
        return None if row is None else row[0]

    def unpack(self, serial: str) -> None:
        """Take ``serial`` out of its case (joins an open transaction)."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT container FROM serials WHERE serial = ?", (serial,)
            ).fetchone()
            if row is None or row[0] is None:
                raise JournalError(f"serial {serial!r} is not packed in a case")
            conn.execute("UPDATE serials SET container = NULL WHERE serial = ?", (serial,))
            conn.execute("UPDATE containers SET children = children - 1 WHERE sscc = ?", (row[0],))

    def containers(self, work_order: str, level: str, *, unparented: bool = False) -> list[str]:
        sql = "SELECT sscc FROM containers WHERE work_order = ? AND level = ?"
        if unparented:
            sql += " AND parent IS NULL"
        rows = self._conn.execute(sql + " ORDER BY rowid", (work_order, level)).fetchall()
        return [r[0] for r in rows]

    # -- work orders --------------------------------------------------------------------

    def save_work_order(self, order: WorkOrder, state: WorkOrderState) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO work_orders (id, body, state, updated_at) VALUES (?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET body = excluded.body, state = excluded.state, "
                "updated_at = excluded.updated_at",
                (order.id, order.model_dump_json(), state.value, time.time()),
            )

    def set_work_order_state(self, order_id: str, state: WorkOrderState) -> None:
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE work_orders SET state = ?, updated_at = ? WHERE id = ?",
                (state.value, time.time(), order_id),
            )
            if cur.rowcount == 0:
                raise JournalError(f"work order {order_id!r} is not loaded on this line")

    def work_order(self, order_id: str) -> tuple[WorkOrder, WorkOrderState] | None:
        row = self._conn.execute(
            "SELECT body, state FROM work_orders WHERE id = ?", (order_id,)
        ).fetchone()
        if row is None:
            return None
        return WorkOrder.model_validate_json(row[0]), WorkOrderState(row[1])

    def open_work_orders(self) -> list[tuple[WorkOrder, WorkOrderState]]:
        """Work orders not closed, oldest first."""
        rows = self._conn.execute(
            "SELECT body, state FROM work_orders WHERE state != ? ORDER BY rowid",
            (WorkOrderState.CLOSED.value,),
        ).fetchall()
        return [(WorkOrder.model_validate_json(b), WorkOrderState(s)) for b, s in rows]

    # -- reconciliation, audit, reports -------------------------------------------------

    def lot_counts(self, work_order: str) -> list[LotCounts]:
        """Per-lot counts of a work order's serials by final state."""
        rows = self._conn.execute(
            "SELECT lot, state, count(*) FROM serials WHERE work_order = ? GROUP BY lot, state",
            (work_order,),
        ).fetchall()
        by_lot: dict[str, dict[str, int]] = {}
        for lot, state, n in rows:
            by_lot.setdefault(lot, {})[state] = n
        result = []
        for lot, counts in sorted(by_lot.items()):
            result.append(
                LotCounts(
                    lot=lot,
                    allocated=sum(counts.values()),
                    commissioned=counts.get("commissioned", 0),
                    rejected=counts.get("rejected", 0),
                    sampled=counts.get("sampled", 0),
                    returned=counts.get("returned", 0),
                    voided=counts.get("voided", 0),
                )
            )
        return result

    def state_counts(self, work_order: str) -> dict[SerialState, int]:
        rows = self._conn.execute(
            "SELECT state, count(*) FROM serials WHERE work_order = ? GROUP BY state",
            (work_order,),
        ).fetchall()
        return {SerialState(s): int(n) for s, n in rows}

    def audit(
        self,
        *,
        operator: str,
        action: str,
        reason: str,
        serial: str | None = None,
        target: str | None = None,
        role: str = "operator",
        details: dict[str, Any] | None = None,
    ) -> AuditRecord:
        """Append a hash-chained record to the audit trail (joins an open transaction).

        ``target`` defaults to ``serial:<serial>`` when a serial is given.
        """
        with self.transaction() as conn:
            row = conn.execute(f"{_AUDIT_SELECT} ORDER BY seq DESC LIMIT 1").fetchone()
            previous = None if row is None else _audit_record(row)
            record = AuditRecord.create(
                previous,
                at=datetime.now(UTC),
                actor=operator,
                role=role,
                action=action,
                target=target if target is not None else (f"serial:{serial}" if serial else ""),
                reason=reason,
                details=details,
            )
            conn.execute(
                "INSERT INTO audit_log (seq, at, actor, role, action, target, reason, details, "
                "prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    record.seq,
                    record.at.isoformat(),
                    record.actor,
                    record.role,
                    record.action,
                    record.target,
                    record.reason,
                    json.dumps(record.details, sort_keys=True, ensure_ascii=False),
                    record.prev_hash,
                    record.hash,
                ),
            )
        return record

    def audit_trail(self) -> list[AuditRecord]:
        """The audit records in order (raises :class:`JournalError` for an unreadable row)."""
        rows = self._conn.execute(f"{_AUDIT_SELECT} ORDER BY seq").fetchall()
        return [_audit_record(row) for row in rows]

    def verify_audit(self) -> list[str]:
        """Every break in the audit trail's hash chain, described; empty when intact.

        A row that no longer parses (a hash that is not hex, a bad time) is reported, and the
        chain is checked on from it, so one edit does not hide the next.
        """
        problems: list[str] = []
        records: list[AuditRecord] = []
        for row in self._conn.execute(f"{_AUDIT_SELECT} ORDER BY seq"):
            try:
                records.append(_audit_record(row))
            except JournalError as exc:
                problems.append(str(exc))
        return problems + verify_chain(records)

    def save_report(self, work_order: str, body: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO reports (work_order, body, created_at) VALUES (?,?,?)",
                (work_order, body, time.time()),
            )

    def report(self, work_order: str) -> str | None:
        row = self._conn.execute(
            "SELECT body FROM reports WHERE work_order = ?", (work_order,)
        ).fetchone()
        return None if row is None else str(row[0])
