"""Refused messages, as the organisations concerned may read them.

The ingestor keeps every message it cannot store (:class:`~server.db.models.DeadLetter`),
and the capture interface every event it refuses, with the reason; a refusal of a
line's message is filed under the line's organisation, so its users can see why their
events were not stored. Province-wide roles read them all.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import DeadLetter
from server.services.tenancy import PROVINCE, Scope, scoped

__all__ = ["list_dead_letters"]


def list_dead_letters(
    session: Session,
    *,
    limit: int,
    line_id: str | None = None,
    before_id: int | None = None,
    scope: Scope = PROVINCE,
) -> list[DeadLetter]:
    """Dead letters within ``scope``, newest first; of one line when given; older than
    ``before_id`` when given (paging)."""
    query = scoped(select(DeadLetter), DeadLetter, scope)
    if line_id is not None:
        query = query.where(DeadLetter.line_id == line_id)
    if before_id is not None:
        query = query.where(DeadLetter.id < before_id)
    return list(session.scalars(query.order_by(DeadLetter.id.desc()).limit(limit)))
