"""The MQTT contract between edge agents and the aggregator: topics, payloads, versions.

Both sides import this module and nothing else defines a topic or a payload. Every
payload is a JSON object with ``schema_version`` and ``kind``; :func:`decode` checks the
topic, the size, the version and the shape, and raises :class:`~lineside.errors.ContractError`
naming what was wrong.

Topic layout (``{site}`` and ``{line}`` are identifiers, see :data:`IDENTIFIER`)::

    .../events                  edge → server  QoS 1           EventMessage
    .../status                  edge → server  QoS 1 retained  LineStatus (+ last will)
    .../devices/{device}/status edge → server  QoS 1 retained  DeviceStatus
    .../alarms                  edge → server  QoS 1           Alarm
    .../reports                 edge → server  QoS 1           ReconciliationReport
    .../commands                server → edge  QoS 1           Command
    .../acks                    edge → server  QoS 1           CommandAck
    .../receipts                server → edge  QoS 1           Receipt

where ``...`` is ``lineside/v1/{site}/{line}``.

>>> topic = Topics(site="factory-1", line="L1")
>>> topic.events
'lineside/v1/factory-1/L1/events'
>>> parse_topic("lineside/v1/factory-1/L1/devices/printer-1/status")
TopicAddress(site='factory-1', line='L1', channel=<Channel.DEVICE_STATUS: 'devices/status'>, \
device='printer-1')
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from lineside.errors import ContractError

#: Version of the topic layout; a breaking change gets ``v2`` topics, served side by side.
TOPIC_VERSION = "v1"
TOPIC_ROOT = f"lineside/{TOPIC_VERSION}"
#: Version of the payload schemas; a payload with another version is refused, not guessed.
SCHEMA_VERSION: Literal[1] = 1
#: Largest payload either side accepts. An event with ~1,000 child EPCs fits comfortably.
MAX_PAYLOAD_BYTES = 512 * 1024
#: Site, line and device identifiers: no MQTT wildcards, separators or ``$`` prefixes.
IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")

Identifier = Annotated[str, Field(pattern=IDENTIFIER.pattern)]


class Channel(enum.StrEnum):
    """What a topic carries; the value is the topic suffix after ``{site}/{line}/``."""

    EVENTS = "events"
    STATUS = "status"
    DEVICE_STATUS = "devices/status"
    ALARMS = "alarms"
    REPORTS = "reports"
    COMMANDS = "commands"
    ACKS = "acks"
    RECEIPTS = "receipts"


@dataclass(frozen=True, slots=True)
class TopicAddress:
    """A parsed topic: which site, line and channel (and device, for device status)."""

    site: str
    line: str
    channel: Channel
    device: str | None = None


def _check_identifier(what: str, value: str) -> str:
    # fullmatch: with match, "$" would also accept a trailing newline ("L1\n").
    if not IDENTIFIER.fullmatch(value):
        raise ContractError(
            f"{what} {value!r} is not a valid identifier "
            "(1-64 of A-Z a-z 0-9 _ . -, starting with a letter or digit)"
        )
    return value


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics of one line.

    >>> Topics("factory-1", "L1").device_status("scanner-a")
    'lineside/v1/factory-1/L1/devices/scanner-a/status'
    """

    site: str
    line: str

    def __post_init__(self) -> None:
        _check_identifier("site", self.site)
        _check_identifier("line", self.line)

    @property
    def prefix(self) -> str:
        return f"{TOPIC_ROOT}/{self.site}/{self.line}"

    @property
    def events(self) -> str:
        return f"{self.prefix}/events"

    @property
    def status(self) -> str:
        return f"{self.prefix}/status"

    @property
    def alarms(self) -> str:
        return f"{self.prefix}/alarms"

    @property
    def reports(self) -> str:
        return f"{self.prefix}/reports"

    @property
    def commands(self) -> str:
        return f"{self.prefix}/commands"

    @property
    def acks(self) -> str:
        return f"{self.prefix}/acks"

    @property
    def receipts(self) -> str:
        return f"{self.prefix}/receipts"

    def device_status(self, device: str) -> str:
        return f"{self.prefix}/devices/{_check_identifier('device', device)}/status"


def subscription(channel: Channel, share_group: str | None = None) -> str:
    """The wildcard subscription for one channel of every line, optionally shared.

    >>> subscription(Channel.EVENTS)
    'lineside/v1/+/+/events'
    >>> subscription(Channel.EVENTS, share_group="aggregator")
    '$share/aggregator/lineside/v1/+/+/events'
    """
    suffix = "devices/+/status" if channel is Channel.DEVICE_STATUS else channel.value
    topic = f"{TOPIC_ROOT}/+/+/{suffix}"
    if share_group is not None:
        topic = f"$share/{_check_identifier('share group', share_group)}/{topic}"
    return topic


def parse_topic(topic: str) -> TopicAddress:
    """Parse a Lineside topic; raise :class:`ContractError` naming the bad part."""
    parts = topic.split("/")
    if len(parts) < 5 or parts[0] != "lineside":
        expected = f"lineside/{TOPIC_VERSION}/<site>/<line>/..."
        raise ContractError(f"topic {topic!r}: expected {expected!r}")
    if parts[1] != TOPIC_VERSION:
        raise ContractError(f"topic {topic!r}: version {parts[1]!r} expected {TOPIC_VERSION!r}")
    site = _check_identifier("site", parts[2])
    line = _check_identifier("line", parts[3])
    rest = parts[4:]
    if len(rest) == 3 and rest[0] == "devices" and rest[2] == "status":
        return TopicAddress(site, line, Channel.DEVICE_STATUS, _check_identifier("device", rest[1]))
    if len(rest) == 1:
        try:
            channel = Channel(rest[0])
        except ValueError:
            pass
        else:
            if channel is not Channel.DEVICE_STATUS:
                return TopicAddress(site, line, channel)
    raise ContractError(f"topic {topic!r}: unknown channel {'/'.join(rest)!r}")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    schema_version: Literal[1] = SCHEMA_VERSION

    @field_validator("*", mode="after")
    @classmethod
    def _aware_times(cls, value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("timestamp must carry a time-zone offset")
        return value


# --- edge → server ------------------------------------------------------------------------


class EventMessage(_Message):
    """One EPCIS 2.0 event reported by a line.

    ``event`` is the EPCIS JSON-LD event object; its ``eventID`` is the standard event hash
    (``ni:///sha-256;...?ver=CBV2.0``) so redelivery after a reconnect is harmless. ``seq``
    increases by one per event per line and lets the server see gaps and order.
    """

    kind: Literal["event"] = "event"
    site: Identifier
    line: Identifier
    device: Identifier
    seq: int = Field(ge=0)
    sent_at: datetime = Field(default_factory=_utc_now)
    work_order: str | None = None
    event: dict[str, Any]

    @field_validator("event")
    @classmethod
    def _event_has_id(cls, event: dict[str, Any]) -> dict[str, Any]:
        event_type = event.get("type")
        if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
            raise ValueError(f"event.type {event_type!r} is not one of {sorted(EVENT_TYPES)}")
        event_id = event.get("eventID")
        if not isinstance(event_id, str) or not event_id.startswith("ni:///sha-256;"):
            raise ValueError("event.eventID must be the EPCIS event hash 'ni:///sha-256;...'")
        return event

    @property
    def event_id(self) -> str:
        return str(self.event["eventID"])


EVENT_TYPES = frozenset(
    {
        "ObjectEvent",
        "AggregationEvent",
        "TransformationEvent",
        "TransactionEvent",
        "AssociationEvent",
    }
)


class LineState(enum.StrEnum):
    ONLINE = "online"  # connected, no work order running
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    OFFLINE = "offline"  # published by the broker as the agent's last will


class LineCounters(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    allocated: int = 0
    printed: int = 0
    commissioned: int = 0
    rejected: int = 0
    cases: int = 0
    pallets: int = 0
    outbox_pending: int = 0


class LineStatus(_Message):
    """The retained state of a line; the agent's last will is the same with ``offline``."""

    kind: Literal["line_status"] = "line_status"
    site: Identifier
    line: Identifier
    state: LineState
    work_order: str | None = None
    counters: LineCounters = Field(default_factory=LineCounters)
    rate_per_minute: float = 0.0
    #: Rolling print-quality grade (A-F) of the last reads, when the verify camera grades.
    print_grade: Literal["A", "B", "C", "D", "F"] | None = None
    agent_version: str | None = None
    updated_at: datetime = Field(default_factory=_utc_now)


class DeviceRole(enum.StrEnum):
    UNIT_PRINTER = "unit_printer"
    CASE_PRINTER = "case_printer"
    VERIFY_SCANNER = "verify_scanner"
    CASE_SCANNER = "case_scanner"
    MANUAL_SCANNER = "manual_scanner"
    REJECT_OUTPUT = "reject_output"


class DeviceState(enum.StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    OFFLINE = "offline"


class DeviceStatus(_Message):
    """The retained state of one device on a line."""

    kind: Literal["device_status"] = "device_status"
    device: Identifier
    role: DeviceRole
    state: DeviceState
    url: str | None = None
    detail: str = ""
    #: Device-specific conditions, e.g. ``["paper_out", "head_open"]``.
    flags: tuple[str, ...] = ()
    updated_at: datetime = Field(default_factory=_utc_now)


class AlarmCode(enum.StrEnum):
    PAPER_OUT = "paper_out"
    RIBBON_OUT = "ribbon_out"
    HEAD_OPEN = "head_open"
    PRINTER_PAUSED = "printer_paused"
    PRINTER_OFFLINE = "printer_offline"
    SCANNER_OFFLINE = "scanner_offline"
    SCANNER_SILENT = "scanner_silent"
    TOO_MANY_REJECTS = "too_many_rejects"
    SERIALS_LOW = "serials_low"
    OUTBOX_NEARLY_FULL = "outbox_nearly_full"
    OUTBOX_FULL = "outbox_full"
    BROKER_UNREACHABLE = "broker_unreachable"
    SELFTEST_FAILED = "selftest_failed"
    #: The rolling print-quality grade of a grading verify camera is falling toward C.
    PRINT_QUALITY = "print_quality"


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Alarm(_Message):
    """An alarm raised (or cleared) on a line."""

    kind: Literal["alarm"] = "alarm"
    site: Identifier
    line: Identifier
    code: AlarmCode
    severity: Severity
    message: str = Field(max_length=2000)
    device: Identifier | None = None
    cleared: bool = False
    raised_at: datetime = Field(default_factory=_utc_now)


class LotCounts(BaseModel):
    """Reconciliation of one lot: ``allocated`` must equal the sum of the outcomes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lot: str
    allocated: int = Field(ge=0)
    commissioned: int = Field(ge=0)
    rejected: int = Field(ge=0)
    sampled: int = Field(ge=0)
    returned: int = Field(ge=0)
    voided: int = Field(ge=0, default=0)

    @property
    def unaccounted(self) -> int:
        outcomes = self.commissioned + self.rejected + self.sampled + self.returned + self.voided
        return self.allocated - outcomes


class ReconciliationReport(_Message):
    """Published when a work order closes."""

    kind: Literal["reconciliation"] = "reconciliation"
    site: Identifier
    line: Identifier
    work_order: str
    lots: tuple[LotCounts, ...]
    cases: int = Field(ge=0)
    pallets: int = Field(ge=0, default=0)
    closed_at: datetime = Field(default_factory=_utc_now)

    @property
    def balanced(self) -> bool:
        return all(lot.unaccounted == 0 for lot in self.lots)


# --- server → edge ------------------------------------------------------------------------


class OcopInfo(BaseModel):
    """OCOP ("One Commune One Product") classification of a product."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group: Literal["food", "beverages", "herbs", "handicrafts", "ornamental", "community_tourism"]
    stars: int = Field(ge=1, le=5)
    certificate: str | None = None
    valid_until: date | None = None


class ProductInfo(BaseModel):
    """What a line needs to know about the product it packs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gtin: str = Field(pattern=r"^\d{14}$")
    name_vi: str = Field(min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    ocop: OcopInfo | None = None


class WorkOrder(BaseModel):
    """A work order: what to pack, in which lot, how many, with which labels."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Identifier
    product: ProductInfo
    lot: str = Field(min_length=1, max_length=20)
    production_date: date
    expiry_date: date | None = None
    best_before: date | None = None
    quantity: int = Field(gt=0, le=10_000_000)
    units_per_case: int = Field(gt=0, le=10_000)
    cases_per_pallet: int | None = Field(default=None, gt=0, le=10_000)
    unit_template: str = "unit"
    case_template: str = "case"


class WorkOrderAction(enum.StrEnum):
    LOAD = "load"
    START = "start"
    PAUSE = "pause"
    CLOSE = "close"


class WorkOrderCommand(_Message):
    """Load, start, pause or close a work order on a line. ``order`` is required for LOAD."""

    kind: Literal["work_order"] = "work_order"
    command_id: Identifier
    action: WorkOrderAction
    work_order_id: Identifier
    order: WorkOrder | None = None
    issued_at: datetime = Field(default_factory=_utc_now)
    issued_by: str | None = None


class SerialBlockCommand(_Message):
    """Serials reserved for a line by the server; the line adds them to its reserve."""

    kind: Literal["serial_block"] = "serial_block"
    command_id: Identifier
    block_id: Identifier
    gtin: str = Field(pattern=r"^\d{14}$")
    serials: tuple[str, ...] = Field(min_length=1, max_length=20_000)


Command = Annotated[WorkOrderCommand | SerialBlockCommand, Field(discriminator="kind")]


class CommandAck(_Message):
    """The line's answer to a command."""

    kind: Literal["ack"] = "ack"
    command_id: Identifier
    ok: bool
    error: str | None = None
    acked_at: datetime = Field(default_factory=_utc_now)


#: Most ranges one receipt lists (a receipt stays far below :data:`MAX_PAYLOAD_BYTES`).
MAX_RECEIPT_RANGES = 10_000

SeqRange = tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]]


class Receipt(_Message):
    """The server has taken responsibility for these events of a line.

    Published by the aggregator after the transaction holding them committed: each event
    was stored, found already stored (a duplicate) or dead-lettered. ``seqs`` are inclusive
    ``[first, last]`` ranges of the events' ``seq``. A line that confirms with the server
    deletes an event from its outbox only on a receipt (see docs/reliability.md).

    >>> r = Receipt(site="s", line="L1", seqs=Receipt.ranges([5, 1, 2, 3, 3]))
    >>> r.seqs, r.covers(2), r.covers(4)
    (((1, 3), (5, 5)), True, False)
    """

    kind: Literal["receipt"] = "receipt"
    site: Identifier
    line: Identifier
    seqs: tuple[SeqRange, ...] = Field(min_length=1, max_length=MAX_RECEIPT_RANGES)
    issued_at: datetime = Field(default_factory=_utc_now)

    @field_validator("seqs")
    @classmethod
    def _ordered_ranges(cls, seqs: tuple[SeqRange, ...]) -> tuple[SeqRange, ...]:
        for first, last in seqs:
            if first > last:
                raise ValueError(f"range [{first}, {last}] ends before it starts")
        return seqs

    @staticmethod
    def ranges(seqs: Iterable[int]) -> tuple[SeqRange, ...]:
        """Sorted, merged inclusive ranges of ``seqs``."""
        merged: list[list[int]] = []
        for seq in sorted(set(seqs)):
            if merged and seq == merged[-1][1] + 1:
                merged[-1][1] = seq
            else:
                merged.append([seq, seq])
        return tuple((first, last) for first, last in merged)

    def covers(self, seq: int) -> bool:
        return any(first <= seq <= last for first, last in self.seqs)

    def count(self) -> int:
        """How many sequence numbers the receipt lists."""
        return sum(last - first + 1 for first, last in self.seqs)


Message = Annotated[
    EventMessage
    | LineStatus
    | DeviceStatus
    | Alarm
    | ReconciliationReport
    | WorkOrderCommand
    | SerialBlockCommand
    | CommandAck
    | Receipt,
    Field(discriminator="kind"),
]

_CHANNEL_KINDS: dict[Channel, frozenset[str]] = {
    Channel.EVENTS: frozenset({"event"}),
    Channel.STATUS: frozenset({"line_status"}),
    Channel.DEVICE_STATUS: frozenset({"device_status"}),
    Channel.ALARMS: frozenset({"alarm"}),
    Channel.REPORTS: frozenset({"reconciliation"}),
    Channel.COMMANDS: frozenset({"work_order", "serial_block"}),
    Channel.ACKS: frozenset({"ack"}),
    Channel.RECEIPTS: frozenset({"receipt"}),
}

_MESSAGE_ADAPTER: TypeAdapter[Message] = TypeAdapter(Message)


def encode(message: _Message) -> bytes:
    """Encode a message as compact UTF-8 JSON.

    >>> encode(CommandAck(command_id="c1", ok=True, acked_at=datetime(2026, 1, 1, tzinfo=UTC)))
    b'{"schema_version":1,"kind":"ack","command_id":"c1","ok":true,"error":null,\
"acked_at":"2026-01-01T00:00:00Z"}'
    """
    return message.model_dump_json().encode("utf-8")


def decode(payload: bytes, topic: str | None = None) -> Message:
    """Decode a payload, checking size, JSON, version, shape and (if given) the topic.

    For a line's topics the payload's ``site``/``line`` (where it has them) must match
    the topic: a line cannot speak for another.
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES} bytes")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(f"payload is not UTF-8: byte {exc.start} is invalid") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContractError(
            f"payload is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise ContractError("payload is not usable JSON: nested too deeply") from exc
    if "\\u" in text:
        # A "\ud800" escape decodes to a lone surrogate: not text, and it could never be
        # encoded again (by us or by the server storing it).
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ContractError(
                f"payload holds {exc.object[exc.start]!r}, a lone surrogate that is not text"
            ) from exc
    if not isinstance(data, dict):
        raise ContractError(f"payload must be a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ContractError(
            f"schema_version {version!r} is not supported (expected {SCHEMA_VERSION})"
        )
    try:
        message = _MESSAGE_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise ContractError(_describe(exc)) from exc
    if topic is not None:
        _check_topic(message, parse_topic(topic))
    return message


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False)[:5]:
        location = ".".join(str(part) for part in error["loc"])
        problems.append(f"{location or 'payload'}: {error['msg']}")
    more = exc.error_count() - len(problems)
    suffix = f" (and {more} more)" if more > 0 else ""
    return "; ".join(problems) + suffix


def _check_topic(message: Message, address: TopicAddress) -> None:
    if message.kind not in _CHANNEL_KINDS[address.channel]:
        raise ContractError(
            f"a {message.kind!r} message cannot be sent on the {address.channel.value!r} channel"
        )
    site = getattr(message, "site", None)
    line = getattr(message, "line", None)
    if site is not None and site != address.site:
        raise ContractError(f"payload site {site!r} does not match topic site {address.site!r}")
    if line is not None and line != address.line:
        raise ContractError(f"payload line {line!r} does not match topic line {address.line!r}")
    if isinstance(message, DeviceStatus) and message.device != address.device:
        raise ContractError(
            f"payload device {message.device!r} does not match topic device {address.device!r}"
        )
