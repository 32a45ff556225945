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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session, sessionmaker

from lineside.epcis import EPCIS_CONTEXT, parse_document_bytes
from lineside.errors import EPCISError
from server.db.events import (
    normalise_biz_step,
    normalise_disposition,
    parse_event_time,
)
from server.db.models import (
    CaptureJob,
    CaptureJobState,
    DeadLetter,
    EpcRole,
    Event,
    EventContext,
    EventEpc,
)
from server.db.types import utcnow
from server.errors import (
    CaptureLimitExceededException,
    NoSuchResourceException,
    QueryParameterException,
    QueryTooLargeException,
    SecurityException,
    UnsupportedMediaTypeException,
    ValidationException,
)
from server.services.epc_match import exact_forms, is_pattern, pattern_prefixes
from server.services.epcis_filters import DocumentPredicate, document_filter
from server.services.event_rights import Reporter
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
    "MATCH_inputEPCClass": (EpcRole.INPUT_QUANTITY,),
    "MATCH_outputEPCClass": (EpcRole.OUTPUT_QUANTITY,),
    "MATCH_anyEPCClass": (
        EpcRole.QUANTITY,
        EpcRole.CHILD_QUANTITY,
        EpcRole.INPUT_QUANTITY,
        EpcRole.OUTPUT_QUANTITY,
    ),
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
    "EQ_eventID": (Event.event_id, str),
}
_WD_FILTERS: dict[str, Any] = {
    "WD_readPoint": Event.read_point,
    "WD_bizLocation": Event.biz_location,
}
_INDEXED_PARAMETERS = set(_MATCH_ROLES) | set(_TIME_FILTERS) | set(_EQ_FILTERS) | set(_WD_FILTERS)
_ORDER_COLUMNS: dict[str, Any] = {"eventTime": Event.event_time, "recordTime": Event.record_time}


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


def check_content_type(content_type: str | None) -> None:
    """415 for a capture body declared as neither JSON(-LD) nor XML (a missing type is
    read as JSON, as before)."""
    if content_type is None:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media.endswith(("/json", "+json", "/xml", "+xml")):
        return
    raise UnsupportedMediaTypeException(
        f"Content-Type {media!r:.80} is not accepted; send application/ld+json, "
        "application/json or application/xml"
    )


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


def job_json(job: CaptureJob) -> dict[str, Any]:
    """A capture job as the standard's JSON."""
    return {
        "captureID": job.id,
        "createdAt": _iso(job.created_at),
        "finishedAt": _iso(job.finished_at) if job.finished_at else None,
        "running": job.state is CaptureJobState.RUNNING,
        "success": job.state is CaptureJobState.SUCCEEDED,
        "captureErrorBehaviour": job.errors.get("behaviour", "rollback"),
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


def encode_page_token(offset: int) -> str:
    """An opaque token for "the events after the first ``offset`` of this query"."""
    return base64.urlsafe_b64encode(f"at:{offset}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> int:
    """The position a page token stands for; raises ``ValueError`` when it is not ours."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("not a page token") from exc
    kind, _, number = text.partition(":")
    # ASCII digits only, and few enough for a 64-bit number (int() takes "²", PostgreSQL
    # refuses a bigger number).
    if kind != "at" or not (number.isascii() and number.isdigit() and len(number) <= 18):
        raise ValueError("not a page token")
    return int(number)


def _epc_condition(values: list[str], domains: Sequence[str]) -> ColumnElement[bool]:
    """Stored identifiers equal to one of ``values`` in any form, or within a pattern."""
    exact: set[str] = set()
    prefixes: set[str] = set()
    for value in values:
        exact |= exact_forms(value, domains)
        if is_pattern(value):
            prefixes |= pattern_prefixes(value, domains)
    like = (EventEpc.epc.like(prefix, escape="\\") for prefix in sorted(prefixes))
    return or_(EventEpc.epc.in_(sorted(exact)), *like)


def _within(column: Any, values: list[str]) -> ColumnElement[bool]:
    """``WD_``: the location or one below it (a GLN with an extension, ``/254/``)."""
    below = [v.rstrip("/") + "/254/%" for v in values if "/414/" in v and "/254/" not in v]
    below += [v[:-1] + "%" for v in values if v.startswith("urn:epc:id:sgln:") and v.endswith(".0")]
    return or_(column.in_(values), *(column.like(p) for p in below))


def build_query(params: dict[str, list[str]], domains: Sequence[str] = ()) -> Select[Event]:
    """The SELECT for the indexed EPCIS query parameters (values already split on
    ``|``); EPCs match whatever form they were written in, with Digital Links on
    ``domains`` too."""
    statement = select(Event)
    for name, values in params.items():
        if name in _MATCH_ROLES:
            matching = select(EventEpc.event_id).where(
                _epc_condition(values, domains), EventEpc.role.in_(_MATCH_ROLES[name])
            )
            statement = statement.where(Event.event_id.in_(matching))
        elif name in _EQ_FILTERS:
            column, normalise = _EQ_FILTERS[name]
            statement = statement.where(column.in_([normalise(v) for v in values]))
        elif name in _WD_FILTERS:
            statement = statement.where(_within(_WD_FILTERS[name], values))
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


@dataclass(slots=True)
class _Query:
    """A simple event query split into what the store indexes and what is checked on
    each event's document, with its order and limits."""

    indexed: dict[str, list[str]]
    predicates: list[DocumentPredicate]
    order: str | None = None
    descending: bool = True
    per_page: int = DEFAULT_PER_PAGE
    offset: int = 0
    event_count_limit: int | None = None
    max_event_count: int | None = None


def _whole(name: str, values: list[str], low: int, high: int) -> int:
    text = values[-1]
    digits = text.isascii() and text.isdigit() and len(text) <= len(str(high))
    if not digits or not low <= int(text) <= high:
        raise QueryParameterException(
            f"{name} {text[:20]!r} must be a whole number from {low} to {high}"
        )
    return int(text)


def _controls(query: _Query, name: str, values: list[str]) -> bool:
    """Apply a paging, ordering or limit parameter; False when ``name`` is none."""
    if name == "perPage":
        query.per_page = _whole(name, values, 1, MAX_PER_PAGE)
    elif name == "nextPageToken":
        try:
            query.offset = decode_page_token(values[-1])
        except ValueError as exc:
            raise QueryParameterException(f"nextPageToken {values[-1]!r:.40} is not valid") from exc
    elif name == "orderBy":
        if values[-1] not in _ORDER_COLUMNS:
            raise QueryParameterException(
                f"orderBy {values[-1]!r:.60}: events can be ordered by eventTime or recordTime"
            )
        query.order = values[-1]
    elif name == "orderDirection":
        if values[-1] not in ("ASC", "DESC"):
            raise QueryParameterException(f"orderDirection {values[-1]!r:.20} is not ASC or DESC")
        query.descending = values[-1] == "DESC"
    elif name == "eventCountLimit":
        query.event_count_limit = _whole(name, values, 1, 10**9)
    elif name == "maxEventCount":
        query.max_event_count = _whole(name, values, 1, 10**9)
    else:
        return False
    return True


def _parse_query(items: Iterable[tuple[str, str]]) -> _Query:
    raw: dict[str, list[str]] = {}
    for name, value in items:
        raw.setdefault(name, []).extend(part for part in value.split("|") if part)
        if not raw[name] and not name.startswith("EXISTS_"):
            raise QueryParameterException(f"{name} needs a value")
    query = _Query(indexed={}, predicates=[])
    for name, values in raw.items():
        if _controls(query, name, values):
            continue
        if name in _INDEXED_PARAMETERS:
            query.indexed[name] = values
            continue
        predicate = document_filter(name, values)
        if predicate is None:
            raise QueryParameterException(f"{name!r:.80} is not a supported query parameter")
        query.predicates.append(predicate)
    if query.event_count_limit is not None and query.max_event_count is not None:
        raise QueryParameterException("eventCountLimit and maxEventCount cannot be used together")
    return query


def check_query(items: Iterable[tuple[str, str]]) -> None:
    """``QueryParameterException`` unless ``items`` make a valid simple event query."""
    build_query(_parse_query(items).indexed)


def paging(items: Iterable[tuple[str, str]], resource: str) -> tuple[int, int]:
    """``(per_page, offset)`` of a listing that takes only ``perPage`` and
    ``nextPageToken``."""
    query = _Query(indexed={}, predicates=[])
    for name, value in items:
        if name not in ("perPage", "nextPageToken"):
            raise QueryParameterException(f"{name!r:.80} is not a parameter of {resource}")
        _controls(query, name, [value])
    return query.per_page, query.offset


def _ordered(statement: Select[Event], query: _Query) -> Select[Event]:
    if query.order is None:
        return statement.order_by(Event.pk)
    column = _ORDER_COLUMNS[query.order]
    if query.descending:
        return statement.order_by(column.desc(), Event.pk.desc())
    return statement.order_by(column.asc(), Event.pk.asc())


def _matching(
    session: Session, query: _Query, statement: Select[Event], wanted: int
) -> list[Event]:
    """Up to ``wanted`` matching events after the query's offset, scanning in batches
    when some parameters are checked on documents."""
    if not query.predicates:
        return list(session.scalars(statement.offset(query.offset).limit(wanted)))
    found: list[Event] = []
    skipped = 0
    position = 0
    batch = max(wanted * 2, 500)
    while len(found) < wanted:
        rows = list(session.scalars(statement.offset(position).limit(batch)))
        for event in rows:
            if all(predicate(event.document) for predicate in query.predicates):
                if skipped < query.offset:
                    skipped += 1
                else:
                    found.append(event)
                    if len(found) == wanted:
                        break
        if len(rows) < batch:
            break
        position += batch
    return found


def query_events(
    session: Session,
    items: Iterable[tuple[str, str]],
    domains: Sequence[str] = (),
    scope: Scope = PROVINCE,
) -> QueryPage:
    """Answer a simple event query given as ``(name, value)`` query parameters; EPCs
    match in any form (Digital Links on ``domains`` too), and only events within
    ``scope`` are found."""
    query = _parse_query(items)
    statement = _ordered(scoped(build_query(query.indexed, domains), Event, scope), query)
    per_page = query.per_page
    if query.event_count_limit is not None:
        per_page = min(per_page, max(0, query.event_count_limit - query.offset))
    if query.max_event_count is not None:
        cap = query.max_event_count
        if query.offset == 0 and len(_matching(session, query, statement, cap + 1)) > cap:
            raise QueryTooLargeException(f"more than maxEventCount={cap} events match the query")
    rows = _matching(session, query, statement, per_page + 1) if per_page else []
    page, more = rows[:per_page], len(rows) > per_page
    document = query_document(session, page)
    next_token = encode_page_token(query.offset + len(page)) if more else None
    return QueryPage(document, next_token)


def query_document(
    session: Session,
    events: Sequence[Event],
    query_name: str = "SimpleEventQuery",
    subscription_id: str | None = None,
) -> dict[str, Any]:
    """An ``EPCISQueryDocument`` holding ``events`` (with their record times)."""
    results: dict[str, Any] = {"queryName": query_name}
    if subscription_id is not None:
        results["subscriptionID"] = subscription_id
    results["resultsBody"] = {
        "eventList": [{**event.document, "recordTime": _iso(event.record_time)} for event in events]
    }
    return {
        "@context": page_context(session, [event.event_id for event in events]),
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": _iso(utcnow()),
        "epcisBody": {"queryResults": results},
    }


def events_after(
    session: Session,
    items: Iterable[tuple[str, str]],
    after_pk: int,
    up_to_pk: int,
    *,
    limit: int,
    domains: Sequence[str] = (),
) -> list[Event]:
    """Up to ``limit`` events matching a query, stored after the event ``after_pk`` and
    not after ``up_to_pk``, in the order they were stored (for subscriptions)."""
    query = _parse_query(items)
    statement = build_query(query.indexed, domains).where(Event.pk > after_pk, Event.pk <= up_to_pk)
    query.offset = 0
    return _matching(session, query, statement.order_by(Event.pk), limit)


def page_context(session: Session, event_ids: Sequence[str]) -> list[Any]:
    """The ``@context`` of a query document: EPCIS's, and the extension prefixes the
    events on the page were captured with (the first definition of a prefix wins)."""
    namespaces: dict[str, Any] = {}
    if event_ids:
        rows = session.scalars(
            select(EventContext.namespaces).where(EventContext.event_id.in_(list(event_ids)))
        )
        for found in rows:
            for prefix, iri in found.items():
                namespaces.setdefault(prefix, iri)
    return [EPCIS_CONTEXT, namespaces] if namespaces else [EPCIS_CONTEXT]


# --------------------------------------------------------------------------- resources

#: The column holding each top-level resource's values.
_RESOURCE_COLUMNS: dict[str, Any] = {
    "eventTypes": Event.type,
    "epcs": EventEpc.epc,
    "bizSteps": Event.biz_step,
    "bizLocations": Event.biz_location,
    "readPoints": Event.read_point,
    "dispositions": Event.disposition,
}

#: The five event types of EPCIS 2.0, always listed.
EVENT_TYPES = (
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
)


@dataclass(frozen=True, slots=True)
class ValuesPage:
    """One page of a top-level resource's values and the next page's token."""

    values: list[str]
    next_page_token: str | None


def _values_of(resource: str, scope: Scope) -> Select[Any]:
    """The distinct stored values of a resource's column, among events within ``scope``."""
    column = _RESOURCE_COLUMNS[resource]
    stored = select(column).where(column.is_not(None)).distinct().order_by(column)
    if resource == "epcs":
        stored = stored.join(Event, Event.event_id == EventEpc.event_id)
    return scoped(stored, Event, scope)


def resource_values(
    session: Session, resource: str, items: Iterable[tuple[str, str]], scope: Scope = PROVINCE
) -> ValuesPage:
    """The distinct values of a top-level resource (``eventTypes``, ``epcs``,
    ``bizSteps``...) among the events within ``scope``, sorted and paged with
    ``perPage`` and ``nextPageToken``."""
    query = _Query(indexed={}, predicates=[])
    for name, value in items:
        if name not in ("perPage", "nextPageToken"):
            raise QueryParameterException(f"{name!r:.80} is not a parameter of /{resource}")
        _controls(query, name, [value])
    per_page, offset = query.per_page, query.offset
    stored = _values_of(resource, scope)
    if resource == "eventTypes":  # a handful: the standard's five and any custom ones
        values = sorted(set(session.scalars(stored)) | set(EVENT_TYPES))[offset:]
    else:
        values = list(session.scalars(stored.offset(offset).limit(per_page + 1)))
    more = len(values) > per_page
    return ValuesPage(values[:per_page], encode_page_token(offset + per_page) if more else None)


def require_resource_value(
    session: Session, resource: str, value: str, scope: Scope = PROVINCE
) -> None:
    """``NoSuchResourceException`` unless ``value`` is one of the resource's values
    among the events within ``scope``."""
    if resource == "eventTypes" and value in EVENT_TYPES:
        return
    column = _RESOURCE_COLUMNS[resource]
    wanted = value
    if resource == "bizSteps":
        wanted = normalise_biz_step(value)
    elif resource == "dispositions":
        wanted = normalise_disposition(value)
    if session.scalar(_values_of(resource, scope).where(column == wanted).limit(1)) is None:
        raise NoSuchResourceException(f"{resource}: no {value!r:.200} is stored")
