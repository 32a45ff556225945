"""Work orders (sent to a line's command topic) and serial blocks reserved to lines.

A work order is created as a draft; each action (load, start, pause, close) is published
to ``lineside/v1/{site}/{line}/commands`` and the state changes only once the broker has
acknowledged the command. A serial block is a set of random serials recorded per GTIN
with a unique key, so two lines never receive the same serial. Business users reach only
their organisation's lines, products and work orders (:mod:`server.services.tenancy`), and
a line gets work orders and serials only for its own organisation's GTINs.

>>> [len(s) for s in random_serials(12, 3)]
[12, 12, 12]
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lineside import contract
from lineside.contract import WorkOrderAction
from lineside.errors import ContractError, InvalidInput, TransportError
from server.db.models import (
    IssuedSerial,
    Line,
    LineCommand,
    Product,
    SerialBlock,
    WorkOrder,
    WorkOrderState,
)
from server.errors import Conflict
from server.services.audit import Actor, audit_action
from server.services.commands import CommandPublisher
from server.services.masterdata import prefix_owner
from server.services.tenancy import PROVINCE, Scope, get_scoped, scoped

logger = logging.getLogger(__name__)

#: Serial characters: digits and capitals without 0/1/I/O, which people misread.
SERIAL_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
#: Largest chance of guessing a valid serial (EU FMD asks for less than 1 in 10,000).
MAX_GUESS_PROBABILITY = 1 / 10_000
#: Rounds of drawing before a block that keeps colliding is given up.
_DRAW_ROUNDS = 10

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


def _send(
    session: Session,
    publisher: CommandPublisher,
    line: Line,
    message: contract.WorkOrderCommand | contract.SerialBlockCommand,
    who: str,
) -> None:
    """Publish ``message`` to the line and record it; :class:`TransportError` if the
    broker did not take it."""
    topic = contract.Topics(site=line.site, line=line.id).commands
    try:
        publisher.publish(topic, contract.encode(message))
    except TransportError as exc:
        logger.warning("command %s to %s not delivered: %s", message.command_id, topic, exc)
        raise TransportError(f"the broker did not take the command: {exc}") from exc
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


def list_work_orders(
    session: Session,
    *,
    line_id: str | None,
    state: WorkOrderState | None,
    limit: int,
    scope: Scope = PROVINCE,
) -> list[WorkOrder]:
    """Work orders, newest first, of one line and in one state when given."""
    query = scoped(select(WorkOrder), WorkOrder, scope).order_by(WorkOrder.id.desc()).limit(limit)
    if line_id is not None:
        query = query.where(WorkOrder.line_id == line_id)
    if state is not None:
        query = query.where(WorkOrder.state == state)
    return list(session.scalars(query))


def get_work_order(session: Session, work_order_id: int, scope: Scope = PROVINCE) -> WorkOrder:
    """One work order within ``scope``; :class:`NotFound` otherwise."""
    return get_scoped(session, WorkOrder, work_order_id, scope)


def _check_gtin_of_line(session: Session, line: Line, gtin: str) -> None:
    """Refuse a GTIN that is not the line's organisation's own."""
    product_owner = session.scalar(select(Product.organisation_id).where(Product.gtin == gtin))
    owner = product_owner if product_owner is not None else prefix_owner(session, gtin[1:])
    if line.organisation_id is None or owner != line.organisation_id:
        raise InvalidInput(f"GTIN {gtin} does not belong to the organisation of line {line.id!r}")


def create_work_order(
    session: Session,
    publisher: CommandPublisher,
    actor: Actor,
    order: WorkOrder,
    *,
    reason: str = "",
    scope: Scope = PROVINCE,
) -> WorkOrder:
    """Store ``order`` (a new draft) and load it on its line."""
    line = get_scoped(session, Line, order.line_id, scope)
    product = get_scoped(session, Product, order.product_id, scope)
    if product.organisation_id != line.organisation_id:
        raise InvalidInput(
            f"product {product.id} does not belong to the organisation of line {line.id!r}"
        )
    if not order.code:
        order.code = next_work_order_code(session, line.id, datetime.now(UTC).date())
    # The code names the order on the line's screen, in its reports and its events: two
    # lines must never hold the same one.
    holder = session.scalar(select(WorkOrder.line_id).where(WorkOrder.code == order.code))
    if holder is not None:
        where = "this line" if holder == line.id else f"line {holder!r}"
        raise Conflict(
            f"work order code {order.code!r} is already used on {where}; "
            "choose another code or leave it out to get one"
        )
    order.state = WorkOrderState.DRAFT
    session.add(order)
    session.flush()
    _apply(session, publisher, order, WorkOrderAction.LOAD, who=actor.username)
    audit_action(
        session,
        actor,
        "work_order.create",
        f"work_order:{order.id}",
        reason=reason,
        details={"code": order.code, "line": line.id, "lot": order.lot},
    )
    return order


def next_work_order_code(session: Session, line_id: str, day: date) -> str:
    """The next free code of the form ``<line>-<yyyymmdd>-<n>`` (unique across lines)."""
    prefix = f"{line_id[:48]}-{day:%Y%m%d}-"
    taken = set(session.scalars(select(WorkOrder.code).where(WorkOrder.code.like(f"{prefix}%"))))
    number = len(taken) + 1
    while f"{prefix}{number:02d}" in taken:
        number += 1
    return f"{prefix}{number:02d}"


def act_on_work_order(
    session: Session,
    publisher: CommandPublisher,
    actor: Actor,
    work_order_id: int,
    action: WorkOrderAction,
    *,
    reason: str = "",
    scope: Scope = PROVINCE,
) -> WorkOrder:
    """Load, start, pause or close a work order on its line."""
    order = get_work_order(session, work_order_id, scope)
    _apply(session, publisher, order, action, who=actor.username)
    audit_action(
        session,
        actor,
        f"work_order.{action.value}",
        f"work_order:{order.id}",
        reason=reason,
        details={"code": order.code, "line": order.line_id, "state": order.state.value},
    )
    return order


def _ocop_info(product: Product) -> contract.OcopInfo | None:
    if product.ocop_group is None or product.ocop_stars is None:
        return None
    # The contract names the herbs group "herbs"; the database says "medicinal_herbs".
    group = "herbs" if product.ocop_group.value == "medicinal_herbs" else product.ocop_group
    return contract.OcopInfo.model_validate(
        {
            "group": str(group),
            "stars": product.ocop_stars,
            "certificate": product.certificate_number,
            "valid_until": product.certificate_valid_until,
        }
    )


def _work_order_payload(order: WorkOrder) -> contract.WorkOrder:
    """The work order as the contract carries it to the line."""
    product = order.product
    return contract.WorkOrder(
        id=order.code,
        product=contract.ProductInfo(
            gtin=product.gtin,
            name_vi=product.name_vi[:200],
            name_en=product.name_en[:200] or None,
            ocop=_ocop_info(product),
        ),
        lot=order.lot,
        production_date=order.production_date or datetime.now(UTC).date(),
        expiry_date=order.expiry_date,
        best_before=order.best_before_date,
        quantity=order.quantity,
        units_per_case=order.units_per_case or 1,
        unit_template=order.label_template or "unit",
    )


def _apply(
    session: Session,
    publisher: CommandPublisher,
    order: WorkOrder,
    action: WorkOrderAction,
    *,
    who: str,
) -> None:
    """Send ``action`` to the order's line, then move the order to its next state."""
    allowed_from, target = _TRANSITIONS[action]
    if order.state not in allowed_from:
        raise Conflict(f"cannot {action.value} a work order that is {order.state.value}")
    try:
        message = contract.WorkOrderCommand(
            command_id=f"wo-{uuid.uuid4().hex[:16]}",
            action=action,
            work_order_id=order.code,
            order=_work_order_payload(order) if action is WorkOrderAction.LOAD else None,
            issued_by=who,
        )
    except (ValueError, ContractError) as exc:
        raise InvalidInput(f"work order cannot be sent: {exc}") from exc
    _send(session, publisher, order.line, message, who)
    order.state = target
    now = datetime.now(UTC)
    if target is WorkOrderState.RUNNING and order.started_at is None:
        order.started_at = now
    if target is WorkOrderState.CLOSED:
        order.closed_at = now


# --------------------------------------------------------------------------- serial blocks


@dataclass(frozen=True, slots=True)
class SerialBlockRequest:
    """What a serial block is asked for: ``count`` serials of ``serial_length``
    characters for ``gtin``, sent to the line unless ``publish`` is false."""

    gtin: str
    count: int
    serial_length: int
    work_order_id: int | None = None
    publish: bool = True


def random_serials(length: int, count: int) -> list[str]:
    """``count`` distinct random serials of ``length`` characters.

    With 12 characters of a 32-letter alphabet the chance of guessing a valid serial
    stays far below 1 in 10,000 even after billions of units.
    """
    drawn: dict[str, None] = {}
    while len(drawn) < count:
        drawn["".join(secrets.choice(SERIAL_ALPHABET) for _ in range(length))] = None
    return list(drawn)


def _check_guessability(session: Session, wanted: SerialBlockRequest) -> None:
    """Refuse a block that would make this GTIN's serials too easy to guess."""
    space = len(SERIAL_ALPHABET) ** wanted.serial_length
    issued_before = session.scalar(
        select(func.count()).select_from(IssuedSerial).where(IssuedSerial.gtin == wanted.gtin)
    )
    if (int(issued_before or 0) + wanted.count) / space > MAX_GUESS_PROBABILITY:
        raise InvalidInput(
            f"serial_length {wanted.serial_length} is too short for this many serials of GTIN "
            f"{wanted.gtin}: they would become guessable"
        )


def _draw_serials(session: Session, block: SerialBlock, length: int) -> list[str]:
    """Draw and record ``block.count`` serials no block of its GTIN holds yet."""
    serials: list[str] = []
    for _round in range(_DRAW_ROUNDS):
        wanted = block.count - len(serials)
        if wanted == 0:
            break
        fresh = [s for s in random_serials(length, wanted) if s not in serials]
        taken = set(
            session.scalars(
                select(IssuedSerial.serial).where(
                    IssuedSerial.gtin == block.gtin, IssuedSerial.serial.in_(fresh)
                )
            )
        )
        fresh = [s for s in fresh if s not in taken]
        try:
            # A savepoint: a concurrent block that drew the same serial only costs a redraw.
            with session.begin_nested():
                session.add_all(
                    IssuedSerial(gtin=block.gtin, serial=s, block_id=block.id) for s in fresh
                )
        except IntegrityError:
            continue
        serials += fresh
    if len(serials) != block.count:
        raise Conflict(f"could not draw {block.count} free serials; try again")
    return serials


def issue_serial_block(
    session: Session,
    publisher: CommandPublisher,
    actor: Actor,
    line_id: str,
    wanted: SerialBlockRequest,
    *,
    reason: str = "",
    scope: Scope = PROVINCE,
) -> tuple[SerialBlock, list[str]]:
    """Reserve a block of random serials for a line and (unless told not to) send it there.

    Returns the block and its serials. A serial already issued for the GTIN is drawn again.
    The GTIN must be the line's organisation's own.
    """
    line = get_scoped(session, Line, line_id, scope)
    if wanted.work_order_id is not None:
        get_scoped(session, WorkOrder, wanted.work_order_id, scope)
    _check_gtin_of_line(session, line, wanted.gtin)
    _check_guessability(session, wanted)
    block = SerialBlock(
        id=f"sb-{uuid.uuid4().hex[:20]}",
        gtin=wanted.gtin,
        line_id=line.id,
        work_order_id=wanted.work_order_id,
        count=wanted.count,
        issued_at=datetime.now(UTC),
    )
    session.add(block)
    session.flush()
    serials = _draw_serials(session, block, wanted.serial_length)
    if wanted.publish:
        command = contract.SerialBlockCommand(
            command_id=f"sb-{uuid.uuid4().hex[:16]}",
            block_id=block.id,
            gtin=block.gtin,
            serials=tuple(serials),
        )
        _send(session, publisher, line, command, actor.username)
    audit_action(
        session,
        actor,
        "serial_block.issue",
        f"serial_block:{block.id}",
        reason=reason,
        details={
            "gtin": block.gtin,
            "line": line.id,
            "count": block.count,
            "work_order_id": block.work_order_id,
            "published": wanted.publish,
        },
    )
    return block, serials
