"""Hypothesis profiles and the input counter of the fuzz suite.

Two profiles, applied only to tests in this folder (through ``support.fuzz_settings``):

- ``lineside-fuzz-ci`` (default): 100 derandomised examples per test, so the whole
  folder stays well under 30 s on a small CI machine;
- ``fuzz``: thousands of random examples per test and no deadline, selected with
  ``LINESIDE_FUZZ_EXAMPLES=N`` or ``HYPOTHESIS_PROFILE=fuzz`` (``scripts/fuzz`` does this).

With ``LINESIDE_FUZZ_REPORT=path`` the session writes, per test, how many inputs each
target received and the test's outcome, as JSON.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.fuzz.support import (
    CI_EXAMPLES,
    CI_PROFILE,
    FUZZ_PROFILE,
    REPORT_ENV,
    InputCounter,
    fuzz_examples,
)

# Inputs of up to a megabyte are built on purpose; slow generation is expected.
_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    CI_PROFILE,
    max_examples=CI_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=_SUPPRESSED,
)
settings.register_profile(
    FUZZ_PROFILE,
    max_examples=fuzz_examples(),
    deadline=None,
    print_blob=True,
    suppress_health_check=_SUPPRESSED,
)

_COUNTER = pytest.StashKey[InputCounter]()


def _counter(config: pytest.Config) -> InputCounter:
    counter = config.stash.get(_COUNTER, None)
    if counter is None:
        counter = InputCounter()
        config.stash[_COUNTER] = counter
    return counter


@pytest.fixture(scope="session")
def inputs(pytestconfig: pytest.Config) -> InputCounter:
    """Counts the inputs each fuzz target receives (session-wide, shared by all tests)."""
    return _counter(pytestconfig)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" or report.outcome != "passed":
        _counter(item.config).record_outcome(report.nodeid, report.outcome)
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get(REPORT_ENV)
    if target:
        _counter(session.config).write(Path(target))
