"""The EPCIS 2.0 REST interfaces: capture (``POST /epcis/capture``) and query
(``GET /epcis/events``), following the standard's status codes and problem bodies.

- ``POST /epcis/capture``: an EPCIS 2.0 JSON-LD document or query document (or XML,
  with an XML ``Content-Type``). 202 with ``Location: /epcis/capture/{id}``; events
  already present are duplicates, an ``eventID`` stored with other content an error of
  the job; events without ``eventID`` get the CBV 2.0 event hash;
  ``GS1-Capture-Error-Behaviour`` chooses rollback or proceed
  (:mod:`server.services.epcis_capture`); 400 ``epcisException:ValidationException`` for
  an invalid document or an event-hash ``eventID`` that is not the event's hash; 403
  ``epcisException:SecurityException`` for another organisation's codes (refused events
  are dead-lettered, readable at ``GET /dead-letters``); 413 when too big.
- ``POST /epcis/events``: one event, captured synchronously (201, 409 on a conflict).
- ``GET /epcis/capture`` and ``GET /epcis/capture/{id}``: the capture jobs.
- ``GET /epcis/events``: an ``EPCISQueryDocument`` filtered by ``EQ_bizStep``,
  ``EQ_action``, ``EQ_disposition``, ``eventType``, ``MATCH_epc``, ``MATCH_parentID``,
  ``MATCH_inputEPC``, ``MATCH_outputEPC``, ``MATCH_anyEPC``, ``MATCH_epcClass``,
  ``GE_eventTime``, ``LT_eventTime``, ``GE_recordTime``, ``LT_recordTime``,
  ``EQ_bizLocation``, ``EQ_readPoint``; several values are separated by ``|``. Paged
  with ``perPage`` and ``nextPageToken``; the next page is in the ``Link`` header.

The app mounts the router :func:`create_router` builds: by default writers and readers
must sign in; tests may build one with other access checks or limits.

>>> sorted(route.path for route in create_router(writer=None, reader=None).routes)[:2]
['/epcis/capture', '/epcis/capture']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from server.api.deps import SessionDep, SessionFactoryDep
from server.api.epcis_http import (
    CaptureWriter,
    QueryReader,
    QueryWriter,
    caller,
    link_domains,
    query_response,
    request_scope,
)
from server.services import epcis, epcis_capture
from server.services.audit import record_action
from server.services.auth import Principal
from server.services.event_rights import Reporter
from server.services.tenancy import BUSINESS_ROLES


def _reporter(principal: Principal | None) -> Reporter:
    """Who captures: a business user reports its organisation's codes only."""
    if principal is None:
        return epcis.OPEN_CAPTURE
    name = f"user {principal.username!r}"
    if principal.role in BUSINESS_ROLES:
        return Reporter(name, principal.organisation_id)
    return Reporter(name, principal.organisation_id, province_wide=True)


def create_router(
    *,
    writer: Callable[..., Any] | None = CaptureWriter,
    reader: Callable[..., Any] | None = QueryReader,
    capture_max_bytes: int = epcis.DEFAULT_CAPTURE_MAX_BYTES,
    capture_max_events: int = epcis.DEFAULT_CAPTURE_MAX_EVENTS,
) -> APIRouter:
    """Build the EPCIS router; ``writer``/``reader`` are access-check dependencies
    (``None``: open, for tests and closed networks)."""
    router = APIRouter(prefix="/epcis", tags=["EPCIS 2.0"])
    write_deps = [Depends(writer)] if writer is not None else []
    read_deps = [Depends(reader)] if reader is not None else []
    limits = epcis.CaptureLimits(max_bytes=capture_max_bytes, max_events=capture_max_events)

    @router.post(
        "/capture",
        status_code=202,
        dependencies=write_deps,
        responses={400: {"description": "invalid document"}, 413: {"description": "too big"}},
    )
    async def capture(
        request: Request, session: SessionDep, factory: SessionFactoryDep
    ) -> Response:
        """Capture an EPCIS 2.0 document (JSON-LD)."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isascii() and declared.isdigit():
            limits.check_size(int(declared[:20]))  # refused before the body is read
        content_type = request.headers.get("content-type")
        epcis.check_content_type(content_type)
        body = await request.body()
        behaviour = epcis_capture.capture_behaviour(
            request.headers.get("GS1-Capture-Error-Behaviour")
        )
        principal = caller(request)
        reporter = _reporter(principal)
        try:
            plan = epcis_capture.prepare_capture(body, limits, content_type, behaviour)
            job = epcis_capture.store_capture(session, plan, behaviour, reporter)
        except (epcis.ForgedEventIds, epcis.UnauthorisedEvents) as refused:
            epcis.dead_letter_refused(factory, refused.refused, reporter)
            raise
        record_action(
            session,
            actor=principal.username if principal is not None else "anonymous",
            role=principal.role.value if principal is not None else "none",
            action="epcis.capture",
            target=f"capture_job:{job.id}",
            details={"events": job.event_count, "duplicates": job.duplicate_count},
        )
        return JSONResponse(
            {"captureID": job.id, "eventCount": job.event_count},
            status_code=202,
            headers={"Location": f"/epcis/capture/{job.id}"},
        )

    _add_event_capture(router, write_deps, limits)

    release_deps = [Depends(QueryWriter)] if reader is not None else []

    @router.delete("/nextPageToken/{token}", status_code=204, dependencies=release_deps)
    def release_page_token(token: str) -> Response:
        """Page tokens hold no server resources: nothing to release."""
        return Response(status_code=204)

    @router.get("/capture", dependencies=read_deps)
    def list_capture_jobs(
        request: Request,
        session: SessionDep,
        perPage: int = epcis.DEFAULT_PER_PAGE,  # noqa: N803
    ) -> Response:
        """The most recent capture jobs."""
        jobs = epcis.recent_jobs(session, perPage, request_scope(request))
        return JSONResponse([epcis.job_json(job) for job in jobs])

    @router.get("/capture/{capture_id}", dependencies=read_deps)
    def get_capture_job(request: Request, capture_id: str, session: SessionDep) -> Response:
        """One capture job: running, success, counts and errors."""
        return JSONResponse(
            epcis.job_json(epcis.get_job(session, capture_id, request_scope(request)))
        )

    @router.get("/events", dependencies=read_deps)
    def query_events(request: Request, session: SessionDep) -> Response:
        """Events matching the query parameters, as an EPCISQueryDocument (JSON-LD or
        XML by the Accept header)."""
        items = request.query_params.multi_items()
        page = epcis.query_events(session, items, link_domains(request), request_scope(request))
        return query_response(request, page, session)

    return router


def _add_event_capture(
    router: APIRouter, write_deps: list[Any], limits: epcis.CaptureLimits
) -> None:
    """``POST /epcis/events``: one event, captured synchronously."""

    @router.post("/events", status_code=201, dependencies=write_deps)
    async def capture_event(
        request: Request, session: SessionDep, factory: SessionFactoryDep
    ) -> Response:
        """Capture one EPCIS event synchronously; 201 with its ``Location``."""
        content_type = request.headers.get("content-type")
        epcis.check_content_type(content_type)
        body = await request.body()
        principal = caller(request)
        reporter = _reporter(principal)
        try:
            event_id = epcis_capture.capture_one(session, body, limits, content_type, reporter)
        except (epcis.ForgedEventIds, epcis.UnauthorisedEvents) as refused:
            epcis.dead_letter_refused(factory, refused.refused, reporter)
            raise
        record_action(
            session,
            actor=principal.username if principal is not None else "anonymous",
            role=principal.role.value if principal is not None else "none",
            action="epcis.capture_event",
            target=f"event:{event_id}"[:500],
        )
        return Response(
            status_code=201, headers={"Location": f"/epcis/events/{quote(event_id, safe='')}"}
        )
