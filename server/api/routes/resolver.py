"""The GS1 Digital Link resolver behind the consumer QR code.

``GET /01/{gtin}[/10/{lot}][/21/{serial}][?17=YYMMDD]``:

- a browser (``Accept: text/html``, the default) gets the consumer page, in Vietnamese
  unless ``?lang=en`` or Accept-Language asks for English;
- ``Accept: application/linkset+json`` (or ``?linkType=all``) gets an RFC 9264 linkset
  with GS1 link types.

Every resolution is recorded as a consumer scan; the count is shown as a clone warning.
Unknown codes get an honest 404 that reveals nothing internal.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from server.api.deps import SessionDep, SettingsDep, rate_limited
from server.api.problems import problem_body, problem_response
from server.services.resolver import (
    LINKSET_TYPE,
    ScanSource,
    consumer_view,
    linkset,
    place_names,
    resolve,
)
from server.services.tracing import trace_domains
from server.web import page_context, render
from server.web.i18n import Messages, pick_language

router = APIRouter(tags=["digital link"], dependencies=[Depends(rate_limited)])


def _wants_linkset(request: Request, link_type: str | None) -> bool:
    if link_type == "all":
        return True
    accept = request.headers.get("accept", "")
    return LINKSET_TYPE in accept or ("application/json" in accept and "text/html" not in accept)


@router.get(
    "/01/{path:path}",
    responses={
        200: {
            "description": "The consumer page or a linkset.",
            "content": {"text/html": {}, LINKSET_TYPE: {}},
        },
        404: {"description": "The code is unknown or malformed."},
    },
    response_class=HTMLResponse,
)
def resolve_digital_link(  # noqa: PLR0917 - FastAPI passes each parameter by name
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    path: Annotated[str, Path(max_length=300, description="gtin[/10/lot][/21/serial]")],
    lang: Annotated[str | None, Query(max_length=5)] = None,
    link_type: Annotated[str | None, Query(alias="linkType", max_length=100)] = None,
) -> Response:
    """Resolve a GS1 Digital Link: consumer page or linkset."""
    language = pick_language(lang, request.headers.get("accept-language"))
    words = Messages.for_language(language)
    wants_linkset = _wants_linkset(request, link_type)
    # The raw path keeps %2F inside a lot or serial from being read as a separator.
    raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    query = request.url.query
    uri = f"{settings.resolver_domain}{raw_path}" + (f"?{query}" if query else "")
    source = ScanSource(
        client=request.client.host if request.client is not None else "",
        user_agent=request.headers.get("user-agent", ""),
        salt=settings.secret_key.get_secret_value(),
    )
    found = resolve(session, uri, trace_domains(settings.resolver_domain), source)
    if found.result is None or not found.known:
        if wants_linkset:
            # Returned, not raised: the scan of an unknown code is recorded all the same.
            return problem_response(404, problem_body(404, "unknown code"))
        context = page_context(request, language, words)
        context["code"] = found.ref.described if found.ref is not None else ""
        return render(request, "not_found.html", context, status_code=404)
    if wants_linkset:
        return JSONResponse(
            linkset(settings.resolver_domain, found.result), media_type=LINKSET_TYPE
        )
    context = page_context(request, language, words)
    context.update(consumer_view(found.result, language, place_names(session, found.result)))
    return render(request, "consumer.html", context)
