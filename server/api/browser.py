"""What a person with a browser gets that a program does not: the sign-in page instead of a
401 problem document, and the API documentation served from this server (no CDN, so it
works on a factory network with no internet).

>>> safe_next("/reports/yearly?year=2026")
'/reports/yearly?year=2026'
>>> safe_next("//evil.example/x"), safe_next("https://evil.example/"), safe_next(None)
('/dashboard', '/dashboard', '/dashboard')
"""

from __future__ import annotations

import inspect
from pathlib import Path
from urllib.parse import quote

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from lineside.errors import LinesideError
from server.errors import NotSignedIn

#: Swagger UI and ReDoc, as the pinned ``fastapi-offline`` package ships them.
DOCS_ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
DOCS_STATIC_URL = "/static/docs"
#: Where a browser lands after signing in when it asked for nothing in particular.
HOME = "/dashboard"


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this server, else the dashboard (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return HOME
    return target


def wants_page(request: Request) -> bool:
    """A browser navigating (GET or HEAD asking for HTML), not a program asking for JSON."""
    accept = request.headers.get("accept", "")
    return request.method in {"GET", "HEAD"} and "text/html" in accept


def install_login_redirect(app: FastAPI) -> None:
    """Send browsers that are not signed in to ``/login?next=<where they were going>``;
    programs keep the 401 problem document of the app's problem handler."""
    problem = app.exception_handlers[LinesideError]

    async def redirect_to_login(request: Request, exc: Exception) -> Response:
        if wants_page(request):
            wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(wanted, safe='')}", status_code=303)
        answer = problem(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(NotSignedIn, redirect_to_login)


def install_offline_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` with their scripts and styles served locally.

    The app must be created with ``docs_url=None, redoc_url=None``.
    """
    app.mount(DOCS_STATIC_URL, StaticFiles(directory=DOCS_ASSETS), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} · API",
            swagger_js_url=f"{DOCS_STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC_URL}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} · API",
            redoc_js_url=f"{DOCS_STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )
