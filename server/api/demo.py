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

from server.api.auth import Role, hash_password
from server.db.models import Event, EventEpc, Facility, Line, OcopGroup, Organisation, Product, User

DEMO_GTIN = "08934567890120"


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
            province="Thái Nguyên",
        )
        session.add(org)
        session.flush()
        facility = Facility(
            organisation_id=org.id, name="Xưởng chế biến số 1", district=org.district
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
        if session.scalar(select(User.id).where(User.username == "admin")) is None:
            session.add(
                User(
                    username="admin",
                    display_name="Quản trị",
                    role=Role.ADMINISTRATOR,
                    password_hash=hash_password(admin_password),
                )
            )
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
