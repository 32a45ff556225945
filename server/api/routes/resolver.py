"""The GS1-Conformant resolver and the consumer page it links to.

- ``GET|HEAD /01/{gtin}[/22/..][/10/lot][/21/serial]``, ``/00/{sscc}``, ``/414/{gln}``
  and compressed links (``/{compressed}``, ``/01/{gtin}/{compressed}``): a ``307`` to
  the default link, or to the link of the requested ``linkType``; the linkset (RFC
  9264) for ``linkType=all`` or ``linkset`` or an ``Accept`` that prefers JSON. Every
  answer carries ``Vary: Accept``, a ``Link`` header (the linkset, every link, and for a
  compressed request the uncompressed URI as ``owl:sameAs``) and CORS headers;
  ``OPTIONS`` answers the preflight. A syntax error is a ``400`` with the parser's
  message; an unknown key a ``404``.
- ``GET /.well-known/gs1resolver``: the resolver description file.
- ``GET /p/01/...``: the consumer page (the ``gs1:pip`` link), in Vietnamese unless
  ``?lang=en`` or Accept-Language asks for English. Only this page records a consumer
  scan, with a device cookie so that reloads are one device.

Look-ups and traces read from the read replica when one is configured and keeps up
(``ReadSessionDep``); the consumer scans are recorded, and counted, on the primary, so
a page counts its own view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from lineside.errors import GS1Error
from lineside.gs1.compression import is_compressed_segment
from server.api.deps import ReadSessionDep, SessionDep, SettingsDep, rate_limited
from server.api.problems import problem_body, problem_response
from server.services.resolver import (
    LINKSET_CONTEXT,
    LINKSET_TYPE,
    KeyLinks,
    Link,
    LinkRequest,
    ScanSource,
    consumer_view,
    link_types_match,
    links_for,
    linkset,
    place_names,
    read_code,
    read_request,
    record_view,
    resolver_description,
    scan_summary,
)
from server.services.tracing import Verdict, trace_domains
from server.web import page_context, render
from server.web.i18n import Messages, pick_language

router = APIRouter(tags=["digital link"], dependencies=[Depends(rate_limited)])
#: Matches any single path segment: the application includes it after every other router.
compressed_router = APIRouter(tags=["digital link"], dependencies=[Depends(rate_limited)])

DEVICE_COOKIE = "ls_device"
_DEVICE_COOKIE_AGE = 2 * 365 * 24 * 3600
_METHODS = "GET, HEAD, OPTIONS"
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": _METHODS,
    "Access-Control-Allow-Headers": "Accept, Accept-Language",
    "Access-Control-Expose-Headers": "Link, Location, Vary, Content-Type",
}
_LINKSET_MEDIA = (LINKSET_TYPE, "application/json", "application/ld+json")
_LINK_LABELS = {
    "defaultLink": "Default link",
    "pip": "Product information page",
    "verificationService": "Verification service",
    "certificationInfo": "Certification information",
    "recallStatus": "Recall status",
    "traceability": "Traceability information",
    "locationInfo": "Location information",
}
_KEY_PATHS = ("/01/{path:path}", "/00/{path:path}", "/414/{path:path}")
_RESPONSES: dict[int | str, dict[str, object]] = {
    307: {"description": "Redirect to the default link or the requested link type."},
    200: {"description": "The linkset.", "content": {LINKSET_TYPE: {}, "application/json": {}}},
    400: {"description": "Not a valid GS1 Digital Link URI (the parser's message)."},
    404: {"description": "Unknown key, or no link of the requested type."},
}


def preferred_media(accept: str | None, offered: Sequence[str]) -> str | None:
    """The offered media type the ``Accept`` header ranks highest (ties: offer order).

    >>> preferred_media("text/html,application/xml;q=0.9,*/*;q=0.8", ["text/html", "a/b"])
    'text/html'
    >>> preferred_media("application/json", ["text/html", "application/json"])
    'application/json'
    >>> preferred_media(None, ["text/html", "application/json"])
    'text/html'
    """
    best: str | None = None
    best_rank = (0.0, -1, 0)
    for part in (accept or "*/*").split(","):
        media, *params = (piece.strip().lower() for piece in part.split(";"))
        weight = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    weight = float(param[2:])
                except ValueError:
                    weight = 0.0
        if weight <= 0:
            continue
        for position, candidate in enumerate(offered):
            if media == candidate:
                specificity = 2
            elif media == candidate.split("/")[0] + "/*":
                specificity = 1
            elif media == "*/*":
                specificity = 0
            else:
                continue
            rank = (weight, specificity, -position)
            if best is None or rank > best_rank:
                best, best_rank = candidate, rank
    return best


def _raw_path(request: Request) -> str:
    # The raw path keeps %2F inside a lot or serial from being read as a separator.
    raw = request.scope.get("raw_path", b"")
    return raw.decode("latin-1") if raw else request.url.path


def _finish(request: Request, response: Response) -> Response:
    response.headers.update(CORS_HEADERS)
    response.headers["Vary"] = "Accept"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.method == "HEAD":
        response.body = b""  # the headers, Content-Length included, as for GET
    return response


def _problem(request: Request, status: int, detail: str, link: str | None = None) -> Response:
    headers = {"Link": link} if link else None
    return _finish(request, problem_response(status, problem_body(status, detail), headers))


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _link_value(href: str, rel: str, title: str, *extra: str) -> str:
    """One link of a ``Link`` header; a title that is not plain ASCII also goes in
    ``title*`` (RFC 8187), with an ASCII ``title`` beside it."""
    params = [f"<{href}>", f'rel="{rel}"']
    ascii_title = title if title.isascii() and title.isprintable() and "," not in title else ""
    params.append(f'title="{_quoted(ascii_title or _LINK_LABELS.get(rel, "Link"))}"')
    if not ascii_title and title:
        params.append(f"title*=UTF-8''{quote(title, safe='')}")
    params.extend(extra)
    return "; ".join(params)


def link_header(found: KeyLinks, wanted: LinkRequest, domain: str) -> str:
    """The ``Link`` header: the linkset, every link and, for a compressed request, the
    uncompressed URI (``owl:sameAs``)."""
    values = [
        _link_value(
            f"{found.anchor}?linkType=linkset",
            "linkset",
            "Linkset",
            f'type="{LINKSET_TYPE}"',
        )
    ]
    for link in found.links:
        extra = [f'type="{link.media_type}"'] if link.media_type else []
        extra += [f'hreflang="{language}"' for language in link.hreflang]
        values.append(
            _link_value(
                link.href, link.rel_uri, link.title or _LINK_LABELS.get(link.rel, ""), *extra
            )
        )
    if wanted.compressed_from is not None:
        values.append(
            _link_value(
                wanted.uncompressed(domain), "owl:sameAs", "Uncompressed GS1 Digital Link URI"
            )
        )
    return ", ".join(values)


def _with_query(href: str, query: str) -> str:
    """``href`` with the request's query string passed on (before any fragment)."""
    if not query:
        return href
    base, hash_mark, fragment = href.partition("#")
    joined = base + ("&" if "?" in base else "?") + query
    return joined + hash_mark + fragment


def _linkset_answer(request: Request, found: KeyLinks, media: str, link: str) -> Response:
    body = linkset(found)
    headers = {"Link": link}
    if media == "application/ld+json":
        body = {"@context": LINKSET_CONTEXT, **body}
    else:
        headers["Link"] += (
            f', <{LINKSET_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; '
            'type="application/ld+json"; title="Linkset JSON-LD context"'
        )
    return _finish(request, JSONResponse(body, media_type=media, headers=headers))


def _unknown_key(
    request: Request,
    session: SessionDep,
    read: ReadSessionDep,
    settings: SettingsDep,
    wanted: LinkRequest,
) -> Response:
    """A 404: a page for a person's browser (recorded as a consumer view), else a problem."""
    described = f"({wanted.primary.ai}){wanted.primary.value}"
    accept = request.headers.get("accept")
    if preferred_media(accept, ("text/html", *_LINKSET_MEDIA)) != "text/html":
        return _problem(request, 404, f"nothing is known about {described}")
    language = pick_language(
        request.query_params.get("lang"), request.headers.get("accept-language")
    )
    if wanted.primary.ai == "01" and request.method == "GET":
        domain = settings.resolver_domain
        uri = wanted.uncompressed(domain)
        ref, result = read_code(read, uri, trace_domains(domain))
        record_view(session, uri, ref, result, _source(request, settings))
    context = page_context(request, language, Messages.for_language(language))
    context["code"] = described
    return _finish(request, render(request, "not_found.html", context, status_code=404))


def _source(request: Request, settings: SettingsDep) -> ScanSource:
    return ScanSource(
        client=request.client.host if request.client is not None else "",
        user_agent=request.headers.get("user-agent", "")[:500],
        salt=settings.secret_key.get_secret_value(),
        device=request.cookies.get(DEVICE_COOKIE),
    )


def _resolve(
    request: Request,
    session: SessionDep,
    read: ReadSessionDep,
    settings: SettingsDep,
    link_type: str | None,
) -> Response:
    domain = settings.resolver_domain
    try:
        wanted = read_request(domain, _raw_path(request), request.url.query)
    except GS1Error as exc:
        return _problem(request, 400, str(exc))
    found = links_for(read, domain, wanted)
    if found is None:
        return _unknown_key(request, session, read, settings, wanted)
    link = link_header(found, wanted, domain)
    accept = request.headers.get("accept")
    if link_type in ("all", "linkset"):
        media = preferred_media(accept, _LINKSET_MEDIA) or LINKSET_TYPE
        return _linkset_answer(request, found, media, link)
    if link_type is None:
        media = preferred_media(accept, ("text/html", *_LINKSET_MEDIA)) or "text/html"
        if media != "text/html":
            return _linkset_answer(request, found, media, link)
        target: Link | None = found.default
    else:
        target = next((each for each in found.links if link_types_match(link_type, each.rel)), None)
    if target is None:
        available = ", ".join(dict.fromkeys(f"gs1:{each.rel}" for each in found.links))
        return _problem(
            request, 404, f"no link of type {link_type!r} (available: {available})", link
        )
    redirect = RedirectResponse(
        _with_query(target.href, wanted.query), status_code=307, headers={"Link": link}
    )
    return _finish(request, redirect)


LinkTypeQuery = Annotated[
    str | None,
    Query(alias="linkType", max_length=200, description="A GS1 link type, 'all' or 'linkset'."),
]


def resolve_digital_link(
    request: Request,
    session: SessionDep,
    read: ReadSessionDep,
    settings: SettingsDep,
    link_type: LinkTypeQuery = None,
) -> Response:
    """Resolve a GS1 Digital Link URI: redirect to a link, or the linkset."""
    return _resolve(request, session, read, settings, link_type)


def resolve_compressed_link(
    request: Request,
    session: SessionDep,
    read: ReadSessionDep,
    settings: SettingsDep,
    link_type: LinkTypeQuery = None,
) -> Response:
    """Resolve a compressed GS1 Digital Link URI as its uncompressed form."""
    segment = _raw_path(request).strip("/")
    if not is_compressed_segment(segment):
        # Any other single-segment path that no route knows: not a Digital Link at all.
        return _problem(request, 404, "no such page or compressed GS1 Digital Link")
    return _resolve(request, session, read, settings, link_type)


def resolver_preflight(request: Request) -> Response:
    """CORS preflight and the methods the resolver allows."""
    response = Response(
        status_code=204, headers={"Allow": _METHODS, "Access-Control-Max-Age": "86400"}
    )
    return _finish(request, response)


def _add_resolver_routes(
    target: APIRouter, name: str, path: str, endpoint: Callable[..., Response]
) -> None:
    for method in ("GET", "HEAD"):
        target.add_api_route(
            path,
            endpoint,
            methods=[method],
            operation_id=f"resolve_{name}_{method.lower()}",
            summary=f"Resolve {name}" + (" (headers only)" if method == "HEAD" else ""),
            responses=_RESPONSES,
        )
    target.add_api_route(
        path,
        resolver_preflight,
        methods=["OPTIONS"],
        operation_id=f"resolve_{name}_options",
        summary=f"Resolver preflight, {name}",
        status_code=204,
    )


for _name, _path in (("gtin", _KEY_PATHS[0]), ("sscc", _KEY_PATHS[1]), ("gln", _KEY_PATHS[2])):
    _add_resolver_routes(router, _name, _path, resolve_digital_link)
_add_resolver_routes(compressed_router, "compressed_link", "/{segment}", resolve_compressed_link)


@router.get("/.well-known/gs1resolver", tags=["digital link"])
def gs1_resolver_description(request: Request, settings: SettingsDep) -> Response:
    """The GS1 resolver description file."""
    body = resolver_description(settings.resolver_domain, "Lineside resolver")
    return _finish(request, JSONResponse(body))


@router.get("/p/01/{path:path}", response_class=HTMLResponse)
def consumer_page(
    request: Request,
    session: SessionDep,
    read: ReadSessionDep,
    settings: SettingsDep,
    lang: Annotated[str | None, Query(max_length=5)] = None,
) -> Response:
    """The consumer page of a code: verdict, product, producer, journey and scans."""
    language = pick_language(lang, request.headers.get("accept-language"))
    words = Messages.for_language(language)
    domain = settings.resolver_domain
    path = _raw_path(request).removeprefix("/p").rstrip("/")
    query = request.url.query
    source = _source(request, settings)
    uri = f"{domain}{path}" + (f"?{query}" if query else "")
    ref, result = read_code(read, uri, trace_domains(domain))
    record_view(session, uri, ref, result, source)
    context = page_context(request, language, words)
    if result is None or result.product is None or result.verdict is Verdict.UNKNOWN:
        context["code"] = ref.described if ref is not None else ""
        response = render(request, "not_found.html", context, status_code=404)
    else:
        scans = scan_summary(session, result.ref)  # on the primary: it counts this view
        context.update(consumer_view(result, language, scans, place_names(read, result)))
        response = render(request, "consumer.html", context)
    response.headers["Cache-Control"] = "private, no-store"
    response.set_cookie(
        DEVICE_COOKIE,
        source.device_token(),
        max_age=_DEVICE_COOKIE_AGE,
        path="/p/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    return response
