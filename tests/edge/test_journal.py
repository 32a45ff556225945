"""The journal's schema migrations, its error translation and the reads it offers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge.journal import Journal, JournalError, JournalWriteError, SerialState, is_write_failure
from edge.journal.migrations import LATEST, MIGRATIONS
from edge.journal.outbox import OutboxItem

GTIN = "08934567890120"

# The schema of the first journals, before the audit trail was hash-chained and before the
# reserve was kept per GTIN; they carry no user_version.
FIRST_DDL = """
CREATE TABLE reserve (serial TEXT PRIMARY KEY, source TEXT NOT NULL);
CREATE TABLE serials (
    serial TEXT PRIMARY KEY, gtin TEXT NOT NULL, lot TEXT NOT NULL, work_order TEXT NOT NULL,
    state TEXT NOT NULL, reason TEXT, container TEXT, allocated_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX serials_by_order ON serials (work_order, state);
CREATE TABLE work_orders (
    id TEXT PRIMARY KEY, body TEXT NOT NULL, state TEXT NOT NULL, updated_at REAL NOT NULL
);
CREATE TABLE containers (
    sscc TEXT PRIMARY KEY, level TEXT NOT NULL, work_order TEXT NOT NULL, parent TEXT,
    children INTEGER NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, operator TEXT NOT NULL,
    action TEXT NOT NULL, serial TEXT, reason TEXT NOT NULL
);
CREATE TABLE reports (work_order TEXT PRIMARY KEY, body TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL, event_id TEXT,
    created_at REAL NOT NULL
);
INSERT INTO reserve VALUES ('R1', 'local'), ('R2', 'local');
INSERT INTO serials VALUES ('S1', '08934567890120', 'L1', 'WO-0', 'commissioned', NULL, NULL,
                            100.0, 101.0);
INSERT INTO counters VALUES ('event_seq', 41), ('sscc_reference', 7);
INSERT INTO outbox VALUES (41, 'f/L1/events', x'7b7d', 'ni:///e41', 101.0);
INSERT INTO audit (at, operator, action, serial, reason) VALUES (100.5, 'Lan', 'void', 'S0', 'x');
"""

# Journals written after both changes but before the schema was versioned.
UNVERSIONED_DDL = (
    FIRST_DDL
    + """
ALTER TABLE reserve ADD COLUMN gtin TEXT;
CREATE INDEX reserve_by_gtin ON reserve (gtin);
INSERT INTO reserve VALUES ('R3', 'block:B1', '08934567890120');
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL,
    action TEXT NOT NULL, target TEXT NOT NULL, reason TEXT NOT NULL, details TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
"""
)


def old_journal(path: Path, ddl: str) -> Path:
    with sqlite3.connect(path) as db:
        db.executescript(ddl)
    db.close()
    return path


def user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def test_migrations_are_numbered_one_by_one() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, LATEST + 1))


def test_a_new_journal_is_at_the_latest_version(tmp_path: Path) -> None:
    Journal.open(tmp_path / "line.db").close()
    assert user_version(tmp_path / "line.db") == LATEST


@pytest.mark.parametrize("ddl", [FIRST_DDL, UNVERSIONED_DDL], ids=["first", "unversioned"])
def test_an_old_journal_is_migrated_and_keeps_its_data(tmp_path: Path, ddl: str) -> None:
    path = old_journal(tmp_path / "line.db", ddl)
    assert user_version(path) == 0
    journal = Journal.open(path)
    assert user_version(path) == LATEST
    # What the old journal held is all there.
    assert journal.serials.state_of("S1") is SerialState.COMMISSIONED
    assert journal.outbox.pending() == (1, 2)
    assert journal.containers.next_sscc_reference(1, 100) == 8
    # Serials reserved before reserves were kept per GTIN fit any GTIN.
    assert journal.serials.reserve_size("08934567890007") == 2
    assert journal.serials.allocate(2, work_order="WO-1", gtin="08934567890007", lot="L") == [
        "R1",
        "R2",
    ]
    # The hash-chained audit trail works, and event numbers go on from the old counter.
    journal.audit.append(operator="Lan", action="void", serial="S1", reason="torn")
    assert journal.audit.verify() == []
    journal.outbox.enqueue([OutboxItem("f/L1/alarms", lambda seq: str(seq).encode())])
    assert journal.outbox.last_seqs == [42]
    journal.close()
    # Opening it again migrates nothing more.
    Journal.open(path).close()
    assert user_version(path) == LATEST


def test_an_unversioned_journal_keeps_its_reserve_per_gtin(tmp_path: Path) -> None:
    journal = Journal.open(old_journal(tmp_path / "line.db", UNVERSIONED_DDL))
    assert journal.serials.reserve_size(GTIN) == 3
    assert journal.serials.reserve_size("08934567890007") == 2
    journal.close()


def test_a_journal_from_a_newer_lineside_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "line.db"
    Journal.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {LATEST + 1}")
    db.close()
    with pytest.raises(JournalError, match=f"schema version {LATEST + 1} is newer"):
        Journal.open(path)


def test_a_full_disk_is_a_journal_write_error(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "line.db")
    pages = journal.connection.execute("PRAGMA page_count").fetchone()[0]
    journal.connection.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(JournalWriteError, match="database or disk is full") as raised:
        journal.serials.add_to_reserve([f"S{n:06d}" for n in range(5000)], source="local")
    assert is_write_failure(raised.value)
    assert isinstance(raised.value.__cause__, sqlite3.Error)
    assert journal.serials.reserve_size() == 0  # the failed transaction left nothing
    journal.close()


def test_other_sqlite_errors_are_journal_errors_not_write_failures(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "line.db")
    journal.containers.add("089345670000000017", level="case", work_order="WO-1")
    with pytest.raises(JournalError, match="UNIQUE constraint failed") as raised:
        journal.containers.add("089345670000000017", level="case", work_order="WO-1")
    assert not is_write_failure(raised.value)
    journal.close()


def test_cases_and_pallets_are_counted_per_work_order_and_level(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "line.db")
    for n, (level, order) in enumerate(
        [("case", "WO-1"), ("case", "WO-1"), ("pallet", "WO-1"), ("case", "WO-2")]
    ):
        journal.containers.add(f"0893456700000000{n:02d}", level=level, work_order=order)
    assert journal.containers.count_of_order("WO-1", "case") == 2
    assert journal.containers.count_of_order("WO-1", "pallet") == 1
    assert journal.containers.count_of_order("WO-2", "case") == 1
    assert journal.containers.count_of_order("WO-3", "case") == 0
    journal.close()


def test_reads_for_the_demo_and_the_benchmarks(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "line.db")
    journal.serials.add_to_reserve(["A", "B", "C"], source="local")
    journal.serials.allocate(3, work_order="WO-1", gtin=GTIN, lot="L")
    for serial in ("A", "B", "C"):
        journal.serials.transition(serial, SerialState.SENT)
    event = OutboxItem("f/L1/events", lambda seq: b"{}", event_id="ni:///e1")
    journal.serials.transition("A", SerialState.COMMISSIONED, outbox=[event])
    journal.serials.transition("B", SerialState.REJECTED, reason="no read")
    journal.outbox.enqueue([OutboxItem("f/L1/alarms", lambda seq: b"{}")])
    allocated = journal.serials.allocated_at("WO-1", SerialState.COMMISSIONED)
    assert list(allocated) == ["A"]
    assert allocated["A"] > 0
    assert journal.serials.state_counts("WO-1") == {
        SerialState.COMMISSIONED: 1,
        SerialState.REJECTED: 1,
        SerialState.SENT: 1,
    }
    assert len(journal.outbox.pending_events()) == 1  # the alarm is not an event
    assert journal.outbox.pending()[0] == 2
    journal.close()


def test_transition_many_moves_all_or_none(tmp_path: Path) -> None:
    j = Journal.open(tmp_path / "line.db")
    j.serials.add_to_reserve(["A", "B", "C"], source="local")
    j.serials.allocate(3, work_order="WO1", gtin="08934567890128", lot="L1")
    j.serials.transition("C", SerialState.VOIDED, reason="test")
    j.hold()
    j.serials.transition_many(["A"], SerialState.ALLOCATED, SerialState.SENT)
    with pytest.raises(JournalError, match="1 of 2 serials were not allocated"):
        j.serials.transition_many(["B", "C"], SerialState.ALLOCATED, SerialState.SENT)
    j.flush()  # the group goes on without the refused statement
    states = {s: j.serials.state_of(s) for s in "ABC"}
    assert states == {"A": SerialState.SENT, "B": SerialState.ALLOCATED, "C": SerialState.VOIDED}
    with pytest.raises(JournalError, match="cannot go from allocated to commissioned"):
        j.serials.transition_many(["B"], SerialState.ALLOCATED, SerialState.COMMISSIONED)


def test_the_reserve_size_follows_additions_allocations_and_rollbacks(tmp_path: Path) -> None:
    j = Journal.open(tmp_path / "line.db")
    gtin = "08934567890128"
    j.serials.add_to_reserve(["A", "B", "C"], source="local")
    j.serials.add_to_reserve(["D", "E"], source="server", gtin=gtin)
    assert (j.serials.reserve_size(), j.serials.reserve_size(gtin)) == (5, 5)
    assert j.serials.reserve_size("08934567890111") == 3
    j.serials.allocate(3, work_order="WO1", gtin=gtin, lot="L1")  # D, E, then A
    assert (j.serials.reserve_size(gtin), j.serials.reserve_size("08934567890111")) == (2, 2)

    def allocate_then_fail() -> None:
        with j.transaction():
            j.serials.allocate(2, work_order="WO1", gtin=gtin, lot="L1")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        allocate_then_fail()
    assert j.serials.reserve_size(gtin) == 2
    again = Journal.open(tmp_path / "line.db")  # counted from the database
    assert again.serials.reserve_size(gtin) == 2


def test_in_state_of_keeps_the_given_order_past_the_parameter_limit(tmp_path: Path) -> None:
    j = Journal.open(tmp_path / "line.db")
    serials = [f"S{n:04d}" for n in range(1200)]
    j.serials.add_to_reserve(serials, source="local")
    j.serials.allocate(1200, work_order="WO1", gtin="08934567890128", lot="L1")
    voided = serials[::7]
    for serial in voided:
        j.serials.transition(serial, SerialState.VOIDED, reason="test")
    asked = [*reversed(serials), "UNKNOWN"]
    assert j.serials.in_state_of(asked, SerialState.VOIDED) == list(reversed(voided))
    allocated = j.serials.in_state_of(asked, SerialState.ALLOCATED)
    assert len(allocated) == 1200 - len(voided)
