"""The MQTT consumer: receives line messages and stores them in batches, acking after commit.

The client speaks MQTT 5 with a persistent session (``clean_start=False`` and a session
expiry), subscribes with QoS 1 and acknowledges manually: a message is acknowledged only
once the transaction holding it has committed. If the ingestor dies in between, the
broker redelivers the message and the event-ID conflict makes the redelivery harmless.
With ``protocol="3.1.1"`` (brokers without MQTT 5, such as the demo's embedded one) the
session is kept with ``clean_session=False`` instead, without properties, and shared
subscriptions are refused: run a single ingestor.

>>> settings = IngestSettings(client_id="aggregator-1", share_group="aggregators")
>>> settings.subscriptions()[0]
('$share/aggregators/lineside/v1/+/+/events', 1)

Typical use::

    with Ingestor(settings, session_factory) as ingestor:
        ...  # runs until the block ends
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from types import TracebackType
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from lineside import contract
from lineside.errors import ConfigError, TransportError
from lineside.mqtt import BrokerEndpoint, connect, make_client
from server.ingest.processing import (
    BatchProcessor,
    BatchResult,
    EventValidator,
    InboundMessage,
    PreparedBatch,
    receipts,
)
from server.ingest.validation import default_validator

logger = logging.getLogger(__name__)


class IngestSettings(BaseModel):
    """How the ingestor connects, subscribes and batches."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    tls: bool = False
    #: Must be stable across restarts: the broker keeps the session under this ID.
    client_id: str = Field(default="lineside-aggregator", min_length=1, max_length=128)
    #: When set, events, alarms and reports are consumed through ``$share/<group>/...`` so
    #: several ingestors split the load; statuses (retained) are read by every ingestor.
    share_group: str | None = None
    #: Only consume these sites' topics (``None``: every site).
    sites: tuple[str, ...] | None = None
    #: How long the broker keeps the session (and queues QoS 1 messages) while we are away.
    session_expiry_s: int = Field(default=24 * 3600, ge=0)
    keepalive_s: int = Field(default=30, ge=5)
    #: A batch is committed when it holds this many messages...
    batch_size: int = Field(default=500, ge=1, le=65535)
    #: ...or when its first message has waited this long...
    batch_ms: int = Field(default=50, ge=1)
    #: ...or when no new message arrived for this long (the broker may be waiting for acks).
    idle_ms: int = Field(default=2, ge=1)
    #: Wait between attempts while the database is unavailable.
    retry_s: float = Field(default=1.0, gt=0)
    max_payload_bytes: int = Field(default=contract.MAX_PAYLOAD_BYTES, ge=1024)
    #: MQTT 5 (session expiry, receive maximum, ``$share``) or 3.1.1 (``clean_session=False``,
    #: no properties; the session lasts as long as the broker keeps it).
    protocol: Literal["5", "3.1.1"] = "5"
    #: With 3.1.1, allow ``share_group`` anyway: only for a broker known to support
    #: ``$share`` on 3.1.1 connections (Mosquitto does; amqtt 0.12 does not).
    broker_shares_311: bool = False
    #: Publish a ``receipt`` to each line after every committed batch (lines that confirm
    #: with the server delete an event from their outbox only on its receipt).
    receipts: bool = True

    @model_validator(mode="after")
    def _share_group_needs_support(self) -> IngestSettings:
        if self.share_group is not None and self.protocol == "3.1.1" and not self.broker_shares_311:
            raise ValueError(
                f"share_group {self.share_group!r}: shared subscriptions need MQTT 5 or a broker "
                "known to support them on 3.1.1 (broker_shares_311); run one ingestor instead"
            )
        return self

    @property
    def endpoint(self) -> BrokerEndpoint:
        """The broker, as :mod:`lineside.mqtt` connects to it."""
        return BrokerEndpoint(
            self.host,
            self.port,
            tls=self.tls,
            username=self.username,
            password=self.password,
            keepalive_s=self.keepalive_s,
        )

    def subscriptions(self) -> list[tuple[str, int]]:
        """The (topic filter, QoS) pairs subscribed to."""
        shared = [contract.Channel.EVENTS, contract.Channel.ALARMS, contract.Channel.REPORTS]
        own = [contract.Channel.STATUS, contract.Channel.DEVICE_STATUS]
        filters: list[tuple[str, int]] = []
        for site in self.sites or (None,):
            for channel in shared:
                filters.append((_topic_filter(channel, site, self.share_group), 1))
            for channel in own:
                filters.append((_topic_filter(channel, site, None), 1))
        return filters


def _topic_filter(channel: contract.Channel, site: str | None, share_group: str | None) -> str:
    """``contract.subscription`` narrowed to one site when ``site`` is given."""
    topic = contract.subscription(channel)
    if site is not None:
        if not contract.IDENTIFIER.match(site):
            raise ConfigError(f"sites: {site!r} is not an identifier")
        topic = topic.replace(f"{contract.TOPIC_ROOT}/+/", f"{contract.TOPIC_ROOT}/{site}/", 1)
    if share_group is not None:
        topic = f"$share/{share_group}/{topic}"
    return topic


class Ingestor:
    """Consumes line messages from MQTT into the database until stopped.

    Events are checked with ``validator`` (by default
    :func:`~server.ingest.validation.default_validator`) before they are stored.

    ``start()`` connects (raising :class:`~lineside.errors.TransportError` when the broker
    cannot be reached) and starts the network and storage threads; ``stop()`` stores what
    was received, acknowledges it and disconnects without ending the broker session.
    """

    def __init__(
        self,
        settings: IngestSettings,
        session_factory: sessionmaker[Session],
        validator: EventValidator | None = None,
    ) -> None:
        if settings.share_group is not None and not contract.IDENTIFIER.match(settings.share_group):
            raise ConfigError(f"share_group: {settings.share_group!r} is not an identifier")
        self.settings = settings
        self._processor = BatchProcessor(
            session_factory,
            validator or default_validator(),
            max_payload_bytes=settings.max_payload_bytes,
        )
        self._inbox: queue.Queue[InboundMessage] = queue.Queue()
        # One batch waits while another commits: enough to overlap the two, and a
        # stalled database holds back at most two batches of unacknowledged messages.
        self._prepared: queue.Queue[PreparedBatch | None] = queue.Queue(maxsize=1)
        self._stopping = threading.Event()
        self._subscribed = threading.Event()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self._totals = BatchResult()
        self._client = self._make_client()

    # ------------------------------------------------------------------ public API

    @property
    def totals(self) -> BatchResult:
        """What has been stored since ``start()``."""
        with self._lock:
            return self._totals

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect, subscribe and start storing; returns once subscribed."""
        if self._worker is not None:
            raise RuntimeError("ingestor already started")
        # Unacknowledged at once: the batch committing, the one prepared, the one filling.
        connect(
            self._client,
            self.settings.endpoint,
            session_expiry_s=self.settings.session_expiry_s,
            receive_maximum=min(self.settings.batch_size * 3, 65535),
        )
        self._stopping.clear()
        self._worker = threading.Thread(
            target=self._run, name=f"ingest-{self.settings.client_id}", daemon=True
        )
        self._worker.start()
        self._client.loop_start()
        if not self._subscribed.wait(timeout_s):
            self.stop()
            raise TransportError(
                f"MQTT broker {self.settings.endpoint}: not subscribed after {timeout_s:g} s"
            )

    def stop(self) -> None:
        """Store and acknowledge what was received, then disconnect (session kept)."""
        self._stopping.set()
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        self._client.disconnect()
        self._client.loop_stop()
        self._subscribed.clear()

    def __enter__(self) -> Ingestor:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ MQTT side

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = make_client(
            s.endpoint, s.client_id, protocol=s.protocol, manual_ack=True, logger=logger
        )
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        return client

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        _flags: Any,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            logger.error("MQTT connection refused: %s", reason)
            return
        logger.info("connected to MQTT broker as %s", self.settings.client_id)
        # Subscribing again on every connect is harmless with a kept session and needed
        # when the broker lost it (expired, or restarted without persistence).
        client.subscribe(self.settings.subscriptions())

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _mid: int,
        reasons: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        failures = [str(r) for r in reasons if r.is_failure]
        if failures:
            logger.error("MQTT subscription refused: %s", ", ".join(failures))
            return
        self._subscribed.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._inbox.put(
            InboundMessage(
                topic=msg.topic,
                payload=bytes(msg.payload),
                mid=msg.mid,
                qos=msg.qos,
                retain=msg.retain,
            )
        )

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: Any,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if not self._stopping.is_set():
            logger.warning("MQTT connection lost (%s); paho reconnects", reason)

    # ------------------------------------------------------------------ storage side

    def _run(self) -> None:
        """Collect and prepare batches; the storer commits them one behind.

        Decoding and validating cost about as much CPU as the insert itself; done here,
        they overlap with the previous batch's commit (the database works, and the GIL
        is free, while the storer waits for it).
        """
        storer = threading.Thread(
            target=self._store_prepared, name=f"store-{self.settings.client_id}", daemon=True
        )
        storer.start()
        try:
            while True:
                batch = self._collect()
                if batch:
                    self._prepared.put(self._processor.prepare(batch))
                elif self._stopping.is_set():
                    return
        finally:
            self._prepared.put(None)
            storer.join()

    def _collect(self) -> list[InboundMessage]:
        settings = self.settings
        try:
            first = self._inbox.get(timeout=0.05)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + settings.batch_ms / 1000
        while len(batch) < settings.batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._inbox.get(timeout=min(remaining, settings.idle_ms / 1000)))
            except queue.Empty:
                break
        return batch

    def _store_prepared(self) -> None:
        abandoned = False
        while (prepared := self._prepared.get()) is not None:
            # After giving up on the database while stopping, later batches are left
            # unacknowledged too: the broker redelivers them to our next session.
            if not abandoned:
                abandoned = not self._store(prepared)

    def _store(self, prepared: PreparedBatch) -> bool:
        """Store and acknowledge a batch; ``False`` when stopped before it was stored."""
        while True:
            try:
                result = self._processor.store(prepared)
                break
            except OperationalError as exc:
                # Nothing was committed: keep the messages unacknowledged and try again.
                logger.error("database unavailable (%s); retrying", str(exc).splitlines()[0])
                if self._stopping.wait(self.settings.retry_s):
                    return False
        for message in prepared.messages:
            if message.qos > 0:
                code = self._client.ack(message.mid, message.qos)
                if code is not MQTTErrorCode.MQTT_ERR_SUCCESS:
                    logger.warning("ack of message %d failed: %s", message.mid, code)
        if self.settings.receipts:
            self._publish_receipts(prepared)
        with self._lock:
            self._totals += result
        return True

    def _publish_receipts(self, prepared: PreparedBatch) -> None:
        """Tell each line which of its events are now the server's responsibility.

        Sent after the commit. A receipt lost on the way only makes the line resend those
        events, which are then found already stored and receipted again.
        """
        for receipt in receipts(prepared):
            topic = contract.Topics(receipt.site, receipt.line).receipts
            info = self._client.publish(topic, contract.encode(receipt), qos=1)
            if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                logger.warning("receipt to %s not published: %s", topic, info.rc)
