"""The line's alarm book, and which contract code each situation on the line raises.

The MQTT contract has one code per kind of trouble (:class:`lineside.contract.AlarmCode`);
a few situations on the line have no code of their own and borrow the nearest one, named
here so the choice is made once.

>>> from datetime import UTC, datetime
>>> book = AlarmBook()
>>> _ = book.add(AlarmRecord(datetime.now(UTC), AlarmCode.PAPER_OUT, Severity.CRITICAL, "x"))
>>> book.shows(AlarmCode.PAPER_OUT), book.shows(AlarmCode.HEAD_OPEN), len(book)
(True, False, 1)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from lineside.contract import Alarm, AlarmCode, Severity

#: A case or pallet label that no case scanner confirmed (the scanner saw nothing useful).
CASE_LABEL_NOT_VERIFIED = AlarmCode.SCANNER_SILENT
#: A closed work order whose serials do not add up (as serious as a run of rejects).
RECONCILIATION_UNBALANCED = AlarmCode.TOO_MANY_REJECTS
#: The line's SSCC range running out (like the serial reserve).
SSCC_RANGE_LOW = AlarmCode.SERIALS_LOW
#: The line journal cannot be written: the outbox, which lives in it, takes nothing more.
JOURNAL_FAILED = AlarmCode.OUTBOX_FULL
#: The reject output (a gate or air jet) failed to fire: a device on the printing side.
REJECT_OUTPUT_FAILED = AlarmCode.PRINTER_OFFLINE


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    """An alarm as the operator screen shows it."""

    at: datetime
    code: AlarmCode
    severity: Severity
    message: str
    cleared: bool = False

    def message_for(self, site: str, line: str) -> Alarm:
        """The contract message that publishes this alarm."""
        return Alarm(
            site=site,
            line=line,
            code=self.code,
            severity=self.severity,
            message=self.message[:2000],
            cleared=self.cleared,
        )


class AlarmBook:
    """The latest alarms raised (or cleared) on the line, newest first."""

    def __init__(self, size: int = 50) -> None:
        self._records: deque[AlarmRecord] = deque(maxlen=size)

    def add(self, record: AlarmRecord) -> AlarmRecord:
        self._records.appendleft(record)
        return record

    def shows(self, code: AlarmCode) -> bool:
        """Whether an alarm with ``code`` is still in the book."""
        return any(record.code is code for record in self._records)

    def __iter__(self) -> Iterator[AlarmRecord]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> AlarmRecord:
        return self._records[index]
