"""The audit trail over HTTP: inspectors, auditors and administrators read it.

Routers record their changes through :mod:`server.services` (which write the trail in
the request's transaction). ``GET /audit`` lists records with filters;
``GET /audit/verify`` recomputes the whole chain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel

from server.api.deps import AuditReader, SessionDep
from server.services.audit import AuditQuery, find_records, verify_stored_chain

router = APIRouter(tags=["audit"])


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
    query = AuditQuery(actor=actor, action=action, target=target, since=since, until=until)
    records, next_offset = find_records(session, query, limit=limit, offset=offset)
    return AuditPage(
        records=[AuditRecordOut(**record.model_dump()) for record in records],
        next_offset=next_offset,
    )


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
