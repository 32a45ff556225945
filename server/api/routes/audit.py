"""The audit trail over HTTP: routers record actions, inspectors and auditors read them.

Routers call :func:`audit_action` with the signed-in :class:`Principal` after making a
change, inside the request's transaction. Write routes take the reason as a ``reason``
query parameter (:data:`Reason`, optional; :data:`RequiredReason` for deletes and
recalls). ``GET /audit`` lists records with filters; ``GET /audit/verify`` recomputes
the whole chain. Only inspectors, auditors and administrators may read the trail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.api.deps import SessionDep, require_role
from server.audit import as_record, record_action, verify_stored_chain
from server.db.models import AuditEntry
from server.services.auth import Principal, Role

router = APIRouter(tags=["audit"])

#: Why a change is made; kept in the audit trail.
Reason = Annotated[
    str, Query(max_length=2000, description="Why this change is made (kept in the audit trail).")
]
#: The same, for actions that must say why (deletes, recalls).
RequiredReason = Annotated[
    str,
    Query(
        min_length=1,
        max_length=2000,
        description="Why this is done (required; kept in the audit trail).",
    ),
]

#: Who may read the audit trail (administrators always may).
AuditReader = Annotated[Principal, Depends(require_role(Role.INSPECTOR, Role.AUDITOR))]


def audit_action(
    session: Session,
    user: Principal,
    action: str,
    target: str = "",
    *,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """Record ``action`` on ``target`` by ``user`` in the request's transaction.

    Example: ``audit_action(session, user, "line.delete", "line:L1", reason="scrapped")``.
    """
    record_action(
        session,
        actor=user.username,
        role=user.role.value,
        action=action,
        target=target,
        reason=reason,
        details=details,
    )


class AuditRecordOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str
    reason: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    records: list[AuditRecordOut]
    #: The ``offset`` of the next page, or ``None`` on the last page.
    next_offset: int | None


class AuditVerification(BaseModel):
    intact: bool
    records: int
    head_seq: int | None
    breaks: list[str]


@router.get("/audit", response_model=AuditPage)
def list_audit_records(
    session: SessionDep,
    _: AuditReader,
    *,
    actor: Annotated[str | None, Query(max_length=200, description="Exact user name.")] = None,
    action: Annotated[
        str | None,
        Query(max_length=100, description="Exact action, or a prefix ending in '.' ('line.')."),
    ] = None,
    target: Annotated[
        str | None,
        Query(max_length=500, description="Exact target, or a prefix ending in ':' ('line:')."),
    ] = None,
    since: Annotated[AwareDatetime | None, Query(description="At or after (ISO 8601).")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Before (ISO 8601).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AuditPage:
    """Audit records, newest first, filtered by who, what, on what and when."""
    query = select(AuditEntry).order_by(AuditEntry.seq.desc())
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if action is not None:
        query = query.where(
            AuditEntry.action.startswith(action, autoescape=True)
            if action.endswith(".")
            else AuditEntry.action == action
        )
    if target is not None:
        query = query.where(
            AuditEntry.target.startswith(target, autoescape=True)
            if target.endswith(":")
            else AuditEntry.target == target
        )
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    rows = session.scalars(query.limit(limit + 1).offset(offset)).all()
    records = [AuditRecordOut(**as_record(row).model_dump()) for row in rows[:limit]]
    return AuditPage(records=records, next_offset=offset + limit if len(rows) > limit else None)


@router.get("/audit/verify", response_model=AuditVerification)
def verify_audit_trail(session: SessionDep, _: AuditReader) -> AuditVerification:
    """Recompute the whole chain: ``intact``, or every break with the record it is at."""
    report = verify_stored_chain(session)
    return AuditVerification(
        intact=report.intact,
        records=report.records,
        head_seq=report.head_seq,
        breaks=list(report.breaks),
    )
