"""The line's rolling print-quality grade, sans I/O.

A grading verify camera (``camera://0?grade=1``) gives every read a grade, A to F
(:mod:`edge.scanners.grading`: process-control grades, not a certified verification).
:class:`PrintQuality` keeps the last ``window`` grades of the line; their mean is the
rolling grade shown on the operator screen (``print_quality`` in ``/api/state``) and in
the line status (``print_grade``). When the mean falls below B - 0.5 (trending toward
C, GS1's floor) a ``print_quality`` warning is raised, and cleared once it is back at B.
Single reads below ``[policy] min_print_grade`` are rejected by the verdict machine with
reason "print quality".

>>> q = PrintQuality(window=4)
>>> [len(q.add(g)) for g in "ABBB"], q.grade
([0, 0, 0, 0], 'B')
>>> alarm = q.add("C") + q.add("D")
>>> alarm[0].severity.value, alarm[0].message
('warning', 'print quality falling toward C: rolling grade C over the last 4 reads (B B C D)')
"""

from __future__ import annotations

from collections import deque
from typing import Any

from edge.verdicts import Decision, RaiseAlarm
from lineside.contract import AlarmCode, Severity

SCORES = {"A": 4, "B": 3, "C": 2, "D": 1, "F": 0}
_LETTERS = "FDCBA"
#: Below this rolling mean the line warns (halfway from B to C); at or above the clear
#: level (B) the warning is cleared.
WARN_BELOW = 2.5
CLEAR_AT = 3.0


def grade_rank(grade: str) -> int:
    """4 for A ... 0 for F (anything else counts as F)."""
    return SCORES.get(grade.upper(), 0)


class PrintQuality:
    """The rolling grade of the last ``window`` graded reads, and its trend alarm."""

    def __init__(self, window: int = 20) -> None:
        self._grades: deque[str] = deque(maxlen=window)
        self.warning = False

    @property
    def score(self) -> float | None:
        """Mean of the recent grades (4 = A ... 0 = F), or ``None`` before any."""
        if not self._grades:
            return None
        return sum(grade_rank(g) for g in self._grades) / len(self._grades)

    @property
    def grade(self) -> str | None:
        """The rolling grade as a letter (the mean, rounded half up)."""
        score = self.score
        return None if score is None else _LETTERS[min(4, int(score + 0.5))]

    def add(self, grade: str) -> list[Decision]:
        """Record one read's grade; a warning (or its clearing) when the trend crosses."""
        self._grades.append(grade.upper())
        score = self.score
        assert score is not None
        if not self.warning and score < WARN_BELOW and len(self._grades) == self._grades.maxlen:
            self.warning = True
            recent = " ".join(self._grades)
            return [
                RaiseAlarm(
                    AlarmCode.PRINT_QUALITY,
                    Severity.WARNING,
                    f"print quality falling toward C: rolling grade {self.grade} over the "
                    f"last {len(self._grades)} reads ({recent})",
                )
            ]
        if self.warning and score >= CLEAR_AT:
            self.warning = False
            message = f"print quality back at {self.grade}"
            return [RaiseAlarm(AlarmCode.PRINT_QUALITY, Severity.INFO, message, cleared=True)]
        return []

    def snapshot(self) -> dict[str, Any] | None:
        """What the operator screen shows, or ``None`` when nothing is graded."""
        score = self.score
        if score is None:
            return None
        return {
            "grade": self.grade,
            "score": round(score, 2),
            "samples": len(self._grades),
            "last": self._grades[-1],
            "warning": self.warning,
        }
