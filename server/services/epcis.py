"""EPCIS 2.0 capture and query: store validated documents, answer event queries.

Capture is idempotent on the event ID (events already stored are skipped; events without
``eventID`` get the CBV 2.0 event hash). Queries filter with the standard's simple-query
parameters (``EQ_bizStep``, ``MATCH_epc``, ``GE_eventTime``...; several values separated
by ``|``) and page with an opaque token.

Capture is authorised (:mod:`server.services.event_rights`): an event-hash ``eventID``
must be the event's hash (else ``ValidationException``, 400) and a business user may
only capture its own organisation's codes (else ``SecurityException``, 403); the whole
document is then refused and each refused event is dead-lettered with its reason under
the user's organisation. Queries and capture jobs are limited to the caller's scope.

Refusals are the standard's exceptions (:mod:`server.errors`): ``ValidationException``,
``QueryParameterException``, ``CaptureLimitExceededException``,
``NoSuchResourceException``, ``SecurityException``.

>>> decode_page_token(encode_page_token(42))
42
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, sessionmaker

from lineside.epcis import EPCIS_CONTEXT, event_hash, parse_document_bytes, validate_document
from lineside.errors import EPCISError
from server.db.events import (
    EventOrigin,
    IndexedEvent,
    index_event,
    normalise_biz_step,
    normalise_disposition,
    parse_event_time,
    store_events,
)
from server.db.models import (
    CaptureJob,
    CaptureJobState,
    DeadLetter,
    EpcRole,
    Event,
    EventEpc,
    EventSource,
)
from server.db.types import utcnow
from server.errors import (
    CaptureLimitExceededException,
    NoSuchResourceException,
    QueryParameterException,
    SecurityException,
    ValidationException,
)
from server.services.event_rights import EventRights, Reporter, hash_problem
from server.services.tenancy import PROVINCE, Scope, scoped

logger = logging.getLogger(__name__)

#: The ``topic`` of dead letters refused by the capture interface.
CAPTURE_DEAD_LETTER_TOPIC = "epcis/capture"
#: An open capture interface (tests, closed networks): any organisation's codes.
OPEN_CAPTURE = Reporter("the open capture interface", None, province_wide=True)

#: Largest capture document accepted (EPCIS says: 413 above the advertised limit).
DEFAULT_CAPTURE_MAX_BYTES = 16 * 1024 * 1024
#: Largest number of events in one capture document.
DEFAULT_CAPTURE_MAX_EVENTS = 10_000
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 1000

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


@dataclass(frozen=True, slots=True)
class CaptureLimits:
    """How much one capture document may hold."""

    max_bytes: int = DEFAULT_CAPTURE_MAX_BYTES
    max_events: int = DEFAULT_CAPTURE_MAX_EVENTS

    def check_size(self, size: int) -> None:
        """Refuse a document of ``size`` bytes when it is above the limit."""
        if size > self.max_bytes:
            raise CaptureLimitExceededException(
                f"the document is {size} bytes; at most {self.max_bytes} bytes are accepted"
            )


# --------------------------------------------------------------------------- capture


def _read_document(body: bytes, content_type: str | None) -> Any:
    if content_type is not None and "xml" in content_type.lower():
        try:  # the XML binding, read into the same JSON-LD form
            return parse_document_bytes(body, content_type).to_jsonld()
        except EPCISError as exc:
            raise ValidationException(str(exc)) from exc
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationException(f"the body is not JSON: {exc}") from exc


def check_capture(
    body: bytes, limits: CaptureLimits, content_type: str | None = None
) -> list[IndexedEvent]:
    """The events of a capture document, validated and indexed; the standard's
    exception when the document cannot be captured."""
    limits.check_size(len(body))
    data = _read_document(body, content_type)
    if not isinstance(data, dict):
        raise ValidationException("an EPCIS document must be a JSON object")
    if data.get("type") != "EPCISDocument":
        raise ValidationException(f"type {data.get('type')!r:.60} is not 'EPCISDocument'")
    issues = [str(issue) for issue in validate_document(data)]
    if issues:
        raise ValidationException(
            f"{len(issues)} problem(s); first: {issues[0]}", issues=issues[:100]
        )
    events = data["epcisBody"]["eventList"]
    if len(events) > limits.max_events:
        raise CaptureLimitExceededException(
            f"the document holds {len(events)} events; at most {limits.max_events} are accepted",
            title="Too many events",
        )
    context = data.get("@context")
    indexed: list[IndexedEvent] = []
    forged: list[tuple[dict[str, Any], str]] = []
    for position, event in enumerate(events):
        if "eventID" not in event:
            event = {**event, "eventID": event_hash(event, context=context)}
        elif (problem := hash_problem(event, context=context)) is not None:
            forged.append((event, f"epcisBody.eventList[{position}]: {problem}"))
            continue
        try:
            indexed.append(index_event(event))
        except EPCISError as exc:
            raise ValidationException(f"epcisBody.eventList[{position}]: {exc}") from exc
    if forged:
        raise ForgedEventIds(forged)
    return indexed


class ForgedEventIds(ValidationException):
    """Events whose ``eventID`` claims to be their hash and is not (400)."""

    def __init__(self, refused: list[tuple[dict[str, Any], str]]) -> None:
        reasons = [reason for _, reason in refused]
        super().__init__(
            f"{len(refused)} event(s) refused; first: {reasons[0]}", issues=reasons[:100]
        )
        self.refused = tuple(refused)


class UnauthorisedEvents(SecurityException):
    """Events about codes the capturing user may not report (403)."""

    def __init__(self, refused: list[tuple[dict[str, Any], str]]) -> None:
        reasons = [reason for _, reason in refused]
        super().__init__(
            f"{len(refused)} event(s) refused; first: {reasons[0]}", issues=reasons[:100]
        )
        self.refused = tuple(refused)


def dead_letter_refused(
    factory: sessionmaker[Session],
    refused: Iterable[tuple[dict[str, Any], str]],
    reporter: Reporter,
) -> None:
    """Keep refused capture events with their reasons, in a transaction of their own
    (the capture's is rolled back), under the reporter's organisation."""
    with factory() as session, session.begin():
        for event, reason in refused:
            session.add(
                DeadLetter(
                    topic=CAPTURE_DEAD_LETTER_TOPIC,
                    payload=json.dumps(event, ensure_ascii=False).encode()[: 64 * 1024],
                    reason=f"not authorised: {reason}",
                    organisation_id=reporter.organisation_id,
                )
            )


def capture(
    session: Session, indexed: list[IndexedEvent], reporter: Reporter = OPEN_CAPTURE
) -> CaptureJob:
    """Store the events (skipping those already stored) as one finished capture job.

    :class:`UnauthorisedEvents` when ``reporter`` may not report one of them.
    """
    rights = EventRights(session, indexed)
    refused = [
        (event.document, f"event {event.event_id}: {reason}")
        for event in indexed
        if (reason := rights.check(reporter, event)) is not None
    ]
    if refused:
        raise UnauthorisedEvents(refused)
    now = utcnow()
    job = CaptureJob(
        id=str(uuid.uuid4()),
        state=CaptureJobState.SUCCEEDED,
        created_at=now,
        finished_at=now,
        errors={},
        organisation_id=reporter.organisation_id,
    )
    session.add(job)
    session.flush()
    stored = [
        (
            event,
            EventOrigin(
                source=EventSource.CAPTURE,
                capture_job_id=job.id,
                organisation_id=reporter.organisation_id
                if reporter.organisation_id is not None
                else rights.owner_of(event),
            ),
        )
        for event in indexed
    ]
    inserted = store_events(session, stored, record_time=now)
    job.event_count = len(inserted)
    job.duplicate_count = len({e.event_id for e in indexed}) - len(inserted)
    logger.info("capture %s: %d new, %d known", job.id, job.event_count, job.duplicate_count)
    return job


def job_json(job: CaptureJob) -> dict[str, Any]:
    """A capture job as the standard's JSON."""
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


def recent_jobs(session: Session, per_page: int, scope: Scope = PROVINCE) -> list[CaptureJob]:
    """The most recent capture jobs, at most ``per_page`` (clamped to 1..1000)."""
    limit = max(1, min(per_page, MAX_PER_PAGE))
    query = scoped(select(CaptureJob), CaptureJob, scope)
    return list(session.scalars(query.order_by(CaptureJob.created_at.desc()).limit(limit)))


def get_job(session: Session, capture_id: str, scope: Scope = PROVINCE) -> CaptureJob:
    """One capture job within ``scope``; ``NoSuchResourceException`` otherwise."""
    job = session.get(CaptureJob, capture_id)
    if job is None or not scope.owns(job.organisation_id):
        raise NoSuchResourceException(f"no capture job {capture_id!r}")
    return job


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------- query


def encode_page_token(last_pk: int) -> str:
    """An opaque token for "the events after this one"."""
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
                raise QueryParameterException(f"{name}: exactly one timestamp expected")
            try:
                moment = parse_event_time(values[0], name)
            except EPCISError as exc:
                raise QueryParameterException(str(exc).removeprefix("event: ")) from exc
            statement = statement.where(column >= moment if lower else column < moment)
    return statement


@dataclass(frozen=True, slots=True)
class QueryPage:
    """One page of a query: the ``EPCISQueryDocument`` and the token of the next page
    (None on the last page)."""

    document: dict[str, Any]
    next_page_token: str | None


def _query_parameters(items: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for name, value in items:
        if name not in _KNOWN_PARAMETERS:
            raise QueryParameterException(f"{name!r} is not a supported query parameter")
        params.setdefault(name, []).extend(part for part in value.split("|") if part)
    return params


def _page_size(params: dict[str, list[str]]) -> int:
    if "perPage" not in params:
        return DEFAULT_PER_PAGE
    text = params.pop("perPage")[-1]
    if not text.isdigit() or not 1 <= int(text) <= MAX_PER_PAGE:
        raise QueryParameterException(
            f"perPage {text!r} must be a whole number from 1 to {MAX_PER_PAGE}"
        )
    return int(text)


def _page_start(params: dict[str, list[str]]) -> int:
    if "nextPageToken" not in params:
        return 0
    token = params.pop("nextPageToken")[-1]
    try:
        return decode_page_token(token)
    except ValueError as exc:
        raise QueryParameterException(f"nextPageToken {token!r:.40} is not valid") from exc


def query_events(
    session: Session, items: Iterable[tuple[str, str]], scope: Scope = PROVINCE
) -> QueryPage:
    """Answer a simple event query given as ``(name, value)`` query parameters; only
    events within ``scope`` are found."""
    params = _query_parameters(items)
    per_page = _page_size(params)
    after = _page_start(params)
    statement = (
        scoped(build_query(params), Event, scope)
        .where(Event.pk > after)
        .order_by(Event.pk)
        .limit(per_page + 1)
    )
    rows = list(session.scalars(statement))
    page, more = rows[:per_page], len(rows) > per_page
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
    return QueryPage(document, encode_page_token(page[-1].pk) if more else None)
