"""WebSocket subscriptions to named queries: what a connection sends and when.

``GET /epcis/queries/{name}/events?stream=true`` (with ``Upgrade: websocket``) sends a
query document for each batch of new events matching the query; with schedule
parameters (``second``, ``minute``, ``hour``, ``dayOfMonth``, ``month``, ``dayOfWeek``)
it sends the events captured since the last run at each scheduled time (an empty
document too when ``reportIfEmpty=true``). ``initialRecordTime`` starts from that
record time instead of "now". The connection lives as long as the socket; nothing is
stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.db.events import parse_event_time
from server.db.models import Event
from server.db.types import utcnow
from server.errors import NotAllowed, NotSignedIn, SubscriptionControlsException
from server.services import epcis
from server.services.auth import Role, principal_for_token
from server.services.epcis_queries import get_query, query_items
from server.services.epcis_subscriptions import (
    EVENTS_PER_DOCUMENT,
    Schedule,
    next_fire,
    parse_schedule,
)

__all__ = ["Feed", "open_feed"]

#: How often a streaming connection looks for new events.
STREAM_POLL_S = 0.25
_SCHEDULE_FIELDS = ("second", "minute", "hour", "dayOfMonth", "month", "dayOfWeek")
#: A stream is not limited to one organisation: province-wide readers only.
_READERS = frozenset({Role.ADMINISTRATOR, Role.INSPECTOR, Role.AUDITOR})


@dataclass(slots=True)
class Feed:
    """One WebSocket subscription: the query, its mark and its timing."""

    query_name: str
    items: list[tuple[str, str]]
    mark: int
    schedule: Schedule | None = None
    report_if_empty: bool = False
    next_run: datetime | None = None
    initial: list[tuple[str, str]] = field(default_factory=list)

    def wait_s(self) -> float:
        """How long to wait before the next :meth:`poll`."""
        if self.next_run is None:
            return STREAM_POLL_S
        return max(0.05, min(1.0, (self.next_run - utcnow()).total_seconds()))

    def poll(self, factory: sessionmaker[Session]) -> list[dict[str, Any]]:
        """The documents to send now (none when nothing is due)."""
        now = utcnow()
        if self.next_run is not None and now < self.next_run:
            return []
        with factory() as session:
            top = int(session.scalar(select(func.max(Event.pk))) or 0)
            documents: list[dict[str, Any]] = []
            while self.mark < top:
                events = epcis.events_after(
                    session,
                    [*self.items, *self.initial],
                    self.mark,
                    top,
                    limit=EVENTS_PER_DOCUMENT,
                )
                if events:
                    documents.append(epcis.query_document(session, events, self.query_name))
                if len(events) < EVENTS_PER_DOCUMENT:
                    self.mark = top
                else:
                    self.mark = events[-1].pk
            if not documents and self.schedule is not None and self.report_if_empty:
                documents.append(epcis.query_document(session, [], self.query_name))
        self.initial = []
        if self.schedule is not None:
            self.next_run = next_fire(self.schedule, now)
        return documents


def _check_access(session: Session, token: str | None) -> None:
    if token is None:
        return
    if not token:
        raise NotSignedIn("a bearer token is required")
    principal = principal_for_token(session, token)
    if principal is None:
        raise NotSignedIn("the bearer token is unknown, expired or revoked")
    if principal.role not in _READERS:
        raise NotAllowed(f"role {principal.role.value!r} may not read EPCIS events")


def open_feed(
    factory: sessionmaker[Session], query_name: str, params: dict[str, str], token: str | None
) -> Feed:
    """Check the caller (``token`` None: open access) and the subscription parameters."""
    with factory() as session:
        _check_access(session, token)
        items = query_items(get_query(session, query_name).query)
        top = int(session.scalar(select(func.max(Event.pk))) or 0)
    unknown = sorted(
        set(params) - {*_SCHEDULE_FIELDS, "stream", "reportIfEmpty", "initialRecordTime"}
    )
    if unknown:
        raise SubscriptionControlsException(f"unknown parameter(s) {unknown[:5]}")
    raw_schedule = {name: params[name] for name in _SCHEDULE_FIELDS if name in params}
    stream = params.get("stream", "false").lower() == "true"
    if stream == bool(raw_schedule):
        raise SubscriptionControlsException("give either stream=true or a schedule, not both")
    feed = Feed(query_name=query_name, items=items, mark=top)
    initial = params.get("initialRecordTime")
    if initial:
        moment = parse_event_time(initial, "initialRecordTime")
        feed.mark = 0
        feed.initial = [("GE_recordTime", moment.isoformat())]
    if raw_schedule:
        feed.schedule = parse_schedule(raw_schedule)
        feed.report_if_empty = params.get("reportIfEmpty", "false").lower() == "true"
        feed.next_run = next_fire(feed.schedule, utcnow())
    return feed
