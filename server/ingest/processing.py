"""Turning a batch of MQTT messages into one database transaction (no MQTT here).

Every message of a batch ends in exactly one place: the event store (or ignored as a
duplicate), the status/alarm/report tables, or the dead-letter table with the reason
and the raw payload. An event is stored only when its ``eventID`` is its event hash and
its line may report it (:mod:`server.services.event_rights`: the line's organisation's
codes, serials issued to the line); a refused event is dead-lettered under the line's
organisation, so that its users can read why. The caller acknowledges the whole batch
once :meth:`process` returns, i.e. after the commit.

>>> from server.db import make_engine, make_session_factory, migrate
>>> import tempfile, pathlib
>>> url = f"sqlite:///{pathlib.Path(tempfile.mkdtemp()) / 'doc.db'}"
>>> migrate(url)
>>> processor = BatchProcessor(make_session_factory(make_engine(url)))
>>> result = processor.process([InboundMessage("lineside/v1/s/L1/events", b"{oops")])
>>> result.dead_letters
1
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from lineside import contract
from lineside.errors import ContractError, EPCISError
from server.db.events import EventOrigin, IndexedEvent, index_event, store_events
from server.db.models import (
    AlarmRecord,
    DeadLetter,
    Device,
    EventSource,
    Line,
    ReconciliationRecord,
    StatusReport,
)
from server.db.types import utcnow
from server.ingest.work_orders import follow_reconciliation, follow_status
from server.services.event_rights import EventRights, Reporter, hash_problem

logger = logging.getLogger(__name__)

#: Checks one EPCIS event; returns human-readable problems (empty when valid).
EventValidator = Callable[[dict[str, Any]], Sequence[str]]


@runtime_checkable
class BatchEventValidator(Protocol):
    """An :data:`EventValidator` that can also check a whole batch in one go (faster).

    :class:`server.ingest.validation.EpcisValidator` is one.
    """

    def __call__(self, event: dict[str, Any], /) -> Sequence[str]: ...

    def many(self, events: Sequence[dict[str, Any]], /) -> Sequence[Sequence[str]]:
        """The problems of each event, in order."""
        ...


#: Messages other than events that the server keeps (dashboard, reports).
_SIDE_MESSAGES = (
    contract.LineStatus,
    contract.DeviceStatus,
    contract.Alarm,
    contract.ReconciliationReport,
)

#: How much of an oversized payload is kept in the dead-letter table.
DEAD_LETTER_KEEP_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message as received from the broker."""

    topic: str
    payload: bytes
    mid: int = 0
    qos: int = 1
    retain: bool = False


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What became of a batch."""

    stored: int = 0
    duplicates: int = 0
    statuses: int = 0
    dead_letters: int = 0

    def __add__(self, other: BatchResult) -> BatchResult:
        return BatchResult(
            self.stored + other.stored,
            self.duplicates + other.duplicates,
            self.statuses + other.statuses,
            self.dead_letters + other.dead_letters,
        )


class Rejected(Exception):
    """A message cannot be stored; ``reason`` goes to the dead-letter table."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Decoded:
    message: InboundMessage
    body: Any  # a contract message
    address: contract.TopicAddress
    indexed: IndexedEvent | None = None


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """A batch after :meth:`BatchProcessor.prepare`: decoded messages and refusals."""

    messages: tuple[InboundMessage, ...]
    decoded: tuple[_Decoded, ...]
    #: Messages that cannot be stored, with the reason kept in the dead-letter table.
    rejected: tuple[tuple[InboundMessage, str], ...]


class BatchProcessor:
    """Stores batches of MQTT messages in one transaction each.

    ``validator`` checks each EPCIS event beyond what the store needs (schema, CBV);
    without one only the structural checks of :func:`~server.db.events.index_event` run.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        validator: EventValidator | None = None,
        max_payload_bytes: int = contract.MAX_PAYLOAD_BYTES,
    ) -> None:
        self._session_factory = session_factory
        self._validator = validator
        self._max_payload_bytes = max_payload_bytes

    def process(self, batch: Sequence[InboundMessage]) -> BatchResult:
        """Store a batch; raise only when the database itself is unavailable.

        The same as ``store(prepare(batch))``.
        """
        return self.store(self.prepare(batch))

    def prepare(self, batch: Sequence[InboundMessage]) -> PreparedBatch:
        """Decode, validate and index a batch: all the work that needs no database.

        Never raises: a message that cannot be stored becomes a refusal with the reason.
        The ingestor prepares the next batch while the previous one commits.
        """
        parsed: list[tuple[InboundMessage, Any]] = []
        rejected: list[tuple[InboundMessage, str]] = []
        # A batch names a handful of topics: parse each once, not once per message.
        addresses: dict[str, contract.TopicAddress] = {}
        for message in batch:
            try:
                body = self._parse(message)
                if message.topic not in addresses:
                    addresses[message.topic] = contract.parse_topic(message.topic)
                parsed.append((message, body))
            except Rejected as refusal:
                rejected.append((message, refusal.reason))
            except Exception as exc:  # a bug: keep the message with the error for replay
                logger.exception("decoding a message from %s failed", message.topic)
                rejected.append((message, _internal(exc)))
        events = [body for _, body in parsed if isinstance(body, contract.EventMessage)]
        problems = iter(self._problems([body.event for body in events]))
        decoded: list[_Decoded] = []
        for message, body in parsed:
            if not isinstance(body, contract.EventMessage):
                decoded.append(_Decoded(message, body, addresses[message.topic]))
                continue
            found = next(problems)
            if isinstance(found, Rejected):
                rejected.append((message, found.reason))
                continue
            if found:
                rejected.append((message, "invalid EPCIS event: " + "; ".join(found[:5])))
                continue
            forged = hash_problem(body.event)
            if forged is not None:
                rejected.append((message, forged))
                continue
            try:
                decoded.append(
                    _Decoded(message, body, addresses[message.topic], index_event(body.event))
                )
            except EPCISError as exc:
                rejected.append((message, f"invalid EPCIS event: {exc}"))
        return PreparedBatch(tuple(batch), tuple(decoded), tuple(rejected))

    def _problems(self, events: list[dict[str, Any]]) -> list[Sequence[str] | Rejected]:
        """Each event's problems; a :class:`Rejected` where the validator itself failed."""
        validator = self._validator
        if validator is None or not events:
            return [[] for _ in events]
        if isinstance(validator, BatchEventValidator):
            try:
                return list(validator.many(events))
            except Exception:
                logger.exception("validating a batch failed; validating event by event")
        found: list[Sequence[str] | Rejected] = []
        for event in events:
            try:
                found.append(validator(event))
            except Exception as exc:
                logger.exception("validating an event failed")
                found.append(Rejected(_internal(exc)))
        return found

    def store(self, prepared: PreparedBatch) -> BatchResult:
        """Store a prepared batch in one transaction; raise only when the database is
        unavailable.

        When the batch transaction fails because of one message's data, the batch is
        replayed one message per transaction so that only that message is dead-lettered.
        """
        if not prepared.messages:
            return BatchResult()
        try:
            with self._session_factory() as session, session.begin():
                return self._store(session, prepared)
        except OperationalError:
            raise
        except Exception as exc:  # a message's data (or a bug) broke the batch
            logger.warning(
                "batch of %d failed (%s); storing one by one", len(prepared.messages), exc
            )
        result = BatchResult()
        for message in prepared.messages:
            try:
                with self._session_factory() as session, session.begin():
                    result += self._store(session, self.prepare([message]))
            except OperationalError:
                raise
            except (DataError, IntegrityError) as exc:
                reason = f"database refused the message: {_first_line(exc)}"
                with self._session_factory() as session, session.begin():
                    _dead_letter(session, message, reason)
                result += BatchResult(dead_letters=1)
            except Exception as exc:
                # Never lose a message to a bug: keep it with the error for replay.
                logger.exception("storing a message from %s failed", message.topic)
                reason = _internal(exc)
                with self._session_factory() as session, session.begin():
                    _dead_letter(session, message, reason)
                result += BatchResult(dead_letters=1)
        return result

    # ------------------------------------------------------------------ internals

    def _store(self, session: Session, prepared: PreparedBatch) -> BatchResult:
        now = utcnow()
        dead = 0
        refused_lines = {_line_of_topic(message.topic) for message, _ in prepared.rejected}
        lines, devices = _registry(
            session, refused_lines | {item.address.line for item in prepared.decoded}
        )
        for message, reason in prepared.rejected:
            _dead_letter(session, message, reason, now, lines.get(_line_of_topic(message.topic)))
            dead += 1
        accepted: list[_Decoded] = []
        for item in prepared.decoded:
            try:
                _check_registered(item, lines, devices)
            except Rejected as rejected:
                _dead_letter(session, item.message, rejected.reason, now)
                dead += 1
                continue
            accepted.append(item)
        rights = EventRights(session, [i.indexed for i in accepted if i.indexed is not None])
        events: list[tuple[IndexedEvent, EventOrigin]] = []
        statuses = 0
        for item in accepted:
            line = lines[item.address.line]
            if item.indexed is None:
                _store_side_message(session, item, now)
                statuses += 1
                continue
            refusal = rights.check(line.reporter, item.indexed)
            if refusal is not None:
                _dead_letter(session, item.message, f"not authorised: {refusal}", now, line)
                dead += 1
                continue
            body = item.body
            origin = EventOrigin(
                source=EventSource.MQTT,
                line_id=body.line,
                device_id=body.device,
                seq=body.seq,
                organisation_id=line.organisation_id,
            )
            events.append((item.indexed, origin))
        inserted = store_events(session, events, record_time=now)
        # Last: recording the claims locks the line's offline-block rows until the commit,
        # and other ingestors' batches of the same line wait for that lock.
        rights.record_claims()
        return BatchResult(
            stored=len(inserted),
            duplicates=len(events) - len(inserted),
            statuses=statuses,
            dead_letters=dead,
        )

    def _parse(self, message: InboundMessage) -> Any:
        """The contract message in ``message``; raises :class:`Rejected`."""
        if len(message.payload) > self._max_payload_bytes:
            raise Rejected(
                f"payload of {len(message.payload)} bytes exceeds {self._max_payload_bytes} bytes"
            )
        try:
            body = contract.decode(message.payload, message.topic)
        except ContractError as exc:
            raise Rejected(f"contract: {exc}") from exc
        if not isinstance(body, (contract.EventMessage, *_SIDE_MESSAGES)):
            raise Rejected(f"contract: a {body.kind!r} message is not accepted by the server")
        return body


def receipts(prepared: PreparedBatch) -> list[contract.Receipt]:
    """The receipts to publish once ``prepared`` is stored: per line, the ``seq`` of every
    event message of the batch (stored, duplicate or dead-lettered alike).

    An event refused before its ``seq`` could be read is included when the payload is still
    a JSON object with an integer ``seq``; otherwise the line resends it (and it is
    dead-lettered again).
    """
    by_line: dict[tuple[str, str], set[int]] = {}
    seen: set[int] = set()
    for item in prepared.decoded:
        if isinstance(item.body, contract.EventMessage):
            seen.add(id(item.message))
            key = (item.address.site, item.address.line)
            by_line.setdefault(key, set()).add(item.body.seq)
    for message in prepared.messages:
        if id(message) in seen or not message.topic.endswith("/events"):
            continue
        found = _raw_seq(message)
        if found is not None:
            by_line.setdefault(found[0], set()).add(found[1])
    out: list[contract.Receipt] = []
    for (site, line), seqs in sorted(by_line.items()):
        ranges = contract.Receipt.ranges(seqs)
        step = contract.MAX_RECEIPT_RANGES
        for start in range(0, len(ranges), step):
            out.append(contract.Receipt(site=site, line=line, seqs=ranges[start : start + step]))
    return out


def _raw_seq(message: InboundMessage) -> tuple[tuple[str, str], int] | None:
    """(site, line) of the topic and the payload's ``seq``, when both can be read."""
    try:
        address = contract.parse_topic(message.topic)
        if address.channel is not contract.Channel.EVENTS:
            return None
        data = json.loads(message.payload[: contract.MAX_PAYLOAD_BYTES])
    except (ContractError, ValueError, RecursionError):
        return None
    seq = data.get("seq") if isinstance(data, dict) else None
    if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0:
        return (address.site, address.line), seq
    return None


def _internal(exc: BaseException) -> str:
    return f"internal error: {type(exc).__name__}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:500]


def _dead_letter(
    session: Session,
    message: InboundMessage,
    reason: str,
    now: datetime | None = None,
    line: _LineInfo | None = None,
) -> None:
    payload = message.payload
    if len(payload) > DEAD_LETTER_KEEP_BYTES:
        reason = f"{reason} (payload truncated to its first {DEAD_LETTER_KEEP_BYTES} bytes)"
        payload = payload[:DEAD_LETTER_KEEP_BYTES]
    logger.info("dead letter from %s: %s", message.topic, reason)
    session.add(
        DeadLetter(
            topic=message.topic[:512],
            payload=payload,
            reason=reason,
            received_at=now or utcnow(),
            line_id=line.line_id if line is not None else None,
            organisation_id=line.organisation_id if line is not None else None,
        )
    )


def _line_of_topic(topic: str) -> str | None:
    try:
        return contract.parse_topic(topic).line
    except ContractError:
        return None


@dataclass(frozen=True, slots=True)
class _LineInfo:
    """What the checks of a batch need to know about one registered line."""

    line_id: str
    site: str
    organisation_id: int | None
    offline_reserve: int

    @property
    def reporter(self) -> Reporter:
        return Reporter(
            name=f"line {self.line_id!r}",
            organisation_id=self.organisation_id,
            line_id=self.line_id,
            offline_reserve=self.offline_reserve,
        )


# Built once: a statement object carries its cache key, so executing it again skips
# building the expression and looking up its compiled form (a batch of one event runs a
# dozen statements; building them cost more than running them).
_REGISTRY = (
    select(Line.id, Line.site, Line.organisation_id, Line.offline_reserve, Device.id)
    .outerjoin(Device, Device.line_id == Line.id)
    .where(Line.id.in_(bindparam("lines", expanding=True)))
)


def _registry(
    session: Session, line_ids: set[str | None]
) -> tuple[dict[str | None, _LineInfo], dict[str, str]]:
    """The lines named in the batch (site, organisation, offline reserve), and the line
    of each of their devices.

    One query (lines outer-joined to their devices): every round trip inside a batch
    transaction delays the commit, and so the acknowledgements.
    """
    wanted = {line for line in line_ids if line is not None}
    if not wanted:
        return {}, {}
    lines: dict[str | None, _LineInfo] = {}
    devices: dict[str, str] = {}
    rows = session.connection().execute(_REGISTRY, {"lines": sorted(wanted)})
    for line_id, site, organisation_id, reserve, device_id in rows:
        lines[line_id] = _LineInfo(line_id, site, organisation_id, reserve or 0)
        if device_id is not None:
            devices[device_id] = line_id
    return lines, devices


def _check_registered(
    item: _Decoded, lines: dict[str | None, _LineInfo], devices: dict[str, str]
) -> None:
    address = item.address
    line = lines.get(address.line)
    if line is None:
        raise Rejected(f"unknown line {address.line!r}")
    site = line.site
    if site != address.site:
        raise Rejected(
            f"line {address.line!r} belongs to site {site!r}, not to topic site {address.site!r}"
        )
    device = getattr(item.body, "device", None) or address.device
    if device is not None and devices.get(device) != address.line:
        raise Rejected(f"device {device!r} is not registered to line {address.line!r}")


def _upsert(session: Session, model: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def _store_side_message(session: Session, item: _Decoded, now: datetime) -> None:
    message, body, address = item.message, item.body, item.address
    if isinstance(body, contract.LineStatus | contract.DeviceStatus):
        statement = _upsert(session, StatusReport)
        values = {
            "topic": message.topic,
            "site": address.site,
            "line_id": address.line,
            "device_id": address.device,
            "payload": body.model_dump(mode="json"),
            "received_at": now,
        }
        session.execute(
            statement.values(values).on_conflict_do_update(
                index_elements=["topic"],
                set_={"payload": values["payload"], "received_at": now},
            )
        )
        if isinstance(body, contract.LineStatus):
            follow_status(session, body)
    elif isinstance(body, contract.Alarm):
        session.add(
            AlarmRecord(
                site=body.site,
                line_id=body.line,
                device_id=body.device,
                code=body.code.value,
                severity=body.severity.value,
                message=body.message,
                cleared=body.cleared,
                raised_at=body.raised_at,
                received_at=now,
            )
        )
    elif isinstance(body, contract.ReconciliationReport):
        statement = _upsert(session, ReconciliationRecord)
        session.execute(
            statement.values(
                site=body.site,
                line_id=body.line,
                work_order=body.work_order,
                balanced=body.balanced,
                report=body.model_dump(mode="json"),
                closed_at=body.closed_at,
                received_at=now,
            ).on_conflict_do_nothing(index_elements=["line_id", "work_order"])
        )
        follow_reconciliation(session, body)
