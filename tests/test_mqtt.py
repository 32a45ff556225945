"""The shared MQTT client settings, against the Mosquitto on 127.0.0.1:1883."""

from __future__ import annotations

import socket
import uuid

import pytest

from lineside.mqtt import BrokerEndpoint, MqttProtocol, connect, make_client
from tests.support.broker import broker_up

pytestmark = pytest.mark.mqtt


@pytest.mark.skipif(not broker_up(), reason="Mosquitto not running on 127.0.0.1:1883")
@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_client_sockets_send_without_nagle_delay(protocol: MqttProtocol) -> None:
    """Small request/answer packets (PUBLISH, PUBACK) must not wait for delayed ACKs."""
    endpoint = BrokerEndpoint("127.0.0.1", 1883)
    client = make_client(endpoint, f"nodelay-{uuid.uuid4().hex[:8]}", protocol=protocol)
    connect(client, endpoint, persistent_session=False)
    try:
        sock = client.socket()
        assert isinstance(sock, socket.socket)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        client.disconnect()
