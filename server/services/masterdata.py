"""Master data: organisations, facilities, lines, devices and products.

Every change is checked (the records it refers to exist, its key is free), flushed so
that the database's constraints speak before the audit record is written, and recorded
in the audit trail as ``<kind>.create``, ``<kind>.update`` or ``<kind>.delete`` on
``<kind>:<id>``.

Every function takes the caller's :class:`~server.services.tenancy.Scope`: a business
user reads and changes only its organisation's records, and a record of another
organisation (or one it would point at) is answered as missing.

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

from server.db.models import CompanyPrefix, Device, Facility, Line, Organisation, Product
from server.errors import Conflict, NotAllowed, NotFound
from server.services.audit import Actor, audit_action
from server.services.tenancy import NO_ORGANISATION, PROVINCE, Scope, get_scoped, scoped

__all__ = [
    "add_company_prefix",
    "create_row",
    "delete_row",
    "get_row",
    "kind_of",
    "list_company_prefixes",
    "list_rows",
    "prefix_owner",
    "remove_company_prefix",
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


def list_rows(
    session: Session, model: type[Row], *, limit: int, offset: int, scope: Scope = PROVINCE
) -> list[Row]:
    """Records of one kind by id, those within ``scope``."""
    query = scoped(select(model), model, scope).order_by(model.id).limit(limit).offset(offset)
    return list(session.scalars(query))


def get_row(session: Session, model: type[Row], key: int | str, scope: Scope = PROVINCE) -> Row:
    """The record with this id; :class:`NotFound` naming the table otherwise (also when
    it belongs to an organisation outside ``scope``)."""
    return get_scoped(session, model, key, scope)


def _save(session: Session, row: object) -> None:
    """Add and flush, turning a constraint violation into :class:`Conflict`."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        # The caller's transaction is rolled back when the Conflict leaves it.
        reason = str(exc.orig).splitlines()[0] if exc.orig else "constraint violated"
        raise Conflict(f"conflicts with stored data: {reason}") from exc


def _check_references(session: Session, row: object, scope: Scope) -> None:
    """The records ``row`` points at exist within ``scope``; a line gets its organisation."""
    if isinstance(row, Facility | Product):
        get_row(session, Organisation, row.organisation_id, scope)
    elif isinstance(row, Line):
        _line_organisation(session, row, scope)
    elif isinstance(row, Device):
        get_row(session, Line, row.line_id, scope)
    if isinstance(row, Product):
        owner = prefix_owner(session, row.gtin[1:])
        if owner is not None and owner != row.organisation_id:
            raise Conflict(
                f"GTIN {row.gtin} starts with a company prefix of organisation {owner}, "
                f"not of organisation {row.organisation_id}"
            )


def _line_organisation(session: Session, line: Line, scope: Scope) -> None:
    """Check and complete a line's organisation: the caller's own for a business user,
    its facility's when it has one."""
    if scope.organisation_id == NO_ORGANISATION:
        raise NotAllowed("this user belongs to no organisation and may register no line")
    if scope.organisation_id is not None and line.organisation_id is None:
        line.organisation_id = scope.organisation_id
    if line.organisation_id is not None:
        get_row(session, Organisation, line.organisation_id, scope)
    if line.facility_id is not None:
        facility = get_row(session, Facility, line.facility_id, scope)
        if line.organisation_id is None:
            line.organisation_id = facility.organisation_id
        elif facility.organisation_id != line.organisation_id:
            raise Conflict(
                f"facility {facility.id} belongs to organisation {facility.organisation_id}, "
                f"not to the line's organisation {line.organisation_id}"
            )


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


def create_row(
    session: Session, user: Actor, row: Row, *, reason: str = "", scope: Scope = PROVINCE
) -> Row:
    """Store a new record after checking what it refers to and that its key is free."""
    _check_references(session, row, scope)
    _check_key_free(session, row)
    _save(session, row)
    if isinstance(row, Organisation) and row.gs1_company_prefix:
        _claim_prefix(session, row.id, row.gs1_company_prefix)
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
    scope: Scope = PROVINCE,
) -> Row:
    """Change some fields of a record; the changes are kept in the audit trail."""
    row = get_row(session, model, key, scope)
    for name, value in changes.items():
        setattr(row, name, value)
    if isinstance(row, Line):
        _line_organisation(session, row, scope)
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
    session: Session,
    user: Actor,
    model: type[Row],
    key: int | str,
    *,
    reason: str,
    scope: Scope = PROVINCE,
) -> None:
    """Delete a record no other record refers to; :class:`Conflict` otherwise."""
    row = get_row(session, model, key, scope)
    session.delete(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict("still referenced by other records; remove those first") from exc
    kind = kind_of(model)
    audit_action(session, user, f"{kind}.delete", f"{kind}:{key}", reason=reason)


# --------------------------------------------------------------------------- company prefixes


def prefix_owner(session: Session, digits: str) -> int | None:
    """The organisation whose GS1 company prefix starts ``digits`` (a GTIN-14 without its
    indicator digit, an SSCC without its extension digit), or None.

    >>> prefix_owner.__name__
    'prefix_owner'
    """
    candidates = [digits[:length] for length in range(4, 13)]
    row = session.execute(
        select(CompanyPrefix.organisation_id)
        .where(CompanyPrefix.prefix.in_(candidates))
        .order_by(CompanyPrefix.prefix.desc())
        .limit(1)
    ).first()
    return None if row is None else int(row[0])


def _claim_prefix(session: Session, organisation_id: int, prefix: str) -> CompanyPrefix:
    held = session.get(CompanyPrefix, prefix)
    if held is not None:
        if held.organisation_id != organisation_id:
            raise Conflict(f"company prefix {prefix} belongs to another organisation")
        return held
    row = CompanyPrefix(prefix=prefix, organisation_id=organisation_id)
    _save(session, row)
    return row


def list_company_prefixes(
    session: Session, organisation_id: int, scope: Scope = PROVINCE
) -> list[CompanyPrefix]:
    """The company prefixes of one organisation."""
    get_row(session, Organisation, organisation_id, scope)
    query = select(CompanyPrefix).where(CompanyPrefix.organisation_id == organisation_id)
    return list(session.scalars(query.order_by(CompanyPrefix.prefix)))


def add_company_prefix(
    session: Session, user: Actor, organisation_id: int, prefix: str, *, reason: str = ""
) -> CompanyPrefix:
    """License ``prefix`` to an organisation; :class:`Conflict` when another holds it."""
    get_row(session, Organisation, organisation_id)
    row = _claim_prefix(session, organisation_id, prefix)
    audit_action(
        session,
        user,
        "organisation.prefix_add",
        f"organisation:{organisation_id}",
        reason=reason,
        details={"prefix": prefix},
    )
    return row


def remove_company_prefix(
    session: Session, user: Actor, organisation_id: int, prefix: str, *, reason: str
) -> None:
    """Withdraw ``prefix`` from an organisation."""
    row = session.get(CompanyPrefix, prefix)
    if row is None or row.organisation_id != organisation_id:
        raise NotFound(f"company_prefixes: no {prefix!r} for organisation {organisation_id}")
    session.delete(row)
    session.flush()
    audit_action(
        session,
        user,
        "organisation.prefix_remove",
        f"organisation:{organisation_id}",
        reason=reason,
        details={"prefix": prefix},
    )
