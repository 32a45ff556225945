"""Writing EPCIS events to the store, idempotently, and reading them back for traces.

:func:`index_event` turns an EPCIS 2.0 JSON-LD event into the rows the store keeps
(sans-I/O: no database involved); :func:`store_events` writes a batch with
``INSERT ... ON CONFLICT DO NOTHING`` on the event ID (with the event time on a
PostgreSQL store partitioned by it), so redelivered events are ignored on SQLite and
PostgreSQL alike, and returns which events were new.

>>> indexed = index_event({
...     "type": "AggregationEvent", "action": "ADD", "bizStep": "packing",
...     "eventTime": "2026-03-01T08:00:00+07:00", "eventTimeZoneOffset": "+07:00",
...     "eventID": "ni:///sha-256;00?ver=CBV2.0",
...     "parentID": "urn:epc:id:sscc:0614141.1234567890",
...     "childEPCs": ["urn:epc:id:sgtin:0614141.107346.2018"]})
>>> [e.role.value for e in indexed.epcs], indexed.parent
(['parent', 'child'], 'urn:epc:id:sscc:0614141.1234567890')
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import CTE, Connection, Select, String, and_, delete, literal, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from lineside.errors import EPCISError
from server.db.models import (
    EVENT_ID_LENGTH,
    URI_LENGTH,
    Containment,
    EpcRole,
    Event,
    EventEpc,
    EventSource,
)
from server.db.types import utcnow

logger = logging.getLogger(__name__)

#: Prefixes of the standard CBV vocabularies; values are stored without them so that
#: ``commissioning``, ``urn:epcglobal:cbv:bizstep:commissioning`` and
#: ``https://ref.gs1.org/cbv/BizStep-commissioning`` are the same business step.
_BIZ_STEP_PREFIXES = ("urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-")
_DISPOSITION_PREFIXES = ("urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-")

_EPC_LISTS: tuple[tuple[str, EpcRole], ...] = (
    ("epcList", EpcRole.EPC),
    ("childEPCs", EpcRole.CHILD),
    ("inputEPCList", EpcRole.INPUT),
    ("outputEPCList", EpcRole.OUTPUT),
)
_QUANTITY_LISTS: tuple[tuple[str, EpcRole], ...] = (
    ("quantityList", EpcRole.QUANTITY),
    ("childQuantityList", EpcRole.CHILD_QUANTITY),
    ("inputQuantityList", EpcRole.INPUT_QUANTITY),
    ("outputQuantityList", EpcRole.OUTPUT_QUANTITY),
)


def normalise_biz_step(value: str) -> str:
    """The bare CBV business step for a standard value, the URI itself otherwise.

    >>> normalise_biz_step("urn:epcglobal:cbv:bizstep:packing")
    'packing'
    >>> normalise_biz_step("https://example.com/steps/x")
    'https://example.com/steps/x'
    """
    return _strip(value, _BIZ_STEP_PREFIXES)


def normalise_disposition(value: str) -> str:
    """The bare CBV disposition for a standard value, the URI itself otherwise.

    >>> normalise_disposition("https://ref.gs1.org/cbv/Disp-active")
    'active'
    """
    return _strip(value, _DISPOSITION_PREFIXES)


def _strip(value: str, prefixes: tuple[str, ...]) -> str:
    for prefix in prefixes:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


@dataclass(frozen=True, slots=True)
class IndexedEpc:
    """One identifier of an event and the role it plays there."""

    epc: str
    role: EpcRole


@dataclass(frozen=True, slots=True)
class IndexedEvent:
    """An EPCIS event broken into the columns and rows the store keeps."""

    event_id: str
    type: str
    action: str | None
    biz_step: str | None
    disposition: str | None
    event_time: datetime
    event_time_zone_offset: str
    read_point: str | None
    biz_location: str | None
    epcs: tuple[IndexedEpc, ...]
    document: dict[str, Any] = field(repr=False)

    @property
    def parent(self) -> str | None:
        """The ``parentID``, when there is one."""
        return next((e.epc for e in self.epcs if e.role is EpcRole.PARENT), None)

    @property
    def children(self) -> tuple[str, ...]:
        """The ``childEPCs`` (instance-level children)."""
        return tuple(e.epc for e in self.epcs if e.role is EpcRole.CHILD)


def _required(event: dict[str, Any], key: str, limit: int) -> str:
    value = _text(event, key, limit)
    if value is None:
        raise EPCISError(f"event: {key} is missing")
    return value


def _text(event: dict[str, Any], key: str, limit: int) -> str | None:
    value = event.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise EPCISError(f"event: {key} must be a non-empty string, got {value!r:.60}")
    if len(value) > limit:
        raise EPCISError(f"event: {key} is {len(value)} characters long, at most {limit} allowed")
    return value


def _location(event: dict[str, Any], key: str) -> str | None:
    value = event.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise EPCISError(f"event: {key} must be an object with an 'id', got {value!r:.60}")
    return _required(value, "id", URI_LENGTH)


def parse_event_time(value: str, key: str = "eventTime") -> datetime:
    """Parse an EPCIS timestamp; it must carry a time-zone offset.

    >>> parse_event_time("2026-03-01T08:00:00.5Z").isoformat()
    '2026-03-01T08:00:00.500000+00:00'
    """
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise EPCISError(f"event: {key} {value!r:.60} is not an ISO 8601 timestamp") from exc
    if parsed.tzinfo is None:
        raise EPCISError(f"event: {key} {value!r:.60} has no time-zone offset")
    return parsed


def index_event(event: dict[str, Any]) -> IndexedEvent:
    """Extract the stored columns and identifiers of one EPCIS 2.0 JSON-LD event.

    The event must already be schema-valid; this only checks what the store relies on
    (an event ID, a time zone, lengths that fit the columns) and raises
    :class:`~lineside.errors.EPCISError` naming the field otherwise.
    """
    event_id = _required(event, "eventID", EVENT_ID_LENGTH)
    event_type = _required(event, "type", 40)
    action = _text(event, "action", 10)
    biz_step = _text(event, "bizStep", URI_LENGTH)
    disposition = _text(event, "disposition", URI_LENGTH)
    time_text = _required(event, "eventTime", 64)
    offset = _text(event, "eventTimeZoneOffset", 6) or "+00:00"
    epcs: list[IndexedEpc] = []
    parent = _text(event, "parentID", URI_LENGTH)
    if parent is not None:
        epcs.append(IndexedEpc(parent, EpcRole.PARENT))
    for key, role in _EPC_LISTS:
        for item in _list(event, key):
            if not isinstance(item, str) or not item or len(item) > URI_LENGTH:
                raise EPCISError(f"event: {key} holds an invalid identifier {item!r:.60}")
            epcs.append(IndexedEpc(item, role))
    for key, role in _QUANTITY_LISTS:
        for item in _list(event, key):
            if not isinstance(item, dict):
                raise EPCISError(f"event: {key} must hold objects, got {item!r:.60}")
            epcs.append(IndexedEpc(_required(item, "epcClass", URI_LENGTH), role))
    return IndexedEvent(
        event_id=event_id,
        type=event_type,
        action=action,
        biz_step=normalise_biz_step(biz_step) if biz_step else None,
        disposition=normalise_disposition(disposition) if disposition else None,
        event_time=parse_event_time(time_text),
        event_time_zone_offset=offset,
        read_point=_location(event, "readPoint"),
        biz_location=_location(event, "bizLocation"),
        # One row per (identifier, role): an EPC listed twice is stored once.
        epcs=tuple(dict.fromkeys(epcs)),
        document=event,
    )


def _list(event: dict[str, Any], key: str) -> list[Any]:
    value = event.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise EPCISError(f"event: {key} must be a list, got {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class EventOrigin:
    """Where an event came from: the line/device/sequence of an MQTT envelope, or a
    capture job."""

    source: EventSource = EventSource.MQTT
    line_id: str | None = None
    device_id: str | None = None
    seq: int | None = None
    capture_job_id: str | None = None
    #: The organisation of the line or user that reported the event.
    organisation_id: int | None = None


#: The array parameters of :data:`_PG_STORE`, one per event column.
_PG_EVENT_COLUMNS = (
    "event_id",
    "type",
    "action",
    "biz_step",
    "disposition",
    "event_time",
    "event_time_zone_offset",
    "read_point",
    "biz_location",
    "line_id",
    "device_id",
    "seq",
    "source",
    "capture_job_id",
    "organisation_id",
    "document",
)

# One statement, one round trip, whatever the batch size: each column travels as one
# array parameter and ``unnest`` turns the arrays back into rows. The statement text
# never changes, so psycopg and the server parse it once; a multi-row VALUES list would
# be a new, ever longer statement per batch. Parameters go in binary (``%(name)b``):
# text arrays then need no quoting or escaping (the JSON documents are full of quotes).
# The EPC rows ride along in a data-modifying CTE, joined to the events that were
# really new. Casts are to unconstrained types on purpose: a value too long must fail
# at the column (and the message be dead-lettered), never be truncated by a cast.
# An event ID is stored once whatever its time: on a store partitioned by event time the
# unique key is (event_id, event_time), so the first of an ID in the batch is kept and an
# ID already stored is skipped before the insert; ON CONFLICT still settles a race between
# two ingestors with the same event (same ID, same time).
_PG_STORE = """
WITH incoming AS (
    SELECT * FROM unnest(
        %(event_id)b::text[], %(type)b::text[], %(action)b::text[], %(biz_step)b::text[],
        %(disposition)b::text[], %(event_time)b::timestamptz[],
        %(event_time_zone_offset)b::text[], %(read_point)b::text[], %(biz_location)b::text[],
        %(line_id)b::text[], %(device_id)b::text[], %(seq)b::bigint[], %(source)b::text[],
        %(capture_job_id)b::text[], %(organisation_id)b::integer[], %(document)b::jsonb[]
    ) WITH ORDINALITY AS t(
        event_id, type, action, biz_step, disposition, event_time, event_time_zone_offset,
        read_point, biz_location, line_id, device_id, seq, source, capture_job_id,
        organisation_id, document, position
    )
),
new AS (
    INSERT INTO events (
        event_id, type, action, biz_step, disposition, event_time, event_time_zone_offset,
        read_point, biz_location, line_id, device_id, seq, source, capture_job_id,
        organisation_id, document, record_time
    )
    SELECT
        event_id, type, action, biz_step, disposition, event_time, event_time_zone_offset,
        read_point, biz_location, line_id, device_id, seq, source, capture_job_id,
        organisation_id, document, %(record_time)b
    FROM (SELECT DISTINCT ON (event_id) * FROM incoming ORDER BY event_id, position) AS first
    WHERE NOT EXISTS (SELECT 1 FROM events AS stored WHERE stored.event_id = first.event_id)
    ORDER BY position
    ON CONFLICT DO NOTHING
    RETURNING event_id
),
epcs AS (
    INSERT INTO event_epcs (event_id, epc, role)
    SELECT e.event_id, e.epc, e.role
    FROM unnest(%(epc_event_id)b::text[], %(epc)b::text[], %(epc_role)b::text[])
        AS e(event_id, epc, role)
    JOIN new ON new.event_id = e.event_id
    ON CONFLICT DO NOTHING
)
SELECT event_id FROM new
"""

# Containment changes of a run of ADD/OBSERVE aggregations, one child per row.
_PG_CONTAIN = """
INSERT INTO containment AS c (child_epc, parent_epc, event_id, event_time)
SELECT * FROM unnest(%(child)b::text[], %(parent)b::text[], %(event_id)b::text[],
                     %(event_time)b::timestamptz[])
ON CONFLICT (child_epc) DO UPDATE
SET parent_epc = excluded.parent_epc, event_id = excluded.event_id,
    event_time = excluded.event_time
WHERE c.event_time <= excluded.event_time
"""


def store_events(
    session: Session,
    events: Sequence[tuple[IndexedEvent, EventOrigin]],
    record_time: datetime | None = None,
) -> set[str]:
    """Insert events not stored yet, with their identifiers and containment changes.

    Returns the IDs of the events that were new; the others (already stored, or repeated
    within the batch) are left alone. The caller owns the transaction.

    On PostgreSQL the events and their identifiers go in one statement; on SQLite (an
    in-process library, where round trips cost nothing) in one multi-row insert each.
    """
    if not events:
        return set()
    recorded = record_time or utcnow()
    unique: dict[str, tuple[IndexedEvent, EventOrigin]] = {}
    for indexed, origin in events:
        unique.setdefault(indexed.event_id, (indexed, origin))
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        inserted = _store_postgresql(connection, unique, recorded)
    else:
        inserted = _store_portable(connection, unique, recorded)
    if inserted:
        # Batch order, then a stable sort: events of the same time apply as they came.
        aggregations = [
            indexed
            for indexed, _ in unique.values()
            if indexed.type == "AggregationEvent" and indexed.event_id in inserted
        ]
        _apply_containment(connection, sorted(aggregations, key=lambda e: e.event_time))
    return inserted


def _store_postgresql(
    connection: Connection,
    unique: dict[str, tuple[IndexedEvent, EventOrigin]],
    recorded: datetime,
) -> set[str]:
    columns: dict[str, list[Any]] = {name: [] for name in _PG_EVENT_COLUMNS}
    epc_event_ids: list[str] = []
    epc_values: list[str] = []
    epc_roles: list[str] = []
    for indexed, origin in unique.values():
        columns["event_id"].append(indexed.event_id)
        columns["type"].append(indexed.type)
        columns["action"].append(indexed.action)
        columns["biz_step"].append(indexed.biz_step)
        columns["disposition"].append(indexed.disposition)
        columns["event_time"].append(indexed.event_time)
        columns["event_time_zone_offset"].append(indexed.event_time_zone_offset)
        columns["read_point"].append(indexed.read_point)
        columns["biz_location"].append(indexed.biz_location)
        columns["line_id"].append(origin.line_id)
        columns["device_id"].append(origin.device_id)
        columns["seq"].append(origin.seq)
        columns["source"].append(origin.source.value)
        columns["capture_job_id"].append(origin.capture_job_id)
        columns["organisation_id"].append(origin.organisation_id)
        columns["document"].append(json.dumps(indexed.document))
        for item in indexed.epcs:
            epc_event_ids.append(indexed.event_id)
            epc_values.append(item.epc)
            epc_roles.append(item.role.value)
    parameters: dict[str, Any] = {
        **columns,
        "record_time": recorded,
        "epc_event_id": epc_event_ids,
        "epc": epc_values,
        "epc_role": epc_roles,
    }
    result = connection.exec_driver_sql(_PG_STORE, parameters)
    return {row[0] for row in result}


def _store_portable(
    connection: Connection,
    unique: dict[str, tuple[IndexedEvent, EventOrigin]],
    recorded: datetime,
) -> set[str]:
    rows = [
        {
            "event_id": indexed.event_id,
            "type": indexed.type,
            "action": indexed.action,
            "biz_step": indexed.biz_step,
            "disposition": indexed.disposition,
            "event_time": indexed.event_time,
            "event_time_zone_offset": indexed.event_time_zone_offset,
            "record_time": recorded,
            "read_point": indexed.read_point,
            "biz_location": indexed.biz_location,
            "line_id": origin.line_id,
            "device_id": origin.device_id,
            "seq": origin.seq,
            "source": origin.source,
            "capture_job_id": origin.capture_job_id,
            "organisation_id": origin.organisation_id,
            "document": indexed.document,
        }
        for indexed, origin in unique.values()
    ]
    inserted = set(connection.execute(_SQLITE_EVENTS, rows).scalars())
    epc_rows = [
        {"event_id": event_id, "epc": item.epc, "role": item.role}
        for event_id in inserted
        for item in unique[event_id][0].epcs
    ]
    if epc_rows:
        connection.execute(_SQLITE_EPCS, epc_rows)
    return inserted


# Built once (a statement carries its cache key): small batches run them often.
_SQLITE_EVENTS = (
    sqlite.insert(Event)
    .on_conflict_do_nothing(index_elements=["event_id"])
    .returning(Event.event_id)
)
_SQLITE_EPCS = sqlite.insert(EventEpc).on_conflict_do_nothing()


def _apply_containment(connection: Connection, aggregations: Sequence[IndexedEvent]) -> None:
    """Apply aggregations (sorted by event time) to the containment table.

    A run of consecutive ADD/OBSERVE events is applied as one upsert holding each child
    once, with its latest parent: the same outcome as applying them one by one, since
    only a newer (or equally new, later) aggregation moves a child. DELETEs are rare and
    depend on what the parent holds now, so each is applied on its own, in order.
    """
    run: dict[str, IndexedEvent] = {}
    for event in aggregations:
        if event.parent is None:
            continue
        if event.action in ("ADD", "OBSERVE"):
            for child in event.children:
                run[child] = event
        elif event.action == "DELETE":
            _upsert_children(connection, run)
            run = {}
            _delete_children(connection, event)
    _upsert_children(connection, run)


def _upsert_children(connection: Connection, run: dict[str, IndexedEvent]) -> None:
    if not run:
        return
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            _PG_CONTAIN,
            {
                "child": list(run),
                "parent": [e.parent for e in run.values()],
                "event_id": [e.event_id for e in run.values()],
                "event_time": [e.event_time for e in run.values()],
            },
        )
        return
    statement = sqlite.insert(Containment)
    statement = statement.on_conflict_do_update(
        index_elements=["child_epc"],
        set_={
            "parent_epc": statement.excluded.parent_epc,
            "event_id": statement.excluded.event_id,
            "event_time": statement.excluded.event_time,
        },
        # Events may arrive out of order: only a newer aggregation moves a child.
        where=Containment.event_time <= statement.excluded.event_time,
    )
    connection.execute(
        statement,
        [
            {
                "child_epc": child,
                "parent_epc": event.parent,
                "event_id": event.event_id,
                "event_time": event.event_time,
            }
            for child, event in run.items()
        ],
    )


def _delete_children(connection: Connection, event: IndexedEvent) -> None:
    # A DELETE without childEPCs empties the whole parent.
    condition = and_(
        Containment.parent_epc == event.parent, Containment.event_time <= event.event_time
    )
    if event.children:
        condition = and_(condition, Containment.child_epc.in_(event.children))
    connection.execute(delete(Containment).where(condition))


# --------------------------------------------------------------------------- reading


def events_for_epc(session: Session, epc: str) -> list[Event]:
    """Every event naming ``epc`` in any role, oldest first."""
    # A semi-join, not JOIN + DISTINCT: DISTINCT would sort on every column (the JSON
    # document too), and without fresh statistics PostgreSQL plans the join as a
    # parallel scan whose worker start-up alone costs several milliseconds.
    statement = (
        select(Event)
        .where(Event.event_id.in_(select(EventEpc.event_id).where(EventEpc.epc == epc)))
        .order_by(Event.event_time, Event.pk)
    )
    return list(session.scalars(statement))


def parent_of(session: Session, child_epc: str) -> str | None:
    """The container ``child_epc`` is currently packed in, if any."""
    return session.scalar(select(Containment.parent_epc).where(Containment.child_epc == child_epc))


def children_of(session: Session, parent_epc: str) -> list[str]:
    """What is currently packed in ``parent_epc``, sorted."""
    statement = (
        select(Containment.child_epc)
        .where(Containment.parent_epc == parent_epc)
        .order_by(Containment.child_epc)
    )
    return list(session.scalars(statement))


def _climb(start: Select[str, int], depth: int, *, distinct: bool = False) -> CTE:
    """A recursive CTE ``chain(epc, level)``: the rows of ``start``, then the container of
    each, up to level ``depth`` (``UNION`` when ``distinct``, else ``UNION ALL``)."""
    chain = start.cte("chain", recursive=True)
    parents = (
        select(Containment.parent_epc, (chain.c.level + 1).label("level"))
        .join(chain, Containment.child_epc == chain.c.epc)
        .where(chain.c.level < depth)
    )
    return chain.union(parents) if distinct else chain.union_all(parents)


def _chain(epcs: Sequence[str], depth: int) -> CTE:
    """The containers of the first of ``epcs`` that is packed, then theirs, with their
    level (1: its case...), as a recursive CTE of at most ``depth`` levels."""
    first = (
        select(Containment.parent_epc.label("epc"))
        .where(Containment.child_epc.in_(list(epcs)))
        .limit(1)
        .subquery()
    )
    return _climb(select(first.c.epc, literal(1).label("level")), depth)


def containers_of(session: Session, epcs: Sequence[str] | str, limit: int = 16) -> list[str]:
    """The chain of containers of ``epcs`` (one identifier, or several forms of one code),
    innermost first (case, then pallet...), read in one recursive query.

    The chain ends before a container seen already (a cycle left by bad data).
    """
    own = [epcs] if isinstance(epcs, str) else list(epcs)
    if not own:
        return []
    chain = _chain(own, limit)
    found = session.scalars(select(chain.c.epc).order_by(chain.c.level))
    result: list[str] = []
    for epc in found:
        if epc in result or epc in own:
            break
        result.append(epc)
    return result


def trace_events(session: Session, epc: str, depth: int = 16) -> list[Event]:
    """Every event naming ``epc`` or one of its containers (case, pallet...), oldest first.

    One query: a recursive CTE follows the containment chain up from ``epc`` (at most
    ``depth`` levels), then the events naming ``epc`` or any container of the chain are
    read in one semi-join, instead of a query per level.
    """
    # The chain starts at ``epc`` itself (level 0): one set of identifiers for the
    # semi-join, which the planner probes through the index (an OR of ``epc`` and the
    # containers' set would scan event_epcs).
    chain = _climb(
        select(literal(epc, type_=String(URI_LENGTH)).label("epc"), literal(0).label("level")),
        depth,
        distinct=True,
    )
    statement = (
        select(Event)
        .where(
            Event.event_id.in_(
                select(EventEpc.event_id).where(EventEpc.epc.in_(select(chain.c.epc)))
            )
        )
        .order_by(Event.event_time, Event.pk)
    )
    return list(session.scalars(statement))


def events_matching_any(session: Session, epcs: Iterable[str]) -> Select[Event]:
    """A query for events naming any of ``epcs`` (for building trace views)."""
    wanted = list(epcs)
    return (
        select(Event)
        .where(
            Event.event_id.in_(
                select(EventEpc.event_id).where(EventEpc.epc.in_(wanted)).scalar_subquery()
            )
        )
        .order_by(Event.event_time, Event.pk)
    )
