"""The EPCIS 2.0 REST binding's discovery and top-level resources.

Beside capture and ``GET /epcis/events`` (:mod:`server.api.routes.epcis`), the standard's
OpenAPI document names resources a client walks to find data:

- ``GET /epcis/`` lists the top-level resources; ``OPTIONS`` on any resource answers 204
  with ``Allow`` and the versions and formats this server speaks;
- ``GET /epcis/events/{eventID}``: one event, as a one-event ``EPCISQueryDocument``;
- ``GET /epcis/eventTypes``, ``/epcs``, ``/bizSteps``, ``/bizLocations``, ``/readPoints``
  and ``/dispositions``: a ``Collection`` of the values present (paged), each value a
  resource whose only sub-resource is ``events``: ``GET /epcis/bizSteps/shipping/events``
  is the simple query ``EQ_bizStep=shipping`` with any further query parameters.

Every answer carries ``GS1-EPCIS-Version`` and ``GS1-CBV-Version``
(:mod:`server.api.epcis_http`); query results are JSON-LD, or XML when the client asks
for ``application/xml`` (406 for what neither binding can give).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.convertors import PathConvertor, register_url_convertor

from lineside.epcis import EPCIS_CONTEXT
from server.api.deps import SessionDep
from server.api.epcis_http import (
    DISCOVERY_HEADERS,
    QueryReader,
    link_domains,
    query_response,
    request_scope,
)
from server.errors import NoSuchResourceException
from server.services import epcis

__all__ = ["create_resources_router"]


class _AnyPath(PathConvertor):
    """A path parameter that may hold any character, line breaks too (Starlette's
    ``path`` stops at one), so a garbled identifier gets this router's own 404."""

    regex = "(?s:.*)"


register_url_convertor("anypath", _AnyPath())

#: Top-level resources, in the order the standard lists them.
TOP_LEVEL = (
    "capture",
    "events",
    "eventTypes",
    "epcs",
    "bizSteps",
    "bizLocations",
    "readPoints",
    "dispositions",
    "queries",
)

#: Each collection resource and the simple-query parameter its values filter on.
_FILTERS: dict[str, str] = {
    "eventTypes": "eventType",
    "epcs": "MATCH_anyEPC",
    "bizSteps": "EQ_bizStep",
    "bizLocations": "EQ_bizLocation",
    "readPoints": "EQ_readPoint",
    "dispositions": "EQ_disposition",
}


def _allowed(path: str) -> str:
    """The methods of a resource: capture and the query lists take POST, a named query
    and a subscription DELETE."""
    parts = path.strip("/").split("/")
    if parts[0] in ("capture", "events") and len(parts) == 1:
        return "OPTIONS, GET, POST"
    if parts[0] == "queries" and len(parts) in (1, 3) and parts[-1] != "events":
        return "OPTIONS, GET, POST"
    if parts[0] == "queries" and len(parts) in (2, 4):
        return "OPTIONS, GET, DELETE"
    return "OPTIONS, GET"


def _collection(members: Iterable[str]) -> dict[str, Any]:
    return {"@context": EPCIS_CONTEXT, "type": "Collection", "member": list(members)}


def create_resources_router(reader: Callable[..., Any] | None = QueryReader) -> APIRouter:
    """The discovery and top-level resources; ``reader`` is the access check."""
    router = APIRouter(prefix="/epcis", tags=["EPCIS 2.0"])
    deps = [Depends(reader)] if reader is not None else []

    @router.options("/", include_in_schema=False)
    @router.options("/{path:anypath}", include_in_schema=False)
    def discover(path: str = "") -> Response:
        """204 with the versions, formats and methods of a resource."""
        return Response(status_code=204, headers={**DISCOVERY_HEADERS, "Allow": _allowed(path)})

    @router.get("/", dependencies=deps)
    def top_level() -> Response:
        """The top-level resources of this repository."""
        return JSONResponse(_collection(TOP_LEVEL))

    @router.get("/events/{event_id:anypath}", dependencies=deps)
    def one_event(event_id: str, request: Request, session: SessionDep) -> Response:
        """One event by its ``eventID``, as a one-event query document."""
        items = [("EQ_eventID", event_id)]
        page = epcis.query_events(session, items, link_domains(request), request_scope(request))
        if not page.document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]:
            raise NoSuchResourceException(f"no event {event_id!r:.200}")
        return query_response(request, page, session)

    @router.get("/{resource}", dependencies=deps)
    def collection(resource: str, request: Request, session: SessionDep) -> Response:
        """The values a top-level resource holds (event types, EPCs, business steps...)."""
        if resource not in _FILTERS:
            raise NoSuchResourceException(f"no EPCIS resource {resource!r:.60}")
        items = request.query_params.multi_items()
        page = epcis.resource_values(session, resource, items, request_scope(request))
        headers = {}
        if page.next_page_token is not None:
            next_url = request.url.remove_query_params("nextPageToken").include_query_params(
                nextPageToken=page.next_page_token
            )
            headers["Link"] = f'<{next_url}>; rel="next"'
        return JSONResponse(_collection(page.values), headers=headers)

    @router.get("/{resource}/{value:anypath}", dependencies=deps)
    def sub_resource(resource: str, value: str, request: Request, session: SessionDep) -> Response:
        """``{value}`` lists its sub-resources (``events``); ``{value}/events`` queries."""
        if resource not in _FILTERS:
            raise NoSuchResourceException(f"no EPCIS resource {resource!r:.60}")
        if not value.endswith("/events"):
            epcis.require_resource_value(session, resource, value, request_scope(request))
            return JSONResponse(_collection(["events"]))
        value = value.removesuffix("/events")
        items = [(_FILTERS[resource], value), *request.query_params.multi_items()]
        page = epcis.query_events(session, items, link_domains(request), request_scope(request))
        return query_response(request, page, session)

    return router
