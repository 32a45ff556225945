"""HTTP details of the EPCIS 2.0 REST binding shared by its routes: the version headers
every answer carries, the discovery headers of ``OPTIONS``, and content negotiation.

>>> negotiated_format("application/xml, application/json;q=0.5")
'xml'
>>> negotiated_format(None)
'json'
>>> negotiated_format("text/csv") is None
True
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from lineside.epcis.xml import document_to_xml
from server.api.deps import require_role
from server.errors import NotAcceptableException
from server.services.auth import Principal, Role
from server.services.epc_format import check_epc_format, company_prefixes, translate_document
from server.services.epcis import QueryPage
from server.services.tenancy import PROVINCE, Scope, scope_for
from server.services.tracing import trace_domains

__all__ = [
    "DISCOVERY_HEADERS",
    "VERSION_HEADERS",
    "CaptureWriter",
    "QueryReader",
    "QueryWriter",
    "add_version_headers",
    "caller",
    "link_domains",
    "negotiated_format",
    "query_response",
    "request_scope",
]

#: Writing needs a technician or operator account; reading any role that traces.
CaptureWriter = require_role(Role.TECHNICIAN, Role.OPERATOR)
QueryReader = require_role(Role.INSPECTOR, Role.AUDITOR, Role.TECHNICIAN, Role.OPERATOR)
#: Named queries and subscriptions: a subscription delivers events beyond any one
#: organisation, so only province-wide roles (inspectors; administrators pass every
#: check) define them. Business users read their own events through the queries.
QueryWriter = require_role(Role.INSPECTOR)

#: Sent with every EPCIS answer.
VERSION_HEADERS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}

#: What ``OPTIONS`` tells a client about a resource.
DISCOVERY_HEADERS = {
    **VERSION_HEADERS,
    "GS1-EPCIS-Min": "2.0.0",
    "GS1-EPCIS-Max": "2.0.0",
    "GS1-CBV-Min": "2.0.0",
    "GS1-CBV-Max": "2.0.0",
    "GS1-EPC-Format": "No_Preference",
    "GS1-CBV-XML-Format": "No_Preference",
    "GS1-Vendor-Version": "lineside",
}

_JSON_TYPES = ("application/json", "application/ld+json", "application/*", "*/*")
_XML_TYPES = ("application/xml", "text/xml")


def negotiated_format(accept: str | None) -> str | None:
    """``"json"`` or ``"xml"`` for an ``Accept`` header, by quality then order; None
    when it admits neither binding (the caller answers 406)."""
    if not accept or not accept.strip():
        return "json"
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        kind = (
            "json"
            if media.lower() in _JSON_TYPES
            else "xml"
            if media.lower() in _XML_TYPES
            else None
        )
        if kind is not None and quality > 0:
            ranked.append((-quality, position, kind))
    return min(ranked)[2] if ranked else None


async def add_version_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """HTTP middleware: the version headers on every answer under ``/epcis``."""
    response = await call_next(request)
    if request.url.path.startswith("/epcis"):
        for name, value in VERSION_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


def link_domains(request: Request) -> list[str]:
    """Digital Link hosts an EPC may be written on: GS1's and this resolver's (GS1's
    alone in an app without settings, as in a bare EPCIS repository)."""
    settings = getattr(request.app.state, "settings", None)
    return trace_domains(settings.resolver_domain) if settings is not None else []


def query_response(request: Request, page: QueryPage, session: Session | None = None) -> Response:
    """An ``EPCISQueryDocument`` page in the binding the client accepts (406 when it
    accepts neither), with the ``Link`` header of the next page; EPCs in the form
    ``GS1-EPC-Format`` asks for (translated when a ``session`` is given)."""
    wanted = negotiated_format(request.headers.get("accept"))
    if wanted is None:
        raise NotAcceptableException(
            "this resource is served as application/ld+json, application/json or "
            "application/xml; the Accept header admits none of them"
        )
    headers: dict[str, str] = {}
    epc_format = check_epc_format(request.headers.get("GS1-EPC-Format"))
    if session is not None and epc_format != "No_Preference":
        prefixes = company_prefixes(session) if epc_format == "Always_EPC_URN" else []
        document = translate_document(page.document, epc_format, prefixes)
        page = QueryPage(document, page.next_page_token)
        headers["GS1-EPC-Format"] = epc_format
    if page.next_page_token is not None:
        next_url = request.url.remove_query_params("nextPageToken").include_query_params(
            nextPageToken=page.next_page_token
        )
        headers["Link"] = f'<{next_url}>; rel="next"'
    if wanted == "xml":
        body = document_to_xml(page.document)
        return Response(body, media_type="application/xml", headers=headers)
    media = (
        "application/ld+json" if _asks_jsonld(request.headers.get("accept")) else "application/json"
    )
    return JSONResponse(page.document, headers=headers, media_type=media)


def _asks_jsonld(accept: str | None) -> bool:
    """JSON-LD is named when the client names it; plain JSON otherwise (GS1's OpenAPI
    document lists ``application/json`` for query results)."""
    return accept is not None and "application/ld+json" in accept.lower()


def caller(request: Request) -> Principal | None:
    """The signed-in caller the access check left, if the router has one."""
    principal = getattr(request.state, "principal", None)
    return principal if isinstance(principal, Principal) else None


def request_scope(request: Request) -> Scope:
    """The organisation the caller's EPCIS reads are limited to (an open router: none)."""
    principal = caller(request)
    return PROVINCE if principal is None else scope_for(principal)
