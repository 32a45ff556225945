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
from server.services.desk import explain_dead_letter

router = APIRouter(tags=["operations"])

#: How much of a refused payload is shown (the whole of it stays in the database).
SHOWN_PAYLOAD_BYTES = 4096


class DeadLetterOut(BaseModel):
    id: int
    topic: str
    line_id: str | None
    organisation_id: int | None
    reason: str
    meaning: str = Field(description="What the reason means, in Vietnamese.")
    fix: str = Field(description="What to do before replaying it, in Vietnamese.")
    received_at: datetime
    payload: str = Field(description="The start of the refused payload, as text.")


def _out(row: DeadLetter) -> DeadLetterOut:
    why = explain_dead_letter(row.reason)
    return DeadLetterOut(
        id=row.id,
        topic=row.topic,
        line_id=row.line_id,
        organisation_id=row.organisation_id,
        reason=row.reason,
        meaning=why.meaning,
        fix=why.fix,
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
    """Messages and events the server refused, newest first, with the reason, what it
    means and how to fix it (in Vietnamese) before replaying it."""
    rows = list_dead_letters(
        session, limit=limit, line_id=line_id, before_id=before_id, scope=scope
    )
    return [_out(row) for row in rows]
