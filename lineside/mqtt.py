"""The one place MQTT clients are made: address, credentials, TLS, sessions, logging.

Every publisher and subscriber (the agent's outbox, the aggregator's ingestor, the server's
work-order commands, the demo and the benchmarks) builds its paho client here, so a
broker URL, a user name, a password file or TLS is honoured everywhere the same way.

>>> endpoint = BrokerEndpoint.from_url("mqtts://line-1@broker.example:8883", password="s3cret")
>>> endpoint
BrokerEndpoint(host='broker.example', port=8883, tls=True, username='line-1', keepalive_s=30)
>>> str(endpoint)
'mqtts://broker.example:8883'
>>> BrokerEndpoint.from_url("http://broker.example")
Traceback (most recent call last):
...
lineside.errors.ConfigError: broker URL 'http://broker.example': expected mqtt://host[:port] or mqtts://host[:port]
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from lineside.errors import ConfigError, TransportError

__all__ = [
    "BrokerEndpoint",
    "LastWill",
    "MqttProtocol",
    "connect",
    "make_client",
    "publish_once",
]

#: MQTT 5 (session expiry, shared subscriptions, reason codes) or 3.1.1.
MqttProtocol = Literal["5", "3.1.1"]

_SCHEMES = {"mqtt": (1883, False), "mqtts": (8883, True)}


@dataclass(frozen=True, slots=True)
class BrokerEndpoint:
    """Where a broker is and how to sign in to it (the password never appears in a repr)."""

    host: str
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    keepalive_s: int = 30
    #: CA bundle for TLS (``None``: the system's trust store).
    ca_file: Path | None = field(default=None, repr=False)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        keepalive_s: int = 30,
        ca_file: Path | None = None,
    ) -> BrokerEndpoint:
        """Parse ``mqtt://host[:port]`` (``mqtts://`` for TLS), with an optional user in the URL.

        ``username`` and ``password`` given here win over those in the URL, so a password
        can come from a file while the URL stays shareable.
        """
        parts = urlsplit(url)
        if parts.scheme not in _SCHEMES or not parts.hostname:
            raise ConfigError(
                f"broker URL {_redact(url)!r}: expected mqtt://host[:port] or mqtts://host[:port]"
            )
        default_port, tls = _SCHEMES[parts.scheme]
        try:
            port = parts.port or default_port
        except ValueError as exc:
            raise ConfigError(f"broker URL {_redact(url)!r}: the port is not a number") from exc
        return cls(
            host=parts.hostname,
            port=port,
            tls=tls,
            username=username or (unquote(parts.username) if parts.username else None),
            password=password or (unquote(parts.password) if parts.password else None),
            keepalive_s=keepalive_s,
            ca_file=ca_file,
        )

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class LastWill:
    """A message the broker publishes for us when we vanish (retained, QoS 1)."""

    topic: str
    payload: bytes


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


class _AfterOwnDisconnect(logging.Filter):
    """Drops paho's "Client is not connected" error when it follows our own disconnect.

    paho's network thread may run one more loop after ``disconnect()`` has closed the
    socket, and logs that loop as an error (states ``MQTT_CS_DISCONNECTING`` and
    ``MQTT_CS_DISCONNECTED`` are set by ``disconnect()`` only; a lost connection is
    ``MQTT_CS_CONNECTION_LOST`` and is still logged). Nothing is wrong then, and the message
    would only mislead whoever reads the log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (
            message.startswith("Client is not connected")
            and message.endswith(("MQTT_CS_DISCONNECTING", "MQTT_CS_DISCONNECTED"))
        )


_AFTER_OWN_DISCONNECT = _AfterOwnDisconnect()


def make_client(
    endpoint: BrokerEndpoint,
    client_id: str,
    *,
    protocol: MqttProtocol = "5",
    persistent_session: bool = True,
    manual_ack: bool = False,
    max_inflight: int | None = None,
    will: LastWill | None = None,
    logger: logging.Logger | None = None,
) -> mqtt.Client:
    """A paho client for ``endpoint``, not yet connected (see :func:`connect`).

    ``persistent_session`` keeps the broker's session (subscriptions and queued QoS 1
    messages) across reconnects: ``clean_session=False`` on 3.1.1, ``clean_start=False``
    and a session expiry (given to :func:`connect`) on MQTT 5. paho's own queue of
    outgoing packets is unbounded, so an acknowledgement or an event is never dropped by
    the client itself. ``max_inflight`` is paho's limit on QoS 1 messages in flight (20
    unless given; 0 for none, for a caller that bounds them itself: paho walks every
    message in flight on each PUBACK while it enforces a limit).
    """
    if protocol == "5":
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=manual_ack,
        )
    else:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=not persistent_session,
            protocol=MQTTProtocolVersion.MQTTv311,
            manual_ack=manual_ack,
        )
    client.max_queued_messages_set(0)
    if max_inflight is not None:
        client.max_inflight_messages_set(max_inflight)
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    if endpoint.username is not None:
        client.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.tls:
        client.tls_set(
            ca_certs=str(endpoint.ca_file) if endpoint.ca_file else None,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    if will is not None:
        client.will_set(will.topic, will.payload, qos=1, retain=True)
    paho_logger = logger or logging.getLogger("lineside.mqtt")
    paho_logger.addFilter(_AFTER_OWN_DISCONNECT)  # the same filter once per logger
    client.enable_logger(paho_logger)
    client.on_socket_open = _send_without_delay
    return client


def _send_without_delay(_client: mqtt.Client, _userdata: object, sock: object) -> None:
    """Turn Nagle's algorithm off on the client's socket.

    An MQTT exchange is small packets each waiting for an answer (PUBLISH, PUBACK): with
    Nagle on, a packet written while the previous one is unacknowledged waits for the
    peer's delayed ACK, up to 40 ms on Linux, on every hop. Measured on the demo's paced
    line (150 labels/s): a commissioning event's time to its storage at the server went
    from p50 29 / p99 88 ms to 6 / 14 ms with Nagle off on the clients' sockets and on
    the broker's (Mosquitto's ``set_tcp_nodelay true``).
    """
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]


def connect(
    client: mqtt.Client,
    endpoint: BrokerEndpoint,
    *,
    wait: bool = True,
    persistent_session: bool = True,
    session_expiry_s: int | None = None,
    receive_maximum: int | None = None,
) -> None:
    """Connect ``client`` to ``endpoint`` (``wait=False``: in the background, retrying).

    On MQTT 5, ``persistent_session`` asks for ``clean_start=False`` and the session lives
    ``session_expiry_s`` after a disconnect; 3.1.1 took its choice in :func:`make_client`.
    Raises :class:`TransportError` naming the broker when a waited-for connection fails.
    """
    kwargs: dict[str, object] = {"keepalive": endpoint.keepalive_s}
    if client.protocol == MQTTProtocolVersion.MQTTv5:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if session_expiry_s is not None:
            properties.SessionExpiryInterval = session_expiry_s
        if receive_maximum is not None:
            properties.ReceiveMaximum = receive_maximum
        kwargs["clean_start"] = not persistent_session
        kwargs["properties"] = properties
    try:
        if wait:
            client.connect(endpoint.host, endpoint.port, **kwargs)  # type: ignore[arg-type]
        else:
            client.connect_async(endpoint.host, endpoint.port, **kwargs)  # type: ignore[arg-type]
    except (OSError, ValueError) as exc:
        raise TransportError(f"MQTT broker {endpoint}: {exc}") from exc


def publish_once(
    endpoint: BrokerEndpoint,
    client_id: str,
    topic: str,
    payload: bytes,
    *,
    timeout: float = 5.0,
) -> None:
    """Connect, publish one QoS 1 message, wait for its PUBACK and disconnect.

    Raises :class:`TransportError` when the broker refuses the connection or does not
    acknowledge the message within ``timeout`` seconds.
    """
    # 3.1.1: one message needs nothing of MQTT 5, and every broker speaks it.
    client = make_client(endpoint, client_id, protocol="3.1.1", persistent_session=False)
    answered = threading.Event()
    refusal: list[str] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: Any, _p: object) -> None:
        if reason.is_failure:
            refusal.append(str(reason))
        answered.set()

    client.on_connect = on_connect
    try:
        connect(client, endpoint, persistent_session=False)
        client.loop_start()
        if not answered.wait(timeout):
            raise TransportError(f"MQTT broker {endpoint} did not answer within {timeout:g} s")
        if refusal:
            raise TransportError(f"MQTT broker {endpoint} refused the connection: {refusal[0]}")
        info = client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=timeout)
        if not info.is_published():
            raise TransportError(
                f"MQTT broker {endpoint} did not acknowledge {topic!r} within {timeout:g} s"
            )
    except (OSError, RuntimeError, ValueError) as exc:
        raise TransportError(f"publishing {topic!r} via MQTT broker {endpoint}: {exc}") from exc
    finally:
        client.disconnect()
        client.loop_stop()
