"""Replaying a dead letter once its cause is fixed (the desk's "Gửi lại" button).

The message goes through ingestion again, exactly as if the line had sent it now.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from server.db.models import DeadLetter
from server.ingest.processing import BatchProcessor, InboundMessage
from server.services.tenancy import PROVINCE, Scope, get_scoped

__all__ = ["ReplayOutcome", "replay_dead_letter"]


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    """What became of a replayed dead letter: stored, or refused again with a new reason."""

    stored: bool
    reason: str = ""


def replay_dead_letter(
    factory: sessionmaker[Session], letter_id: int, scope: Scope = PROVINCE
) -> ReplayOutcome:
    """Feed a dead letter through ingestion again; it is removed once it has been through,
    and comes back as a new dead letter with today's reason when it is still refused.

    The original is deleted only after the replay, so a database outage loses nothing.
    """
    with factory() as session:
        letter = get_scoped(session, DeadLetter, letter_id, scope)  # another's: not found
        message = InboundMessage(letter.topic, bytes(letter.payload))
    result = BatchProcessor(factory).process([message])
    with factory() as session, session.begin():
        session.execute(delete(DeadLetter).where(DeadLetter.id == letter_id))
    if result.dead_letters == 0:
        return ReplayOutcome(stored=True)
    with factory() as session:
        reason = session.scalar(
            select(DeadLetter.reason)
            .where(DeadLetter.topic == message.topic)
            .order_by(DeadLetter.id.desc())
            .limit(1)
        )
    return ReplayOutcome(stored=False, reason=reason or "")
