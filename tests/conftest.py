"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support.broker import MOSQUITTO, PrivateBroker, StartBroker, broker_up

REPO_ROOT = Path(__file__).resolve().parents[1]

# In CI (``.ci/run`` sets CI=1) the property tests run derandomised: a red run then always
# reproduces, and exploring new random inputs is left to developers' runs and scripts/fuzz.
settings.register_profile("lineside-ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("lineside-ci")


def _vectors_root() -> Path:
    configured = os.environ.get("LINESIDE_VECTORS")
    if configured:
        return Path(configured)
    return REPO_ROOT.parent / "shared" / "vectors"


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    """The conformance vectors directory; skips the test visibly when it is absent."""
    root = _vectors_root()
    if not root.is_dir():
        pytest.skip(f"conformance vectors not found at {root} (set LINESIDE_VECTORS)")
    return root


@pytest.fixture
def shared_broker() -> int:
    """The port of the shared Mosquitto at 127.0.0.1:1883; skips the test when it is down.

    Tests on it use a unique topic prefix, so they never see each other's messages.
    """
    if not broker_up(1883):
        pytest.skip("no MQTT broker at 127.0.0.1:1883")
    return 1883


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[StartBroker]:
    """Starts private Mosquitto brokers (``private_broker(persistence=..., extra_config=...)``)
    in the test's directory; every one is stopped after the test."""
    if not Path(MOSQUITTO).exists():
        pytest.skip(f"mosquitto is not installed at {MOSQUITTO}")
    started: list[PrivateBroker] = []

    def start(
        name: str = "broker", *, persistence: bool = True, extra_config: str = ""
    ) -> PrivateBroker:
        broker = PrivateBroker(tmp_path / name, persistence=persistence, extra_config=extra_config)
        broker.start()
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()
