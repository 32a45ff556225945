"""Fixtures of the fault-injection suite: the figures report and the server database.

Each scenario calls ``fault_report(scenario, **figures)``; at the end of the session the
figures are written as JSON to ``$LINESIDE_FAULT_REPORT`` (default: ``fault-report.json`` in
the session's temporary directory) and one summary line per scenario is printed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from server.db import migrate
from tests.faults.harness import ServerDb
from tests.support.broker import MOSQUITTO
from tests.support.databases import postgres_database

Record = Callable[..., None]


@pytest.fixture(scope="session")
def fault_report(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Record]:
    """``record(scenario, **figures)``: keep the figures a scenario proves."""
    figures: dict[str, dict[str, Any]] = {}

    def record(scenario: str, **values: Any) -> None:
        figures.setdefault(scenario, {}).update(values)

    yield record
    target = Path(
        os.environ.get("LINESIDE_FAULT_REPORT")
        or tmp_path_factory.getbasetemp() / "fault-report.json"
    )
    target.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"fault report: {target}"]
    for scenario, values in sorted(figures.items()):
        shown = ", ".join(f"{k}={v}" for k, v in sorted(values.items()))
        lines.append(f"  {scenario}: {shown}")
    if reporter is not None:
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


@pytest.fixture(scope="session")
def server_db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated server database: PostgreSQL, or a SQLite file when PostgreSQL is absent."""
    try:
        databases = postgres_database()
        url = next(databases)
    except pytest.skip.Exception:
        url = f"sqlite:///{tmp_path_factory.mktemp('server') / 'lineside.db'}"
        migrate(url)
        yield url
        return
    migrate(url)
    yield url
    for _ in databases:  # drops the database
        pass


@pytest.fixture
def server_db(server_db_url: str) -> Iterator[ServerDb]:
    """The server database; each scenario uses its own site and line, so no cleaning."""
    db = ServerDb(server_db_url)
    yield db
    db.close()


@pytest.fixture(autouse=True)
def _needs_mosquitto() -> None:
    if not Path(MOSQUITTO).exists():
        pytest.skip(f"mosquitto is not installed at {MOSQUITTO}")
