"""Work orders (sent to a line's command topic) and serial blocks reserved to lines."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lineside.contract import IDENTIFIER, WorkOrderAction
from server.api.deps import (
    OperatorUser,
    PublisherDep,
    ReaderUser,
    Reason,
    ScopeDep,
    SessionDep,
    TechnicianUser,
)
from server.api.fields import GtinField
from server.db.models import WorkOrder, WorkOrderState
from server.services import production

router = APIRouter(tags=["production"])


# --------------------------------------------------------------------------- work orders


class WorkOrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str | None = Field(
        default=None,
        pattern=IDENTIFIER.pattern,
        max_length=64,
        description="Reference, unique across lines; left out, the server makes one "
        "(<line>-<yyyymmdd>-<n>).",
    )
    line_id: str = Field(pattern=IDENTIFIER.pattern)
    product_id: int
    lot: str = Field(min_length=1, max_length=20, pattern=r"^[!-~]+$")
    production_date: date
    expiry_date: date | None = None
    best_before_date: date | None = None
    quantity: int = Field(gt=0, le=10_000_000)
    units_per_case: int = Field(default=24, gt=0, le=10_000)
    label_template: str = Field(default="unit", min_length=1, max_length=200)

    @model_validator(mode="after")
    def _dates_in_order(self) -> WorkOrderIn:
        for name in ("expiry_date", "best_before_date"):
            value = getattr(self, name)
            if value is not None and value < self.production_date:
                raise ValueError(f"{name} {value} is before production_date")
        return self


class WorkOrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    line_id: str
    product_id: int
    lot: str
    production_date: date | None
    expiry_date: date | None
    best_before_date: date | None
    quantity: int
    units_per_case: int | None
    label_template: str
    state: WorkOrderState
    allocated: int
    commissioned: int
    rejected: int
    sampled: int
    returned: int
    created_at: datetime
    started_at: datetime | None
    closed_at: datetime | None


class WorkOrderActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: WorkOrderAction


@router.get("/work-orders", response_model=list[WorkOrderOut])
def list_work_orders(
    session: SessionDep,
    _: ReaderUser,
    scope: ScopeDep,
    line_id: Annotated[str | None, Query(max_length=64)] = None,
    state: WorkOrderState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[WorkOrder]:
    """Work orders, newest first."""
    return production.list_work_orders(
        session, line_id=line_id, state=state, limit=limit, scope=scope
    )


@router.post("/work-orders", response_model=WorkOrderOut, status_code=201)
def create_work_order(
    body: WorkOrderIn,
    session: SessionDep,
    publisher: PublisherDep,
    user: OperatorUser,
    *,
    scope: ScopeDep,
    reason: Reason = "",
) -> WorkOrder:
    """Create a work order and load it on its line (published to the command topic)."""
    order = WorkOrder(**body.model_dump())
    return production.create_work_order(session, publisher, user, order, reason=reason, scope=scope)


@router.get("/work-orders/{work_order_id}", response_model=WorkOrderOut)
def get_work_order(
    work_order_id: int, session: SessionDep, _: ReaderUser, scope: ScopeDep
) -> WorkOrder:
    """One work order."""
    return production.get_work_order(session, work_order_id, scope)


@router.post("/work-orders/{work_order_id}/actions", response_model=WorkOrderOut)
def act_on_work_order(
    work_order_id: int,
    body: WorkOrderActionIn,
    session: SessionDep,
    publisher: PublisherDep,
    user: OperatorUser,
    *,
    scope: ScopeDep,
    reason: Reason = "",
) -> WorkOrder:
    """Load, start, pause or close a work order on its line."""
    return production.act_on_work_order(
        session, publisher, user, work_order_id, body.action, reason=reason, scope=scope
    )


# --------------------------------------------------------------------------- serial blocks


class SerialBlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gtin: GtinField
    count: int = Field(default=1000, gt=0, le=20_000, description="How many serials.")
    serial_length: int = Field(default=12, ge=8, le=20)
    work_order_id: int | None = None
    publish: bool = Field(default=True, description="Also send the block to the line.")


class SerialBlockOut(BaseModel):
    id: str
    gtin: str
    line_id: str
    work_order_id: int | None
    count: int
    issued_at: datetime
    published: bool
    serials: list[str]


@router.post("/lines/{line_id}/serial-blocks", response_model=SerialBlockOut, status_code=201)
def issue_serial_block(
    line_id: str,
    body: SerialBlockIn,
    session: SessionDep,
    publisher: PublisherDep,
    user: TechnicianUser,
    *,
    scope: ScopeDep,
    reason: Reason = "",
) -> SerialBlockOut:
    """Reserve a block of random serials for a line and (by default) send it to the line.

    Every serial is recorded per GTIN with a unique key, so two lines never receive the
    same serial; a serial already issued is drawn again.
    """
    wanted = production.SerialBlockRequest(**body.model_dump())
    block, serials = production.issue_serial_block(
        session, publisher, user, line_id, wanted, reason=reason, scope=scope
    )
    return SerialBlockOut(
        id=block.id,
        gtin=block.gtin,
        line_id=block.line_id,
        work_order_id=block.work_order_id,
        count=block.count,
        issued_at=block.issued_at,
        published=wanted.publish,
        serials=serials,
    )
