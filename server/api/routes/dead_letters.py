"""Refused messages and events (``GET /dead-letters``), each with the reason.

Business users read their own organisation's (its lines' refused messages, its users'
refused captures); inspectors and auditors read every one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from server.api.deps import ReaderUser, ScopeDep, SessionDep
from server.db.models import DeadLetter
from server.services.dead_letters import list_dead_letters

router = APIRouter(tags=["operations"])

#: How much of a refused payload is shown (the whole of it stays in the database).
SHOWN_PAYLOAD_BYTES = 4096


class DeadLetterOut(BaseModel):
    id: int
    topic: str
    line_id: str | None
    organisation_id: int | None
    reason: str
    received_at: datetime
    payload: str = Field(description="The start of the refused payload, as text.")


def _out(row: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut(
        id=row.id,
        topic=row.topic,
        line_id=row.line_id,
        organisation_id=row.organisation_id,
        reason=row.reason,
        received_at=row.received_at,
        payload=row.payload[:SHOWN_PAYLOAD_BYTES].decode("utf-8", errors="replace"),
    )


@router.get("/dead-letters", response_model=list[DeadLetterOut])
def get_dead_letters(
    session: SessionDep,
    _: ReaderUser,
    scope: ScopeDep,
    line_id: Annotated[str | None, Query(max_length=64)] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeadLetterOut]:
    """Messages and events the server refused, newest first, with the reason."""
    rows = list_dead_letters(
        session, limit=limit, line_id=line_id, before_id=before_id, scope=scope
    )
    return [_out(row) for row in rows]
