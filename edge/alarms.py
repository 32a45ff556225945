"""The line's alarm book, and which contract code each situation on the line raises.

The MQTT contract has one code per kind of trouble (:class:`lineside.contract.AlarmCode`);
a few situations on the line have no code of their own and borrow the nearest one, named
here so the choice is made once.

>>> from datetime import UTC, datetime
>>> book = AlarmBook()
>>> _ = book.add(AlarmRecord(datetime.now(UTC), AlarmCode.PAPER_OUT, Severity.CRITICAL, "x"))
>>> book.shows(AlarmCode.PAPER_OUT), book.shows(AlarmCode.HEAD_OPEN), len(book)
(True, False, 1)
>>> [a.code.value for a in book.active()]
['paper_out']
>>> _ = book.add(AlarmRecord(datetime.now(UTC), AlarmCode.PAPER_OUT, Severity.INFO, "y", True))
>>> book.active(), [a.code.value for a in book.history()]
([], ['paper_out'])
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import count

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


#: Alarms whose condition reports its own end (the printer is ready, the scanner is back):
#: acknowledging one only says someone saw it. Any other alarm ends when acknowledged.
SELF_CLEARING = frozenset(
    {
        AlarmCode.PAPER_OUT,
        AlarmCode.RIBBON_OUT,
        AlarmCode.HEAD_OPEN,
        AlarmCode.PRINTER_PAUSED,
        AlarmCode.PRINTER_OFFLINE,
        AlarmCode.SCANNER_OFFLINE,
        AlarmCode.SCANNER_SILENT,
        AlarmCode.BROKER_UNREACHABLE,
    }
)


@dataclass(slots=True)
class AlarmSpan:
    """One alarm from when it was raised to when it ended (``ended`` ``None``: active)."""

    id: int
    code: AlarmCode
    severity: Severity
    message: str
    raised: datetime
    ended: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None


class AlarmBook:
    """The latest alarms raised (or cleared) on the line, newest first; and the same
    alarms as spans: the active ones, and a history of ended ones with their durations."""

    def __init__(self, size: int = 50) -> None:
        self._records: deque[AlarmRecord] = deque(maxlen=size)
        self._active: list[AlarmSpan] = []
        self._history: deque[AlarmSpan] = deque(maxlen=size)
        self._ids = count(1)

    def add(self, record: AlarmRecord) -> AlarmRecord:
        self._records.appendleft(record)
        same = [span for span in self._active if span.code is record.code]
        if record.cleared:
            for span in same:
                self._end(span, record.at)
        elif same:
            same[0].message = record.message  # still the same trouble
        else:
            self._active.insert(
                0,
                AlarmSpan(next(self._ids), record.code, record.severity, record.message, record.at),
            )
        return record

    def _end(self, span: AlarmSpan, at: datetime) -> None:
        span.ended = at
        self._active.remove(span)
        self._history.appendleft(span)

    def active(self) -> list[AlarmSpan]:
        """The alarms still on, newest first."""
        return list(self._active)

    def history(self) -> list[AlarmSpan]:
        """The alarms that ended, most recently ended first."""
        return list(self._history)

    def acknowledge(self, alarm_id: int, operator: str, at: datetime) -> AlarmSpan | None:
        """``operator`` saw the active alarm ``alarm_id``; ``None`` if there is none.

        An alarm whose condition cannot report its own end (:data:`SELF_CLEARING`) ends here.
        """
        for span in self._active:
            if span.id == alarm_id:
                span.acknowledged_by, span.acknowledged_at = operator, at
                if span.code not in SELF_CLEARING:
                    self._end(span, at)
                return span
        return None

    def shows(self, code: AlarmCode) -> bool:
        """Whether an alarm with ``code`` is still in the book."""
        return any(record.code is code for record in self._records)

    def __iter__(self) -> Iterator[AlarmRecord]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> AlarmRecord:
        return self._records[index]
