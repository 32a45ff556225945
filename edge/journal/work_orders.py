"""Work orders loaded on the line, their state, and their reconciliation reports."""

from __future__ import annotations

import enum
import time

from edge.journal.database import Database
from edge.journal.errors import JournalError
from lineside.contract import WorkOrder


class WorkOrderState(enum.StrEnum):
    LOADED = "loaded"
    RUNNING = "running"
    PAUSED = "paused"
    CLOSED = "closed"


class WorkOrderStore:
    """The work orders of one line (at most one open at a time, which the engine enforces)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, order: WorkOrder, state: WorkOrderState) -> None:
        """Record ``order`` in ``state``, replacing an earlier record of the same id."""
        with self._db.transaction():
            self._db.run(
                "INSERT INTO work_orders (id, body, state, updated_at) VALUES (?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET body = excluded.body, state = excluded.state, "
                "updated_at = excluded.updated_at",
                (order.id, order.model_dump_json(), state.value, time.time()),
            )

    def set_state(self, order_id: str, state: WorkOrderState) -> None:
        """Move a recorded work order to ``state``."""
        with self._db.transaction():
            changed = self._db.run(
                "UPDATE work_orders SET state = ?, updated_at = ? WHERE id = ?",
                (state.value, time.time(), order_id),
            )
            if changed == 0:
                raise JournalError(f"work order {order_id!r} is not loaded on this line")

    def get(self, order_id: str) -> tuple[WorkOrder, WorkOrderState] | None:
        """The work order ``order_id`` and its state, or ``None``."""
        row = self._db.one("SELECT body, state FROM work_orders WHERE id = ?", (order_id,))
        if row is None:
            return None
        return WorkOrder.model_validate_json(row[0]), WorkOrderState(row[1])

    def open_orders(self) -> list[tuple[WorkOrder, WorkOrderState]]:
        """Work orders not closed, oldest first."""
        rows = self._db.all(
            "SELECT body, state FROM work_orders WHERE state != ? ORDER BY rowid",
            (WorkOrderState.CLOSED.value,),
        )
        return [(WorkOrder.model_validate_json(b), WorkOrderState(s)) for b, s in rows]

    def save_report(self, work_order: str, body: str) -> None:
        """Keep a work order's reconciliation report (JSON), replacing an earlier one."""
        with self._db.transaction():
            self._db.run(
                "INSERT OR REPLACE INTO reports (work_order, body, created_at) VALUES (?,?,?)",
                (work_order, body, time.time()),
            )

    def report(self, work_order: str) -> str | None:
        """A work order's reconciliation report (JSON), or ``None`` before it closes."""
        row = self._db.one("SELECT body FROM reports WHERE work_order = ?", (work_order,))
        return None if row is None else str(row[0])
