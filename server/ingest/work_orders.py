"""Work orders on the server follow what their line reports: the counts and the state from
the line's status, the close and the reconciliation from the report the line publishes.

A closed or cancelled order is never reopened by a late status message.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lineside import contract
from server.db.models import WorkOrder, WorkOrderState

_FINAL = frozenset({WorkOrderState.CLOSED, WorkOrderState.CANCELLED})
_STATE_OF_LINE = {
    contract.LineState.RUNNING: WorkOrderState.RUNNING,
    contract.LineState.PAUSED: WorkOrderState.PAUSED,
}


def _order(session: Session, line_id: str, code: str) -> WorkOrder | None:
    return session.scalar(
        select(WorkOrder).where(WorkOrder.line_id == line_id, WorkOrder.code == code)
    )


def follow_status(session: Session, status: contract.LineStatus) -> None:
    """Copy the counts (and running or paused) of the line's current work order."""
    if status.work_order is None:
        return
    order = _order(session, status.line, status.work_order)
    if order is None or order.state in _FINAL:
        return
    counters = status.counters
    order.allocated = max(order.allocated, counters.allocated)
    order.commissioned = max(order.commissioned, counters.commissioned)
    order.rejected = max(order.rejected, counters.rejected)
    state = _STATE_OF_LINE.get(status.state)
    if state is not None:
        order.state = state
        if state is WorkOrderState.RUNNING and order.started_at is None:
            order.started_at = status.updated_at


def follow_reconciliation(session: Session, report: contract.ReconciliationReport) -> None:
    """Close the work order with the line's final counts."""
    order = _order(session, report.line, report.work_order)
    if order is None:
        return
    lots = report.lots
    order.allocated = sum(lot.allocated for lot in lots)
    order.commissioned = sum(lot.commissioned for lot in lots)
    order.rejected = sum(lot.rejected + lot.voided for lot in lots)
    order.sampled = sum(lot.sampled for lot in lots)
    order.returned = sum(lot.returned for lot in lots)
    if order.state is not WorkOrderState.CANCELLED:
        order.state = WorkOrderState.CLOSED
    closed_at: datetime = report.closed_at
    order.closed_at = order.closed_at or closed_at
