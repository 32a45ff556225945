"""Organisations as tenants: which rows a caller may see and change, decided in one place.

Business users (operators and technicians) belong to one organisation and reach only its
rows; inspectors, auditors and administrators read across the province. A row of another
organisation is answered exactly like a row that does not exist (:class:`NotFound`, 404),
for reads and writes alike, so a business user cannot learn what other organisations
hold. Which roles may write at all is the routes' role check (403), not this module's.

Every kind of record has one owner column or path (:func:`owner_clause`): products,
facilities, lines, recalls, events, capture jobs and dead letters carry the organisation;
devices, work orders and serial blocks belong to their line's organisation.

>>> Scope(None).province_wide, Scope(7).province_wide
(True, False)
>>> scope_for(Principal(1, "mai", Role.OPERATOR, None)).organisation_id
-1
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, false, literal, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from server.db.models import (
    AlarmRecord,
    CaptureJob,
    CompanyPrefix,
    DeadLetter,
    Device,
    Event,
    Facility,
    Line,
    Organisation,
    Product,
    Recall,
    ReconciliationRecord,
    SerialBlock,
    StatusReport,
    WorkOrder,
)
from server.errors import NotFound
from server.services.auth import Principal, Role

__all__ = [
    "BUSINESS_ROLES",
    "NO_ORGANISATION",
    "Scope",
    "get_scoped",
    "owner_clause",
    "scope_for",
    "scoped",
]

#: Roles tied to one organisation; the others read across the province.
BUSINESS_ROLES = frozenset({Role.OPERATOR, Role.TECHNICIAN})
#: The organisation id of a business user who has none: matches no row.
NO_ORGANISATION = -1

T = TypeVar("T")
S = TypeVar("S", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True, slots=True)
class Scope:
    """The organisation a caller is limited to; ``None``: the whole province."""

    organisation_id: int | None

    @property
    def province_wide(self) -> bool:
        return self.organisation_id is None

    def owns(self, organisation_id: int | None) -> bool:
        """Whether a row of ``organisation_id`` is within this scope."""
        return self.organisation_id is None or organisation_id == self.organisation_id


#: No limit (administrators, inspectors, auditors, and the server itself).
PROVINCE = Scope(None)


def scope_for(principal: Principal) -> Scope:
    """The scope of a signed-in caller."""
    if principal.role in BUSINESS_ROLES:
        return Scope(
            principal.organisation_id if principal.organisation_id is not None else NO_ORGANISATION
        )
    return PROVINCE


def _lines_of(organisation_id: int) -> Select[Any]:
    return select(Line.id).where(Line.organisation_id == organisation_id)


def owner_clause(model: type[Any], organisation_id: int) -> ColumnElement[bool]:
    """The SQL condition "this row of ``model`` belongs to ``organisation_id``"."""
    direct: dict[type[Any], InstrumentedAttribute[Any]] = {
        Organisation: Organisation.id,
        Facility: Facility.organisation_id,
        Line: Line.organisation_id,
        Product: Product.organisation_id,
        Recall: Recall.organisation_id,
        Event: Event.organisation_id,
        CaptureJob: CaptureJob.organisation_id,
        DeadLetter: DeadLetter.organisation_id,
        CompanyPrefix: CompanyPrefix.organisation_id,
    }
    if model in direct:
        return direct[model] == organisation_id
    by_line = {
        Device: Device.line_id,
        WorkOrder: WorkOrder.line_id,
        SerialBlock: SerialBlock.line_id,
        StatusReport: StatusReport.line_id,
        AlarmRecord: AlarmRecord.line_id,
        ReconciliationRecord: ReconciliationRecord.line_id,
    }
    if model in by_line:
        return by_line[model].in_(_lines_of(organisation_id))
    # A kind of record nobody has given an owner yet is nobody's: safe by default.
    return false()


def scoped(statement: S, model: type[Any], scope: Scope) -> S:
    """``statement`` limited to the rows of ``model`` within ``scope``."""
    if scope.organisation_id is None:
        return statement
    return statement.where(owner_clause(model, scope.organisation_id))


def get_scoped(session: Session, model: type[T], key: object, scope: Scope) -> T:
    """The row of ``model`` with primary key ``key`` if ``scope`` may see it;
    :class:`NotFound` naming the table otherwise (another organisation's row included)."""
    row = session.get(model, key)
    table = getattr(model, "__tablename__", model.__name__)
    if row is None:
        raise NotFound(f"{table}: no {key!r}")
    if scope.organisation_id is not None:
        visible = session.scalar(
            select(literal(1))
            .select_from(model)
            .where(owner_clause(model, scope.organisation_id), *_primary_key_equals(model, key))
        )
        if not visible:
            raise NotFound(f"{table}: no {key!r}")
    return row


def _primary_key_equals(model: type[Any], key: object) -> list[ColumnElement[bool]]:
    columns = list(model.__table__.primary_key.columns)
    if len(columns) != 1:
        raise TypeError(f"{model.__name__} has a composite primary key")
    return [columns[0] == key]
