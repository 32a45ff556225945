"""The production Mosquitto configuration we ship: it must start, refuse strangers, keep each
line inside its own topics and its own client ID (no session takeover), speak TLS, and never
drop queued QoS 1 messages. Users are made as in production: ``mosquitto_ctrl dynsec init``
for the broker's administrator, then the server's own enrolment code."""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from getpass import getuser
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from lineside.errors import InvalidInput, TransportError
from lineside.mqtt import BrokerEndpoint
from server.errors import Conflict, NotFound
from server.services.broker_identity import (
    DynsecAdmin,
    LineCredentials,
    enroll_line,
    revoke_line,
    rotate_line,
    setup_aggregator,
)
from tests.support.broker import MOSQUITTO, free_port, wait_for_port

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config" / "mosquitto"
SHIPPED = (CONFIG_DIR / "mosquitto.conf").read_text()
DYNSEC_PLUGIN = re.search(r"^plugin (\S+)$", SHIPPED, re.MULTILINE)
ADMIN = "lineside-admin"
#: Filled by the broker fixture: the aggregator's password is chosen, the lines' are made
#: by enrolment.
PASSWORDS: dict[str, str] = {ADMIN: "admin-secret", "aggregator": "agg-secret"}
CLIENT_IDS = {
    "factory-1.L1": "lineside-edge-factory-1-L1",
    "factory-1.L2": "lineside-edge-factory-1-L2",
}

pytestmark = pytest.mark.skipif(
    not Path(MOSQUITTO).exists()
    or shutil.which("mosquitto_ctrl") is None
    or shutil.which("openssl") is None
    or DYNSEC_PLUGIN is None
    or not Path(DYNSEC_PLUGIN.group(1)).exists(),
    reason="needs mosquitto with its dynamic-security plugin, mosquitto_ctrl and openssl",
)


@dataclass
class Broker:
    plain_port: int
    tls_port: int
    ca: Path

    def admin(self) -> DynsecAdmin:
        endpoint = BrokerEndpoint("127.0.0.1", self.plain_port, username=ADMIN)
        return DynsecAdmin(replace(endpoint, password=PASSWORDS[ADMIN]))


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
    subprocess.run(
        [
            "mosquitto_ctrl",
            "dynsec",
            "init",
            str(work / "dynamic-security.json"),
            ADMIN,
            PASSWORDS[ADMIN],
        ],
        check=True,
        capture_output=True,
    )
    plain, tls = free_port(), free_port()
    config = (
        SHIPPED.replace("/etc/mosquitto/lineside/", f"{work}/")
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
        broker = Broker(plain, tls, work / "ca.crt")
        with broker.admin() as admin:
            setup_aggregator(admin, "aggregator", PASSWORDS["aggregator"])
            for line in ("L1", "L2"):
                made = enroll_line(admin, "factory-1", line)
                assert made.client_id == CLIENT_IDS[made.username]
                PASSWORDS[made.username] = made.password
        yield broker
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
        client_id: str | None = None,
        clean: bool = True,
        ca: Path | None = None,
        password: str | None = None,
    ) -> None:
        self.connected = threading.Event()
        self.connack: ReasonCode | None = None
        self.subacks: list[ReasonCode] = []
        self.subscribed = threading.Event()
        self.pubacks: dict[int, ReasonCode] = {}
        self.messages: list[bytes] = []
        self.lock = threading.Condition()
        self.disconnected = threading.Event()
        if client_id is None:  # a line under its bound client ID, anyone else under a fresh one
            client_id = CLIENT_IDS.get(user or "", "")
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if user is not None:
            self.client.username_pw_set(user, password or PASSWORDS[user])
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *_args: self.disconnected.set()
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
        assert line.subscribe("lineside/v1/factory-1/+/commands").is_failure
        assert line.subscribe("lineside/v1/factory-1/L2/commands").is_failure
        assert line.subscribe("#").is_failure
        assert not line.subscribe("lineside/v1/factory-1/L1/commands").is_failure
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
    from server.services.audit_anchor import write_new_key
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
    audit_key = tmp_path / "audit-signing.key"
    write_new_key(audit_key)
    monkeypatch.setenv("LINESIDE_SERVER_AUDIT_SIGNING_KEY_FILE", str(audit_key))
    monkeypatch.setenv("LINESIDE_SERVER_AUDIT_CHECKPOINT_FILE", str(tmp_path / "audit.jsonl"))
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
                user = User(
                    username="operator",
                    role=Role.OPERATOR,
                    password_hash="",
                    organisation_id=world.organisation_id,
                )
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


def test_a_line_cannot_take_over_the_aggregators_session(broker: Broker) -> None:
    """The probe's finding: factory-1.L1 connecting as client "aggregator-1" with
    clean_start=False got the aggregator's session, and the aggregator 0 of 50 events."""
    count = 50
    aggregator = Client("aggregator", broker.plain_port, client_id="aggregator-1", clean=True)
    assert not aggregator.subscribe("$share/aggregators/lineside/v1/+/+/events").is_failure
    aggregator.close()
    line = Client("factory-1.L1", broker.plain_port)
    try:
        for i in range(count):
            line.client.publish("lineside/v1/factory-1/L1/events", str(i).encode(), qos=1)
        with line.lock:
            assert line.lock.wait_for(lambda: len(line.pubacks) == count, 30)
    finally:
        line.close()

    thief = Client("factory-1.L1", broker.plain_port, client_id="aggregator-1", clean=False)
    try:
        assert thief.connack is not None
        assert thief.connack.is_failure
        assert thief.messages == []
    finally:
        thief.close()

    aggregator = Client("aggregator", broker.plain_port, client_id="aggregator-1", clean=False)
    try:
        assert aggregator.wait_messages(count) == count
        assert sorted(int(m) for m in aggregator.messages) == list(range(count))
    finally:
        aggregator.close()


@pytest.mark.parametrize("client_id", ["lineside-edge-factory-1-L2", "lineside-server-x", ""])
def test_a_line_connects_only_under_its_own_client_id(broker: Broker, client_id: str) -> None:
    line = Client("factory-1.L1", broker.plain_port, client_id=client_id)
    try:
        assert line.connack is not None
        assert line.connack.is_failure
    finally:
        line.close()


def _enrolled_line(broker: Broker, line: str) -> LineCredentials:
    with broker.admin() as admin:
        return enroll_line(admin, "factory-2", line)


def test_enrolling_twice_is_refused_and_rotation_disconnects(broker: Broker) -> None:
    made = _enrolled_line(broker, "R1")
    line = Client(
        made.username, broker.plain_port, client_id=made.client_id, password=made.password
    )
    try:
        assert line.connack is not None
        assert not line.connack.is_failure
        with broker.admin() as admin, pytest.raises(Conflict, match="already enrolled"):
            enroll_line(admin, "factory-2", "R1")
        with broker.admin() as admin:
            rotated = rotate_line(admin, "factory-2", "R1")
        assert rotated.password != made.password
        assert rotated.client_id == made.client_id
        assert line.disconnected.wait(10)
    finally:
        line.close()
    old = Client(made.username, broker.plain_port, client_id=made.client_id, password=made.password)
    new = Client(
        made.username, broker.plain_port, client_id=made.client_id, password=rotated.password
    )
    try:
        assert old.connack is not None
        assert old.connack.is_failure
        assert new.connack is not None
        assert not new.connack.is_failure
        assert not new.publish("lineside/v1/factory-2/R1/events", b"{}").is_failure
        assert new.publish("lineside/v1/factory-1/L1/events", b"{}").value == 135
    finally:
        old.close()
        new.close()


def test_revocation_disconnects_and_refuses_the_line(broker: Broker) -> None:
    made = _enrolled_line(broker, "R2")
    line = Client(
        made.username, broker.plain_port, client_id=made.client_id, password=made.password
    )
    try:
        assert line.connack is not None
        assert not line.connack.is_failure
        with broker.admin() as admin:
            revoke_line(admin, "factory-2", "R2")
        assert line.disconnected.wait(10)
    finally:
        line.close()
    again = Client(
        made.username, broker.plain_port, client_id=made.client_id, password=made.password
    )
    try:
        assert again.connack is not None
        assert again.connack.is_failure
    finally:
        again.close()
    with broker.admin() as admin, pytest.raises(NotFound):
        revoke_line(admin, "factory-2", "R2")


def test_enrolment_refuses_identifiers_that_would_widen_the_topics(broker: Broker) -> None:
    with broker.admin() as admin:
        for site, line in (
            ("factory-1", "+"),
            ("#", "L1"),
            ("a/b", "L1"),
            ("f", "L1 "),
            ("factory.1", "L1"),  # "factory.1.L1" could also be site "factory", line "1.L1"
        ):
            with pytest.raises(InvalidInput):
                enroll_line(admin, site, line)


def test_a_user_who_is_not_the_administrator_is_named(broker: Broker) -> None:
    endpoint = BrokerEndpoint(
        "127.0.0.1", broker.plain_port, username="aggregator", password=PASSWORDS["aggregator"]
    )
    with pytest.raises(TransportError, match="not the broker's administrator"):
        DynsecAdmin(endpoint, timeout=5).__enter__()


def test_a_wrong_administrator_password_is_named(broker: Broker) -> None:
    endpoint = BrokerEndpoint("127.0.0.1", broker.plain_port, username=ADMIN, password="nope")
    with pytest.raises(TransportError, match="refused the administrator"):
        DynsecAdmin(endpoint, timeout=5).__enter__()


@pytest.fixture
def server_env(broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Server settings through the environment: a fresh database with line R3 of site
    factory-3 registered, the test broker, and the broker administrator's password file."""
    from server.db import make_engine, make_session_factory, migrate
    from server.db.models import Line

    admin_file = tmp_path / "broker-admin.password"
    admin_file.write_text(PASSWORDS[ADMIN] + "\n")
    database = f"sqlite:///{tmp_path / 'server.db'}"
    migrate(database)
    engine = make_engine(database)
    with make_session_factory(engine)() as session, session.begin():
        session.add(Line(id="R3", site="factory-3", name="R3"))
    engine.dispose()
    for key, value in {
        "DATABASE_URL": database,
        "BROKER_URL": f"mqtt://127.0.0.1:{broker.plain_port}",
        "BROKER_ADMIN_USERNAME": ADMIN,
        "BROKER_ADMIN_PASSWORD_FILE": str(admin_file),
    }.items():
        monkeypatch.setenv(f"LINESIDE_SERVER_{key}", value)
    return database


def _audit_actions(database: str) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from server.db import make_engine, make_session_factory
    from server.db.models import AuditEntry

    engine = make_engine(database)
    try:
        with make_session_factory(engine)() as session:
            rows = session.execute(select(AuditEntry.actor, AuditEntry.action)).all()
    finally:
        engine.dispose()
    return [(a, b) for a, b in rows if b.startswith("line.broker")]


def test_enroll_line_command_writes_the_agents_credential_files(
    broker: Broker, server_env: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from app.cli import app

    out = tmp_path / "credentials"
    result = CliRunner().invoke(app, ["server", "enroll-line", "R3", "--credentials-dir", str(out)])
    assert result.exit_code == 0, result.output
    user_file, password_file = out / "R3.mqtt-user", out / "R3.mqtt-password"
    assert user_file.read_text().strip() == "factory-3.R3"
    password = password_file.read_text().strip()
    assert password not in result.output
    assert password_file.stat().st_mode & 0o077 == 0
    line = Client(
        "factory-3.R3",
        broker.plain_port,
        client_id="lineside-edge-factory-3-R3",
        password=password,
    )
    try:
        assert line.connack is not None
        assert not line.connack.is_failure
    finally:
        line.close()
    again = CliRunner().invoke(app, ["server", "enroll-line", "R3", "--credentials-dir", str(out)])
    assert again.exit_code == 1
    assert "already enrolled" in again.output
    rotated = CliRunner().invoke(
        app, ["server", "rotate-line", "R3", "--credentials-dir", str(out)]
    )
    assert rotated.exit_code == 0, rotated.output
    assert password_file.read_text().strip() != password
    revoked = CliRunner().invoke(app, ["server", "revoke-line", "R3", "--reason", "sold"])
    assert revoked.exit_code == 0, revoked.output
    unknown = CliRunner().invoke(
        app, ["server", "enroll-line", "R9", "--credentials-dir", str(out)]
    )
    assert unknown.exit_code == 1
    assert "no 'R9'" in unknown.output
    actions = [action for _, action in _audit_actions(server_env)]
    assert actions == ["line.broker_enrol", "line.broker_rotate", "line.broker_revoke"]


def test_administrators_enrol_rotate_and_revoke_through_the_api(
    broker: Broker, server_env: str
) -> None:
    from fastapi.testclient import TestClient

    from server.app import create_app
    from server.db import make_engine, make_session_factory
    from server.db.models import User
    from server.services.auth import Role, issue_token
    from server.settings import load_settings
    from tests.server.api.conftest import auth

    engine = make_engine(server_env)
    factory = make_session_factory(engine)
    tokens = {}
    with factory() as session, session.begin():
        for role in (Role.ADMINISTRATOR, Role.TECHNICIAN):
            user = User(username=role.value, role=role, password_hash="")
            session.add(user)
            session.flush()
            tokens[role] = issue_token(session, user, timedelta(hours=1))
    try:
        with TestClient(create_app(load_settings(), session_factory=factory)) as client:
            path = "/lines/R3/broker-credentials"
            refused = client.post(path, headers=auth(tokens[Role.TECHNICIAN]))
            assert refused.status_code == 403
            made = client.post(path, headers=auth(tokens[Role.ADMINISTRATOR]))
            assert made.status_code == 201, made.text
            assert made.headers["Cache-Control"] == "no-store"
            body = made.json()
            assert (body["username"], body["client_id"]) == (
                "factory-3.R3",
                "lineside-edge-factory-3-R3",
            )
            twice = client.post(path, headers=auth(tokens[Role.ADMINISTRATOR]))
            assert twice.status_code == 409
            assert twice.headers["content-type"].startswith("application/problem+json")
            rotated = client.post(f"{path}/rotate", headers=auth(tokens[Role.ADMINISTRATOR]))
            assert rotated.status_code == 200, rotated.text
            assert rotated.json()["password"] != body["password"]
            line = Client(
                body["username"],
                broker.plain_port,
                client_id=body["client_id"],
                password=rotated.json()["password"],
            )
            try:
                assert line.connack is not None
                assert not line.connack.is_failure
                gone = client.delete(
                    path, params={"reason": "line sold"}, headers=auth(tokens[Role.ADMINISTRATOR])
                )
                assert gone.status_code == 204
                assert line.disconnected.wait(10)
            finally:
                line.close()
            missing = client.post(
                "/lines/NOPE/broker-credentials", headers=auth(tokens[Role.ADMINISTRATOR])
            )
            assert missing.status_code == 404
    finally:
        engine.dispose()
    assert [action for _, action in _audit_actions(server_env)] == [
        "line.broker_enrol",
        "line.broker_rotate",
        "line.broker_revoke",
    ]


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
        # Its own receipts only: a wider subscription is refused outright.
        assert line.subscribe("lineside/v1/factory-1/+/receipts").is_failure
        assert not line.subscribe("lineside/v1/factory-1/L1/receipts").is_failure
        assert not server.publish("lineside/v1/factory-1/L2/receipts", b"for L2").is_failure
        assert not server.publish("lineside/v1/factory-1/L1/receipts", b"for L1").is_failure
        assert line.wait_messages(1) == 1
        assert not server.publish("lineside/v1/factory-1/L1/receipts", b"again").is_failure
        assert line.wait_messages(2) == 2
        assert line.messages == [b"for L1", b"again"]
    finally:
        line.close()
        server.close()
