"""The line's operator audit trail: hash-chained records of voids, reprints, overrides, closes.

>>> from edge.journal import Journal
>>> j = Journal.open(":memory:")
>>> j.audit.append(operator="Lan", action="void", serial="S1", reason="torn").target
'serial:S1'
>>> j.audit.verify()
[]
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from edge.journal.database import Database, Row
from edge.journal.errors import JournalError
from lineside.audit import AuditRecord, verify_chain

_SELECT = (
    "SELECT seq, at, actor, role, action, target, reason, details, prev_hash, hash FROM audit_log"
)


def _record(row: Row) -> AuditRecord:
    seq = row[0]
    try:
        return AuditRecord(
            seq=seq,
            at=datetime.fromisoformat(row[1]),
            actor=row[2],
            role=row[3],
            action=row[4],
            target=row[5],
            reason=row[6],
            details=json.loads(row[7]),
            prev_hash=row[8],
            hash=row[9],
        )
    except (ValueError, TypeError) as exc:
        # pydantic's ValidationError is a ValueError; so are bad JSON and bad ISO times.
        first = str(exc).splitlines()
        raise JournalError(
            f"record {seq} (audit_log row): unreadable: {first[-1].strip() if first else exc}"
        ) from exc


class AuditStore:
    """Appends to and reads the ``audit_log`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def append(
        self,
        *,
        operator: str,
        action: str,
        reason: str,
        serial: str | None = None,
        target: str | None = None,
        role: str = "operator",
        details: dict[str, Any] | None = None,
    ) -> AuditRecord:
        """Append a hash-chained record to the audit trail (joins an open transaction).

        ``target`` defaults to ``serial:<serial>`` when a serial is given.
        """
        with self._db.transaction():
            row = self._db.one(f"{_SELECT} ORDER BY seq DESC LIMIT 1")
            previous = None if row is None else _record(row)
            record = AuditRecord.create(
                previous,
                at=datetime.now(UTC),
                actor=operator,
                role=role,
                action=action,
                target=target if target is not None else (f"serial:{serial}" if serial else ""),
                reason=reason,
                details=details,
            )
            self._db.run(
                "INSERT INTO audit_log (seq, at, actor, role, action, target, reason, details, "
                "prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    record.seq,
                    record.at.isoformat(),
                    record.actor,
                    record.role,
                    record.action,
                    record.target,
                    record.reason,
                    json.dumps(record.details, sort_keys=True, ensure_ascii=False),
                    record.prev_hash,
                    record.hash,
                ),
            )
        return record

    def records(self) -> list[AuditRecord]:
        """The audit records in order (raises :class:`JournalError` for an unreadable row)."""
        return [_record(row) for row in self._db.all(f"{_SELECT} ORDER BY seq")]

    def verify(self) -> list[str]:
        """Every break in the audit trail's hash chain, described; empty when intact.

        A row that no longer parses (a hash that is not hex, a bad time) is reported, and the
        chain is checked on from it, so one edit does not hide the next.
        """
        problems: list[str] = []
        records: list[AuditRecord] = []
        for row in self._db.all(f"{_SELECT} ORDER BY seq"):
            try:
                records.append(_record(row))
            except JournalError as exc:
                problems.append(str(exc))
        return problems + verify_chain(records)
