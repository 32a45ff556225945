"""The operator PIN locks after repeated failures: guessing a 4-digit PIN on the screen
must take longer than a shift."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edge.journal import SerialState
from edge.pin_guard import LOCKOUT, PinGuard
from tests.edge.test_web import Screen
from tests.support.waiting import wait_until


@pytest.fixture
def pin_screen(tmp_path: Path) -> Iterator[Screen]:
    s = Screen(tmp_path)
    s.thread.start()
    assert s.ready.wait(10)
    yield s
    s.stop()


def test_wrong_pins_lock_the_screen_even_for_the_right_pin(pin_screen: Screen) -> None:
    with httpx.Client(base_url=pin_screen.url, timeout=10) as client:
        assert client.post("/api/start", json={"pin": "2468"}).json()["phase"] == "running"
        wait_until(
            lambda: client.get("/api/state").json()["counters"]["verified"] >= 1, "a unit verified"
        )
        serial = pin_screen.journal.serials.in_state("WO-1", SerialState.COMMISSIONED)[0]
        body = {"serial": serial, "reason": "rách"}
        for guess in ("0000", "1111", "1234", "9999", "1357"):
            assert client.post("/api/void", json={**body, "pin": guess}).status_code == 403
        locked = client.post("/api/void", json={**body, "pin": "2468"})
        assert locked.status_code == 429
        assert 0 < int(locked.headers["Retry-After"]) <= 30
        assert locked.json()["code"] == "pin_locked"  # the screen words it in Vietnamese
        assert client.get("/api/state").json()["counters"]["voided"] == 0
        assert client.post("/api/reprint", json={**body, "pin": "2468"}).status_code == 429


def test_each_lockout_in_a_row_lasts_longer_up_to_a_cap() -> None:
    now = [0.0]
    guard = PinGuard(max_failures=3, clock=lambda: now[0])
    waits = []
    for _ in range(8):
        for _ in range(3):
            assert guard.retry_after() is None
            guard.failed()
        wait = guard.retry_after()
        assert wait is not None
        waits.append(wait)
        now[0] += wait + 0.001
    assert waits == pytest.approx([30.0, 60.0, 120.0, 240.0, 480.0, 900.0, 900.0, 900.0])
    assert LOCKOUT.maximum == 900.0


def test_failures_below_the_limit_are_forgiven_by_a_right_pin() -> None:
    now = [0.0]
    guard = PinGuard(max_failures=3, clock=lambda: now[0])
    for _ in range(10):
        guard.failed()
        guard.failed()
        guard.succeeded()
    assert guard.retry_after() is None


def test_a_lock_ends_on_time() -> None:
    now = [100.0]
    guard = PinGuard(max_failures=1, clock=lambda: now[0])
    guard.failed()
    now[0] = 129.9
    assert guard.retry_after() == pytest.approx(0.1)
    now[0] = 130.0
    assert guard.retry_after() is None
