"""The Digital Link resolver: consumer page, linkset, statuses, scans, escaping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.db.models import ConsumerScan, Event, EventEpc
from server.services.auth import Role
from tests.server.api.conftest import DOMAIN, GTIN, auth, build_world

UNIT = f"/01/{GTIN}/10/L2026/21/S1"
HTML = {"Accept": "text/html"}


def test_commissioned_unit_shows_product_stars_and_genuine_in_vietnamese(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    build_world(session_factory)
    page = client.get(UNIT, headers=HTML)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    body = page.text
    assert 'data-status="genuine"' in body
    assert "Chính hãng" in body
    assert "Mật ong bạc hà" in body
    assert 'data-stars="4"' in body
    assert "★★★★☆" in body
    assert "OCOP-Mật ong bạc hà" in body
    assert "31/12/2027" in body  # expiry from the commissioning event's ILMD
    assert '<html lang="vi">' in body


def test_english_by_query_or_accept_language(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    build_world(session_factory)
    by_query = client.get(UNIT + "?lang=en", headers=HTML).text
    by_header = client.get(UNIT, headers={**HTML, "Accept-Language": "en-GB,en;q=0.8"}).text
    for body in (by_query, by_header):
        assert "Genuine" in body
        assert "EN Mật ong bạc hà" in body
        assert '<html lang="en">' in body


def test_unknown_serial_gets_an_honest_404_without_internals(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    build_world(session_factory)
    page = client.get(f"/01/{GTIN}/21/NOPE", headers=HTML)
    assert page.status_code == 404
    assert "Mã không xác định" in page.text
    assert "Traceback" not in page.text
    assert "sqlalchemy" not in page.text.lower()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/01/123", "too short"),
        ("/01/08934567890121/21/X", "check digit"),
        ("/01/%00%ff", "NUL"),
    ],
)
def test_malformed_codes_are_400_with_the_parser_message_not_500(
    client: TestClient, path: str, message: str
) -> None:
    for accept in (HTML, {"Accept": "application/linkset+json"}):
        answer = client.get(path, headers=accept)
        assert answer.status_code == 400
        assert answer.headers["content-type"] == "application/problem+json"
        assert message in answer.json()["detail"]


@pytest.mark.parametrize("path", ["/01/%00%ff", "/01/08934567890120/21/%ED%A0%80"])
def test_nul_bytes_and_lone_surrogates_in_a_code_are_400(client: TestClient, path: str) -> None:
    for accept in (HTML["Accept"], "application/linkset+json"):
        answer = client.get(path, headers={"Accept": accept})
        assert answer.status_code == 400
        assert answer.headers["content-type"] == "application/problem+json"


def test_recalled_lot_shows_the_warning_and_reason(
    client: TestClient, session_factory: sessionmaker[Session], tokens: dict[Role, str]
) -> None:
    build_world(session_factory)
    made = client.post(
        "/recalls",
        json={"gtin": GTIN, "lot": "L2026", "reason": "Nhiễm khuẩn"},
        headers=auth(tokens[Role.INSPECTOR]),
    )
    assert made.status_code == 201, made.text
    body = client.get(UNIT, headers=HTML).text
    assert 'data-status="recalled"' in body
    assert "Nhiễm khuẩn" in body
    lifted = client.post(
        f"/recalls/{made.json()['id']}/lift?reason=cleared",
        headers=auth(tokens[Role.INSPECTOR]),
    )
    assert lifted.status_code == 200
    assert 'data-status="genuine"' in client.get(UNIT, headers=HTML).text


def test_voided_unit_is_reported_as_voided(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    build_world(session_factory)
    with session_factory() as session, session.begin():
        epc = f"https://id.gs1.org/01/{GTIN}/21/S1"
        event_id = "ni:///sha-256;" + "b" * 64 + "?ver=CBV2.0"
        session.add(
            Event(
                event_id=event_id,
                type="ObjectEvent",
                action="DELETE",
                biz_step="https://ref.gs1.org/cbv/BizStep-decommissioning",
                event_time=datetime(2026, 3, 1, 9, tzinfo=UTC),
                document={"type": "ObjectEvent", "epcList": [epc]},
            )
        )
        session.flush()
        session.add(EventEpc(event_id=event_id, epc=epc, role="epc"))
    assert 'data-status="voided"' in client.get(UNIT, headers=HTML).text


def test_expired_by_the_code_own_date(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    build_world(session_factory)
    # The event says 2027-12-31, but the QR's own (17) is consulted first.
    assert 'data-status="expired"' in client.get(UNIT + "?17=200101", headers=HTML).text


def test_each_view_is_recorded_and_the_page_says_what_was_seen(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    build_world(session_factory)
    body = client.get(UNIT, headers=HTML).text
    assert 'data-devices="1"' in body
    assert "đã được 1 thiết bị quét, tại 1 nơi, kể từ" in body
    assert "clone-warning" not in body
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ConsumerScan)) == 1


def test_linkset_follows_rfc_9264_with_gs1_link_types(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    build_world(session_factory)
    answer = client.get(UNIT, headers={"Accept": "application/linkset+json"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/linkset+json")
    (entry,) = answer.json()["linkset"]
    assert entry["anchor"] == f"{DOMAIN}{UNIT}"
    assert entry["https://gs1.org/voc/pip"][0]["href"] == f"{DOMAIN}/p{UNIT}"
    assert "https://gs1.org/voc/certificationInfo" in entry
    assert client.get(UNIT + "?linkType=all").json()["linkset"][0]["anchor"] == entry["anchor"]


SCRIPTY = '<script>alert("x")</script>'


def test_every_field_is_escaped(
    client: TestClient, session_factory: sessionmaker[Session], tokens: dict[Role, str]
) -> None:
    build_world(session_factory, text=SCRIPTY, stars=5)
    client.post(
        "/recalls",
        json={"gtin": GTIN, "reason": SCRIPTY},
        headers=auth(tokens[Role.INSPECTOR]),
    )
    for lang in ("vi", "en"):
        body = client.get(f"{UNIT}?lang={lang}", headers=HTML).text
        assert "<script>" not in body
        assert "&lt;script&gt;" in body
    # The parser's message names the bad value, in a JSON problem that no browser renders.
    refused = client.get("/01/%3Cscript%3E", headers=HTML)
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["x-content-type-options"] == "nosniff"
    unknown = client.get("/p/01/08934567890137/21/%3Cscript%3E", headers=HTML).text
    assert "<script>" not in unknown


def test_six_reloads_by_one_browser_do_not_mark_the_code_as_copied(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    build_world(session_factory)
    for _ in range(6):
        body = client.get(UNIT, headers=HTML).text
    assert 'data-devices="1"' in body
    assert "clone-warning" not in body
    assert 'data-status="genuine"' in body


def test_six_reloads_by_a_browser_refusing_cookies_are_one_device(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    build_world(session_factory)
    for _ in range(6):
        client.cookies.clear()
        body = client.get(UNIT, headers=HTML).text
    assert 'data-devices="1"' in body
    assert "clone-warning" not in body


def test_many_distinct_devices_mark_the_code_as_possibly_copied(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    build_world(session_factory)
    for device in range(6):
        client.cookies.clear()
        body = client.get(UNIT, headers={**HTML, "User-Agent": f"phone-{device}"}).text
    assert 'data-devices="6"' in body
    assert "clone-warning" in body
    assert "đã được 6 thiết bị quét, tại 1 nơi" in body


def test_a_forged_device_cookie_is_not_a_new_device(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    build_world(session_factory)
    for forged in range(6):
        client.cookies.clear()
        client.cookies.set("ls_device", f"{forged:032d}.0000000000000000", path="/p/")
        body = client.get(UNIT, headers=HTML).text
    assert 'data-devices="1"' in body
