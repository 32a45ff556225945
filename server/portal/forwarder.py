"""Forwarding stored events to a traceability portal through the ``portal_outbox`` table.

Each stored event gets one outbox entry per target (:func:`enqueue_new`); due entries
are sent in batches (:func:`forward_due`) either as an EPCIS 2.0 document (the target
is an EPCIS capture interface) or as mapped JSON records (product, lot, producer,
stages) for a portal with its own format. A failed batch is retried with exponential
backoff; after ``max_attempts`` its entries are ``failed`` and keep the last error.
Capture is idempotent on the event ID, so a batch sent twice (crash after the POST,
before the commit) is harmless.

>>> PortalTarget(name="national", url="https://portal.example/epcis/capture").backoff_s(3)
4.0
"""

from __future__ import annotations

import enum
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import httpx
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, exists, func, insert, literal, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from lineside.backoff import Backoff
from server.db.events import parse_event_time
from server.db.models import (
    Event,
    Organisation,
    OutboxState,
    PortalMark,
    PortalOutboxEntry,
    Product,
)
from server.db.types import utcnow
from server.ingest.validation import as_document
from server.services.background import BackgroundThread

logger = logging.getLogger(__name__)

#: How long the high-water mark waits for in-flight event inserts before giving up.
_SETTLE_LOCK_TIMEOUT = "2s"

#: The versions Lineside's EPCIS documents follow, sent as the standard's headers.
EPCIS_HEADERS = {
    "GS1-EPCIS-Version": "2.0.0",
    "GS1-CBV-Version": "2.0.0",
    # All or nothing: a batch is delivered whole or retried whole.
    "GS1-Capture-Error-Behaviour": "rollback",
}

#: Waits ``seconds`` unless told to stop; True when it should stop.
Wait = Callable[[float], bool]


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


_DL_GTIN = re.compile(r"/01/(\d{14})")
_DL_LOT = re.compile(r"/10/([^/?#]+)")


class PortalFormat(enum.StrEnum):
    """What the target accepts."""

    EPCIS = "epcis"
    RECORD = "record"


class PortalTarget(BaseModel):
    """One place events are forwarded to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    url: str
    format: PortalFormat = PortalFormat.EPCIS
    token: str | None = None
    batch_size: int = Field(default=200, ge=1, le=10_000)
    max_attempts: int = Field(default=12, ge=1)
    base_backoff_s: float = Field(default=1.0, gt=0)
    max_backoff_s: float = Field(default=3600.0, gt=0)
    timeout_s: float = Field(default=15.0, gt=0)
    #: Least seconds between two moves of the high-water mark; each move briefly waits
    #: for (and holds back) event inserts on PostgreSQL.
    mark_interval_s: float = Field(default=1.0, ge=0)
    #: An EPCIS capture answered 202 is followed to its capture job: first poll after
    #: ``job_poll_s``, doubling up to ``job_poll_max_s``, given up after ``job_timeout_s``
    #: (the batch is then retried; capture is idempotent on the event ID).
    job_poll_s: float = Field(default=0.5, gt=0)
    job_poll_max_s: float = Field(default=10.0, gt=0)
    job_timeout_s: float = Field(default=120.0, gt=0)

    @property
    def backoff(self) -> Backoff:
        """The retry policy: doubling from ``base_backoff_s``, capped at ``max_backoff_s``.

        No jitter: a failed batch's next attempt is a time stored with its entries, and
        one worker thread sends the batches one after another, not a crowd of clients
        that would retry in lockstep.
        """
        return Backoff(
            initial=min(self.base_backoff_s, self.max_backoff_s),
            factor=2.0,
            maximum=self.max_backoff_s,
            jitter=0.0,
            attempts=self.max_attempts,
        )

    def backoff_s(self, attempts: int) -> float:
        """Wait before the next attempt after ``attempts`` failures (doubling, capped)."""
        return self.backoff.delay(attempts)


@dataclass(frozen=True, slots=True)
class ForwardResult:
    """What one :func:`forward_due` call did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """Delivery state of one target, for the dashboard."""

    target: str
    pending: int
    sent: int
    failed: int
    last_error: str
    last_sent_at: datetime | None


def enqueue_new(session: Session, target: PortalTarget, now: datetime | None = None) -> int:
    """Add an outbox entry for every stored event the target has none for yet.

    Only events above the target's high-water mark (:class:`PortalMark`) are read, so a
    run costs what was stored since the last one, not the whole event store. The mark
    only moves up to a *settled* row id, below which no insert is still in flight: on
    PostgreSQL concurrent transactions commit out of row-id order, and a mark moved past
    an uncommitted row would lose that event for good. Events above the mark may be read
    twice; the ``NOT EXISTS`` guard makes that harmless.
    """
    moment = now or utcnow()
    mark = session.get(PortalMark, target.name)
    floor = mark.last_event_pk if mark is not None else 0
    wall = utcnow()
    due = mark is None or (wall - mark.updated_at).total_seconds() >= target.mark_interval_s
    # Settle first, then read: what committed below the settled id is then visible.
    settled = _settled_event_pk(session) if due else None
    missing = select(
        literal(target.name),
        Event.event_id,
        literal(OutboxState.PENDING.value),
        literal(0),
        literal(moment, type_=PortalOutboxEntry.__table__.c.next_attempt_at.type),
        literal(""),
        literal(moment, type_=PortalOutboxEntry.__table__.c.created_at.type),
    ).where(
        Event.pk > floor,
        ~exists().where(
            PortalOutboxEntry.target == target.name, PortalOutboxEntry.event_id == Event.event_id
        ),
    )
    statement = insert(PortalOutboxEntry).from_select(
        ["target", "event_id", "state", "attempts", "next_attempt_at", "last_error", "created_at"],
        missing,
    )
    # Without ``preserve_rowcount`` psycopg's count of an INSERT ... SELECT is lost.
    result = session.execute(statement, execution_options={"preserve_rowcount": True})
    added = int(getattr(result, "rowcount", 0) or 0)
    if settled is not None and settled > floor:
        if mark is None:
            session.add(PortalMark(target=target.name, last_event_pk=settled, updated_at=wall))
        else:
            mark.last_event_pk = settled
            mark.updated_at = wall
        session.flush()
    return added


def _settled_event_pk(session: Session) -> int | None:
    """The highest event row id below which every insert has committed, if known now.

    SQLite has one writer at a time, holding its lock from its first write to its
    commit, so the highest visible id is settled. On PostgreSQL a short transaction on
    its own connection takes a SHARE lock on ``events``, which waits for the inserts in
    flight (and holds new ones back for a moment); once it has it, every id handed out
    so far belongs to a finished transaction. ``None`` when the lock is not granted
    within ``_SETTLE_LOCK_TIMEOUT`` (the mark then stays where it is).
    """
    bind = session.get_bind()
    highest = select(func.max(Event.pk))
    if bind.dialect.name != "postgresql":
        return session.scalar(highest) or 0
    if not isinstance(bind, Engine):
        return None  # bound to a caller's connection: no second connection to wait on
    try:
        with bind.connect() as connection, connection.begin():
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{_SETTLE_LOCK_TIMEOUT}'")
            connection.exec_driver_sql("LOCK TABLE events IN SHARE MODE")
            return connection.scalar(highest) or 0
    except OperationalError as exc:
        logger.info("portal: event ids not settled (%s)", _first_line(exc))
        return None


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:300]


def forward_due(
    session_factory: sessionmaker[Session],
    target: PortalTarget,
    client: httpx.Client,
    now: datetime | None = None,
    wait: Wait = _sleep,
) -> ForwardResult:
    """Send one batch of due entries; record the outcome. Never raises for HTTP errors.

    Entries are marked sent only when the target took the batch: a 2xx, or for an EPCIS
    capture interface's 202 a capture job that finished with success. ``wait`` sleeps
    between polls of that job (returning True to give up, when the worker stops).
    """
    moment = now or utcnow()
    with session_factory() as session, session.begin():
        enqueue_new(session, target, moment)
        rows = session.execute(
            select(PortalOutboxEntry.id, PortalOutboxEntry.attempts, Event)
            .join(Event, Event.event_id == PortalOutboxEntry.event_id)
            .where(
                PortalOutboxEntry.target == target.name,
                PortalOutboxEntry.state == OutboxState.PENDING,
                PortalOutboxEntry.next_attempt_at <= moment,
            )
            .order_by(PortalOutboxEntry.id)
            .limit(target.batch_size)
        ).all()
        if not rows:
            return ForwardResult()
        events = [row[2] for row in rows]
        payload = (
            as_document([e.document for e in events])
            if target.format is PortalFormat.EPCIS
            else {"records": portal_records(session, events)}
        )
    error = _post(client, target, payload, wait)
    ids = [row[0] for row in rows]
    attempts = max(row[1] for row in rows) + 1
    with session_factory() as session, session.begin():
        if error is None:
            session.execute(
                update(PortalOutboxEntry)
                .where(PortalOutboxEntry.id.in_(ids))
                .values(
                    state=OutboxState.SENT,
                    sent_at=moment,
                    last_error="",
                    attempts=PortalOutboxEntry.attempts + 1,
                )
            )
            return ForwardResult(sent=len(ids))
        gave_up = attempts >= target.max_attempts
        session.execute(
            update(PortalOutboxEntry)
            .where(PortalOutboxEntry.id.in_(ids))
            .values(
                state=OutboxState.FAILED if gave_up else OutboxState.PENDING,
                attempts=PortalOutboxEntry.attempts + 1,
                last_error=error,
                next_attempt_at=moment + timedelta(seconds=target.backoff_s(attempts)),
            )
        )
    logger.warning("portal %s: batch of %d failed: %s", target.name, len(ids), error)
    return ForwardResult(failed=len(ids)) if gave_up else ForwardResult(retried=len(ids))


def _post(
    client: httpx.Client, target: PortalTarget, payload: dict[str, Any], wait: Wait = _sleep
) -> str | None:
    """Deliver one batch; ``None`` when delivered, else what went wrong.

    An EPCIS capture interface answers 202 with the ``Location`` of its capture job: the
    batch is delivered only when that job has finished with success.
    """
    headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
    if target.format is PortalFormat.EPCIS:
        headers.update(EPCIS_HEADERS)
    try:
        response = client.post(target.url, json=payload, headers=headers, timeout=target.timeout_s)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:1000]
    if response.status_code == 202 and target.format is PortalFormat.EPCIS:
        location = response.headers.get("location")
        if not location:
            return "HTTP 202 without a Location: the capture job cannot be followed"
        job_url = urljoin(str(response.url), location)
        return _await_capture_job(client, target, job_url, headers, wait)
    if response.is_success:
        return None
    return f"HTTP {response.status_code}: {response.text[:500]}"


def _await_capture_job(
    client: httpx.Client, target: PortalTarget, url: str, headers: dict[str, str], wait: Wait
) -> str | None:
    """Poll a capture job with backoff until it has finished; ``None`` on success."""
    policy = Backoff(
        initial=min(target.job_poll_s, target.job_poll_max_s),
        factor=2.0,
        maximum=target.job_poll_max_s,
        jitter=0.0,
        attempts=None,
    )
    deadline = time.monotonic() + target.job_timeout_s
    polls = 0
    while True:
        polls += 1
        # The first look is at once: many capture interfaces finish small jobs inline.
        delay = policy.delay(polls - 1) if polls > 1 else 0.0
        delay = min(delay, max(deadline - time.monotonic(), 0.0))
        if wait(delay):
            return f"capture job {url}: not followed to its end (stopping)"
        try:
            answer = client.get(url, headers=headers, timeout=target.timeout_s)
        except httpx.HTTPError as exc:
            return f"capture job {url}: {type(exc).__name__}: {exc}"[:1000]
        if not answer.is_success:
            return f"capture job {url}: HTTP {answer.status_code}: {answer.text[:300]}"
        job = _job_document(answer)
        if job is None:
            return f"capture job {url}: the answer is not a capture job document"
        if not job.get("running", False):
            if job.get("success") is True:
                return None
            errors = json.dumps(job.get("errors", []), ensure_ascii=False)[:500]
            return f"capture job {url} failed: {errors}"
        if time.monotonic() >= deadline:
            return f"capture job {url}: still running after {target.job_timeout_s:g} s"


def _job_document(answer: httpx.Response) -> dict[str, Any] | None:
    try:
        document = answer.json()
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("running", False), bool):
        return None
    return document


def portal_records(session: Session, events: Sequence[Event]) -> list[dict[str, Any]]:
    """Events grouped per (GTIN, lot) as records: product (with the product passport's
    fields), lot and its dates, producer, and the stages (code, place, time).

    The GTIN and lot come from Digital Link identifiers in the events; events naming no
    GTIN are grouped under ``null``. ``docs/portal.md`` maps each field onto the
    regulations' data sets.
    """
    groups: dict[tuple[str | None, str | None], list[Event]] = {}
    for event in events:
        groups.setdefault(_gtin_lot(event.document), []).append(event)
    records = []
    for (gtin, lot), members in groups.items():
        product = session.scalar(select(Product).where(Product.gtin == gtin)) if gtin else None
        producer = session.get(Organisation, product.organisation_id) if product else None
        ordered = sorted(members, key=lambda m: parse_event_time(m.document["eventTime"]))
        records.append(
            {
                "product": _product_record(gtin, product),
                "lot": lot,
                **_lot_dates(ordered),
                "producer": _producer_record(producer),
                "stages": [
                    {
                        "eventId": e.event_id,
                        "step": e.biz_step,
                        "time": e.document.get("eventTime"),
                        "location": e.biz_location or e.read_point,
                        "codes": _codes(e.document),
                    }
                    for e in ordered
                ],
            }
        )
    return records


def _product_record(gtin: str | None, product: Product | None) -> dict[str, Any]:
    if product is None:
        return {"gtin": gtin, "name": None, "brand": None, "origin": None, "standards": None}
    certificates = []
    if product.certificate_number:
        certificates.append(
            {
                "number": product.certificate_number,
                "validFrom": _iso(product.certificate_valid_from),
                "validUntil": _iso(product.certificate_valid_until),
                "ocopStars": product.ocop_stars,
            }
        )
    return {
        "gtin": gtin,
        "name": product.name_vi,
        "nameEn": product.name_en or None,
        "image": product.image_url or None,
        "brand": product.brand,
        "category": product.category or None,
        "netContent": product.net_content or None,
        "origin": product.origin,
        "standards": product.standards,
        "shelfLifeDays": product.shelf_life_days,
        "safetyWarnings": product.safety_warnings or None,
        "ocopGroup": product.ocop_group.value if product.ocop_group is not None else None,
        "certificates": certificates,
    }


def _producer_record(producer: Organisation | None) -> dict[str, Any]:
    if producer is None:
        return {"name": None, "address": None, "taxId": None}
    return {
        "name": producer.name,
        "address": producer.address,
        "taxId": producer.tax_id,
        "gln": producer.gln,
        "province": producer.province or None,
        "country": producer.country,
    }


def _lot_dates(events: Sequence[Event]) -> dict[str, Any]:
    """The production and expiry dates the events' ILMD gives the lot (first found)."""
    dates: dict[str, Any] = {"productionDate": None, "expiryDate": None}
    for event in events:
        ilmd = event.document.get("ilmd")
        if not isinstance(ilmd, dict):
            continue
        for key, value in ilmd.items():
            name = key.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
            if name == "productionDate" and dates["productionDate"] is None:
                dates["productionDate"] = value
            elif name == "itemExpirationDate" and dates["expiryDate"] is None:
                dates["expiryDate"] = value
    return dates


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _codes(document: dict[str, Any]) -> list[str]:
    codes = [document["parentID"]] if "parentID" in document else []
    for key in ("epcList", "childEPCs", "inputEPCList", "outputEPCList"):
        codes += [c for c in document.get(key, []) if isinstance(c, str)]
    return codes


def _gtin_lot(document: dict[str, Any]) -> tuple[str | None, str | None]:
    for code in _codes(document):
        gtin = _DL_GTIN.search(code)
        if gtin:
            lot = _DL_LOT.search(code)
            return gtin.group(1), lot.group(1) if lot else None
    return None, None


def outbox_status(session: Session) -> list[OutboxStatus]:
    """Per target: how many entries are pending, sent, failed; the last error."""
    counts: dict[str, dict[OutboxState, int]] = {}
    for target, state, count in session.execute(
        select(PortalOutboxEntry.target, PortalOutboxEntry.state, func.count()).group_by(
            PortalOutboxEntry.target, PortalOutboxEntry.state
        )
    ):
        counts.setdefault(target, {})[state] = count
    statuses = []
    for target, by_state in sorted(counts.items()):
        last_error = session.scalar(
            select(PortalOutboxEntry.last_error)
            .where(PortalOutboxEntry.target == target, PortalOutboxEntry.last_error != "")
            .order_by(PortalOutboxEntry.id.desc())
            .limit(1)
        )
        last_sent = session.scalar(
            select(func.max(PortalOutboxEntry.sent_at)).where(PortalOutboxEntry.target == target)
        )
        statuses.append(
            OutboxStatus(
                target=target,
                pending=by_state.get(OutboxState.PENDING, 0),
                sent=by_state.get(OutboxState.SENT, 0),
                failed=by_state.get(OutboxState.FAILED, 0),
                last_error=last_error or "",
                last_sent_at=last_sent,
            )
        )
    return statuses


class PortalWorker(BackgroundThread):
    """A background thread forwarding to each target every ``interval_s`` seconds."""

    name = "portal-forwarder"

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        targets: Sequence[PortalTarget],
        interval_s: float = 5.0,
    ) -> None:
        super().__init__()
        self._session_factory = session_factory
        self._targets = tuple(targets)
        self._interval_s = interval_s

    def _run(self) -> None:
        with httpx.Client() as client:
            while not self._stopping.is_set():
                busy = False
                for target in self._targets:
                    try:
                        result = forward_due(
                            self._session_factory, target, client, wait=self._stopping.wait
                        )
                    except Exception:  # the database may be down; try again next round
                        logger.exception("portal %s: forwarding failed", target.name)
                        continue
                    busy = busy or result.sent + result.retried + result.failed > 0
                if not busy:
                    self._stopping.wait(self._interval_s)
