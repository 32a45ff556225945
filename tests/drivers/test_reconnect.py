"""Opening with backoff and the reconnecting wrapper, against a real TCP server."""

from __future__ import annotations

import asyncio

import pytest

from edge.drivers import ReconnectingTransport, open_transport, open_with_backoff
from lineside.backoff import Backoff
from lineside.errors import TransportError


async def test_open_with_backoff_gives_up_with_count() -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    async def scenario() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        link = open_transport(f"tcp://127.0.0.1:{port}")
        policy = Backoff(initial=0.5, jitter=0, attempts=3)
        with pytest.raises(TransportError, match="gave up after 3 attempts"):
            await open_with_backoff(link, policy, sleep=fake_sleep)

    await scenario()
    assert slept == [0.5, 1.0]


async def test_reconnects_after_server_restart() -> None:
    connections: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        while data := await reader.read(100):
            writer.write(data)
            await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    link = ReconnectingTransport(
        open_transport(f"tcp://127.0.0.1:{port}"), Backoff(initial=0.01, jitter=0)
    )
    async with server, link:
        await link.write(b"a")
        assert await link.read(timeout=2) == b"a"
        connections[0].close()
        with pytest.raises(TransportError):
            await link.read(timeout=2)
        await link.write(b"b")  # reconnects first
        assert await link.read(timeout=2) == b"b"
        assert link.reconnects == 1
        assert len(connections) == 2
