"""The outbox and its publisher against real Mosquitto brokers."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.journal import Journal, OutboxItem
from edge.outbox import OutboxPublisher
from lineside.contract import Receipt, Topics, encode
from lineside.mqtt import BrokerEndpoint, LastWill
from tests.support.broker import MOSQUITTO, Collector, StartBroker, broker_up
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mqtt


def _seq_body(seq: int) -> bytes:
    return b'{"seq": %d}' % seq


def _item(topic: str) -> OutboxItem:
    return OutboxItem(topic, _seq_body)


def _first_seen(messages: list[dict[str, int]]) -> list[int]:
    seen: dict[int, None] = {}
    for m in messages:
        seen.setdefault(m["seq"], None)
    return list(seen)


@pytest.mark.skipif(not broker_up(), reason="Mosquitto not running on 127.0.0.1:1883")
def test_rows_are_published_in_order_and_deleted_on_puback(tmp_path: Path) -> None:
    topic = f"lineside-test/{tmp_path.name}/events"
    journal = Journal.open(tmp_path / "line.db")
    collector = Collector(1883, topic)
    for _ in range(300):
        journal.outbox.enqueue([_item(topic)])
    publisher = OutboxPublisher(
        tmp_path / "line.db", BrokerEndpoint("127.0.0.1", 1883), f"pub-{tmp_path.name}"[:60]
    )
    acked: list[int] = []
    publisher.add_ack_listener(acked.extend)
    publisher.start()
    try:
        assert publisher.drain(15)
        assert collector.wait_for(lambda m: len({x["seq"] for x in m}) == 300)
        assert journal.outbox.pending() == (0, 0)
        assert _first_seen(collector.messages()) == list(range(1, 301))
        assert sorted(acked) == list(range(1, 301))
    finally:
        publisher.stop(flush_timeout=1)
        collector.close()
        journal.close()


@pytest.mark.skipif(not broker_up(), reason="Mosquitto not running on 127.0.0.1:1883")
def test_rows_are_sent_while_the_engine_holds_the_write_lock(tmp_path: Path) -> None:
    """The publisher never waits for the engine's write lock: it sends and reports the
    confirmed rows at once, and deletes them once the lock is free."""
    topic = f"lineside-test/{tmp_path.name}/events"
    journal = Journal.open(tmp_path / "line.db")
    collector = Collector(1883, topic)
    for _ in range(50):
        journal.outbox.enqueue([_item(topic)])
    publisher = OutboxPublisher(
        tmp_path / "line.db", BrokerEndpoint("127.0.0.1", 1883), f"pub-{tmp_path.name}"[:60]
    )
    acked: list[int] = []
    publisher.add_ack_listener(acked.extend)
    journal.hold()  # the engine's group transaction: the write lock is taken
    publisher.start()
    try:
        wait_until(lambda: sorted(acked) == list(range(1, 51)), "rows confirmed", timeout=10)
        assert collector.wait_for(lambda m: len({x["seq"] for x in m}) == 50)
        assert journal.outbox.pending()[0] == 50  # not deleted while the lock is held
        journal.flush()
        assert publisher.drain(10)
        assert journal.outbox.pending() == (0, 0)
        assert sorted(acked) == list(range(1, 51))  # each row reported once
    finally:
        publisher.stop(flush_timeout=1)
        collector.close()
        journal.close()


@pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto binary not installed")
def test_broker_outage_loses_nothing_and_keeps_order(
    tmp_path: Path, private_broker: StartBroker
) -> None:
    broker = private_broker(extra_config="autosave_interval 1\nmax_inflight_messages 0")
    topic = "lineside-test/outage/events"
    journal = Journal.open(tmp_path / "line.db")
    collector = Collector(broker.port, topic)
    will = LastWill("lineside-test/outage/status", b'{"state":"offline"}')
    publisher = OutboxPublisher(
        tmp_path / "line.db",
        BrokerEndpoint("127.0.0.1", broker.port, keepalive_s=5),
        "outage-publisher",
        will=will,
        budget_bytes=4000,
    )
    publisher.start()
    stop_writing = threading.Event()
    written = 0

    def producer() -> None:
        nonlocal written
        while not stop_writing.is_set() and written < 600:
            journal.outbox.enqueue([_item(topic)])
            publisher.wake()
            written += 1
            time.sleep(0.005)

    writer = threading.Thread(target=producer)
    try:
        assert publisher.wait_connected(10)
        writer.start()
        wait_until(lambda: written >= 100, "events produced before the outage")
        broker.stop()  # outage while events keep being produced
        wait_until(lambda: not publisher.connected, "the publisher sees the outage")
        produced_during_outage = written
        wait_until(lambda: written >= produced_during_outage + 50, "events produced meanwhile")
        assert journal.outbox.pending()[0] > 0
        assert publisher.usage.messages > 0
        broker.start()
        writer.join(20)
        assert written == 600
        assert publisher.drain(30)
        got = collector.wait_for(lambda m: len({x["seq"] for x in m}) == 600, timeout=30)
        missing = sorted(set(range(1, 601)) - {m["seq"] for m in collector.messages()})
        assert got, f"missing at the subscriber: {missing}"
        assert _first_seen(collector.messages()) == list(range(1, 601))
    finally:
        stop_writing.set()
        publisher.stop(flush_timeout=1)
        collector.close()
        journal.close()


def test_usage_reports_nearly_full_and_full(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "line.db")
    for _ in range(10):
        journal.outbox.enqueue([OutboxItem("t", lambda _s: b"x" * 100)])
    publisher = OutboxPublisher(
        tmp_path / "line.db",
        BrokerEndpoint("127.0.0.1", 1),
        "nobody",  # port 1: never connects
        budget_bytes=1200,
        alarm_at=0.8,
    )
    publisher.start()
    try:
        deadline = time.monotonic() + 5
        while publisher.usage.messages != 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        usage = publisher.usage
        assert (usage.messages, usage.bytes) == (10, 1000)
        assert usage.nearly_full
        assert not usage.full
    finally:
        publisher.stop(flush_timeout=0)
        journal.close()


def _publish(port: int, topic: str, payload: bytes) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def _receipt(topics: Topics, seqs: range, *, line: str | None = None) -> bytes:
    return encode(Receipt(site=topics.site, line=line or topics.line, seqs=Receipt.ranges(seqs)))


def _confirmed_by_server(
    tmp_path: Path, topics: Topics, client_id: str, events: int, **options: Any
) -> tuple[Journal, OutboxPublisher]:
    """A journal holding ``events`` events (``e0``, ``e1``...) and a publisher, not yet
    started, that deletes each on the server's receipt."""
    journal = Journal.open(tmp_path / "line.db")
    for n in range(events):
        journal.outbox.enqueue([OutboxItem(topics.events, _seq_body, event_id=f"e{n}")])
    publisher = OutboxPublisher(
        tmp_path / "line.db",
        BrokerEndpoint("127.0.0.1", 1883),
        client_id,
        confirm="server",
        receipts_topic=topics.receipts,
        **options,
    )
    return journal, publisher


@pytest.mark.skipif(not broker_up(), reason="Mosquitto not running on 127.0.0.1:1883")
def test_server_confirm_keeps_events_until_their_receipt_and_resends_the_others(
    tmp_path: Path,
) -> None:
    topics = Topics("s" + uuid.uuid4().hex[:8], "L1")
    collector = Collector(1883, topics.events)
    journal, publisher = _confirmed_by_server(
        tmp_path, topics, f"confirm-{topics.site}", 20, resend_after_s=0.5
    )
    journal.outbox.enqueue([OutboxItem(topics.alarms, _seq_body)])  # not an event
    publisher.start()
    try:
        assert collector.wait_for(lambda m: len({x["seq"] for x in m}) == 20)
        # The broker has every row; only the alarm is gone, the events wait for the server.
        wait_until(lambda: journal.outbox.pending()[0] == 20, "the alarm deleted on PUBACK")
        assert len(journal.outbox.pending_events()) == 20
        # Receipts of another line, or malformed ones, confirm nothing.
        _publish(1883, topics.receipts, _receipt(topics, range(1, 21), line="L2"))
        _publish(1883, topics.receipts, b'{"schema_version": 1, "kind": "receipt"}')
        _publish(1883, topics.receipts, _receipt(topics, range(1, 11)))
        wait_until(lambda: len(journal.outbox.pending_events()) == 10, "receipted events deleted")
        assert journal.outbox.pending_events() == {f"e{n}" for n in range(10, 20)}
        assert not publisher.drain(0.1)
        # Without a receipt the rest is sent again, and again, until the server confirms.
        assert collector.wait_for(lambda m: sum(x["seq"] == 20 for x in m) >= 3, timeout=30)
        assert publisher.resent_total >= 20
        _publish(1883, topics.receipts, _receipt(topics, range(11, 21)))
        assert publisher.drain(15)
        assert publisher.unconfirmed == 0
    finally:
        publisher.stop(flush_timeout=1)
        collector.close()
        journal.close()


@pytest.mark.skipif(not broker_up(), reason="Mosquitto not running on 127.0.0.1:1883")
def test_stopping_before_the_receipts_keeps_the_events_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    topics = Topics("s" + uuid.uuid4().hex[:8], "L1")
    journal, publisher = _confirmed_by_server(tmp_path, topics, f"stop-{topics.site}", 3)
    publisher.start()
    try:
        assert publisher.wait_connected(10)
        wait_until(lambda: publisher.unconfirmed == 3, "the events sent")
    finally:
        with caplog.at_level("WARNING", logger="edge.outbox"):
            publisher.stop(flush_timeout=0.2)
        # No receipt came: the events stay for the next start, and the log says how many.
        assert journal.outbox.pending_events() == {"e0", "e1", "e2"}
        assert "stopping with 3 message(s) in the outbox" in caplog.text
        journal.close()


@pytest.mark.skipif(not broker_up(), reason="Mosquitto not running on 127.0.0.1:1883")
def test_server_confirm_sends_no_more_than_max_unconfirmed_ahead_of_the_receipts(
    tmp_path: Path,
) -> None:
    """A stalled aggregator leaves the backlog in the outbox, not in the broker."""
    topics = Topics("s" + uuid.uuid4().hex[:8], "L1")
    collector = Collector(1883, topics.events)
    journal, publisher = _confirmed_by_server(
        tmp_path, topics, f"window-{topics.site}", 12, resend_after_s=0.3, max_unconfirmed=5
    )
    publisher.start()
    try:
        # Resent (so certainly past the window) but never beyond the first five.
        assert collector.wait_for(lambda m: sum(x["seq"] == 5 for x in m) >= 2)
        assert {m["seq"] for m in collector.messages()} == {1, 2, 3, 4, 5}
        _publish(1883, topics.receipts, _receipt(topics, range(1, 6)))
        assert collector.wait_for(lambda m: {x["seq"] for x in m} == set(range(1, 11)))
        _publish(1883, topics.receipts, _receipt(topics, range(6, 13)))
        assert collector.wait_for(lambda m: {x["seq"] for x in m} == set(range(1, 13)))
        _publish(1883, topics.receipts, _receipt(topics, range(11, 13)))
        assert publisher.drain(15)
    finally:
        publisher.stop(flush_timeout=1)
        collector.close()
        journal.close()
