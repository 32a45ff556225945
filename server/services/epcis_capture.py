"""EPCIS 2.0 capture semantics: ``GS1-Capture-Error-Behaviour``, conflicting event IDs,
query documents as input, and the namespaces an event was captured with.

- ``rollback`` (the default): nothing is stored when any event fails. An invalid event
  refuses the whole document (400); an event whose ``eventID`` is already stored with
  other content fails the capture job (``success: false``, the conflict in ``errors``).
- ``proceed``: the valid events are stored; each refused one is an entry of the job's
  ``errors``.

An ``EPCISQueryDocument`` is captured like an ``EPCISDocument``: its result events.
Two events "are the same" when their CBV 2.0 event hashes are equal (the hash ignores
``eventID`` and ``recordTime``, and reads extension fields through each document's own
``@context``).

>>> capture_behaviour(None), capture_behaviour("proceed")
(<CaptureBehaviour.ROLLBACK: 'rollback'>, <CaptureBehaviour.PROCEED: 'proceed'>)
>>> context_namespaces(["https://ref.gs1.org/standards/epcis/epcis-context.jsonld",
...                     {"ex": "https://example.com/ns/", "@vocab": "x"}])
{'ex': 'https://example.com/ns/'}
"""

from __future__ import annotations

import enum
import json
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lineside.epcis import EPCIS_CONTEXT, event_hash, validate_document
from lineside.errors import EPCISError
from server.db.events import EventOrigin, IndexedEvent, index_event, store_events
from server.db.models import CaptureJob, CaptureJobState, Event, EventContext, EventSource
from server.db.types import utcnow
from server.errors import (
    CaptureLimitExceededException,
    ResourceAlreadyExistsException,
    ValidationException,
)
from server.services.epcis import (
    OPEN_CAPTURE,
    CaptureLimits,
    ForgedEventIds,
    UnauthorisedEvents,
    _read_document,
)
from server.services.event_rights import EventRights, Reporter, hash_problem

__all__ = [
    "CaptureBehaviour",
    "CapturePlan",
    "capture_behaviour",
    "capture_one",
    "context_namespaces",
    "prepare_capture",
    "store_capture",
]

logger = logging.getLogger(__name__)

_EVENT_PATH = re.compile(r"^epcisBody\.(?:queryResults\.resultsBody\.)?eventList\[(\d+)\]")
_VALIDATION = "epcisException:ValidationException"
_CONFLICT = "epcisException:ResourceAlreadyExistsException"


class CaptureBehaviour(enum.StrEnum):
    """What a capture does when some events fail (``GS1-Capture-Error-Behaviour``)."""

    ROLLBACK = "rollback"
    PROCEED = "proceed"


def capture_behaviour(header: str | None) -> CaptureBehaviour:
    """The behaviour a ``GS1-Capture-Error-Behaviour`` header asks for (rollback when
    absent); ``ValidationException`` for any other value."""
    if header is None or not header.strip():
        return CaptureBehaviour.ROLLBACK
    try:
        return CaptureBehaviour(header.strip().lower())
    except ValueError:
        raise ValidationException(
            f"GS1-Capture-Error-Behaviour {header!r:.40} is neither 'rollback' nor 'proceed'"
        ) from None


def context_namespaces(context: object) -> dict[str, Any]:
    """The prefix definitions of a JSON-LD ``@context``: an IRI, or an object with
    ``@id`` (keywords left out)."""
    entries = context if isinstance(context, list) else [context]
    found: dict[str, Any] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        for prefix, iri in entry.items():
            if not isinstance(prefix, str) or prefix.startswith("@"):
                continue
            if isinstance(iri, str) or (isinstance(iri, Mapping) and "@id" in iri):
                found[prefix] = iri
    return found


@dataclass(slots=True)
class CapturePlan:
    """A read capture document: its valid events, the refused ones (as job errors),
    and its ``@context``."""

    events: list[IndexedEvent]
    context: object
    refused: list[dict[str, Any]] = field(default_factory=list)

    @property
    def namespaces(self) -> dict[str, Any]:
        """The extension prefixes the document declares."""
        return context_namespaces(self.context)


def _error(kind: str, where: str, detail: str) -> dict[str, Any]:
    title = "Conflicting event ID" if kind == _CONFLICT else "Invalid event"
    return {"type": kind, "title": title, "status": 400, "detail": detail, "instance": where}


def _event_list(data: dict[str, Any]) -> tuple[str, list[Any]]:
    body = data.get("epcisBody") or {}
    if data.get("type") == "EPCISQueryDocument":
        results = body.get("queryResults") or {}
        return "epcisBody.queryResults.resultsBody.eventList", list(
            (results.get("resultsBody") or {}).get("eventList") or []
        )
    return "epcisBody.eventList", list(body.get("eventList") or [])


def _split_issues(data: dict[str, Any]) -> tuple[list[str], dict[int, list[str]]]:
    """The document's validation issues: those of no event, and those of each event."""
    general: list[str] = []
    per_event: dict[int, list[str]] = {}
    for issue in validate_document(data):
        match = _EVENT_PATH.match(issue.path)
        if match is None:
            general.append(str(issue))
        else:
            per_event.setdefault(int(match[1]), []).append(str(issue))
    return general, per_event


def prepare_capture(
    body: bytes,
    limits: CaptureLimits,
    content_type: str | None,
    behaviour: CaptureBehaviour,
) -> CapturePlan:
    """Read and check a capture document (``EPCISDocument`` or ``EPCISQueryDocument``).

    A document that cannot be read, or (under ``rollback``) holds any invalid event, is
    refused with ``ValidationException``; under ``proceed`` invalid events are set aside.
    """
    limits.check_size(len(body))
    data = _read_document(body, content_type)
    if not isinstance(data, dict):
        raise ValidationException("an EPCIS document must be a JSON object")
    if data.get("type") not in ("EPCISDocument", "EPCISQueryDocument"):
        raise ValidationException(
            f"type {data.get('type')!r:.60} is not 'EPCISDocument' or 'EPCISQueryDocument'"
        )
    general, per_event = _split_issues(data)
    if general or (per_event and behaviour is CaptureBehaviour.ROLLBACK):
        issues = general + [issue for index in sorted(per_event) for issue in per_event[index]]
        raise ValidationException(
            f"{len(issues)} problem(s); first: {issues[0]}", issues=issues[:100]
        )
    path, events = _event_list(data)
    if len(events) > limits.max_events:
        raise CaptureLimitExceededException(
            f"the document holds {len(events)} events; at most {limits.max_events} are accepted",
            title="Too many events",
        )
    plan = CapturePlan(events=[], context=data.get("@context"))
    forged: list[tuple[dict[str, Any], str]] = []
    for position, event in enumerate(events):
        where = f"{path}[{position}]"
        if position in per_event:
            plan.refused.append(_error(_VALIDATION, where, "; ".join(per_event[position][:5])))
            continue
        if "eventID" in event and (problem := hash_problem(event, context=plan.context)):
            forged.append((event, f"{where}: {problem}"))  # a lie, whatever the behaviour
            continue
        try:
            if "eventID" not in event:
                event = {**event, "eventID": event_hash(event, context=plan.context)}
            plan.events.append(index_event(event))
        except EPCISError as exc:
            if behaviour is CaptureBehaviour.ROLLBACK:
                raise ValidationException(f"{where}: {exc}") from exc
            plan.refused.append(_error(_VALIDATION, where, str(exc)))
    if forged:
        raise ForgedEventIds(forged)
    return plan


def _stored_context(namespaces: dict[str, Any] | None) -> object:
    return [EPCIS_CONTEXT, namespaces] if namespaces else None


@dataclass(slots=True)
class _Checked:
    """The plan's events once compared with the store: those to insert, those whose
    stored copy gets their error declaration, the conflicting IDs and their errors."""

    events: list[IndexedEvent] = field(default_factory=list)
    declarations: list[IndexedEvent] = field(default_factory=list)
    conflicting: set[str] = field(default_factory=set)
    errors: list[dict[str, Any]] = field(default_factory=list)


def _stored_hashes(session: Session, event_ids: list[str]) -> dict[str, tuple[str, bool]]:
    """The event hash of each stored event, and whether it has an error declaration."""
    stored: dict[str, tuple[str, bool]] = {}
    for start in range(0, len(event_ids), 500):
        rows = session.execute(
            select(Event.event_id, Event.document, EventContext.namespaces)
            .outerjoin(EventContext, EventContext.event_id == Event.event_id)
            .where(Event.event_id.in_(event_ids[start : start + 500]))
        )
        for event_id, document, namespaces in rows:
            digest = event_hash(document, context=_stored_context(namespaces))
            stored[event_id] = (digest, "errorDeclaration" in document)
    return stored


def _check_against_store(session: Session, plan: CapturePlan) -> _Checked:
    """Compare each event with a stored (or earlier) one of the same ``eventID``: other
    content is a conflict; the same content with an ``errorDeclaration`` declares the
    stored event erroneous (the standard's way of declaring an error)."""
    stored = _stored_hashes(session, [event.event_id for event in plan.events])
    checked = _Checked()
    in_plan: dict[str, int] = {}
    for event in plan.events:
        known = stored.get(event.event_id)
        if known is None and event.event_id not in in_plan:  # the common case: no hash
            in_plan[event.event_id] = len(checked.events)
            checked.events.append(event)
            continue
        digest = event_hash(event.document, context=plan.context)
        declares = "errorDeclaration" in event.document
        if event.event_id in in_plan:
            position = in_plan[event.event_id]
            earlier = checked.events[position]
            if event_hash(earlier.document, context=plan.context) != digest:
                _conflict(checked, event.event_id)
            elif declares:
                checked.events[position] = event
        elif known is not None and known[0] != digest:
            _conflict(checked, event.event_id)
        elif known is not None and declares and not known[1]:
            checked.declarations.append(event)
        else:
            in_plan[event.event_id] = len(checked.events)
            checked.events.append(event)
    checked.events = [e for e in checked.events if e.event_id not in checked.conflicting]
    return checked


def _conflict(checked: _Checked, event_id: str) -> None:
    if event_id in checked.conflicting:
        return
    checked.conflicting.add(event_id)
    checked.errors.append(
        _error(
            _CONFLICT,
            event_id,
            f"eventID {event_id!r:.200} is already used by an event with other content "
            "(different event hash)",
        )
    )


def store_capture(
    session: Session,
    plan: CapturePlan,
    behaviour: CaptureBehaviour,
    reporter: Reporter = OPEN_CAPTURE,
) -> CaptureJob:
    """Store a prepared capture as one finished capture job, following ``behaviour``.

    :class:`UnauthorisedEvents` when ``reporter`` may not report one of the events
    (another organisation's codes, or serials not issued to it).
    """
    rights = EventRights(session, plan.events)
    unauthorised = [
        (event.document, f"event {event.event_id}: {reason}")
        for event in plan.events
        if (reason := rights.check(reporter, event)) is not None
    ]
    if unauthorised:
        raise UnauthorisedEvents(unauthorised)
    now = utcnow()
    checked = _check_against_store(session, plan)
    errors = plan.refused + checked.errors
    job = CaptureJob(
        id=str(uuid.uuid4()),
        state=CaptureJobState.FAILED if errors else CaptureJobState.SUCCEEDED,
        created_at=now,
        finished_at=now,
        errors={"behaviour": behaviour.value, "issues": errors},
        organisation_id=reporter.organisation_id,
    )
    session.add(job)
    session.flush()
    if errors and behaviour is CaptureBehaviour.ROLLBACK:
        logger.info("capture %s rolled back: %d error(s)", job.id, len(errors))
        return job
    accepted = checked.events
    for declared in checked.declarations:
        session.execute(
            update(Event)
            .where(Event.event_id == declared.event_id)
            .values(document=declared.document)
        )

    def origin(event: IndexedEvent) -> EventOrigin:
        owner = reporter.organisation_id
        return EventOrigin(
            source=EventSource.CAPTURE,
            capture_job_id=job.id,
            organisation_id=owner if owner is not None else rights.owner_of(event),
        )

    inserted = store_events(session, [(e, origin(e)) for e in accepted], record_time=now)
    namespaces = plan.namespaces
    if namespaces and inserted:
        session.add_all(
            EventContext(event_id=event_id, namespaces=namespaces) for event_id in sorted(inserted)
        )
        session.flush()
    job.event_count = len(inserted)
    job.duplicate_count = len({e.event_id for e in accepted}) - len(inserted)
    logger.info(
        "capture %s: %d new, %d known, %d refused",
        job.id,
        job.event_count,
        job.duplicate_count,
        len(errors),
    )
    return job


def capture_one(
    session: Session,
    body: bytes,
    limits: CaptureLimits,
    content_type: str | None,
    reporter: Reporter = OPEN_CAPTURE,
) -> str:
    """Capture one event posted on its own (``POST /epcis/events``, synchronous); its
    ``eventID``. An ``eventID`` stored with other content is
    ``ResourceAlreadyExistsException``; the same event again is accepted (idempotent)."""
    limits.check_size(len(body))
    event = _read_document(body, content_type)
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ValidationException("the body must be one EPCIS event (a JSON object with type)")
    event = dict(event)
    context = event.pop("@context", None) or [EPCIS_CONTEXT]
    document = {
        "@context": context,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": utcnow().isoformat(),
        "epcisBody": {"eventList": [event]},
    }
    wrapped = json.dumps(document).encode()
    plan = prepare_capture(wrapped, limits, "application/json", CaptureBehaviour.ROLLBACK)
    job = store_capture(session, plan, CaptureBehaviour.ROLLBACK, reporter)
    if job.state is CaptureJobState.FAILED:
        issues = job.errors.get("issues", [])
        detail = issues[0]["detail"] if issues else "the event was not captured"
        raise ResourceAlreadyExistsException(detail)
    return plan.events[0].event_id
