"""Sending commands to lines over MQTT (paho, QoS 1).

The app holds one :class:`CommandPublisher`; tests and tools may give it another
implementation (anything with ``publish(topic, payload)``).
"""

from __future__ import annotations

import uuid
from typing import Protocol

from lineside.mqtt import BrokerEndpoint, publish_once


class CommandPublisher(Protocol):
    """Delivers one command payload to the broker or raises :class:`TransportError`."""

    def publish(self, topic: str, payload: bytes) -> None: ...


class MqttCommandPublisher:
    """Connects, publishes with QoS 1, waits for the broker's PUBACK and disconnects.

    Commands are rare (a few per work order), so one short connection per command keeps
    no state to go stale between them.

    >>> MqttCommandPublisher(BrokerEndpoint("127.0.0.1")).endpoint.port
    1883
    """

    def __init__(self, endpoint: BrokerEndpoint, timeout: float = 5.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish ``payload`` on ``topic``; :class:`TransportError` if the broker did not ack."""
        client_id = f"lineside-server-{uuid.uuid4().hex[:12]}"
        publish_once(self.endpoint, client_id, topic, payload, timeout=self.timeout)
