"""The clustered central broker: three NATS nodes with JetStream behind site Mosquittos.

Budget: about 150 s for the module on a loaded two-core machine; one full fault scenario
(the stream's leader node and an aggregator killed mid-run) and cheaper focused tests.
Without ``nats-server`` the tests fail in CI (``CI`` set: the binary is a CI dependency,
installed by ``.ci/run``) and are skipped with the reason elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cluster import (
    NatsCluster,
    Workload,
    bridge_config,
    find_nats_server,
    run_workload,
)
from lineside import contract
from lineside.errors import ConfigError, ContractError, TransportError
from lineside.mqtt import BrokerEndpoint, connect, make_client
from server.db import make_engine, make_session_factory, migrate
from server.db.models import Device, Line, Organisation
from server.ingest.jetstream import (
    JetStreamIngestor,
    JetStreamSettings,
    ensure_stream,
    subject_of,
    topic_of,
)
from server.settings import ServerSettings
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.cluster]


@pytest.fixture(scope="module")
def nats_binary() -> str:
    found = find_nats_server()
    if found is None:
        message = "nats-server is not installed (Debian package nats-server)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: CI must install it (.ci/run)")
        pytest.skip(message)
    return found


def _postgres_up() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------- no processes


def test_topics_map_to_subjects_and_back() -> None:
    topic = contract.Topics("factory-1", "L_2").events
    assert subject_of(topic) == "lineside.v1.factory-1.L_2.events"
    assert topic_of(subject_of(topic)) == topic
    assert subject_of(contract.subscription(contract.Channel.DEVICE_STATUS)) == (
        "lineside.v1.*.*.devices.*.status"
    )


def test_stream_captures_what_the_server_stores_and_not_what_it_sends() -> None:
    subjects = JetStreamSettings(sites=("s1",)).subjects()
    assert "lineside.v1.s1.*.events" in subjects
    assert not any(s.endswith(("receipts", "commands", "acks")) for s in subjects)


def test_identifiers_with_a_dot_are_refused_clearly() -> None:
    with pytest.raises(ContractError, match=r"'plant\.2'.*refuses a '\.'"):
        subject_of("lineside/v1/plant.2/L1/events")
    with pytest.raises(ValueError, match=r"plant\.2"):
        JetStreamSettings(sites=("plant.2",))
    with pytest.raises(ConfigError, match="not an identifier"):
        bridge_config("bad site", [("10.0.0.1", 1883)])


def test_server_settings_name_a_bad_nats_url() -> None:
    settings = ServerSettings(
        database_url="sqlite://", ingest_source="jetstream", ingest_nats_servers=("http://x",)
    )
    with pytest.raises(ConfigError, match="ingest_nats_servers.*not a NATS URL"):
        settings.jetstream_settings()


def test_bridge_fails_over_in_order_and_keeps_its_session() -> None:
    config = bridge_config("s1", [("10.0.0.1", 1884), ("10.0.0.2", 1884)])
    assert "address 10.0.0.1:1884 10.0.0.2:1884" in config
    assert "cleansession false" in config
    assert "try_private false" in config  # the NATS gateway speaks plain MQTT 3.1.1
    assert "topic lineside/v1/s1/# out 1" in config
    assert "topic lineside/v1/s1/+/receipts in 1" in config


def test_jetstream_setup_refuses_while_a_line_id_has_a_dot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.cli import app

    url = f"sqlite:///{tmp_path / 'dotted.db'}"
    migrate(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session, session.begin():
        org = Organisation(name="Dotted", gs1_company_prefix="8934567")
        session.add(org)
        session.flush()
        session.add(Line(id="L.1", site="s1", organisation_id=org.id))
    engine.dispose()
    monkeypatch.setenv("LINESIDE_SERVER_DATABASE_URL", url)
    result = CliRunner().invoke(app, ["server", "jetstream-setup"])
    assert result.exit_code == 2
    assert "s1/L.1" in result.output
    assert "refuses a '.'" in result.output


# --------------------------------------------------------------------------- one node


@pytest.fixture(scope="module")
def one_node(nats_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    with NatsCluster(tmp_path_factory.mktemp("one-node"), size=1, binary=nats_binary) as node:
        yield node


def test_jetstream_setup_creates_the_stream_and_the_shared_consumer(
    one_node: NatsCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.cli import app

    url = f"sqlite:///{tmp_path / 'setup.db'}"
    migrate(url)
    monkeypatch.setenv("LINESIDE_SERVER_DATABASE_URL", url)
    monkeypatch.setenv("LINESIDE_SERVER_INGEST_NATS_SERVERS", json.dumps(one_node.servers))
    monkeypatch.setenv("LINESIDE_SERVER_INGEST_JETSTREAM_STREAM", "SETUP")
    result = CliRunner().invoke(app, ["server", "jetstream-setup", "--replicas", "1"])
    assert result.exit_code == 0, result.output
    assert "stream 'SETUP' (1 replicas) and consumer 'aggregators' ready" in result.output

    async def describe() -> tuple[list[str], str]:
        import nats

        nc = await nats.connect(servers=list(one_node.servers))
        try:
            js = nc.jetstream()
            stream = await js.stream_info("SETUP")
            consumer = await js.consumer_info("SETUP", "aggregators")
            # Another stream over the same subjects would be refused: leave the node clean.
            await js.delete_stream("SETUP")
            return list(stream.config.subjects or []), str(consumer.config.ack_policy)
        finally:
            await nc.close()

    subjects, ack_policy = asyncio.run(describe())
    assert "lineside.v1.*.*.events" in subjects
    assert "explicit" in ack_policy.lower()


def test_an_ingestor_without_its_consumer_says_how_to_create_it(
    one_node: NatsCluster, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    migrate(url)
    engine = make_engine(url)
    settings = JetStreamSettings(servers=one_node.servers, stream="ABSENT", replicas=1)
    ingestor = JetStreamIngestor(settings, make_session_factory(engine))
    try:
        with pytest.raises(TransportError, match="jetstream-setup"):
            ingestor.start(timeout_s=30)
    finally:
        engine.dispose()


def test_aggregators_share_the_stream_and_receipts_reach_the_line(
    one_node: NatsCluster, tmp_path: Path
) -> None:
    """Two in-process consumers on one durable consumer store each message once, and the
    line (an MQTT client of the gateway) gets its receipts."""
    cluster = one_node
    url = f"sqlite:///{tmp_path / 'one.db'}"
    migrate(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory() as session, session.begin():
        org = Organisation(name="One", gs1_company_prefix="8934567")
        session.add(org)
        session.flush()
        session.add(Line(id="L1", site="s1", organisation_id=org.id, offline_reserve=100))
        session.flush()
        session.add(Device(id="agent-L1", line_id="L1"))
    settings = JetStreamSettings(servers=cluster.servers, replicas=1, ack_wait_s=5)
    ensure_stream(settings)
    endpoint = BrokerEndpoint("127.0.0.1", cluster.mqtt_ports[0])
    line = make_client(endpoint, "agent-L1", protocol="3.1.1", persistent_session=False)
    topics = contract.Topics("s1", "L1")
    receipted: set[int] = set()
    lock = threading.Lock()

    def on_message(_client: object, _userdata: object, message: object) -> None:
        receipt = contract.decode(bytes(message.payload), message.topic)  # type: ignore[attr-defined]
        assert isinstance(receipt, contract.Receipt)
        with lock:
            receipted.update(n for n in range(1, 41) if receipt.covers(n))

    line.on_message = on_message
    connect(line, endpoint, persistent_session=False)
    line.loop_start()
    subscribed = line.subscribe(topics.receipts, qos=1)
    assert subscribed[0] == 0
    ingestors = [JetStreamIngestor(settings, factory) for _ in range(2)]
    for ingestor in ingestors:
        ingestor.start(timeout_s=30)
    try:
        from app.cluster import event_for

        for seq in range(1, 41):
            message = contract.EventMessage(
                site="s1",
                line="L1",
                device="agent-L1",
                seq=seq,
                event=event_for("L1", seq),
            )
            line.publish(topics.events, contract.encode(message), qos=1)
        wait_until(lambda: sum(i.totals.stored for i in ingestors) == 40, "40 events stored", 60)
        wait_until(lambda: len(receipted) == 40, "receipts for the 40 events", 30)
    finally:
        for ingestor in ingestors:
            ingestor.stop()
        line.disconnect()
        line.loop_stop()
        engine.dispose()
    assert sum(i.totals.duplicates for i in ingestors) == 0
    assert receipted == set(range(1, 41))


# --------------------------------------------------------------------------- three nodes


@pytest.mark.postgres
@pytest.mark.timeout(150)
def test_every_event_is_stored_once_through_a_node_and_an_aggregator_killed(
    nats_binary: str, tmp_path: Path
) -> None:
    """Three sites of two lines publish through their site brokers to the three-node
    cluster and three aggregators; the stream's leader node is killed at 30 % of the
    events and an aggregator at 50 %. Every event is stored exactly once."""
    if not _postgres_up():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not running at 127.0.0.1:5432")
        pytest.skip("PostgreSQL is not running at 127.0.0.1:5432")
    workload = Workload(
        sites=3,
        lines_per_site=2,
        events_per_line=150,
        rate_per_line=25.0,
        aggregators=3,
        kill_node_at=0.3,
        kill_aggregator_at=0.5,
        stall_s=45.0,
    )
    result = run_workload(workload, tmp_path)
    assert result.notes == []
    assert result.killed_node is not None
    assert result.aggregator_killed
    assert result.stored == workload.events == 900
    assert result.lost == 0
    assert result.duplicates_stored == 0
    assert result.recovery_s is not None


def test_the_server_consumes_the_stream_when_configured_to(
    one_node: NatsCluster, tmp_path: Path
) -> None:
    """``ingest_source = "jetstream"``: the aggregator app pulls from the shared consumer."""
    from fastapi.testclient import TestClient
    from sqlalchemy import func, select

    from app.cluster import event_for
    from server.app import create_app
    from server.db.models import Event

    url = f"sqlite:///{tmp_path / 'app.db'}"
    migrate(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory() as session, session.begin():
        org = Organisation(name="App", gs1_company_prefix="8934567")
        session.add(org)
        session.flush()
        session.add(Line(id="L9", site="s9", organisation_id=org.id, offline_reserve=100))
        session.flush()
        session.add(Device(id="agent-L9", line_id="L9"))
    ensure_stream(JetStreamSettings(servers=one_node.servers, replicas=1, ack_wait_s=5))
    settings = ServerSettings(
        database_url=url,
        ingest_enabled=True,
        ingest_source="jetstream",
        ingest_nats_servers=one_node.servers,
        epcis_subscriptions_enabled=False,
    )
    topic = contract.Topics("s9", "L9").events

    async def publish() -> None:
        import nats

        nc = await nats.connect(servers=list(one_node.servers))
        try:
            for seq in range(1, 6):
                message = contract.EventMessage(
                    site="s9", line="L9", device="agent-L9", seq=seq, event=event_for("L9", seq)
                )
                await nc.publish(subject_of(topic), contract.encode(message))
            await nc.flush()
        finally:
            await nc.close()

    def stored() -> int:
        with factory() as session:
            return int(session.scalar(select(func.count()).where(Event.line_id == "L9")) or 0)

    try:
        with TestClient(create_app(settings)):
            asyncio.run(publish())
            wait_until(lambda: stored() == 5, "5 events stored by the app's consumer", 60)
    finally:
        engine.dispose()
