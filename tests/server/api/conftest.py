"""An app on the migrated test database, a recording command publisher and one token per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from lineside.errors import TransportError
from server.app import create_app
from server.db.models import (
    CompanyPrefix,
    Event,
    EventEpc,
    Facility,
    Line,
    Organisation,
    Product,
    User,
)
from server.services.auth import Role, issue_token
from server.settings import ServerSettings

DOMAIN = "https://id.example.vn"
GTIN = "08934567890120"  # company prefix 8934567 (GS1 Vietnam)
PREFIX = "8934567"


@dataclass
class RecordingPublisher:
    """Keeps published commands instead of sending them; can be told to fail."""

    sent: list[tuple[str, bytes]] = field(default_factory=list)
    fail: bool = False

    def publish(self, topic: str, payload: bytes) -> None:
        if self.fail:
            raise TransportError("broker unreachable (test)")
        self.sent.append((topic, payload))


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def settings(db_url: str) -> ServerSettings:
    return ServerSettings(
        database_url=db_url,
        resolver_domain=DOMAIN,
        secret_key="test-salt",
        rate_limit_per_minute=100_000,
        rate_limit_burst=100_000,
        secure_cookies=False,
    )


@pytest.fixture
def client(
    settings: ServerSettings,
    clean_db: Engine,
    session_factory: sessionmaker[Session],
    publisher: RecordingPublisher,
) -> Iterator[TestClient]:
    app = create_app(settings, session_factory=session_factory, command_publisher=publisher)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def tokens(client: TestClient, session_factory: sessionmaker[Session]) -> dict[Role, str]:
    """A bearer token for a user of every role; the business users (operator, technician)
    belong to the organisation holding the test GTIN's company prefix, the one
    :func:`build_world` fills."""
    issued: dict[Role, str] = {}
    with session_factory() as session, session.begin():
        org = _organisation(session, "Mật ong bạc hà")
        for role in Role:
            business = role in {Role.OPERATOR, Role.TECHNICIAN}
            user = User(
                username=f"user-{role.value}",
                role=role,
                password_hash="",
                organisation_id=org.id if business else None,
            )
            session.add(user)
            session.flush()
            issued[role] = issue_token(session, user, timedelta(hours=1))
    return issued


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class World:
    organisation_id: int
    facility_id: int
    line_id: str
    product_id: int


def commissioning_event(
    event_id: str, serial: str, when: datetime, lot: str = "L2026", line: str = "L1"
) -> Event:
    epc = f"https://id.gs1.org/01/{GTIN}/21/{serial}"
    document = {
        "type": "ObjectEvent",
        "eventID": event_id,
        "action": "ADD",
        "bizStep": "commissioning",
        "eventTime": when.isoformat(),
        "epcList": [epc],
        "ilmd": {"cbvmda:lotNumber": lot, "cbvmda:itemExpirationDate": "2027-12-31"},
    }
    return Event(
        event_id=event_id,
        type="ObjectEvent",
        action="ADD",
        biz_step="https://ref.gs1.org/cbv/BizStep-commissioning",
        event_time=when,
        line_id=line,
        document=document,
    )


def _organisation(session: Session, text: str) -> Organisation:
    """The organisation holding the test prefix, created on first use."""
    held = session.get(CompanyPrefix, PREFIX)
    if held is not None:
        found = session.get(Organisation, held.organisation_id)
        assert found is not None
        return found
    org = Organisation(
        name=f"HTX {text}",
        address=f"Xã {text}, huyện Mèo Vạc",
        tax_id="0101234567",
        gs1_company_prefix=PREFIX,
        district=f"Huyện {text}",
        province="Thái Nguyên",
    )
    session.add(org)
    session.flush()
    return org


def build_world(
    session_factory: sessionmaker[Session], text: str = "Mật ong bạc hà", stars: int = 4
) -> World:
    """An organisation (the business users' of :func:`tokens`), facility, line and OCOP
    product; serial S1 commissioned."""
    with session_factory() as session, session.begin():
        org = _organisation(session, text)
        facility = Facility(organisation_id=org.id, name=f"Xưởng {text}", district="Mèo Vạc")
        session.add(facility)
        session.flush()
        session.add(Line(id="L1", site="factory-1", facility_id=facility.id, name="Line 1"))
        product = Product(
            gtin=GTIN,
            organisation_id=org.id,
            name_vi=text,
            name_en=f"EN {text}",
            description_vi=f"Câu chuyện {text}",
            image_url="/static/none.png",
            origin=text,
            ocop_group="food",
            ocop_stars=stars,
            certificate_number=f"OCOP-{text}",
            certificate_valid_until=date(2028, 1, 1),
        )
        session.add(product)
        session.flush()
        when = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
        event = commissioning_event("ni:///sha-256;" + "a" * 64 + "?ver=CBV2.0", "S1", when)
        session.add(event)
        session.flush()
        session.add(EventEpc(event_id=event.event_id, epc=event.document["epcList"][0], role="epc"))
        return World(org.id, facility.id, "L1", product.id)
