"""Master data, work orders to the line's command topic, serial blocks, trace, indicators."""

from __future__ import annotations

import json
import threading
import uuid

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy.orm import Session, sessionmaker

from lineside import contract
from lineside.errors import TransportError
from lineside.mqtt import BrokerEndpoint
from server.db.models import Organisation
from server.services.auth import Role
from server.services.commands import MqttCommandPublisher
from tests.server.api.conftest import GTIN, RecordingPublisher, auth, build_world


def test_master_data_round_trip_and_validation(client: TestClient, tokens: dict[Role, str]) -> None:
    tech = auth(tokens[Role.ADMINISTRATOR])  # organisations and products: administrators
    org = client.post(
        "/organisations", json={"name": "HTX A", "gln": "8934567000000"}, headers=tech
    )
    assert org.status_code == 201, org.text
    bad_gln = client.post(
        "/organisations", json={"name": "B", "gln": "8934567000001"}, headers=tech
    )
    assert bad_gln.status_code == 422
    assert "check digit 0 expected, got 1" in bad_gln.text
    product = {
        # A prefix no organisation holds (the test GTIN's is the business users').
        "gtin": "8939999000017",
        "organisation_id": org.json()["id"],
        "name_vi": "Chè",
        "ocop_group": "beverages",
        "ocop_stars": 3,
    }
    made = client.post("/products", json=product, headers=tech)
    assert made.status_code == 201, made.text
    assert made.json()["gtin"] == "08939999000017"
    assert client.post("/products", json=product, headers=tech).status_code == 409
    lonely = client.post("/products", json={**product, "ocop_group": None}, headers=tech)
    assert lonely.status_code == 422
    patched = client.patch(f"/products/{made.json()['id']}", json={"brand": "X"}, headers=tech)
    assert patched.json()["brand"] == "X"
    listed = client.get("/products", headers=auth(tokens[Role.AUDITOR])).json()
    assert [p["gtin"] for p in listed] == ["08939999000017"]
    refused = client.delete(
        f"/organisations/{org.json()['id']}?reason=merged",
        headers=auth(tokens[Role.ADMINISTRATOR]),
    )
    assert refused.status_code == 409  # a product still refers to it


def _order(world_product: int) -> dict[str, object]:
    return {
        "code": "WO-1",
        "line_id": "L1",
        "product_id": world_product,
        "lot": "L2026",
        "production_date": "2026-03-01",
        "expiry_date": "2027-12-31",
        "quantity": 1000,
        "units_per_case": 24,
    }


def test_work_order_is_published_to_the_line_and_tracks_state(
    client: TestClient,
    tokens: dict[Role, str],
    session_factory: sessionmaker[Session],
    publisher: RecordingPublisher,
) -> None:
    world = build_world(session_factory)
    operator = auth(tokens[Role.OPERATOR])
    made = client.post("/work-orders", json=_order(world.product_id), headers=operator)
    assert made.status_code == 201, made.text
    assert made.json()["state"] == "released"
    topic, payload = publisher.sent[-1]
    assert topic == "lineside/v1/factory-1/L1/commands"
    command = contract.decode(payload, topic)
    assert isinstance(command, contract.WorkOrderCommand)
    assert command.action is contract.WorkOrderAction.LOAD
    assert command.order is not None
    assert command.order.product.ocop is not None
    assert command.order.product.ocop.stars == 4
    order_id = made.json()["id"]
    started = client.post(
        f"/work-orders/{order_id}/actions", json={"action": "start"}, headers=operator
    )
    assert started.json()["state"] == "running"
    again = client.post(
        f"/work-orders/{order_id}/actions", json={"action": "start"}, headers=operator
    )
    assert again.status_code == 409
    publisher.fail = True
    paused = client.post(
        f"/work-orders/{order_id}/actions", json={"action": "pause"}, headers=operator
    )
    assert paused.status_code == 503
    state = client.get(f"/work-orders/{order_id}", headers=operator).json()["state"]
    assert state == "running"  # not changed: the line never heard of the pause


def test_serial_blocks_never_overlap_between_lines(
    client: TestClient,
    tokens: dict[Role, str],
    session_factory: sessionmaker[Session],
    publisher: RecordingPublisher,
) -> None:
    build_world(session_factory)
    tech = auth(tokens[Role.TECHNICIAN])
    assert (
        client.post("/lines", json={"id": "L2", "site": "factory-1"}, headers=tech).status_code
        == 201
    )
    drawn: list[set[str]] = []
    for line in ("L1", "L2", "L1"):
        block = client.post(
            f"/lines/{line}/serial-blocks",
            json={"gtin": GTIN, "count": 500, "serial_length": 10},
            headers=auth(tokens[Role.TECHNICIAN]),
        )
        assert block.status_code == 201, block.text
        serials = block.json()["serials"]
        assert len(serials) == len(set(serials)) == 500
        assert all(len(s) == 10 for s in serials)
        drawn.append(set(serials))
    assert not (drawn[0] & drawn[1])
    assert not (drawn[0] & drawn[2])
    assert not (drawn[1] & drawn[2])
    sent = contract.decode(publisher.sent[-1][1], publisher.sent[-1][0])
    assert isinstance(sent, contract.SerialBlockCommand)
    assert set(sent.serials) == drawn[2]
    guessable = client.post(
        "/lines/L1/serial-blocks",
        json={"gtin": GTIN, "count": 20_000, "serial_length": 8},
        headers=auth(tokens[Role.TECHNICIAN]),
    )
    assert guessable.status_code == 201  # 32**8 is ample
    assert (
        client.post(
            "/lines/NOPE/serial-blocks", json={"gtin": GTIN}, headers=auth(tokens[Role.TECHNICIAN])
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    "code",
    [
        f"https://id.example.vn/01/{GTIN}/21/S1",
        f"(01){GTIN}(21)S1",
        f"01{GTIN}21S1",
        "urn:epc:id:sgtin:8934567.089012.S1",
    ],
)
def test_trace_accepts_every_form_of_a_code(
    client: TestClient, tokens: dict[Role, str], session_factory: sessionmaker[Session], code: str
) -> None:
    build_world(session_factory)
    answer = client.get(f"/trace/{code}", headers=auth(tokens[Role.INSPECTOR]))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "genuine"
    assert body["lot"] == "L2026"
    assert body["commissioned"]["line_id"] == "L1"
    assert body["facility"]["name"] == "Xưởng Mật ong bạc hà"
    assert body["producer"]["tax_id"] == "0101234567"
    assert len(body["events"]) == 1


def test_trace_of_garbage_and_unknown(client: TestClient, tokens: dict[Role, str]) -> None:
    inspector = auth(tokens[Role.INSPECTOR])
    assert client.get("/trace/hello", headers=inspector).status_code == 422
    assert client.get(f"/trace/(01){GTIN}(21)X", headers=inspector).status_code == 404


def test_indicators_csv_counts_codes_and_scans(
    client: TestClient, tokens: dict[Role, str], session_factory: sessionmaker[Session]
) -> None:
    world = build_world(session_factory)
    with session_factory() as session, session.begin():
        organisation = session.get(Organisation, world.organisation_id)
        assert organisation is not None
        organisation.commune = "=HYPERLINK(1)"  # a formula must not reach a spreadsheet
    client.get(f"/01/{GTIN}/21/S1", headers={"Accept": "text/html"})
    answer = client.get("/reports/indicators.csv?year=2026", headers=auth(tokens[Role.AUDITOR]))
    assert answer.status_code == 200
    lines = answer.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("Năm,Nhóm,Tên,Số doanh nghiệp dùng mã số mã vạch")
    assert "2026,Toàn tỉnh,Toàn tỉnh,1,1,1,1,1,1" in lines[1]
    assert any(line.startswith('2026,"Xã, phường",\'=HYPERLINK') for line in lines)
    assert any(line.startswith('2026,"Tổ chức, doanh nghiệp",HTX Mật ong') for line in lines)
    assert any(line.startswith("2026,Nhóm sản phẩm OCOP,Thực phẩm,1,1") for line in lines)
    assert (
        client.get(
            "/reports/indicators.csv?year=2025", headers=auth(tokens[Role.AUDITOR])
        ).text.count(",1,1,1,1,1")
        == 0
    )
    report = client.get("/reports/yearly?year=2026", headers=auth(tokens[Role.AUDITOR]))
    assert report.status_code == 200
    assert 'id="uptake">100.0%' in report.text
    assert "Theo xã, phường" in report.text
    assert "huyện" not in report.text.lower()


@pytest.mark.mqtt
def test_mqtt_publisher_delivers_to_a_real_broker() -> None:
    topic = f"lineside/v1/test-{uuid.uuid4().hex[:8]}/L1/commands"
    received: list[bytes] = []
    got = threading.Event()
    subscribed = threading.Event()
    listener = mqtt.Client(CallbackAPIVersion.VERSION2)
    listener.on_subscribe = lambda *_args: subscribed.set()

    def on_message(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        received.append(bytes(message.payload))
        got.set()

    listener.on_message = on_message
    try:
        listener.connect("127.0.0.1", 1883)
    except OSError as exc:
        pytest.skip(f"no Mosquitto at 127.0.0.1:1883: {exc}")
    listener.loop_start()
    listener.subscribe(topic, qos=1)
    assert subscribed.wait(10)
    MqttCommandPublisher(BrokerEndpoint("127.0.0.1", 1883)).publish(topic, b'{"x":1}')
    assert got.wait(10)
    listener.disconnect()
    listener.loop_stop()
    assert json.loads(received[0]) == {"x": 1}
    with pytest.raises(TransportError, match="127.0.0.1:1"):
        MqttCommandPublisher(BrokerEndpoint("127.0.0.1", 1)).publish(topic, b"{}")
