"""Work orders (sent to a line's command topic) and serial blocks reserved to lines.

A work order is created as a draft; each action (load, start, pause, close) is published
to ``lineside/v1/{site}/{line}/commands`` and the state changes only once the broker has
acknowledged the command.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lineside import contract
from lineside.contract import IDENTIFIER, WorkOrderAction
from lineside.errors import ContractError, TransportError
from server.api.deps import OperatorUser, ReaderUser, SessionDep, TechnicianUser
from server.api.routes.audit import Reason, audit_action
from server.api.routes.masterdata import GtinField
from server.db.models import (
    IssuedSerial,
    Line,
    LineCommand,
    Product,
    SerialBlock,
    WorkOrder,
    WorkOrderState,
)
from server.services.commands import CommandPublisher

logger = logging.getLogger(__name__)

router = APIRouter(tags=["production"])

#: Serial characters: digits and capitals without 0/1/I/O, which people misread.
SERIAL_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
#: Largest chance of guessing a valid serial (EU FMD asks for less than 1 in 10,000).
MAX_GUESS_PROBABILITY = 1 / 10_000

_TRANSITIONS: dict[WorkOrderAction, tuple[frozenset[WorkOrderState], WorkOrderState]] = {
    WorkOrderAction.LOAD: (
        frozenset({WorkOrderState.DRAFT, WorkOrderState.RELEASED}),
        WorkOrderState.RELEASED,
    ),
    WorkOrderAction.START: (
        frozenset({WorkOrderState.RELEASED, WorkOrderState.PAUSED}),
        WorkOrderState.RUNNING,
    ),
    WorkOrderAction.PAUSE: (frozenset({WorkOrderState.RUNNING}), WorkOrderState.PAUSED),
    WorkOrderAction.CLOSE: (
        frozenset({WorkOrderState.RELEASED, WorkOrderState.RUNNING, WorkOrderState.PAUSED}),
        WorkOrderState.CLOSED,
    ),
}


def _publisher(request: Request) -> CommandPublisher:
    publisher: CommandPublisher = request.app.state.command_publisher
    return publisher


def _send(
    request: Request,
    session: Session,
    line: Line,
    message: contract.WorkOrderCommand | contract.SerialBlockCommand,
    who: str,
) -> None:
    """Publish ``message`` to the line and record it; 503 if the broker did not take it."""
    topic = contract.Topics(site=line.site, line=line.id).commands
    try:
        _publisher(request).publish(topic, contract.encode(message))
    except TransportError as exc:
        logger.warning("command %s to %s not delivered: %s", message.command_id, topic, exc)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"the broker did not take the command: {exc}"
        ) from exc
    session.add(
        LineCommand(
            id=message.command_id,
            line_id=line.id,
            kind=message.kind,
            payload=message.model_dump(mode="json"),
            issued_at=datetime.now(UTC),
            issued_by=who,
        )
    )


# --------------------------------------------------------------------------- work orders


class WorkOrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(pattern=IDENTIFIER.pattern, description="Reference unique per line.")
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
    line_id: Annotated[str | None, Query(max_length=64)] = None,
    state: WorkOrderState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[WorkOrder]:
    """Work orders, newest first."""
    query = select(WorkOrder).order_by(WorkOrder.id.desc()).limit(limit)
    if line_id is not None:
        query = query.where(WorkOrder.line_id == line_id)
    if state is not None:
        query = query.where(WorkOrder.state == state)
    return list(session.scalars(query))


@router.post("/work-orders", response_model=WorkOrderOut, status_code=201)
def create_work_order(
    body: WorkOrderIn,
    request: Request,
    session: SessionDep,
    user: OperatorUser,
    reason: Reason = "",
) -> WorkOrder:
    """Create a work order and load it on its line (published to the command topic)."""
    line = session.get(Line, body.line_id)
    if line is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"lines: no {body.line_id!r}")
    if session.get(Product, body.product_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"products: no {body.product_id!r}")
    clash = select(WorkOrder.id).where(
        WorkOrder.line_id == body.line_id, WorkOrder.code == body.code
    )
    if session.scalar(clash) is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"work order {body.code!r} already exists on {line.id!r}"
        )
    order = WorkOrder(**body.model_dump(), state=WorkOrderState.DRAFT)
    session.add(order)
    session.flush()
    _apply(request, session, order, line, WorkOrderAction.LOAD, user.username)
    audit_action(
        session,
        user,
        "work_order.create",
        f"work_order:{order.id}",
        reason=reason,
        details={"code": order.code, "line": line.id, "lot": order.lot},
    )
    return order


@router.get("/work-orders/{work_order_id}", response_model=WorkOrderOut)
def get_work_order(work_order_id: int, session: SessionDep, _: ReaderUser) -> WorkOrder:
    """One work order."""
    order = session.get(WorkOrder, work_order_id)
    if order is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"work_orders: no {work_order_id}")
    return order


@router.post("/work-orders/{work_order_id}/actions", response_model=WorkOrderOut)
def act_on_work_order(
    work_order_id: int,
    body: WorkOrderActionIn,
    request: Request,
    session: SessionDep,
    user: OperatorUser,
    *,
    reason: Reason = "",
) -> WorkOrder:
    """Load, start, pause or close a work order on its line."""
    order = session.get(WorkOrder, work_order_id)
    if order is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"work_orders: no {work_order_id}")
    _apply(request, session, order, order.line, body.action, user.username)
    audit_action(
        session,
        user,
        f"work_order.{body.action.value}",
        f"work_order:{order.id}",
        reason=reason,
        details={"code": order.code, "line": order.line_id, "state": order.state.value},
    )
    return order


def _apply(  # noqa: PLR0917 - one call site per action, all arguments needed
    request: Request,
    session: Session,
    order: WorkOrder,
    line: Line,
    action: WorkOrderAction,
    who: str,
) -> None:
    allowed_from, target = _TRANSITIONS[action]
    if order.state not in allowed_from:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"cannot {action.value} a work order that is {order.state.value}",
        )
    product = order.product
    ocop = None
    if product.ocop_group is not None and product.ocop_stars is not None:
        # The contract names the herbs group "herbs"; the database says "medicinal_herbs".
        group = "herbs" if product.ocop_group.value == "medicinal_herbs" else product.ocop_group
        ocop = contract.OcopInfo.model_validate(
            {
                "group": str(group),
                "stars": product.ocop_stars,
                "certificate": product.certificate_number,
                "valid_until": product.certificate_valid_until,
            }
        )
    try:
        payload_order = (
            contract.WorkOrder(
                id=order.code,
                product=contract.ProductInfo(
                    gtin=product.gtin,
                    name_vi=product.name_vi[:200],
                    name_en=product.name_en[:200] or None,
                    ocop=ocop,
                ),
                lot=order.lot,
                production_date=order.production_date or datetime.now(UTC).date(),
                expiry_date=order.expiry_date,
                best_before=order.best_before_date,
                quantity=order.quantity,
                units_per_case=order.units_per_case or 1,
                unit_template=order.label_template or "unit",
            )
            if action is WorkOrderAction.LOAD
            else None
        )
        message = contract.WorkOrderCommand(
            command_id=f"wo-{uuid.uuid4().hex[:16]}",
            action=action,
            work_order_id=order.code,
            order=payload_order,
            issued_by=who,
        )
    except (ValueError, ContractError) as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"work order cannot be sent: {exc}"
        ) from exc
    _send(request, session, line, message, who)
    order.state = target
    now = datetime.now(UTC)
    if target is WorkOrderState.RUNNING and order.started_at is None:
        order.started_at = now
    if target is WorkOrderState.CLOSED:
        order.closed_at = now


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


def random_serials(length: int, count: int) -> list[str]:
    """``count`` distinct random serials of ``length`` characters.

    With 12 characters of a 32-letter alphabet the chance of guessing a valid serial
    stays far below 1 in 10,000 even after billions of units.

    >>> [len(s) for s in random_serials(12, 3)]
    [12, 12, 12]
    """
    drawn: dict[str, None] = {}
    while len(drawn) < count:
        drawn["".join(secrets.choice(SERIAL_ALPHABET) for _ in range(length))] = None
    return list(drawn)


@router.post("/lines/{line_id}/serial-blocks", response_model=SerialBlockOut, status_code=201)
def issue_serial_block(
    line_id: str,
    body: SerialBlockIn,
    request: Request,
    session: SessionDep,
    user: TechnicianUser,
    *,
    reason: Reason = "",
) -> SerialBlockOut:
    """Reserve a block of random serials for a line and (by default) send it to the line.

    Every serial is recorded per GTIN with a unique key, so two lines never receive the
    same serial; a serial already issued is drawn again.
    """
    line = session.get(Line, line_id)
    if line is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"lines: no {line_id!r}")
    if body.work_order_id is not None and session.get(WorkOrder, body.work_order_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"work_orders: no {body.work_order_id}")
    space = len(SERIAL_ALPHABET) ** body.serial_length
    issued_before = session.scalar(
        select(func.count()).select_from(IssuedSerial).where(IssuedSerial.gtin == body.gtin)
    )
    if (int(issued_before or 0) + body.count) / space > MAX_GUESS_PROBABILITY:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"serial_length {body.serial_length} is too short for this many serials of GTIN "
            f"{body.gtin}: they would become guessable",
        )
    block = SerialBlock(
        id=f"sb-{uuid.uuid4().hex[:20]}",
        gtin=body.gtin,
        line_id=line.id,
        work_order_id=body.work_order_id,
        count=body.count,
        issued_at=datetime.now(UTC),
    )
    session.add(block)
    session.flush()
    serials: list[str] = []
    for _attempt in range(10):
        wanted = body.count - len(serials)
        if wanted == 0:
            break
        fresh = [s for s in random_serials(body.serial_length, wanted) if s not in serials]
        taken = set(
            session.scalars(
                select(IssuedSerial.serial).where(
                    IssuedSerial.gtin == body.gtin, IssuedSerial.serial.in_(fresh)
                )
            )
        )
        fresh = [s for s in fresh if s not in taken]
        try:
            # A savepoint: a concurrent block that drew the same serial only costs a redraw.
            with session.begin_nested():
                session.add_all(
                    IssuedSerial(gtin=body.gtin, serial=s, block_id=block.id) for s in fresh
                )
        except IntegrityError:
            continue
        serials += fresh
    if len(serials) != body.count:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"could not draw {body.count} free serials; try again"
        )
    if body.publish:
        _send(
            request,
            session,
            line,
            contract.SerialBlockCommand(
                command_id=f"sb-{uuid.uuid4().hex[:16]}",
                block_id=block.id,
                gtin=block.gtin,
                serials=tuple(serials),
            ),
            user.username,
        )
    audit_action(
        session,
        user,
        "serial_block.issue",
        f"serial_block:{block.id}",
        reason=reason,
        details={
            "gtin": block.gtin,
            "line": line.id,
            "count": block.count,
            "work_order_id": block.work_order_id,
            "published": body.publish,
        },
    )
    return SerialBlockOut(
        id=block.id,
        gtin=block.gtin,
        line_id=block.line_id,
        work_order_id=block.work_order_id,
        count=block.count,
        issued_at=block.issued_at,
        published=body.publish,
        serials=serials,
    )
