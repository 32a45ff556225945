"""The operator's shift: who signed in, since when, and the shift's OEE.

OEE = availability x performance x quality, over the shift so far:

* availability: the time the line ran over the time since the shift began;
* performance: units made while running over what the rated speed would have made;
* quality: good units (commissioned) over all units with a verdict.

:class:`Shift` is fed the line's phase and counters as they change (:meth:`Shift.observe`)
and does no I/O; time comes in as monotonic seconds.

>>> shift = Shift(target_per_minute=60, now=0.0)
>>> shift.observe(running=True, good=0, rejected=0, now=0.0)
>>> shift.observe(running=False, good=45, rejected=5, now=60.0)
>>> oee = shift.oee(now=120.0)
>>> oee.availability, round(oee.performance, 3), oee.quality, round(oee.oee, 3)
(0.5, 0.833, 0.9, 0.375)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Oee:
    """The shift's OEE and its three factors (``None`` until there is anything to measure)."""

    availability: float | None
    performance: float | None
    quality: float | None
    run_s: float
    planned_s: float

    @property
    def oee(self) -> float | None:
        factors = (self.availability, self.performance, self.quality)
        if any(f is None for f in factors):
            return None
        a, p, q = (float(f or 0.0) for f in factors)
        return a * p * q


class Shift:
    """One shift on the line (the screen starts one when an operator signs in)."""

    def __init__(
        self,
        *,
        target_per_minute: float,
        now: float,
        operator: str | None = None,
        started_at: datetime | None = None,
    ) -> None:
        self.target_per_minute = target_per_minute
        self.operator = operator
        self.started_at = started_at
        self._start = now
        self._run_s = 0.0
        self._running_since: float | None = None
        self._good = 0
        self._rejected = 0
        self._last: tuple[int, int] | None = None

    def observe(self, *, running: bool, good: int, rejected: int, now: float) -> None:
        """The line's phase and the work order's counters, now."""
        if self._running_since is not None:
            self._run_s += now - self._running_since
        self._running_since = now if running else None
        if self._last is not None:
            last_good, last_rejected = self._last
            # Counters restart with each work order: a drop means a new order began.
            self._good += good - last_good if good >= last_good else good
            self._rejected += rejected - last_rejected if rejected >= last_rejected else rejected
        self._last = (good, rejected)

    @property
    def good(self) -> int:
        return self._good

    @property
    def rejected(self) -> int:
        return self._rejected

    def oee(self, *, now: float) -> Oee:
        """The OEE of the shift so far."""
        run_s = self._run_s + (now - self._running_since if self._running_since else 0.0)
        planned_s = max(now - self._start, 0.0)
        total = self._good + self._rejected
        availability = min(run_s / planned_s, 1.0) if planned_s > 0 else None
        performance = None
        if run_s > 0:
            performance = min(total / (run_s / 60 * self.target_per_minute), 1.0)
        quality = self._good / total if total else None
        return Oee(availability, performance, quality, run_s, planned_s)


class RejectBin:
    """Units in the reject bin since it was last emptied, from the rejected counter.

    >>> bin = RejectBin()
    >>> bin.observe(3); bin.empty(); bin.observe(5); bin.observe(1)  # a new work order
    >>> bin.count
    3
    """

    def __init__(self) -> None:
        self.count = 0
        self._last = 0

    def observe(self, rejected: int) -> None:
        self.count += rejected - self._last if rejected >= self._last else rejected
        self._last = rejected

    def empty(self) -> None:
        self.count = 0
