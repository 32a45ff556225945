"""Serial transport over a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import tty
from collections.abc import Iterator

import pytest

from edge.drivers import open_transport
from lineside.errors import DeviceTimeout, TransportError


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    master, slave = pty.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    yield master, name
    for fd in (master, slave):
        with contextlib.suppress(OSError):
            os.close(fd)


async def test_serial_roundtrip(pty_pair: tuple[int, str]) -> None:
    master, name = pty_pair

    async with open_transport(f"serial://{name}?baud=115200") as link:
        await link.write(b"~HS")
        assert os.read(master, 100) == b"~HS"
        os.write(master, b"\x02030,0,0\x03")
        received = b""
        while len(received) < 9:
            received += await link.read(timeout=2)
        assert received == b"\x02030,0,0\x03"
        with pytest.raises(DeviceTimeout, match="no data within 0.05 s"):
            await link.read(timeout=0.05)


async def test_serial_large_write_does_not_block(pty_pair: tuple[int, str]) -> None:
    master, name = pty_pair
    payload = bytes(range(256)) * 200  # larger than the pty buffer

    async def drain() -> bytes:
        got = b""
        loop = asyncio.get_running_loop()
        while len(got) < len(payload):
            got += await loop.run_in_executor(None, os.read, master, 65536)
        return got

    async with open_transport(f"serial://{name}") as link:
        reader = asyncio.ensure_future(drain())
        await link.write(payload)
        assert await asyncio.wait_for(reader, 10) == payload


async def test_serial_hangup_is_transport_error(pty_pair: tuple[int, str]) -> None:
    master, name = pty_pair

    async with open_transport(f"serial://{name}") as link:
        os.close(master)
        with pytest.raises(TransportError) as info:
            await link.read(timeout=2)
        assert not isinstance(info.value, DeviceTimeout)
        assert link.is_open is False


async def test_serial_missing_device() -> None:
    with pytest.raises(TransportError, match="cannot open /dev/ttyNOPE"):
        await open_transport("serial:///dev/ttyNOPE").open()
