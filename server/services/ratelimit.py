"""A small in-memory token bucket per client IP, for the public routes.

>>> bucket = TokenBuckets(rate_per_second=1.0, burst=2)
>>> [bucket.take("10.0.0.1", now=0.0) for _ in range(3)]
[True, True, False]
>>> bucket.take("10.0.0.1", now=1.0)
True
"""

from __future__ import annotations

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
