"""Exponential backoff: how long to wait before trying again.

One policy for every retry in Lineside: a printer or scanner link reconnecting, a batch
for the national portal sent again. :class:`Backoff` only computes delays; the caller
sleeps (or stores the time of the next attempt).

>>> policy = Backoff(initial=1.0, factor=2.0, maximum=3600.0, jitter=0.0, attempts=None)
>>> [policy.delay(n) for n in (1, 2, 3)]
[1.0, 2.0, 4.0]
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

#: Where jitter draws from when the caller passes no generator of its own.
_SHARED_RNG = random.Random()


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays between attempts: ``initial * factor**(n - 1)`` after the n-th failure, capped
    at ``maximum``.

    ``jitter`` spreads each delay by up to that fraction either way (then caps it again),
    so a whole line of agents does not reconnect in lockstep after a switch reboots.
    ``attempts`` is how many attempts are made in all (``None``: retry forever), so
    :meth:`delays` yields one wait fewer than that.

    >>> list(Backoff(initial=0.5, factor=2, maximum=3, jitter=0, attempts=5).delays())
    [0.5, 1.0, 2.0, 3.0]
    >>> Backoff(initial=0.5, factor=2, maximum=3, jitter=0).delay(2)
    1.0
    """

    initial: float = 0.2
    factor: float = 2.0
    maximum: float = 10.0
    jitter: float = 0.1
    attempts: int | None = 8

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < self.initial or self.factor < 1:
            raise ValueError("Backoff: need 0 <= initial <= maximum and factor >= 1")
        if self.attempts is not None and self.attempts < 1:
            raise ValueError("Backoff: attempts must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("Backoff: jitter must be between 0 and 1")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait after the ``attempt``-th failed attempt (1 for the first).

        Without jitter it depends on ``attempt`` alone; with jitter, on ``rng`` too (a
        seeded generator makes it reproducible). It does not look at ``attempts``: the
        caller decides when to give up.

        >>> Backoff(initial=1, factor=2, maximum=60, jitter=0).delay(10)
        60.0
        >>> 0.9 <= Backoff(initial=1, jitter=0.1).delay(1, random.Random(7)) <= 1.1
        True
        """
        if attempt < 1:
            raise ValueError(f"Backoff: attempt must be at least 1, got {attempt}")
        try:
            grown = self.initial * float(self.factor) ** (attempt - 1)
        except OverflowError:  # factor**n past the float range: long since capped
            grown = self.maximum
        base = min(self.maximum, grown)
        if not self.jitter:
            return float(base)
        spread = base * self.jitter * (2 * (rng or _SHARED_RNG).random() - 1)
        return float(max(0.0, min(self.maximum, base + spread)))

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The waits between attempts, in order (one fewer than ``attempts``).

        >>> list(Backoff(initial=1, jitter=0, attempts=1).delays())
        []
        """
        rng = rng or random.Random()
        attempt = 1
        while self.attempts is None or attempt < self.attempts:
            yield self.delay(attempt, rng)
            attempt += 1
