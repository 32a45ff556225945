"""TCP and file transports against real sockets and files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edge.drivers import Transport, open_transport
from lineside.errors import DeviceTimeout, TransportError


def _is_open(link: Transport) -> bool:
    # A function call keeps mypy from narrowing the property between checks.
    return link.is_open


async def _echo_server() -> tuple[asyncio.Server, int, list[asyncio.StreamWriter]]:
    clients: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        clients.append(writer)
        while data := await reader.read(1024):
            if data == b"quiet":
                continue
            writer.write(data.upper())
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port, clients


async def test_tcp_roundtrip_timeout_and_hangup() -> None:
    server, port, clients = await _echo_server()
    async with server, open_transport(f"tcp://127.0.0.1:{port}") as link:
        assert _is_open(link)
        await link.write(b"hello")
        assert await link.read(timeout=5) == b"HELLO"
        await link.write(b"quiet")
        with pytest.raises(DeviceTimeout, match="no data within 0.05 s"):
            await link.read(timeout=0.05)
        assert _is_open(link)
        clients[0].close()
        with pytest.raises(TransportError, match="closed the connection"):
            await link.read(timeout=5)
        assert not _is_open(link)
        with pytest.raises(TransportError, match="reopen"):
            await link.write(b"x")
    assert not _is_open(link)


async def test_tcp_connection_refused_is_transport_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(TransportError, match=f"tcp://127.0.0.1:{port}: cannot connect"):
        await open_transport(f"tcp://127.0.0.1:{port}").open()


async def test_write_before_open_is_refused() -> None:
    with pytest.raises(TransportError, match="not open"):
        await open_transport("tcp://127.0.0.1:9").write(b"x")


async def test_file_appends_and_reads_back(tmp_path: Path) -> None:
    target = tmp_path / "out.zpl"

    async def scenario() -> None:
        async with open_transport(target.as_uri()) as link:
            await link.write(b"^XA")
            await link.write(b"^XZ")
            assert await link.read(timeout=1) == b"^XA^XZ"
            with pytest.raises(DeviceTimeout):
                await link.read(timeout=0.05)

    await scenario()
    assert target.read_bytes() == b"^XA^XZ"


async def test_file_in_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="cannot open"):
        await open_transport((tmp_path / "nope" / "x").as_uri()).open()
