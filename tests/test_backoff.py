"""The one backoff policy: growth, cap, jitter, and the two ways to read it."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lineside.backoff import Backoff


def test_backoff_grows_and_caps() -> None:
    delays = list(Backoff(initial=0.1, factor=3, maximum=1, jitter=0, attempts=5).delays())
    assert delays == pytest.approx([0.1, 0.3, 0.9, 1.0])


def test_backoff_jitter_bounds() -> None:
    policy = Backoff(initial=1, factor=1, maximum=1, jitter=0.5, attempts=50)
    for delay in policy.delays(random.Random(4)):
        assert 0.5 <= delay <= 1.0


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="factor"):
        Backoff(factor=0.5)
    with pytest.raises(ValueError, match="attempts"):
        Backoff(attempts=0)
    with pytest.raises(ValueError, match="jitter"):
        Backoff(jitter=1.5)
    with pytest.raises(ValueError, match="attempt must be at least 1, got 0"):
        Backoff().delay(0)


def test_delay_is_the_n_th_wait() -> None:
    policy = Backoff(initial=1.0, factor=2.0, maximum=3600.0, jitter=0.0, attempts=None)
    assert [policy.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert policy.delay(13) == 3600.0


def test_one_attempt_has_no_wait_and_none_retries_forever() -> None:
    assert list(Backoff(attempts=1).delays()) == []
    forever = Backoff(initial=0.0, maximum=0.0, jitter=0.0, attempts=None).delays()
    assert [next(forever) for _ in range(1000)] == [0.0] * 1000


def test_a_huge_attempt_number_is_the_cap() -> None:
    # factor**n leaves the float range long after the cap is reached: still the cap.
    assert Backoff(initial=0.2, maximum=10.0, jitter=0.0).delay(10**6) == 10.0
    assert 9.0 <= Backoff(initial=0.2, maximum=10.0, jitter=0.1).delay(5000) <= 10.0


@given(
    initial=st.floats(0.0, 10.0),
    factor=st.floats(1.0, 4.0),
    extra=st.floats(0.0, 100.0),
    jitter=st.floats(0.0, 1.0),
    attempts=st.integers(1, 40),
    seed=st.integers(0, 2**32),
)
def test_delays_are_delay_in_order_and_within_bounds(
    initial: float, factor: float, extra: float, jitter: float, attempts: int, seed: int
) -> None:
    policy = Backoff(initial, factor, initial + extra, jitter, attempts)
    delays = list(policy.delays(random.Random(seed)))
    again = random.Random(seed)
    assert delays == [policy.delay(n, again) for n in range(1, attempts)]
    for n, delay in enumerate(delays, start=1):
        plain = min(policy.maximum, initial * factor ** (n - 1))
        assert 0.0 <= delay <= policy.maximum
        assert plain * (1 - jitter) - 1e-9 <= delay <= plain * (1 + jitter) + 1e-9


@given(st.integers(1, 60))
def test_without_jitter_the_waits_never_shrink(attempt: int) -> None:
    policy = Backoff(initial=0.5, factor=1.7, maximum=300.0, jitter=0.0, attempts=None)
    assert policy.delay(attempt) <= policy.delay(attempt + 1)
