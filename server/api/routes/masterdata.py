"""Master data: organisations, facilities, lines, devices and products (with OCOP data).

Readers (every role) list and read; administrators create and change organisations,
facilities and products; technicians (and administrators) create and change lines and
devices; administrators delete, saying why. Every change is recorded in the audit trail.
GTINs are stored in their 14-digit form, GLNs are checked.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lineside.contract import IDENTIFIER
from lineside.errors import GS1Error
from lineside.gs1.keys import Gln, Gtin
from server.api.deps import AdminUser, ReaderUser, SessionDep, TechnicianUser
from server.api.routes.audit import Reason, RequiredReason, audit_action
from server.db.models import Device, Facility, Line, OcopGroup, Organisation, Product
from server.services.auth import Principal

router = APIRouter(tags=["master data"])

_Row = TypeVar("_Row", Organisation, Facility, Line, Device, Product)


def _gtin14(value: str) -> str:
    try:
        return Gtin.parse(value).value
    except GS1Error as exc:
        raise ValueError(str(exc)) from exc


def _gln(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return Gln.parse(value).value
    except GS1Error as exc:
        raise ValueError(str(exc)) from exc


GtinField = Annotated[str, Field(min_length=8, max_length=14), AfterValidator(_gtin14)]
GlnField = Annotated[str | None, Field(default=None, max_length=13), AfterValidator(_gln)]
LineIdField = Annotated[str, Field(pattern=IDENTIFIER.pattern)]
Page = Annotated[int, Query(ge=1, le=1000, description="Largest number of rows returned.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _get_or_404(session: Session, model: type[_Row], key: int | str) -> _Row:
    row = session.get(model, key)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{model.__tablename__}: no {key!r}")
    return row


def _save(session: Session, row: object) -> None:
    """Add and flush, turning a constraint violation into 409 with the database's reason."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        # The request's transaction is rolled back by the session dependency.
        reason = str(exc.orig).splitlines()[0] if exc.orig else "constraint violated"
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"conflicts with stored data: {reason}"
        ) from exc


def _patch(row: object, changes: BaseModel) -> dict[str, Any]:
    """Apply the fields set in ``changes``; return them (JSON-ready) for the audit trail."""
    for name, value in changes.model_dump(exclude_unset=True).items():
        setattr(row, name, value)
    return changes.model_dump(exclude_unset=True, mode="json")


def _delete(
    session: Session, row: object, *, user: Principal, action: str, target: str, reason: str
) -> Response:
    session.delete(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "still referenced by other records; remove those first"
        ) from exc
    audit_action(session, user, action, target, reason=reason)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------- organisations


class OrganisationIn(_In):
    name: str = Field(min_length=1, max_length=300)
    address: str = Field(default="", max_length=500)
    tax_id: str | None = Field(default=None, pattern=r"^\d{10}(-\d{3})?$")
    gs1_company_prefix: str | None = Field(default=None, pattern=r"^\d{6,12}$")
    gln: GlnField = None
    district: str = Field(default="", max_length=200)
    province: str = Field(default="", max_length=200)
    country: str = Field(default="VN", pattern=r"^[A-Z]{2}$")
    phone: str = Field(default="", max_length=50)
    email: str = Field(default="", max_length=200)
    website: str = Field(default="", max_length=500)
    uses_barcodes: bool = True


class OrganisationPatch(_In):
    name: str | None = Field(default=None, min_length=1, max_length=300)
    address: str | None = Field(default=None, max_length=500)
    district: str | None = Field(default=None, max_length=200)
    province: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    email: str | None = Field(default=None, max_length=200)
    website: str | None = Field(default=None, max_length=500)
    uses_barcodes: bool | None = None


class OrganisationOut(_Out, OrganisationIn):
    id: int
    created_at: datetime


@router.get("/organisations", response_model=list[OrganisationOut])
def list_organisations(
    session: SessionDep, _: ReaderUser, limit: Page = 100, offset: Offset = 0
) -> list[Organisation]:
    """Organisations by id."""
    query = select(Organisation).order_by(Organisation.id).limit(limit).offset(offset)
    return list(session.scalars(query))


@router.post("/organisations", response_model=OrganisationOut, status_code=201)
def create_organisation(
    body: OrganisationIn, session: SessionDep, user: AdminUser, reason: Reason = ""
) -> Organisation:
    """Register a business or authority."""
    row = Organisation(**body.model_dump())
    _save(session, row)
    audit_action(session, user, "organisation.create", f"organisation:{row.id}", reason=reason)
    return row


@router.get("/organisations/{organisation_id}", response_model=OrganisationOut)
def get_organisation(organisation_id: int, session: SessionDep, _: ReaderUser) -> Organisation:
    """One organisation."""
    return _get_or_404(session, Organisation, organisation_id)


@router.patch("/organisations/{organisation_id}", response_model=OrganisationOut)
def update_organisation(
    organisation_id: int,
    body: OrganisationPatch,
    session: SessionDep,
    user: AdminUser,
    reason: Reason = "",
) -> Organisation:
    """Change some fields of an organisation."""
    row = _get_or_404(session, Organisation, organisation_id)
    changed = _patch(row, body)
    _save(session, row)
    audit_action(
        session,
        user,
        "organisation.update",
        f"organisation:{row.id}",
        reason=reason,
        details=changed,
    )
    return row


@router.delete("/organisations/{organisation_id}", status_code=204)
def delete_organisation(
    organisation_id: int, session: SessionDep, user: AdminUser, reason: RequiredReason
) -> Response:
    """Delete an organisation that no product refers to."""
    row = _get_or_404(session, Organisation, organisation_id)
    target = f"organisation:{organisation_id}"
    return _delete(
        session, row, user=user, action="organisation.delete", target=target, reason=reason
    )


# --------------------------------------------------------------------------- facilities


class FacilityIn(_In):
    organisation_id: int
    name: str = Field(min_length=1, max_length=300)
    address: str = Field(default="", max_length=500)
    gln: GlnField = None
    district: str = Field(default="", max_length=200)
    province: str = Field(default="", max_length=200)


class FacilityPatch(_In):
    name: str | None = Field(default=None, min_length=1, max_length=300)
    address: str | None = Field(default=None, max_length=500)
    district: str | None = Field(default=None, max_length=200)
    province: str | None = Field(default=None, max_length=200)


class FacilityOut(_Out, FacilityIn):
    id: int
    created_at: datetime


@router.get("/facilities", response_model=list[FacilityOut])
def list_facilities(
    session: SessionDep, _: ReaderUser, limit: Page = 100, offset: Offset = 0
) -> list[Facility]:
    """Facilities by id."""
    query = select(Facility).order_by(Facility.id).limit(limit).offset(offset)
    return list(session.scalars(query))


@router.post("/facilities", response_model=FacilityOut, status_code=201)
def create_facility(
    body: FacilityIn, session: SessionDep, user: AdminUser, reason: Reason = ""
) -> Facility:
    """Register a production site of an organisation."""
    _get_or_404(session, Organisation, body.organisation_id)
    row = Facility(**body.model_dump())
    _save(session, row)
    audit_action(session, user, "facility.create", f"facility:{row.id}", reason=reason)
    return row


@router.get("/facilities/{facility_id}", response_model=FacilityOut)
def get_facility(facility_id: int, session: SessionDep, _: ReaderUser) -> Facility:
    """One facility."""
    return _get_or_404(session, Facility, facility_id)


@router.patch("/facilities/{facility_id}", response_model=FacilityOut)
def update_facility(
    facility_id: int, body: FacilityPatch, session: SessionDep, user: AdminUser, reason: Reason = ""
) -> Facility:
    """Change some fields of a facility."""
    row = _get_or_404(session, Facility, facility_id)
    changed = _patch(row, body)
    _save(session, row)
    target = f"facility:{row.id}"
    audit_action(session, user, "facility.update", target, reason=reason, details=changed)
    return row


@router.delete("/facilities/{facility_id}", status_code=204)
def delete_facility(
    facility_id: int, session: SessionDep, user: AdminUser, reason: RequiredReason
) -> Response:
    """Delete a facility (its lines are kept, detached)."""
    row = _get_or_404(session, Facility, facility_id)
    return _delete(
        session,
        row,
        user=user,
        action="facility.delete",
        target=f"facility:{facility_id}",
        reason=reason,
    )


# --------------------------------------------------------------------------- lines


class LineIn(_In):
    id: LineIdField
    site: LineIdField
    facility_id: int | None = None
    site_gln: GlnField = None
    name: str = Field(default="", max_length=200)
    active: bool = True


class LinePatch(_In):
    facility_id: int | None = None
    name: str | None = Field(default=None, max_length=200)
    active: bool | None = None


class LineOut(_Out, LineIn):
    created_at: datetime


@router.get("/lines", response_model=list[LineOut])
def list_lines(
    session: SessionDep, _: ReaderUser, limit: Page = 100, offset: Offset = 0
) -> list[Line]:
    """Lines by id."""
    return list(session.scalars(select(Line).order_by(Line.id).limit(limit).offset(offset)))


@router.post("/lines", response_model=LineOut, status_code=201)
def create_line(
    body: LineIn, session: SessionDep, user: TechnicianUser, reason: Reason = ""
) -> Line:
    """Register a packing line; ``id`` and ``site`` are its MQTT topic levels."""
    if body.facility_id is not None:
        _get_or_404(session, Facility, body.facility_id)
    if session.get(Line, body.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"line {body.id!r} already exists")
    row = Line(**body.model_dump())
    _save(session, row)
    audit_action(session, user, "line.create", f"line:{row.id}", reason=reason)
    return row


@router.get("/lines/{line_id}", response_model=LineOut)
def get_line(line_id: str, session: SessionDep, _: ReaderUser) -> Line:
    """One line."""
    return _get_or_404(session, Line, line_id)


@router.patch("/lines/{line_id}", response_model=LineOut)
def update_line(
    line_id: str, body: LinePatch, session: SessionDep, user: TechnicianUser, reason: Reason = ""
) -> Line:
    """Change some fields of a line."""
    row = _get_or_404(session, Line, line_id)
    if body.facility_id is not None:
        _get_or_404(session, Facility, body.facility_id)
    changed = _patch(row, body)
    _save(session, row)
    audit_action(session, user, "line.update", f"line:{row.id}", reason=reason, details=changed)
    return row


@router.delete("/lines/{line_id}", status_code=204)
def delete_line(
    line_id: str, session: SessionDep, user: AdminUser, reason: RequiredReason
) -> Response:
    """Delete a line that has no work orders or serial blocks."""
    row = _get_or_404(session, Line, line_id)
    return _delete(
        session, row, user=user, action="line.delete", target=f"line:{line_id}", reason=reason
    )


# --------------------------------------------------------------------------- devices


class DeviceIn(_In):
    id: LineIdField
    line_id: LineIdField
    kind: str = Field(default="agent", min_length=1, max_length=32)
    model: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=500)


class DevicePatch(_In):
    kind: str | None = Field(default=None, min_length=1, max_length=32)
    model: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=500)


class DeviceOut(_Out, DeviceIn):
    created_at: datetime


@router.get("/devices", response_model=list[DeviceOut])
def list_devices(
    session: SessionDep, _: ReaderUser, limit: Page = 100, offset: Offset = 0
) -> list[Device]:
    """Devices by id."""
    return list(session.scalars(select(Device).order_by(Device.id).limit(limit).offset(offset)))


@router.post("/devices", response_model=DeviceOut, status_code=201)
def create_device(
    body: DeviceIn, session: SessionDep, user: TechnicianUser, reason: Reason = ""
) -> Device:
    """Register a device on a line; only registered devices may publish its events."""
    _get_or_404(session, Line, body.line_id)
    if session.get(Device, body.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"device {body.id!r} already exists")
    row = Device(**body.model_dump())
    _save(session, row)
    audit_action(session, user, "device.create", f"device:{row.id}", reason=reason)
    return row


@router.get("/devices/{device_id}", response_model=DeviceOut)
def get_device(device_id: str, session: SessionDep, _: ReaderUser) -> Device:
    """One device."""
    return _get_or_404(session, Device, device_id)


@router.patch("/devices/{device_id}", response_model=DeviceOut)
def update_device(
    device_id: str,
    body: DevicePatch,
    session: SessionDep,
    user: TechnicianUser,
    reason: Reason = "",
) -> Device:
    """Change some fields of a device."""
    row = _get_or_404(session, Device, device_id)
    changed = _patch(row, body)
    _save(session, row)
    target = f"device:{row.id}"
    audit_action(session, user, "device.update", target, reason=reason, details=changed)
    return row


@router.delete("/devices/{device_id}", status_code=204)
def delete_device(
    device_id: str, session: SessionDep, user: AdminUser, reason: RequiredReason
) -> Response:
    """Delete a device."""
    row = _get_or_404(session, Device, device_id)
    return _delete(
        session, row, user=user, action="device.delete", target=f"device:{device_id}", reason=reason
    )


# --------------------------------------------------------------------------- products


class _ProductFields(_In):
    name_en: str = Field(default="", max_length=300)
    description_vi: str = Field(default="", max_length=20_000)
    description_en: str = Field(default="", max_length=20_000)
    image_url: str = Field(default="", max_length=1000, pattern=r"^(https?://\S+|/\S*)?$")
    category: str = Field(default="", max_length=200)
    brand: str = Field(default="", max_length=200)
    origin: str = Field(default="", max_length=300)
    standards: str = Field(default="", max_length=500)
    safety_warnings: str = Field(default="", max_length=20_000)
    shelf_life_days: int | None = Field(default=None, ge=1, le=36_500)
    net_content: str = Field(default="", max_length=100)
    key_product: bool = False
    ocop_group: OcopGroup | None = None
    ocop_stars: int | None = Field(default=None, ge=1, le=5)
    certificate_number: str | None = Field(default=None, max_length=100)
    certificate_valid_from: date | None = None
    certificate_valid_until: date | None = None

    @model_validator(mode="after")
    def _ocop_consistent(self) -> Any:
        if (self.ocop_stars is None) != (self.ocop_group is None):
            raise ValueError("ocop_group and ocop_stars go together: give both or neither")
        start, end = self.certificate_valid_from, self.certificate_valid_until
        if start is not None and end is not None and end < start:
            raise ValueError("certificate_valid_until is before certificate_valid_from")
        return self


class ProductIn(_ProductFields):
    gtin: GtinField
    organisation_id: int
    name_vi: str = Field(min_length=1, max_length=300)


class ProductPatch(_In):
    name_vi: str | None = Field(default=None, min_length=1, max_length=300)
    name_en: str | None = Field(default=None, max_length=300)
    description_vi: str | None = Field(default=None, max_length=20_000)
    description_en: str | None = Field(default=None, max_length=20_000)
    image_url: str | None = Field(default=None, max_length=1000, pattern=r"^(https?://\S+|/\S*)?$")
    brand: str | None = Field(default=None, max_length=200)
    origin: str | None = Field(default=None, max_length=300)
    standards: str | None = Field(default=None, max_length=500)
    safety_warnings: str | None = Field(default=None, max_length=20_000)
    key_product: bool | None = None
    certificate_number: str | None = Field(default=None, max_length=100)
    certificate_valid_until: date | None = None


class ProductOut(_Out):
    id: int
    gtin: str
    organisation_id: int
    name_vi: str
    name_en: str
    description_vi: str
    description_en: str
    image_url: str
    category: str
    brand: str
    origin: str
    standards: str
    safety_warnings: str
    shelf_life_days: int | None
    net_content: str
    key_product: bool
    ocop_group: OcopGroup | None
    ocop_stars: int | None
    certificate_number: str | None
    certificate_valid_from: date | None
    certificate_valid_until: date | None
    created_at: datetime
    updated_at: datetime


@router.get("/products", response_model=list[ProductOut])
def list_products(
    session: SessionDep, _: ReaderUser, limit: Page = 100, offset: Offset = 0
) -> list[Product]:
    """Products by id."""
    return list(session.scalars(select(Product).order_by(Product.id).limit(limit).offset(offset)))


@router.post("/products", response_model=ProductOut, status_code=201)
def create_product(
    body: ProductIn, session: SessionDep, user: AdminUser, reason: Reason = ""
) -> Product:
    """Register a traced product (GTIN-8/12/13/14 accepted, stored as 14 digits)."""
    _get_or_404(session, Organisation, body.organisation_id)
    if session.scalar(select(Product.id).where(Product.gtin == body.gtin)) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"GTIN {body.gtin} is already registered")
    row = Product(**body.model_dump())
    _save(session, row)
    target = f"product:{row.id}"
    audit_action(session, user, "product.create", target, reason=reason, details={"gtin": row.gtin})
    return row


@router.get("/products/{product_id}", response_model=ProductOut)
def get_product(product_id: int, session: SessionDep, _: ReaderUser) -> Product:
    """One product."""
    return _get_or_404(session, Product, product_id)


@router.patch("/products/{product_id}", response_model=ProductOut)
def update_product(
    product_id: int, body: ProductPatch, session: SessionDep, user: AdminUser, reason: Reason = ""
) -> Product:
    """Change some fields of a product."""
    row = _get_or_404(session, Product, product_id)
    changed = _patch(row, body)
    _save(session, row)
    target = f"product:{row.id}"
    audit_action(session, user, "product.update", target, reason=reason, details=changed)
    return row


@router.delete("/products/{product_id}", status_code=204)
def delete_product(
    product_id: int, session: SessionDep, user: AdminUser, reason: RequiredReason
) -> Response:
    """Delete a product that no work order refers to."""
    row = _get_or_404(session, Product, product_id)
    return _delete(
        session,
        row,
        user=user,
        action="product.delete",
        target=f"product:{product_id}",
        reason=reason,
    )
