"""The outbox publisher keeps at most ``window`` messages unacknowledged at the broker.

paho's own in-flight limit is off (it walks every message in flight on each PUBACK), so
the bound is the publisher's: checked against a broker that takes PUBLISH packets and
never acknowledges them, as a stalled broker would.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from edge.journal import Journal, OutboxItem
from edge.outbox import OutboxPublisher
from lineside.mqtt import BrokerEndpoint
from tests.support.waiting import wait_until

_CONNECT, _PUBLISH, _PINGREQ, _DISCONNECT = 1, 3, 12, 14


class _StalledBroker:
    """Accepts MQTT 3.1.1 clients, answers CONNECT and PINGREQ, counts PUBLISH packets
    and acknowledges none of them."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self.published = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with self._server:
            connection, _ = self._server.accept()
        with connection, connection.makefile("rb") as stream:
            while header := stream.read(1):
                length, shift = 0, 0
                while True:
                    byte = stream.read(1)[0]
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        break
                stream.read(length)
                kind = header[0] >> 4
                if kind == _CONNECT:
                    connection.sendall(b"\x20\x02\x00\x00")  # CONNACK, accepted
                elif kind == _PUBLISH:
                    self.published += 1
                elif kind == _PINGREQ:
                    connection.sendall(b"\xd0\x00")
                elif kind == _DISCONNECT:
                    return

    def close(self) -> None:
        self._server.close()


def test_no_more_than_the_window_is_sent_ahead_of_the_acknowledgements(tmp_path: Path) -> None:
    broker = _StalledBroker()
    journal = Journal.open(tmp_path / "line.db")
    for _ in range(50):
        journal.outbox.enqueue([OutboxItem("lineside/v1/s/L1/events", lambda _seq: b"{}")])
    publisher = OutboxPublisher(
        tmp_path / "line.db", BrokerEndpoint("127.0.0.1", broker.port), "window", window=10
    )
    publisher.start()
    try:
        wait_until(lambda: broker.published >= 10, "the first window sent", timeout=10)
        time.sleep(0.5)  # room for more, were any sent
        assert broker.published == 10
        assert journal.outbox.pending()[0] == 50  # none acknowledged, none deleted
    finally:
        publisher.stop(flush_timeout=0)
        broker.close()
        journal.close()
