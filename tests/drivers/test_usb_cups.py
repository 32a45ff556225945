"""USB and CUPS transports: no device here, so the errors must say what is missing."""

from __future__ import annotations

import shutil

import pytest

from edge.drivers import open_transport
from lineside.errors import TransportError


async def test_usblp_missing_node_is_clear() -> None:
    with pytest.raises(TransportError, match=r"/dev/usb/lp9 does not exist"):
        await open_transport("usb:///dev/usb/lp9").open()


async def test_pyusb_absent_device_is_clear() -> None:
    with pytest.raises(TransportError) as info:
        await open_transport("usb://ffff:fffe").open()
    message = str(info.value)
    assert message.startswith("usb://ffff:fffe: ")
    assert "ffff:fffe is connected" in message or "libusb" in message


@pytest.mark.skipif(shutil.which("lpr") is not None, reason="lpr is installed here")
async def test_cups_without_lpr_is_clear() -> None:
    with pytest.raises(TransportError, match="`lpr` is not installed"):
        await open_transport("cups://Zebra").open()


async def test_cups_cannot_be_read() -> None:
    with pytest.raises(TransportError, match="no status back-channel"):
        await open_transport("cups://Zebra").read(timeout=0.1)
