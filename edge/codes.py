"""The codes and events of one unit, case or pallet, built from the GS1 and EPCIS packages.

Everything the engine prints or reports about a code is made here, so the engine itself
speaks only of serials, SSCCs and reasons.

>>> unit_epc("08934567890128", "Ab3xK9")
'https://id.gs1.org/01/08934567890128/21/Ab3xK9'
>>> sscc_epc("089345670000000017")
'https://id.gs1.org/00/089345670000000017'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from lineside.contract import WorkOrder
from lineside.gs1.digital_link import GS1_RESOLVER_ROOT, percent_encode


def unit_epc(gtin: str, serial: str) -> str:
    """The canonical GS1 Digital Link EPC of a serialised unit (used in events)."""
    return f"{GS1_RESOLVER_ROOT}/01/{gtin}/21/{percent_encode(serial)}"


def sscc_epc(sscc: str) -> str:
    """The canonical GS1 Digital Link EPC of a case or pallet."""
    return f"{GS1_RESOLVER_ROOT}/00/{sscc}"


def location(gln: str, extension: str | None = None) -> str:
    """A GLN (with an optional 254 extension naming the line) as a Digital Link."""
    uri = f"{GS1_RESOLVER_ROOT}/414/{gln}"
    return uri if extension is None else f"{uri}/254/{percent_encode(extension)}"


def _yymmdd(day: date) -> str:
    return day.strftime("%y%m%d")


@dataclass(frozen=True, slots=True)
class UnitLabel:
    """One unit's label data, as the engine hands it to the unit printer.

    A printer driver lays it out with its template (:mod:`edge.printers.label_data` makes
    the Digital Link and the human-readable lines a template asks for).
    """

    serial: str
    gtin: str
    lot: str
    product_name: str
    product_name_en: str | None
    production_date: date
    expiry: date | None
    #: GS1 element string with GS separators (what the DataMatrix carries), validated.
    element_string: str


@dataclass(frozen=True, slots=True)
class ContainerLabel:
    """A case or pallet label: the SSCC and what it holds."""

    sscc: str
    level: str
    gtin: str
    lot: str
    count: int
    element_string: str
    hri: tuple[str, ...]
    #: What the case holds, for the text on its label.
    product_name: str = ""
    expiry: date | None = None


def unit_label(order: WorkOrder, serial: str) -> UnitLabel:
    """The label data of one unit of ``order``; raises ``GS1Error`` when it is not valid GS1."""
    from lineside.gs1 import GS1Message

    pairs = [("01", order.product.gtin), ("10", order.lot)]
    if order.expiry_date is not None:
        pairs.append(("17", _yymmdd(order.expiry_date)))
    pairs.append(("21", serial))
    message = GS1Message.from_pairs(pairs)
    message.validate()
    return UnitLabel(
        serial=serial,
        gtin=order.product.gtin,
        lot=order.lot,
        product_name=order.product.name_vi,
        product_name_en=order.product.name_en,
        production_date=order.production_date,
        expiry=order.expiry_date,
        element_string=message.as_raw(),
    )


def container_label(order: WorkOrder, sscc: str, *, level: str, count: int) -> ContainerLabel:
    """The label data of a case or pallet: SSCC, content GTIN, lot and count."""
    from lineside.gs1 import GS1Message

    message = GS1Message.from_pairs([("00", sscc)])
    return ContainerLabel(
        sscc=sscc,
        level=level,
        gtin=order.product.gtin,
        lot=order.lot,
        count=count,
        element_string=message.as_raw(),
        hri=tuple(message.as_hri()),
        product_name=order.product.name_vi,
        expiry=order.expiry_date,
    )


def build_sscc(company_prefix: str, reference: int, extension: int) -> str:
    """An 18-digit SSCC from the company prefix and a serial reference."""
    from lineside.gs1 import Sscc

    return Sscc.build(company_prefix, reference, extension=extension).value


@dataclass(frozen=True, slots=True)
class Where:
    """Read point and business location of a line's events."""

    read_point: str
    biz_location: str


def commissioning(
    order: WorkOrder, serials: list[str], *, when: datetime, where: Where
) -> dict[str, Any]:
    """ObjectEvent ADD commissioning (with lot and expiry) as JSON-LD with its hash eventID."""
    from lineside.epcis import commissioning_event

    event = commissioning_event(
        epcs=[unit_epc(order.product.gtin, s) for s in serials],
        event_time=when,
        read_point=where.read_point,
        biz_location=where.biz_location,
        lot=order.lot,
        expiry=order.expiry_date,
        production_date=order.production_date,
        best_before=order.best_before,
    )
    return _with_id(event)


class UnitCommissioning:
    """:func:`commissioning` of one unit at a time for one work order, prepared once
    (:class:`lineside.epcis.CommissioningTemplate`): what the line does for every unit."""

    def __init__(self, order: WorkOrder, where: Where) -> None:
        from lineside.epcis.builders import CommissioningTemplate

        self.order_id = order.id
        self.where = where
        self._gtin = order.product.gtin
        self._template = CommissioningTemplate(
            read_point=where.read_point,
            biz_location=where.biz_location,
            lot=order.lot,
            expiry=order.expiry_date,
            production_date=order.production_date,
            best_before=order.best_before,
        )

    def event(self, serial: str, *, when: datetime) -> dict[str, Any]:
        """The same as ``commissioning(order, [serial], when=when, where=where)``."""
        return self._template.event(unit_epc(self._gtin, serial), when)


def decommissioning(
    gtin: str, serials: list[str], *, when: datetime, where: Where, reason: str
) -> dict[str, Any]:
    """ObjectEvent decommissioning of rejected or voided labels, with the reason."""
    from lineside.epcis import decommissioning_event

    event = decommissioning_event(
        epcs=[unit_epc(gtin, s) for s in serials],
        event_time=when,
        read_point=where.read_point,
        biz_location=where.biz_location,
        reason=reason,
    )
    return _with_id(event)


def packing(
    parent_sscc: str, children: list[str], *, when: datetime, where: Where
) -> dict[str, Any]:
    """AggregationEvent ADD packing of children EPCs into an SSCC."""
    from lineside.epcis import packing_event

    event = packing_event(
        parent=sscc_epc(parent_sscc),
        children=children,
        event_time=when,
        read_point=where.read_point,
        biz_location=where.biz_location,
    )
    return _with_id(event)


def unpacking(
    parent_sscc: str, children: list[str], *, when: datetime, where: Where
) -> dict[str, Any]:
    """AggregationEvent DELETE unpacking: ``children`` EPCs taken out of an SSCC.

    Sent when a packed unit is voided, so the server's containment forgets it.
    """
    from lineside.epcis import unpacking_event

    event = unpacking_event(
        parent=sscc_epc(parent_sscc),
        children=children,
        event_time=when,
        read_point=where.read_point,
        biz_location=where.biz_location,
    )
    return _with_id(event)


def _with_id(event: Any) -> dict[str, Any]:
    from lineside.epcis import event_hash

    data: dict[str, Any] = event.to_jsonld()
    if not str(data.get("eventID", "")).startswith("ni:///"):
        data["eventID"] = event_hash(event)
    return data
