"""The dashboard, the province's yearly indicators (JSON, CSV, printable page) and login.

Pages are GET only and accept the session cookie set by ``POST /login``; everything else
needs a bearer token.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from server.api.deps import (
    SESSION_COOKIE,
    ReaderUser,
    ScopeDep,
    SessionDep,
    SessionFactoryDep,
    SettingsDep,
    rate_limited,
)
from server.services.auth import sign_in
from server.services.dashboard import indicators, indicators_csv, overview
from server.web import render
from server.web.charts import bar_chart
from server.web.i18n import Messages

router = APIRouter(tags=["dashboard"])

Year = Annotated[int, Query(ge=2000, le=2100, description="Calendar year (UTC).")]


# --------------------------------------------------------------------------- indicators


class IndicatorRowOut(BaseModel):
    dimension: str
    key: str
    businesses: int
    businesses_with_traceability: int
    products: int
    ocop_products_covered: int
    codes_issued: int
    consumer_scans: int


@router.get("/reports/indicators", response_model=list[IndicatorRowOut])
def indicators_json(
    session: SessionDep, _: ReaderUser, scope: ScopeDep, year: Year
) -> list[IndicatorRowOut]:
    """The yearly indicators as JSON."""
    return [IndicatorRowOut(**asdict(row)) for row in indicators(session, year, scope)]


@router.get("/reports/indicators.csv", response_class=Response)
def indicators_as_csv(session: SessionDep, _: ReaderUser, scope: ScopeDep, year: Year) -> Response:
    """The yearly indicators as CSV (UTF-8 with BOM so spreadsheets read Vietnamese)."""
    return Response(
        "\ufeff" + indicators_csv(indicators(session, year, scope), year),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="indicators-{year}.csv"'},
    )


@router.get("/reports/yearly", response_class=HTMLResponse)
def yearly_report(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _: ReaderUser,
    scope: ScopeDep,
    year: Year,
) -> Response:
    """A printable yearly report of the indicators."""
    rows = indicators(session, year, scope)
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


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(
    request: Request, session: SessionDep, settings: SettingsDep, user: ReaderUser, scope: ScopeDep
) -> Response:
    """Lines and their status, throughput, alarms, dead letters and the portal connector."""
    figures = overview(session, scope)
    context: dict[str, Any] = {
        "lang": "vi",
        "t": Messages.for_language("vi"),
        "user": user,
        "lines": figures.lines,
        "charts": {line: bar_chart(points) for line, points in figures.throughput.items()},
        "alarms": figures.alarms,
        "dead_letters": figures.dead_letters,
        "dead_total": figures.dead_total,
        "portal": {"enabled": settings.portal_enabled, **asdict(figures.portal)},
        "scans_total": figures.scans_total,
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
async def login_submit(
    request: Request, settings: SettingsDep, factory: SessionFactoryDep
) -> Response:
    """Check the form's credentials; set the session cookie and go to the dashboard."""
    # Parsed by hand: a two-field form does not justify a multipart dependency.
    body = (await request.body())[:4096].decode("utf-8", "replace")
    form = parse_qs(body)
    username = (form.get("username") or [""])[0][:100]
    password = (form.get("password") or [""])[0][:1000]
    ttl = timedelta(seconds=settings.token_ttl_seconds)
    signed = sign_in(factory, username, password, ttl=ttl, via="dashboard", label="dashboard")
    if signed is None:
        context = {
            "lang": "vi",
            "t": Messages.for_language("vi"),
            "error": "Sai tên đăng nhập hoặc mật khẩu / wrong username or password",
        }
        return render(request, "login.html", context, status_code=status.HTTP_401_UNAUTHORIZED)
    response = RedirectResponse("/dashboard", status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        signed.token,
        max_age=settings.token_ttl_seconds,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies,
    )
    return response
