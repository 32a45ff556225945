"""The EPCIS 2.0 REST interfaces: capture (``POST /epcis/capture``) and query
(``GET /epcis/events``), following the standard's status codes and problem bodies.

- ``POST /epcis/capture``: an EPCIS 2.0 JSON-LD document (or XML, with an XML
  ``Content-Type``). 202 with ``Location:
  /epcis/capture/{id}`` when stored (events already present are skipped: capture is
  idempotent on the event ID; events without ``eventID`` get the CBV 2.0 event hash);
  400 ``epcisException:ValidationException`` for an invalid document; 413 when too big.
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

import base64
import binascii
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from lineside.epcis import EPCIS_CONTEXT, event_hash, parse_document_bytes, validate_document
from lineside.errors import EPCISError
from server.api.deps import SessionDep, require_role
from server.audit import record_action
from server.db.events import (
    EventOrigin,
    IndexedEvent,
    index_event,
    normalise_biz_step,
    normalise_disposition,
    parse_event_time,
    store_events,
)
from server.db.models import CaptureJob, CaptureJobState, EpcRole, Event, EventEpc, EventSource
from server.db.types import utcnow
from server.services.auth import Role

logger = logging.getLogger(__name__)

#: Largest capture document accepted (EPCIS says: 413 above the advertised limit).
DEFAULT_CAPTURE_MAX_BYTES = 16 * 1024 * 1024
#: Largest number of events in one capture document.
DEFAULT_CAPTURE_MAX_EVENTS = 10_000
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 1000

_PROBLEM = "application/problem+json"

_MATCH_ROLES: dict[str, tuple[EpcRole, ...]] = {
    "MATCH_epc": (EpcRole.EPC, EpcRole.CHILD),
    "MATCH_parentID": (EpcRole.PARENT,),
    "MATCH_inputEPC": (EpcRole.INPUT,),
    "MATCH_outputEPC": (EpcRole.OUTPUT,),
    "MATCH_anyEPC": (EpcRole.EPC, EpcRole.CHILD, EpcRole.PARENT, EpcRole.INPUT, EpcRole.OUTPUT),
    "MATCH_epcClass": (EpcRole.QUANTITY, EpcRole.CHILD_QUANTITY),
}
_TIME_FILTERS = {
    "GE_eventTime": (Event.event_time, True),
    "LT_eventTime": (Event.event_time, False),
    "GE_recordTime": (Event.record_time, True),
    "LT_recordTime": (Event.record_time, False),
}
_EQ_FILTERS: dict[str, tuple[Any, Callable[[str], str]]] = {
    "EQ_bizStep": (Event.biz_step, normalise_biz_step),
    "EQ_disposition": (Event.disposition, normalise_disposition),
    "EQ_action": (Event.action, str),
    "eventType": (Event.type, str),
    "EQ_bizLocation": (Event.biz_location, str),
    "EQ_readPoint": (Event.read_point, str),
}
_KNOWN_PARAMETERS = (
    set(_MATCH_ROLES) | set(_TIME_FILTERS) | set(_EQ_FILTERS) | {"perPage", "nextPageToken"}
)


#: Writing needs a technician or operator account; reading any role that traces.
CaptureWriter = require_role(Role.TECHNICIAN, Role.OPERATOR)
QueryReader = require_role(Role.INSPECTOR, Role.AUDITOR, Role.TECHNICIAN, Role.OPERATOR)


def problem(status: int, kind: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 7807 problem response with an EPCIS exception type.

    >>> problem(400, "ValidationException", "Invalid document", "x").status_code
    400
    """
    body = {"type": f"epcisException:{kind}", "title": title, "status": status, "detail": detail}
    return JSONResponse(body | extra, status_code=status, media_type=_PROBLEM)


class _Refused(Exception):
    """A request refused with a problem response."""

    def __init__(self, response: JSONResponse) -> None:
        super().__init__(response.body)
        self.response = response


def create_router(
    *,
    writer: Callable[..., Any] | None = CaptureWriter,
    reader: Callable[..., Any] | None = QueryReader,
    capture_max_bytes: int = DEFAULT_CAPTURE_MAX_BYTES,
    capture_max_events: int = DEFAULT_CAPTURE_MAX_EVENTS,
) -> APIRouter:
    """Build the EPCIS router; ``writer``/``reader`` are access-check dependencies
    (``None``: open, for tests and closed networks)."""
    router = APIRouter(prefix="/epcis", tags=["EPCIS 2.0"])
    write_deps = [Depends(writer)] if writer is not None else []
    read_deps = [Depends(reader)] if reader is not None else []

    @router.post(
        "/capture",
        status_code=202,
        dependencies=write_deps,
        responses={400: {"description": "invalid document"}, 413: {"description": "too big"}},
    )
    async def capture(request: Request, session: SessionDep) -> Response:
        """Capture an EPCIS 2.0 document (JSON-LD)."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > capture_max_bytes:
            return _too_large(int(declared), capture_max_bytes)
        body = await request.body()
        if len(body) > capture_max_bytes:
            return _too_large(len(body), capture_max_bytes)
        try:
            indexed = _check_capture(body, capture_max_events, request.headers.get("content-type"))
        except _Refused as refused:
            return refused.response
        job = _capture(session, indexed)
        principal = getattr(request.state, "principal", None)
        record_action(
            session,
            actor=principal.username if principal is not None else "anonymous",
            role=principal.role.value if principal is not None else "none",
            action="epcis.capture",
            target=f"capture_job:{job.id}",
            details={"events": job.event_count, "duplicates": job.duplicate_count},
        )
        location = f"/epcis/capture/{job.id}"
        return JSONResponse(
            {"captureID": job.id, "eventCount": job.event_count},
            status_code=202,
            headers={"Location": location},
        )

    @router.get("/capture", dependencies=read_deps)
    def list_capture_jobs(session: SessionDep, perPage: int = DEFAULT_PER_PAGE) -> Response:  # noqa: N803
        """The most recent capture jobs."""
        per_page = max(1, min(perPage, MAX_PER_PAGE))
        jobs = session.scalars(
            select(CaptureJob).order_by(CaptureJob.created_at.desc()).limit(per_page)
        )
        return JSONResponse([_job_json(job) for job in jobs])

    @router.get("/capture/{capture_id}", dependencies=read_deps)
    def get_capture_job(capture_id: str, session: SessionDep) -> Response:
        """One capture job: running, success, counts and errors."""
        job = session.get(CaptureJob, capture_id)
        if job is None:
            return problem(
                404,
                "NoSuchResourceException",
                "Unknown capture job",
                f"no capture job {capture_id!r}",
            )
        return JSONResponse(_job_json(job))

    @router.get("/events", dependencies=read_deps)
    def query_events(request: Request, session: SessionDep) -> Response:
        """Events matching the query parameters, as an EPCISQueryDocument."""
        try:
            return _query(request, session)
        except _Refused as refused:
            return refused.response

    return router


# --------------------------------------------------------------------------- capture


def _too_large(size: int, limit: int) -> JSONResponse:
    return problem(
        413,
        "CaptureLimitExceededException",
        "Capture document too large",
        f"the document is {size} bytes; at most {limit} bytes are accepted",
    )


def _invalid(detail: str, issues: list[str] | None = None) -> _Refused:
    extra = {"issues": issues} if issues else {}
    return _Refused(problem(400, "ValidationException", "Invalid EPCIS document", detail, **extra))


def _check_capture(
    body: bytes, max_events: int, content_type: str | None = None
) -> list[IndexedEvent]:
    if content_type is not None and "xml" in content_type.lower():
        try:  # the XML binding, read into the same JSON-LD form
            data = parse_document_bytes(body, content_type).to_jsonld()
        except EPCISError as exc:
            raise _invalid(str(exc)) from exc
    else:
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _invalid(f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise _invalid("an EPCIS document must be a JSON object")
    if data.get("type") != "EPCISDocument":
        raise _invalid(f"type {data.get('type')!r:.60} is not 'EPCISDocument'")
    issues = [str(issue) for issue in validate_document(data)]
    if issues:
        raise _invalid(f"{len(issues)} problem(s); first: {issues[0]}", issues[:100])
    events = data["epcisBody"]["eventList"]
    if len(events) > max_events:
        raise _Refused(
            problem(
                413,
                "CaptureLimitExceededException",
                "Too many events",
                f"the document holds {len(events)} events; at most {max_events} are accepted",
            )
        )
    context = data.get("@context")
    indexed: list[IndexedEvent] = []
    for position, event in enumerate(events):
        if "eventID" not in event:
            event = {**event, "eventID": event_hash(event, context=context)}
        try:
            indexed.append(index_event(event))
        except EPCISError as exc:
            raise _invalid(f"epcisBody.eventList[{position}]: {exc}") from exc
    return indexed


def _capture(session: Session, indexed: list[IndexedEvent]) -> CaptureJob:
    now = utcnow()
    job = CaptureJob(
        id=str(uuid.uuid4()),
        state=CaptureJobState.SUCCEEDED,
        created_at=now,
        finished_at=now,
        errors={},
    )
    session.add(job)
    session.flush()
    origin = EventOrigin(source=EventSource.CAPTURE, capture_job_id=job.id)
    inserted = store_events(session, [(event, origin) for event in indexed], record_time=now)
    job.event_count = len(inserted)
    job.duplicate_count = len({e.event_id for e in indexed}) - len(inserted)
    logger.info("capture %s: %d new, %d known", job.id, job.event_count, job.duplicate_count)
    return job


def _job_json(job: CaptureJob) -> dict[str, Any]:
    return {
        "captureID": job.id,
        "createdAt": _iso(job.created_at),
        "finishedAt": _iso(job.finished_at) if job.finished_at else None,
        "running": job.state is CaptureJobState.RUNNING,
        "success": job.state is CaptureJobState.SUCCEEDED,
        "captureErrorBehaviour": "rollback",
        "eventCount": job.event_count,
        "duplicateCount": job.duplicate_count,
        "errors": job.errors.get("issues", []),
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------- query


def _query_problem(detail: str) -> _Refused:
    return _Refused(problem(400, "QueryParameterException", "Invalid query parameter", detail))


def encode_page_token(last_pk: int) -> str:
    """An opaque token for "the events after this one".

    >>> decode_page_token(encode_page_token(42))
    42
    """
    return base64.urlsafe_b64encode(f"pk:{last_pk}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> int:
    """The position a page token stands for; raises ``ValueError`` when it is not ours."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("not a page token") from exc
    kind, _, number = text.partition(":")
    if kind != "pk" or not number.isdigit():
        raise ValueError("not a page token")
    return int(number)


def build_query(params: dict[str, list[str]]) -> Select[Event]:
    """The SELECT for EPCIS query parameters (values already split on ``|``)."""
    statement = select(Event)
    for name, values in params.items():
        if name in _MATCH_ROLES:
            matching = select(EventEpc.event_id).where(
                EventEpc.epc.in_(values), EventEpc.role.in_(_MATCH_ROLES[name])
            )
            statement = statement.where(Event.event_id.in_(matching))
        elif name in _EQ_FILTERS:
            column, normalise = _EQ_FILTERS[name]
            statement = statement.where(column.in_([normalise(v) for v in values]))
        elif name in _TIME_FILTERS:
            column, lower = _TIME_FILTERS[name]
            if len(values) != 1:
                raise _query_problem(f"{name}: exactly one timestamp expected")
            try:
                moment = parse_event_time(values[0], name)
            except EPCISError as exc:
                raise _query_problem(str(exc).removeprefix("event: ")) from exc
            statement = statement.where(column >= moment if lower else column < moment)
    return statement


def _query(request: Request, session: Session) -> Response:
    params: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        if name not in _KNOWN_PARAMETERS:
            raise _query_problem(f"{name!r} is not a supported query parameter")
        params.setdefault(name, []).extend(part for part in value.split("|") if part)
    per_page = DEFAULT_PER_PAGE
    if "perPage" in params:
        text = params.pop("perPage")[-1]
        if not text.isdigit() or not 1 <= int(text) <= MAX_PER_PAGE:
            raise _query_problem(
                f"perPage {text!r} must be a whole number from 1 to {MAX_PER_PAGE}"
            )
        per_page = int(text)
    after = 0
    if "nextPageToken" in params:
        token = params.pop("nextPageToken")[-1]
        try:
            after = decode_page_token(token)
        except ValueError as exc:
            raise _query_problem(f"nextPageToken {token!r:.40} is not valid") from exc
    statement = build_query(params).where(Event.pk > after).order_by(Event.pk).limit(per_page + 1)
    rows = list(session.scalars(statement))
    page, more = rows[:per_page], len(rows) > per_page
    headers = {}
    if more:
        token = encode_page_token(page[-1].pk)
        next_url = request.url.remove_query_params("nextPageToken").include_query_params(
            nextPageToken=token
        )
        headers["Link"] = f'<{next_url}>; rel="next"'
    document = {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": _iso(utcnow()),
        "epcisBody": {
            "queryResults": {
                "queryName": "SimpleEventQuery",
                "resultsBody": {
                    "eventList": [
                        {**event.document, "recordTime": _iso(event.record_time)} for event in page
                    ]
                },
            }
        },
    }
    return JSONResponse(document, headers=headers)
