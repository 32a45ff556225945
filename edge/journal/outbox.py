"""The outbox: messages waiting to be published, written with the changes they report.

The publisher (:mod:`edge.outbox`) reads and deletes rows on its own connection; this store
only queues them, inside whatever transaction the caller is in.

>>> from edge.journal.database import Database, connect
>>> from edge.journal.migrations import migrate
>>> db = Database(connect(":memory:"))
>>> _ = migrate(db.connection)
>>> outbox = OutboxStore(db)
>>> outbox.enqueue([OutboxItem("t/alarms", lambda seq: b'{"seq": %d}' % seq)])
>>> outbox.pending(), outbox.last_seqs
((1, 10), [1])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from edge.journal.database import Database


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A message to publish, built once its per-line sequence number is known."""

    topic: str
    build: Callable[[int], bytes]
    event_id: str | None = None


class OutboxStore:
    """Queues messages for the publisher, numbered by the durable ``event_seq`` counter."""

    def __init__(self, db: Database) -> None:
        self._db = db
        #: Outbox sequence numbers assigned by the last transaction that queued messages.
        self.last_seqs: list[int] = []

    def add(self, items: Iterable[OutboxItem]) -> None:
        """Queue ``items`` in the transaction the caller has open."""
        seqs = []
        for item in items:
            seq = self._db.next_counter("event_seq")
            seqs.append(seq)
            self._db.run(
                "INSERT INTO outbox (seq, topic, payload, event_id, created_at) VALUES (?,?,?,?,?)",
                (seq, item.topic, item.build(seq), item.event_id, time.time()),
            )
        if seqs:
            self.last_seqs = seqs

    def enqueue(self, items: Iterable[OutboxItem]) -> None:
        """Queue messages for publication (alarms, reports) in their own transaction."""
        with self._db.transaction():
            self.add(items)

    def pending(self) -> tuple[int, int]:
        """(messages, payload bytes) waiting for the broker's acknowledgement."""
        row = self._db.one("SELECT count(*), total(length(payload)) FROM outbox")
        assert row is not None
        return int(row[0]), int(row[1])

    def pending_events(self) -> set[str]:
        """The ``eventID`` of each EPCIS event (not alarms, acks or reports) still waiting
        for the broker or for the server's receipt."""
        rows = self._db.all("SELECT event_id FROM outbox WHERE event_id IS NOT NULL")
        return {str(row[0]) for row in rows}
