"""The dashboard's figures and the province's yearly indicators.

A product "has traceability" in a year when units of it were commissioned that year; a
business has traceability when one of its products has.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from server.db.models import (
    AlarmRecord,
    ConsumerScan,
    DeadLetter,
    Event,
    Line,
    Organisation,
    OutboxState,
    PortalOutboxEntry,
    Product,
    StatusReport,
)
from server.services.tenancy import PROVINCE, Scope, scoped

# --------------------------------------------------------------------------- indicators


@dataclass(frozen=True, slots=True)
class IndicatorRow:
    """One row of the yearly indicators: a district or a product group, or the total."""

    dimension: str
    key: str
    businesses: int
    businesses_with_traceability: int
    products: int
    ocop_products_covered: int
    codes_issued: int
    consumer_scans: int


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)


def indicators(session: Session, year: int, scope: Scope = PROVINCE) -> list[IndicatorRow]:
    """The province's indicators for ``year``: total, per district, per OCOP group
    (a business user's: its own organisation's only).

    A product "has traceability" in a year when units of it were commissioned that year;
    a business has traceability when one of its products has.
    """
    start, end = _year_bounds(year)
    commissioned = _codes_per_gtin(session, start, end, scope)
    scans = dict(
        session.execute(
            select(ConsumerScan.gtin, func.count())
            .where(ConsumerScan.scanned_at >= start, ConsumerScan.scanned_at < end)
            .group_by(ConsumerScan.gtin)
        ).all()
    )
    rows = session.execute(
        scoped(
            select(Product, Organisation).join(
                Organisation, Organisation.id == Product.organisation_id
            ),
            Product,
            scope,
        )
    ).all()
    organisations = list(session.scalars(scoped(select(Organisation), Organisation, scope)))
    groups: dict[tuple[str, str], dict[str, Any]] = {}

    def bucket(dimension: str, key: str) -> dict[str, Any]:
        return groups.setdefault(
            (dimension, key),
            {"orgs": set(), "traced_orgs": set(), "products": 0, "ocop": 0, "codes": 0, "scans": 0},
        )

    for org in organisations:
        if org.uses_barcodes:
            bucket("total", "all")["orgs"].add(org.id)
            bucket("district", org.district or "-")["orgs"].add(org.id)
    for product, org in rows:
        codes = int(commissioned.get(product.gtin, 0))
        keys = [
            ("total", "all"),
            ("district", org.district or "-"),
            ("product_group", product.ocop_group.value if product.ocop_group else "-"),
        ]
        for dimension, key in keys:
            entry = bucket(dimension, key)
            entry["products"] += 1
            entry["codes"] += codes
            entry["scans"] += int(scans.get(product.gtin, 0))
            if dimension == "product_group":
                entry["orgs"].add(org.id)
            if codes:
                entry["traced_orgs"].add(org.id)
                if product.ocop_group is not None:
                    entry["ocop"] += 1
    order = {"total": 0, "district": 1, "product_group": 2}
    return [
        IndicatorRow(
            dimension=dimension,
            key=key,
            businesses=len(entry["orgs"]),
            businesses_with_traceability=len(entry["traced_orgs"]),
            products=entry["products"],
            ocop_products_covered=entry["ocop"],
            codes_issued=entry["codes"],
            consumer_scans=entry["scans"],
        )
        for (dimension, key), entry in sorted(
            groups.items(), key=lambda i: (order[i[0][0]], i[0][1])
        )
    ]


def _codes_per_gtin(
    session: Session, start: datetime, end: datetime, scope: Scope = PROVINCE
) -> dict[str, int]:
    """Units commissioned per GTIN in ``[start, end)``, from the EPC index of events."""
    counts: dict[str, int] = {}
    query = (
        scoped(select(Event.document), Event, scope)
        .where(Event.event_time >= start, Event.event_time < end)
        .where(Event.biz_step.like("%commissioning"))
    )
    for document in session.scalars(query.execution_options(yield_per=500)):
        epcs = document.get("epcList", []) if isinstance(document, dict) else []
        for epc in epcs if isinstance(epcs, list) else []:
            gtin = _gtin_of(str(epc))
            if gtin:
                counts[gtin] = counts.get(gtin, 0) + 1
    return counts


def _gtin_of(epc: str) -> str | None:
    marker = "/01/"
    if marker in epc:
        candidate = epc.split(marker, 1)[1][:14]
        return candidate if candidate.isdigit() and len(candidate) == 14 else None
    return None


def indicators_csv(rows: list[IndicatorRow], year: int) -> str:
    """The indicators as CSV text, one row per dimension and key, headed by field names.

    >>> indicators_csv([IndicatorRow("district", "=1+1", 1, 0, 2, 0, 0, 0)], 2026).splitlines()
    ['year,dimension,key,businesses,businesses_with_traceability,products,\
ocop_products_covered,codes_issued,consumer_scans', "2026,district,'=1+1,1,0,2,0,0,0"]
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    names = [field.name for field in fields(IndicatorRow)]
    writer.writerow(["year", *names])
    for row in rows:
        values = asdict(row)
        writer.writerow([year, *(_csv_safe(values[name]) for name in names)])
    return buffer.getvalue()


def _csv_safe(value: object) -> object:
    # A cell starting with = + - @ is a formula in spreadsheets: neutralise it.
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@"} and value != "-":
        return "'" + value
    return value


# --------------------------------------------------------------------------- dashboard


def throughput(
    session: Session, hours: int = 24, scope: Scope = PROVINCE
) -> dict[str, list[tuple[str, float]]]:
    """Units commissioned per line per hour over the last ``hours`` hours."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(hours=hours - 1)
    slots = [start + timedelta(hours=i) for i in range(hours)]
    per_line: dict[str, dict[datetime, int]] = {}
    query = scoped(select(Event.line_id, Event.event_time), Event, scope).where(
        Event.event_time >= start, Event.biz_step.like("%commissioning")
    )
    for line_id, event_time in session.execute(query.execution_options(yield_per=1000)):
        hour = event_time.replace(minute=0, second=0, microsecond=0)
        counts = per_line.setdefault(line_id or "-", {})
        counts[hour] = counts.get(hour, 0) + 1
    return {
        line: [(f"{slot:%H}h", float(counts.get(slot, 0))) for slot in slots]
        for line, counts in sorted(per_line.items())
    }


@dataclass(frozen=True, slots=True)
class PortalSummary:
    """The portal connector's outbox at a glance."""

    pending: int
    failed: int
    sent: int
    last_sent: datetime | None
    last_error: str


@dataclass(frozen=True, slots=True)
class Overview:
    """What the dashboard shows: lines and their status, throughput per line, alarms,
    dead letters, the portal outbox and the consumer scans."""

    lines: list[dict[str, Any]]
    throughput: dict[str, list[tuple[str, float]]]
    alarms: list[AlarmRecord]
    dead_letters: list[DeadLetter]
    dead_total: int
    portal: PortalSummary
    scans_total: int


def _portal_summary(session: Session) -> PortalSummary:
    outbox = dict(
        session.execute(
            select(PortalOutboxEntry.state, func.count()).group_by(PortalOutboxEntry.state)
        ).all()
    )
    last_error = session.scalar(
        select(PortalOutboxEntry.last_error)
        .where(PortalOutboxEntry.last_error != "")
        .order_by(PortalOutboxEntry.next_attempt_at.desc())
        .limit(1)
    )
    return PortalSummary(
        pending=int(outbox.get(OutboxState.PENDING, 0)),
        failed=int(outbox.get(OutboxState.FAILED, 0)),
        sent=int(outbox.get(OutboxState.SENT, 0)),
        last_sent=session.scalar(select(func.max(PortalOutboxEntry.sent_at))),
        last_error=last_error or "",
    )


def overview(session: Session, scope: Scope = PROVINCE) -> Overview:
    """The dashboard's figures, read now (a business user's: its organisation's lines,
    alarms and dead letters; the portal and scan totals stay province-wide counts)."""
    statuses = {
        report.line_id: report.payload
        for report in session.scalars(
            scoped(select(StatusReport), StatusReport, scope).where(
                StatusReport.device_id.is_(None)
            )
        )
    }
    lines = [
        {"line": line, "status": statuses.get(line.id, {})}
        for line in session.scalars(scoped(select(Line), Line, scope).order_by(Line.id))
    ]
    alarms = session.scalars(
        scoped(select(AlarmRecord), AlarmRecord, scope)
        .where(AlarmRecord.cleared.is_(False))
        .order_by(AlarmRecord.raised_at.desc())
        .limit(50)
    )
    dead_letters = session.scalars(
        scoped(select(DeadLetter), DeadLetter, scope)
        .order_by(DeadLetter.received_at.desc())
        .limit(20)
    )
    dead_count = scoped(select(func.count()).select_from(DeadLetter), DeadLetter, scope)
    return Overview(
        lines=lines,
        throughput=throughput(session, scope=scope),
        alarms=list(alarms),
        dead_letters=list(dead_letters),
        dead_total=int(session.scalar(dead_count) or 0),
        portal=_portal_summary(session),
        scans_total=int(session.scalar(select(func.count(distinct(ConsumerScan.id)))) or 0),
    )
