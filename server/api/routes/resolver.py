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

import hashlib
import logging
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from lineside.errors import GS1Error
from server.api.deps import SessionDep, rate_limited
from server.api.routes.trace import trace_domains
from server.db.models import ConsumerScan
from server.services.tracing import CodeRef, TraceResult, Verdict, parse_code, trace
from server.web import page_context, render
from server.web.i18n import Messages, pick_language

logger = logging.getLogger(__name__)

router = APIRouter(tags=["digital link"], dependencies=[Depends(rate_limited)])

LINKSET_TYPE = "application/linkset+json"
GS1_VOC = "https://gs1.org/voc/"
#: Scans above which the page warns that the code may have been copied.
CLONE_WARNING_SCANS = 5


def _wants_linkset(request: Request, link_type: str | None) -> bool:
    if link_type == "all":
        return True
    accept = request.headers.get("accept", "")
    return LINKSET_TYPE in accept or ("application/json" in accept and "text/html" not in accept)


def _record_scan(request: Request, session: Any, ref: CodeRef, uri: str, verdict: str) -> None:
    salt = request.app.state.settings.secret_key.get_secret_value()
    client = request.client.host if request.client is not None else ""
    session.add(
        ConsumerScan(
            gtin=ref.gtin or "",
            lot=ref.lot,
            serial=ref.serial,
            uri=uri[:1000],
            scanned_at=datetime.now(UTC),
            client_hash=hashlib.sha256(f"{salt}|{client}".encode()).hexdigest(),
            user_agent=request.headers.get("user-agent", "")[:500],
            verdict=verdict,
        )
    )


def canonical_uri(domain: str, ref: CodeRef) -> str:
    """The Digital Link URI of ``ref`` on ``domain`` (primary key and key qualifiers only).

    >>> canonical_uri("https://id.example.vn", CodeRef(gtin="08934567890120", lot="A/1"))
    'https://id.example.vn/01/08934567890120/10/A%2F1'
    """
    uri = f"{domain}/01/{ref.gtin}"
    if ref.lot:
        uri += f"/10/{quote(ref.lot, safe='')}"
    if ref.serial:
        uri += f"/21/{quote(ref.serial, safe='')}"
    return uri


def linkset(domain: str, result: TraceResult) -> dict[str, Any]:
    """An RFC 9264 linkset for a resolved code, with GS1 link types as relation URIs."""
    anchor = canonical_uri(domain, result.ref)
    product = result.product
    title = product.name_vi if product is not None else result.ref.described
    page = {"href": anchor, "title": title, "type": "text/html", "hreflang": ["vi", "en"]}
    entry: dict[str, Any] = {
        "anchor": anchor,
        f"{GS1_VOC}defaultLink": [page],
        f"{GS1_VOC}pip": [page],
        f"{GS1_VOC}verificationService": [
            {"href": f"{anchor}?linkType=all", "title": result.verdict.value, "type": LINKSET_TYPE}
        ],
    }
    if product is not None and product.certificate_number:
        entry[f"{GS1_VOC}certificationInfo"] = [
            {"href": anchor + "#certificate", "title": product.certificate_number}
        ]
    if result.recall is not None:
        entry[f"{GS1_VOC}recallStatus"] = [
            {"href": anchor + "#status", "title": result.recall.reason or "recalled"}
        ]
    return {"linkset": [entry]}


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
def resolve(
    request: Request,
    session: SessionDep,
    path: Annotated[str, Path(max_length=300, description="gtin[/10/lot][/21/serial]")],
    lang: Annotated[str | None, Query(max_length=5)] = None,
    link_type: Annotated[str | None, Query(alias="linkType", max_length=100)] = None,
) -> Response:
    """Resolve a GS1 Digital Link: consumer page or linkset."""
    settings = request.app.state.settings
    language = pick_language(lang, request.headers.get("accept-language"))
    words = Messages.for_language(language)
    wants_linkset = _wants_linkset(request, link_type)
    # The raw path keeps %2F inside a lot or serial from being read as a separator.
    raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    query = request.url.query
    uri = f"{settings.resolver_domain}{raw_path}" + (f"?{query}" if query else "")
    try:
        ref = parse_code(uri)
        if ref.gtin is None:
            raise GS1Error("no GTIN")
    except GS1Error:
        ref = None
    result = trace(session, ref, trace_domains(request)) if ref is not None else None
    if ref is not None and result is not None:
        _record_scan(request, session, ref, uri, result.verdict.value)
    if result is None or result.product is None or result.verdict is Verdict.UNKNOWN:
        if wants_linkset:
            return JSONResponse({"detail": "unknown code"}, status_code=404)
        context = page_context(request, language, words)
        context["code"] = ref.described if ref is not None else ""
        return render(request, "not_found.html", context, status_code=404)
    if wants_linkset:
        return JSONResponse(linkset(settings.resolver_domain, result), media_type=LINKSET_TYPE)
    context = page_context(request, language, words)
    context.update(consumer_view(result, language))
    return render(request, "consumer.html", context)


def consumer_view(result: TraceResult, language: str) -> dict[str, Any]:
    """What the consumer page shows, as plain values for the template."""
    product = result.product
    org = result.organisation
    english = language == "en"
    name = ""
    description = ""
    if product is not None:
        name = (product.name_en if english and product.name_en else product.name_vi) or ""
        description = (
            product.description_en if english and product.description_en else product.description_vi
        ) or ""
    stages = [
        {
            "step": event.step,
            "time": event.event_time,
            "place": (
                result.facility.name
                if event.step == "commissioning" and result.facility is not None
                else (event.biz_location or event.read_point or "")
            ),
        }
        for event in result.events
    ]
    return {
        "verdict": result.verdict.value,
        "is_genuine": result.verdict is Verdict.GENUINE,
        "product": product,
        "product_name": name,
        "description": description,
        "organisation": org,
        "facility": result.facility,
        "gtin": result.ref.gtin,
        "lot": result.lot,
        "serial": result.ref.serial,
        "production_date": result.production_date,
        "expiry_date": result.expiry_date,
        "stars": product.ocop_stars if product is not None else None,
        "stages": stages,
        "recall": result.recall,
        "scan_count": result.scan_count + 1,
        "clone_warning": result.scan_count + 1 > CLONE_WARNING_SCANS,
    }
