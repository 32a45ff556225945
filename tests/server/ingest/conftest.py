"""Real-Mosquitto helpers for the ingestion tests (127.0.0.1:1883, unique site per test)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from lineside import contract
from tests.server.factories import BASE_TIME

BROKER = ("127.0.0.1", 1883)


def broker_available() -> bool:
    try:
        with socket.create_connection(BROKER, timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def site() -> str:
    """A site identifier no other test uses (keeps topics apart on the shared broker)."""
    if not broker_available():
        pytest.skip(f"Mosquitto not reachable at {BROKER[0]}:{BROKER[1]}")
    return f"t{uuid.uuid4().hex[:12]}"


class Publisher:
    """A QoS 1 publisher that waits for the broker's PUBACK of each message."""

    def __init__(self) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"pub-{uuid.uuid4().hex[:10]}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.max_inflight_messages_set(100)
        self.client.connect(*BROKER)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.publish_many([(topic, payload)], retain)

    def publish_many(self, messages: list[tuple[str, bytes]], retain: bool = False) -> None:
        infos = [self.client.publish(t, p, qos=1, retain=retain) for t, p in messages]
        for info in infos:
            info.wait_for_publish(timeout=30)
            assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher() -> Iterator[Publisher]:
    created = Publisher()
    yield created
    created.close()


def forget_session(client_id: str) -> None:
    """End the broker's persistent session of ``client_id`` (no queue left behind)."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 0
    client.connect(*BROKER, clean_start=True, properties=properties)
    client.loop_start()
    client.disconnect()
    client.loop_stop()


@pytest.fixture
def client_ids() -> Iterator[Callable[[], str]]:
    """Unique MQTT client IDs whose broker sessions are removed after the test."""
    made: list[str] = []

    def make() -> str:
        made.append(f"ingest-{uuid.uuid4().hex[:10]}")
        return made[-1]

    yield make
    for client_id in made:
        forget_session(client_id)


def event_message(
    site: str, line: str, seq: int, event: dict[str, Any], device: str = "agent-1"
) -> bytes:
    return contract.encode(
        contract.EventMessage(
            site=site, line=line, device=device, seq=seq, sent_at=BASE_TIME, event=event
        )
    )
