"""The ingestor against the real Mosquitto, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lineside import contract
from server.db.models import DeadLetter, Event, StatusReport
from server.ingest import Ingestor, IngestSettings
from server.ingest.validation import default_validator
from tests.server.factories import add_line, object_event, sgtin
from tests.server.ingest.conftest import Publisher, event_message
from tests.support.broker import Collector
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mqtt


def _count(session_factory: sessionmaker[Session], model: type[Event] | type[DeadLetter]) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _settings(site: str, client_id: str, **changes: object) -> IngestSettings:
    return IngestSettings(client_id=client_id, sites=(site,), session_expiry_s=120).model_copy(
        update=changes
    )


def test_events_are_stored_exactly_once(
    session: Session,
    session_factory: sessionmaker[Session],
    site: str,
    publisher: Publisher,
    client_ids: Callable[[], str],
) -> None:
    add_line(session, "L1", site)
    topic = contract.Topics(site, "L1").events
    events = [object_event([sgtin(n)], seed=f"{site}-{n}") for n in range(50)]
    with Ingestor(_settings(site, client_ids()), session_factory, default_validator()) as ing:
        messages = [(topic, event_message(site, "L1", n, e)) for n, e in enumerate(events)]
        publisher.publish_many(messages)
        publisher.publish_many(messages[:10])  # redelivered by the edge after a reconnect
        wait_until(lambda: ing.totals.stored + ing.totals.duplicates == 60)
    assert _count(session_factory, Event) == 50
    assert ing.totals.stored == 50
    assert ing.totals.duplicates == 10
    with session_factory() as check:
        stored = check.scalars(select(Event).where(Event.seq == 7)).one()
    assert stored.document == events[7]
    assert (stored.line_id, stored.device_id) == ("L1", "agent-1")


def test_bad_messages_become_dead_letters(
    session: Session,
    session_factory: sessionmaker[Session],
    site: str,
    publisher: Publisher,
    client_ids: Callable[[], str],
) -> None:
    add_line(session, "L1", site)
    add_line(session, "L2", site, devices=("agent-2",))
    topics = contract.Topics(site, "L1")
    good = object_event([sgtin(1)], seed=f"{site}-good")
    wrong_version = json.loads(event_message(site, "L1", 1, good))
    wrong_version["schema_version"] = 2
    bad_action = object_event([sgtin(2)], seed=f"{site}-bad", action="MOVE")
    sql = "'; DROP TABLE events; --"
    cases = {
        "not JSON": (topics.events, b"{not json"),
        "schema version": (topics.events, json.dumps(wrong_version).encode()),
        "oversized": (topics.events, b" " * (contract.MAX_PAYLOAD_BYTES + 1)),
        "invalid EPCIS": (topics.events, event_message(site, "L1", 2, bad_action)),
        "unknown line": (
            contract.Topics(site, "L9").events,
            event_message(site, "L9", 3, object_event([sgtin(3)], seed=f"{site}-l9")),
        ),
        "line mismatch": (topics.events, event_message(site, "L2", 4, good, device="agent-2")),
        "device of another line": (
            topics.events,
            event_message(site, "L1", 5, good, device="agent-2"),
        ),
        "unregistered device": (topics.events, event_message(site, "L1", 6, good, device="x1")),
        "SQL in fields": (
            topics.events,
            event_message(site, "L1", 8, object_event([sql], seed=sql, biz_step=sql)),
        ),
    }
    with Ingestor(_settings(site, client_ids()), session_factory, default_validator()) as ing:
        publisher.publish_many(list(cases.values()))
        publisher.publish(topics.events, event_message(site, "L1", 7, good))
        wait_until(lambda: ing.totals.dead_letters + ing.totals.stored == len(cases) + 1)
    with session_factory() as check:
        letters = check.scalars(select(DeadLetter).order_by(DeadLetter.id)).all()
        stored = check.scalars(select(Event.event_id)).all()
    assert stored == [good["eventID"]]
    reasons = [letter.reason for letter in letters]
    assert len(reasons) == len(cases)
    expected = [
        "contract: payload is not JSON",
        "contract: schema_version 2 is not supported",
        f"payload of {contract.MAX_PAYLOAD_BYTES + 1} bytes exceeds",
        "invalid EPCIS event: action: 'MOVE' is not one of",
        "unknown line 'L9'",
        "contract: payload line 'L2' does not match topic line 'L1'",
        "device 'agent-2' is not registered to line 'L1'",
        "device 'x1' is not registered to line 'L1'",
        "invalid EPCIS event: event.bizStep:",
    ]
    matched = {start: [r for r in reasons if r.startswith(start)] for start in expected}
    assert all(len(found) == 1 for found in matched.values()), reasons
    by_reason = {letter.reason: letter for letter in letters}
    not_json = by_reason[matched["contract: payload is not JSON"][0]]
    assert (not_json.payload, not_json.topic) == (b"{not json", topics.events)
    assert "truncated" in matched[expected[2]][0]


def test_retained_statuses_are_kept_for_the_dashboard(
    session: Session,
    session_factory: sessionmaker[Session],
    site: str,
    publisher: Publisher,
    client_ids: Callable[[], str],
) -> None:
    add_line(session, "L1", site, devices=("agent-1", "printer-1"))
    topics = contract.Topics(site, "L1")
    status = contract.LineStatus(site=site, line="L1", state=contract.LineState.RUNNING)
    device = contract.DeviceStatus(
        device="printer-1",
        role=contract.DeviceRole.UNIT_PRINTER,
        state=contract.DeviceState.ERROR,
        flags=("paper_out",),
    )
    publisher.publish(topics.status, contract.encode(status), retain=True)
    publisher.publish(topics.device_status("printer-1"), contract.encode(device), retain=True)
    try:
        with Ingestor(_settings(site, client_ids()), session_factory) as ingestor:
            wait_until(lambda: ingestor.totals.statuses == 2)
    finally:
        publisher.publish(topics.status, b"", retain=True)
        publisher.publish(topics.device_status("printer-1"), b"", retain=True)
    with session_factory() as check:
        reports = {r.topic: r for r in check.scalars(select(StatusReport))}
    assert reports[topics.status].payload["state"] == "running"
    assert reports[topics.device_status("printer-1")].device_id == "printer-1"
    assert reports[topics.device_status("printer-1")].payload["flags"] == ["paper_out"]


def test_every_event_taken_is_receipted_to_its_line(
    session: Session,
    session_factory: sessionmaker[Session],
    site: str,
    publisher: Publisher,
    client_ids: Callable[[], str],
) -> None:
    """Stored, duplicate and dead-lettered events alike: the server has taken them."""
    add_line(session, "L1", site)
    add_line(session, "L2", site, devices=("agent-2",))
    l1, l2 = contract.Topics(site, "L1"), contract.Topics(site, "L2")
    receipts = Collector(1883, f"lineside/v1/{site}/+/receipts")
    events = [object_event([sgtin(n)], seed=f"{site}-r{n}") for n in range(1, 31)]
    messages = [(l1.events, event_message(site, "L1", n, e)) for n, e in enumerate(events, 1)]
    bad = object_event([sgtin(99)], seed=f"{site}-bad", action="MOVE")
    try:
        with Ingestor(_settings(site, client_ids()), session_factory, default_validator()) as ing:
            publisher.publish_many(messages[:20])
            publisher.publish_many(messages[:5])  # duplicates
            publisher.publish(l1.events, event_message(site, "L1", 40, bad))  # dead letter
            publisher.publish(l1.events, b'{"seq": 41, "kind": "evt"}')  # refused, seq readable
            publisher.publish(l1.events, b"{not json")  # no seq to receipt
            publisher.publish_many(messages[20:])
            publisher.publish(
                l2.events,
                event_message(
                    site, "L2", 7, object_event([sgtin(77)], seed=site), device="agent-2"
                ),
            )
            wait_until(lambda: ing.totals.stored + ing.totals.duplicates == 36)
            wait_until(lambda: ing.totals.dead_letters == 3)

            def covered(line: str) -> set[int]:
                return {
                    seq
                    for m in receipts.messages()
                    if m["line"] == line
                    for first, last in m["seqs"]
                    for seq in range(first, last + 1)
                }

            wanted = {*range(1, 31), 40, 41}
            assert receipts.wait_for(lambda _m: covered("L1") == wanted and covered("L2") == {7})
        for payload in receipts.payloads:
            decoded = contract.decode(
                payload, contract.Topics(site, json.loads(payload)["line"]).receipts
            )
            assert isinstance(decoded, contract.Receipt)
    finally:
        receipts.close()
