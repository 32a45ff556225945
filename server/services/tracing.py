"""What the server knows about one code: parsing, identifiers, history and verdict.

No HTTP here: the trace API, the Digital Link resolver and the dashboard all call
:func:`parse_code` then :func:`trace`.

>>> ref = parse_code("(01)08934567890120(10)L1(21)ABC")
>>> ref.gtin, ref.lot, ref.serial
('08934567890120', 'L1', 'ABC')
>>> parse_code("urn:epc:id:sscc:0893456.0789123456").sscc
'008934567891234562'
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import biip
from biip.gs1_messages import GS1Message
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from lineside.errors import GS1Error
from lineside.gs1.keys import gs1_check_digit
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

logger = logging.getLogger(__name__)

CANONICAL_DOMAIN = "https://id.gs1.org"
_SGTIN_URN = re.compile(r"^urn:epc:id:sgtin:(\d+)\.(\d+)\.(.+)$")
_SSCC_URN = re.compile(r"^urn:epc:id:sscc:(\d+)\.(\d+)$")
_DECOMMISSION_STEPS = ("decommissioning", "destroying")


class Verdict(enum.StrEnum):
    """What a consumer is told about a code."""

    GENUINE = "genuine"
    UNKNOWN = "unknown"
    RECALLED = "recalled"
    EXPIRED = "expired"
    VOIDED = "voided"


@dataclass(frozen=True, slots=True)
class CodeRef:
    """A code reduced to its GS1 keys and attributes."""

    gtin: str | None = None
    lot: str | None = None
    serial: str | None = None
    sscc: str | None = None
    expiry: date | None = None
    company_prefix: str | None = None

    @property
    def described(self) -> str:
        """A short human form: ``(01)…(10)…(21)…`` or ``(00)…``."""
        if self.sscc:
            return f"(00){self.sscc}"
        parts = [f"(01){self.gtin}"]
        if self.lot:
            parts.append(f"(10){self.lot}")
        if self.serial:
            parts.append(f"(21){self.serial}")
        return "".join(parts)


def _from_message(message: GS1Message) -> CodeRef:
    values: dict[str, str] = {}
    expiry: date | None = None
    prefix: str | None = None
    for element in message.element_strings:
        if element.gtin_error or element.sscc_error:
            raise GS1Error(f"AI ({element.ai.ai}): {element.gtin_error or element.sscc_error}")
        values.setdefault(element.ai.ai, element.value)
        if element.ai.ai == "17" and element.date is not None:
            expiry = element.date
        if element.gtin is not None and element.gtin.company_prefix is not None:
            prefix = element.gtin.company_prefix.value
        if element.sscc is not None and element.sscc.company_prefix is not None:
            prefix = element.sscc.company_prefix.value
    if "00" not in values and "01" not in values:
        raise GS1Error("code carries neither a GTIN (01) nor an SSCC (00)")
    return CodeRef(
        gtin=values.get("01"),
        lot=values.get("10"),
        serial=values.get("21"),
        sscc=values.get("00"),
        expiry=expiry,
        company_prefix=prefix,
    )


def parse_code(text: str) -> CodeRef:
    """Parse a Digital Link URI, an element string (HRI or with GS) or an EPC URN.

    Raises :class:`GS1Error` saying why the code cannot be used.
    """
    text = text.strip()
    if not text or len(text) > 2000:
        raise GS1Error("code is empty or longer than 2000 characters")
    if text.startswith("urn:epc:id:"):
        return _parse_urn(text)
    if text.startswith("("):
        try:
            return _from_message(GS1Message.parse_hri(text))
        except (biip.ParseError, IndexError, ValueError) as exc:
            raise GS1Error(f"element string {text!r}: {exc}") from exc
    try:
        result = biip.parse(text)
    except (biip.ParseError, IndexError, ValueError, KeyError) as exc:
        # biip is meant never to raise, but a bare "]x" trips its symbology reader.
        raise GS1Error(f"code {text[:80]!r}: cannot be read as GS1 data") from exc
    if result.gs1_digital_link_uri is not None:
        return _from_message(result.gs1_digital_link_uri.as_gs1_message())
    if result.gs1_message is not None:
        return _from_message(result.gs1_message)
    reason = result.gs1_digital_link_uri_error or result.gs1_message_error or "not a GS1 code"
    raise GS1Error(f"code {text[:80]!r}: {reason}")


def _parse_urn(text: str) -> CodeRef:
    if match := _SGTIN_URN.match(text):
        company, item, serial = match.groups()
        if len(company) + len(item) != 13:
            raise GS1Error(f"SGTIN URN {text!r}: company prefix and item reference need 13 digits")
        body = item[0] + company + item[1:]
        return CodeRef(
            gtin=body + gs1_check_digit(body),
            serial=_unescape_urn(serial),
            company_prefix=company,
        )
    if match := _SSCC_URN.match(text):
        company, serial_ref = match.groups()
        if len(company) + len(serial_ref) != 17:
            raise GS1Error(f"SSCC URN {text!r}: company prefix and serial reference need 17 digits")
        body = serial_ref[0] + company + serial_ref[1:]
        return CodeRef(sscc=body + gs1_check_digit(body), company_prefix=company)
    raise GS1Error(f"EPC URN {text!r}: only sgtin and sscc are supported")


def _unescape_urn(value: str) -> str:
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value)


def _escape_urn(value: str) -> str:
    # EPC URNs percent-encode the characters of CSET 82 that URNs reserve.
    return "".join(c if c.isalnum() or c in "-_.:*'()!,;=+" else f"%{ord(c):02X}" for c in value)


def trace_domains(resolver_domain: str) -> list[str]:
    """Digital Link hosts events may use: the canonical one and this resolver's.

    >>> trace_domains("https://id.example.vn")
    ['https://id.gs1.org', 'https://id.example.vn']
    """
    return list(dict.fromkeys([CANONICAL_DOMAIN, resolver_domain]))


def instance_identifiers(ref: CodeRef, domains: Sequence[str]) -> list[str]:
    """The identifiers under which events may name this unit, case or pallet.

    >>> instance_identifiers(CodeRef(gtin="08934567890120", serial="A1",
    ...     company_prefix="8934567"), ["https://id.gs1.org"])
    ['https://id.gs1.org/01/08934567890120/21/A1', 'urn:epc:id:sgtin:8934567.089012.A1']
    """
    found: list[str] = []
    if ref.sscc:
        found += [f"{domain}/00/{ref.sscc}" for domain in domains]
        if ref.company_prefix:
            n = len(ref.company_prefix)
            found.append(
                f"urn:epc:id:sscc:{ref.company_prefix}.{ref.sscc[0]}{ref.sscc[n + 1 : 17]}"
            )
    elif ref.gtin and ref.serial:
        serial = quote(ref.serial, safe="")
        found += [f"{domain}/01/{ref.gtin}/21/{serial}" for domain in domains]
        if ref.company_prefix:
            n = len(ref.company_prefix)
            item = ref.gtin[0] + ref.gtin[n + 1 : 13]
            found.append(f"urn:epc:id:sgtin:{ref.company_prefix}.{item}.{_escape_urn(ref.serial)}")
    return found


def class_identifiers(ref: CodeRef, domains: Sequence[str]) -> list[str]:
    """The class-level (GTIN + lot) identifiers of a code, as quantity lists name them."""
    if not ref.gtin or not ref.lot:
        return []
    lot = quote(ref.lot, safe="")
    found = [f"{domain}/01/{ref.gtin}/10/{lot}" for domain in domains]
    if ref.company_prefix:
        n = len(ref.company_prefix)
        item = ref.gtin[0] + ref.gtin[n + 1 : 13]
        found.append(f"urn:epc:class:lgtin:{ref.company_prefix}.{item}.{_escape_urn(ref.lot)}")
    return found


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


def _ancestors(session: Session, identifiers: Sequence[str]) -> list[str]:
    """Parents of the first identifier that is packed, then their parents (case, pallet…)."""
    chain: list[str] = []
    current = list(identifiers)
    for _ in range(8):  # deeper hierarchies than unit/case/pallet/container are not real
        parent = session.scalar(
            select(Containment.parent_epc).where(Containment.child_epc.in_(current)).limit(1)
        )
        if parent is None or parent in chain:
            break
        chain.append(parent)
        current = [parent]
    return chain


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


def trace(
    session: Session, ref: CodeRef, domains: Sequence[str], today: date | None = None
) -> TraceResult:
    """Everything known about ``ref``: product, producer, events, hierarchy and verdict.

    ``domains`` are the Digital Link hosts events may use for identifiers (the canonical
    ``https://id.gs1.org`` and the resolver's own).
    """
    today = today or datetime.now(UTC).date()
    product = session.scalar(select(Product).where(Product.gtin == ref.gtin)) if ref.gtin else None
    organisation = product.organisation if product is not None else None
    if ref.company_prefix is None and organisation is not None:
        prefix = organisation.gs1_company_prefix
        if prefix and ref.gtin and ref.gtin[1:].startswith(prefix):
            ref = CodeRef(ref.gtin, ref.lot, ref.serial, ref.sscc, ref.expiry, prefix)
    own = instance_identifiers(ref, domains)
    parents = _ancestors(session, own) if own else []
    children: list[str] = []
    if ref.sscc and own:
        children = list(
            session.scalars(
                select(Containment.child_epc)
                .where(Containment.parent_epc.in_(own))
                .order_by(Containment.child_epc)
                .limit(1000)
            )
        )
    lot_ids = class_identifiers(ref, domains) if not own else []
    via_of = dict.fromkeys(own + lot_ids, "self")
    via_of.update(dict.fromkeys(parents, "parent"))
    rows = (
        session.execute(
            select(Event, EventEpc.epc)
            .join(EventEpc, EventEpc.event_id == Event.event_id)
            .where(EventEpc.epc.in_(list(via_of)))
            .order_by(Event.event_time, Event.pk)
            .limit(2000)
        ).all()
        if via_of
        else []
    )
    seen: set[str] = set()
    events: list[EventSummary] = []
    commissioned: EventSummary | None = None
    lot = ref.lot
    production: date | None = None
    expiry = ref.expiry
    line_id: str | None = None
    voided = False
    for event, epc in rows:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        summary = _summary(event, via_of.get(epc, "self"))
        events.append(summary)
        if summary.via != "self":
            continue
        if summary.step == "commissioning" and commissioned is None:
            commissioned = summary
            line_id = event.line_id
            ilmd = _ilmd(event)
            lot = lot or _ilmd_value(ilmd, "lotNumber")
            production = production or _as_date(_ilmd_value(ilmd, "productionDate"))
            expiry = expiry or _as_date(_ilmd_value(ilmd, "itemExpirationDate"))
        if summary.step in _DECOMMISSION_STEPS or (summary.disposition or "").endswith(
            ("inactive", "destroyed")
        ):
            voided = True
    facility: Facility | None = None
    if line_id is not None:
        line = session.get(Line, line_id)
        facility = line.facility if line is not None else None
    if product is not None and lot and (production is None or expiry is None):
        order = session.scalar(
            select(WorkOrder)
            .where(WorkOrder.product_id == product.id, WorkOrder.lot == lot)
            .order_by(WorkOrder.id)
            .limit(1)
        )
        if order is not None:
            production = production or order.production_date
            expiry = expiry or order.expiry_date
            if facility is None and order.line is not None:
                facility = order.line.facility
    recall = active_recall(session, ref.gtin, lot)
    if ((ref.serial or ref.sscc) and commissioned is None and not events) or (
        not ref.serial and not ref.sscc and product is None
    ):
        verdict = Verdict.UNKNOWN
    elif voided:
        verdict = Verdict.VOIDED
    elif recall is not None:
        verdict = Verdict.RECALLED
    elif expiry is not None and expiry < today:
        verdict = Verdict.EXPIRED
    else:
        verdict = Verdict.GENUINE
    shipped = tuple(
        dict.fromkeys(d for e in events if e.step == "shipping" for d in e.destinations)
    )
    received = tuple(dict.fromkeys(s for e in events if e.step == "receiving" for s in e.sources))
    return TraceResult(
        ref=ref,
        identifiers=tuple(own or lot_ids),
        product=product,
        organisation=organisation,
        facility=facility,
        verdict=verdict,
        lot=lot if isinstance(lot, str) else None,
        production_date=production,
        expiry_date=expiry,
        commissioned=commissioned,
        parents=tuple(parents),
        children=tuple(children),
        events=tuple(events),
        recall=recall,
        shipped_to=shipped,
        received_from=received,
        scan_count=scan_count(session, ref),
    )


def trace_code(session: Session, code: str, domains: Sequence[str]) -> TraceResult:
    """Everything known about ``code``; :class:`GS1Error` when it cannot be read,
    :class:`NotFound` when nothing at all is known about it."""
    ref = parse_code(code)
    result = trace(session, ref, domains)
    if result.product is None and not result.events:
        raise NotFound(f"nothing is known about {ref.described}")
    return result
