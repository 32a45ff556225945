"""Subscriptions to named EPCIS queries, delivered by webhook from a durable outbox.

A subscription (``POST /epcis/queries/{name}/subscriptions``) either streams (``"stream":
true``: every new matching event is sent) or runs on a ``schedule`` (cron-like fields
``second``, ``minute``, ``hour``, ``dayOfMonth``, ``month``, ``dayOfWeek``; each ``*``, a
number, a range ``a-b`` (or ``[a-b]``), a step ``a/n`` or ``*/n``, or a list of those
separated by commas; fields below the most significant one given default to 0, those
above it to "any"). Times are UTC.

:func:`enqueue_due` writes the query documents due to each subscriber into
``epcis_subscription_outbox`` in the same transaction that moves the subscription's mark,
so a restart loses nothing and sends nothing twice from the store's side;
:func:`deliver_due` posts them, signed with ``GS1-Signature: sha256=<HMAC-SHA256 of the
body, hex>`` keyed by the subscriber's ``signatureToken``, and retries failures with
:class:`lineside.backoff.Backoff`.

>>> schedule = parse_schedule({"hour": "1", "minute": "5"})
>>> next_fire(schedule, datetime(2026, 1, 1, 0, 0, tzinfo=UTC)).isoformat()
'2026-01-01T01:05:00+00:00'
>>> next_fire(parse_schedule({"second": "0/30"}), datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)).second
30
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lineside.backoff import Backoff
from server.db.events import parse_event_time
from server.db.models import Event, OutboxState, QuerySubscription, SubscriptionDelivery
from server.db.types import utcnow
from server.errors import NoSuchNameException, SubscriptionControlsException
from server.services import epcis
from server.services.background import BackgroundThread
from server.services.epc_format import (
    check_epc_format,
    company_prefixes,
    translate_document,
)
from server.services.epcis_queries import get_query, query_items

__all__ = [
    "DELIVERY_BACKOFF",
    "EVENTS_PER_DOCUMENT",
    "SubscriptionWorker",
    "create_subscription",
    "delete_subscription",
    "deliver_due",
    "enqueue_due",
    "get_subscription",
    "list_subscriptions",
    "next_fire",
    "parse_schedule",
    "sign",
    "subscription_json",
]

logger = logging.getLogger(__name__)

#: Most events in one document posted to a subscriber.
EVENTS_PER_DOCUMENT = 100
#: Retries of a failed post: from a second up to an hour apart, 20 attempts in all.
DELIVERY_BACKOFF = Backoff(initial=1.0, factor=2.0, maximum=3600.0, jitter=0.1, attempts=20)

_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("month", 1, 12),
    ("dayOfMonth", 1, 31),
    ("dayOfWeek", 1, 7),  # ISO: 1 is Monday
    ("hour", 0, 23),
    ("minute", 0, 59),
    ("second", 0, 59),
)
_ITEM = re.compile(r"^\[?(\*|\d{1,2})(?:-(\d{1,2}))?\]?(?:/(\d{1,2}))?$")

Schedule = dict[str, frozenset[int]]


def _field_values(name: str, text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        match = _ITEM.match(item.strip())
        if match is None:
            raise SubscriptionControlsException(f"schedule.{name}: {item!r:.40} is not understood")
        start = low if match[1] == "*" else int(match[1])
        end = int(match[2]) if match[2] else (high if match[1] == "*" or match[3] else start)
        step = int(match[3]) if match[3] else 1
        if not low <= start <= end <= high or step < 1:
            raise SubscriptionControlsException(
                f"schedule.{name}: {item!r:.40} is outside {low}..{high}"
            )
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_schedule(raw: object) -> Schedule:
    """The set of allowed values of each field of a query schedule."""
    if not isinstance(raw, dict) or not raw:
        raise SubscriptionControlsException("schedule must be an object with at least one field")
    unknown = sorted(set(raw) - {name for name, _, _ in _FIELDS})
    if unknown:
        raise SubscriptionControlsException(f"schedule: unknown field(s) {unknown[:5]}")
    schedule: Schedule = {}
    significant = min(
        (i for i, (name, _, _) in enumerate(_FIELDS) if name in raw and name != "dayOfWeek"),
        default=2,
    )
    for position, (name, low, high) in enumerate(_FIELDS):
        value = raw.get(name)
        if value is not None:
            schedule[name] = _field_values(name, str(value), low, high)
        elif position > significant and name != "dayOfWeek":
            schedule[name] = frozenset({low})
        else:
            schedule[name] = frozenset(range(low, high + 1))
    return schedule


def next_fire(schedule: Schedule, after: datetime) -> datetime:
    """The first moment strictly after ``after`` the schedule allows (UTC, whole seconds)."""
    moment = after.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
    for _ in range(200_000):
        if moment.month not in schedule["month"]:
            moment = (moment.replace(day=1) + timedelta(days=32)).replace(
                day=1, hour=0, minute=0, second=0
            )
        elif (
            moment.day not in schedule["dayOfMonth"]
            or moment.isoweekday() not in schedule["dayOfWeek"]
        ):
            moment = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0)
        elif moment.hour not in schedule["hour"]:
            moment = (moment + timedelta(hours=1)).replace(minute=0, second=0)
        elif moment.minute not in schedule["minute"]:
            moment = (moment + timedelta(minutes=1)).replace(second=0)
        elif moment.second not in schedule["second"]:
            moment += timedelta(seconds=1)
        else:
            return moment
    raise SubscriptionControlsException("the schedule never fires")


# --------------------------------------------------------------------------- resources


def _check_dest(dest: object) -> str:
    if not isinstance(dest, str) or len(dest) > 512:
        raise SubscriptionControlsException("dest must be an http(s) URL of at most 512 characters")
    parts = urlsplit(dest)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SubscriptionControlsException(f"dest {dest!r:.80} is not an http(s) URL")
    return dest


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise SubscriptionControlsException(f"{name} must be true or false")
    return value


def _last_pk(session: Session) -> int:
    return int(session.scalar(select(func.max(Event.pk))) or 0)


def create_subscription(
    session: Session, query_name: str, body: object, epc_format: str | None = None
) -> QuerySubscription:
    """Subscribe ``body["dest"]`` to a named query (stream or schedule)."""
    get_query(session, query_name)
    if not isinstance(body, dict):
        raise SubscriptionControlsException("a subscription must be a JSON object")
    known = {"dest", "signatureToken", "stream", "schedule", "reportIfEmpty", "initialRecordTime"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise SubscriptionControlsException(f"unknown member(s) of a subscription: {unknown[:5]}")
    stream, schedule = _flag(body, "stream"), body.get("schedule")
    if stream == (schedule is not None):
        raise SubscriptionControlsException(
            'a subscription needs either "stream": true or a schedule, not both'
        )
    if schedule is not None:
        parse_schedule(schedule)
    secret = body.get("signatureToken", "")
    if not isinstance(secret, str) or len(secret) > 500:
        raise SubscriptionControlsException("signatureToken must be a string (at most 500)")
    initial = body.get("initialRecordTime")
    initial_time = None
    if initial is not None:
        try:
            initial_time = parse_event_time(str(initial), "initialRecordTime")
        except Exception as exc:
            raise SubscriptionControlsException(str(exc).removeprefix("event: ")) from exc
    subscription = QuerySubscription(
        id=str(uuid.uuid4()),
        query_name=query_name,
        dest=_check_dest(body.get("dest")),
        secret=secret,
        stream=stream,
        schedule=schedule or {},
        report_if_empty=_flag(body, "reportIfEmpty"),
        epc_format=check_epc_format(epc_format),
        initial_record_time=initial_time,
        created_at=utcnow(),
        last_event_pk=0 if initial_time is not None else _last_pk(session),
    )
    session.add(subscription)
    session.flush()
    return subscription


def get_subscription(session: Session, query_name: str, subscription_id: str) -> QuerySubscription:
    """One subscription of a named query; ``NoSuchResourceException`` otherwise."""
    found = session.get(QuerySubscription, subscription_id)
    if found is None or found.query_name != query_name:
        raise NoSuchNameException(
            f"no subscription {subscription_id!r:.80} to query {query_name!r:.80}"
        )
    return found


def delete_subscription(session: Session, query_name: str, subscription_id: str) -> None:
    """Unsubscribe (pending deliveries go with the subscription)."""
    session.delete(get_subscription(session, query_name, subscription_id))
    session.flush()


def list_subscriptions(
    session: Session, query_name: str, items: Iterable[tuple[str, str]]
) -> tuple[list[QuerySubscription], str | None]:
    """The subscriptions to a named query, oldest first, paged."""
    get_query(session, query_name)
    per_page, offset = epcis.paging(items, f"/queries/{query_name}/subscriptions")
    rows = list(
        session.scalars(
            select(QuerySubscription)
            .where(QuerySubscription.query_name == query_name)
            .order_by(QuerySubscription.created_at, QuerySubscription.id)
            .offset(offset)
            .limit(per_page + 1)
        )
    )
    token = epcis.encode_page_token(offset + per_page) if len(rows) > per_page else None
    return rows[:per_page], token


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def subscription_json(subscription: QuerySubscription) -> dict[str, Any]:
    """A subscription as the standard's JSON (never its secret)."""
    out: dict[str, Any] = {
        "subscriptionID": subscription.id,
        "queryName": subscription.query_name,
        "dest": subscription.dest,
        "createdAt": _iso(subscription.created_at),
        "epcFormat": subscription.epc_format,
    }
    if subscription.stream:
        out["stream"] = True
    else:
        out["schedule"] = subscription.schedule
        out["reportIfEmpty"] = subscription.report_if_empty
    for key, moment in (
        ("initialRecordTime", subscription.initial_record_time),
        ("lastNotifiedAt", subscription.last_notified_at),
    ):
        if moment is not None:
            out[key] = _iso(moment)
    return out


# --------------------------------------------------------------------------- delivery


def sign(secret: str, body: bytes) -> str:
    """The ``GS1-Signature`` of a body: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _due(subscription: QuerySubscription, now: datetime) -> bool:
    if subscription.stream:
        return True
    since = subscription.last_notified_at or subscription.created_at
    return next_fire(parse_schedule(subscription.schedule), since) <= now


def _new_documents(
    session: Session, subscription: QuerySubscription, top: int, prefixes: Sequence[str]
) -> list[dict[str, Any]]:
    items = query_items(get_query(session, subscription.query_name).query)
    if subscription.initial_record_time is not None and subscription.last_event_pk == 0:
        items.append(("GE_recordTime", _iso(subscription.initial_record_time) or ""))
    documents = []
    after = subscription.last_event_pk
    while True:
        events = epcis.events_after(session, items, after, top, limit=EVENTS_PER_DOCUMENT)
        if not events:
            break
        document = epcis.query_document(session, events, subscription.query_name, subscription.id)
        documents.append(translate_document(document, subscription.epc_format, prefixes))
        after = events[-1].pk
        if len(events) < EVENTS_PER_DOCUMENT:
            break
    if not documents and not subscription.stream and subscription.report_if_empty:
        empty = epcis.query_document(session, [], subscription.query_name, subscription.id)
        documents.append(empty)
    return documents


def enqueue_due(session: Session, now: datetime | None = None) -> int:
    """Write the documents due to every subscriber into the outbox and move each
    subscription's mark; returns how many documents were queued."""
    moment = now or utcnow()
    top = _last_pk(session)
    prefixes = company_prefixes(session)
    queued = 0
    for subscription in session.scalars(select(QuerySubscription).order_by(QuerySubscription.id)):
        if not _due(subscription, moment) or (
            subscription.stream and subscription.last_event_pk >= top
        ):
            continue
        for document in _new_documents(session, subscription, top, prefixes):
            session.add(
                SubscriptionDelivery(
                    subscription_id=subscription.id,
                    body=json.dumps(document, separators=(",", ":"), ensure_ascii=False),
                    next_attempt_at=moment,
                    created_at=moment,
                )
            )
            queued += 1
        subscription.last_event_pk = top
        if not subscription.stream:
            subscription.last_notified_at = moment
    session.flush()
    return queued


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What one :func:`deliver_due` round did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0


def _post(client: httpx.Client, subscription: QuerySubscription, body: bytes) -> str | None:
    """Post one document; None when the subscriber took it (2xx), else the reason."""
    headers = {
        "Content-Type": "application/ld+json",
        "GS1-EPCIS-Version": "2.0.0",
        "GS1-CBV-Version": "2.0.0",
    }
    if subscription.secret:
        headers["GS1-Signature"] = sign(subscription.secret, body)
    try:
        response = client.post(subscription.dest, content=body, headers=headers, timeout=10.0)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def deliver_due(
    factory: sessionmaker[Session], client: httpx.Client, now: datetime | None = None
) -> DeliveryResult:
    """Post the outbox's due documents, oldest first; a failure is retried later."""
    moment = now or utcnow()
    sent = retried = failed = 0
    with factory() as session, session.begin():
        due = list(
            session.scalars(
                select(SubscriptionDelivery)
                .where(
                    SubscriptionDelivery.state == OutboxState.PENDING,
                    SubscriptionDelivery.next_attempt_at <= moment,
                )
                .order_by(SubscriptionDelivery.id)
                .limit(50)
            )
        )
        for delivery in due:
            subscription = session.get(QuerySubscription, delivery.subscription_id)
            if subscription is None:
                continue
            problem = _post(client, subscription, delivery.body.encode())
            delivery.attempts += 1
            if problem is None:
                delivery.state, delivery.sent_at = OutboxState.SENT, moment
                subscription.last_notified_at = moment
                sent += 1
            elif (
                DELIVERY_BACKOFF.attempts is not None
                and delivery.attempts >= DELIVERY_BACKOFF.attempts
            ):
                delivery.state, delivery.last_error = OutboxState.FAILED, problem
                failed += 1
            else:
                delivery.last_error = problem
                delivery.next_attempt_at = moment + timedelta(
                    seconds=DELIVERY_BACKOFF.delay(delivery.attempts)
                )
                retried += 1
    return DeliveryResult(sent, retried, failed)


class SubscriptionWorker(BackgroundThread):
    """A background thread that queues due documents and posts them, every
    ``interval_s`` seconds (at once again while there is work)."""

    name = "epcis-subscriptions"

    def __init__(self, session_factory: sessionmaker[Session], interval_s: float = 1.0) -> None:
        super().__init__()
        self._factory = session_factory
        self._interval_s = interval_s

    def run_once(self, client: httpx.Client) -> DeliveryResult:
        """One round: queue what is due, then post what the outbox holds."""
        with self._factory() as session, session.begin():
            enqueue_due(session)
        return deliver_due(self._factory, client)

    def _run(self) -> None:
        with httpx.Client() as client:
            while not self._stopping.is_set():
                try:
                    result = self.run_once(client)
                except Exception:  # the database may be down; try again next round
                    logger.exception("EPCIS subscriptions: delivery round failed")
                    result = DeliveryResult()
                if result.sent + result.retried == 0:
                    self._stopping.wait(self._interval_s)
