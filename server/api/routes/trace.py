"""Trace queries (``GET /trace/{code}``) and lot recalls (``/recalls``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from server.api.deps import (
    InspectorUser,
    ReaderUser,
    ReadSessionDep,
    RequiredReason,
    ScopeDep,
    SessionDep,
    SettingsDep,
)
from server.api.fields import GtinField
from server.db.models import Facility, Organisation, Recall
from server.services import recalls
from server.services.tracing import TraceResult, Verdict, trace_code, trace_domains

router = APIRouter(tags=["trace"])


class PartyOut(BaseModel):
    name: str
    address: str
    tax_id: str | None = None
    gln: str | None = None
    district: str = ""
    province: str = ""


class ProductSummary(BaseModel):
    gtin: str
    name_vi: str
    name_en: str
    brand: str
    origin: str
    ocop_group: str | None
    ocop_stars: int | None
    certificate_number: str | None


class EventOut(BaseModel):
    event_id: str
    type: str
    action: str | None
    biz_step: str | None
    disposition: str | None
    event_time: datetime
    read_point: str | None
    biz_location: str | None
    line_id: str | None
    via: str = Field(description="'self' when the event names the code, 'parent' for a container.")
    destinations: list[str]
    sources: list[str]


class RecallOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    gtin: str
    lot: str | None
    reason: str
    issued_by: str
    issued_at: datetime
    lifted_at: datetime | None


class TraceOut(BaseModel):
    code: str
    gtin: str | None
    lot: str | None
    serial: str | None
    sscc: str | None
    identifiers: list[str]
    status: Verdict
    product: ProductSummary | None
    producer: PartyOut | None
    facility: PartyOut | None
    production_date: date | None
    expiry_date: date | None
    commissioned: EventOut | None
    packed_in: list[str] = Field(description="Case, then pallet… that hold the code now.")
    contains: list[str]
    one_step_back: list[str] = Field(description="Where it came from (producer, sources).")
    one_step_forward: list[str] = Field(description="Where it went (shipping destinations).")
    recall: RecallOut | None
    consumer_scans: int
    events: list[EventOut]


def _event_out(summary: object) -> EventOut:
    return EventOut.model_validate(summary, from_attributes=True)


def _party_out(party: Organisation | Facility | None) -> PartyOut | None:
    # An organisation and a facility read alike; only the organisation has a tax id.
    return None if party is None else PartyOut.model_validate(party, from_attributes=True)


def trace_out(result: TraceResult) -> TraceOut:
    """The API view of a trace."""
    org, product, facility = result.organisation, result.product, result.facility
    back = list(result.received_from)
    if facility is not None and facility.gln:
        back.insert(0, f"urn:epc:id:sgln:{facility.gln}")
    elif org is not None:
        back.insert(0, org.name)
    return TraceOut(
        code=result.ref.described,
        gtin=result.ref.gtin,
        lot=result.lot,
        serial=result.ref.serial,
        sscc=result.ref.sscc,
        identifiers=list(result.identifiers),
        status=result.verdict,
        product=None
        if product is None
        else ProductSummary(
            gtin=product.gtin,
            name_vi=product.name_vi,
            name_en=product.name_en,
            brand=product.brand,
            origin=product.origin,
            ocop_group=product.ocop_group.value if product.ocop_group else None,
            ocop_stars=product.ocop_stars,
            certificate_number=product.certificate_number,
        ),
        producer=_party_out(org),
        facility=_party_out(facility),
        production_date=result.production_date,
        expiry_date=result.expiry_date,
        commissioned=_event_out(result.commissioned) if result.commissioned else None,
        packed_in=list(result.parents),
        contains=list(result.children),
        one_step_back=back,
        one_step_forward=list(result.shipped_to),
        recall=RecallOut.model_validate(result.recall) if result.recall else None,
        consumer_scans=result.scan_count,
        events=[_event_out(e) for e in result.events],
    )


@router.get("/trace/{code:path}", response_model=TraceOut)
def get_trace(
    code: Annotated[str, Path(max_length=2000, description="DL URI, element string or EPC")],
    read: ReadSessionDep,
    settings: SettingsDep,
    _: ReaderUser,
    scope: ScopeDep,
) -> TraceOut:
    """Everything known about a unit, case, pallet or lot: one step back, one step forward.

    Read from the read replica when one is configured and within its lag limit: a code
    captured less than ``replica_max_lag_seconds`` ago may not be found yet."""
    result = trace_code(read, code, trace_domains(settings.resolver_domain), scope)
    return trace_out(result)


class RecallIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    gtin: GtinField
    lot: str | None = Field(default=None, min_length=1, max_length=20)
    reason: str = Field(min_length=1, max_length=5000)


@router.get("/recalls", response_model=list[RecallOut])
def list_recalls(
    session: SessionDep,
    _: ReaderUser,
    scope: ScopeDep,
    active: bool = True,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Recall]:
    """Recalls, newest first (only those in force unless ``active=false``)."""
    return recalls.list_recalls(session, active_only=active, limit=limit, scope=scope)


@router.post("/recalls", response_model=RecallOut, status_code=201)
def create_recall(body: RecallIn, session: SessionDep, user: InspectorUser) -> Recall:
    """Recall one lot of a GTIN (or all its lots when ``lot`` is omitted)."""
    return recalls.create_recall(session, user, gtin=body.gtin, lot=body.lot, reason=body.reason)


@router.post("/recalls/{recall_id}/lift", response_model=RecallOut)
def lift_recall(
    recall_id: int,
    session: SessionDep,
    user: InspectorUser,
    scope: ScopeDep,
    reason: RequiredReason,
) -> Recall:
    """End a recall, saying why (``reason``, kept in the audit trail)."""
    return recalls.lift_recall(session, user, recall_id, reason=reason, scope=scope)
