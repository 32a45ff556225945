"""In-memory limits: a token bucket per client IP for the public routes, and a lockout
per account for sign-in.

>>> bucket = TokenBuckets(rate_per_second=1.0, burst=2)
>>> [bucket.take("10.0.0.1", now=0.0) for _ in range(3)]
[True, True, False]
>>> bucket.take("10.0.0.1", now=1.0)
True
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """One bucket per key holding at most ``burst`` tokens, refilled at ``rate_per_second``."""

    def __init__(self, rate_per_second: float, burst: int, max_keys: int = 10_000) -> None:
        self.rate_per_second = rate_per_second
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        # Sync routes run in a thread pool: the buckets are shared between threads.
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> bool:
        """Take one token for ``key``; False when its bucket is empty."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_keys:
                    # Forget full buckets first: they carry no state worth keeping.
                    self._forget_full(moment)
                bucket = self._buckets[key] = _Bucket(float(self.burst), moment)
            elapsed = max(0.0, moment - bucket.updated)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate_per_second)
            bucket.updated = moment
            if bucket.tokens < 1.0:
                return False
            bucket.tokens -= 1.0
            return True

    def _forget_full(self, now: float) -> None:
        for key, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.updated) * self.rate_per_second >= self.burst:
                del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            self._buckets.clear()


@dataclass(slots=True)
class _Strikes:
    failures: int
    last_failure: float
    locked_until: float


class AccountLockout:
    """Failed sign-ins per account, with a lock that doubles after each further failure.

    From the ``threshold``-th failure in a row, the account is locked for
    ``base_seconds * 2 ** (failures - threshold)`` (at most ``max_seconds``); a success,
    or ``max_seconds`` without a failure, forgets the count. A locked account is refused
    before its password is checked, so guessing costs the server nothing.

    >>> lockout = AccountLockout(threshold=2, base_seconds=1.0, max_seconds=60.0)
    >>> [lockout.failed("ann", now=0.0) for _ in range(4)]
    [0, 1, 2, 4]
    >>> lockout.retry_after("ann", now=1.0), lockout.retry_after("ann", now=5.0)
    (3, 0)
    >>> lockout.succeeded("ann"); lockout.retry_after("ann", now=1.0)
    0
    """

    def __init__(
        self,
        threshold: int,
        base_seconds: float,
        max_seconds: float,
        max_keys: int = 10_000,
    ) -> None:
        self.threshold = threshold
        self.base_seconds = base_seconds
        self.max_seconds = max_seconds
        self.max_keys = max_keys
        self._strikes: dict[str, _Strikes] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str, now: float | None = None) -> int:
        """Whole seconds until ``key`` may try again; 0 when it is not locked."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            strikes = self._strikes.get(key)
            if strikes is None or strikes.locked_until <= moment:
                return 0
            return max(1, math.ceil(strikes.locked_until - moment))

    def failed(self, key: str, now: float | None = None) -> int:
        """Count a failure for ``key``; the seconds it is now locked for (0: not locked)."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            strikes = self._strikes.get(key)
            if strikes is None or moment - strikes.last_failure > self.max_seconds:
                if len(self._strikes) >= self.max_keys:
                    self._forget_stale(moment)
                strikes = self._strikes[key] = _Strikes(0, moment, moment)
            strikes.failures += 1
            strikes.last_failure = moment
            if strikes.failures < self.threshold:
                return 0
            # The exponent is capped: it only has to pass max_seconds.
            exponent = min(strikes.failures - self.threshold, 32)
            seconds = min(self.max_seconds, self.base_seconds * 2.0**exponent)
            strikes.locked_until = moment + seconds
            return math.ceil(seconds)

    def succeeded(self, key: str) -> None:
        """Forget ``key``'s failures."""
        with self._lock:
            self._strikes.pop(key, None)

    def _forget_stale(self, now: float) -> None:
        for key, strikes in list(self._strikes.items()):
            if now - strikes.last_failure > self.max_seconds and strikes.locked_until <= now:
                del self._strikes[key]
        if len(self._strikes) >= self.max_keys:
            # Still full: a spray over many names. Drop the unlocked ones, keep the locks
            # (and, should even those fill the table, forget rather than grow).
            for key, strikes in list(self._strikes.items()):
                if strikes.locked_until <= now:
                    del self._strikes[key]
            if len(self._strikes) >= self.max_keys:
                self._strikes.clear()
