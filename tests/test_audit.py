"""The hash-chained audit trail detects edits, deletions, insertions and reordering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lineside.audit import GENESIS, AuditRecord, verify_chain

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def _chain(n: int) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    for i in range(n):
        records.append(
            AuditRecord.create(
                records[-1] if records else None,
                at=T0 + timedelta(seconds=i),
                actor=f"user-{i % 3}",
                role="operator",
                action="void" if i % 2 else "reprint",
                target=f"serial:S{i:04d}",
                reason="nhãn bị nhòe",
                details={"unit": i},
            )
        )
    return records


def test_an_intact_chain_verifies() -> None:
    records = _chain(5)
    assert records[0].prev_hash == GENESIS
    assert verify_chain(records) == []
    assert verify_chain(records[2:], start=records[1]) == []


def test_an_edited_record_is_detected() -> None:
    records = _chain(4)
    records[2] = records[2].model_copy(update={"reason": "no reason"})
    assert verify_chain(records) == [
        "record 3 (reprint by user-2): content does not match its hash"
    ]


def test_a_rehashed_edit_breaks_the_next_link() -> None:
    records = _chain(4)
    forged = records[1].model_copy(update={"actor": "someone-else"})
    forged = forged.model_copy(update={"hash": forged.expected_hash()})
    records[1] = forged
    assert verify_chain(records) == [
        "record 3 (reprint by user-2): does not follow the previous record's hash"
    ]


def test_a_deleted_record_is_detected() -> None:
    records = _chain(4)
    del records[1]
    problems = verify_chain(records)
    assert problems[0] == "record 3 (reprint by user-2): sequence 2 expected, got 3"
    assert "does not follow the previous record's hash" in problems[1]


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="time-zone offset"):
        AuditRecord.create(None, at=datetime(2026, 1, 1), actor="a", role="r", action="x")


@given(st.integers(min_value=2, max_value=12), st.data())
def test_any_swap_is_detected(n: int, data: st.DataObject) -> None:
    records = _chain(n)
    i = data.draw(st.integers(min_value=0, max_value=n - 2))
    records[i], records[i + 1] = records[i + 1], records[i]
    assert verify_chain(records) != []
