"""Server-rendered pages: Jinja2 templates (autoescaped) and local static files.

Nothing is loaded from a CDN; charts are inline SVG drawn on the server. Times are shown
in the server's configured time zone (``timezone`` setting), day first, 24 hours:

>>> from zoneinfo import ZoneInfo
>>> local = LocalTime(ZoneInfo("Asia/Ho_Chi_Minh"))
>>> local.dmy_hm(datetime(2026, 3, 1, 20, 30, tzinfo=UTC))
'02/03/2026 03:30'
>>> local.dmy(datetime(2026, 3, 1, 20, 30, tzinfo=UTC)), local.dmy(date(2026, 3, 1))
('02/03/2026', '01/03/2026')
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

WEB_ROOT = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_ROOT / "templates"
STATIC_DIR = WEB_ROOT / "static"


class LocalTime:
    """Date and time filters of the templates, in one time zone."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    def local(self, value: datetime) -> datetime:
        """``value`` in the zone; naive values are taken as UTC (as the database keeps them)."""
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(self.zone)

    def dmy(self, value: date | datetime | None) -> str:
        """Vietnamese date order, ``31/12/2026``; empty for None."""
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = self.local(value)
        return value.strftime("%d/%m/%Y")

    def dmy_hm(self, value: datetime | str | None) -> str:
        """``31/12/2026 23:59`` in the zone; ISO strings (status payloads) are parsed."""
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                return value
            return self.local(parsed).strftime("%d/%m/%Y %H:%M")
        return self.local(value).strftime("%d/%m/%Y %H:%M")

    def hm(self, value: datetime | None) -> str:
        """``23:59`` in the zone."""
        return "" if value is None else self.local(value).strftime("%H:%M")


def make_templates(zone: ZoneInfo | None = None) -> Jinja2Templates:
    """The template set with autoescaping forced on for every template; times in ``zone``
    (Asia/Ho_Chi_Minh when not given)."""
    local = LocalTime(zone or ZoneInfo("Asia/Ho_Chi_Minh"))
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["dmy"] = local.dmy
    environment.filters["dmy_hm"] = local.dmy_hm
    environment.filters["hm"] = local.hm
    environment.globals["time_zone"] = local.zone.key
    return Jinja2Templates(env=environment)


def page_context(request: Request, language: str, words: Mapping[str, str]) -> dict[str, Any]:
    """The values every public page needs."""
    other = "en" if language == "vi" else "vi"
    return {"lang": language, "t": words, "other_lang": other}


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """Render template ``name`` with ``context``."""
    templates: Jinja2Templates = request.app.state.templates
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    # Pages carry no third-party content: a strict policy costs nothing.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' https: data:; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
