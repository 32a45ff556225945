"""Summarise fuzz reports: inputs tried and failures per target, as a table.

``scripts/fuzz`` runs the suite one or more rounds, each writing a JSON report (see
``conftest.py``), then calls::

    python -m tests.fuzz.summary round-1.json round-2.json

The exit code is 1 when any test failed in any round, 0 otherwise.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class TargetTotals:
    """What one target received over every round."""

    inputs: int = 0
    tests: set[str] = field(default_factory=set)
    failed_tests: set[str] = field(default_factory=set)


@dataclass
class Summary:
    rounds: int = 0
    targets: dict[str, TargetTotals] = field(default_factory=dict)
    failed: Counter[str] = field(default_factory=Counter)

    def add(self, report: dict[str, Any]) -> None:
        """Fold one round's report in."""
        self.rounds += 1
        for nodeid, test in report.get("tests", {}).items():
            failed = test.get("outcome") == "failed"
            if failed:
                self.failed[nodeid] += 1
            for target, count in test.get("inputs", {}).items():
                totals = self.targets.setdefault(target, TargetTotals())
                totals.inputs += int(count)
                totals.tests.add(nodeid)
                if failed:
                    totals.failed_tests.add(nodeid)


def summarise(paths: list[Path]) -> Summary:
    """Read the reports that exist (a round cut short by the time budget may have none)."""
    summary = Summary()
    for path in paths:
        if path.is_file():
            summary.add(json.loads(path.read_text(encoding="utf-8")))
    return summary


def render(summary: Summary, console: Console) -> None:
    table = Table(title=f"Fuzzing: {summary.rounds} round(s)")
    table.add_column("target")
    table.add_column("inputs tried", justify="right")
    table.add_column("tests", justify="right")
    table.add_column("failing tests", justify="right")
    for name in sorted(summary.targets):
        totals = summary.targets[name]
        failing = len(totals.failed_tests)
        table.add_row(
            name,
            f"{totals.inputs:,}",
            str(len(totals.tests)),
            f"[bold red]{failing}[/]" if failing else "0",
        )
    total = sum(t.inputs for t in summary.targets.values())
    table.add_section()
    table.add_row("all targets", f"{total:,}", "", str(len(summary.failed)))
    console.print(table)
    for nodeid, rounds in sorted(summary.failed.items()):
        console.print(f"[bold red]FAILED[/] {nodeid} (in {rounds} round(s))")


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write("usage: python -m tests.fuzz.summary REPORT.json [REPORT.json ...]\n")
        return 2
    summary = summarise([Path(arg) for arg in argv])
    render(summary, Console())
    if summary.rounds == 0:
        sys.stderr.write("no fuzz report was written: did pytest start?\n")
        return 1
    return 1 if summary.failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
