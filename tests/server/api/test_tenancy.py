"""Role x organisation matrix over every route of the OpenAPI document.

Two organisations, A and B, each with a facility, a line, a device, a product, a work
order, a serial block, a recall, an event, a capture job and a dead letter. Business
users (operator, technician) of A must never read or change B's records: a record of B
answers 404, exactly like a record that does not exist (a role that may not call the
route at all still gets its 403 first). Inspectors and auditors read both. Every route
of the document is classified below, so a new route fails this test until it says how
it is scoped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from lineside.epcis import event_hash
from lineside.epcis.identifiers import gs1_check_digit
from server.db.models import (
    CaptureJob,
    CaptureJobState,
    DeadLetter,
    Device,
    Event,
    EventEpc,
    Facility,
    IssuedSerial,
    Line,
    Organisation,
    Product,
    Recall,
    SerialBlock,
    User,
    WorkOrder,
)
from server.services.auth import Role, issue_token
from tests.server.api.conftest import auth
from tests.server.api.test_access import OPERATIONS, PUBLIC

BUSINESS = (Role.OPERATOR, Role.TECHNICIAN)
PROVINCE_READERS = (Role.INSPECTOR, Role.AUDITOR)


def _gtin(prefix: str) -> str:
    body = f"0{prefix}00001"
    return body + gs1_check_digit(body)


@dataclass(frozen=True)
class Tenant:
    """One organisation's records."""

    key: str
    organisation: int
    prefix: str
    facility: int
    line: str
    device: str
    product: int
    gtin: str
    work_order: int
    recall: int
    capture_job: str
    event_id: str
    dead_letter: int

    @property
    def unit(self) -> str:
        return f"(01){self.gtin}(21){self.key}1"


def _tenant(session: Session, key: str, prefix: str) -> Tenant:
    org = Organisation(name=f"HTX {key}", gs1_company_prefix=prefix, district=f"Huyện {key}")
    session.add(org)
    session.flush()
    facility = Facility(organisation_id=org.id, name=f"Xưởng {key}")
    session.add(facility)
    session.flush()
    line = Line(id=f"L{key}", site=f"site-{key.lower()}", facility_id=facility.id)
    session.add(line)
    session.flush()
    session.add(Device(id=f"D{key}", line_id=line.id))
    gtin = _gtin(prefix)
    product = Product(
        gtin=gtin,
        organisation_id=org.id,
        name_vi=f"Sản phẩm {key}",
        ocop_group="food",
        ocop_stars=3,
        certificate_valid_until=date(2030, 1, 1),
    )
    session.add(product)
    session.flush()
    order = WorkOrder(
        code=f"WO-{key}", line_id=line.id, product_id=product.id, lot=f"LOT{key}", quantity=10
    )
    block = SerialBlock(id=f"sb-{key}", gtin=gtin, line_id=line.id, count=1)
    recall = Recall(gtin=gtin, organisation_id=org.id, lot=f"LOT{key}", reason="test")
    job = CaptureJob(
        id=f"00000000-0000-0000-0000-00000000000{key}",
        state=CaptureJobState.SUCCEEDED,
        organisation_id=org.id,
        errors={},
    )
    letter = DeadLetter(
        topic="t", payload=b"{}", reason=f"refused {key}", line_id=line.id, organisation_id=org.id
    )
    session.add_all([order, block, recall, job, letter])
    session.flush()
    session.add(IssuedSerial(gtin=gtin, serial=f"{key}1", block_id=block.id))
    epc = f"https://id.gs1.org/01/{gtin}/21/{key}1"
    when = datetime(2026, 3, 1, 8, tzinfo=UTC)
    document = {
        "type": "ObjectEvent",
        "action": "ADD",
        "bizStep": "commissioning",
        "eventTime": when.isoformat(),
        "eventTimeZoneOffset": "+07:00",
        "epcList": [epc],
        "ilmd": {"cbvmda:lotNumber": f"LOT{key}"},
    }
    event_id = event_hash(document)
    session.add(
        Event(
            event_id=event_id,
            type="ObjectEvent",
            action="ADD",
            biz_step="commissioning",
            event_time=when,
            line_id=line.id,
            organisation_id=org.id,
            document={**document, "eventID": event_id},
        )
    )
    session.flush()
    session.add(EventEpc(event_id=event_id, epc=epc, role="epc"))
    return Tenant(
        key, org.id, prefix, facility.id, line.id, f"D{key}", product.id, gtin, order.id,
        recall.id, job.id, event_id, letter.id,
    )  # fmt: skip


@dataclass(frozen=True)
class World:
    a: Tenant
    b: Tenant
    tokens: dict[Role, str]


@pytest.fixture
def world(client: TestClient, session_factory: sessionmaker[Session]) -> World:
    with session_factory() as session, session.begin():
        a = _tenant(session, "A", "8930011")
        b = _tenant(session, "B", "8930022")
        tokens: dict[Role, str] = {}
        for role in Role:
            user = User(
                username=f"{role.value}-a",
                role=role,
                organisation_id=a.organisation if role in BUSINESS else None,
            )
            session.add(user)
            session.flush()
            tokens[role] = issue_token(session, user, timedelta(hours=1))
    return World(a, b, tokens)


# --------------------------------------------------------------------------- one record


def _fill(path: str, tenant: Tenant) -> str:
    values = {
        "organisation_id": tenant.organisation,
        "facility_id": tenant.facility,
        "line_id": tenant.line,
        "device_id": tenant.device,
        "product_id": tenant.product,
        "work_order_id": tenant.work_order,
        "recall_id": tenant.recall,
        "capture_id": tenant.capture_job,
        "prefix": tenant.prefix,
        "code": tenant.unit,
        "event_id": quote(tenant.event_id, safe=""),
        "letter_id": tenant.dead_letter,
    }
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), path)


def _body(method: str, path: str, tenant: Tenant) -> dict[str, Any] | None:
    """A valid body for a write on ``tenant``'s record (its scoping must answer)."""
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("PATCH", "/organisations/{organisation_id}"): {"phone": "1"},
        ("POST", "/organisations/{organisation_id}/company-prefixes"): {"prefix": "89300999"},
        ("PATCH", "/facilities/{facility_id}"): {"address": "x"},
        ("PATCH", "/lines/{line_id}"): {"name": "x"},
        ("PATCH", "/devices/{device_id}"): {"model": "x"},
        ("PATCH", "/products/{product_id}"): {"brand": "x"},
        ("POST", "/work-orders/{work_order_id}/actions"): {"action": "pause"},
        ("POST", "/lines/{line_id}/serial-blocks"): {
            "gtin": tenant.gtin,
            "count": 1,
            "publish": False,
        },
    }
    return bodies.get((method, path))


#: The EPCIS binding's top-level resources, which list values (scoped like the lists).
EPCIS_RESOURCES = {("GET", "/epcis/{resource}"), ("GET", "/epcis/{resource}/{value}")}
#: Named queries and subscriptions: defined by province-wide roles; a named query's
#: events are scoped like ``/epcis/events`` (tests/server/epcis/test_named_queries.py).
EPCIS_QUERIES = {
    op for op in OPERATIONS if op[1].startswith(("/epcis/queries", "/epcis/nextPageToken"))
}

#: Routes naming one record in their path; business users of A get 404 on B's.
ONE_RECORD = {
    op
    for op in OPERATIONS
    if "{" in op[1]
    and op not in PUBLIC
    and op not in EPCIS_RESOURCES
    and op not in EPCIS_QUERIES
    and op[1] != "/users/{user_id}/deactivate"
}


@pytest.mark.parametrize(("method", "path"), sorted(ONE_RECORD))
def test_business_users_cannot_reach_another_organisations_record(
    client: TestClient, world: World, method: str, path: str
) -> None:
    query = "?reason=test"
    for role in BUSINESS:
        answer = client.request(
            method,
            _fill(path, world.b) + query,
            json=_body(method, path, world.b),
            headers=auth(world.tokens[role]),
        )
        if answer.status_code == 403:
            assert "may not do this" in answer.json()["detail"], (role, answer.text)
            continue
        assert answer.status_code == 404, (role, answer.text)
        own = client.request(
            method,
            _fill(path, world.a) + query,
            json=_body(method, path, world.a),
            headers=auth(world.tokens[role]),
        )
        # Its own record: found (the change may still conflict with its state).
        assert own.status_code not in {403, 404}, (role, own.text)


@pytest.mark.parametrize(("method", "path"), sorted(op for op in ONE_RECORD if op[0] == "GET"))
def test_province_readers_read_every_organisations_record(
    client: TestClient, world: World, method: str, path: str
) -> None:
    for role in PROVINCE_READERS:
        answer = client.get(_fill(path, world.b), headers=auth(world.tokens[role]))
        assert answer.status_code == 200, (role, answer.text)


# --------------------------------------------------------------------------- lists

#: (path, what identifies a tenant's record in the answer).
LISTS: dict[str, Callable[[Tenant], str]] = {
    "/organisations": lambda t: f'"id":{t.organisation},',
    "/facilities": lambda t: f'"name":"Xưởng {t.key}"',
    "/lines": lambda t: f'"id":"{t.line}"',
    "/devices": lambda t: f'"id":"{t.device}"',
    "/products": lambda t: t.gtin,
    "/work-orders": lambda t: f"WO-{t.key}",
    "/recalls": lambda t: f"LOT{t.key}",
    "/dead-letters": lambda t: f"refused {t.key}",
    "/epcis/capture": lambda t: t.capture_job,
    "/epcis/events": lambda t: t.event_id,
    "/epcis/epcs": lambda t: f"/01/{t.gtin}/21/{t.key}1",
    "/epcis/eventTypes/ObjectEvent/events": lambda t: t.event_id,
    "/reports/indicators": lambda t: f"HTX {t.key}",
    "/reports/indicators.csv": lambda t: f"HTX {t.key}",
    "/reports/yearly": lambda t: f"HTX {t.key}",
    "/dashboard": lambda t: f">{t.line}<",
}


@pytest.mark.parametrize("path", sorted(LISTS))
def test_lists_hold_only_the_callers_organisation(
    client: TestClient, world: World, path: str
) -> None:
    mark = LISTS[path]
    year = "?year=2026" if path.startswith("/reports") else ""
    for role in BUSINESS:
        answer = client.get(path + year, headers=auth(world.tokens[role]))
        assert answer.status_code == 200, (role, answer.text)
        text = answer.text.replace(": ", ":")
        assert mark(world.a) in text, (role, path)
        assert mark(world.b) not in text, (role, path)
    for role in PROVINCE_READERS:
        answer = client.get(path + year, headers=auth(world.tokens[role]))
        assert answer.status_code == 200, (role, answer.text)
        text = answer.text.replace(": ", ":")
        assert mark(world.a) in text, (role, path)
        assert mark(world.b) in text, (role, path)


# --------------------------------------------------------------------------- creation


def _creations(world: World) -> dict[tuple[str, str], dict[str, Any]]:
    """Each creating route, with a body pointing at B's records."""
    b = world.b
    unit = f"https://id.gs1.org/01/{b.gtin}/21/NEW1"
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "action": "ADD",
        "bizStep": "commissioning",
        "eventTime": "2026-03-02T08:00:00Z",
        "eventTimeZoneOffset": "+07:00",
        "epcList": [unit],
    }
    event["eventID"] = event_hash(event)
    return {
        ("POST", "/lines"): {"id": "LX", "site": "site-x", "facility_id": b.facility},
        ("POST", "/devices"): {"id": "DX", "line_id": b.line},
        ("POST", "/work-orders"): {
            "code": "WO-X",
            "line_id": b.line,
            "product_id": b.product,
            "lot": "X",
            "production_date": "2026-03-01",
            "quantity": 1,
        },
        ("POST", "/epcis/capture"): {
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-03-02T08:00:00Z",
            "epcisBody": {"eventList": [event]},
        },
        ("POST", "/epcis/events"): event,
    }


#: Creating routes only administrators or inspectors may call (403 to business users).
NOT_FOR_BUSINESS = {
    ("POST", "/organisations"),
    ("POST", "/facilities"),
    ("POST", "/products"),
    ("POST", "/recalls"),
    ("POST", "/users"),
    ("GET", "/users"),
    ("POST", "/users/{user_id}/deactivate"),
    ("GET", "/audit"),
    ("GET", "/audit/verify"),
}


def test_creations_pointing_at_another_organisation_are_refused(
    client: TestClient, world: World
) -> None:
    for (method, path), body in _creations(world).items():
        for role in BUSINESS:
            answer = client.request(method, path, json=body, headers=auth(world.tokens[role]))
            if answer.status_code == 403 and "may not do this" in answer.text:
                continue
            expected = 403 if path.startswith("/epcis/") else 404
            assert answer.status_code == expected, (role, path, answer.text)


@pytest.mark.parametrize(("method", "path"), sorted(NOT_FOR_BUSINESS))
def test_province_wide_actions_are_refused_to_business_users(
    client: TestClient, world: World, method: str, path: str
) -> None:
    for role in BUSINESS:
        answer = client.request(
            method, path.replace("{user_id}", "1"), json={}, headers=auth(world.tokens[role])
        )
        assert answer.status_code == 403, (role, answer.text)


def test_a_technician_registers_lines_only_in_its_own_organisation(
    client: TestClient, world: World
) -> None:
    tech = auth(world.tokens[Role.TECHNICIAN])
    made = client.post("/lines", json={"id": "LA2", "site": "site-a"}, headers=tech)
    assert made.status_code == 201, made.text
    assert made.json()["organisation_id"] == world.a.organisation
    moved = client.patch("/lines/LA2", json={"organisation_id": world.b.organisation}, headers=tech)
    assert moved.status_code == 404, moved.text
    foreign = client.post(
        "/lines",
        json={"id": "LA3", "site": "site-a", "organisation_id": world.b.organisation},
        headers=tech,
    )
    assert foreign.status_code == 404, foreign.text


#: Routes that hold no organisation's records.
NOT_TENANT_DATA = {
    ("GET", "/auth/me"),
    ("POST", "/auth/logout"),
    ("POST", "/logout"),
    ("GET", "/epcis/"),  # the list of the binding's resources
    ("GET", "/dashboard/live"),  # "something changed": the page is then read, scoped
}


def test_every_route_is_classified() -> None:
    classified = (
        PUBLIC
        | ONE_RECORD
        | {("GET", path) for path in LISTS}
        | EPCIS_RESOURCES
        | EPCIS_QUERIES
        | set(_creations(World(_NO_TENANT, _NO_TENANT, {})))
        | NOT_FOR_BUSINESS
        | NOT_TENANT_DATA
    )
    assert set(OPERATIONS) - classified == set()


_NO_TENANT = Tenant("Z", 0, "0", 0, "", "", 0, "00000000000000", 0, 0, "", "", 0)
