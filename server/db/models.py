"""Everything the aggregator stores, as SQLAlchemy 2 typed ORM models.

One module, one ``Base``: master data (organisations, facilities, lines, devices,
products), production (work orders, serial blocks), the event store (events, their EPCs,
the current containment hierarchy), consumer-facing data (recalls, consumer scans),
operations (line/device statuses, alarms, reconciliation reports, commands, dead
letters, capture jobs, the portal outbox) and
access (users, API tokens).

The same models run on SQLite (WAL) and PostgreSQL; :mod:`server.db.types` hides the
differences. Times are aware UTC ``datetime`` values.

>>> Product.__tablename__, Event.__tablename__
('products', 'events')
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Connection,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from server.db.types import BigIntKey, JsonDocument, UtcDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Longest event ID we accept: ``ni:///sha-256;<64 hex>?ver=CBV2.0`` is 87 characters,
#: UUID URNs are 45; the margin leaves room for other schemes.
EVENT_ID_LENGTH = 200
#: Longest EPC / EPC class / location URI stored (GS1 Digital Link URIs are well below).
URI_LENGTH = 512


def _enum(cls: type[enum.Enum]) -> Enum:
    """A portable enum column: a VARCHAR holding the member *values*, with a CHECK."""
    return Enum(
        cls,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
        name=cls.__name__.lower(),
    )


class Base(DeclarativeBase):
    """Declarative base of every Lineside server table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JsonDocument,
        datetime: UtcDateTime(),
    }


# --------------------------------------------------------------------------- enums


class OcopGroup(enum.StrEnum):
    """The six OCOP product groups."""

    FOOD = "food"
    BEVERAGES = "beverages"
    MEDICINAL_HERBS = "herbs"
    HANDICRAFTS = "handicrafts"
    ORNAMENTAL = "ornamental"
    COMMUNITY_TOURISM = "community_tourism"


class WorkOrderState(enum.StrEnum):
    """Life cycle of a work order: draft → released → running ⇄ paused → closed."""

    DRAFT = "draft"
    RELEASED = "released"
    RUNNING = "running"
    PAUSED = "paused"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class EpcRole(enum.StrEnum):
    """Why an identifier appears in an event.

    ``epc``: ``epcList`` of an ObjectEvent/TransactionEvent; ``parent``/``child``: an
    AggregationEvent's ``parentID`` and ``childEPCs``; ``input``/``output``: a
    TransformationEvent; ``quantity`` / ``child_quantity`` / ``input_quantity`` /
    ``output_quantity``: class-level identifiers (LGTIN) from quantity lists.
    """

    EPC = "epc"
    PARENT = "parent"
    CHILD = "child"
    INPUT = "input"
    OUTPUT = "output"
    QUANTITY = "quantity"
    CHILD_QUANTITY = "child_quantity"
    INPUT_QUANTITY = "input_quantity"
    OUTPUT_QUANTITY = "output_quantity"


class EventSource(enum.StrEnum):
    """How an event reached the store."""

    MQTT = "mqtt"
    CAPTURE = "capture"


class CaptureJobState(enum.StrEnum):
    """State of an EPCIS capture job (``GET /epcis/capture/{id}``)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class OutboxState(enum.StrEnum):
    """Delivery state of one event to one portal target."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class UserRole(enum.StrEnum):
    """What a server user may do (checked by ``server.api.deps.require_role``)."""

    ADMINISTRATOR = "administrator"
    TECHNICIAN = "technician"
    OPERATOR = "operator"
    INSPECTOR = "inspector"
    AUDITOR = "auditor"


# --------------------------------------------------------------------------- master data


class Organisation(Base):
    """A business (producer, trader) or an authority registered on the server.

    District and province are data, never constants: provinces merge and get renamed.
    """

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    address: Mapped[str] = mapped_column(String(500), default="")
    tax_id: Mapped[str | None] = mapped_column(String(20), unique=True)
    gs1_company_prefix: Mapped[str | None] = mapped_column(String(12), index=True)
    gln: Mapped[str | None] = mapped_column(String(13), unique=True)
    district: Mapped[str] = mapped_column(String(200), default="")
    #: Commune or ward (xã, phường): reports group by it since the 2025 reform.
    commune: Mapped[str] = mapped_column(String(200), default="")
    province: Mapped[str] = mapped_column(String(200), default="", index=True)
    country: Mapped[str] = mapped_column(String(2), default="VN")
    phone: Mapped[str] = mapped_column(String(50), default="")
    #: The number consumers call about a product (shown on the consumer page).
    hotline: Mapped[str] = mapped_column(String(50), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    website: Mapped[str] = mapped_column(String(500), default="")
    #: Whether the business uses barcodes at all (denominator of the uptake indicator).
    uses_barcodes: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    facilities: Mapped[list[Facility]] = relationship(back_populates="organisation")
    products: Mapped[list[Product]] = relationship(back_populates="organisation")


class CompanyPrefix(Base):
    """A GS1 company prefix licensed to one organisation.

    The GTINs and SSCCs that start with it belong to that organisation: only its lines
    and users may commission, decommission, pack or ship them
    (:mod:`server.services.event_rights`). A prefix belongs to at most one organisation.
    """

    __tablename__ = "company_prefixes"

    prefix: Mapped[str] = mapped_column(String(12), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Facility(Base):
    """A production site of an organisation (factory, cooperative workshop, warehouse)."""

    __tablename__ = "facilities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(300))
    address: Mapped[str] = mapped_column(String(500), default="")
    gln: Mapped[str | None] = mapped_column(String(13), unique=True)
    district: Mapped[str] = mapped_column(String(200), default="")
    commune: Mapped[str] = mapped_column(String(200), default="")
    province: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation] = relationship(back_populates="facilities")
    lines: Mapped[list[Line]] = relationship(back_populates="facility")


class Line(Base):
    """A packing line; its ``id`` is the ``{line}`` of the MQTT topic and envelope.

    ``site`` is the ``{site}`` topic level; ``site_gln`` the GLN used as read point.
    ``organisation_id`` is the organisation whose codes the line may print and report
    (a line without one may report none); ``offline_reserve`` how many serials the
    organisation lets it draw itself while the server cannot be reached (0: only serials
    from the server's blocks).
    """

    __tablename__ = "lines"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    facility_id: Mapped[int | None] = mapped_column(
        ForeignKey("facilities.id", ondelete="SET NULL"), index=True
    )
    site: Mapped[str] = mapped_column(String(64), index=True)
    site_gln: Mapped[str | None] = mapped_column(String(13))
    name: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    offline_reserve: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    facility: Mapped[Facility | None] = relationship(back_populates="lines")
    devices: Mapped[list[Device]] = relationship(back_populates="line")


class Device(Base):
    """A device registered to a line; only registered devices may publish its events.

    The edge agent itself is a device too (``kind="agent"``). It belongs to its line's
    organisation.
    """

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    line_id: Mapped[str] = mapped_column(ForeignKey("lines.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32), default="agent")
    #: ``lineside.contract.DeviceRole`` value when the device is a printer or scanner.
    role: Mapped[str | None] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(500), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    line: Mapped[Line] = relationship(back_populates="devices")


class Product(Base):
    """A traced product (trade item), with the data the consumer page and portal need."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint(
            "ocop_stars IS NULL OR (ocop_stars >= 1 AND ocop_stars <= 5)", name="ocop_stars"
        ),
        CheckConstraint("length(gtin) = 14", name="gtin14"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Always the 14-digit form.
    gtin: Mapped[str] = mapped_column(String(14), unique=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    name_vi: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str] = mapped_column(String(300), default="")
    description_vi: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    image_url: Mapped[str] = mapped_column(String(1000), default="")
    category: Mapped[str] = mapped_column(String(200), default="")
    brand: Mapped[str] = mapped_column(String(200), default="")
    origin: Mapped[str] = mapped_column(String(300), default="")
    #: Standards applied (TCVN, VietGAP, ISO 22000...), free text as on the label.
    standards: Mapped[str] = mapped_column(String(500), default="")
    safety_warnings: Mapped[str] = mapped_column(Text, default="")
    shelf_life_days: Mapped[int | None] = mapped_column(Integer)
    net_content: Mapped[str] = mapped_column(String(100), default="")
    #: A key local product of the province (indicator scope, with OCOP products).
    key_product: Mapped[bool] = mapped_column(Boolean, default=False)
    ocop_group: Mapped[OcopGroup | None] = mapped_column(_enum(OcopGroup))
    ocop_stars: Mapped[int | None] = mapped_column(Integer)
    certificate_number: Mapped[str | None] = mapped_column(String(100))
    certificate_valid_from: Mapped[date | None] = mapped_column(Date)
    certificate_valid_until: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation] = relationship(back_populates="products")


class ProductPhoto(Base):
    """A product's photo, served by the server itself (``/media/products/{gtin}``) so the
    consumer page needs no other host."""

    __tablename__ = "product_photos"

    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    content_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------- production


class WorkOrder(Base):
    """A production order run on one line: one product, one lot, a quantity."""

    __tablename__ = "work_orders"
    __table_args__ = (UniqueConstraint("line_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Human reference, unique per line ("WO-2026-0042").
    code: Mapped[str] = mapped_column(String(64))
    line_id: Mapped[str] = mapped_column(ForeignKey("lines.id", ondelete="RESTRICT"), index=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="RESTRICT"), index=True
    )
    lot: Mapped[str] = mapped_column(String(20), index=True)
    production_date: Mapped[date | None] = mapped_column(Date)
    expiry_date: Mapped[date | None] = mapped_column(Date)
    best_before_date: Mapped[date | None] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer)
    units_per_case: Mapped[int | None] = mapped_column(Integer)
    label_template: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[WorkOrderState] = mapped_column(
        _enum(WorkOrderState), default=WorkOrderState.DRAFT, index=True
    )
    #: Reconciliation at close: allocated = commissioned + rejected + sampled + returned.
    allocated: Mapped[int] = mapped_column(Integer, default=0)
    commissioned: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    sampled: Mapped[int] = mapped_column(Integer, default=0)
    returned: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    product: Mapped[Product] = relationship()
    line: Mapped[Line] = relationship()


class SerialBlock(Base):
    """A block of random serials for one GTIN issued to one line.

    The server draws the serials (``lineside.contract.SerialBlockCommand``) and records
    each one in :class:`IssuedSerial`, whose primary key (GTIN, serial) makes a collision
    between two lines impossible.
    """

    __tablename__ = "serial_blocks"

    #: The contract's ``block_id``.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    gtin: Mapped[str] = mapped_column(String(14), index=True)
    line_id: Mapped[str] = mapped_column(ForeignKey("lines.id", ondelete="RESTRICT"), index=True)
    work_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("work_orders.id", ondelete="SET NULL"), index=True
    )
    count: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When the line acknowledged the block (``CommandAck``); NULL until then.
    acked_at: Mapped[datetime | None]


class IssuedSerial(Base):
    """One serial of one GTIN, issued in a block; unique across all lines."""

    __tablename__ = "issued_serials"

    gtin: Mapped[str] = mapped_column(String(14), primary_key=True)
    serial: Mapped[str] = mapped_column(String(20), primary_key=True)
    block_id: Mapped[str] = mapped_column(
        ForeignKey("serial_blocks.id", ondelete="CASCADE"), index=True
    )


class LineCommand(Base):
    """A command sent to a line (work order, serial block) and the line's answer."""

    __tablename__ = "line_commands"

    #: The contract's ``command_id``.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    line_id: Mapped[str] = mapped_column(ForeignKey("lines.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_by: Mapped[str] = mapped_column(String(200), default="")
    acked_at: Mapped[datetime | None]
    ok: Mapped[bool | None] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)


# --------------------------------------------------------------------------- event store


class Event(Base):
    """One EPCIS 2.0 event, keyed by its event ID (the EPCIS event hash).

    ``document`` is the event exactly as received (JSON-LD); the other columns are
    copies for querying. ``pk`` gives a stable insertion order for query paging.

    On PostgreSQL the table is partitioned by year of ``event_time`` (migration 0010,
    :mod:`server.db.partitions`): there the primary key is ``(pk, event_time)``, the
    event ID is unique together with the event time (which a redelivered event repeats)
    and no foreign key can point at ``event_id``. The models describe the SQLite table.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_biz_step_event_time", "biz_step", "event_time"),
        Index("ix_events_line_id_event_time", "line_id", "event_time"),
        # Rows arrive in record-time order, so on PostgreSQL a BRIN index (a few pages,
        # next to free to maintain) narrows ``GE_recordTime`` queries as well as a
        # B-tree would; SQLite has no BRIN and keeps a B-tree.
        Index("ix_events_record_time", "record_time", postgresql_using="brin"),
        # Only captured events have a job; MQTT events (nearly all) stay out of it.
        Index(
            "ix_events_capture_job_id",
            "capture_job_id",
            postgresql_where=text("capture_job_id IS NOT NULL"),
            sqlite_where=text("capture_job_id IS NOT NULL"),
        ),
    )

    pk: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(EVENT_ID_LENGTH), unique=True)
    #: Five distinct values: an index on it would cost every insert and help no query.
    type: Mapped[str] = mapped_column(String(40))
    action: Mapped[str | None] = mapped_column(String(10))
    biz_step: Mapped[str | None] = mapped_column(String(URI_LENGTH))
    disposition: Mapped[str | None] = mapped_column(String(URI_LENGTH))
    event_time: Mapped[datetime] = mapped_column(index=True)
    #: The event's ``eventTimeZoneOffset`` ("+07:00"), kept to render local time.
    event_time_zone_offset: Mapped[str] = mapped_column(String(6), default="+00:00")
    record_time: Mapped[datetime] = mapped_column(default=utcnow)
    read_point: Mapped[str | None] = mapped_column(String(URI_LENGTH), index=True)
    biz_location: Mapped[str | None] = mapped_column(String(URI_LENGTH), index=True)
    line_id: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(64))
    #: The edge's message sequence number, for gap detection per device.
    seq: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[EventSource] = mapped_column(_enum(EventSource), default=EventSource.MQTT)
    capture_job_id: Mapped[str | None] = mapped_column(String(36))
    #: The organisation whose line or user reported the event (its codes are its own).
    organisation_id: Mapped[int | None] = mapped_column(Integer, index=True)
    document: Mapped[dict[str, Any]]


class EventEpc(Base):
    """An identifier (EPC, parent ID, EPC class) named by an event, for trace queries."""

    __tablename__ = "event_epcs"

    event_id: Mapped[str] = mapped_column(
        ForeignKey("events.event_id", ondelete="CASCADE"), primary_key=True
    )
    epc: Mapped[str] = mapped_column(String(URI_LENGTH), primary_key=True, index=True)
    role: Mapped[EpcRole] = mapped_column(_enum(EpcRole), primary_key=True)


class Containment(Base):
    """Current containment: which parent (case SSCC, pallet) a child is packed in.

    Maintained from AggregationEvents: ADD sets the parent, DELETE removes the row
    (only when it still points at that parent); the latest event time wins.
    """

    __tablename__ = "containment"

    child_epc: Mapped[str] = mapped_column(String(URI_LENGTH), primary_key=True)
    parent_epc: Mapped[str] = mapped_column(String(URI_LENGTH), index=True)
    event_id: Mapped[str] = mapped_column(String(EVENT_ID_LENGTH))
    event_time: Mapped[datetime]


# --------------------------------------------------------------------------- consumer side


class Recall(Base):
    """A recall of a GTIN, for one lot or (``lot`` NULL) every lot."""

    __tablename__ = "recalls"
    __table_args__ = (Index("ix_recalls_gtin_lot", "gtin", "lot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gtin: Mapped[str] = mapped_column(String(14))
    #: The organisation that owns the GTIN (NULL when no organisation registered it).
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    lot: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    issued_by: Mapped[str] = mapped_column(String(200), default="")
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When the recall ended; NULL while it is in force.
    lifted_at: Mapped[datetime | None]


class ConsumerScan(Base):
    """A consumer opening a Digital Link (clone warnings, uptake indicators)."""

    __tablename__ = "consumer_scans"
    __table_args__ = (Index("ix_consumer_scans_gtin_serial", "gtin", "serial"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    gtin: Mapped[str] = mapped_column(String(14))
    lot: Mapped[str | None] = mapped_column(String(20))
    serial: Mapped[str | None] = mapped_column(String(20))
    uri: Mapped[str] = mapped_column(String(1000))
    scanned_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    #: A salted hash of the client address: distinct scanners without storing IPs.
    client_hash: Mapped[str] = mapped_column(String(64), default="")
    #: A keyed hash of the viewing device (its first-party cookie, else its address and
    #: user agent for the day): distinct devices, not requests, make a clone warning.
    device_key: Mapped[str] = mapped_column(String(64), default="", server_default="")
    #: A keyed hash of the client's network (IPv4 /24, IPv6 /48): a coarse "place".
    network_key: Mapped[str] = mapped_column(String(64), default="", server_default="")
    user_agent: Mapped[str] = mapped_column(String(500), default="")
    #: Coarse location when the consumer shared it (province or "lat,lon" rounded).
    location: Mapped[str] = mapped_column(String(200), default="")
    #: Verdict shown to the consumer: genuine, unknown, recalled, expired, voided, clone.
    verdict: Mapped[str] = mapped_column(String(32), default="")


# --------------------------------------------------------------------------- operations


class StatusReport(Base):
    """The last retained status message of a line or device (dashboard)."""

    __tablename__ = "status_reports"

    topic: Mapped[str] = mapped_column(String(URI_LENGTH), primary_key=True)
    site: Mapped[str] = mapped_column(String(64), index=True)
    line_id: Mapped[str] = mapped_column(String(64), index=True)
    #: NULL for the line's own status, else the device that reported.
    device_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlarmRecord(Base):
    """An alarm raised or cleared on a line (``lineside.contract.Alarm``)."""

    __tablename__ = "alarms"
    __table_args__ = (Index("ix_alarms_line_id_raised_at", "line_id", "raised_at"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(64))
    line_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")
    cleared: Mapped[bool] = mapped_column(Boolean, default=False)
    raised_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReconciliationRecord(Base):
    """A work order's reconciliation report as the line published it at close."""

    __tablename__ = "reconciliation_reports"
    __table_args__ = (UniqueConstraint("line_id", "work_order"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    line_id: Mapped[str] = mapped_column(String(64))
    work_order: Mapped[str] = mapped_column(String(64))
    balanced: Mapped[bool] = mapped_column(Boolean)
    report: Mapped[dict[str, Any]]
    closed_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeadLetter(Base):
    """An MQTT message that could not be stored, kept byte for byte with the reason."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(URI_LENGTH))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(Text)
    #: The line that sent it and that line's organisation, when known (scoped reading).
    line_id: Mapped[str | None] = mapped_column(String(64))
    organisation_id: Mapped[int | None] = mapped_column(Integer, index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class CaptureJob(Base):
    """One ``POST /epcis/capture`` request and its outcome."""

    __tablename__ = "capture_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    state: Mapped[CaptureJobState] = mapped_column(_enum(CaptureJobState))
    #: The organisation of the user who captured (NULL: an administrator or open router).
    organisation_id: Mapped[int | None] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    #: Events that were already stored (same event ID) and therefore skipped.
    duplicate_count: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[dict[str, Any]] = mapped_column(default=dict)


class PortalOutboxEntry(Base):
    """One event waiting to be (or already) forwarded to one portal target."""

    __tablename__ = "portal_outbox"
    __table_args__ = (
        UniqueConstraint("target", "event_id"),
        Index("ix_portal_outbox_target_state_next", "target", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    target: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(ForeignKey("events.event_id", ondelete="CASCADE"))
    state: Mapped[OutboxState] = mapped_column(_enum(OutboxState), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class AuditCheckpointOutboxEntry(Base):
    """A signed audit checkpoint (:mod:`server.services.audit_anchor`) waiting to be (or
    already) sent to the portal, which keeps a copy out of this database's reach."""

    __tablename__ = "audit_checkpoint_outbox"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    document: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[OutboxState] = mapped_column(_enum(OutboxState), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class PortalMark(Base):
    """How far :func:`server.portal.enqueue_new` has looked for one target.

    Every event with ``events.pk <= last_event_pk`` already has an outbox entry for
    ``target``; the next run only reads events above the mark.
    """

    __tablename__ = "portal_marks"

    target: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_event_pk: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --------------------------------------------------------------------------- access


class User(Base):
    """A person who signs in to the server (inspector, business user, administrator)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[UserRole] = mapped_column(_enum(UserRole), default=UserRole.AUDITOR)
    #: Business users only see their own organisation's data.
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    password_hash: Mapped[str] = mapped_column(String(300), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A bearer token for machine access; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


# --------------------------------------------------------------------------- audit trail


class AuditEntry(Base):
    """One :class:`lineside.audit.AuditRecord` of the server's hash-chained audit trail.

    Rows are only ever appended (by :func:`server.services.audit.record_action`, in the same
    transaction as the change they describe); ``GET /audit/verify`` recomputes the chain.
    """

    __tablename__ = "audit_records"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    role: Mapped[str] = mapped_column(String(50))
    action: Mapped[str] = mapped_column(String(100), index=True)
    target: Mapped[str] = mapped_column(String(500), default="", index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The newest record of the audit trail: one row, locked by every writer.

    Appenders lock this row (``SELECT … FOR UPDATE``) before reading it, so two
    requests at once cannot both extend the same record and fork the chain; it also
    lets verification notice records deleted from the end of the trail.
    """

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


# --------------------------------------------------------------------------- ownership defaults


@event.listens_for(Line, "before_insert")
@event.listens_for(Line, "before_update")
def _line_takes_its_facility_organisation(_mapper: Any, connection: Connection, line: Line) -> None:
    """A line with a facility but no organisation belongs to its facility's organisation."""
    if line.organisation_id is None and line.facility_id is not None:
        line.organisation_id = connection.scalar(
            select(Facility.organisation_id).where(Facility.id == line.facility_id)
        )


@event.listens_for(Organisation, "after_insert")
def _organisation_holds_its_prefix(
    _mapper: Any, connection: Connection, organisation: Organisation
) -> None:
    """An organisation registered with a company prefix no one holds gets it licensed."""
    prefix = organisation.gs1_company_prefix
    if not prefix:
        return
    held = connection.scalar(select(CompanyPrefix.prefix).where(CompanyPrefix.prefix == prefix))
    if held is None:
        connection.execute(
            insert(CompanyPrefix).values(
                prefix=prefix, organisation_id=organisation.id, created_at=utcnow()
            )
        )


# --------------------------------------------------------------------------- EPCIS REST binding


class EventContext(Base):
    """The JSON-LD namespaces (prefix -> IRI) an event was captured with, beyond
    EPCIS's own, so query documents can declare the extension prefixes they carry."""

    __tablename__ = "event_contexts"

    event_id: Mapped[str] = mapped_column(
        ForeignKey("events.event_id", ondelete="CASCADE"), primary_key=True
    )
    namespaces: Mapped[dict[str, Any]] = mapped_column(default=dict)


class NamedQuery(Base):
    """A named EPCIS query (``POST /epcis/queries``): its simple-query parameters."""

    __tablename__ = "epcis_queries"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    query: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QuerySubscription(Base):
    """A webhook subscription to a named query, streamed or on a schedule."""

    __tablename__ = "epcis_subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    query_name: Mapped[str] = mapped_column(
        ForeignKey("epcis_queries.name", ondelete="CASCADE"), index=True
    )
    dest: Mapped[str] = mapped_column(String(URI_LENGTH))
    #: The client's ``signatureToken``: the HMAC-SHA256 key of ``GS1-Signature``.
    secret: Mapped[str] = mapped_column(String(500), default="")
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    schedule: Mapped[dict[str, Any]] = mapped_column(default=dict)
    report_if_empty: Mapped[bool] = mapped_column(Boolean, default=False)
    epc_format: Mapped[str] = mapped_column(String(40), default="No_Preference")
    initial_record_time: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_notified_at: Mapped[datetime | None]
    #: Every event with ``events.pk <= last_event_pk`` has been looked at for delivery.
    last_event_pk: Mapped[int] = mapped_column(BigInteger, default=0)


class SubscriptionDelivery(Base):
    """One query document waiting to be (or already) posted to a subscriber."""

    __tablename__ = "epcis_subscription_outbox"
    __table_args__ = (Index("ix_epcis_subscription_outbox_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("epcis_subscriptions.id", ondelete="CASCADE"), index=True
    )
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[OutboxState] = mapped_column(_enum(OutboxState), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
