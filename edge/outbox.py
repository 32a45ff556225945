"""The durable outbox and its MQTT publisher.

The engine writes every message into the ``outbox`` table of the line database in the same
transaction as the state change it reports (see :mod:`edge.journal`). An
:class:`OutboxPublisher` thread sends the rows in ``seq`` order with paho-mqtt (QoS 1,
persistent session) and deletes a row when it is confirmed. With ``confirm="broker"`` the
broker's PUBACK confirms it (``on_publish`` with the message id). With ``confirm="server"``
an event row is confirmed only by the aggregator's :class:`~lineside.contract.Receipt` on
the line's ``receipts`` topic: after its PUBACK the row is only marked sent, and it is sent
again when no receipt came within ``resend_after_s`` (a broker restarted without
persistence accepts messages that nobody is subscribed to any more). Other rows (alarms,
reports, acks) are deleted on PUBACK in both modes. A broker outage, an agent restart or a
power cut therefore loses nothing: unconfirmed rows are simply sent again, and because every
event carries its EPCIS hash as ``eventID`` the aggregator ignores the duplicates.

Disk use is bounded: :attr:`OutboxPublisher.usage` reports the bytes waiting; the engine
raises an alarm at ``alarm_at_percent`` of the budget and pauses the line when it is full.

>>> usage = OutboxUsage(messages=10, bytes=800_000, budget_bytes=1_000_000, alarm_at=0.8)
>>> usage.nearly_full, usage.full
(True, False)
"""

from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from edge.journal import connect
from lineside import contract
from lineside.errors import ContractError
from lineside.mqtt import BrokerEndpoint, LastWill, make_client
from lineside.mqtt import connect as connect_broker

logger = logging.getLogger(__name__)

#: Who confirms an event row: the broker's PUBACK, or the aggregator's receipt.
Confirm = Literal["broker", "server"]


@dataclass(frozen=True, slots=True)
class OutboxUsage:
    """How much of the outbox's disk budget the waiting messages use."""

    messages: int
    bytes: int
    budget_bytes: int
    alarm_at: float

    @property
    def fraction(self) -> float:
        return self.bytes / self.budget_bytes if self.budget_bytes else 0.0

    @property
    def nearly_full(self) -> bool:
        return self.fraction >= self.alarm_at

    @property
    def full(self) -> bool:
        return self.bytes >= self.budget_bytes


class OutboxPublisher:
    """Publishes the outbox in order, deleting each row on its PUBACK.

    Runs paho's network loop and its own pump thread; both are started by :meth:`start`
    and stopped by :meth:`stop`, which waits (up to ``flush_timeout``) for the outbox to drain.

    >>> # publisher = OutboxPublisher("line.db", settings, will=LastWill(t, offline))
    >>> # publisher.start(); ...; publisher.stop(flush_timeout=5)
    """

    def __init__(
        self,
        db_path: str | Path,
        endpoint: BrokerEndpoint,
        client_id: str,
        *,
        will: LastWill | None = None,
        window: int = 100,
        budget_bytes: int = 512 * 1024 * 1024,
        alarm_at: float = 0.8,
        confirm: Confirm = "broker",
        receipts_topic: str | None = None,
        resend_after_s: float = 30.0,
        max_unconfirmed: int = 2000,
    ) -> None:
        if confirm == "server" and receipts_topic is None:
            raise ValueError('confirm="server" needs the receipts topic')
        self._db_path = db_path
        self._endpoint = endpoint
        self._client_id = client_id
        self._will = will
        self._window = window
        self._budget = budget_bytes
        self._alarm_at = alarm_at
        self._lock = threading.RLock()
        self._early_acks: set[int] = set()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._down_since: float | None = time.monotonic()
        # paho mid -> (outbox seq, whether the row waits for the server's receipt)
        self._inflight: dict[int, tuple[int, bool]] = {}
        self._confirm = confirm
        self._resend_after = resend_after_s
        # Rows waiting for a receipt: seq -> when the broker acknowledged them (inf while
        # paho still has them in flight: paho itself resends those after a reconnect).
        self._unconfirmed: dict[int, float] = {}
        self._resends: deque[int] = deque()
        self._resent_total = 0
        # End-to-end flow control: no more events than this await receipts at once, so a
        # stalled aggregator leaves the backlog in the outbox (its disk budget and alarms)
        # and resends stay bounded.
        self._max_unconfirmed = max_unconfirmed
        # Resend rounds since the last receipt: each one doubles the wait (up to 8 times).
        self._quiet_rounds = 0
        self._next_scan = 0.0
        self._acked: deque[int] = deque()  # confirmed, listeners not yet told
        self._deleting: list[int] = []  # confirmed, listeners told, rows not yet deleted
        self._last_sent = 0
        self._usage = OutboxUsage(0, 0, budget_bytes, alarm_at)
        self._acked_total = 0
        self._ack_listeners: list[Any] = []
        self._thread: threading.Thread | None = None
        self._subscriptions: list[str] = []
        self._client = self._make_client()
        if confirm == "server" and receipts_topic is not None:
            self.on_message(receipts_topic, self._on_receipt)

    def _make_client(self) -> mqtt.Client:
        # 3.1.1 with a persistent session: the broker keeps our session across reconnects.
        client = make_client(
            self._endpoint,
            self._client_id,
            protocol="3.1.1",
            # Unlimited in paho: the pump never hands it more than ``window`` rows, and
            # paho's own limit walks every message in flight on each PUBACK.
            max_inflight=0,
            will=self._will,
            logger=logging.getLogger(__name__ + ".paho"),
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    # -- paho callbacks (paho's thread) -------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if rc.is_failure:
            logger.warning("broker refused the connection: %s", rc)
            return
        logger.info("connected to broker %s", self._endpoint)
        for topic in self._subscriptions:
            client.subscribe(topic, qos=1)
        self._connected.set()
        self._down_since = None
        self._wake.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if self._stopping.is_set():
            logger.info("disconnected from broker")
        elif self._connected.is_set():
            logger.warning("disconnected from broker: %s; messages wait in the outbox", rc)
        if self._connected.is_set() or self._down_since is None:
            self._down_since = time.monotonic()
        self._connected.clear()

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, rc: Any, props: Any
    ) -> None:
        with self._lock:
            sent = self._inflight.pop(mid, None)
            if sent is None:
                self._early_acks.add(mid)
            else:
                self._broker_acked(*sent)
        self._wake.set()

    def _broker_acked(self, seq: int, awaits_server: bool) -> None:
        """The broker has the row (caller holds the lock)."""
        if not awaits_server:
            self._acked.append(seq)
        elif seq in self._unconfirmed:
            self._unconfirmed[seq] = time.monotonic()
        # else: the server's receipt came first; the row is already being deleted.

    def _on_receipt(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            receipt = contract.decode(bytes(message.payload), message.topic)
        except ContractError as exc:
            logger.warning("ignored a receipt on %s: %s", message.topic, exc)
            return
        if not isinstance(receipt, contract.Receipt):
            logger.warning("ignored a %r message on %s", receipt.kind, message.topic)
            return
        with self._lock:
            if receipt.count() <= len(self._unconfirmed):
                candidates: list[int] = [
                    seq for first, last in receipt.seqs for seq in range(first, last + 1)
                ]
            else:
                candidates = [seq for seq in self._unconfirmed if receipt.covers(seq)]
            for seq in candidates:
                if self._unconfirmed.pop(seq, None) is not None:
                    self._acked.append(seq)
            self._quiet_rounds = 0
        self._wake.set()

    # -- public API ---------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def unreachable_for(self) -> float:
        """Seconds since the broker connection was lost (or first tried); 0 while connected."""
        since = self._down_since
        return 0.0 if since is None or self.connected else time.monotonic() - since

    @property
    def usage(self) -> OutboxUsage:
        return self._usage

    @property
    def acked_total(self) -> int:
        """Messages confirmed since :meth:`start` (their rows are deleted soon after)."""
        return self._acked_total

    @property
    def resent_total(self) -> int:
        """Event rows sent again for want of a receipt since :meth:`start`."""
        return self._resent_total

    @property
    def unconfirmed(self) -> int:
        """Event rows the broker has (or is being sent) that await the server's receipt."""
        with self._lock:
            return len(self._unconfirmed)

    def add_ack_listener(self, listener: Any) -> None:
        """Call ``listener(seqs: list[int])`` (in the pump thread) after rows are confirmed."""
        self._ack_listeners.append(listener)

    def wake(self) -> None:
        """Tell the pump that new rows are waiting (cheap; call after each commit)."""
        self._wake.set()

    def on_message(self, topic: str, callback: Any) -> None:
        """Subscribe to ``topic`` (QoS 1, on every connect); ``callback`` runs in paho's thread."""
        self._subscriptions.append(topic)
        self._client.message_callback_add(topic, callback)

    def publish_retained(self, message: LastWill) -> None:
        """Publish a retained status directly (not through the outbox: only the latest matters)."""
        self._client.publish(message.topic, message.payload, qos=1, retain=True)

    def publish_direct(self, topic: str, payload: bytes) -> mqtt.MQTTMessageInfo:
        """Publish one message now, QoS 1, not retained, bypassing the outbox.

        For the one message that cannot wait in the outbox: the alarm that the line database
        itself cannot be written. paho keeps it and sends it once connected; wait on the
        returned info to know it was acknowledged.
        """
        return self._client.publish(topic, payload, qos=1, retain=False)

    def start(self) -> None:
        connect_broker(self._client, self._endpoint, wait=False)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._pump, name="outbox-publisher", daemon=True)
        self._thread.start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def drain(self, timeout: float) -> bool:
        """Wait until the outbox is empty; return whether it is."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._pending_count() == 0:
                return True
            self._wake.set()
            time.sleep(0.02)
        return self._pending_count() == 0

    def stop(self, *, flush_timeout: float = 5.0, final: LastWill | None = None) -> None:
        """Flush what the broker can take within ``flush_timeout``, publish ``final``, stop."""
        if self._thread is None:
            return
        if not (self.connected and self.drain(flush_timeout)):
            left = self._pending_count()
            if left:
                logger.warning(
                    "stopping with %d message(s) in the outbox (unsent, or awaiting the "
                    "server's receipt): they are sent again at the next start",
                    left,
                )
        if final is not None and self.connected:
            info = self._client.publish(final.topic, final.payload, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2)
            except (RuntimeError, ValueError):
                logger.warning("final status not published")
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self._thread = None
        self._client.disconnect()
        self._client.loop_stop()

    # -- the pump (own thread, own connection) -------------------------------------------

    def _pending_count(self) -> int:
        conn = connect(self._db_path)
        try:
            return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
        finally:
            conn.close()

    def _pump(self) -> None:
        conn = connect(self._db_path)
        # Deleting acknowledged rows need not survive a power cut: a row that comes back is
        # simply sent again, and the event hash makes the duplicate harmless.
        conn.execute("PRAGMA synchronous=NORMAL")
        # Never wait for the write lock: the engine's connection holds it for its group
        # commits, and SQLite's busy handler would sleep (up to 100 ms a try) while rows
        # wait to be sent. A delete that finds the lock taken is tried again on the next wake.
        conn.execute("PRAGMA busy_timeout=0")
        # It reads the newest rows only: a small page cache (memory stays flat on long runs).
        conn.execute("PRAGMA cache_size=-512")
        try:
            self._refresh_usage(conn)
            last_usage = time.monotonic()
            while not self._stopping.is_set():
                self._wake.wait(0.05)
                self._wake.clear()
                try:
                    if self._connected.is_set():
                        self._resend_unconfirmed(conn)
                        self._send_more(conn)
                    self._delete_acked(conn)
                    if time.monotonic() - last_usage > 0.2 or not self._inflight:
                        self._refresh_usage(conn)
                        last_usage = time.monotonic()
                except sqlite3.OperationalError as exc:
                    # "database is locked" (the engine kept the write lock past the busy
                    # timeout) or a full disk: transient. A pump that died here would leave
                    # the line producing into an outbox nobody sends.
                    logger.warning("outbox publisher: %s; retrying", exc)
                    time.sleep(0.5)
            self._delete_acked(conn, wait=True)
        except Exception:
            logger.exception("outbox publisher failed")
            raise
        finally:
            conn.close()

    def _refresh_usage(self, conn: sqlite3.Connection) -> None:
        row = conn.execute("SELECT count(*), total(length(payload)) FROM outbox").fetchone()
        self._usage = OutboxUsage(int(row[0]), int(row[1]), self._budget, self._alarm_at)

    def _delete_acked(self, conn: sqlite3.Connection, *, wait: bool = False) -> None:
        """Tell the listeners of newly confirmed rows, then delete every confirmed row.

        Without ``wait``, a write lock held by the engine leaves the rows for the next try.
        """
        with self._lock:
            fresh = list(self._acked)
            self._acked.clear()
        if fresh:
            self._acked_total += len(fresh)
            for listener in self._ack_listeners:
                listener(fresh)
            self._deleting.extend(fresh)
        if not self._deleting:
            return
        seqs = self._deleting
        try:
            if wait:
                conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            # The lock is taken (tried again on the next wake), or a full disk refuses even
            # a delete (the WAL grows): the rows stay and are deleted on a later try, or sent
            # again after a restart (harmless duplicates).
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            busy = (exc.sqlite_errorcode & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if busy and not wait:
                return
            raise
        self._deleting = []
        self._refresh_usage(conn)

    def _resend_unconfirmed(self, conn: sqlite3.Connection) -> None:
        """Send again, oldest first, the event rows without a receipt for ``resend_after_s``."""
        if self._confirm != "server":
            return
        now = time.monotonic()
        with self._lock:
            if not self._resends and now >= self._next_scan:
                # Scanning every unconfirmed row on every wake would cost CPU per commit.
                self._next_scan = now + min(0.5, self._resend_after / 4)
                wait = self._resend_after * 2 ** min(self._quiet_rounds, 3)
                due = sorted(s for s, t in self._unconfirmed.items() if now - t >= wait)
                if due:
                    self._quiet_rounds += 1
                    self._resends.extend(due)
            room = self._window - len(self._inflight)
            batch = [self._resends.popleft() for _ in range(min(room, len(self._resends)))]
        if not batch:
            return
        logger.info(
            "no receipt for %d event(s) from seq %d: sending them again", len(batch), batch[0]
        )
        for seq in batch:
            row = conn.execute("SELECT topic, payload FROM outbox WHERE seq = ?", (seq,)).fetchone()
            with self._lock:
                if seq not in self._unconfirmed:
                    continue  # confirmed meanwhile
            if row is None:
                with self._lock:
                    self._unconfirmed.pop(seq, None)
                continue
            if not self._publish(seq, row[0], row[1], awaits_server=True):
                with self._lock:
                    self._unconfirmed[seq] = 0.0  # still due
                    self._resends.appendleft(seq)
                return
            self._resent_total += 1

    def _send_more(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            room = self._window - len(self._inflight)
            if self._confirm == "server":
                room = min(room, self._max_unconfirmed - len(self._unconfirmed))
        if room <= 0:
            return
        rows = conn.execute(
            "SELECT seq, topic, payload, event_id IS NOT NULL FROM outbox"
            " WHERE seq > ? ORDER BY seq LIMIT ?",
            (self._last_sent, room),
        ).fetchall()
        for seq, topic, payload, is_event in rows:
            if not self._publish(seq, topic, payload, self._confirm == "server" and bool(is_event)):
                return
            self._last_sent = seq

    def _publish(self, seq: int, topic: str, payload: bytes, awaits_server: bool) -> bool:
        """Hand one row to paho; ``False`` when paho refused it (try again later)."""
        if awaits_server:
            with self._lock:
                self._unconfirmed[seq] = math.inf
        # Never hold our lock while calling paho: its network thread holds its own lock
        # when it calls on_publish, which takes ours.
        info = self._client.publish(topic, payload, qos=1)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            logger.warning("publish of seq %d failed: %s; will retry", seq, info.rc)
            if awaits_server:
                with self._lock:
                    self._unconfirmed.pop(seq, None)
            return False
        with self._lock:
            # paho keeps the message and resends it after a reconnect, so it counts as sent.
            if info.mid in self._early_acks:
                self._early_acks.discard(info.mid)
                self._broker_acked(seq, awaits_server)
            else:
                self._inflight[info.mid] = (seq, awaits_server)
        return True
