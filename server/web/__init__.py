"""Server-rendered pages: Jinja2 templates (autoescaped) and local static files.

Nothing is loaded from a CDN; charts are inline SVG drawn on the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

WEB_ROOT = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_ROOT / "templates"
STATIC_DIR = WEB_ROOT / "static"


def _dmy(value: date | datetime | None) -> str:
    """Vietnamese date order, ``31/12/2026``; empty for None."""
    if value is None:
        return ""
    return value.strftime("%d/%m/%Y")


def _dmy_hm(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.strftime("%d/%m/%Y %H:%M UTC")


def make_templates() -> Jinja2Templates:
    """The template set with autoescaping forced on for every template."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["dmy"] = _dmy
    environment.filters["dmy_hm"] = _dmy_hm
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
