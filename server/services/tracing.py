"""What the server knows about one code: identifiers, history, hierarchy and verdict.

No HTTP here: the trace API and the Digital Link resolver call
:func:`~server.services.codes.parse_code` then :func:`trace`.

>>> trace_domains("https://id.example.vn")
['https://id.gs1.org', 'https://id.example.vn']
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from lineside.gs1 import GS1_RESOLVER_ROOT
from server.db.events import containers_of
from server.db.models import (
    ConsumerScan,
    Containment,
    Event,
    EventEpc,
    Facility,
    Line,
    Organisation,
    Product,
    Recall,
    WorkOrder,
)
from server.errors import NotFound
from server.services.codes import CodeRef, class_identifiers, instance_identifiers, parse_code
from server.services.masterdata import prefix_owner
from server.services.tenancy import PROVINCE, Scope

logger = logging.getLogger(__name__)

#: The canonical Digital Link host, which events may use whatever the resolver's own.
_DECOMMISSION_STEPS = ("decommissioning", "destroying")


class Verdict(enum.StrEnum):
    """What a consumer is told about a code."""

    GENUINE = "genuine"
    UNKNOWN = "unknown"
    RECALLED = "recalled"
    EXPIRED = "expired"
    VOIDED = "voided"
    #: The code's key is known but its lot (or serial) is not the one issued with it.
    MISMATCH = "mismatch"


def trace_domains(resolver_domain: str) -> list[str]:
    """Digital Link hosts events may use: the canonical one and this resolver's."""
    return list(dict.fromkeys([GS1_RESOLVER_ROOT, resolver_domain]))


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class EventSummary:
    """One event as a trace lists it."""

    event_id: str
    type: str
    action: str | None
    biz_step: str | None
    step: str
    disposition: str | None
    event_time: datetime
    read_point: str | None
    biz_location: str | None
    line_id: str | None
    via: str
    destinations: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TraceResult:
    """Everything known about a code."""

    ref: CodeRef
    identifiers: tuple[str, ...]
    product: Product | None
    organisation: Organisation | None
    facility: Facility | None
    verdict: Verdict
    lot: str | None
    production_date: date | None
    expiry_date: date | None
    commissioned: EventSummary | None
    parents: tuple[str, ...]
    children: tuple[str, ...]
    events: tuple[EventSummary, ...]
    recall: Recall | None
    shipped_to: tuple[str, ...] = field(default_factory=tuple)
    received_from: tuple[str, ...] = field(default_factory=tuple)
    scan_count: int = 0


def _step(biz_step: str | None) -> str:
    """``commissioning`` from a bare CBV word, a CBV 2.0 URI or a CBV 1.2 URN."""
    if not biz_step:
        return "other"
    word = biz_step.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return word.removeprefix("BizStep-")


def _list_of(document: dict[str, Any], key: str, inner: str) -> tuple[str, ...]:
    entries = document.get(key) or []
    if not isinstance(entries, list):
        return ()
    return tuple(
        str(entry.get(inner)) for entry in entries if isinstance(entry, dict) and entry.get(inner)
    )


def _summary(event: Event, via: str) -> EventSummary:
    document = event.document if isinstance(event.document, dict) else {}
    return EventSummary(
        event_id=event.event_id,
        type=event.type,
        action=event.action,
        biz_step=event.biz_step,
        step=_step(event.biz_step),
        disposition=event.disposition,
        event_time=event.event_time,
        read_point=event.read_point,
        biz_location=event.biz_location,
        line_id=event.line_id,
        via=via,
        destinations=_list_of(document, "destinationList", "destination"),
        sources=_list_of(document, "sourceList", "source"),
    )


def _ilmd(event: Event) -> dict[str, Any]:
    document = event.document if isinstance(event.document, dict) else {}
    ilmd = document.get("ilmd")
    return ilmd if isinstance(ilmd, dict) else {}


def _ilmd_value(ilmd: dict[str, Any], name: str) -> Any:
    for key, value in ilmd.items():
        if key == name or key.endswith(":" + name):
            return value
    return None


def _as_date(value: Any) -> date | None:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def active_recall(session: Session, gtin: str | None, lot: str | None) -> Recall | None:
    """The recall in force for this GTIN and lot (or all its lots), if any."""
    if not gtin:
        return None
    lot_match = (
        Recall.lot.is_(None) if lot is None else or_(Recall.lot.is_(None), Recall.lot == lot)
    )
    query = (
        select(Recall)
        .where(Recall.gtin == gtin, Recall.lifted_at.is_(None), lot_match)
        .order_by(Recall.issued_at.desc())
        .limit(1)
    )
    return session.scalar(query)


def scan_count(session: Session, ref: CodeRef) -> int:
    """How many consumer scans this code has had (per serial, else per lot)."""
    if not ref.gtin:
        return 0
    query = select(func.count()).select_from(ConsumerScan).where(ConsumerScan.gtin == ref.gtin)
    if ref.serial:
        query = query.where(ConsumerScan.serial == ref.serial)
    elif ref.lot:
        query = query.where(ConsumerScan.lot == ref.lot, ConsumerScan.serial.is_(None))
    return int(session.scalar(query) or 0)


def with_company_prefix(
    session: Session, ref: CodeRef, organisation: Organisation | None = None
) -> CodeRef:
    """``ref`` with the GS1 Company Prefix of its key, when a registered one matches.

    The producer's own prefix (``organisation``) is tried first, then every registered
    organisation's; the longest matching prefix wins. Without a prefix, no EPC URN
    identifiers can be formed, only Digital Link ones.
    """
    if ref.company_prefix is not None:
        return ref
    key = ref.gtin or ref.sscc
    if key is None:
        return ref
    own = organisation.gs1_company_prefix if organisation is not None else None
    if own and key[1:].startswith(own):
        return replace(ref, company_prefix=own)
    if organisation is not None:
        return ref
    registered = session.scalars(
        select(Organisation.gs1_company_prefix)
        .where(Organisation.gs1_company_prefix.is_not(None))
        .distinct()
    )
    matching = [prefix for prefix in registered if prefix and key[1:].startswith(prefix)]
    return replace(ref, company_prefix=max(matching, key=len)) if matching else ref


def _children(session: Session, ref: CodeRef, own: Sequence[str]) -> list[str]:
    """What a case or pallet holds now."""
    if not ref.sscc or not own:
        return []
    return list(
        session.scalars(
            select(Containment.child_epc)
            .where(Containment.parent_epc.in_(own))
            .order_by(Containment.child_epc)
            .limit(1000)
        )
    )


@dataclass(slots=True)
class _History:
    """The events that name a code (or its containers), and what they say about it."""

    events: list[EventSummary] = field(default_factory=list)
    commissioned: EventSummary | None = None
    lot: str | None = None
    #: The lot the commissioning event gave the unit (its ILMD), whatever the code says.
    commissioned_lot: str | None = None
    production: date | None = None
    expiry: date | None = None
    line_id: str | None = None
    voided: bool = False

    def add(self, event: Event, via: str) -> None:
        summary = _summary(event, via)
        self.events.append(summary)
        if summary.via != "self":
            return
        if summary.step == "commissioning" and self.commissioned is None:
            self.commissioned = summary
            self.line_id = event.line_id
            ilmd = _ilmd(event)
            issued_lot = _ilmd_value(ilmd, "lotNumber")
            self.commissioned_lot = issued_lot if isinstance(issued_lot, str) else None
            self.lot = self.lot or issued_lot
            self.production = self.production or _as_date(_ilmd_value(ilmd, "productionDate"))
            self.expiry = self.expiry or _as_date(_ilmd_value(ilmd, "itemExpirationDate"))
        if summary.step in _DECOMMISSION_STEPS or (summary.disposition or "").endswith(
            ("inactive", "destroyed")
        ):
            self.voided = True


def _history(session: Session, ref: CodeRef, via_of: dict[str, str]) -> _History:
    """Every event naming one of ``via_of``'s identifiers, oldest first, each once."""
    history = _History(lot=ref.lot, expiry=ref.expiry)
    if not via_of:
        return history
    rows = session.execute(
        select(Event, EventEpc.epc)
        .join(EventEpc, EventEpc.event_id == Event.event_id)
        .where(EventEpc.epc.in_(list(via_of)))
        .order_by(Event.event_time, Event.pk)
        .limit(2000)
    ).all()
    seen: set[str] = set()
    for event, epc in rows:
        if event.event_id not in seen:
            seen.add(event.event_id)
            history.add(event, via_of.get(epc, "self"))
    return history


def _origin(session: Session, product: Product | None, history: _History) -> Facility | None:
    """Where the code was made; fills the history's missing dates from its work order."""
    facility: Facility | None = None
    if history.line_id is not None:
        line = session.get(Line, history.line_id)
        facility = line.facility if line is not None else None
    if product is None or not history.lot or (history.production and history.expiry):
        return facility
    order = session.scalar(
        select(WorkOrder)
        .where(WorkOrder.product_id == product.id, WorkOrder.lot == history.lot)
        .order_by(WorkOrder.id)
        .limit(1)
    )
    if order is not None:
        history.production = history.production or order.production_date
        history.expiry = history.expiry or order.expiry_date
        if facility is None and order.line is not None:
            facility = order.line.facility
    return facility


def _lot_mismatch(ref: CodeRef, history: _History) -> bool:
    """A serialised code whose lot is not the one its unit was commissioned with."""
    issued = history.commissioned_lot
    return bool(ref.lot and ref.serial and issued is not None and issued != ref.lot)


def _verdict(
    ref: CodeRef,
    product: Product | None,
    history: _History,
    recall: Recall | None,
    today: date,
) -> Verdict:
    if ((ref.serial or ref.sscc) and history.commissioned is None and not history.events) or (
        not ref.serial and not ref.sscc and product is None
    ):
        return Verdict.UNKNOWN
    if history.voided:
        return Verdict.VOIDED
    if _lot_mismatch(ref, history):
        return Verdict.MISMATCH
    if recall is not None:
        return Verdict.RECALLED
    if history.expiry is not None and history.expiry < today:
        return Verdict.EXPIRED
    return Verdict.GENUINE


def trace(
    session: Session, ref: CodeRef, domains: Sequence[str], today: date | None = None
) -> TraceResult:
    """Everything known about ``ref``: product, producer, events, hierarchy and verdict.

    ``domains`` are the Digital Link hosts events may use for identifiers (the canonical
    ``https://id.gs1.org`` and the resolver's own).
    """
    product = session.scalar(select(Product).where(Product.gtin == ref.gtin)) if ref.gtin else None
    organisation = product.organisation if product is not None else None
    ref = with_company_prefix(session, ref, organisation)
    own = instance_identifiers(ref, domains)
    # Deeper hierarchies than unit/case/pallet/container are not real: 8 levels at most.
    parents = containers_of(session, own, limit=8)
    lot_ids = class_identifiers(ref, domains) if not own else []
    via_of = dict.fromkeys(own + lot_ids, "self")
    via_of.update(dict.fromkeys(parents, "parent"))
    history = _history(session, ref, via_of)
    facility = _origin(session, product, history)
    lot = history.lot if isinstance(history.lot, str) else None
    recall = active_recall(session, ref.gtin, history.lot)
    events = history.events
    return TraceResult(
        ref=ref,
        identifiers=tuple(own or lot_ids),
        product=product,
        organisation=organisation,
        facility=facility,
        verdict=_verdict(ref, product, history, recall, today or datetime.now(UTC).date()),
        lot=lot,
        production_date=history.production,
        expiry_date=history.expiry,
        commissioned=history.commissioned,
        parents=tuple(parents),
        children=tuple(_children(session, ref, own)),
        events=tuple(events),
        recall=recall,
        shipped_to=tuple(
            dict.fromkeys(d for e in events if e.step == "shipping" for d in e.destinations)
        ),
        received_from=tuple(
            dict.fromkeys(s for e in events if e.step == "receiving" for s in e.sources)
        ),
        scan_count=scan_count(session, ref),
    )


def trace_code(
    session: Session, code: str, domains: Sequence[str], scope: Scope = PROVINCE
) -> TraceResult:
    """Everything known about ``code``; :class:`GS1Error` when it cannot be read,
    :class:`NotFound` when nothing at all is known about it, or when it is another
    organisation's code and ``scope`` is limited to one."""
    ref = parse_code(code)
    result = trace(session, ref, domains)
    if result.product is None and not result.events:
        raise NotFound(f"nothing is known about {ref.described}")
    if not scope.province_wide and not scope.owns(_code_owner(session, result)):
        raise NotFound(f"nothing is known about {ref.described}")
    return result


def _code_owner(session: Session, result: TraceResult) -> int | None:
    """The organisation a traced code belongs to: its product's, else its prefix's."""
    if result.organisation is not None:
        return result.organisation.id
    digits = result.ref.gtin or result.ref.sscc
    return prefix_owner(session, digits[1:]) if digits else None
