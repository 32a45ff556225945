"""The server's audit trail: append hash-chained records, find them, verify the chain.

Every administrator and operator action through the API is written as a
:class:`lineside.audit.AuditRecord` row (:class:`server.db.models.AuditEntry`) in the
same transaction as the change it describes, so a change without its record (or a record
without its change) never commits.

Appending locks the single :class:`~server.db.models.AuditHead` row first
(``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite the first write of a transaction takes
the database's only write lock), so concurrent requests queue up behind each other
instead of both extending the same record and forking the chain.

>>> from server.db import make_engine, make_session_factory
>>> from server.db.models import Base
>>> engine = make_engine("sqlite://")
>>> Base.metadata.create_all(engine)
>>> factory = make_session_factory(engine)
>>> with factory() as session, session.begin():
...     first = record_action(session, actor="admin", role="administrator",
...                           action="product.create", target="product:1")
>>> first.seq
1
>>> with factory() as session:
...     verify_stored_chain(session).intact
True
>>> engine.dispose()
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Select, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from lineside.audit import GENESIS, AuditRecord, verify_chain
from server.db.models import AuditEntry, AuditHead, UserRole

logger = logging.getLogger(__name__)

#: The id of the one :class:`AuditHead` row.
HEAD_ID = 1
#: Rows read per round trip while verifying.
VERIFY_BATCH = 1000

#: The longest text each field of :class:`AuditRecord` accepts.
_LIMITS = {"actor": 200, "role": 50, "action": 100, "target": 500, "reason": 2000}


def _fit(name: str, value: str) -> str:
    """``value`` cut to what the record accepts, marked with an ellipsis when cut."""
    limit: int = _LIMITS[name]
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _lock_head(session: Session) -> tuple[int, str]:
    """Create the head row if missing, lock it and return the (seq, hash) it points at."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    # A chain whose head row is gone (a restored backup, an emptied table) restarts from
    # its newest stored record, so appending never reuses a sequence number.
    newest = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    seq, digest = (newest[0], newest[1]) if newest is not None else (0, GENESIS)
    # On SQLite this write is also what takes the database's write lock for the rest of
    # the transaction; the read above may then be stale, so the head row is re-read.
    session.execute(
        insert(AuditHead)
        .values(id=HEAD_ID, seq=seq, hash=digest)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    head = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ID).with_for_update()
    ).one()
    return int(head[0]), str(head[1])


def record_action(
    session: Session,
    *,
    actor: str,
    role: str,
    action: str,
    target: str = "",
    reason: str = "",
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditRecord:
    """Append one record to the trail inside ``session``'s transaction and return it.

    Text longer than a record allows is cut (with "…"); the change itself keeps the full
    value. The caller commits: if its transaction rolls back, so does the record.
    """
    head_seq, head_hash = _lock_head(session)
    draft = AuditRecord(
        seq=head_seq + 1,
        at=(at or datetime.now(UTC)).astimezone(UTC),
        actor=_fit("actor", actor) or "?",
        role=_fit("role", role) or "?",
        action=_fit("action", action),
        target=_fit("target", target),
        reason=_fit("reason", reason),
        details=details or {},
        prev_hash=head_hash,
        hash=GENESIS,
    )
    record = draft.model_copy(update={"hash": draft.expected_hash()})
    session.add(AuditEntry(**record.model_dump()))
    session.execute(
        update(AuditHead).where(AuditHead.id == HEAD_ID).values(seq=record.seq, hash=record.hash)
    )
    session.flush()
    logger.debug("audit %d: %s %s by %s", record.seq, record.action, record.target, actor)
    return record


_COLUMNS = (
    AuditEntry.seq,
    AuditEntry.at,
    AuditEntry.actor,
    AuditEntry.role,
    AuditEntry.action,
    AuditEntry.target,
    AuditEntry.reason,
    AuditEntry.details,
    AuditEntry.prev_hash,
    AuditEntry.hash,
)


def as_record(row: Any) -> AuditRecord:
    """A stored row (entity or column tuple) as a record, without validation: a tampered
    row must still load so that verification can name it."""
    return AuditRecord.model_construct(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        role=row.role,
        action=row.action,
        target=row.target,
        reason=row.reason,
        details=row.details,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of :func:`verify_stored_chain`."""

    records: int
    head_seq: int | None
    breaks: tuple[str, ...]

    @property
    def intact(self) -> bool:
        return not self.breaks


def _stored(session: Session) -> Iterator[list[AuditRecord]]:
    after = 0
    while True:
        rows = session.execute(
            select(*_COLUMNS)
            .where(AuditEntry.seq > after)
            .order_by(AuditEntry.seq)
            .limit(VERIFY_BATCH)
        ).all()
        if not rows:
            return
        yield [as_record(row) for row in rows]
        after = rows[-1].seq


def verify_stored_chain(session: Session) -> ChainReport:
    """Recompute the whole stored chain and compare its end with the head row.

    Edited rows, deleted rows (also at the end of the trail, thanks to the head) and
    reordered rows are each reported with the record where the chain breaks.
    """
    breaks: list[str] = []
    previous: AuditRecord | None = None
    count = 0
    for batch in _stored(session):
        breaks += verify_chain(batch, start=previous)
        previous = batch[-1]
        count += len(batch)
    head = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ID)
    ).first()
    head_seq = None if head is None else int(head[0])
    if head is not None:
        last_seq, last_hash = (0, GENESIS) if previous is None else (previous.seq, previous.hash)
        if head_seq != last_seq:
            breaks.append(
                f"the trail ends at record {last_seq} but its head is record {head_seq}: "
                "records were removed from the end"
                if head_seq is not None and head_seq > last_seq
                else f"the trail ends at record {last_seq} but its head is record {head_seq}"
            )
        elif head[1] != last_hash:
            breaks.append(f"record {last_seq}: hash differs from the one the head recorded")
    elif count:
        breaks.append("the head of the trail is missing")
    return ChainReport(records=count, head_seq=head_seq, breaks=tuple(breaks))


# --------------------------------------------------------------------------- as the API uses it


class Actor(Protocol):
    """Who acts: a signed-in principal (:class:`server.services.auth.Principal`)."""

    @property
    def username(self) -> str: ...

    @property
    def role(self) -> UserRole: ...


def audit_action(
    session: Session,
    user: Actor,
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


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which records to list: exact values, or prefixes ending in ``.`` (actions) and
    ``:`` (targets); ``since`` inclusive, ``until`` exclusive."""

    actor: str | None = None
    action: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def statement(self) -> Select[AuditEntry]:
        """The SELECT for these filters, newest record first."""
        query = select(AuditEntry).order_by(AuditEntry.seq.desc())
        if self.actor is not None:
            query = query.where(AuditEntry.actor == self.actor)
        if self.action is not None:
            query = query.where(
                AuditEntry.action.startswith(self.action, autoescape=True)
                if self.action.endswith(".")
                else AuditEntry.action == self.action
            )
        if self.target is not None:
            query = query.where(
                AuditEntry.target.startswith(self.target, autoescape=True)
                if self.target.endswith(":")
                else AuditEntry.target == self.target
            )
        if self.since is not None:
            query = query.where(AuditEntry.at >= self.since)
        if self.until is not None:
            query = query.where(AuditEntry.at < self.until)
        return query


def find_records(
    session: Session, query: AuditQuery, *, limit: int, offset: int
) -> tuple[list[AuditRecord], int | None]:
    """One page of records matching ``query`` and the offset of the next page (or None)."""
    rows = session.scalars(query.statement().limit(limit + 1).offset(offset)).all()
    records = [as_record(row) for row in rows[:limit]]
    return records, offset + limit if len(rows) > limit else None
