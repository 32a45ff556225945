"""The reconciliation report of a work order: every serial allocated, and where it went.

>>> from lineside.contract import LotCounts
>>> lot = LotCounts(lot="L7", allocated=3, commissioned=2, rejected=1, sampled=0, returned=0,
...                 voided=0)
>>> report = ReconciliationReport(site="f1", line="L1", work_order="WO-1", lots=(lot,),
...                               cases=1, pallets=0)
>>> print(report_text(report))  # doctest: +NORMALIZE_WHITESPACE
Work order WO-1 — line L1 (f1)
  lot L7: allocated 3 = commissioned 2 + rejected 1 + sampled 0 + returned 0
  + voided 0; unaccounted 0
  cases 1, pallets 0
  BALANCED
"""

from __future__ import annotations

import json

from edge.journal import Journal
from lineside.contract import ReconciliationReport


def reconciliation_report(
    journal: Journal, *, site: str, line: str, work_order: str
) -> ReconciliationReport:
    """The report of ``work_order`` as the journal has it now."""
    return ReconciliationReport(
        site=site,
        line=line,
        work_order=work_order,
        lots=tuple(journal.serials.lot_counts(work_order)),
        cases=journal.containers.count_of_order(work_order, "case"),
        pallets=journal.containers.count_of_order(work_order, "pallet"),
    )


def totals(report: ReconciliationReport) -> dict[str, int]:
    """The report's figures summed over its lots (the close record of the audit trail)."""
    lots = report.lots
    return {
        "allocated": sum(lot.allocated for lot in lots),
        "commissioned": sum(lot.commissioned for lot in lots),
        "rejected": sum(lot.rejected for lot in lots),
        "voided": sum(lot.voided for lot in lots),
        "unaccounted": sum(lot.unaccounted for lot in lots),
        "cases": report.cases,
        "pallets": report.pallets,
    }


def report_text(report: ReconciliationReport) -> str:
    """The human-readable reconciliation report."""
    lines = [f"Work order {report.work_order} — line {report.line} ({report.site})"]
    for lot in report.lots:
        lines.append(
            f"  lot {lot.lot}: allocated {lot.allocated} = commissioned {lot.commissioned}"
            f" + rejected {lot.rejected} + sampled {lot.sampled} + returned {lot.returned}"
            f" + voided {lot.voided}; unaccounted {lot.unaccounted}"
        )
    lines.append(f"  cases {report.cases}, pallets {report.pallets}")
    lines.append("  BALANCED" if report.balanced else "  NOT BALANCED")
    return "\n".join(lines)


def report_json(report: ReconciliationReport) -> str:
    """The report as JSON, with its balance and unaccounted total spelled out."""
    data = json.loads(report.model_dump_json())
    data["balanced"] = report.balanced
    data["unaccounted"] = sum(lot.unaccounted for lot in report.lots)
    return json.dumps(data, ensure_ascii=False, indent=2)
