"""The JetStream consumer: line messages from a clustered NATS stream into the database.

In a clustered deployment (docs/scaling.md) the site brokers bridge to the MQTT gateway
of a NATS cluster. NATS maps each MQTT topic to a subject (``/`` becomes ``.``); a
JetStream stream replicated on three nodes
captures the subjects of the channels the server stores, and every aggregator process
pulls from the **same durable consumer**, so the stream hands each message to one of
them (a work queue). A message is acknowledged only after the transaction holding it has
committed: the messages of an aggregator that dies mid-batch are delivered again to a
survivor once the consumer's ``ack_wait`` has passed, and the event-ID conflict makes the
redelivery harmless. Decoding, validation and storage are the MQTT ingestor's own
(:class:`~server.ingest.processing.BatchProcessor`).

>>> subject_of("lineside/v1/plant-2/L1/events")
'lineside.v1.plant-2.L1.events'
>>> topic_of("lineside.v1.plant-2.L1.events")
'lineside/v1/plant-2/L1/events'

Identifiers may hold a ``.``, but the MQTT gateway of nats-server 2.9 (Debian 12) refuses
a topic with one and closes the connection, which would stall a whole site's bridge: with
a NATS cluster, site, line and device IDs must not hold a dot (:func:`check_nats_identifier`;
``lineside server jetstream-setup`` refuses to run while a registered line has one).
>>> JetStreamSettings().subjects()[0]
'lineside.v1.*.*.events'

Typical use::

    ensure_stream(JetStreamSettings(servers=("nats://n1:4222",)))  # once, at deployment
    with JetStreamIngestor(settings, session_factory) as ingestor:
        ...  # runs until the block ends
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from types import TracebackType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from lineside import contract
from lineside.errors import ContractError, TransportError
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

#: The channels the server stores: they go into the stream. Commands, acks and receipts
#: (server → line) must stay out of it, or the aggregators would consume their own receipts.
STORED_CHANNELS = (
    contract.Channel.EVENTS,
    contract.Channel.ALARMS,
    contract.Channel.REPORTS,
    contract.Channel.STATUS,
    contract.Channel.DEVICE_STATUS,
)


def check_nats_identifier(what: str, value: str) -> str:
    """``value``, or a :class:`ContractError` when the NATS MQTT gateway cannot carry it.

    >>> check_nats_identifier("site", "plant.2")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lineside.errors.ContractError: site 'plant.2': the NATS MQTT gateway ... without dots
    """
    if "." in value or " " in value:
        raise ContractError(
            f"{what} {value!r}: the NATS MQTT gateway (nats-server 2.9) refuses a '.' in a "
            "topic; rename it without dots"
        )
    return value


def subject_of(topic: str) -> str:
    """The NATS subject the MQTT gateway publishes an MQTT ``topic`` on (``/`` → ``.``).

    MQTT wildcards become NATS wildcards; a level holding a ``.`` is refused
    (:func:`check_nats_identifier`).

    >>> subject_of("lineside/v1/+/+/events")
    'lineside.v1.*.*.events'
    >>> subject_of("lineside/v1/s/L1/#")
    'lineside.v1.s.L1.>'
    """
    levels = []
    for level in topic.split("/"):
        if not level:
            raise ContractError(f"topic {topic!r}: an empty level has no NATS subject")
        levels.append({"+": "*", "#": ">"}.get(level, check_nats_identifier("topic level", level)))
    return ".".join(levels)


def topic_of(subject: str) -> str:
    """The MQTT topic of a subject from the gateway (the inverse of :func:`subject_of`)."""
    return subject.replace(".", "/")


class JetStreamSettings(BaseModel):
    """Where the cluster is, which stream and consumer, and how to batch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Several nodes of the cluster: the client fails over between them.
    servers: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    stream: str = Field(default="LINESIDE", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    #: Every aggregator pulls from this one durable consumer (a work queue).
    durable: str = Field(default="aggregators", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    #: This process's name on the connection (monitoring only).
    client_name: str = Field(default="lineside-aggregator", min_length=1, max_length=128)
    #: Only these sites' subjects go into the stream (``None``: every site).
    sites: tuple[str, ...] | None = None
    #: Copies of the stream (and of the consumer's state): 3 survives one node lost.
    replicas: int = Field(default=3, ge=1, le=5)
    #: An unacknowledged message goes to another aggregator after this long.
    ack_wait_s: float = Field(default=30.0, gt=0)
    #: Unconsumed messages are kept this long (the aggregators' longest outage).
    max_age_s: int = Field(default=7 * 24 * 3600, gt=0)
    #: The stream refuses new messages beyond this many bytes (-1: no limit).
    max_bytes: int = Field(default=-1, ge=-1)
    batch_size: int = Field(default=500, ge=1, le=10000)
    #: How long a pull waits for a full batch before taking what has come.
    batch_ms: int = Field(default=50, ge=1)
    retry_s: float = Field(default=1.0, gt=0)
    max_payload_bytes: int = Field(default=contract.MAX_PAYLOAD_BYTES, ge=1024)
    #: Publish a ``receipt`` to each line after every committed batch (core NATS, which the
    #: gateway delivers to the lines' MQTT subscriptions).
    receipts: bool = True

    @field_validator("servers")
    @classmethod
    def _nats_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one NATS server is needed")
        for url in value:
            if not url.startswith(("nats://", "tls://")):
                raise ValueError(f"{url!r} is not a NATS URL (nats://host:port or tls://...)")
        return value

    @field_validator("sites")
    @classmethod
    def _sites_are_identifiers(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for site in value or ():
            if not contract.IDENTIFIER.fullmatch(site):
                raise ValueError(f"site {site!r} is not an identifier")
            try:
                check_nats_identifier("site", site)
            except ContractError as exc:
                raise ValueError(str(exc)) from None
        return value

    def subjects(self) -> list[str]:
        """The subjects the stream captures (the stored channels of the chosen sites)."""
        subjects = []
        for site in self.sites or ("+",):
            for channel in STORED_CHANNELS:
                topic = contract.subscription(channel)
                if site != "+":
                    topic = topic.replace(
                        f"{contract.TOPIC_ROOT}/+/", f"{contract.TOPIC_ROOT}/{site}/"
                    )
                subjects.append(subject_of(topic))
        return subjects


async def _connect(settings: JetStreamSettings, *, name: str) -> Any:
    import nats

    try:
        return await nats.connect(
            servers=list(settings.servers),
            user=settings.username,
            password=settings.password,
            name=name,
            connect_timeout=5,
            reconnect_time_wait=0.5,
            max_reconnect_attempts=-1,
            allow_reconnect=True,
        )
    except Exception as exc:  # nats-py raises several unrelated types on refusal
        raise TransportError(
            f"NATS {', '.join(settings.servers)}: cannot connect ({type(exc).__name__}: {exc})"
        ) from exc


async def ensure_stream_async(settings: JetStreamSettings, timeout_s: float = 30.0) -> None:
    """Create (or update) the stream and the shared durable consumer; idempotent.

    Retries until ``timeout_s`` while the cluster has no JetStream leader yet (a cluster
    that is still starting), then raises :class:`TransportError`.
    """
    from nats.js.api import (
        AckPolicy,
        ConsumerConfig,
        DeliverPolicy,
        DiscardPolicy,
        RetentionPolicy,
        StorageType,
        StreamConfig,
    )

    stream = StreamConfig(
        name=settings.stream,
        subjects=settings.subjects(),
        # Work queue: a message is removed once acknowledged; the stream is a buffer, not
        # the record (the database is).
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        num_replicas=settings.replicas,
        max_age=settings.max_age_s,
        max_bytes=settings.max_bytes,
        # When full, refuse new messages rather than delete ones not yet stored.
        discard=DiscardPolicy.NEW,
    )
    consumer = ConsumerConfig(
        durable_name=settings.durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=settings.ack_wait_s,
        max_deliver=-1,
        max_ack_pending=max(4 * settings.batch_size, 1000),
        num_replicas=settings.replicas,
    )
    nc = await _connect(settings, name=f"{settings.client_name}-setup")
    try:
        js = nc.jetstream(timeout=10)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            try:
                try:
                    await js.update_stream(stream)
                except Exception as exc:
                    if "not found" not in str(exc).lower():
                        raise
                    await js.add_stream(stream)
                await js.add_consumer(settings.stream, consumer)
                return
            except Exception as exc:
                if loop.time() > deadline:
                    raise TransportError(
                        f"NATS {', '.join(settings.servers)}: stream {settings.stream!r} "
                        f"not set up after {timeout_s:g} s ({type(exc).__name__}: {exc})"
                    ) from exc
                logger.info("JetStream not ready (%s); retrying", exc)
                await asyncio.sleep(0.5)
    finally:
        await nc.close()


def ensure_stream(settings: JetStreamSettings, timeout_s: float = 30.0) -> None:
    """:func:`ensure_stream_async`, from synchronous code."""
    asyncio.run(ensure_stream_async(settings, timeout_s))


class JetStreamIngestor:
    """Consumes line messages from the JetStream work queue into the database until stopped.

    Same interface as :class:`~server.ingest.ingestor.Ingestor`: ``start()`` connects
    (raising :class:`~lineside.errors.TransportError` when no node answers or the consumer
    does not exist: run ``lineside server jetstream-setup`` first) and consumes in a
    background thread; ``stop()`` finishes the batch in hand and disconnects.
    """

    def __init__(
        self,
        settings: JetStreamSettings,
        session_factory: sessionmaker[Session],
        validator: EventValidator | None = None,
    ) -> None:
        self.settings = settings
        self._processor = BatchProcessor(
            session_factory,
            validator or default_validator(),
            max_payload_bytes=settings.max_payload_bytes,
        )
        self._lock = threading.Lock()
        self._totals = BatchResult()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._done: Future[None] | None = None

    @property
    def totals(self) -> BatchResult:
        """What has been stored since ``start()``."""
        with self._lock:
            return self._totals

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect and bind to the consumer; returns once consuming."""
        if self._thread is not None:
            raise RuntimeError("ingestor already started")
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name=f"jetstream-{self.settings.client_name}", daemon=True
        )
        self._thread.start()
        ready: Future[None] = Future()
        self._done = asyncio.run_coroutine_threadsafe(self._main(ready), loop)
        try:
            ready.result(timeout_s)
        except TimeoutError:
            self.stop()
            raise TransportError(
                f"NATS {', '.join(self.settings.servers)}: not consuming after {timeout_s:g} s"
            ) from None
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Store and acknowledge the batch in hand, then disconnect."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._stopping is not None:
            loop.call_soon_threadsafe(self._stopping.set)
        if self._done is not None:
            try:
                self._done.result(60)
            except Exception:
                logger.exception("JetStream ingestor ended with an error")
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        self._loop = self._thread = self._done = self._stopping = None

    def __enter__(self) -> JetStreamIngestor:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ the loop

    async def _main(self, ready: Future[None]) -> None:
        from nats.errors import TimeoutError as NatsTimeout

        self._stopping = asyncio.Event()
        s = self.settings
        try:
            nc = await _connect(s, name=s.client_name)
        except TransportError as exc:
            ready.set_exception(exc)
            return
        try:
            js = nc.jetstream(timeout=10)
            try:
                pull = await js.pull_subscribe_bind(durable=s.durable, stream=s.stream)
                await pull.consumer_info()
            except Exception as exc:
                ready.set_exception(
                    TransportError(
                        f"JetStream consumer {s.durable!r} of stream {s.stream!r}: {exc} "
                        "(create them with `lineside server jetstream-setup`)"
                    )
                )
                return
            ready.set_result(None)
            while not self._stopping.is_set():
                try:
                    messages = await pull.fetch(s.batch_size, timeout=s.batch_ms / 1000)
                except NatsTimeout:
                    continue
                except Exception as exc:  # a node lost: the client reconnects elsewhere
                    logger.warning("JetStream fetch failed (%r); retrying", exc)
                    await asyncio.sleep(min(s.retry_s, 0.5))
                    continue
                if messages:
                    await self._handle(nc, messages)
        finally:
            await nc.close()

    async def _handle(self, nc: Any, messages: Sequence[Any]) -> None:
        batch = [
            InboundMessage(topic=topic_of(m.subject), payload=bytes(m.data), mid=n)
            for n, m in enumerate(messages)
        ]
        prepared = await asyncio.to_thread(self._processor.prepare, batch)
        assert self._stopping is not None
        while True:
            try:
                result = await asyncio.to_thread(self._processor.store, prepared)
                break
            except OperationalError as exc:
                # Nothing committed: leave the messages unacknowledged; the consumer hands
                # them out again after ack_wait if we stop before the database is back.
                logger.error("database unavailable (%s); retrying", str(exc).splitlines()[0])
                try:
                    await asyncio.wait_for(self._stopping.wait(), self.settings.retry_s)
                    return
                except TimeoutError:
                    continue
        for message in messages:
            try:
                await message.ack()
            except Exception as exc:  # unacknowledged: redelivered, then found stored
                logger.warning("ack failed (%s); the message will be redelivered", exc)
        if self.settings.receipts:
            await self._publish_receipts(nc, prepared)
        with self._lock:
            self._totals += result

    async def _publish_receipts(self, nc: Any, prepared: PreparedBatch) -> None:
        for receipt in receipts(prepared):
            topic = contract.Topics(receipt.site, receipt.line).receipts
            try:
                await nc.publish(subject_of(topic), contract.encode(receipt))
            except Exception as exc:  # a lost receipt only makes the line resend
                logger.warning("receipt to %s not published: %s", topic, exc)
