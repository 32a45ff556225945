"""Shared shape of benchmark results.

Every benchmark (``lineside bench print|decode|line|ingest|e2e``) returns a list of
:class:`Figure`. A figure is always measured side by side with its baseline in the same
run, so the ratio is meaningful on a shared, noisy machine where absolute numbers are not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure, with an optional baseline measured in the same run.

    >>> f = Figure("zpl_labels_per_s", 12000.0, "labels/s", target=5000.0,
    ...            baseline_name="escpos_lib_labels_per_s", baseline=3000.0)
    >>> f.ratio
    4.0
    >>> f.meets_target
    True
    """

    name: str
    value: float
    unit: str
    target: float | None = None
    #: True when smaller is better (latencies, memory growth).
    lower_is_better: bool = False
    baseline_name: str | None = None
    baseline: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """``value / baseline`` (or the inverse when lower is better), ``None`` without one."""
        if self.baseline is None or self.baseline == 0 or self.value == 0:
            return None
        if self.lower_is_better:
            return self.baseline / self.value
        return self.value / self.baseline

    @property
    def meets_target(self) -> bool | None:
        """Whether the target is met, ``None`` when the figure has no target."""
        if self.target is None:
            return None
        if self.lower_is_better:
            return self.value <= self.target
        return self.value >= self.target

    def to_json_dict(self) -> dict[str, Any]:
        """The figure as JSON-ready data, with its ratio and target verdict."""
        data = asdict(self)
        data["ratio"] = self.ratio
        data["meets_target"] = self.meets_target
        return data


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 ≤ q ≤ 1) of ``values``; NaN when there are none.

    The smallest value with at least ``q`` of the values at or below it: the value of
    rank ``ceil(q * n)`` (1-based), the first one for ``q = 0``.

    >>> percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5)
    3.0
    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5)
    2.0
    >>> percentile([float(n) for n in range(1, 101)], 0.99)
    99.0
    >>> percentile([], 0.99)
    nan
    """
    if not values:
        return math.nan
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} is outside [0, 1]")
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]
