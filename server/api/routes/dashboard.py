"""The dashboard, the province's yearly indicators (JSON, CSV, printable page) and login.

Pages are GET only and accept the session cookie set by ``POST /login``; everything else
needs a bearer token.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from server.api.deps import SESSION_COOKIE, ReaderUser, SessionDep, SettingsDep, rate_limited
from server.audit import record_action
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
from server.services.auth import authenticate, issue_token
from server.web import render
from server.web.charts import bar_chart
from server.web.i18n import Messages

router = APIRouter(tags=["dashboard"])

Year = Annotated[int, Query(ge=2000, le=2100, description="Calendar year (UTC).")]


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


class IndicatorRowOut(BaseModel):
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


def indicators(session: Session, year: int) -> list[IndicatorRow]:
    """The province's indicators for ``year``: total, per district, per OCOP group.

    A product "has traceability" in a year when units of it were commissioned that year;
    a business has traceability when one of its products has.
    """
    start, end = _year_bounds(year)
    commissioned = _codes_per_gtin(session, start, end)
    scans = dict(
        session.execute(
            select(ConsumerScan.gtin, func.count())
            .where(ConsumerScan.scanned_at >= start, ConsumerScan.scanned_at < end)
            .group_by(ConsumerScan.gtin)
        ).all()
    )
    rows = session.execute(
        select(Product, Organisation).join(Organisation, Organisation.id == Product.organisation_id)
    ).all()
    organisations = list(session.scalars(select(Organisation)))
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


def _codes_per_gtin(session: Session, start: datetime, end: datetime) -> dict[str, int]:
    """Units commissioned per GTIN in ``[start, end)``, from the EPC index of events."""
    counts: dict[str, int] = {}
    query = (
        select(Event.document)
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


@router.get("/reports/indicators", response_model=list[IndicatorRowOut])
def indicators_json(session: SessionDep, _: ReaderUser, year: Year) -> list[IndicatorRowOut]:
    """The yearly indicators as JSON."""
    return [IndicatorRowOut(**asdict(row)) for row in indicators(session, year)]


@router.get("/reports/indicators.csv", response_class=Response)
def indicators_csv(session: SessionDep, _: ReaderUser, year: Year) -> Response:
    """The yearly indicators as CSV (UTF-8 with BOM so spreadsheets read Vietnamese)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    fields = list(IndicatorRowOut.model_fields)
    writer.writerow(["year", *fields])
    for row in indicators(session, year):
        values = asdict(row)
        writer.writerow([year, *(_csv_safe(values[name]) for name in fields)])
    return Response(
        "\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="indicators-{year}.csv"'},
    )


def _csv_safe(value: object) -> object:
    # A cell starting with = + - @ is a formula in spreadsheets: neutralise it.
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@"} and value != "-":
        return "'" + value
    return value


@router.get("/reports/yearly", response_class=HTMLResponse)
def yearly_report(
    request: Request, session: SessionDep, settings: SettingsDep, _: ReaderUser, year: Year
) -> Response:
    """A printable yearly report of the indicators."""
    rows = indicators(session, year)
    context: dict[str, Any] = {
        "lang": "vi",
        "t": Messages.for_language("vi"),
        "year": year,
        "province": settings.province,
        "total": next((r for r in rows if r.dimension == "total"), None),
        "districts": [r for r in rows if r.dimension == "district"],
        "groups": [r for r in rows if r.dimension == "product_group"],
        "generated_at": datetime.now(UTC),
    }
    return render(request, "report.html", context)


# --------------------------------------------------------------------------- dashboard


def throughput(session: Session, hours: int = 24) -> dict[str, list[tuple[str, float]]]:
    """Units commissioned per line per hour over the last ``hours`` hours."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(hours=hours - 1)
    slots = [start + timedelta(hours=i) for i in range(hours)]
    per_line: dict[str, dict[datetime, int]] = {}
    query = select(Event.line_id, Event.event_time).where(
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


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, session: SessionDep, user: ReaderUser) -> Response:
    """Lines and their status, throughput, alarms, dead letters and the portal connector."""
    statuses = {
        report.line_id: report.payload
        for report in session.scalars(select(StatusReport).where(StatusReport.device_id.is_(None)))
    }
    lines = [
        {"line": line, "status": statuses.get(line.id, {})}
        for line in session.scalars(select(Line).order_by(Line.id))
    ]
    alarms = list(
        session.scalars(
            select(AlarmRecord)
            .where(AlarmRecord.cleared.is_(False))
            .order_by(AlarmRecord.raised_at.desc())
            .limit(50)
        )
    )
    dead_letters = list(
        session.scalars(select(DeadLetter).order_by(DeadLetter.received_at.desc()).limit(20))
    )
    dead_total = int(session.scalar(select(func.count()).select_from(DeadLetter)) or 0)
    outbox = dict(
        session.execute(
            select(PortalOutboxEntry.state, func.count()).group_by(PortalOutboxEntry.state)
        ).all()
    )
    last_sent = session.scalar(select(func.max(PortalOutboxEntry.sent_at)))
    last_error = session.scalar(
        select(PortalOutboxEntry.last_error)
        .where(PortalOutboxEntry.last_error != "")
        .order_by(PortalOutboxEntry.next_attempt_at.desc())
        .limit(1)
    )
    charts = {line: bar_chart(points) for line, points in throughput(session).items()}
    context: dict[str, Any] = {
        "lang": "vi",
        "t": Messages.for_language("vi"),
        "user": user,
        "lines": lines,
        "charts": charts,
        "alarms": alarms,
        "dead_letters": dead_letters,
        "dead_total": dead_total,
        "portal": {
            "enabled": request.app.state.settings.portal_enabled,
            "pending": int(outbox.get(OutboxState.PENDING, 0)),
            "failed": int(outbox.get(OutboxState.FAILED, 0)),
            "sent": int(outbox.get(OutboxState.SENT, 0)),
            "last_sent": last_sent,
            "last_error": last_error or "",
        },
        "scans_total": int(session.scalar(select(func.count(distinct(ConsumerScan.id)))) or 0),
        "now": datetime.now(UTC),
        "year": datetime.now(UTC).year,
    }
    return render(request, "dashboard.html", context)


# --------------------------------------------------------------------------- login page


@router.get("/login", response_class=HTMLResponse, dependencies=[Depends(rate_limited)])
def login_page(request: Request) -> Response:
    """The sign-in form of the dashboard."""
    context = {"lang": "vi", "t": Messages.for_language("vi"), "error": ""}
    return render(request, "login.html", context)


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(rate_limited)])
async def login_submit(request: Request) -> Response:
    """Check the form's credentials; set the session cookie and go to the dashboard."""
    # Parsed by hand: a two-field form does not justify a multipart dependency.
    body = (await request.body())[:4096].decode("utf-8", "replace")
    form = parse_qs(body)
    username = (form.get("username") or [""])[0][:100]
    password = (form.get("password") or [""])[0][:1000]
    settings = request.app.state.settings
    with request.app.state.session_factory() as session, session.begin():
        user = authenticate(session, username, password) if username and password else None
        token = (
            issue_token(session, user, timedelta(seconds=settings.token_ttl_seconds), "dashboard")
            if user is not None
            else None
        )
        if username:
            record_action(
                session,
                actor=username,
                role=user.role.value if user is not None else "anonymous",
                action="auth.login" if user is not None else "auth.login_failed",
                target=f"user:{username}",
                details={"via": "dashboard"},
            )
    if token is None:
        context = {
            "lang": "vi",
            "t": Messages.for_language("vi"),
            "error": "Sai tên đăng nhập hoặc mật khẩu / wrong username or password",
        }
        return render(request, "login.html", context, status_code=status.HTTP_401_UNAUTHORIZED)
    response = RedirectResponse("/dashboard", status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.token_ttl_seconds,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies,
    )
    return response
