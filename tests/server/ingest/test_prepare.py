"""Preparing a batch needs no database and never raises; storing it is a second step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.db.models import DeadLetter, Event
from server.ingest import BatchEventValidator, BatchProcessor, InboundMessage
from server.ingest.validation import EpcisValidator
from tests.server.factories import add_line, object_event, sgtin
from tests.server.ingest.conftest import event_message

TOPIC = "lineside/v1/s1/L1/events"


def _messages(count: int, first: int = 0) -> list[InboundMessage]:
    return [
        InboundMessage(TOPIC, event_message("s1", "L1", n, object_event([sgtin(n)], seed=f"p{n}")))
        for n in range(first, first + count)
    ]


class Exploding:
    """A validator with a bug: it raises on every event."""

    def __call__(self, event: dict[str, Any]) -> Sequence[str]:
        raise KeyError("boom")


class ExplodingBatch(Exploding):
    """Fails on batches too; the processor must fall back, then dead-letter."""

    def many(self, events: Sequence[dict[str, Any]]) -> Sequence[Sequence[str]]:
        raise RuntimeError("batch boom")


def test_prepare_sorts_messages_without_a_database() -> None:
    # No engine at all: a database call would fail.
    processor = BatchProcessor(sessionmaker(), EpcisValidator(), max_payload_bytes=4096)
    oversized = InboundMessage(TOPIC, b"x" * 5000)
    bad_event = InboundMessage(
        TOPIC, event_message("s1", "L1", 9, object_event([sgtin(9)]) | {"action": "MOVE"})
    )
    prepared = processor.prepare([*_messages(3), InboundMessage(TOPIC, b"{"), oversized, bad_event])
    assert len(prepared.messages) == 6
    assert [item.indexed.event_id for item in prepared.decoded if item.indexed] == [
        object_event([sgtin(n)], seed=f"p{n}")["eventID"] for n in range(3)
    ]
    reasons = [reason for _, reason in prepared.rejected]
    assert reasons[0].startswith("contract: ")
    assert reasons[1] == "payload of 5000 bytes exceeds 4096 bytes"
    assert reasons[2].startswith("invalid EPCIS event: action: 'MOVE'")


def test_the_default_validator_checks_batches_at_once() -> None:
    assert isinstance(EpcisValidator(), BatchEventValidator)
    assert not isinstance(Exploding(), BatchEventValidator)


def test_a_validator_bug_dead_letters_the_messages_and_stops_nothing(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    add_line(session, "L1", "s1")
    for validator in (Exploding(), ExplodingBatch()):
        prepared = BatchProcessor(session_factory, validator).prepare(_messages(2))
        assert [reason for _, reason in prepared.rejected] == [
            "internal error: KeyError: 'boom'"
        ] * 2
    result = BatchProcessor(session_factory, ExplodingBatch()).process(_messages(2))
    assert (result.stored, result.dead_letters) == (0, 2)
    assert session.scalar(select(func.count()).select_from(DeadLetter)) == 2


def test_store_after_prepare_is_process(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    add_line(session, "L1", "s1")
    processor = BatchProcessor(session_factory, EpcisValidator())
    first = processor.store(processor.prepare(_messages(4)))
    again = processor.process(_messages(6))
    assert (first.stored, again.stored, again.duplicates) == (4, 2, 4)
    assert session.scalar(select(func.count()).select_from(Event)) == 6
