"""Real MQTT for the tests: the shared broker, a private Mosquitto, and a collector.

Tests that only publish and subscribe use the shared broker at 127.0.0.1:1883 (the
``shared_broker`` fixture, which skips when it is down) with a unique topic prefix; tests
that need an outage or their own configuration start a :class:`PrivateBroker` on a free
port (the ``private_broker`` fixture, or by hand when they need several).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from getpass import getuser
from pathlib import Path
from typing import Any, Protocol

from lineside.mqtt import BrokerEndpoint, connect, make_client

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def broker_up(port: int = 1883, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on ``port`` now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    """Block until something accepts connections on ``port``; raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s") from None
            time.sleep(0.02)


class StartBroker(Protocol):
    """The ``private_broker`` fixture: starts a :class:`PrivateBroker` for the test."""

    def __call__(
        self, name: str = "broker", *, persistence: bool = True, extra_config: str = ""
    ) -> PrivateBroker: ...


class PrivateBroker:
    """A Mosquitto process of the test's own, on a free port, with its own config.

    ``persistence`` keeps queued messages and sessions across :meth:`restart`.
    ``extra_config`` is appended to the generated configuration.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        persistence: bool = True,
        extra_config: str = "",
        port: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.persistence = persistence
        self.extra_config = extra_config
        self.config_path = workdir / "mosquitto.conf"
        self.log_path = workdir / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _write_config(self) -> None:
        lines = [
            # Mosquitto started as root drops to user "mosquitto", who cannot read tmp dirs.
            f"user {getuser()}",
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "max_queued_messages 0",
            f"log_dest file {self.log_path}",
            self.extra_config,
        ]
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        if self._process is not None:
            return
        if not Path(MOSQUITTO).exists():
            raise RuntimeError(f"mosquitto is not installed at {MOSQUITTO}")
        self._write_config()
        self._process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        """Stop the broker (SIGTERM, so persistence is written as on a clean shutdown)."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def kill(self) -> None:
        """Kill the broker without letting it save anything."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> PrivateBroker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class Collector:
    """Subscribes to ``topic`` (persistent session, QoS 1) and keeps every payload received."""

    def __init__(self, port: int, topic: str) -> None:
        self.payloads: list[bytes] = []
        self._messages: list[dict[str, Any]] = []
        self._arrived = threading.Condition()
        endpoint = BrokerEndpoint("127.0.0.1", port)
        self.client = make_client(endpoint, "collector-" + uuid.uuid4().hex[:8], protocol="3.1.1")
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_message = self._on_message
        connect(self.client, endpoint)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        payload = bytes(message.payload)
        parsed = json.loads(payload)  # every topic collected carries a JSON contract message
        with self._arrived:
            self.payloads.append(payload)
            self._messages.append(parsed)
            self._arrived.notify_all()

    def messages(self) -> list[dict[str, Any]]:
        with self._arrived:
            return list(self._messages)

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], object], timeout: float = 20.0
    ) -> bool:
        """Whether ``predicate(messages)`` became true within ``timeout`` (re-checked on
        every message)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: bool(predicate(self._messages)), timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
