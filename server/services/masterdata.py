"""Master data: organisations, facilities, lines, devices and products.

Every change is checked (the records it refers to exist, its key is free), flushed so
that the database's constraints speak before the audit record is written, and recorded
in the audit trail as ``<kind>.create``, ``<kind>.update`` or ``<kind>.delete`` on
``<kind>:<id>``.

>>> kind_of(Product)
'product'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic_core import to_jsonable_python
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.db.models import Device, Facility, Line, Organisation, Product
from server.errors import Conflict, NotFound
from server.services.audit import Actor, audit_action

__all__ = [
    "create_row",
    "delete_row",
    "get_row",
    "kind_of",
    "list_rows",
    "update_row",
]

Row = TypeVar("Row", Organisation, Facility, Line, Device, Product)

_KINDS: dict[type[Any], str] = {
    Organisation: "organisation",
    Facility: "facility",
    Line: "line",
    Device: "device",
    Product: "product",
}


def kind_of(model: type[Any]) -> str:
    """The name of a kind of record in audit actions and targets."""
    return _KINDS[model]


def list_rows(session: Session, model: type[Row], *, limit: int, offset: int) -> list[Row]:
    """Records of one kind by id."""
    query = select(model).order_by(model.id).limit(limit).offset(offset)
    return list(session.scalars(query))


def get_row(session: Session, model: type[Row], key: int | str) -> Row:
    """The record with this id; :class:`NotFound` naming the table otherwise."""
    row = session.get(model, key)
    if row is None:
        raise NotFound(f"{model.__tablename__}: no {key!r}")
    return row


def _save(session: Session, row: object) -> None:
    """Add and flush, turning a constraint violation into :class:`Conflict`."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        # The caller's transaction is rolled back when the Conflict leaves it.
        reason = str(exc.orig).splitlines()[0] if exc.orig else "constraint violated"
        raise Conflict(f"conflicts with stored data: {reason}") from exc


def _check_references(session: Session, row: object) -> None:
    """The records ``row`` points at exist."""
    if isinstance(row, Facility | Product):
        get_row(session, Organisation, row.organisation_id)
    elif isinstance(row, Line) and row.facility_id is not None:
        get_row(session, Facility, row.facility_id)
    elif isinstance(row, Device):
        get_row(session, Line, row.line_id)


def _check_key_free(session: Session, row: object) -> None:
    """No record holds ``row``'s chosen key yet (lines and devices: id; products: GTIN)."""
    if isinstance(row, Line) and session.get(Line, row.id) is not None:
        raise Conflict(f"line {row.id!r} already exists")
    if isinstance(row, Device) and session.get(Device, row.id) is not None:
        raise Conflict(f"device {row.id!r} already exists")
    if isinstance(row, Product):
        taken = session.scalar(select(Product.id).where(Product.gtin == row.gtin))
        if taken is not None:
            raise Conflict(f"GTIN {row.gtin} is already registered")


def create_row(session: Session, user: Actor, row: Row, *, reason: str = "") -> Row:
    """Store a new record after checking what it refers to and that its key is free."""
    _check_references(session, row)
    _check_key_free(session, row)
    _save(session, row)
    kind = kind_of(type(row))
    details = {"gtin": row.gtin} if isinstance(row, Product) else None
    target = f"{kind}:{row.id}"
    audit_action(session, user, f"{kind}.create", target, reason=reason, details=details)
    return row


def update_row(
    session: Session,
    user: Actor,
    model: type[Row],
    key: int | str,
    changes: Mapping[str, Any],
    *,
    reason: str = "",
) -> Row:
    """Change some fields of a record; the changes are kept in the audit trail."""
    row = get_row(session, model, key)
    if isinstance(row, Line) and changes.get("facility_id") is not None:
        get_row(session, Facility, changes["facility_id"])
    for name, value in changes.items():
        setattr(row, name, value)
    _save(session, row)
    kind = kind_of(model)
    audit_action(
        session,
        user,
        f"{kind}.update",
        f"{kind}:{row.id}",
        reason=reason,
        details=to_jsonable_python(dict(changes)),
    )
    return row


def delete_row(
    session: Session, user: Actor, model: type[Row], key: int | str, *, reason: str
) -> None:
    """Delete a record no other record refers to; :class:`Conflict` otherwise."""
    row = get_row(session, model, key)
    session.delete(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict("still referenced by other records; remove those first") from exc
    kind = kind_of(model)
    audit_action(session, user, f"{kind}.delete", f"{kind}:{key}", reason=reason)
