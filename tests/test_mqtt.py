"""The shared MQTT client settings, against the Mosquitto on 127.0.0.1:1883."""

from __future__ import annotations

import logging
import socket
import time
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


def test_paho_noise_after_our_own_disconnect_is_dropped_and_a_lost_link_is_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """paho may loop once more after ``disconnect()`` and log it as an error."""
    logger = logging.getLogger(f"tests.mqtt.{uuid.uuid4().hex[:8]}")
    client = make_client(BrokerEndpoint("127.0.0.1", 1883), "quiet", logger=logger)
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        for state in ("MQTT_CS_DISCONNECTING", "MQTT_CS_DISCONNECTED", "MQTT_CS_CONNECTION_LOST"):
            # The message as paho 2 writes it from its network loop.
            logger.error(
                f"Client is not connected. Socket: None). Last known Connection State: {state}"
            )
        logger.error("Client is not connected but something else")
    assert [r.getMessage().rsplit(" ", 1)[-1] for r in caplog.records] == [
        "MQTT_CS_CONNECTION_LOST",
        "else",
    ]
    assert client is not None


@pytest.mark.skipif(not broker_up(), reason="Mosquitto not running on 127.0.0.1:1883")
def test_a_clean_disconnect_logs_no_error(caplog: pytest.LogCaptureFixture) -> None:
    endpoint = BrokerEndpoint("127.0.0.1", 1883)
    logger = logging.getLogger(f"tests.mqtt.{uuid.uuid4().hex[:8]}")
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        for _ in range(3):
            client = make_client(endpoint, f"clean-{uuid.uuid4().hex[:8]}", logger=logger)
            connect(client, endpoint, persistent_session=False)
            client.loop_start()
            client.publish("lineside-test/clean", b"x", qos=1).wait_for_publish(5)
            client.disconnect()
            time.sleep(0.1)  # paho's network thread loops on before loop_stop() ends it
            client.loop_stop()
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
