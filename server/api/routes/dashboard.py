"""The desk: the live dashboard, the province's yearly report (JSON, CSV, printable page)
and sign-in.

Pages are GET only and accept the session cookie set by ``POST /login``; a browser that
is not signed in is sent to ``/login``. The one write a page makes (replaying a dead
letter) carries a form token bound to the session, besides the strict same-site cookie.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs

import anyio
from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from server.api.browser import safe_next
from server.api.deps import (
    SESSION_COOKIE,
    ReaderUser,
    ScopeDep,
    SessionDep,
    SessionFactoryDep,
    SettingsDep,
    SignInDeskDep,
    client_address,
    rate_limited,
)
from server.errors import NotAllowed, NotSignedIn, TooManyRequests
from server.ingest.replay import replay_dead_letter
from server.services import desk
from server.services.auth import Principal, Role, principal_for_token, revoke_token
from server.services.dashboard import (
    COLUMN_LABELS,
    DIMENSION_LABELS,
    current_year,
    indicators,
    indicators_csv,
    key_label,
)
from server.services.tenancy import Scope, scope_for
from server.settings import ServerSettings
from server.web import render
from server.web.charts import bar_chart
from server.web.i18n import Messages

router = APIRouter(tags=["dashboard"])

YearQuery = Annotated[
    int | None,
    Query(ge=2000, le=2100, description="Calendar year in the server's time zone; this year."),
]


def _year(settings: ServerSettings, year: int | None) -> int:
    return year if year is not None else current_year(settings.zone())


# --------------------------------------------------------------------------- indicators


class IndicatorRowOut(BaseModel):
    dimension: str
    key: str
    label: str
    businesses: int
    businesses_with_traceability: int
    products: int
    ocop_products_covered: int
    codes_issued: int
    consumer_scans: int


@router.get("/reports/indicators", response_model=list[IndicatorRowOut])
def indicators_json(
    session: SessionDep,
    settings: SettingsDep,
    _: ReaderUser,
    scope: ScopeDep,
    year: YearQuery = None,
) -> list[IndicatorRowOut]:
    """The yearly indicators as JSON: the total, per commune, organisation and OCOP group
    (a business user's: its own organisation's)."""
    rows = indicators(session, _year(settings, year), settings.zone(), scope)
    return [IndicatorRowOut(**asdict(row), label=key_label(row.dimension, row.key)) for row in rows]


@router.get("/reports/indicators.csv", response_class=Response)
def indicators_as_csv(
    session: SessionDep,
    settings: SettingsDep,
    _: ReaderUser,
    scope: ScopeDep,
    year: YearQuery = None,
) -> Response:
    """The yearly indicators as CSV with Vietnamese headings (UTF-8 with BOM so that
    spreadsheets read Vietnamese)."""
    chosen = _year(settings, year)
    return Response(
        "\ufeff" + indicators_csv(indicators(session, chosen, settings.zone(), scope), chosen),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="chi-tieu-{chosen}.csv"'},
    )


@router.get("/reports/yearly", response_class=HTMLResponse)
def yearly_report(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ReaderUser,
    scope: ScopeDep,
    *,
    year: YearQuery = None,
) -> Response:
    """A printable yearly report of the indicators (this year unless ``?year=``)."""
    chosen = _year(settings, year)
    rows = indicators(session, chosen, settings.zone(), scope)
    sections = [
        (name, DIMENSION_LABELS[name], [r for r in rows if r.dimension == name])
        for name in ("commune", "organisation", "product_group")
    ]
    context: dict[str, Any] = {
        "lang": "vi",
        "t": Messages.for_language("vi"),
        "user": user,
        "year": chosen,
        "years": list(range(current_year(settings.zone()), 2019, -1)),
        "province": settings.province,
        "total": next((r for r in rows if r.dimension == "total"), None),
        "sections": sections,
        "columns": COLUMN_LABELS,
        "key_label": key_label,
        "generated_at": datetime.now(UTC),
    }
    return render(request, "report.html", context)


# --------------------------------------------------------------------------- the desk


def form_token(settings: ServerSettings, session_token: str) -> str:
    """The token a page's form carries: bound to the signed-in session, useless elsewhere."""
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, b"form|" + session_token.encode(), hashlib.sha256).hexdigest()


_NOTICES = {
    "1": "Đã gửi lại và lưu thành công.",
    "0": "Vẫn chưa lưu được: xem nguyên nhân và cách khắc phục trong danh sách bên dưới.",
}


def _context(
    request: Request, session: Session, settings: ServerSettings, scope: Scope
) -> dict[str, Any]:
    figures = desk.overview(session, settings.zone(), scope=scope)
    return {
        "lang": "vi",
        "t": Messages.for_language("vi"),
        "desk": figures,
        "charts": {line: bar_chart(points) for line, points in figures.throughput.items()},
        "portal_enabled": settings.portal_enabled,
        "source_of": desk.source_of,
        "labels": {
            "alarm": desk.ALARM_LABELS,
            "severity": desk.SEVERITY_LABELS,
            "order": desk.WORK_ORDER_STATE_LABELS,
        },
        "year": current_year(settings.zone()),
        "form_token": form_token(settings, request.cookies.get(SESSION_COOKIE, "")),
        "refresh_seconds": settings.dashboard_refresh_seconds,
        # A code, never text from the address: a crafted link cannot put words on the page.
        "notice": _NOTICES.get(request.query_params.get("replayed", ""), ""),
    }


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(
    request: Request, session: SessionDep, settings: SettingsDep, user: ReaderUser, scope: ScopeDep
) -> Response:
    """Lines, work orders, alarms, recalls, clone alerts, dead letters, OCOP products and
    the portal connector; the page follows ``/dashboard/live`` and refreshes itself."""
    context = _context(request, session, settings, scope)
    context["user"] = user
    context["role_label"] = ROLE_LABELS.get(user.role, user.role.value)
    return render(request, "dashboard.html", context)


@router.get(
    "/dashboard/live",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def dashboard_live(
    request: Request, settings: SettingsDep, factory: SessionFactoryDep, _: ReaderUser
) -> StreamingResponse:
    """Server-sent events: a ``change`` event each time the desk's figures change."""
    return StreamingResponse(
        _changes(request, factory, settings.dashboard_refresh_seconds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


#: A stream ends after this long; the browser reconnects (and signs in again if needed).
_STREAM_SECONDS = 300.0


async def _changes(
    request: Request, factory: sessionmaker[Session], every: float
) -> AsyncIterator[str]:
    def read() -> str:
        with factory() as session:
            return desk.fingerprint(session)

    yield f"retry: {int(every * 1000)}\n\n"
    last = await anyio.to_thread.run_sync(read)
    loop = asyncio.get_running_loop()
    ends = loop.time() + _STREAM_SECONDS
    while loop.time() < ends and not await request.is_disconnected():
        await asyncio.sleep(every)
        mark = await anyio.to_thread.run_sync(read)
        if mark != last:
            last = mark
            yield f"event: change\ndata: {mark}\n\n"
        else:
            yield ": idle\n\n"


def _bearer(request: Request) -> str:
    authorization = request.headers.get("authorization", "")
    return authorization[7:] if authorization.lower().startswith("bearer ") else ""


async def _check_form(request: Request) -> str:
    """The token behind a page's form post: the bearer token of a program, or the session
    cookie of a browser once the form's token matches it."""
    if bearer := _bearer(request):
        return bearer
    settings: ServerSettings = request.app.state.settings
    session_token = request.cookies.get(SESSION_COOKIE, "")
    body = (await request.body())[:2048].decode("utf-8", "replace")
    sent = (parse_qs(body).get("form_token") or [""])[0]
    if not session_token or not hmac.compare_digest(sent, form_token(settings, session_token)):
        raise NotSignedIn("sign in again: the form is missing its token or it has expired")
    return session_token


async def _page_writer(request: Request, factory: SessionFactoryDep) -> Principal:
    """The signed-in administrator behind a page's form (cookie plus form token)."""
    token = await _check_form(request)
    with factory() as session:
        principal = principal_for_token(session, token)
    if principal is None:
        raise NotSignedIn("the session is unknown, expired or revoked", invalid_token=True)
    if principal.role not in {Role.ADMINISTRATOR, Role.TECHNICIAN}:
        raise NotAllowed(
            f"role {principal.role.value!r} may not do this; "
            "needs one of: administrator, technician"
        )
    return principal


@router.post("/dead-letters/{letter_id}/replay", response_model=None)
def replay(
    letter_id: int,
    request: Request,
    factory: SessionFactoryDep,
    writer: Annotated[Principal, Depends(_page_writer)],
) -> Response | dict[str, Any]:
    """Feed a dead letter through ingestion again, once its cause is fixed.

    Stored: it leaves the list. Still refused: it comes back with today's reason.
    A browser goes back to the dashboard with a notice; a program gets JSON.
    """
    outcome = replay_dead_letter(factory, letter_id, scope_for(writer))
    if "text/html" not in request.headers.get("accept", ""):
        return asdict(outcome)
    return RedirectResponse(
        f"/dashboard?replayed={int(outcome.stored)}#dead-letters",
        status_code=status.HTTP_303_SEE_OTHER,
    )


ROLE_LABELS = {
    Role.ADMINISTRATOR: "Quản trị",
    Role.TECHNICIAN: "Kỹ thuật viên",
    Role.OPERATOR: "Vận hành",
    Role.INSPECTOR: "Thanh tra",
    Role.AUDITOR: "Kiểm toán",
}


# --------------------------------------------------------------------------- login page


@router.get("/login", response_class=HTMLResponse, dependencies=[Depends(rate_limited)])
def login_page(request: Request, next: str | None = None) -> Response:
    """The sign-in form of the desk."""
    context = {"lang": "vi", "t": Messages.for_language("vi"), "error": "", "next": safe_next(next)}
    return render(request, "login.html", context)


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(rate_limited)])
async def login_submit(request: Request, settings: SettingsDep, desk: SignInDeskDep) -> Response:
    """Check the form's credentials; set the session cookie and go where the user was
    going (the dashboard by default)."""
    # Parsed by hand: a three-field form does not justify a multipart dependency.
    body = (await request.body())[:4096].decode("utf-8", "replace")
    form = parse_qs(body)
    username = (form.get("username") or [""])[0][:100]
    password = (form.get("password") or [""])[0][:1000]
    target = safe_next((form.get("next") or [""])[0])
    ttl = timedelta(seconds=settings.token_ttl_seconds)
    context: dict[str, Any] = {
        "lang": "vi",
        "t": Messages.for_language("vi"),
        "next": target,
        "username": username,
    }
    try:
        signed = await desk.sign_in(
            username,
            password,
            ttl=ttl,
            via="dashboard",
            client=client_address(request),
            label="dashboard",
        )
    except TooManyRequests as exc:
        context["error"] = f"Đăng nhập sai quá nhiều lần; thử lại sau {exc.retry_after} giây."
        page = render(request, "login.html", context, status_code=429)
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    if signed is None:
        context["error"] = "Sai tên đăng nhập hoặc mật khẩu."
        return render(request, "login.html", context, status_code=status.HTTP_401_UNAUTHORIZED)
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        signed.token,
        max_age=settings.token_ttl_seconds,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies,
    )
    return response


@router.post("/logout", response_class=RedirectResponse, status_code=303)
async def logout(
    request: Request,
    factory: SessionFactoryDep,
    session_token: Annotated[str, Depends(_check_form)],
) -> Response:
    """Sign the browser out (or a program, by its bearer token): revoke the token and
    forget the cookie."""
    with factory() as session, session.begin():
        if principal_for_token(session, session_token) is None:
            raise NotSignedIn("the session is unknown, expired or revoked", invalid_token=True)
        revoke_token(session, session_token)
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE)
    return response
