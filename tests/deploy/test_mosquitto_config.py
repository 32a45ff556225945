"""The production Mosquitto configuration we ship: it must start, refuse strangers, keep each
line inside its own topics, speak TLS, and never drop queued QoS 1 messages."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from getpass import getuser
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tests.support.broker import MOSQUITTO, free_port, wait_for_port

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config" / "mosquitto"
PASSWORDS = {"aggregator": "agg-secret", "factory-1.L1": "l1-secret", "factory-1.L2": "l2-secret"}

pytestmark = pytest.mark.skipif(
    not Path(MOSQUITTO).exists()
    or shutil.which("mosquitto_passwd") is None
    or shutil.which("openssl") is None,
    reason="needs mosquitto, mosquitto_passwd and openssl",
)


@dataclass
class Broker:
    plain_port: int
    tls_port: int
    ca: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    work = tmp_path_factory.mktemp("mosquitto")
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Lineside test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        cwd=work,
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        cwd=work,
    )
    (work / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
        cwd=work,
    )
    passwd = work / "passwd"
    passwd.touch()
    for user, password in PASSWORDS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
    shutil.copy(CONFIG_DIR / "acl", work / "acl")
    plain, tls = free_port(), free_port()
    config = (CONFIG_DIR / "mosquitto.conf").read_text()
    config = (
        config.replace("/etc/mosquitto/lineside/", f"{work}/")
        .replace("/var/lib/mosquitto/", f"{work}/")
        .replace("listener 1883 127.0.0.1", f"listener {plain} 127.0.0.1")
        .replace("listener 8883", f"listener {tls}")
        .replace("per_listener_settings false", f"per_listener_settings false\nuser {getuser()}")
        .replace("log_dest syslog", f"log_dest file {work}/mosquitto.log\nlog_dest stderr")
    )
    (work / "mosquitto.conf").write_text(config)
    process = subprocess.Popen([MOSQUITTO, "-c", str(work / "mosquitto.conf")])
    try:
        wait_for_port(plain)
        wait_for_port(tls)
        yield Broker(plain, tls, work / "ca.crt")
    finally:
        process.terminate()
        process.wait(timeout=10)


class Client:
    """A small synchronous wrapper recording CONNACK, SUBACK and PUBACK reason codes."""

    def __init__(
        self,
        user: str | None,
        port: int,
        *,
        client_id: str = "",
        clean: bool = True,
        ca: Path | None = None,
    ) -> None:
        self.connected = threading.Event()
        self.connack: ReasonCode | None = None
        self.subacks: list[ReasonCode] = []
        self.subscribed = threading.Event()
        self.pubacks: dict[int, ReasonCode] = {}
        self.messages: list[bytes] = []
        self.lock = threading.Condition()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if user is not None:
            self.client.username_pw_set(user, PASSWORDS[user])
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self.client.connect(
            "localhost" if ca else "127.0.0.1", port, clean_start=clean, properties=props
        )
        self.client.loop_start()
        self.connected.wait(10)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: object,
        reason: ReasonCode,
        props: object,
    ) -> None:
        self.connack = reason
        self.connected.set()

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        props: object,
    ) -> None:
        self.subacks = reasons
        self.subscribed.set()

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, reason: ReasonCode, props: object
    ) -> None:
        with self.lock:
            self.pubacks[mid] = reason
            self.lock.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append(bytes(msg.payload))
            self.lock.notify_all()

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        info = self.client.publish(topic, payload, qos=1)
        with self.lock:
            assert self.lock.wait_for(lambda: info.mid in self.pubacks, 10)
            return self.pubacks[info.mid]

    def subscribe(self, topic: str) -> ReasonCode:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(10)
        return self.subacks[0]

    def wait_messages(self, count: int, timeout: float = 30) -> int:
        with self.lock:
            self.lock.wait_for(lambda: len(self.messages) >= count, timeout)
            return len(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_anonymous_clients_are_refused(broker: Broker) -> None:
    client = Client(None, broker.plain_port)
    try:
        assert client.connack is not None
        assert client.connack.is_failure
    finally:
        client.close()


def test_a_line_publishes_only_under_its_own_topics(broker: Broker) -> None:
    line = Client("factory-1.L1", broker.plain_port)
    try:
        assert line.connack is not None
        assert not line.connack.is_failure
        assert not line.publish("lineside/v1/factory-1/L1/events", b"{}").is_failure
        assert line.publish("lineside/v1/factory-1/L2/events", b"{}").value == 135
        assert line.publish("lineside/v1/factory-1/L1/commands", b"{}").value == 135
    finally:
        line.close()


def test_a_line_reads_only_its_own_commands(broker: Broker) -> None:
    line = Client("factory-1.L1", broker.plain_port)
    server = Client("aggregator", broker.plain_port)
    try:
        line.subscribe("lineside/v1/factory-1/+/commands")
        assert not server.publish("lineside/v1/factory-1/L2/commands", b"for L2").is_failure
        assert not server.publish("lineside/v1/factory-1/L1/commands", b"for L1").is_failure
        assert line.wait_messages(1) == 1
        assert not server.publish("lineside/v1/factory-1/L2/commands", b"for L2 again").is_failure
        assert not server.publish("lineside/v1/factory-1/L1/commands", b"for L1 again").is_failure
        assert line.wait_messages(2) == 2
        assert line.messages == [b"for L1", b"for L1 again"]
    finally:
        line.close()
        server.close()


def test_the_tls_listener_accepts_a_line_with_the_ca(broker: Broker) -> None:
    line = Client("factory-1.L2", broker.tls_port, ca=broker.ca)
    try:
        assert line.connack is not None
        assert not line.connack.is_failure
        assert not line.publish("lineside/v1/factory-1/L2/events", b"{}").is_failure
    finally:
        line.close()


def test_queued_messages_for_an_offline_subscriber_are_not_dropped(broker: Broker) -> None:
    """Mosquitto's default max_queued_messages (1000) would drop most of these."""
    count = 3000
    aggregator = Client("aggregator", broker.plain_port, client_id="agg-queue", clean=True)
    assert not aggregator.subscribe("lineside/v1/+/+/events").is_failure
    aggregator.close()

    line = Client("factory-1.L1", broker.plain_port)
    try:
        for i in range(count):
            line.client.publish("lineside/v1/factory-1/L1/events", str(i).encode(), qos=1)
        with line.lock:
            assert line.lock.wait_for(lambda: len(line.pubacks) == count, 60)
    finally:
        line.close()

    aggregator = Client("aggregator", broker.plain_port, client_id="agg-queue", clean=False)
    try:
        assert aggregator.wait_messages(count) == count
        assert sorted(int(m) for m in aggregator.messages) == list(range(count))
    finally:
        aggregator.close()


def test_a_work_order_from_the_shipped_server_config_reaches_its_line(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server, configured as ``config/server-postgresql.toml`` is (a broker user and a
    password file), publishes a work order that the line receives under the shipped ACL."""
    from fastapi.testclient import TestClient

    from lineside import contract
    from server.app import create_app
    from server.db import make_engine, make_session_factory, migrate
    from server.settings import load_settings
    from tests.server.api.conftest import auth, build_world

    password_file = tmp_path / "server.mqtt-password"
    password_file.write_text(PASSWORDS["aggregator"] + "\n")
    database = f"sqlite:///{tmp_path / 'server.db'}"
    shipped = Path(__file__).resolve().parents[2] / "config" / "server-postgresql.toml"
    # Only what differs on a test machine: where the database, broker and password are.
    monkeypatch.setenv("LINESIDE_SERVER_DATABASE_URL", database)
    monkeypatch.setenv("LINESIDE_SERVER_BROKER_URL", f"mqtt://127.0.0.1:{broker.plain_port}")
    monkeypatch.setenv("LINESIDE_SERVER_BROKER_PASSWORD_FILE", str(password_file))
    monkeypatch.setenv("LINESIDE_SERVER_INGEST_ENABLED", "false")
    monkeypatch.setenv("LINESIDE_SERVER_PORTAL_ENABLED", "false")
    settings = load_settings(shipped)
    assert settings.broker_username == "aggregator"
    migrate(database)
    engine = make_engine(database)
    factory = make_session_factory(engine)
    world = build_world(factory)
    line = Client("factory-1.L1", broker.plain_port)
    try:
        assert not line.subscribe("lineside/v1/factory-1/L1/commands").is_failure
        with TestClient(create_app(settings, session_factory=factory)) as client:
            from server.db.models import User
            from server.services.auth import Role, issue_token

            with factory() as session, session.begin():
                user = User(username="operator", role=Role.OPERATOR, password_hash="")
                session.add(user)
                session.flush()
                token = issue_token(session, user, timedelta(hours=1))
            made = client.post(
                "/work-orders",
                json={
                    "code": "WO-CRED-1",
                    "line_id": world.line_id,
                    "product_id": world.product_id,
                    "lot": "L2026",
                    "production_date": "2026-03-01",
                    "expiry_date": "2027-12-31",
                    "quantity": 100,
                    "units_per_case": 10,
                },
                headers=auth(token),
            )
        assert made.status_code == 201, made.text
        assert line.wait_messages(1) == 1
        command = contract.decode(line.messages[0], "lineside/v1/factory-1/L1/commands")
        assert isinstance(command, contract.WorkOrderCommand)
        assert command.order is not None
        assert (command.order.id, command.order.lot, command.order.quantity) == (
            "WO-CRED-1",
            "L2026",
            100,
        )
    finally:
        line.close()
        engine.dispose()


def test_a_line_reads_only_its_own_receipts_which_only_the_aggregator_writes(
    broker: Broker,
) -> None:
    # No client may forge receipts (which would delete unstored events), not even the line.
    # (Mosquitto drops the connection of a client refused a publish: one client per try.)
    for user in ("factory-1.L2", "factory-1.L1"):
        forger = Client(user, broker.plain_port)
        try:
            assert forger.publish("lineside/v1/factory-1/L1/receipts", b"forged").value == 135
        finally:
            forger.close()
    line = Client("factory-1.L1", broker.plain_port)
    server = Client("aggregator", broker.plain_port)
    try:
        assert not line.subscribe("lineside/v1/factory-1/+/receipts").is_failure
        assert not server.publish("lineside/v1/factory-1/L2/receipts", b"for L2").is_failure
        assert not server.publish("lineside/v1/factory-1/L1/receipts", b"for L1").is_failure
        assert line.wait_messages(1) == 1
        assert not server.publish("lineside/v1/factory-1/L1/receipts", b"again").is_failure
        assert line.wait_messages(2) == 2
        assert line.messages == [b"for L1", b"again"]
    finally:
        line.close()
        server.close()
