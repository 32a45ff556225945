"""Lockout of the operator PIN after repeated failures, with growing waits.

The operator screen asks for a PIN before a label is voided or reprinted. A PIN has only
4 to 12 digits, so guessing must be slow: after ``max_failures`` wrong PINs in a row the
screen refuses every PIN, the right one included, for a while, and each lockout that
follows without a success lasts longer (:class:`lineside.backoff.Backoff`). The lock is
per screen, not per browser: anyone on the line's network can change address.

>>> now = [0.0]
>>> guard = PinGuard(max_failures=2, clock=lambda: now[0])
>>> guard.failed(); guard.failed()
>>> guard.retry_after()
30.0
>>> now[0] = 31.0
>>> guard.retry_after() is None
True
>>> guard.failed(); guard.failed()   # the second lockout in a row lasts twice as long
>>> guard.retry_after()
60.0
>>> now[0] = 100.0; guard.succeeded()   # a right PIN after the wait starts over
>>> guard.failed(); guard.failed(); guard.retry_after()
30.0
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from lineside.backoff import Backoff

#: Waits after the 1st, 2nd, ... lockout in a row: 30 s doubling up to 15 minutes.
LOCKOUT = Backoff(initial=30.0, factor=2.0, maximum=900.0, jitter=0.0, attempts=None)


class PinGuard:
    """Counts wrong PINs and says how long the screen refuses PINs (thread-safe)."""

    def __init__(
        self,
        *,
        max_failures: int = 5,
        lockout: Backoff = LOCKOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        self.max_failures = max_failures
        self.lockout = lockout
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._lockouts = 0
        self._locked_until = -math.inf

    def retry_after(self) -> float | None:
        """Seconds until PINs are checked again, or ``None`` when they are checked now."""
        with self._lock:
            left = self._locked_until - self._clock()
        return left if left > 0 else None

    def failed(self) -> None:
        """A wrong PIN: the ``max_failures``-th in a row locks the screen."""
        with self._lock:
            self._failures += 1
            if self._failures >= self.max_failures:
                self._failures = 0
                self._lockouts += 1
                self._locked_until = self._clock() + self.lockout.delay(self._lockouts)

    def succeeded(self) -> None:
        """A right PIN (outside a lockout) forgives the failures before it."""
        with self._lock:
            self._failures = 0
            self._lockouts = 0
