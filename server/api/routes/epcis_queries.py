"""Named queries of the EPCIS 2.0 REST binding.

- ``POST /epcis/queries`` with ``{"name": ..., "query": {...}}``: 201 and ``Location``;
  409 when the name is taken;
- ``GET /epcis/queries`` (paged), ``GET``/``DELETE /epcis/queries/{queryName}``;
- ``GET /epcis/queries/{queryName}/events``: the query's events, as ``/epcis/events``
  answers them (JSON-LD or XML, paged).

Mounted before the top-level resources, whose ``/epcis/{resource}`` would otherwise
answer these paths.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from server.api.deps import SessionDep
from server.api.epcis_http import QueryReader, link_domains, query_response
from server.errors import UnsupportedMediaTypeException, ValidationException
from server.services import epcis_queries

__all__ = ["create_queries_router", "json_body"]


async def json_body(request: Request) -> Any:
    """The JSON body of a request; 415 for another declared type, 400 for bad JSON."""
    media = (request.headers.get("content-type") or "application/json").split(";")[0].strip()
    if not media.lower().endswith(("/json", "+json")):
        raise UnsupportedMediaTypeException(
            f"Content-Type {media!r:.80} is not accepted; send application/json"
        )
    try:
        return json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationException(f"the body is not JSON: {exc}") from exc


def _next_link(request: Request, token: str | None) -> dict[str, str]:
    if token is None:
        return {}
    url = request.url.remove_query_params("nextPageToken").include_query_params(nextPageToken=token)
    return {"Link": f'<{url}>; rel="next"'}


def create_queries_router(reader: Callable[..., Any] | None = QueryReader) -> APIRouter:
    """The named-query resources; ``reader`` is the access check (a named query is a
    view a query client makes for itself)."""
    router = APIRouter(prefix="/epcis", tags=["EPCIS 2.0"])
    deps = [Depends(reader)] if reader is not None else []

    @router.post("/queries", status_code=201, dependencies=deps)
    async def create_query(request: Request, session: SessionDep) -> Response:
        """Create a named query."""
        query = epcis_queries.create_query(session, await json_body(request))
        return JSONResponse(
            epcis_queries.query_json(query),
            status_code=201,
            headers={"Location": f"/epcis/queries/{query.name}"},
        )

    @router.get("/queries", dependencies=deps)
    def list_queries(request: Request, session: SessionDep) -> Response:
        """The named queries."""
        page = epcis_queries.list_queries(session, request.query_params.multi_items())
        return JSONResponse(
            [epcis_queries.query_json(q) for q in page.queries],
            headers=_next_link(request, page.next_page_token),
        )

    @router.get("/queries/{query_name}", dependencies=deps)
    def get_query(query_name: str, session: SessionDep) -> Response:
        """One named query's definition."""
        return JSONResponse(epcis_queries.query_json(epcis_queries.get_query(session, query_name)))

    @router.delete("/queries/{query_name}", status_code=204, dependencies=deps)
    def delete_query(query_name: str, session: SessionDep) -> Response:
        """Remove a named query and its subscriptions."""
        epcis_queries.delete_query(session, query_name)
        return Response(status_code=204)

    @router.get("/queries/{query_name}/events", dependencies=deps)
    def query_events(query_name: str, request: Request, session: SessionDep) -> Response:
        """The named query's events."""
        page = epcis_queries.run_query(
            session, query_name, request.query_params.multi_items(), link_domains(request)
        )
        return query_response(request, page, session)

    return router
