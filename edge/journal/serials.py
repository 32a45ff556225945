"""Serials: the reserve, their allocation to work orders, and the states they go through.

States follow OPEN-SCS::

    allocated ──► sent ──► commissioned
        │           ├────► rejected
        │           ├────► sampled
        │           └────► returned
        └──────────────────► voided   (also from sent/commissioned, by an operator)

A serial is allocated (moved out of the reserve) and committed BEFORE its label is sent, so
a crash or a power cut can never make the line print a serial twice.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Sequence

from edge.journal.database import Database
from edge.journal.errors import JournalError
from edge.journal.outbox import OutboxItem, OutboxStore
from lineside.contract import LotCounts


class SerialState(enum.StrEnum):
    ALLOCATED = "allocated"
    SENT = "sent"
    COMMISSIONED = "commissioned"
    REJECTED = "rejected"
    SAMPLED = "sampled"
    RETURNED = "returned"
    VOIDED = "voided"


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


class SerialStore:
    """The reserve and the serial journal of one line."""

    def __init__(self, db: Database, outbox: OutboxStore) -> None:
        self._db = db
        self._outbox = outbox
        # Serials in the reserve by the GTIN they are for (None: any), counted once and then
        # kept up to date here (this store is the reserve's only writer); forgotten when a
        # transaction rolls back. Counting a large reserve on every allocation costs O(n).
        self._reserve_counts: dict[str | None, int] | None = None
        db.on_rollback(self._forget_counts)

    def _forget_counts(self) -> None:
        self._reserve_counts = None

    def _counts(self) -> dict[str | None, int]:
        if self._reserve_counts is None:
            rows = self._db.all("SELECT gtin, count(*) FROM reserve GROUP BY gtin")
            self._reserve_counts = {gtin: int(n) for gtin, n in rows}
        return self._reserve_counts

    def _count_change(self, gtin: str | None, change: int) -> None:
        if self._reserve_counts is not None:
            self._reserve_counts[gtin] = self._reserve_counts.get(gtin, 0) + change

    # -- reserve ------------------------------------------------------------------------

    def add_to_reserve(
        self, serials: Iterable[str], *, source: str, gtin: str | None = None
    ) -> int:
        """Add serials to the reserve, skipping any the line has already seen; return how many.

        ``gtin`` names the product the serials were reserved for (a server block is issued per
        GTIN); ``None`` means any product (serials generated on the line).
        """
        added = 0
        with self._db.transaction():
            for serial in serials:
                if self._db.one("SELECT 1 FROM serials WHERE serial = ?", (serial,)):
                    continue
                added += self._db.run(
                    "INSERT OR IGNORE INTO reserve (serial, source, gtin) VALUES (?, ?, ?)",
                    (serial, source, gtin),
                )
            self._count_change(gtin, added)
        return added

    def reserve_size(self, gtin: str | None = None) -> int:
        """Serials in the reserve usable for ``gtin`` (all of them when ``gtin`` is None)."""
        counts = self._counts()
        if gtin is None:
            return sum(counts.values())
        return counts.get(gtin, 0) + counts.get(None, 0)

    def allocate(
        self, count: int, *, work_order: str, gtin: str, lot: str, sent: bool = False
    ) -> list[str]:
        """Move ``count`` serials from the reserve to the journal, durably, and return them
        (already ``sent`` when ``sent``: their labels are printed once this commits).

        Raises :class:`JournalError` when the reserve holds fewer than ``count``.
        """
        now = time.time()
        with self._db.transaction():
            # Serials reserved for this GTIN first; serials good for any GTIN after them.
            rows = self._db.all(
                "SELECT serial FROM reserve WHERE gtin = ? ORDER BY rowid LIMIT ?", (gtin, count)
            )
            mine = len(rows)
            if len(rows) < count:
                rows += self._db.all(
                    "SELECT serial FROM reserve WHERE gtin IS NULL ORDER BY rowid LIMIT ?",
                    (count - len(rows),),
                )
            if len(rows) < count:
                raise JournalError(
                    f"serial reserve has {len(rows)} serials for GTIN {gtin}, {count} needed"
                )
            serials = [r[0] for r in rows]
            self._db.run_many("DELETE FROM reserve WHERE serial = ?", [(s,) for s in serials])
            self._count_change(gtin, -mine)
            self._count_change(None, mine - count)
            self._db.run_many(
                "INSERT INTO serials (serial, gtin, lot, work_order, state, allocated_at, "
                "updated_at) VALUES (?,?,?,?,?,?,?)",
                [
                    (s, gtin, lot, work_order, SerialState.ALLOCATED.value, now, now)
                    for s in serials
                ],
            )
            if sent:
                self.transition_many(serials, SerialState.ALLOCATED, SerialState.SENT)
        return serials

    # -- states -------------------------------------------------------------------------

    def state_of(self, serial: str) -> SerialState | None:
        row = self._db.one("SELECT state FROM serials WHERE serial = ?", (serial,))
        return SerialState(row[0]) if row else None

    def in_state_of(self, serials: Sequence[str], state: SerialState) -> list[str]:
        """Those of ``serials`` now in ``state``, in the order given (one query)."""
        found: set[str] = set()
        for start in range(0, len(serials), 500):  # SQLite's limit on bound parameters
            chunk = serials[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.all(
                f"SELECT serial FROM serials WHERE state = ? AND serial IN ({marks})",  # noqa: S608
                (state.value, *chunk),
            )
            found.update(r[0] for r in rows)
        return [s for s in serials if s in found]

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
        with self._db.transaction():
            row = self._db.one("SELECT state FROM serials WHERE serial = ?", (serial,))
            if row is None:
                raise JournalError(f"serial {serial!r} was never allocated on this line")
            previous = SerialState(row[0])
            if state not in _TRANSITIONS[previous]:
                raise JournalError(
                    f"serial {serial!r}: cannot go from {previous.value} to {state.value}"
                )
            self._db.run(
                "UPDATE serials SET state = ?, reason = ?, updated_at = ? WHERE serial = ?",
                (state.value, reason, time.time(), serial),
            )
            self._outbox.add(outbox)
        return previous

    def transition_many(
        self, serials: Sequence[str], expected: SerialState, state: SerialState
    ) -> None:
        """Move every one of ``serials`` from ``expected`` to ``state``, in one statement.

        Raises :class:`JournalError` (and changes nothing, the transaction being rolled back)
        when one of them is not in ``expected``, or for a transition OPEN-SCS does not allow.
        """
        if state not in _TRANSITIONS[expected]:
            raise JournalError(f"cannot go from {expected.value} to {state.value}")
        at = time.time()
        with self._db.transaction():
            self._db.run("SAVEPOINT transition_many")
            changed = self._db.run_many(
                "UPDATE serials SET state = ?, updated_at = ? WHERE serial = ? AND state = ?",
                [(state.value, at, serial, expected.value) for serial in serials],
            )
            if changed != len(serials):
                # Undo this statement only: a group transaction around it goes on.
                self._db.run("ROLLBACK TO transition_many")
                self._db.run("RELEASE transition_many")
                raise JournalError(
                    f"{len(serials) - changed} of {len(serials)} serials were not "
                    f"{expected.value}: none moved to {state.value}"
                )
            self._db.run("RELEASE transition_many")

    # -- reading ------------------------------------------------------------------------

    def in_state(self, work_order: str, *states: SerialState) -> list[str]:
        """Serials of a work order in any of ``states``, in allocation order."""
        marks = ",".join("?" * len(states))
        rows = self._db.all(
            f"SELECT serial FROM serials WHERE work_order = ? AND state IN ({marks}) "  # noqa: S608
            "ORDER BY rowid",
            (work_order, *[s.value for s in states]),
        )
        return [r[0] for r in rows]

    def uncontained(self, work_order: str) -> list[str]:
        """Commissioned serials of a work order not yet packed into a case."""
        rows = self._db.all(
            "SELECT serial FROM serials WHERE work_order = ? AND state = ? AND container IS NULL "
            "ORDER BY rowid",
            (work_order, SerialState.COMMISSIONED.value),
        )
        return [r[0] for r in rows]

    def allocated_at(self, work_order: str, state: SerialState) -> dict[str, float]:
        """When each serial of a work order now in ``state`` was allocated (Unix time)."""
        rows = self._db.all(
            "SELECT serial, allocated_at FROM serials WHERE work_order = ? AND state = ?",
            (work_order, state.value),
        )
        return {str(serial): float(at) for serial, at in rows}

    def state_counts(self, work_order: str) -> dict[SerialState, int]:
        """How many serials of a work order are in each state."""
        rows = self._db.all(
            "SELECT state, count(*) FROM serials WHERE work_order = ? GROUP BY state",
            (work_order,),
        )
        return {SerialState(s): int(n) for s, n in rows}

    def lot_counts(self, work_order: str) -> list[LotCounts]:
        """Per-lot counts of a work order's serials by final state."""
        rows = self._db.all(
            "SELECT lot, state, count(*) FROM serials WHERE work_order = ? GROUP BY lot, state",
            (work_order,),
        )
        by_lot: dict[str, dict[str, int]] = {}
        for lot, state, n in rows:
            by_lot.setdefault(lot, {})[state] = n
        return [
            LotCounts(
                lot=lot,
                allocated=sum(counts.values()),
                commissioned=counts.get("commissioned", 0),
                rejected=counts.get("rejected", 0),
                sampled=counts.get("sampled", 0),
                returned=counts.get("returned", 0),
                voided=counts.get("voided", 0),
            )
            for lot, counts in sorted(by_lot.items())
        ]

    def reject_reasons(self, work_order: str) -> dict[str, int]:
        """How many of a work order's units were rejected, by reason."""
        rows = self._db.all(
            "SELECT coalesce(reason, ''), count(*) FROM serials"
            " WHERE work_order = ? AND state = 'rejected' GROUP BY reason",
            (work_order,),
        )
        return {str(reason): int(n) for reason, n in rows}
