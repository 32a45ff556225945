"""Demonstration data: one cooperative, its line, an OCOP product and a day of units.

>>> DemoSummary(gtin="08934567890120", serials=("A",), username="admin").gtin
'08934567890120'
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.db.models import (
    Device,
    Event,
    EventEpc,
    Facility,
    Line,
    OcopGroup,
    Organisation,
    Product,
    User,
)
from server.services.auth import Role, hash_password

DEMO_GTIN = "08934567890120"
#: Serials a demo line may draw itself: its agents run without a serial server, on the
#: offline reserve the demo declares for them.
DEMO_OFFLINE_RESERVE = 10_000_000


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What :func:`seed_demo` created."""

    gtin: str
    serials: tuple[str, ...]
    username: str


def _event_id(seed: str) -> str:
    return f"ni:///sha-256;{hashlib.sha256(seed.encode()).hexdigest()}?ver=CBV2.0"


def seed_demo(factory: sessionmaker[Session], admin_password: str, units: int = 48) -> DemoSummary:
    """Create the demo records (idempotent: an existing demo product is left alone)."""
    now = datetime.now(UTC).replace(microsecond=0)
    serials = tuple(f"DEMO{index:06d}" for index in range(units))
    with factory() as session, session.begin():
        if session.scalar(select(Product.id).where(Product.gtin == DEMO_GTIN)) is not None:
            return DemoSummary(DEMO_GTIN, serials, "admin")
        org = Organisation(
            name="Hợp tác xã Chè Tân Cương",
            address="Xã Tân Cương, TP Thái Nguyên",
            tax_id="4601234567",
            gs1_company_prefix="8934567",
            district="TP Thái Nguyên",
            commune="Xã Tân Cương",
            province="Thái Nguyên",
            hotline="0208 3855 123",
        )
        session.add(org)
        session.flush()
        facility = Facility(
            organisation_id=org.id,
            name="Xưởng chế biến số 1",
            district=org.district,
            commune=org.commune,
            province=org.province,
        )
        session.add(facility)
        session.flush()
        session.add(Line(id="L1", site="tan-cuong", facility_id=facility.id, name="Dây chuyền 1"))
        session.add(
            Product(
                gtin=DEMO_GTIN,
                organisation_id=org.id,
                name_vi="Chè Tân Cương đặc biệt 200 g",
                name_en="Tan Cuong special green tea 200 g",
                description_vi="Chè búp được hái và sao thủ công tại Tân Cương.",
                description_en="Hand-picked and hand-roasted tea buds from Tan Cuong.",
                origin="Tân Cương, Thái Nguyên",
                ocop_group=OcopGroup.BEVERAGES,
                ocop_stars=4,
                certificate_number="OCOP-TN-2025-0042",
                certificate_valid_until=date(2028, 6, 30),
                shelf_life_days=540,
            )
        )
        _administrator(session, "admin", admin_password)
        for index, serial in enumerate(serials):
            when = now - timedelta(minutes=20 * index)
            epc = f"https://id.gs1.org/01/{DEMO_GTIN}/21/{serial}"
            event_id = _event_id(epc)
            session.add(
                Event(
                    event_id=event_id,
                    type="ObjectEvent",
                    action="ADD",
                    biz_step="https://ref.gs1.org/cbv/BizStep-commissioning",
                    event_time=when,
                    line_id="L1",
                    device_id="agent-1",
                    organisation_id=org.id,
                    document={
                        "type": "ObjectEvent",
                        "eventID": event_id,
                        "action": "ADD",
                        "bizStep": "commissioning",
                        "eventTime": when.isoformat(),
                        "epcList": [epc],
                        "ilmd": {
                            "cbvmda:lotNumber": "TC2026",
                            "cbvmda:itemExpirationDate": (when + timedelta(days=540))
                            .date()
                            .isoformat(),
                        },
                    },
                )
            )
            session.flush()
            session.add(EventEpc(event_id=event_id, epc=epc, role="epc"))
    return DemoSummary(DEMO_GTIN, serials, "admin")


# --------------------------------------------------------------------------- demo company
#
# A fictitious cooperative of the northern mountains, for ``lineside demo``: GS1 Vietnam
# prefix 893, every check digit valid, real-sounding OCOP products of the region. It is
# data only; nothing in the system treats this company, its province or its products
# differently from any other.


@dataclass(frozen=True, slots=True)
class DemoProduct:
    """One product of the demo catalogue."""

    gtin: str
    name_vi: str
    name_en: str
    description_vi: str
    description_en: str
    brand: str
    origin: str
    category: str
    net_content: str
    standards: str
    ocop_group: OcopGroup
    ocop_stars: int
    certificate_number: str
    certificate_valid_from: date
    shelf_life_days: int
    #: Lot codes start with this (the work order adds the date).
    lot_prefix: str


@dataclass(frozen=True, slots=True)
class DemoCompany:
    """The demo cooperative, its facility and its catalogue."""

    name: str
    address: str
    district: str
    province: str
    tax_id: str
    company_prefix: str
    gln: str
    phone: str
    email: str
    facility_name: str
    facility_address: str
    facility_district: str
    facility_province: str
    facility_gln: str
    products: tuple[DemoProduct, ...]
    #: Communes since the 2025 reform (reports group by them) and the consumers' number.
    commune: str = ""
    facility_commune: str = ""
    hotline: str = ""


#: OCOP certificates are valid for 36 months.
OCOP_CERTIFICATE_MONTHS = 36

DEMO_COMPANY = DemoCompany(
    name="Hợp tác xã Nông sản Xanh Ba Bể",
    address="Thôn Pác Ngòi, xã Nam Mẫu, huyện Ba Bể, tỉnh Bắc Kạn",
    district="Ba Bể",
    province="Thái Nguyên",
    tax_id="4700912345",
    company_prefix="8938512",
    gln="8938512000015",
    phone="0209 3894 123",
    email="lienhe@nongsanxanhbabe.example.vn",
    facility_name="Xưởng đóng gói Chợ Đồn",
    facility_address="Tiểu khu 2, thị trấn Bằng Lũng, huyện Chợ Đồn (nay thuộc tỉnh Thái Nguyên)",
    facility_district="Chợ Đồn",
    facility_province="Thái Nguyên",
    facility_gln="8938512000022",
    products=(
        DemoProduct(
            gtin="08938512000114",
            name_vi="Miến dong Côn Minh 500 g",
            name_en="Con Minh arrowroot glass noodles 500 g",
            description_vi=(
                "Miến làm từ củ dong riềng trồng trên đồi xã Côn Minh, tráng và phơi nắng "
                "thủ công, sợi dai, không chất tẩy trắng."
            ),
            description_en=(
                "Noodles made from arrowroot grown on the hills of Con Minh commune, "
                "spread and sun-dried by hand, with no bleaching agent."
            ),
            brand="Miến Côn Minh",
            origin="Xã Côn Minh, huyện Na Rì, Bắc Kạn (nay thuộc Thái Nguyên)",
            category="Thực phẩm khô",
            net_content="500 g",
            standards="TCCS 01:2024/NSX; TCVN 13274:2020",
            ocop_group=OcopGroup.FOOD,
            ocop_stars=4,
            certificate_number="OCOP-BK-2024-0117",
            certificate_valid_from=date(2024, 9, 20),
            shelf_life_days=365,
            lot_prefix="MD",
        ),
        DemoProduct(
            gtin="08938512000282",
            name_vi="Chè Shan tuyết Bằng Phúc 100 g",
            name_en="Bang Phuc Shan Tuyet tea 100 g",
            description_vi=(
                "Búp chè từ những cây Shan tuyết cổ thụ trên núi xã Bằng Phúc, sao suốt "
                "bằng chảo gang, nước vàng sánh, hậu ngọt."
            ),
            description_en=(
                "Buds from ancient Shan Tuyet tea trees on the mountains of Bang Phuc "
                "commune, roasted in cast-iron pans; golden liquor, sweet aftertaste."
            ),
            brand="Chè Bằng Phúc",
            origin="Xã Bằng Phúc, huyện Chợ Đồn, Bắc Kạn (nay thuộc Thái Nguyên)",
            category="Đồ uống",
            net_content="100 g",
            standards="TCVN 9740:2013",
            ocop_group=OcopGroup.BEVERAGES,
            ocop_stars=4,
            certificate_number="OCOP-BK-2023-0089",
            certificate_valid_from=date(2023, 12, 5),
            shelf_life_days=540,
            lot_prefix="CT",
        ),
        DemoProduct(
            gtin="08938512000350",
            name_vi="Hồng không hạt sấy dẻo 250 g",
            name_en="Dried seedless persimmon 250 g",
            description_vi=(
                "Hồng không hạt Quang Thuận chín cây, gọt và sấy dẻo ở nhiệt độ thấp, giữ "
                "vị ngọt thanh tự nhiên."
            ),
            description_en=(
                "Tree-ripened Quang Thuan seedless persimmons, peeled and slowly dried at "
                "a low temperature to keep their natural sweetness."
            ),
            brand="Hồng Quang Thuận",
            origin="Xã Quang Thuận, huyện Bạch Thông, Bắc Kạn (nay thuộc Thái Nguyên)",
            category="Trái cây sấy",
            net_content="250 g",
            standards="TCCS 02:2024/NSX",
            ocop_group=OcopGroup.FOOD,
            ocop_stars=3,
            certificate_number="OCOP-BK-2025-0031",
            certificate_valid_from=date(2025, 3, 14),
            shelf_life_days=180,
            lot_prefix="HK",
        ),
        DemoProduct(
            gtin="08938512000428",
            name_vi="Quýt Quang Thuận hộp 2 kg",
            name_en="Quang Thuan mandarins, 2 kg box",
            description_vi=(
                "Quýt vỏ vàng óng, múi mọng, hái đúng độ chín tại các vườn đồi xã Quang "
                "Thuận, đóng hộp trong ngày."
            ),
            description_en=(
                "Golden-skinned, juicy mandarins picked ripe in the hillside orchards of "
                "Quang Thuan commune and boxed the same day."
            ),
            brand="Quýt Quang Thuận",
            origin="Xã Quang Thuận, huyện Bạch Thông, Bắc Kạn (nay thuộc Thái Nguyên)",
            category="Trái cây tươi",
            net_content="2 kg",
            standards="VietGAP",
            ocop_group=OcopGroup.FOOD,
            ocop_stars=4,
            certificate_number="OCOP-BK-2024-0102",
            certificate_valid_from=date(2024, 11, 2),
            shelf_life_days=21,
            lot_prefix="QT",
        ),
    ),
    commune="Xã Nam Mẫu",
    facility_commune="Xã Chợ Đồn",
    hotline="1800 6060",
)


@dataclass(frozen=True, slots=True)
class DemoLine:
    """A packing line of the demo site, and the product it runs."""

    line_id: str
    name: str
    product_gtin: str


@dataclass(frozen=True, slots=True)
class SeededCompany:
    """What :func:`seed_demo_company` created (or found): ids the demo needs."""

    site: str
    site_gln: str
    company_prefix: str
    product_ids: dict[str, int]
    lines: tuple[DemoLine, ...]
    admin_username: str


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    return date(day.year + month // 12, month % 12 + 1, min(day.day, 28))


def _organisation(session: Session, company: DemoCompany) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.tax_id == company.tax_id))
    if org is None:
        org = Organisation(
            name=company.name,
            address=company.address,
            tax_id=company.tax_id,
            gs1_company_prefix=company.company_prefix,
            gln=company.gln,
            district=company.district,
            commune=company.commune,
            province=company.province,
            phone=company.phone,
            hotline=company.hotline,
            email=company.email,
        )
        session.add(org)
        session.flush()
    return org


def _facility(session: Session, company: DemoCompany, org: Organisation) -> Facility:
    facility = session.scalar(select(Facility).where(Facility.gln == company.facility_gln))
    if facility is None:
        facility = Facility(
            organisation_id=org.id,
            name=company.facility_name,
            address=company.facility_address,
            gln=company.facility_gln,
            district=company.facility_district,
            commune=company.facility_commune,
            province=company.facility_province,
        )
        session.add(facility)
        session.flush()
    return facility


def _product(session: Session, item: DemoProduct, org: Organisation) -> Product:
    product = session.scalar(select(Product).where(Product.gtin == item.gtin))
    if product is None:
        product = Product(
            gtin=item.gtin,
            organisation_id=org.id,
            name_vi=item.name_vi,
            name_en=item.name_en,
            description_vi=item.description_vi,
            description_en=item.description_en,
            brand=item.brand,
            origin=item.origin,
            category=item.category,
            net_content=item.net_content,
            standards=item.standards,
            key_product=True,
            ocop_group=item.ocop_group,
            ocop_stars=item.ocop_stars,
            certificate_number=item.certificate_number,
            certificate_valid_from=item.certificate_valid_from,
            certificate_valid_until=_add_months(
                item.certificate_valid_from, OCOP_CERTIFICATE_MONTHS
            ),
            shelf_life_days=item.shelf_life_days,
        )
        session.add(product)
        session.flush()
    return product


def _line_and_agent(
    session: Session, line: DemoLine, *, site: str, site_gln: str, facility: Facility
) -> None:
    if session.get(Line, line.line_id) is None:
        session.add(
            Line(
                id=line.line_id,
                site=site,
                site_gln=site_gln,
                facility_id=facility.id,
                organisation_id=facility.organisation_id,
                name=line.name,
                offline_reserve=DEMO_OFFLINE_RESERVE,
            )
        )
        session.flush()
    # The line's agent publishes its events as device "<line id>".
    if session.get(Device, line.line_id) is None:
        session.add(
            Device(
                id=line.line_id,
                line_id=line.line_id,
                kind="agent",
                role="agent",
                description=f"Edge agent of {line.name}",
            )
        )


def _administrator(session: Session, username: str, password: str) -> None:
    if session.scalar(select(User.id).where(User.username == username)) is None:
        session.add(
            User(
                username=username,
                display_name="Quản trị",
                role=Role.ADMINISTRATOR,
                password_hash=hash_password(password),
            )
        )


def seed_demo_company(
    factory: sessionmaker[Session],
    *,
    site: str,
    lines: tuple[DemoLine, ...],
    admin_password: str,
    company: DemoCompany = DEMO_COMPANY,
    admin_username: str = "admin",
) -> SeededCompany:
    """Create the demo company, its facility, catalogue, lines and admin (idempotent).

    Rows that exist already (same GTIN, GLN, tax ID, line ID or user name) are reused,
    so the demo can run again on the same database.
    """
    with factory() as session, session.begin():
        org = _organisation(session, company)
        facility = _facility(session, company, org)
        product_ids = {item.gtin: _product(session, item, org).id for item in company.products}
        for line in lines:
            _line_and_agent(
                session, line, site=site, site_gln=company.facility_gln, facility=facility
            )
        _administrator(session, admin_username, admin_password)
    return SeededCompany(
        site=site,
        site_gln=company.facility_gln,
        company_prefix=company.company_prefix,
        product_ids=product_ids,
        lines=lines,
        admin_username=admin_username,
    )
