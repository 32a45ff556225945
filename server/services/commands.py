"""Sending commands to lines over MQTT (paho, QoS 1).

The app holds one :class:`CommandPublisher`; tests and tools may give it another
implementation (anything with ``publish(topic, payload)``).
"""

from __future__ import annotations

import logging
import uuid
from typing import Protocol
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from lineside.errors import ConfigError, TransportError
from server.settings import redact_url

logger = logging.getLogger(__name__)


class CommandPublisher(Protocol):
    """Delivers one command payload to the broker or raises :class:`TransportError`."""

    def publish(self, topic: str, payload: bytes) -> None: ...


class MqttCommandPublisher:
    """Connects, publishes with QoS 1, waits for the broker's PUBACK and disconnects.

    Commands are rare (a few per work order), so one short connection per command keeps
    no state to go stale between them.

    >>> MqttCommandPublisher("mqtt://127.0.0.1:1883").port
    1883
    """

    def __init__(self, broker_url: str, timeout: float = 5.0) -> None:
        parts = urlsplit(broker_url)
        if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
            shown = redact_url(broker_url)
            raise ConfigError(f"broker_url {shown!r}: expected mqtt://host[:port]")
        self.host = parts.hostname
        self.port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self.tls = parts.scheme == "mqtts"
        self.username = parts.username
        self.password = parts.password
        self.timeout = timeout

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish ``payload`` on ``topic``; :class:`TransportError` if the broker did not ack."""
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"lineside-server-{uuid.uuid4().hex[:12]}"
        )
        if self.username:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set()
        try:
            client.connect(self.host, self.port, keepalive=30)
            client.loop_start()
            info = client.publish(topic, payload, qos=1)
            info.wait_for_publish(timeout=self.timeout)
            if not info.is_published():
                raise TransportError(
                    f"broker {self.host}:{self.port} did not acknowledge {topic!r} "
                    f"within {self.timeout:g} s"
                )
        except (OSError, RuntimeError, ValueError) as exc:
            raise TransportError(
                f"publishing to {topic!r} via {self.host}:{self.port} failed: {exc}"
            ) from exc
        finally:
            client.disconnect()
            client.loop_stop()
