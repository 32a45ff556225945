"""A private Mosquitto for tests that must stop, restart or reconfigure a broker.

Tests that only publish and subscribe use the shared broker at 127.0.0.1:1883 with a
unique topic prefix; tests that need an outage start one of these on a free port.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from getpass import getuser
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
