"""A hash-chained audit trail: who did what, when and why, with tampering detectable.

Every record carries the SHA-256 of its own canonical content and of the previous record's
hash, so editing, deleting or reordering any record breaks the chain from that point on.
The module is storage-agnostic: the edge journal and the server database both keep
:class:`AuditRecord` rows and call :func:`verify_chain` when an inspector asks.

>>> from datetime import UTC, datetime
>>> t = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
>>> first = AuditRecord.create(None, at=t, actor="op-7", role="operator",
...                            action="void", target="serial:Ab3xKm9pQr7t", reason="smudged")
>>> second = AuditRecord.create(first, at=t, actor="admin", role="administrator",
...                             action="recall", target="lot:08934567890120/L42", reason="mould")
>>> verify_chain([first, second])
[]
>>> edited = first.model_copy(update={"reason": "nothing happened"})
>>> verify_chain([edited, second])[0]
'record 1 (void by op-7): content does not match its hash'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: The "previous hash" of the first record of a chain.
GENESIS = "0" * 64


class AuditRecord(BaseModel):
    """One audited action. ``seq`` starts at 1 and increases by one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1)
    at: datetime
    actor: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=50)
    action: str = Field(min_length=1, max_length=100)
    target: str = Field(default="", max_length=500)
    reason: str = Field(default="", max_length=2000)
    details: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")

    @classmethod
    def create(
        cls,
        previous: AuditRecord | None,
        *,
        at: datetime,
        actor: str,
        role: str,
        action: str,
        target: str = "",
        reason: str = "",
        details: dict[str, Any] | None = None,
    ) -> AuditRecord:
        """The record that follows ``previous`` (``None`` for the first of a chain)."""
        if at.tzinfo is None:
            raise ValueError("audit time must carry a time-zone offset")
        content: dict[str, Any] = {
            "seq": 1 if previous is None else previous.seq + 1,
            "at": at,
            "actor": actor,
            "role": role,
            "action": action,
            "target": target,
            "reason": reason,
            "details": details or {},
            "prev_hash": GENESIS if previous is None else previous.hash,
        }
        return cls(**content, hash=_digest(content))

    def expected_hash(self) -> str:
        """The hash this record's content should have."""
        return _digest(self.model_dump(exclude={"hash"}))


def _digest(content: dict[str, Any]) -> str:
    canonical = dict(content)
    at = canonical["at"]
    canonical["at"] = at.isoformat() if isinstance(at, datetime) else at
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify_chain(records: Iterable[AuditRecord], *, start: AuditRecord | None = None) -> list[str]:
    """Every break in the chain, described; an empty list means the trail is intact.

    ``start`` is the record just before the first of ``records`` when verifying a slice.
    """
    problems: list[str] = []
    previous = start
    for record in records:
        label = f"record {record.seq} ({record.action} by {record.actor})"
        expected_seq = 1 if previous is None else previous.seq + 1
        if record.seq != expected_seq:
            problems.append(f"{label}: sequence {expected_seq} expected, got {record.seq}")
        expected_prev = GENESIS if previous is None else previous.hash
        if record.prev_hash != expected_prev:
            problems.append(f"{label}: does not follow the previous record's hash")
        if record.hash != record.expected_hash():
            problems.append(f"{label}: content does not match its hash")
        previous = record
    return problems
