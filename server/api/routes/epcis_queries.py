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

import asyncio
import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from lineside.errors import LinesideError
from server.api.deps import SessionDep
from server.api.epcis_http import (
    QueryReader,
    QueryWriter,
    link_domains,
    query_response,
    request_scope,
)
from server.errors import UnsupportedMediaTypeException, ValidationException
from server.services import epcis_queries, epcis_stream, epcis_subscriptions

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


def create_queries_router(
    reader: Callable[..., Any] | None = QueryReader,
    writer: Callable[..., Any] | None = QueryWriter,
) -> APIRouter:
    """The named-query resources; ``reader`` checks reads, ``writer`` the creation and
    removal of queries and subscriptions (``None``: open)."""
    router = APIRouter(prefix="/epcis", tags=["EPCIS 2.0"])
    deps = [Depends(reader)] if reader is not None else []
    write_deps = [Depends(writer)] if writer is not None else []

    @router.post("/queries", status_code=201, dependencies=write_deps)
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

    @router.delete("/queries/{query_name}", status_code=204, dependencies=write_deps)
    def delete_query(query_name: str, session: SessionDep) -> Response:
        """Remove a named query and its subscriptions."""
        epcis_queries.delete_query(session, query_name)
        return Response(status_code=204)

    @router.get("/queries/{query_name}/events", dependencies=deps)
    def query_events(query_name: str, request: Request, session: SessionDep) -> Response:
        """The named query's events."""
        items = request.query_params.multi_items()
        scope = request_scope(request)
        page = epcis_queries.run_query(session, query_name, items, link_domains(request), scope)
        return query_response(request, page, session)

    _add_subscriptions(router, deps, write_deps)
    _add_websocket(router, open_access=reader is None)
    return router


def _add_subscriptions(router: APIRouter, deps: list[Any], write_deps: list[Any]) -> None:
    """Webhook subscriptions to a named query."""

    @router.post("/queries/{query_name}/subscriptions", status_code=201, dependencies=write_deps)
    async def subscribe(query_name: str, request: Request, session: SessionDep) -> Response:
        """Subscribe a webhook to a named query (stream or schedule)."""
        body = await json_body(request)
        created = epcis_subscriptions.create_subscription(
            session, query_name, body, request.headers.get("GS1-EPC-Format")
        )
        return JSONResponse(
            epcis_subscriptions.subscription_json(created),
            status_code=201,
            headers={"Location": f"/epcis/queries/{query_name}/subscriptions/{created.id}"},
        )

    @router.get("/queries/{query_name}/subscriptions", dependencies=deps)
    def subscriptions(query_name: str, request: Request, session: SessionDep) -> Response:
        """The subscriptions to a named query."""
        rows, token = epcis_subscriptions.list_subscriptions(
            session, query_name, request.query_params.multi_items()
        )
        return JSONResponse(
            [epcis_subscriptions.subscription_json(row) for row in rows],
            headers=_next_link(request, token),
        )

    @router.get("/queries/{query_name}/subscriptions/{subscription_id}", dependencies=deps)
    def subscription(query_name: str, subscription_id: str, session: SessionDep) -> Response:
        """One subscription (its secret is never shown)."""
        found = epcis_subscriptions.get_subscription(session, query_name, subscription_id)
        return JSONResponse(epcis_subscriptions.subscription_json(found))

    @router.delete(
        "/queries/{query_name}/subscriptions/{subscription_id}",
        status_code=204,
        dependencies=write_deps,
    )
    def unsubscribe(query_name: str, subscription_id: str, session: SessionDep) -> Response:
        """Unsubscribe."""
        epcis_subscriptions.delete_subscription(session, query_name, subscription_id)
        return Response(status_code=204)


def _add_websocket(router: APIRouter, *, open_access: bool) -> None:
    """``GET /epcis/queries/{queryName}/events`` with ``Upgrade: websocket``."""

    @router.websocket("/queries/{query_name}/events")
    async def stream(websocket: WebSocket, query_name: str) -> None:
        """Send the query's new matching events (``stream=true``) or its results on a
        schedule (``second``, ``minute``... as query parameters), one
        ``EPCISQueryDocument`` per message."""
        factory: sessionmaker[Session] = websocket.app.state.session_factory
        params = dict(websocket.query_params)
        try:
            feed = await run_in_threadpool(
                epcis_stream.open_feed,
                factory,
                query_name,
                params,
                None if open_access else _bearer(websocket),
            )
        except LinesideError as exc:
            await websocket.close(code=1008, reason=str(exc)[:120])
            return
        await websocket.accept()
        try:
            while True:
                for document in await run_in_threadpool(feed.poll, factory):
                    await websocket.send_text(json.dumps(document, ensure_ascii=False))
                try:
                    message = await asyncio.wait_for(websocket.receive(), feed.wait_s())
                except TimeoutError:
                    continue
                if message["type"] == "websocket.disconnect":
                    return
        except WebSocketDisconnect:
            return


def _bearer(websocket: WebSocket) -> str:
    header = websocket.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
