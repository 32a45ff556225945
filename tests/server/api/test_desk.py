"""The desk over HTTP: sign-in for browsers and programs, offline docs, the dashboard's
figures, work orders that follow their line, dead-letter replay, reports, photos and the
consumer page's content."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lineside import contract
from server.app import create_app
from server.db.models import (
    AlarmRecord,
    DeadLetter,
    Event,
    EventEpc,
    Facility,
    Line,
    Organisation,
    Recall,
    User,
    WorkOrder,
    WorkOrderState,
)
from server.ingest import BatchProcessor, InboundMessage
from server.services.auth import Role, hash_password
from server.settings import ServerSettings
from tests.server.api.conftest import GTIN, RecordingPublisher, auth, build_world

HTML = {"Accept": "text/html,application/xhtml+xml"}


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (20, 120, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


def _admin(session_factory: sessionmaker[Session], password: str = "desk-pass-1") -> None:
    with session_factory() as session, session.begin():
        session.add(
            User(
                username="desk-admin",
                role=Role.ADMINISTRATOR,
                password_hash=hash_password(password),
            )
        )


# --------------------------------------------------------------------------- sign-in


def test_browsers_go_to_the_login_page_and_programs_get_a_problem(client: TestClient) -> None:
    page = client.get("/reports/yearly?year=2026", headers=HTML, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Freports%2Fyearly%3Fyear%3D2026"
    program = client.get("/dashboard", follow_redirects=False)
    assert program.status_code == 401
    assert program.headers["content-type"] == "application/problem+json"
    login = client.get("/login?next=/reports/yearly", headers=HTML)
    assert 'name="next" value="/reports/yearly"' in login.text
    assert "Tên đăng nhập" in login.text
    assert "Username" not in login.text


def test_login_returns_to_where_the_browser_was_going_and_never_elsewhere(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    _admin(session_factory)
    form = {"username": "desk-admin", "password": "desk-pass-1"}
    back = client.post("/login", data={**form, "next": "/reports/yearly"}, follow_redirects=False)
    assert back.status_code == 303
    assert back.headers["location"] == "/reports/yearly"
    away = client.post("/login", data={**form, "next": "//evil.example/"}, follow_redirects=False)
    assert away.headers["location"] == "/dashboard"
    wrong = client.post("/login", data={**form, "password": "nope"}, follow_redirects=False)
    assert wrong.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu." in wrong.text


def test_token_endpoint_takes_an_oauth2_form_as_well_as_json(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    _admin(session_factory)
    form = client.post(
        "/auth/token",
        data={"grant_type": "password", "username": "desk-admin", "password": "desk-pass-1"},
    )
    assert form.status_code == 200, form.text
    assert form.json()["token_type"] == "bearer"
    assert client.get("/auth/me", headers=auth(form.json()["access_token"])).status_code == 200
    as_json = client.post("/auth/token", json={"username": "desk-admin", "password": "desk-pass-1"})
    assert as_json.status_code == 200
    wrong = client.post("/auth/token", data={"username": "desk-admin", "password": "x"})
    assert wrong.status_code == 401
    grant = client.post(
        "/auth/token", data={"grant_type": "client_credentials", "username": "a", "password": "b"}
    )
    assert grant.status_code == 422
    assert "grant_type" in grant.json()["detail"]
    empty = client.post("/auth/token", json={"username": "desk-admin"})
    assert empty.status_code == 422
    assert empty.json()["detail"].startswith("password:")


def test_docs_load_nothing_from_another_host(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        urls += re.findall(r"""url: ?['"]([^'"]+)['"]""", html)
        assert urls, page
        for url in urls:
            assert url.startswith("/"), (page, url)
            assert client.get(url).status_code == 200, url
    assert "fonts.googleapis" not in client.get("/redoc").text


# --------------------------------------------------------------------------- work orders


def _status(line: str, state: contract.LineState, order: str, done: int, bad: int) -> bytes:
    return contract.encode(
        contract.LineStatus(
            site="factory-1",
            line=line,
            state=state,
            work_order=order,
            counters=contract.LineCounters(allocated=done + bad, commissioned=done, rejected=bad),
            rate_per_minute=1000.0,
        )
    )


def test_work_orders_follow_their_line_to_the_close(
    client: TestClient,
    tokens: dict[Role, str],
    session_factory: sessionmaker[Session],
    publisher: RecordingPublisher,
) -> None:
    world = build_world(session_factory)
    body = {
        "line_id": "L1",
        "product_id": world.product_id,
        "lot": "L2026",
        "production_date": "2026-03-01",
        "quantity": 100,
    }
    created = client.post("/work-orders", json=body, headers=auth(tokens[Role.OPERATOR]))
    assert created.status_code == 201, created.text
    code = created.json()["code"]
    assert re.fullmatch(r"L1-\d{8}-01", code)
    topics = contract.Topics(site="factory-1", line="L1")
    processor = BatchProcessor(session_factory)
    running = _status("L1", contract.LineState.RUNNING, code, 40, 2)
    processor.process([InboundMessage(topics.status, running)])
    with session_factory() as session:
        order = session.scalars(select(WorkOrder).where(WorkOrder.code == code)).one()
        assert (order.state, order.commissioned, order.rejected) == (WorkOrderState.RUNNING, 40, 2)
    report = contract.ReconciliationReport(
        site="factory-1",
        line="L1",
        work_order=code,
        lots=(
            contract.LotCounts(
                lot="L2026", allocated=100, commissioned=95, rejected=3, sampled=2, returned=0
            ),
        ),
        cases=4,
    )
    late_status = _status("L1", contract.LineState.RUNNING, code, 41, 2)
    processor.process(
        [
            InboundMessage(topics.reports, contract.encode(report)),
            InboundMessage(topics.status, late_status),
        ]
    )
    with session_factory() as session:
        order = session.scalars(select(WorkOrder).where(WorkOrder.code == code)).one()
        assert order.state is WorkOrderState.CLOSED
        assert (order.commissioned, order.rejected, order.sampled) == (95, 3, 2)
        assert order.closed_at is not None
    page = client.get("/dashboard", headers=auth(tokens[Role.AUDITOR]))
    row = re.search(rf'<tr data-code="{code}">(.*?)</tr>', page.text, re.S)
    assert row is not None
    assert "Đã đóng" in row.group(1)
    assert "Khớp" in row.group(1)
    # The line said 1000 units a minute; the desk counts what was commissioned instead.
    assert '<td class="rate">0.0</td>' in page.text
    assert "1000" not in page.text


def test_two_lines_never_share_a_work_order_code(
    client: TestClient, tokens: dict[Role, str], session_factory: sessionmaker[Session]
) -> None:
    world = build_world(session_factory)
    with session_factory() as session, session.begin():
        session.add(Line(id="L2", site="factory-1", facility_id=world.facility_id))
    body = {
        "code": "WO-1",
        "product_id": world.product_id,
        "lot": "L2026",
        "production_date": "2026-03-01",
        "quantity": 10,
    }
    operator = auth(tokens[Role.OPERATOR])
    assert (
        client.post("/work-orders", json={**body, "line_id": "L1"}, headers=operator).status_code
        == 201
    )
    clash = client.post("/work-orders", json={**body, "line_id": "L2"}, headers=operator)
    assert clash.status_code == 409
    assert "already used on line 'L1'" in clash.json()["detail"]


# --------------------------------------------------------------------------- dead letters


def test_a_dead_letter_is_explained_and_replayed_once_fixed(
    client: TestClient, tokens: dict[Role, str], session_factory: sessionmaker[Session]
) -> None:
    build_world(session_factory)
    topics = contract.Topics(site="factory-2", line="L7")
    payload = _status("L7", contract.LineState.ONLINE, "X", 0, 0).replace(
        b'"factory-1"', b'"factory-2"'
    )
    BatchProcessor(session_factory).process([InboundMessage(topics.status, payload)])
    with session_factory() as session:
        letter_id = session.scalars(select(DeadLetter.id)).one()
    page = client.get("/dashboard", headers=auth(tokens[Role.AUDITOR])).text
    assert "Dây chuyền gửi tin chưa được đăng ký trên máy chủ." in page
    # A line nobody registered belongs to no organisation: province roles see its letters.
    assert client.get("/dead-letters", headers=auth(tokens[Role.TECHNICIAN])).json() == []
    listed = client.get("/dead-letters", headers=auth(tokens[Role.INSPECTOR])).json()
    assert [(item["id"], item["reason"]) for item in listed] == [(letter_id, "unknown line 'L7'")]
    assert listed[0]["fix"].startswith("Đăng ký dây chuyền")
    admin = auth(tokens[Role.ADMINISTRATOR])
    again = client.post(f"/dead-letters/{letter_id}/replay", headers=admin)
    assert again.json() == {"stored": False, "reason": "unknown line 'L7'"}
    with session_factory() as session, session.begin():
        session.add(Line(id="L7", site="factory-2"))
        letter_id = session.scalars(select(DeadLetter.id)).one()
    assert client.post(f"/dead-letters/{letter_id}/replay", headers=admin).json()["stored"]
    with session_factory() as session:
        assert session.scalars(select(DeadLetter)).all() == []
    forged = client.post(f"/dead-letters/{letter_id}/replay", data={"form_token": "x"})
    assert forged.status_code == 401
    auditor = client.post("/dead-letters/1/replay", headers=auth(tokens[Role.AUDITOR]))
    assert auditor.status_code == 403


# --------------------------------------------------------------------------- reports


def test_reports_default_to_this_year(
    client: TestClient, tokens: dict[Role, str], session_factory: sessionmaker[Session]
) -> None:
    build_world(session_factory)
    reader = auth(tokens[Role.AUDITOR])
    year = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).year
    page = client.get("/reports/yearly", headers=reader)
    assert page.status_code == 200
    assert f"truy xuất nguồn gốc năm {year}</h1>" in page.text
    assert client.get("/reports/indicators", headers=reader).status_code == 200
    csv_answer = client.get("/reports/indicators.csv", headers=reader)
    assert csv_answer.status_code == 200
    assert 'filename="chi-tieu-' in csv_answer.headers["content-disposition"]
    rows = client.get("/reports/indicators?year=2026", headers=reader).json()
    assert {row["dimension"] for row in rows} == {
        "total",
        "commune",
        "organisation",
        "product_group",
    }
    assert client.get("/reports/yearly?year=1999", headers=reader).status_code == 422


# --------------------------------------------------------------------------- consumer page


def test_product_photo_is_checked_stored_and_served_locally(
    client: TestClient, tokens: dict[Role, str], session_factory: sessionmaker[Session]
) -> None:
    world = build_world(session_factory)
    admin = auth(tokens[Role.ADMINISTRATOR])
    url = f"/products/{world.product_id}/photo"
    png = _png()
    stored = client.put(url, content=png, headers={**admin, "Content-Type": "image/png"})
    assert stored.status_code == 204, stored.text
    served = client.get(f"/media/products/{GTIN}")
    assert served.content == png
    assert served.headers["content-type"] == "image/png"
    svg = client.put(
        url, content=b"<svg onload=alert(1)>", headers={**admin, "Content-Type": "image/svg+xml"}
    )
    assert svg.status_code == 422
    assert "not a JPEG, PNG or WebP" in svg.json()["detail"]
    huge = b"\xff\xd8\xff" + bytes(2 * 1024 * 1024)
    too_big = client.put(url, content=huge, headers={**admin, "Content-Type": "image/jpeg"})
    assert too_big.status_code == 422
    assert "byte limit" in too_big.json()["detail"]
    # Far over: refused before it is read.
    huge = bytes(4 * 1024 * 1024)
    refused = client.put(url, content=huge, headers={**admin, "Content-Type": "image/jpeg"})
    assert refused.status_code == 413
    page = client.get(f"/01/{GTIN}/21/S1", headers=HTML).text
    assert f'src="/media/products/{GTIN}"' in page
    assert client.get("/media/products/08934567890999").status_code == 404


def test_consumer_page_names_places_in_local_time_with_hotline_and_recall_advice(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    world = build_world(session_factory)
    shipped = datetime(2026, 3, 1, 20, 30, tzinfo=UTC)  # 03:30 on 2 March in Vietnam
    with session_factory() as session, session.begin():
        org = session.get(Organisation, world.organisation_id)
        assert org is not None
        org.hotline = "1800 1234"
        shop = Facility(organisation_id=org.id, name="Cửa hàng Đồng Xuân", gln="8934567000019")
        session.add(shop)
        epc = f"https://id.gs1.org/01/{GTIN}/21/S1"
        session.add(
            Event(
                event_id="ni:///sha-256;" + "b" * 64 + "?ver=CBV2.0",
                type="ObjectEvent",
                action="OBSERVE",
                biz_step="https://ref.gs1.org/cbv/BizStep-receiving",
                event_time=shipped,
                biz_location="https://id.gs1.org/414/8934567000019",
                line_id=None,
                document={"type": "ObjectEvent", "epcList": [epc], "bizStep": "receiving"},
            )
        )
        session.flush()
        session.add(
            EventEpc(event_id="ni:///sha-256;" + "b" * 64 + "?ver=CBV2.0", epc=epc, role="epc")
        )
        session.add(Recall(gtin=GTIN, lot="L2026", reason="Phát hiện nấm mốc", issued_at=shipped))
    page = client.get(f"/01/{GTIN}/21/S1", headers=HTML).text
    assert "Cửa hàng Đồng Xuân" in page
    assert "id.gs1.org/414" not in page
    assert "02/03/2026 03:30" in page
    assert 'href="tel:18001234"' in page
    assert "Ngừng sử dụng sản phẩm ngay" in page
    assert "UTC" not in page


def test_desk_times_are_local_and_the_zone_is_configurable(
    settings: ServerSettings,
    session_factory: sessionmaker[Session],
    publisher: RecordingPublisher,
    tokens: dict[Role, str],
    client: TestClient,
) -> None:
    build_world(session_factory)
    with session_factory() as session, session.begin():
        session.add(
            AlarmRecord(
                site="factory-1",
                line_id="L1",
                code="paper_out",
                severity="critical",
                message="critical: unit printer: paper_out",
                raised_at=datetime(2026, 3, 1, 20, 30, tzinfo=UTC),
            )
        )
    reader = auth(tokens[Role.AUDITOR])
    assert "02/03/2026 03:30" in client.get("/dashboard", headers=reader).text
    in_utc = create_app(
        settings.model_copy(update={"timezone": "UTC"}),
        session_factory=session_factory,
        command_publisher=publisher,
    )
    with TestClient(in_utc) as utc_client:
        assert "01/03/2026 20:30" in utc_client.get("/dashboard", headers=reader).text
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        ServerSettings(timezone="Mars/Olympus")


def test_clone_alerts_and_recalls_reach_the_desk(
    client: TestClient, tokens: dict[Role, str], session_factory: sessionmaker[Session]
) -> None:
    build_world(session_factory)
    with session_factory() as session, session.begin():
        session.add(Recall(gtin=GTIN, lot="L2026", reason="Phát hiện nấm mốc"))
    for _ in range(3):  # one phone reloading is not a copy
        client.get(f"/p/01/{GTIN}/21/S2", headers=HTML)
    for device in range(7):
        client.cookies.clear()
        client.get(f"/p/01/{GTIN}/21/S1", headers={**HTML, "User-Agent": f"phone-{device}"})
    client.cookies.clear()
    page = client.get("/dashboard", headers=auth(tokens[Role.INSPECTOR])).text
    clones = page[page.index('id="clones"') : page.index("</table>", page.index('id="clones"'))]
    assert "S1" in clones
    assert "S2" not in clones
    assert "<td>7</td>" in clones  # seven devices
    assert "Phát hiện nấm mốc" in page
    assert "Thực phẩm" in page  # the OCOP overview, in Vietnamese
