"""Master data: organisations, facilities, lines, devices and products (with OCOP data).

Readers (every role) list and read; administrators create and change organisations,
facilities and products; technicians (and administrators) create and change lines and
devices; administrators delete, saying why. Every change is recorded in the audit trail.
Business users see and change only their own organisation's records (others answer 404).
GTINs are stored in their 14-digit form, GLNs are checked.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from server.api.deps import (
    AdminUser,
    ReaderUser,
    Reason,
    RequiredReason,
    ScopeDep,
    SessionDep,
    TechnicianUser,
    rate_limited,
)
from server.api.fields import GlnField, GtinField, LineIdField, Offset, Page
from server.db.models import (
    CompanyPrefix,
    Device,
    Facility,
    Line,
    OcopGroup,
    Organisation,
    Product,
)
from server.services import masterdata, media
from server.services.media import PHOTO_TYPES

router = APIRouter(tags=["master data"])


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _changes(body: BaseModel) -> dict[str, Any]:
    """The fields a patch sets."""
    return body.model_dump(exclude_unset=True)


def _deleted() -> Response:
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------- organisations


class OrganisationIn(_In):
    name: str = Field(min_length=1, max_length=300)
    address: str = Field(default="", max_length=500)
    tax_id: str | None = Field(default=None, pattern=r"^\d{10}(-\d{3})?$")
    gs1_company_prefix: str | None = Field(default=None, pattern=r"^\d{6,12}$")
    gln: GlnField = None
    district: str = Field(default="", max_length=200)
    commune: str = Field(default="", max_length=200, description="Commune or ward (xã, phường).")
    province: str = Field(default="", max_length=200)
    country: str = Field(default="VN", pattern=r"^[A-Z]{2}$")
    phone: str = Field(default="", max_length=50)
    hotline: str = Field(default="", max_length=50, description="Consumers' number.")
    email: str = Field(default="", max_length=200)
    website: str = Field(default="", max_length=500)
    uses_barcodes: bool = True


class OrganisationPatch(_In):
    name: str | None = Field(default=None, min_length=1, max_length=300)
    address: str | None = Field(default=None, max_length=500)
    district: str | None = Field(default=None, max_length=200)
    commune: str | None = Field(default=None, max_length=200)
    province: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    hotline: str | None = Field(default=None, max_length=50)
    email: str | None = Field(default=None, max_length=200)
    website: str | None = Field(default=None, max_length=500)
    uses_barcodes: bool | None = None


class OrganisationOut(_Out, OrganisationIn):
    id: int
    created_at: datetime


@router.get("/organisations", response_model=list[OrganisationOut])
def list_organisations(
    session: SessionDep, _: ReaderUser, scope: ScopeDep, limit: Page = 100, offset: Offset = 0
) -> list[Organisation]:
    """Organisations by id."""
    return masterdata.list_rows(session, Organisation, limit=limit, offset=offset, scope=scope)


@router.post("/organisations", response_model=OrganisationOut, status_code=201)
def create_organisation(
    body: OrganisationIn,
    session: SessionDep,
    user: AdminUser,
    *,
    scope: ScopeDep,
    reason: Reason = "",
) -> Organisation:
    """Register a business or authority."""
    return masterdata.create_row(
        session, user, Organisation(**body.model_dump()), reason=reason, scope=scope
    )


@router.get("/organisations/{organisation_id}", response_model=OrganisationOut)
def get_organisation(
    organisation_id: int, session: SessionDep, _: ReaderUser, scope: ScopeDep
) -> Organisation:
    """One organisation."""
    return masterdata.get_row(session, Organisation, organisation_id, scope)


@router.patch("/organisations/{organisation_id}", response_model=OrganisationOut)
def update_organisation(
    organisation_id: int,
    body: OrganisationPatch,
    session: SessionDep,
    user: AdminUser,
    *,
    scope: ScopeDep,
    reason: Reason = "",
) -> Organisation:
    """Change some fields of an organisation."""
    return masterdata.update_row(
        session, user, Organisation, organisation_id, _changes(body), reason=reason, scope=scope
    )


@router.delete("/organisations/{organisation_id}", status_code=204)
def delete_organisation(
    organisation_id: int,
    session: SessionDep,
    user: AdminUser,
    scope: ScopeDep,
    reason: RequiredReason,
) -> Response:
    """Delete an organisation that no product refers to."""
    masterdata.delete_row(session, user, Organisation, organisation_id, reason=reason, scope=scope)
    return _deleted()


class CompanyPrefixIn(_In):
    prefix: str = Field(pattern=r"^\d{6,12}$", description="A GS1 company prefix.")


class CompanyPrefixOut(_Out):
    prefix: str
    organisation_id: int
    created_at: datetime


@router.get(
    "/organisations/{organisation_id}/company-prefixes", response_model=list[CompanyPrefixOut]
)
def list_company_prefixes(
    organisation_id: int, session: SessionDep, _: ReaderUser, scope: ScopeDep
) -> list[CompanyPrefix]:
    """The GS1 company prefixes of an organisation: GTINs and SSCCs starting with one
    of them are its own."""
    return masterdata.list_company_prefixes(session, organisation_id, scope)


@router.post(
    "/organisations/{organisation_id}/company-prefixes",
    response_model=CompanyPrefixOut,
    status_code=201,
)
def add_company_prefix(
    organisation_id: int,
    body: CompanyPrefixIn,
    session: SessionDep,
    user: AdminUser,
    *,
    reason: Reason = "",
) -> CompanyPrefix:
    """License a company prefix to an organisation (409 when another holds it)."""
    return masterdata.add_company_prefix(session, user, organisation_id, body.prefix, reason=reason)


@router.delete("/organisations/{organisation_id}/company-prefixes/{prefix}", status_code=204)
def remove_company_prefix(
    organisation_id: int,
    prefix: Annotated[str, Path(pattern=r"^\d{6,12}$")],
    session: SessionDep,
    user: AdminUser,
    reason: RequiredReason,
) -> Response:
    """Withdraw a company prefix from an organisation."""
    masterdata.remove_company_prefix(session, user, organisation_id, prefix, reason=reason)
    return _deleted()


# --------------------------------------------------------------------------- facilities


class FacilityIn(_In):
    organisation_id: int
    name: str = Field(min_length=1, max_length=300)
    address: str = Field(default="", max_length=500)
    gln: GlnField = None
    district: str = Field(default="", max_length=200)
    commune: str = Field(default="", max_length=200)
    province: str = Field(default="", max_length=200)


class FacilityPatch(_In):
    name: str | None = Field(default=None, min_length=1, max_length=300)
    address: str | None = Field(default=None, max_length=500)
    district: str | None = Field(default=None, max_length=200)
    commune: str | None = Field(default=None, max_length=200)
    province: str | None = Field(default=None, max_length=200)


class FacilityOut(_Out, FacilityIn):
    id: int
    created_at: datetime


@router.get("/facilities", response_model=list[FacilityOut])
def list_facilities(
    session: SessionDep, _: ReaderUser, scope: ScopeDep, limit: Page = 100, offset: Offset = 0
) -> list[Facility]:
    """Facilities by id."""
    return masterdata.list_rows(session, Facility, limit=limit, offset=offset, scope=scope)


@router.post("/facilities", response_model=FacilityOut, status_code=201)
def create_facility(
    body: FacilityIn,
    session: SessionDep,
    user: AdminUser,
    *,
    scope: ScopeDep,
    reason: Reason = "",
) -> Facility:
    """Register a production site of an organisation."""
    return masterdata.create_row(
        session, user, Facility(**body.model_dump()), reason=reason, scope=scope
    )


@router.get("/facilities/{facility_id}", response_model=FacilityOut)
def get_facility(facility_id: int, session: SessionDep, _: ReaderUser, scope: ScopeDep) -> Facility:
    """One facility."""
    return masterdata.get_row(session, Facility, facility_id, scope)


@router.patch("/facilities/{facility_id}", response_model=FacilityOut)
def update_facility(
    facility_id: int,
    body: FacilityPatch,
    session: SessionDep,
    user: AdminUser,
    *,
    scope: ScopeDep,
    reason: Reason = "",
) -> Facility:
    """Change some fields of a facility."""
    return masterdata.update_row(
        session, user, Facility, facility_id, _changes(body), reason=reason, scope=scope
    )


@router.delete("/facilities/{facility_id}", status_code=204)
def delete_facility(
    facility_id: int,
    session: SessionDep,
    user: AdminUser,
    scope: ScopeDep,
    reason: RequiredReason,
) -> Response:
    """Delete a facility (its lines are kept, detached)."""
    masterdata.delete_row(session, user, Facility, facility_id, reason=reason, scope=scope)
    return _deleted()


# --------------------------------------------------------------------------- lines


class LineIn(_In):
    id: LineIdField
    site: LineIdField
    organisation_id: int | None = Field(
        default=None,
        description="Whose codes the line reports; a business user's own, else the facility's.",
    )
    facility_id: int | None = None
    offline_reserve: int = Field(
        default=0,
        ge=0,
        le=10_000_000,
        description="Serials the line may draw itself while the server is out of reach.",
    )
    site_gln: GlnField = None
    name: str = Field(default="", max_length=200)
    active: bool = True


class LinePatch(_In):
    organisation_id: int | None = None
    facility_id: int | None = None
    offline_reserve: int | None = Field(default=None, ge=0, le=10_000_000)
    name: str | None = Field(default=None, max_length=200)
    active: bool | None = None


class LineOut(_Out, LineIn):
    created_at: datetime


@router.get("/lines", response_model=list[LineOut])
def list_lines(
    session: SessionDep, _: ReaderUser, scope: ScopeDep, limit: Page = 100, offset: Offset = 0
) -> list[Line]:
    """Lines by id."""
    return masterdata.list_rows(session, Line, limit=limit, offset=offset, scope=scope)


@router.post("/lines", response_model=LineOut, status_code=201)
def create_line(
    body: LineIn,
    session: SessionDep,
    user: TechnicianUser,
    *,
    scope: ScopeDep,
    reason: Reason = "",
) -> Line:
    """Register a packing line; ``id`` and ``site`` are its MQTT topic levels."""
    return masterdata.create_row(
        session, user, Line(**body.model_dump()), reason=reason, scope=scope
    )


@router.get("/lines/{line_id}", response_model=LineOut)
def get_line(line_id: str, session: SessionDep, _: ReaderUser, scope: ScopeDep) -> Line:
    """One line."""
    return masterdata.get_row(session, Line, line_id, scope)


@router.patch("/lines/{line_id}", response_model=LineOut)
def update_line(
    line_id: str,
    body: LinePatch,
    session: SessionDep,
    user: TechnicianUser,
    *,
    scope: ScopeDep,
    reason: Reason = "",
) -> Line:
    """Change some fields of a line."""
    return masterdata.update_row(
        session, user, Line, line_id, _changes(body), reason=reason, scope=scope
    )


@router.delete("/lines/{line_id}", status_code=204)
def delete_line(
    line_id: str,
    session: SessionDep,
    user: AdminUser,
    scope: ScopeDep,
    reason: RequiredReason,
) -> Response:
    """Delete a line that has no work orders or serial blocks."""
    masterdata.delete_row(session, user, Line, line_id, reason=reason, scope=scope)
    return _deleted()


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
    session: SessionDep, _: ReaderUser, scope: ScopeDep, limit: Page = 100, offset: Offset = 0
) -> list[Device]:
    """Devices by id."""
    return masterdata.list_rows(session, Device, limit=limit, offset=offset, scope=scope)


@router.post("/devices", response_model=DeviceOut, status_code=201)
def create_device(
    body: DeviceIn,
    session: SessionDep,
    user: TechnicianUser,
    *,
    scope: ScopeDep,
    reason: Reason = "",
) -> Device:
    """Register a device on a line; only registered devices may publish its events."""
    return masterdata.create_row(
        session, user, Device(**body.model_dump()), reason=reason, scope=scope
    )


@router.get("/devices/{device_id}", response_model=DeviceOut)
def get_device(device_id: str, session: SessionDep, _: ReaderUser, scope: ScopeDep) -> Device:
    """One device."""
    return masterdata.get_row(session, Device, device_id, scope)


@router.patch("/devices/{device_id}", response_model=DeviceOut)
def update_device(
    device_id: str,
    body: DevicePatch,
    session: SessionDep,
    user: TechnicianUser,
    *,
    scope: ScopeDep,
    reason: Reason = "",
) -> Device:
    """Change some fields of a device."""
    return masterdata.update_row(
        session, user, Device, device_id, _changes(body), reason=reason, scope=scope
    )


@router.delete("/devices/{device_id}", status_code=204)
def delete_device(
    device_id: str,
    session: SessionDep,
    user: AdminUser,
    scope: ScopeDep,
    reason: RequiredReason,
) -> Response:
    """Delete a device."""
    masterdata.delete_row(session, user, Device, device_id, reason=reason, scope=scope)
    return _deleted()


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
    session: SessionDep, _: ReaderUser, scope: ScopeDep, limit: Page = 100, offset: Offset = 0
) -> list[Product]:
    """Products by id."""
    return masterdata.list_rows(session, Product, limit=limit, offset=offset, scope=scope)


@router.post("/products", response_model=ProductOut, status_code=201)
def create_product(
    body: ProductIn,
    session: SessionDep,
    user: AdminUser,
    *,
    scope: ScopeDep,
    reason: Reason = "",
) -> Product:
    """Register a traced product (GTIN-8/12/13/14 accepted, stored as 14 digits)."""
    return masterdata.create_row(
        session, user, Product(**body.model_dump()), reason=reason, scope=scope
    )


@router.get("/products/{product_id}", response_model=ProductOut)
def get_product(product_id: int, session: SessionDep, _: ReaderUser, scope: ScopeDep) -> Product:
    """One product."""
    return masterdata.get_row(session, Product, product_id, scope)


@router.patch("/products/{product_id}", response_model=ProductOut)
def update_product(
    product_id: int,
    body: ProductPatch,
    session: SessionDep,
    user: AdminUser,
    *,
    scope: ScopeDep,
    reason: Reason = "",
) -> Product:
    """Change some fields of a product."""
    return masterdata.update_row(
        session, user, Product, product_id, _changes(body), reason=reason, scope=scope
    )


@router.delete("/products/{product_id}", status_code=204)
def delete_product(
    product_id: int,
    session: SessionDep,
    user: AdminUser,
    scope: ScopeDep,
    reason: RequiredReason,
) -> Response:
    """Delete a product that no work order refers to."""
    masterdata.delete_row(session, user, Product, product_id, reason=reason, scope=scope)
    return _deleted()


@router.put(
    "/products/{product_id}/photo",
    status_code=204,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                kind: {"schema": {"type": "string", "format": "binary"}} for kind in PHOTO_TYPES
            },
        }
    },
)
async def put_product_photo(
    product_id: int, request: Request, session: SessionDep, user: AdminUser, reason: Reason = ""
) -> Response:
    """Store the product's photo (JPEG, PNG or WebP, at most 2 MB); the consumer page
    shows it from ``/media/products/{gtin}``."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > media.MAX_PHOTO_BYTES:
            break  # enough to refuse it: the rest is not read
    media.store_photo(
        session,
        user,
        product_id,
        bytes(data),
        request.headers.get("content-type", ""),
        reason=reason,
    )
    return _deleted()


@router.get(
    "/media/products/{gtin}",
    response_class=Response,
    tags=["digital link"],
    responses={200: {"content": {kind: {} for kind in PHOTO_TYPES}}, 404: {}},
    dependencies=[Depends(rate_limited)],
)
def get_product_photo(
    gtin: Annotated[str, Path(pattern=r"^\d{14}$")], session: SessionDep
) -> Response:
    """The product's photo (public: the consumer page shows it)."""
    photo = media.photo_of(session, gtin)
    return Response(
        photo.data,
        media_type=photo.content_type,
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
